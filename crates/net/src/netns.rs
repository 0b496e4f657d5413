//! Doing things inside the VM's network namespace from the service.
//!
//! setns(2) with CLONE_NEWNET changes only the calling thread, so a scoped
//! thread joins the namespace, does its work (typically: creates the sockets
//! it needs, which stay bound to that namespace wherever they are used
//! later) and ends. The service's other threads never leave the host's
//! namespace.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::sched::{setns, CloneFlags};

/// The network namespace of process `pid` (`/proc/PID/ns/net`). Holding it
/// keeps the namespace alive: drop it when the VM stops.
pub fn open(pid: i32) -> io::Result<OwnedFd> {
    Ok(File::open(format!("/proc/{pid}/ns/net"))?.into())
}

/// Runs `f` on a thread inside the network namespace `ns`.
pub fn run_in<T: Send>(
    ns: BorrowedFd<'_>,
    f: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(ns)?;
            f()
        })
        .join()
        .unwrap_or_else(|_| {
            Err(io::Error::other(
                "a thread in the VM's network namespace panicked",
            ))
        })
    })
}

/// Moves the calling thread into the network namespace `ns`; for threads
/// made for that (see the module doc).
pub fn enter(ns: BorrowedFd<'_>) -> io::Result<()> {
    setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}
