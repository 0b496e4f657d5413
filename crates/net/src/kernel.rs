//! nat with kernel parts, for a root instance: a veth pair (`wslp<key>` on
//! the host, `eth0` in the VM), the gateway address on the host end, the
//! VM's address and default route on its end, IPv4 forwarding, and the
//! masquerading table of [`crate::nft`].
//!
//! What needs no VM is done before it exists ([`KernelNat::prepare`], which
//! the service runs while the VM starts): under the host-wide lock, a subnet
//! no host route uses is chosen, the nftables table made, forwarding turned
//! on. [`KernelNat::attach`] then creates the pair with its VM end made
//! directly in the VM's namespace as `eth0` (moving an existing interface
//! into a namespace waits for RCU grace periods, 15–30 ms here), puts the
//! gateway on the host end and releases the lock: from then on the route of
//! the gateway tells the next instance the subnet is taken.
//!
//! Everything on the host carries the instance's key (a hash of
//! `WSLP_ROOT`): a service killed with SIGKILL loses the veth with its VM's
//! namespace, and the next start of the same root removes a table it left.

use std::net::Ipv4Addr;
use std::os::fd::BorrowedFd;

use wslp_config::Ipv4Cidr;

use crate::error::{io, NetError};
use crate::host::{self, HostLock, IFNAME_PREFIX};
use crate::netlink::Rtnl;
use crate::nft::{self, Nft};
use crate::{netns, subnet};

/// The host end of the VM's veth pair.
pub fn host_ifname(key: &str) -> String {
    format!("{IFNAME_PREFIX}{key}")
}

/// The VM's end as an older wslp left it on the host.
fn peer_ifname(key: &str) -> String {
    format!("{IFNAME_PREFIX}{key}p")
}

/// The kernel nat of one VM.
pub struct KernelNat {
    key: String,
    pub subnet: Ipv4Cidr,
    pub ifname: String,
    pub table: String,
    /// Kept for the stop: the table is deleted on the socket that made it.
    nft: Option<Nft>,
    /// Held from the subnet's choice until its route exists (attach).
    lock: Option<HostLock>,
    stopped: bool,
}

impl KernelNat {
    pub fn gateway(&self) -> Ipv4Addr {
        self.subnet.host(1)
    }

    pub fn vm_address(&self) -> Ipv4Addr {
        self.subnet.host(2)
    }

    /// The host side (see the module doc). On error nothing is left.
    pub fn prepare(key: &str, wanted: Option<Ipv4Cidr>) -> Result<KernelNat, NetError> {
        let ifname = host_ifname(key);
        let peer = peer_ifname(key);
        let table = nft::table_name(key);
        let lock = HostLock::take()?;
        let mut rtnl = Rtnl::new().map_err(io("cannot open an rtnetlink socket"))?;
        // A service of this root that was killed leaves at most a table (its
        // veth went with its VM); a crash between here and attach could
        // leave the pair.
        for name in [&ifname, &peer] {
            if let Some(l) = rtnl
                .links()
                .map_err(io("cannot list the host's interfaces"))?
                .into_iter()
                .find(|l| &l.name == name)
            {
                if l.kind != "veth" {
                    return Err(NetError::Subnet(format!(
                        "the host already has an interface {name} that is not wslp's; rename or remove it"
                    )));
                }
                rtnl.delete_link(l.index)
                    .map_err(io(format!("cannot remove the stale interface {name}")))?;
            }
        }
        let routes = rtnl.routes().map_err(io("cannot list the host's routes"))?;
        let addrs = rtnl
            .addresses()
            .map_err(io("cannot list the host's addresses"))?;
        let used = subnet::in_use(&routes, &addrs);
        let chosen = match wanted {
            Some(s) => {
                if let Some(c) = subnet::clash(s, &used) {
                    return Err(NetError::Subnet(format!(
                        "nat_subnet {s} overlaps the host's network {c}; choose another nat_subnet in wslp.toml"
                    )));
                }
                s
            }
            None => subnet::pick(subnet::fnv1a(key.as_bytes()), &used).ok_or_else(|| {
                NetError::Subnet(format!(
                    "every /{} of {} is used by a host route; set nat_subnet in wslp.toml",
                    subnet::DEFAULT_PREFIX,
                    subnet::pool()
                ))
            })?,
        };
        let mut nat = KernelNat {
            key: key.to_owned(),
            subnet: chosen,
            ifname: ifname.clone(),
            table: table.clone(),
            nft: None,
            lock: None,
            stopped: false,
        };
        let made = (|| {
            let mut nft = Nft::new().map_err(io("cannot open an nftables (nfnetlink) socket"))?;
            let mut ops = Vec::new();
            if nft
                .table_exists(&table)
                .map_err(io("cannot look at the nftables tables"))?
            {
                ops.push(nft::delete_table(&table));
            }
            ops.extend(nft::nat_table(&table, &ifname, chosen));
            nft.commit(&ops)
                .map_err(io(format!("cannot create the nftables table ip {table}")))?;
            nat.nft = Some(nft);
            host::enable_forwarding(&lock)
        })();
        drop(rtnl);
        nat.lock = Some(lock);
        match made {
            Ok(()) => Ok(nat),
            Err(e) => {
                nat.stop();
                Err(e)
            }
        }
    }

