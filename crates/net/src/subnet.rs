//! Which private subnet a nat VM gets.
//!
//! Like WSL, which picks its NAT subnet in 172.16.0.0/12 among those no
//! Windows route uses, wslp picks a /24 of 172.16.0.0/12 that overlaps no
//! IPv4 route of any host table and no host address (a default route
//! overlaps everything and does not count). docker0's usual 172.17.0.0/16
//! is left out. The search starts at a place derived from `WSLP_ROOT`, so an
//! instance usually gets the same subnet each time, and two instances
//! rarely probe the same candidates. Two instances starting at once are
//! kept apart by the caller: it holds a host-wide lock from the probe until
//! its gateway address (and so its route) exists.

use std::net::Ipv4Addr;
use std::path::Path;

use wslp_config::Ipv4Cidr;

use crate::netlink::Route;

/// Where default subnets come from.
pub fn pool() -> Ipv4Cidr {
    Ipv4Cidr::new(Ipv4Addr::new(172, 16, 0, 0), 12).expect("a network address")
}

/// Docker's default bridge, which wslp does not take even when it is free.
fn docker0() -> Ipv4Cidr {
    Ipv4Cidr::new(Ipv4Addr::new(172, 17, 0, 0), 16).expect("a network address")
}

/// The prefix of default subnets: room for the gateway and the VM, and
/// 4096 candidates in the pool.
pub const DEFAULT_PREFIX: u8 = 24;

/// The host networks a subnet must stay clear of.
pub fn in_use(routes: &[Route], addresses: &[(Ipv4Addr, Ipv4Cidr)]) -> Vec<Ipv4Cidr> {
    routes
        .iter()
        .map(|r| r.destination)
        .chain(addresses.iter().map(|(_, net)| *net))
        .filter(|net| net.prefix() > 0)
        .collect()
}

/// The first host network `subnet` overlaps, if any.
pub fn clash(subnet: Ipv4Cidr, used: &[Ipv4Cidr]) -> Option<Ipv4Cidr> {
    used.iter().copied().find(|u| u.overlaps(subnet))
}

/// A free /24 of the pool, searching from candidate `start` on.
pub fn pick(start: u32, used: &[Ipv4Cidr]) -> Option<Ipv4Cidr> {
    let pool = pool();
    let count = 1u32 << (DEFAULT_PREFIX - pool.prefix());
    (0..count)
        .map(|i| (start.wrapping_add(i)) % count)
        .map(|i| Ipv4Cidr::of(pool.host(i << (32 - DEFAULT_PREFIX)), DEFAULT_PREFIX))
        .find(|c| !c.overlaps(docker0()) && clash(*c, used).is_none())
}

/// A short, stable name for the instance at `root`: 8 hex digits of its
/// path's FNV-1a hash. It names the host interface and the nftables table,
/// so a new service for the same root finds what a killed one left.
pub fn instance_key(root: &Path) -> String {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    format!("{:08x}", fnv1a(root.as_os_str().as_encoded_bytes()))
}

pub fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    fn route(s: &str) -> Route {
        Route {
            destination: c(s),
            table: 254,
            oif: Some(2),
        }
    }

    #[test]
    fn default_routes_do_not_count_but_every_other_route_and_address_does() {
        let used = in_use(
            &[
                route("0.0.0.0/0"),
                route("192.0.2.0/24"),
                route("172.20.5.0/24"),
            ],
            &[(Ipv4Addr::new(10, 1, 2, 3), c("10.1.0.0/16"))],
        );
        assert_eq!(
            used,
            vec![c("192.0.2.0/24"), c("172.20.5.0/24"), c("10.1.0.0/16")]
        );
        assert_eq!(clash(c("172.20.5.0/25"), &used), Some(c("172.20.5.0/24")));
        assert_eq!(clash(c("10.0.0.0/8"), &used), Some(c("10.1.0.0/16")));
        assert_eq!(clash(c("172.20.6.0/24"), &used), None);
    }

    #[test]
    fn pick_skips_used_subnets_and_docker0() {
        // Candidate 0 is 172.16.0.0/24; 256 is the first of 172.17.0.0/16.
        assert_eq!(pick(0, &[]), Some(c("172.16.0.0/24")));
        assert_eq!(pick(256, &[]), Some(c("172.18.0.0/24")));
        assert_eq!(pick(0, &[c("172.16.0.0/23")]), Some(c("172.16.2.0/24")));
        // Wraps around the pool.
        assert_eq!(
            pick(4095, &[c("172.31.255.0/24")]),
            Some(c("172.16.0.0/24"))
        );
        // A route covering the whole pool leaves nothing.
        assert_eq!(pick(7, &[c("172.16.0.0/12")]), None);
        // The result is always inside the pool and free.
        let used = [c("172.16.0.0/13"), c("172.24.0.0/14")];
        let got = pick(0, &used).unwrap();
        assert!(pool().overlaps(got) && clash(got, &used).is_none(), "{got}");
        assert_eq!(got, c("172.28.0.0/24"));
    }

    #[test]
    fn instance_keys_differ_by_root_and_are_stable() {
        let a = instance_key(Path::new("/nonexistent/a"));
        assert_eq!(a, instance_key(Path::new("/nonexistent/a")));
        assert_ne!(a, instance_key(Path::new("/nonexistent/b")));
        assert_eq!(a.len(), 8);
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
    }
}
