//! The few system calls of plugin-host processes that need `unsafe`: pidfds, the
//! descriptor mapping done between fork and exec, and closing inherited descriptors.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// A pidfd for our child `pid`: becomes readable when it exits, and cannot name
/// another process if the pid is reused.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Makes `fds[i]` descriptor number `3 + i` in the child. `fds` must be
/// close-on-exec descriptors numbered above `3 + fds.len()` (see [`dup_high`]), so
/// no `dup2` overwrites one still to be moved, and each copy loses close-on-exec.
pub(crate) fn map_fds(cmd: &mut Command, fds: Vec<RawFd>) {
    // SAFETY: the closure runs between fork and exec and only calls dup2, which is
    // async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            for (i, fd) in fds.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as RawFd) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        })
    };
}

/// A close-on-exec copy of `fd` numbered 10 or above, for [`map_fds`].
pub(crate) fn dup_high(fd: &OwnedFd) -> io::Result<OwnedFd> {
    let raw = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10))?;
    // SAFETY: fcntl just created this descriptor for us.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Closes every descriptor from `first` up: a plugin host keeps only what the
/// service gave it on purpose, whatever the service leaked without close-on-exec.
pub(crate) fn close_from(first: u32) {
    // SAFETY: close_range only closes descriptors; at plugin-host start nothing in
    // this process owns a descriptor at or above `first`.
    unsafe { libc::close_range(first, u32::MAX, 0) };
}

/// Takes ownership of the descriptors the service mapped to fixed numbers
/// before exec ([`map_fds`]), after checking each is open. Once per process:
/// a second call fails, so no descriptor ever has two owners.
pub(crate) fn take_inherited<const N: usize>(fds: [RawFd; N]) -> Result<[OwnedFd; N], String> {
    static TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if TAKEN.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Err("the descriptors from wslpd were already taken".into());
    }
    for fd in fds {
        nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD)
            .map_err(|e| format!("descriptor {fd} from wslpd is missing ({e})"))?;
    }
    // SAFETY: each is open (checked above), and nothing else in this process
    // uses these numbers: the service put them there for us before exec, the
    // plugin is not loaded yet, and TAKEN makes this the only owner.
    Ok(fds.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }))
}
