//! The few system calls of plugin-host processes that need `unsafe`: pidfds, the
//! descriptor mapping done between fork and exec, closing inherited descriptors,
//! and the shared memory of the trace flag.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::AtomicU32;

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
    // this process owns a descriptor at or above `first`. The bare syscall: musl's
    // libc has no wrapper.
    unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
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

/// Takes `fd` if it is open (an optional descriptor from the service), after
/// [`take_inherited`] took the others.
pub(crate) fn take_optional(fd: RawFd) -> Option<OwnedFd> {
    static TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if TAKEN.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return None;
    }
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).ok()?;
    // SAFETY: open (checked above), above the descriptors already taken, and
    // only taken once (TAKEN): nothing else in this process owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One `u32` of memory shared between the service and a plugin host: a memfd
/// of four bytes, sealed against resizing (a host that could shrink it would
/// make the service's accesses fault), mapped in this process until dropped.
pub(crate) struct SharedU32 {
    ptr: std::ptr::NonNull<AtomicU32>,
}

// SAFETY: the mapping is only ever accessed through `&AtomicU32`, which is
// Sync; the pointer is valid until drop.
unsafe impl Send for SharedU32 {}
// SAFETY: as above.
unsafe impl Sync for SharedU32 {}

const SHARED_LEN: usize = std::mem::size_of::<u32>();

impl SharedU32 {
    /// A new zeroed value mapped read-write here, and a read-only descriptor of
    /// it for another process ([`SharedU32::map_read_only`]).
    pub(crate) fn create(name: &str) -> io::Result<(SharedU32, OwnedFd)> {
        use nix::fcntl::{fcntl, FcntlArg, SealFlag};
        use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
        let cname = std::ffi::CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
        let fd = memfd_create(
            &cname,
            MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
        )?;
        let file = std::fs::File::from(fd);
        file.set_len(SHARED_LEN as u64)?;
        fcntl(
            file.as_raw_fd(),
            FcntlArg::F_ADD_SEALS(
                SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL,
            ),
        )?;
        // A new open file description, read-only: a mapping of it can never be
        // made writable, so the host cannot change what the service counts.
        let read_only: OwnedFd =
            std::fs::File::open(format!("/proc/self/fd/{}", file.as_raw_fd()))?.into();
        let shared = Self::map(file.as_fd(), libc::PROT_READ | libc::PROT_WRITE)?;
        Ok((shared, read_only))
    }

    /// Maps a descriptor from [`SharedU32::create`] read-only.
    pub(crate) fn map_read_only(fd: BorrowedFd<'_>) -> io::Result<SharedU32> {
        let len = nix::sys::stat::fstat(fd.as_raw_fd())?.st_size;
        if len < SHARED_LEN as i64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the shared trace flag is too small",
            ));
        }
        Self::map(fd, libc::PROT_READ)
    }

    fn map(fd: BorrowedFd<'_>, prot: libc::c_int) -> io::Result<SharedU32> {
        // SAFETY: a new shared mapping of a file at least SHARED_LEN long (sized
        // or checked by the callers, sealed against shrinking); no existing memory
        // is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SHARED_LEN,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Page-aligned, so aligned for an AtomicU32; never NULL on success.
        std::ptr::NonNull::new(p.cast::<AtomicU32>())
            .map(|ptr| SharedU32 { ptr })
            .ok_or_else(|| io::Error::other("mmap returned NULL"))
    }

    pub(crate) fn get(&self) -> &AtomicU32 {
        // SAFETY: the mapping is valid, aligned and SHARED_LEN long until drop;
        // AtomicU32 has u32's layout, and every access (here and in the other
        // process) is atomic. Loads from a read-only mapping are plain loads.
        unsafe { self.ptr.as_ref() }
    }
}

impl Drop for SharedU32 {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`; no reference from
        // `get` outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), SHARED_LEN) };
    }
}
