//! Raw Linux syscalls behind small safe wrappers: the only place of this crate
//! that talks to the kernel without a library in between.
//!
//! Most of these run in a child created by [`clone3`] from a multi-threaded
//! caller. Such a child may only do what is async-signal-safe: no allocation, no
//! lock, nothing that trusts glibc's view of the process (its thread list, for
//! one, still names the parent's threads). So every wrapper here is a direct
//! `syscall(2)`, never the glibc function of the same name: glibc's `setuid`
//! would try to signal the parent's threads (the setxid broadcast), its
//! `waitpid` checks for thread cancellation, and so on. Arguments are borrowed
//! `CStr`s prepared by the caller before cloning.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use libc::{c_int, c_long, c_uint, c_ulong, c_void};

/// A kernel error number.
pub type Errno = i32;

fn errno() -> Errno {
    // SAFETY: __errno_location always returns a valid pointer to the calling
    // thread's errno (in a cloned child: the child's copy of it).
    unsafe { *libc::__errno_location() }
}

fn check(ret: c_long) -> Result<c_long, Errno> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(ret)
    }
}

fn ptr(s: Option<&CStr>) -> *const libc::c_char {
    s.map_or(std::ptr::null(), CStr::as_ptr)
}

/// mount(2).
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: c_ulong,
    data: Option<&CStr>,
) -> Result<(), Errno> {
    // SAFETY: every pointer is NULL or a NUL-terminated string that outlives the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount,
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data) as *const c_void,
        )
    })
    .map(drop)
}

/// umount2(2).
pub fn umount2(target: &CStr, flags: c_int) -> Result<(), Errno> {
    // SAFETY: target is a NUL-terminated string.
    check(unsafe { libc::syscall(libc::SYS_umount2, target.as_ptr(), flags) }).map(drop)
}

/// mkdir(2); an existing entry is not an error (the caller's next step fails
/// with a precise error if it is not a directory).
pub fn mkdir(path: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: path is a NUL-terminated string.
    match check(unsafe { libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, path.as_ptr(), mode) }) {
        Ok(_) => Ok(()),
        Err(libc::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// symlink(2); an existing entry is not an error.
pub fn symlink(target: &CStr, link: &CStr) -> Result<(), Errno> {
    // SAFETY: both are NUL-terminated strings.
    match check(unsafe {
        libc::syscall(
            libc::SYS_symlinkat,
            target.as_ptr(),
            libc::AT_FDCWD,
            link.as_ptr(),
        )
    }) {
        Ok(_) => Ok(()),
        Err(libc::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// openat(2) relative to the working directory; returns the raw descriptor
/// (children have no use for ownership bookkeeping).
pub fn open(path: &CStr, flags: c_int, mode: u32) -> Result<RawFd, Errno> {
    // SAFETY: path is a NUL-terminated string.
    check(unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, path.as_ptr(), flags, mode) })
        .map(|fd| fd as RawFd)
}

/// Creates an empty regular file (a bind-mount target for a file) unless
/// something already exists there.
pub fn touch(path: &CStr) -> Result<(), Errno> {
    let fd = open(
        path,
        libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        0o644,
    );
    match fd {
        Ok(fd) => {
            close(fd);
            Ok(())
        }
        // A directory or a device node that is already there.
        Err(libc::EISDIR) | Err(libc::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// close(2), errors ignored (there is nothing useful to do about them).
pub fn close(fd: RawFd) {
    // SAFETY: closing a descriptor number has no memory-safety impact; callers
    // only pass descriptors they own.
    unsafe { libc::syscall(libc::SYS_close, fd) };
}

/// close_range(2): `cloexec` marks instead of closing.
pub fn close_range(first: c_uint, last: c_uint, cloexec: bool) -> Result<(), Errno> {
    let flags: c_uint = if cloexec {
        libc::CLOSE_RANGE_CLOEXEC
    } else {
        0
    };
    // SAFETY: plain integer arguments.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) }).map(drop)
}

/// fcntl(F_DUPFD_CLOEXEC): an owned copy of `fd` numbered 3 or above.
pub fn dup_cloexec_above_stdio(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    // SAFETY: plain integer arguments.
    let new =
        check(unsafe { libc::syscall(libc::SYS_fcntl, fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: the kernel just returned this new descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new as RawFd) })
}

/// fcntl(F_DUPFD): a copy of `fd` numbered 3 or above, without CLOEXEC.
pub fn dup_above_stdio(fd: RawFd) -> Result<RawFd, Errno> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_DUPFD, 3) }).map(|f| f as RawFd)
}

/// dup3(2) without flags (the new descriptor survives exec).
pub fn dup_to(old: RawFd, new: RawFd) -> Result<(), Errno> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::syscall(libc::SYS_dup3, old, new, 0) }).map(drop)
}

