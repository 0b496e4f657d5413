//! The service's one system call that needs `unsafe`: taking ownership of the
//! listening socket systemd passes (socket activation, `sd_listen_fds(3)`).

use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};

/// The first descriptor of the LISTEN_FDS protocol.
const SD_LISTEN_FDS_START: RawFd = 3;

/// The listener systemd passed, when `LISTEN_PID` names this process and
/// `LISTEN_FDS` is at least 1. The variables are removed so children do not
/// think the socket is theirs; the descriptor is taken at most once.
pub(crate) fn systemd_listener() -> Option<UnixListener> {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    let n: u32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    if pid != std::process::id() || n < 1 {
        return None;
    }
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    if TAKEN.swap(true, Ordering::SeqCst) {
        return None;
    }
    // SAFETY: systemd passed fd 3 to this process (LISTEN_PID is ours) as a
    // listening socket for us to own; TAKEN makes this the only owner.
    Some(unsafe { UnixListener::from_raw_fd(SD_LISTEN_FDS_START) })
}
