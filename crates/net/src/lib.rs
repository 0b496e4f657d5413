//! Networking of the utility VM (SPEC §9): nat (kernel veth + nftables, or
//! pasta), mirrored, none; the generated resolv.conf and hosts; the DNS
//! forwarder; localhost forwarding; the fallback to loopback only.
//!
//! The service drives it in three steps around the VM's own start:
//!
//! 1. [`prepare`] before the VM starts (it may run while the VM starts):
//!    the host side of nat, and whether the VM shares the host's network
//!    namespace ([`NetConfig::shares_host_network`], for mirrored);
//! 2. [`Starting::attach`] once the VM's init exists and before
//!    OnVMStarted: the VM's side, DNS, localhost forwarding. It never
//!    fails: a mode that cannot be set up is undone and the VM keeps
//!    loopback only, with SPEC §9's warning in [`Network::warning`] for the
//!    command that started the VM;
//! 3. [`Network::stop`] after OnVMStopping: nothing of the instance is left
//!    on the host.
//!
//! [`Network::write_files`] writes a distribution's (or the VM's)
//! resolv.conf and hosts; the caller decides per file ([`Generate`], from
//! the distribution's `/etc/wsl.conf`, SPEC §12).
//!
//! nat's backend is a seam ([`NatBackend`]): kernel parts for a root
//! instance, pasta for a per-user one, either when `nat_backend` names it.

#![deny(unsafe_code)]

pub mod dns;
mod error;
pub mod files;
mod host;
pub mod kernel;
pub mod localhost;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod pasta;
pub mod relay;
pub mod subnet;
#[allow(unsafe_code)]
mod sys;

use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

pub use error::NetError;
pub use files::Generate;
pub use wslp_config::{Ipv4Cidr, NatBackend, NetworkingMode};

use dns::{Forwarder, HostResolv};
use kernel::KernelNat;
use localhost::LocalhostForwarder;
use pasta::Pasta;

/// What the networking of one instance is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    pub mode: NetworkingMode,
    pub nat_subnet: Option<Ipv4Cidr>,
    pub localhost_forwarding: bool,
    pub backend: NatBackend,
    /// Names what the instance creates on the host ([`subnet::instance_key`]).
    pub key: String,
    /// A directory of the instance for pasta's readiness FIFO.
    pub run_dir: PathBuf,
}

impl NetConfig {
    /// The configuration of the instance at `root` from its settings.
    pub fn new(settings: &wslp_config::Settings, root: &Path, run_dir: PathBuf) -> NetConfig {
        NetConfig {
            mode: settings.networking_mode,
            nat_subnet: settings.nat_subnet,
            localhost_forwarding: settings.localhost_forwarding,
            backend: settings.nat_backend,
            key: subnet::instance_key(root),
            run_dir,
        }
    }

    /// Whether the VM must stay in the host's network namespace (no new
    /// one): mirrored mode.
    pub fn shares_host_network(&self) -> bool {
        self.mode == NetworkingMode::Mirrored
    }

    /// The nat backend `auto` stands for here: kernel parts as root, pasta
    /// otherwise.
    pub fn nat_backend(&self) -> NatBackend {
        match self.backend {
            NatBackend::Auto if wslp_config::is_host_root() => NatBackend::Kernel,
            NatBackend::Auto => NatBackend::Pasta,
            b => b,
        }
    }
}

/// SPEC §9's warning, word for word.
pub fn fallback_warning(mode: NetworkingMode, cause: &NetError) -> String {
    format!(
        "wslp: Failed to configure network (networking_mode {mode}): {cause}. \
         Falling back to networking_mode none."
    )
}

/// Networking between [`prepare`] and [`Starting::attach`].
pub struct Starting {
    cfg: NetConfig,
    kernel: Option<Result<KernelNat, NetError>>,
}

/// The host side of the configured mode (see the crate doc); runs before
/// or while the VM starts.
pub fn prepare(cfg: &NetConfig) -> Starting {
    let t = std::time::Instant::now();
    let kernel = (cfg.mode == NetworkingMode::Nat && cfg.nat_backend() == NatBackend::Kernel)
        .then(|| KernelNat::prepare(&cfg.key, cfg.nat_subnet));
    tracing::debug!(
        elapsed_us = t.elapsed().as_micros() as u64,
        "network: host side prepared"
    );
    Starting {
        cfg: cfg.clone(),
        kernel,
    }
}