/// chdir(2).
pub fn chdir(path: &CStr) -> Result<(), Errno> {
    // SAFETY: path is a NUL-terminated string.
    check(unsafe { libc::syscall(libc::SYS_chdir, path.as_ptr()) }).map(drop)
}

/// fchdir(2).
pub fn fchdir(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: plain integer argument.
    check(unsafe { libc::syscall(libc::SYS_fchdir, fd) }).map(drop)
}

/// pivot_root(2).
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> Result<(), Errno> {
    // SAFETY: both are NUL-terminated strings.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
        .map(drop)
}

/// sethostname(2).
pub fn sethostname(name: &[u8]) -> Result<(), Errno> {
    // SAFETY: the pointer and length describe a live byte slice.
    check(unsafe { libc::syscall(libc::SYS_sethostname, name.as_ptr(), name.len()) }).map(drop)
}

/// prctl(PR_SET_PDEATHSIG): `sig` when the thread that created us exits.
pub fn set_parent_death_signal(sig: c_int) -> Result<(), Errno> {
    // SAFETY: plain integer arguments.
    check(unsafe {
        libc::syscall(
            libc::SYS_prctl,
            libc::PR_SET_PDEATHSIG,
            sig as c_long,
            0,
            0,
            0,
        )
    })
    .map(drop)
}

/// setns(2) with a namespace or pidfd descriptor.
pub fn setns(fd: RawFd, nstype: c_int) -> Result<(), Errno> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::syscall(libc::SYS_setns, fd, nstype) }).map(drop)
}

/// unshare(2).
pub fn unshare(flags: c_int) -> Result<(), Errno> {
    // SAFETY: plain integer argument.
    check(unsafe { libc::syscall(libc::SYS_unshare, flags) }).map(drop)
}

/// read(2) into `buf`, retrying on EINTR; returns the count (0 at EOF).
pub fn read(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: pointer and length describe a live, writable byte slice.
        match check(unsafe { libc::syscall(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len()) }) {
            Ok(n) => return Ok(n as usize),
            Err(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Whether every write end of the pipe `fd` reads from is closed (POLLHUP),
/// without waiting.
pub fn pipe_hung_up(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: one live pollfd, a live timespec, no signal mask.
    let n = unsafe {
        libc::syscall(
            libc::SYS_ppoll,
            &mut pfd as *mut libc::pollfd,
            1usize,
            &zero as *const libc::timespec,
            std::ptr::null::<libc::sigset_t>(),
            0usize,
        )
    };
    n > 0 && pfd.revents & libc::POLLHUP != 0
}

/// Becomes root of the user namespace the process is in: no supplementary
/// groups (when `setgroups` is allowed there), then gid and uid 0. A process
/// that has just joined or made a user namespace still has its host ids,
/// which have no name inside (they show as `nobody`, and files cannot be
/// created with them).
pub fn become_root(setgroups: bool) -> Result<(), Errno> {
    if setgroups {
        // SAFETY: a zero-length list; the pointer is not read.
        check(unsafe { libc::syscall(libc::SYS_setgroups, 0usize, std::ptr::null::<u32>()) })?;
    }
    // SAFETY: integer arguments.
    check(unsafe { libc::syscall(libc::SYS_setresgid, 0u32, 0u32, 0u32) })?;
    // SAFETY: integer arguments.
    check(unsafe { libc::syscall(libc::SYS_setresuid, 0u32, 0u32, 0u32) })?;
    Ok(())
}

/// prctl(PR_SET_NO_NEW_PRIVS): execve never grants privileges again (set-id
/// bits and file capabilities are ignored).
pub fn set_no_new_privs() -> Result<(), Errno> {
    // SAFETY: plain integer arguments.
    check(unsafe {
        libc::syscall(
            libc::SYS_prctl,
            libc::PR_SET_NO_NEW_PRIVS,
            1 as c_long,
            0 as c_long,
            0 as c_long,
            0 as c_long,
        )
    })
    .map(drop)
}

/// prlimit64(2) on the calling process: sets `resource` to `soft`/`hard`.
pub fn set_rlimit(resource: c_uint, soft: u64, hard: u64) -> Result<(), Errno> {
    let new = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `new` is a live rlimit64; a NULL old-limit pointer is allowed.
    check(unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            0 as libc::pid_t,
            resource,
            &new as *const libc::rlimit64,
            std::ptr::null_mut::<libc::rlimit64>(),
        )
    })
    .map(drop)
}

/// prlimit64(2) reading `resource` of process `pid`: `(soft, hard)`.
pub fn get_rlimit(pid: libc::pid_t, resource: c_uint) -> Result<(u64, u64), Errno> {
    let mut old = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `old` is a live rlimit64 the kernel fills in; NULL new limit.
    check(unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            pid,
            resource,
            std::ptr::null::<libc::rlimit64>(),
            &mut old as *mut libc::rlimit64,
        )
    })?;
    Ok((old.rlim_cur, old.rlim_max))
}

