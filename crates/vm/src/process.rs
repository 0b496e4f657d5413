//! Processes started in the VM or a distribution, and how the caller learns
//! that they ended.
//!
//! Every process this crate creates as a child of the caller is reaped by the
//! reaper thread as soon as it exits. That is not only tidiness: a
//! process created with setns()+fork() lives in the VM's pid namespace but has
//! its parent outside, and the kernel keeps that namespace's init from
//! finishing its exit until such zombies are reaped (zap_pid_ns_processes).
//! Without eager reaping, stopping a VM would hang until the user waited for
//! every process they had spawned.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex};

use crate::error::VmError;
use crate::sys;

/// A process to start in the VM or a distribution.
#[derive(Debug)]
pub struct ProcessSpec {
    /// `argv[0]` is the program; without a `/` it is looked up in the `PATH` of
    /// `env` (or the default `PATH` when `env` has none), inside the VM or distribution.
    pub argv: Vec<String>,
    /// The program to run when it is not `argv[0]` (execvpe's `file`, looked
    /// up the same way).
    pub program: Option<String>,
    /// The complete environment.
    pub env: Vec<(String, String)>,
    /// Working directory inside the VM or distribution (default `/`); it is an
    /// error if it does not exist.
    pub cwd: Option<std::path::PathBuf>,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// The one of `stdin`, `stdout`, `stderr` that is a terminal (the first,
    /// when several are: a pty slave the client made) becomes the controlling
    /// terminal. The process gets its own session either way.
    pub controlling_tty: bool,
    /// Resource limits set before the program starts (the caller's own, for
    /// a user's command); empty keeps the service's.
    pub rlimits: Vec<ResourceLimit>,
    /// PR_SET_NO_NEW_PRIVS: set-id programs and file capabilities grant
    /// nothing (a non-root caller's command: `su` and `sudo` inside do not
    /// raise them).
    pub no_new_privs: bool,
}

/// One resource limit (`RLIMIT_*`), as setrlimit(2) takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceLimit {
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
}

/// The rows of `/proc/PID/limits`, in RLIMIT_* order (0 = RLIMIT_CPU …
/// 15 = RLIMIT_RTTIME), as the kernel prints them.
const LIMIT_ROWS: [&str; 16] = [
    "Max cpu time",
    "Max file size",
    "Max data size",
    "Max stack size",
    "Max core file size",
    "Max resident set",
    "Max processes",
    "Max open files",
    "Max locked memory",
    "Max address space",
    "Max file locks",
    "Max pending signals",
    "Max msgqueue size",
    "Max nice priority",
    "Max realtime priority",
    "Max realtime timeout",
];

impl ResourceLimit {
    /// Every limit of process `pid`, from `/proc/PID/limits` (readable by
    /// anyone: no CAP_SYS_RESOURCE needed, unlike prlimit(2) on another
    /// process). With `pidfd` (of the same process), the limits are checked
    /// to be its: it still lived after they were read, so `pid` was not
    /// someone else's.
    pub fn of_process(
        pid: i32,
        pidfd: Option<std::os::fd::BorrowedFd<'_>>,
    ) -> Result<Vec<ResourceLimit>, VmError> {
        let path = format!("/proc/{pid}/limits");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| VmError::io(format!("reading {path}"), e))?;
        let limits = Self::parse(&text).ok_or_else(|| {
            VmError::setup(
                format!("reading {path}: a line is not as expected"),
                libc::EPROTO,
            )
        })?;
        if let Some(fd) = pidfd {
            sys::pidfd_send_signal(fd, 0).map_err(|e| {
                VmError::setup(
                    format!("reading the resource limits of process {pid}: it has exited"),
                    e,
                )
            })?;
        }
        Ok(limits)
    }

    /// The limits of a `/proc/PID/limits` text; `None` when a row is missing
    /// or malformed.
    pub fn parse(text: &str) -> Option<Vec<ResourceLimit>> {
        let value = |v: &str| match v {
            "unlimited" => Some(libc::RLIM64_INFINITY),
            n => n.parse().ok(),
        };
        LIMIT_ROWS
            .iter()
            .enumerate()
            .map(|(resource, name)| {
                let rest = text.lines().find_map(|l| l.strip_prefix(name))?;
                let mut v = rest.split_whitespace();
                Some(ResourceLimit {
                    resource: resource as u32,
                    soft: value(v.next()?)?,
                    hard: value(v.next()?)?,
                })
            })
            .collect()
    }
}

