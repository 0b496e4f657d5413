//! The networking settings of `wslp.toml` (SPEC §9): their types and the
//! parsing of their values. What they do is `wslp-net`'s job.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// `networking_mode`, the counterpart of `.wslconfig`'s `networkingMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkingMode {
    /// A private subnet behind the host, outbound traffic masqueraded.
    #[default]
    Nat,
    /// The host's own network namespace.
    Mirrored,
    /// Loopback only.
    None,
}

impl NetworkingMode {
    pub const NAMES: &'static [&'static str] = &["nat", "mirrored", "none"];

    /// The value as written in `wslp.toml` (and in SPEC §9's warning).
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkingMode::Nat => "nat",
            NetworkingMode::Mirrored => "mirrored",
            NetworkingMode::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<NetworkingMode> {
        match text {
            "nat" => Some(NetworkingMode::Nat),
            "mirrored" => Some(NetworkingMode::Mirrored),
            "none" => Some(NetworkingMode::None),
            _ => None,
        }
    }
}

impl fmt::Display for NetworkingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `nat_backend`: which parts make nat. `auto` is the kernel's veth and
/// nftables for a root instance and `pasta` otherwise (SPEC §9, §10);
/// naming one forces it (pasta in a root instance keeps the host's
/// forwarding switch and ruleset untouched).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NatBackend {
    #[default]
    Auto,
    Kernel,
    Pasta,
}

impl NatBackend {
    pub const NAMES: &'static [&'static str] = &["auto", "kernel", "pasta"];

    pub fn as_str(self) -> &'static str {
        match self {
            NatBackend::Auto => "auto",
            NatBackend::Kernel => "kernel",
            NatBackend::Pasta => "pasta",
        }
    }

    pub fn parse(text: &str) -> Option<NatBackend> {
        match text {
            "auto" => Some(NatBackend::Auto),
            "kernel" => Some(NatBackend::Kernel),
            "pasta" => Some(NatBackend::Pasta),
            _ => None,
        }
    }
}

/// An IPv4 subnet, `a.b.c.d/n`, with no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix: u8,
}

/// The longest prefix a nat subnet may have: it needs a gateway and the VM.
pub const MAX_NAT_PREFIX: u8 = 30;

impl Ipv4Cidr {
    /// `None` when `prefix` > 32 or `network` has host bits set.
    pub fn new(network: Ipv4Addr, prefix: u8) -> Option<Ipv4Cidr> {
        (prefix <= 32 && u32::from(network) & !mask(prefix) == 0)
            .then_some(Ipv4Cidr { network, prefix })
    }

    pub fn network(self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix(self) -> u8 {
        self.prefix
    }

    /// The `n`th address of the subnet (0 is the network address).
    pub fn host(self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network).wrapping_add(n))
    }

    pub fn contains(self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.prefix) == u32::from(self.network)
    }

    /// Whether the two subnets share an address.
    pub fn overlaps(self, other: Ipv4Cidr) -> bool {
        let p = self.prefix.min(other.prefix);
        u32::from(self.network) & mask(p) == u32::from(other.network) & mask(p)
    }

    /// The subnet of prefix `prefix` that holds `addr`.
    pub fn of(addr: Ipv4Addr, prefix: u8) -> Ipv4Cidr {
        let prefix = prefix.min(32);
        Ipv4Cidr {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        }
    }
}

/// The netmask of a prefix length, as a number.
pub fn mask(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p if p >= 32 => u32::MAX,
        p => u32::MAX << (32 - p),
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = String;

    /// `a.b.c.d/n`; the message of an error says what is wrong and, for host
    /// bits, which subnet was probably meant.
    fn from_str(text: &str) -> Result<Ipv4Cidr, String> {
        let (addr, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not of the form a.b.c.d/n"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32 && !prefix.starts_with('+'))
            .ok_or_else(|| format!("{prefix:?} is not a prefix length from 0 to 32"))?;
        Ipv4Cidr::new(addr, prefix).ok_or_else(|| {
            format!(
                "{text} has host bits set; the subnet is {}",
                Ipv4Cidr::of(addr, prefix)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_parses_and_prints() {
        assert_eq!(c("172.29.0.0/24").to_string(), "172.29.0.0/24");
        assert_eq!(c("10.0.0.0/8").host(1), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(c("0.0.0.0/0").prefix(), 0);
        for bad in [
            "",
            "10.0.0.0",
            "10.0.0/8",
            "10.0.0.0/33",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "a/8",
        ] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad}");
        }
        assert_eq!(
            "10.1.2.3/16".parse::<Ipv4Cidr>().unwrap_err(),
            "10.1.2.3/16 has host bits set; the subnet is 10.1.0.0/16"
        );
    }

    #[test]
    fn overlap_and_containment() {
        assert!(c("10.0.0.0/8").overlaps(c("10.5.0.0/16")));
        assert!(c("10.5.0.0/16").overlaps(c("10.0.0.0/8")));
        assert!(!c("10.5.0.0/16").overlaps(c("10.6.0.0/16")));
        assert!(c("0.0.0.0/0").overlaps(c("192.168.1.0/24")));
        assert!(c("192.168.1.0/24").contains(Ipv4Addr::new(192, 168, 1, 200)));
        assert!(!c("192.168.1.0/24").contains(Ipv4Addr::new(192, 168, 2, 1)));
        assert_eq!(
            Ipv4Cidr::of(Ipv4Addr::new(172, 20, 3, 9), 20),
            c("172.20.0.0/20")
        );
    }

    #[test]
    fn modes_round_trip() {
        for name in NetworkingMode::NAMES {
            assert_eq!(NetworkingMode::parse(name).unwrap().as_str(), *name);
        }
        for name in NatBackend::NAMES {
            assert_eq!(NatBackend::parse(name).unwrap().as_str(), *name);
        }
        assert_eq!(NetworkingMode::parse("NAT"), None);
        assert_eq!(NetworkingMode::default(), NetworkingMode::Nat);
    }
}