/// dup3(2) with O_CLOEXEC: `old` also answers to `new` (closing what `new` was).
pub fn dup_onto_cloexec(old: RawFd, new: RawFd) -> Result<(), Errno> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::syscall(libc::SYS_dup3, old, new, libc::O_CLOEXEC) }).map(drop)
}

/// `OPEN_TREE_CLONE`: open_tree returns a detached copy of the mount tree.
pub const OPEN_TREE_CLONE: c_uint = 1;
/// `AT_RECURSIVE`: the whole tree, submounts included.
pub const AT_RECURSIVE: c_uint = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: c_uint = 0x4;
/// `MOUNT_ATTR_RDONLY`.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// `MOUNT_ATTR_NODEV`.
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
/// `MOUNT_ATTR_IDMAP`: the mount shows ids through a user namespace's maps.
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// open_tree(OPEN_TREE_CLONE | AT_RECURSIVE): a detached copy of the mount tree
/// at `path`, which can later be attached in another mount namespace.
pub fn open_tree_clone(path: &CStr) -> Result<OwnedFd, Errno> {
    let fd = open_tree_clone_raw(path)?;
    // SAFETY: the kernel just returned this new descriptor and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// [`open_tree_clone`] for a child: the bare descriptor number (close-on-exec).
pub fn open_tree_clone_raw(path: &CStr) -> Result<RawFd, Errno> {
    let flags = OPEN_TREE_CLONE | AT_RECURSIVE | libc::O_CLOEXEC as c_uint;
    // SAFETY: path is a NUL-terminated string.
    check(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) })
        .map(|fd| fd as RawFd)
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) on the whole tree of a mount descriptor (`AT_EMPTY_PATH`)
/// or of a path: sets `attr_set` and, when non-zero, the propagation type.
pub fn mount_setattr(
    dirfd: RawFd,
    path: &CStr,
    attr_set: u64,
    propagation: u64,
) -> Result<(), Errno> {
    mount_setattr_idmapped(dirfd, path, attr_set, propagation, None)
}

/// [`mount_setattr`], with `MOUNT_ATTR_IDMAP` through the user namespace
/// `userns` when given (only on a detached tree that is not idmapped yet).
pub fn mount_setattr_idmapped(
    dirfd: RawFd,
    path: &CStr,
    attr_set: u64,
    propagation: u64,
    userns: Option<BorrowedFd<'_>>,
) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: attr_set
            | if userns.is_some() {
                MOUNT_ATTR_IDMAP
            } else {
                0
            },
        attr_clr: 0,
        propagation,
        userns_fd: userns.map_or(0, |fd| fd.as_raw_fd() as u64),
    };
    let mut flags = AT_RECURSIVE;
    if path.is_empty() {
        flags |= libc::AT_EMPTY_PATH as c_uint;
    }
    // SAFETY: path is NUL-terminated; attr is a live mount_attr of the size passed.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// move_mount(2) of a detached tree (a descriptor from [`open_tree_clone`])
/// onto `target`.
pub fn attach_tree(tree: RawFd, target: &CStr) -> Result<(), Errno> {
    // SAFETY: both paths are NUL-terminated strings.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// pidfd_send_signal(2).
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: c_int) -> Result<(), Errno> {
    // SAFETY: integer arguments and a NULL siginfo.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

/// `PIDFD_SIGNAL_PROCESS_GROUP` (Linux 6.9): the signal goes to the process
/// group the pidfd's process leads.
const PIDFD_SIGNAL_PROCESS_GROUP: c_uint = 1 << 2;

/// pidfd_send_signal(2) to the process group of the process behind `pidfd`
/// (which must lead it): the command and its pipeline, never anyone else.
pub fn pidfd_send_signal_group(pidfd: BorrowedFd<'_>, sig: c_int) -> Result<(), Errno> {
    // SAFETY: integer arguments and a NULL siginfo.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            PIDFD_SIGNAL_PROCESS_GROUP,
        )
    })
    .map(drop)
}

