//! The one thing the crate cannot do with safe calls: set up a helper
//! process between fork and exec.

use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes the child of `cmd` die with the thread that spawns it (so a killed
/// service leaves no helper behind) and get `fd` as its descriptor 3.
pub fn die_with_parent_thread_and_pass_fd(cmd: &mut Command, fd: RawFd) {
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed: it makes three system calls
    // (prctl, dup2 or fcntl) and builds an io::Error from errno, which does
    // not allocate. It touches no lock and no memory of the parent's.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // dup2 onto itself would keep FD_CLOEXEC.
            let ok = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0) >= 0
            } else {
                libc::dup2(fd, 3) >= 0
            };
            if !ok {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
