//! What several nat instances share on the host: a lock that serializes
//! their set-up and tear-down (subnet choice, the forwarding switch), and
//! the IPv4 forwarding switch itself.
//!
//! Forwarding (`net.ipv4.ip_forward`) is one switch for the whole network
//! namespace, and nat needs it on: the kernel forwards a reply coming back
//! from the outside only if the interface it arrives on forwards. Docker,
//! libvirt and podman turn it on and leave it on. wslp turns it on only
//! when it is off, notes that in `/run/wslp/ip_forward`, and turns it off
//! again when the last nat VM of any instance stops (no `wslp…` veth is
//! left) and the note is still there, so a host where it was off gets it
//! back off. The lock file `/run/wslp/net.lock` stays (empty; /run is a
//! tmpfs). docs/networking.md says so.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::error::{io, NetError};
use crate::netlink::Rtnl;

const RUN_DIR: &str = "/run/wslp";
const LOCK: &str = "/run/wslp/net.lock";
const MARKER: &str = "/run/wslp/ip_forward";
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// The prefix of every host interface of a wslp nat VM.
pub const IFNAME_PREFIX: &str = "wslp";

/// Held while one instance changes what instances share.
pub struct HostLock(#[allow(dead_code)] Flock<File>);

impl HostLock {
    pub fn take() -> Result<HostLock, NetError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(RUN_DIR)
            .map_err(io(format!("cannot create {RUN_DIR}")))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(LOCK)
            .map_err(io(format!("cannot open {LOCK}")))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map(HostLock)
            .map_err(|(_, e)| NetError::io(format!("cannot lock {LOCK}"), e.into()))
    }
}

fn forwarding_on() -> io::Result<bool> {
    Ok(std::fs::read_to_string(IP_FORWARD)?.trim() != "0")
}

/// Turns IPv4 forwarding on if it is off, noting that wslp did. Called with
/// the lock held.
pub fn enable_forwarding(_lock: &HostLock) -> Result<(), NetError> {
    if forwarding_on().map_err(io(format!("cannot read {IP_FORWARD}")))? {
        return Ok(());
    }
    std::fs::write(
        MARKER,
        "wslp turned net.ipv4.ip_forward on; it turns it off when its last nat VM stops\n",
    )
    .map_err(io(format!("cannot write {MARKER}")))?;
    std::fs::write(IP_FORWARD, "1")
        .map_err(io(format!("cannot turn IPv4 forwarding on ({IP_FORWARD})")))?;
    tracing::info!("IPv4 forwarding turned on (net.ipv4.ip_forward was 0)");
    Ok(())
}

/// Turns forwarding back off when wslp turned it on and no nat VM of any
/// instance is left. Called with the lock held, after this VM's interface
/// is gone.
pub fn release_forwarding(_lock: &HostLock, rtnl: &mut Rtnl) {
    if !Path::new(MARKER).exists() {
        return;
    }
    let others = match rtnl.links() {
        Ok(links) => links
            .iter()
            .any(|l| l.kind == "veth" && l.name.starts_with(IFNAME_PREFIX)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list interfaces; IPv4 forwarding left on");
            return;
        }
    };
    if others {
        return;
    }
    match std::fs::write(IP_FORWARD, "0") {
        Ok(()) => tracing::info!("IPv4 forwarding turned back off"),
        Err(e) => tracing::warn!(error = %e, "cannot turn IPv4 forwarding back off"),
    }
    let _ = std::fs::remove_file(MARKER);
}