/// pidfd_open(2): a descriptor for process `pid` of the caller's pid
/// namespace, readable (for poll) once it has exited.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: integer arguments.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel just installed this descriptor (close-on-exec) for us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// pidfd_getfd(2): a copy, in the caller, of descriptor `fd` of the process
/// behind `pidfd`.
pub fn pidfd_getfd(pidfd: BorrowedFd<'_>, fd: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: integer arguments.
    let new = check(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) })?;
    // SAFETY: the kernel just installed this descriptor (close-on-exec) for us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(new as RawFd) })
}

const P_PIDFD: libc::idtype_t = 3;

/// Waits for the process behind `pidfd` to exit and reaps it. Returns its exit
/// code, or 128 + the signal number when a signal killed it (the shell's convention).
pub fn wait_pidfd(pidfd: BorrowedFd<'_>) -> Result<i32, Errno> {
    loop {
        match waitid_pidfd(pidfd, 0) {
            Err(libc::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(code) => return Ok(code.unwrap_or(0)),
        }
    }
}

/// The exit code of the process behind `pidfd` if it has exited (reaping
/// it), as [`wait_pidfd`] gives it; None while it runs.
pub fn try_wait_pidfd(pidfd: BorrowedFd<'_>) -> Option<i32> {
    waitid_pidfd(pidfd, libc::WNOHANG).ok().flatten()
}

/// waitid(P_PIDFD, WEXITED | `flags`): the exit code as [`wait_pidfd`]
/// gives it, None when WNOHANG found it running.
fn waitid_pidfd(pidfd: BorrowedFd<'_>, flags: c_int) -> Result<Option<i32>, Errno> {
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: info is a live siginfo_t the kernel fills in.
    let ret = unsafe {
        libc::waitid(
            P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | flags,
        )
    };
    if ret < 0 {
        return Err(errno());
    }
    // SAFETY: waitid succeeded; a zero si_pid means no child changed state
    // (WNOHANG), else si_status and si_code are set.
    if unsafe { info.si_pid() } == 0 {
        return Ok(None);
    }
    // SAFETY: as above.
    let status = unsafe { info.si_status() };
    Ok(Some(match info.si_code {
        libc::CLD_EXITED => status,
        _ => 128 + status,
    }))
}

/// Reaps every child that has exited, without blocking (the work of an init).
pub fn reap_all() {
    loop {
        // SAFETY: NULL status and rusage pointers are allowed.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_wait4,
                -1 as libc::pid_t,
                std::ptr::null_mut::<c_int>(),
                libc::WNOHANG | libc::__WALL,
                std::ptr::null_mut::<libc::rusage>(),
            )
        };
        if ret <= 0 {
            return;
        }
    }
}

/// Blocks in rt_sigtimedwait(2) until one of `set` is pending and consumes
/// it; returns its number (or -1 when interrupted otherwise).
pub fn sigwait(set: &libc::sigset_t) -> c_int {
    // SAFETY: set is a live sigset_t; the kernel reads its first 8 bytes, which
    // hold signals 1..=64 in glibc's layout too; NULL info and timeout are allowed.
    (unsafe {
        libc::syscall(
            libc::SYS_rt_sigtimedwait,
            set as *const libc::sigset_t,
            std::ptr::null_mut::<libc::siginfo_t>(),
            std::ptr::null::<libc::timespec>(),
            8usize,
        )
    }) as c_int
}

/// The signal set holding only `sig`.
pub fn sigset_of(sig: c_int) -> libc::sigset_t {
    let mut set = sigset(false);
    // SAFETY: set is a live sigset_t; sigaddset only sets a bit in it.
    unsafe { libc::sigaddset(&mut set, sig) };
    set
}

/// A full or empty signal set.
pub fn sigset(full: bool) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigfillset/sigemptyset only write into it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        if full {
            libc::sigfillset(&mut set);
        } else {
            libc::sigemptyset(&mut set);
        }
        set
    }
}

/// rt_sigprocmask(SIG_SETMASK) of the calling thread; returns the old mask.
pub fn set_sigmask(set: &libc::sigset_t) -> libc::sigset_t {
    let mut old = sigset(false);
    // SAFETY: both are live sigset_t values; 8 bytes is the kernel's sigset size.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            set as *const libc::sigset_t,
            &mut old as *mut libc::sigset_t,
            8usize,
        )
    };
    old
}

