//! The service's system calls that need `unsafe`: taking ownership of the
//! listening socket systemd passes (socket activation, `sd_listen_fds(3)`),
//! and the peer credentials no safe wrapper offers (SO_PEERGROUPS,
//! SO_PEERPIDFD).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::os::unix::net::UnixStream;
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

const SO_PEERGROUPS: libc::c_int = 59;
const SO_PEERPIDFD: libc::c_int = 77;

/// The peer's supplementary groups when it connected (SO_PEERGROUPS), from
/// the kernel: what a command of a non-root caller runs with.
pub(crate) fn peer_groups(stream: &UnixStream) -> std::io::Result<Vec<u32>> {
    let mut groups = vec![0u32; 64];
    loop {
        let mut len = (groups.len() * 4) as libc::socklen_t;
        // SAFETY: the buffer and its length in bytes describe live, writable
        // memory; `len` is a live socklen_t.
        let r = unsafe {
            libc::getsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if r == 0 {
            groups.truncate(len as usize / 4);
            return Ok(groups);
        }
        let e = std::io::Error::last_os_error();
        // ERANGE: `len` now says how much is needed.
        if e.raw_os_error() == Some(libc::ERANGE) && (len as usize / 4) > groups.len() {
            groups.resize(len as usize / 4, 0);
            continue;
        }
        return Err(e);
    }
}

/// A pidfd of the process that connected (SO_PEERPIDFD, Linux 6.5), so that
/// what is read about it by pid can be checked to be about it; `None` where
/// the kernel has no such option.
pub(crate) fn peer_pidfd(stream: &UnixStream) -> std::io::Result<Option<OwnedFd>> {
    let mut fd: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` and `len` are live and of the sizes passed.
    let r = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PEERPIDFD,
            (&mut fd as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOPROTOOPT) => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: the kernel just installed this descriptor for us alone.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_s_groups_and_pidfd_are_the_kernel_s() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut ours = nix::unistd::getgroups()
            .unwrap()
            .iter()
            .map(|g| g.as_raw())
            .collect::<Vec<_>>();
        let mut theirs = peer_groups(&a).unwrap();
        ours.sort();
        theirs.sort();
        assert_eq!(theirs, ours);
        if let Some(fd) = peer_pidfd(&a).unwrap() {
            let info =
                std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
            assert!(
                info.contains(&format!("Pid:\t{}", std::process::id())),
                "{info}"
            );
        }
    }
}