    /// Creates the pair with `eth0` in the namespace of process `vm_pid`
    /// (whose namespace `netns` is), the gateway on the host end, the VM's
    /// address and default route on its end.
    pub fn attach(&mut self, vm_pid: i32, netns: BorrowedFd<'_>) -> Result<(), NetError> {
        let ifname = self.ifname.clone();
        let mut rtnl = Rtnl::new().map_err(io("cannot open an rtnetlink socket"))?;
        rtnl.add_veth_into(&ifname, "eth0", vm_pid as u32)
            .map_err(io(format!(
                "cannot create the veth pair {ifname} (host) / eth0 (VM)"
            )))?;
        let index = rtnl
            .link_index(&ifname)
            .map_err(io("cannot list the host's interfaces"))?
            .ok_or_else(|| {
                NetError::io(
                    format!("{ifname} vanished"),
                    std::io::ErrorKind::NotFound.into(),
                )
            })?;
        let (vm, gw, prefix) = (self.vm_address(), self.gateway(), self.subnet.prefix());
        rtnl.add_address(index, gw, prefix)
            .map_err(io(format!("cannot put {gw}/{prefix} on {ifname}")))?;
        rtnl.set_up(index)
            .map_err(io(format!("cannot bring {ifname} up")))?;
        // The subnet shows in the host's routes now.
        self.lock = None;
        netns::run_in(netns, move || {
            let mut inside = Rtnl::new()?;
            let eth0 = inside
                .link_index("eth0")?
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
            inside.add_address(eth0, vm, prefix)?;
            inside.set_up(eth0)?;
            inside.add_default_route(eth0, gw)
        })
        .map_err(io(format!(
            "cannot configure eth0 ({vm}/{prefix} via {gw}) in the VM"
        )))
    }

    /// Removes the veth pair, the table, and forwarding if wslp turned it on
    /// and no other nat VM is left. Idempotent; errors are logged.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        // Still held when the VM never came (flock: taking it again would wait
        // for ourselves).
        let lock = match self.lock.take().map(Ok).unwrap_or_else(HostLock::take) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the network lock for the stop");
                None
            }
        };
        match Rtnl::new() {
            Ok(mut rtnl) => {
                for name in [host_ifname(&self.key), peer_ifname(&self.key)] {
                    // By name, now: the VM's end may have taken the pair
                    // along already, and an index can be reused.
                    if let Ok(Some(index)) = rtnl.link_index(&name) {
                        match rtnl.delete_link(index) {
                            Ok(()) => {}
                            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {}
                            Err(e) => {
                                tracing::warn!(interface = %name, error = %e, "cannot remove the VM's interface")
                            }
                        }
                    }
                }
                if let Some(lock) = &lock {
                    host::release_forwarding(lock, &mut rtnl);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot open an rtnetlink socket for the stop"),
        }
        if let Some(mut nft) = self.nft.take() {
            if let Err(e) = nft.commit(&[nft::delete_table(&self.table)]) {
                if e.raw_os_error() != Some(libc::ENOENT) {
                    tracing::warn!(table = %self.table, error = %e, "cannot delete the nftables table");
                }
            }
        }
        drop(lock);
    }
}

impl Drop for KernelNat {
    fn drop(&mut self) {
        self.stop();
    }
}