/// Puts every signal back to its default action, as a freshly exec'd program
/// expects (a Rust caller ignores SIGPIPE, and ignored signals survive exec).
pub fn reset_signal_dispositions() {
    for sig in 1..65 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // glibc's signal() is a thin rt_sigaction wrapper; it refuses glibc's own
        // internal signals (32, 33), which is fine.
        // SAFETY: setting SIG_DFL installs no handler code.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

/// setsid(2).
pub fn setsid() -> Result<(), Errno> {
    // SAFETY: no arguments.
    check(unsafe { libc::syscall(libc::SYS_setsid) }).map(drop)
}

/// ioctl(fd, TIOCSCTTY, 0): make the terminal on `fd` the controlling one.
pub fn set_controlling_tty(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    check(unsafe { libc::syscall(libc::SYS_ioctl, fd, libc::TIOCSCTTY, 0) }).map(drop)
}

/// setgroups + setresgid + setresuid as raw syscalls (see the module doc for
/// why not glibc's).
pub fn set_credentials(uid: u32, gid: u32, groups: Option<&[u32]>) -> Result<(), Errno> {
    if let Some(groups) = groups {
        // SAFETY: pointer and length describe a live slice of gid_t.
        check(unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) })?;
    }
    // SAFETY: integer arguments.
    check(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) })?;
    // SAFETY: integer arguments.
    check(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) })?;
    Ok(())
}