impl Starting {
    /// Connects the VM whose init is `vm_pid` (see the crate doc).
    pub fn attach(self, vm_pid: i32) -> Network {
        let t = std::time::Instant::now();
        let cfg = self.cfg;
        let host = HostResolv::read();
        let host_entries =
            files::foreign_host_entries(&std::fs::read_to_string("/etc/hosts").unwrap_or_default());
        let mut net = Network {
            requested: cfg.mode,
            mode: NetworkingMode::None,
            warning: None,
            nat: None,
            dns: None,
            localhost: None,
            resolv_body: "# networking_mode none: the VM has loopback only, no name server\n"
                .into(),
            host_entries,
        };
        match cfg.mode {
            NetworkingMode::None => {}
            NetworkingMode::Mirrored => {
                net.mode = NetworkingMode::Mirrored;
                net.resolv_body = host.mirrored_body();
            }
            NetworkingMode::Nat => {
                if let Err(e) = net.attach_nat(&cfg, self.kernel, vm_pid, &host) {
                    net.stop();
                    let w = fallback_warning(cfg.mode, &e);
                    tracing::warn!("{w}");
                    net.warning = Some(w);
                    net.mode = NetworkingMode::None;
                }
            }
        }
        tracing::debug!(elapsed_us = t.elapsed().as_micros() as u64, mode = %net.mode, "network: VM attached");
        net
    }
}

/// The nat of a running VM.
enum Nat {
    Kernel(KernelNat),
    Pasta { pasta: Pasta, subnet: Ipv4Cidr },
}

/// The network of a running VM.
pub struct Network {
    requested: NetworkingMode,
    mode: NetworkingMode,
    warning: Option<String>,
    nat: Option<Nat>,
    dns: Option<Forwarder>,
    localhost: Option<LocalhostForwarder>,
    resolv_body: String,
    host_entries: Vec<(IpAddr, Vec<String>)>,
}

impl Network {
    fn attach_nat(
        &mut self,
        cfg: &NetConfig,
        kernel: Option<Result<KernelNat, NetError>>,
        vm_pid: i32,
        host: &HostResolv,
    ) -> Result<(), NetError> {
        let netns: OwnedFd = netns::open(vm_pid)
            .map_err(|e| NetError::io("cannot open the VM's network namespace", e))?;
        let gateway = match kernel {
            Some(prepared) => {
                let mut k = prepared?;
                let attached = k.attach(vm_pid, netns.as_fd());
                let gw = k.gateway();
                self.nat = Some(Nat::Kernel(k));
                attached?;
                if host.needs_forwarder() {
                    let dns = Forwarder::start(gw, host.nameservers.clone()).map_err(|e| {
                        NetError::io(format!("cannot start the DNS forwarder on {gw}:53"), e)
                    })?;
                    self.dns = Some(dns);
                }
                gw
            }
            None => {
                let subnet = pasta_subnet(cfg)?;
                let pasta = Pasta::start(netns.as_fd(), subnet, &cfg.run_dir)?;
                self.nat = Some(Nat::Pasta { pasta, subnet });
                subnet.host(1)
            }
        };
        // pasta forwards DNS at the gateway itself (--dns-forward).
        self.resolv_body = match (&self.nat, host.needs_forwarder()) {
            (Some(Nat::Pasta { .. }), true) => HostResolv {
                nameservers: vec![IpAddr::V4(gateway)],
                other: host.other.clone(),
            }
            .mirrored_body(),
            _ => host.nat_body(gateway),
        };
        if cfg.localhost_forwarding {
            self.localhost = Some(
                LocalhostForwarder::start(netns)
                    .map_err(|e| NetError::io("cannot start localhost forwarding", e))?,
            );
        }
        self.mode = NetworkingMode::Nat;
        Ok(())
    }

    /// SPEC §9's warning when the requested mode could not be set up.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// The mode in effect (none after a fallback).
    pub fn mode(&self) -> NetworkingMode {
        self.mode
    }