/// The exit status of a process, filled in by the reaper thread.
#[derive(Debug, Default)]
pub(crate) struct ExitSlot {
    status: Mutex<Option<i32>>,
    changed: Condvar,
}

impl ExitSlot {
    pub(crate) fn wait(&self) -> i32 {
        let mut status = crate::sync::lock(&self.status);
        loop {
            if let Some(code) = *status {
                return code;
            }
            status = self.changed.wait(status).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub(crate) fn exited(&self) -> bool {
        crate::sync::lock(&self.status).is_some()
    }

    fn wait_for(&self, limit: std::time::Duration) -> Option<i32> {
        let status = crate::sync::lock(&self.status);
        let (status, _) = self
            .changed
            .wait_timeout_while(status, limit, |s| s.is_none())
            .unwrap_or_else(|e| e.into_inner());
        *status
    }

    fn set(&self, code: i32) {
        *crate::sync::lock(&self.status) = Some(code);
        self.changed.notify_all();
    }
}

/// Has the child behind `pidfd` reaped as soon as it exits, by the one
/// reaper thread of the process (a thread per child would cost a thread
/// start on every command).
pub(crate) fn watch(pid: i32, pidfd: Arc<OwnedFd>) -> Result<Arc<ExitSlot>, VmError> {
    let slot = Arc::new(ExitSlot::default());
    reaper()?.add(pid, pidfd, slot.clone())?;
    Ok(slot)
}

/// One thread that waits on the pidfds of every watched child (epoll) and
/// reaps each as it exits.
struct Reaper {
    epoll: nix::sys::epoll::Epoll,
    next: std::sync::atomic::AtomicU64,
    children: Mutex<std::collections::HashMap<u64, Watched>>,
}

/// A child the reaper waits for: its pid (for the log), pidfd and slot.
type Watched = (i32, Arc<OwnedFd>, Arc<ExitSlot>);

fn reaper() -> Result<&'static Reaper, VmError> {
    static REAPER: std::sync::OnceLock<Result<&'static Reaper, String>> =
        std::sync::OnceLock::new();
    REAPER
        .get_or_init(|| {
            use nix::sys::epoll::{Epoll, EpollCreateFlags};
            let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| e.to_string())?;
            let r: &'static Reaper = Box::leak(Box::new(Reaper {
                epoll,
                next: std::sync::atomic::AtomicU64::new(0),
                children: Mutex::new(std::collections::HashMap::new()),
            }));
            std::thread::Builder::new()
                .name("wslp-reaper".into())
                .spawn(move || r.run())
                .map_err(|e| e.to_string())?;
            Ok(r)
        })
        .clone()
        .map_err(|e| {
            VmError::io(
                "starting the process reaper thread",
                std::io::Error::other(e),
            )
        })
}

impl Reaper {
    fn add(&self, pid: i32, pidfd: Arc<OwnedFd>, slot: Arc<ExitSlot>) -> Result<(), VmError> {
        use nix::sys::epoll::{EpollEvent, EpollFlags};
        let key = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let fd = pidfd.clone();
        crate::sync::lock(&self.children).insert(key, (pid, pidfd, slot));
        self.epoll
            .add(fd.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, key))
            .map_err(|e| {
                crate::sync::lock(&self.children).remove(&key);
                VmError::io("watching a child process", std::io::Error::from(e))
            })
    }

    fn run(&self) {
        use nix::sys::epoll::{EpollEvent, EpollTimeout};
        let mut events = [EpollEvent::empty(); 32];
        loop {
            let n = match self.epoll.wait(&mut events, EpollTimeout::NONE) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "the process reaper cannot wait; children stay unreaped");
                    return;
                }
            };
            for ev in &events[..n] {
                let Some((pid, pidfd, slot)) = crate::sync::lock(&self.children).remove(&ev.data())
                else {
                    continue;
                };
                let _ = self.epoll.delete(pidfd.as_fd());
                // Readable: it has exited, so this does not block.
                let code = match sys::wait_pidfd(pidfd.as_fd()) {
                    Ok(code) => code,
                    Err(errno) => {
                        // Someone else reaped it (a SIGCHLD=SIG_IGN caller, a stray
                        // waitpid(-1)); the exit code is lost.
                        tracing::warn!(pid, errno, "cannot reap child process");
                        -1
                    }
                };
                slot.set(code);
            }
        }
    }
}