/// execve(2); returns only on failure.
pub fn execve(path: &CStr, argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> Errno {
    debug_assert!(argv.last().is_some_and(|p| p.is_null()));
    debug_assert!(envp.last().is_some_and(|p| p.is_null()));
    // SAFETY: argv and envp are NULL-terminated arrays of pointers to strings the
    // caller keeps alive.
    unsafe {
        libc::syscall(
            libc::SYS_execve,
            path.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
        )
    };
    errno()
}

/// Ends the calling process at once (exit_group(2): no atexit handlers, no
/// stdio flush, nothing of the parent's state runs).
pub fn exit(code: c_int) -> ! {
    loop {
        // SAFETY: exit_group does not return.
        unsafe { libc::syscall(libc::SYS_exit_group, code) };
    }
}

/// write(2) of the whole buffer, retrying on EINTR.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        // SAFETY: pointer and length describe a live byte slice.
        match check(unsafe { libc::syscall(libc::SYS_write, fd, buf.as_ptr(), buf.len()) }) {
            Ok(n) => buf = &buf[n as usize..],
            Err(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[repr(C)]
struct IfReqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Brings the loopback interface of the current network namespace up, as
/// `ip link set lo up` does, with the SIOCSIFFLAGS ioctl (no `ip` binary needed).
pub fn loopback_up() -> Result<(), Errno> {
    // SAFETY: integer arguments.
    let sock = check(unsafe {
        libc::syscall(
            libc::SYS_socket,
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            0,
        )
    })? as RawFd;
    let mut req = IfReqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..2].copy_from_slice(b"lo");
    let result = (|| {
        // SAFETY: req is a live ifreq-sized buffer the kernel reads and fills.
        check(unsafe { libc::syscall(libc::SYS_ioctl, sock, libc::SIOCGIFFLAGS, &mut req) })?;
        req.flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        // SAFETY: as above.
        check(unsafe { libc::syscall(libc::SYS_ioctl, sock, libc::SIOCSIFFLAGS, &mut req) })?;
        Ok(())
    })();
    close(sock);
    result
}

/// What [`clone3`] returned on one side of the fork.
pub enum Cloned {
    /// We are the new process.
    Child,
    /// We are the caller; the child's pid (in the caller's pid namespace) and a
    /// pidfd for it.
    Parent { pid: i32, pidfd: OwnedFd },
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// clone3(2) without a new stack (fork semantics) plus `flags` (namespace
/// flags, `CLONE_PARENT`), always with `CLONE_PIDFD`.
///
/// # Safety
/// The child runs on a copy of the caller's memory but with a single thread:
/// until it execs or exits it must only call async-signal-safe functions (the
/// ones in this module), must not allocate, and must never return into code
/// that would run the parent's destructors: end it with [`exit`].
pub unsafe fn clone3(flags: u64) -> Result<Cloned, Errno> {
    let mut pidfd: c_int = -1;
    // With CLONE_PARENT the kernel takes the exit signal from the caller's own
    // (SIGCHLD) and refuses an explicit one.
    let exit_signal = if flags & libc::CLONE_PARENT as u64 != 0 {
        0
    } else {
        libc::SIGCHLD as u64
    };
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut c_int as u64,
        exit_signal,
        ..Default::default()
    };
    // SAFETY: args is a live clone_args of the size passed; with no stack the
    // child continues on a copy of ours, like fork.
    let ret = check(unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    })?;
    if ret == 0 {
        Ok(Cloned::Child)
    } else {
        Ok(Cloned::Parent {
            pid: ret as i32,
            // SAFETY: the kernel stored a new descriptor that only we own.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        })
    }
}

/// How much stack a [`spawn_vm`] child gets: it runs a handful of syscalls
/// and an exec (or the report of why not).
const SPAWN_STACK: usize = 256 << 10;

/// Starts `child` in a new process that shares our memory until it execs or
/// exits, as posix_spawn does (CLONE_VM | CLONE_VFORK), and returns its pid
/// and pidfd once it has. No copy of the caller's page tables is made, which
/// for a multi-threaded service is most of what a fork costs.
///
/// # Safety
/// As for [`clone3`], and more: the child runs on our memory, so it must
/// not allocate, take a lock, or return; the calling thread is suspended
/// meanwhile, but the caller's other threads run on. A change of
/// credentials in the child marks the shared memory undumpable; the caller
/// makes it dumpable again (see [`set_dumpable`]).
pub unsafe fn spawn_vm(child: &mut dyn FnMut() -> c_int) -> Result<(i32, OwnedFd), Errno> {
    let mut stack = Stack::new()?;
    // SAFETY: passed on to the caller.
    let (pid, pidfd) = unsafe { spawn_vm_on(stack.as_mut(), child, true) }?;
    // SAFETY: the kernel stored a new descriptor that only we own.
    Ok((pid, unsafe { OwnedFd::from_raw_fd(pidfd) }))
}

/// A child's stack: mapped for one spawn and unmapped after, so that only
/// the pages it touched were ever memory (from the heap, allocator caches
/// would keep every such stack, zeroed in full, for the life of the service).
pub struct Stack {
    base: *mut c_void,
}

// SAFETY: the mapping belongs to this value alone.
unsafe impl Send for Stack {}

impl Stack {
    pub fn new() -> Result<Stack, Errno> {
        // SAFETY: a fresh private anonymous mapping, owned by the result.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SPAWN_STACK,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(errno());
        }
        Ok(Stack { base })
    }

    pub fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: SPAWN_STACK bytes mapped read-write at `base`, ours alone.
        unsafe { std::slice::from_raw_parts_mut(self.base as *mut u8, SPAWN_STACK) }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new(), no longer used by any child.
        unsafe { libc::munmap(self.base, SPAWN_STACK) };
    }
}

/// [`spawn_vm`] on a stack the caller made (from inside a child, which may
/// not allocate one), with a pidfd (a raw descriptor the caller owns) only
/// when `pidfd` is set.
///
/// # Safety
/// As for [`spawn_vm`].
pub unsafe fn spawn_vm_on(
    stack: &mut [u8],
    child: &mut dyn FnMut() -> c_int,
    pidfd: bool,
) -> Result<(i32, RawFd), Errno> {
    extern "C" fn trampoline(arg: *mut c_void) -> c_int {
        // SAFETY: `arg` is the `&mut &mut dyn FnMut` of spawn_vm_on's frame,
        // alive (and not used by the suspended caller) until we exec or exit.
        let f = unsafe { &mut *(arg as *mut &mut dyn FnMut() -> c_int) };
        f()
    }
    // The stack grows down from a 16-byte aligned top.
    let top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
    let mut fd: c_int = -1;
    let mut f: &mut dyn FnMut() -> c_int = child;
    let mut flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
    if pidfd {
        flags |= libc::CLONE_PIDFD;
    }
    // SAFETY: the stack outlives the child's use of it (CLONE_VFORK: we return
    // only after it has execed or exited); with CLONE_PIDFD the kernel writes
    // the pidfd through the parent-tid pointer.
    let pid = unsafe {
        libc::clone(
            trampoline,
            top as *mut c_void,
            flags,
            &mut f as *mut &mut dyn FnMut() -> c_int as *mut c_void,
            &mut fd as *mut c_int,
        )
    };
    if pid < 0 {
        return Err(errno());
    }
    Ok((pid, fd))
}

/// prctl(PR_SET_DUMPABLE).
pub fn set_dumpable(on: bool) -> Result<(), Errno> {
    // SAFETY: integer arguments.
    check(unsafe {
        libc::syscall(
            libc::SYS_prctl,
            libc::PR_SET_DUMPABLE,
            on as c_ulong,
            0,
            0,
            0,
        )
    })
    .map(drop)
}

/// A syscall by inline assembly: no errno, no thread-local storage, no libc.
/// For code that runs after [`shed_memory`] unmapped the heap (and with it,
/// possibly, the thread's TLS block).
#[cfg(target_arch = "x86_64")]
fn bare_syscall4(nr: c_long, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
    let ret: isize;
    // SAFETY: the x86_64 Linux syscall convention; the kernel clobbers only
    // rax, rcx and r11, and touches no memory the arguments do not name.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a1,
            in("rsi") a2,
            in("rdx") a3,
            in("r10") a4,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// See the x86_64 version.
#[cfg(target_arch = "aarch64")]
fn bare_syscall4(nr: c_long, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
    let ret: isize;
    // SAFETY: the aarch64 Linux syscall convention (number in x8, result in x0).
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") nr,
            inlateout("x0") a1 as isize => ret,
            in("x1") a2,
            in("x2") a3,
            in("x3") a4,
            options(nostack),
        );
    }
    ret
}