    /// The subnet of a nat VM.
    pub fn subnet(&self) -> Option<Ipv4Cidr> {
        match &self.nat {
            Some(Nat::Kernel(k)) => Some(k.subnet),
            Some(Nat::Pasta { subnet, .. }) => Some(*subnet),
            None => None,
        }
    }

    /// One line for `wslp --status`.
    pub fn describe(&self) -> String {
        let detail = match &self.nat {
            Some(Nat::Kernel(k)) => format!(
                " (eth0 {}/{} via {}; host interface {}, nftables table ip {}{})",
                k.vm_address(),
                k.subnet.prefix(),
                k.gateway(),
                k.ifname,
                k.table,
                if self.dns.is_some() {
                    ", DNS forwarder at the gateway"
                } else {
                    ""
                }
            ),
            Some(Nat::Pasta { pasta, subnet }) => format!(
                " (eth0 {}/{} via {}; pasta pid {})",
                subnet.host(2),
                subnet.prefix(),
                subnet.host(1),
                pasta.pid
            ),
            None if self.warning.is_some() => format!(" ({} could not be set up)", self.requested),
            None => String::new(),
        };
        format!("{}{detail}", self.mode)
    }

    /// The resolv.conf of the VM and of its distributions.
    pub fn resolv_conf(&self) -> String {
        files::resolv_conf(&self.resolv_body)
    }

    /// The hosts file of a machine named `hostname`.
    pub fn hosts(&self, hostname: &str) -> String {
        files::hosts(hostname, &self.host_entries)
    }

    /// Writes `/etc/resolv.conf` and `/etc/hosts` below `root` (a
    /// distribution's root filesystem, or `/proc/<VM init>/root`), those
    /// `generate` asks for. Both are tried; the errors are returned.
    pub fn write_files(&self, root: &Path, hostname: &str, generate: Generate) -> Vec<NetError> {
        let mut errors = Vec::new();
        if generate.resolv_conf {
            if let Err(e) = files::write_etc_file(root, "resolv.conf", &self.resolv_conf()) {
                errors.push(e);
            }
        }
        if generate.hosts {
            if let Err(e) = files::write_etc_file(root, "hosts", &self.hosts(hostname)) {
                errors.push(e);
            }
        }
        errors
    }

    /// Undoes everything on the host. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut l) = self.localhost.take() {
            l.stop();
        }
        if let Some(mut d) = self.dns.take() {
            d.stop();
        }
        match self.nat.take() {
            Some(Nat::Kernel(mut k)) => k.stop(),
            Some(Nat::Pasta { mut pasta, .. }) => pasta.stop(),
            None => {}
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.stop();
    }
}

/// pasta's subnet: no host route is created, so no lock is needed; the
/// subnet only has to stay clear of the host's networks, which the VM
/// could not reach otherwise.
fn pasta_subnet(cfg: &NetConfig) -> Result<Ipv4Cidr, NetError> {
    let mut rtnl =
        netlink::Rtnl::new().map_err(|e| NetError::io("cannot open an rtnetlink socket", e))?;
    let routes = rtnl
        .routes()
        .map_err(|e| NetError::io("cannot list the host's routes", e))?;
    let addrs = rtnl
        .addresses()
        .map_err(|e| NetError::io("cannot list the host's addresses", e))?;
    let used = subnet::in_use(&routes, &addrs);
    match cfg.nat_subnet {
        Some(s) => match subnet::clash(s, &used) {
            Some(c) => Err(NetError::Subnet(format!(
                "nat_subnet {s} overlaps the host's network {c}; choose another nat_subnet in wslp.toml"
            ))),
            None => Ok(s),
        },
        None => subnet::pick(subnet::fnv1a(cfg.key.as_bytes()), &used).ok_or_else(|| {
            NetError::Subnet(format!(
                "every /{} of {} is used by a host route; set nat_subnet in wslp.toml",
                subnet::DEFAULT_PREFIX,
                subnet::pool()
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_is_spec_text() {
        let e = NetError::Missing {
            program: "pasta",
            package: "passt",
        };
        assert_eq!(
            fallback_warning(NetworkingMode::Nat, &e),
            "wslp: Failed to configure network (networking_mode nat): pasta was not found in PATH; \
             install passt. Falling back to networking_mode none."
        );
    }
}