/// What tells whether a spawned process still runs, kept apart from its
/// [`Process`] (which its caller owns).
#[derive(Debug, Clone)]
pub(crate) struct Watch {
    pidfd: Arc<OwnedFd>,
    exit: Arc<ExitSlot>,
}

impl Watch {
    pub(crate) fn exited(&self) -> bool {
        self.exit.exited()
    }

    /// A copy of its pidfd, readable once it has exited.
    pub(crate) fn pidfd(&self) -> Option<OwnedFd> {
        self.pidfd.try_clone().ok()
    }
}

/// A running process started with `spawn`; a direct child of the caller.
#[derive(Debug)]
pub struct Process {
    pid: i32,
    pidfd: Arc<OwnedFd>,
    exit: Arc<ExitSlot>,
}

impl Process {
    pub(crate) fn new(pid: i32, pidfd: OwnedFd) -> Result<Process, VmError> {
        let pidfd = Arc::new(pidfd);
        let exit = watch(pid, pidfd.clone())?;
        Ok(Process { pid, pidfd, exit })
    }

    pub(crate) fn watch(&self) -> Watch {
        Watch {
            pidfd: self.pidfd.clone(),
            exit: self.exit.clone(),
        }
    }

    /// The process id in the caller's pid namespace.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Waits for the process to end: its exit code, or 128 + the signal number
    /// when a signal killed it. Can be called again; returns the same value.
    pub fn wait(&self) -> Result<i32, VmError> {
        Ok(self.exit.wait())
    }

    /// Like [`Process::wait`], but gives up after `limit` (None: it still runs).
    pub fn wait_timeout(&self, limit: std::time::Duration) -> Option<i32> {
        self.exit.wait_for(limit)
    }

    /// The exit code if the process has ended, without waiting.
    pub fn try_wait(&self) -> Option<i32> {
        if self.exit.exited() {
            Some(self.exit.wait())
        } else {
            None
        }
    }

    /// A new descriptor of the process (a pidfd) that polls readable once it
    /// has exited, for a caller that waits on events: WSLC's exit event.
    pub fn exit_event(&self) -> Result<OwnedFd, VmError> {
        self.pidfd
            .try_clone()
            .map_err(|e| VmError::io(format!("duplicating the pidfd of process {}", self.pid), e))
    }

    /// Sends a signal (the pidfd makes this safe against pid reuse).
    pub fn signal(&self, sig: i32) -> Result<(), VmError> {
        sys::pidfd_send_signal(self.pidfd.as_fd(), sig)
            .map_err(|e| VmError::setup(format!("sending signal {sig} to process {}", self.pid), e))
    }

    /// Sends a signal to the process group the process leads (every spawned
    /// process leads its own session and group): the command and the
    /// pipeline it started, never a process outside it.
    pub fn signal_group(&self, sig: i32) -> Result<(), VmError> {
        sys::pidfd_send_signal_group(self.pidfd.as_fd(), sig).map_err(|e| {
            VmError::setup(
                format!("sending signal {sig} to the process group of {}", self.pid),
                e,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_limits_parse_in_rlimit_order() {
        let text = std::fs::read_to_string("/proc/self/limits").unwrap();
        let limits = ResourceLimit::parse(&text).unwrap();
        assert_eq!(limits.len(), 16);
        for l in &limits {
            let own = sys::get_rlimit(0, l.resource).unwrap();
            assert_eq!((l.soft, l.hard), own, "resource {}", l.resource);
        }
        assert!(ResourceLimit::parse("Limit Soft Hard\nMax cpu time x y\n").is_none());
    }
}