/// Elsewhere [`shed_memory`] is not used; this keeps the code compiling.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn bare_syscall4(nr: c_long, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
    // SAFETY: forwarding integer arguments to syscall(2).
    unsafe { libc::syscall(nr, a1, a2, a3, a4) as isize }
}

/// The thread pointer: the address of the thread's control block (x86_64:
/// `%fs` base, which glibc's TCB holds at offset 0; aarch64: `tpidr_el0`, right
/// after glibc's `struct pthread`).
#[cfg(target_arch = "x86_64")]
fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: reads the TCB's self-pointer at %fs:0, which glibc and musl keep
    // for every thread; no memory is written.
    unsafe {
        std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags))
    };
    tp
}

/// See the x86_64 version.
#[cfg(target_arch = "aarch64")]
fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: reads a system register readable from user space.
    unsafe {
        std::arch::asm!("mrs {}, tpidr_el0", out(reg) tp, options(nostack, nomem, preserves_flags))
    };
    tp
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn thread_pointer() -> usize {
    0
}

/// Whether [`shed_memory`] can work on this architecture.
pub const CAN_SHED_MEMORY: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

const MAX_SHED: usize = 1024;

/// Parses one line of /proc/self/maps; returns the range when it is private,
/// writable, anonymous (or the heap) memory that holds none of `keep`.
fn sheddable(line: &[u8], keep: &[usize]) -> Option<(usize, usize)> {
    fn hex(s: &[u8]) -> Option<usize> {
        let mut v: usize = 0;
        if s.is_empty() {
            return None;
        }
        for &c in s {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => return None,
            };
            v = v.checked_mul(16)?.checked_add(d as usize)?;
        }
        Some(v)
    }
    let mut fields = line.split(|c| *c == b' ').filter(|f| !f.is_empty());
    let range = fields.next()?;
    let perms = fields.next()?;
    let _offset = fields.next()?;
    let _dev = fields.next()?;
    let _inode = fields.next()?;
    let path = fields.next().unwrap_or(b"");
    let dash = range.iter().position(|c| *c == b'-')?;
    let start = hex(&range[..dash])?;
    let end = hex(&range[dash + 1..])?;
    let private_writable = perms.len() >= 4 && perms[1] == b'w' && perms[3] == b'p';
    let anonymous = path.is_empty() || path == b"[heap]" || path.starts_with(b"[anon:");
    if private_writable && anonymous && !keep.iter().any(|k| start <= *k && *k < end) {
        Some((start, end))
    } else {
        None
    }
}

/// Unmaps every private writable anonymous mapping (the heap, other threads'
/// stacks, malloc arenas) except the one holding the current stack.
///
/// An init cloned from the caller would otherwise keep a copy-on-write image of
/// the whole caller for its lifetime: every page the caller later changes is
/// copied and the stale one stays with the init. After this call only the
/// current stack and file-backed mappings remain; the caller must use nothing
/// but [`bare_syscall4`] from then on (no libc, no errno, no TLS, no heap).
///
/// # Safety
/// Must run in a single-threaded child that never again touches anything but
/// its stack, code and read-only data.
pub unsafe fn shed_memory() {
    let marker = 0u8;
    // The stack we run on, and the thread's control block: glibc registers the
    // thread's rseq area there, and the kernel writes to it whenever it
    // reschedules us. With that page gone the kernel kills the process with
    // SIGSEGV at a random later moment (seen: a distribution started from the
    // main thread, whose control block ld.so allocated apart from its stack).
    let keep = [&marker as *const u8 as usize, thread_pointer()];
    let mut ranges = [(0usize, 0usize); MAX_SHED];
    let mut count = 0;
    let Ok(fd) = open(c"/proc/self/maps", libc::O_RDONLY | libc::O_CLOEXEC, 0) else {
        return;
    };
    let mut buf = [0u8; 8192];
    let mut filled = 0;
    loop {
        // SAFETY: reading into the unfilled tail of a live stack buffer.
        let n = unsafe {
            libc::syscall(
                libc::SYS_read,
                fd,
                buf[filled..].as_mut_ptr(),
                buf.len() - filled,
            )
        };
        if n <= 0 {
            break;
        }
        filled += n as usize;
        let mut consumed = 0;
        while let Some(nl) = buf[consumed..filled].iter().position(|c| *c == b'\n') {
            if count < MAX_SHED {
                if let Some(r) = sheddable(&buf[consumed..consumed + nl], &keep) {
                    ranges[count] = r;
                    count += 1;
                }
            }
            consumed += nl + 1;
        }
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
        if filled == buf.len() {
            // A line longer than the buffer: drop it.
            filled = 0;
        }
    }
    close(fd);
    for &(start, end) in &ranges[..count] {
        bare_syscall4(libc::SYS_munmap, start, end - start, 0, 0);
    }
}

/// prctl(PR_SET_DUMPABLE, 1) without libc (usable after [`shed_memory`]).
pub fn bare_set_dumpable() {
    bare_syscall4(libc::SYS_prctl, libc::PR_SET_DUMPABLE as usize, 1, 0, 0);
}

/// write(2) of a short record, then close(2), after [`shed_memory`].
pub fn bare_write_and_close(fd: RawFd, data: &[u8]) {
    bare_syscall4(
        libc::SYS_write,
        fd as usize,
        data.as_ptr() as usize,
        data.len(),
        0,
    );
    bare_syscall4(libc::SYS_close, fd as usize, 0, 0, 0);
}

/// The reaper loop of an init after [`shed_memory`]: every signal is blocked
/// by the caller beforehand; wait for SIGCHLD, reap everything, repeat.
pub fn bare_reap_forever(chld: &libc::sigset_t) -> ! {
    let set = chld as *const libc::sigset_t as usize;
    loop {
        loop {
            let pid = bare_syscall4(
                libc::SYS_wait4,
                -1isize as usize,
                0,
                (libc::WNOHANG | libc::__WALL) as usize,
                0,
            );
            if pid <= 0 {
                break;
            }
        }
        bare_syscall4(libc::SYS_rt_sigtimedwait, set, 0, 0, 8);
    }
}

#[cfg(test)]
mod tests {
    use super::sheddable;

    #[test]
    fn only_private_writable_anonymous_mappings_away_from_the_stack_are_shed() {
        let line = |s: &str| sheddable(s.as_bytes(), &[0x7000]);
        assert_eq!(
            line("1000-2000 rw-p 00000000 00:00 0 "),
            Some((0x1000, 0x2000))
        );
        assert_eq!(
            line("1000-2000 rw-p 00000000 00:00 0                  [heap]"),
            Some((0x1000, 0x2000))
        );
        assert_eq!(
            line("1000-2000 rw-p 00000000 00:00 0   [anon:glibc malloc]"),
            Some((0x1000, 0x2000))
        );
        // The stack we run on.
        assert_eq!(line("6000-8000 rw-p 00000000 00:00 0"), None);
        // File-backed, shared, read-only, special.
        assert_eq!(
            line("1000-2000 rw-p 00001000 fe:00 1234 /usr/lib/libc.so.6"),
            None
        );
        assert_eq!(
            line("1000-2000 rw-s 00000000 00:01 99 /memfd:x (deleted)"),
            None
        );
        assert_eq!(line("1000-2000 r--p 00000000 00:00 0"), None);
        assert_eq!(line("1000-2000 rw-p 00000000 00:00 0 [stack]"), None);
        assert_eq!(line("garbage"), None);
    }

    #[test]
    fn the_thread_control_block_is_kept_too() {
        let keep = [0x7000, 0xa100];
        assert_eq!(sheddable(b"a000-b000 rw-p 00000000 00:00 0", &keep), None);
        assert_eq!(
            sheddable(b"c000-d000 rw-p 00000000 00:00 0", &keep),
            Some((0xc000, 0xd000))
        );
        // This very thread's pointer lies in some mapping of ours.
        assert!(std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .any(|l| {
                let (range, _) = l.split_once(' ').unwrap();
                let (a, b) = range.split_once('-').unwrap();
                let (a, b) = (
                    usize::from_str_radix(a, 16).unwrap(),
                    usize::from_str_radix(b, 16).unwrap(),
                );
                (a..b).contains(&super::thread_pointer())
            }));
    }
}
