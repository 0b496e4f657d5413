//! Creating processes inside existing namespaces from a multi-threaded caller.
//!
//! The pattern, for every process the VM runs after it started:
//!
//! 1. In the calling thread, `setns(init_pidfd, CLONE_NEWPID)`: this changes
//!    only the pid namespace of that thread's *future children*, and is allowed
//!    in a multi-threaded process (the mount namespace is not). All signals are
//!    blocked around the fork, as posix_spawn does, so no handler of the
//!    caller runs in the child.
//! 2. `clone3` a child (it lands in the VM's pid namespace and is a direct
//!    child of the caller, so its exit status is ours to read), then return the
//!    thread to its own pid namespace.
//! 3. The child, single-threaded, joins the other namespaces with one
//!    `setns(init_pidfd, CLONE_NEWUSER|CLONE_NEWNS|…)`, the user namespace
//!    first (the kernel installs it before checking the others against it),
//!    becomes root of that user namespace ([`join`]) and runs a prepared
//!    [`ExecPlan`].
//!
//! A child reports failure on a close-on-exec pipe as a fixed-size record; a
//! successful exec closes the pipe, so EOF without a record means success.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

use libc::c_char;

use crate::error::VmError;
use crate::plan::cstring;
use crate::sys::{self, Cloned, Errno};

/// Namespaces a process joins besides the pid namespace.
pub(crate) const JOIN_FLAGS: libc::c_int = libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP;

/// The step a child was at when it reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Stage {
    Ready = 0,
    JoinNamespaces = 1,
    NewNamespaces = 2,
    Plan = 3,
    Fork = 4,
    Stdio = 5,
    Session = 6,
    ControllingTty = 7,
    Credentials = 8,
    Chdir = 9,
    Exec = 10,
    MountPoint = 11,
    Attach = 12,
    /// A helper created a process; `index` is the number of its pidfd in the helper.
    Forked = 13,
    /// Locking a mount's flags (see [`lock_tree`]).
    LockMount = 14,
    /// Setting the command's resource limits.
    Limits = 15,
    /// Waiting for the caller to write the user namespace's maps.
    UserMaps = 16,
}

impl Stage {
    fn from_u32(v: u32) -> Option<Stage> {
        use Stage::*;
        [
            Ready,
            JoinNamespaces,
            NewNamespaces,
            Plan,
            Fork,
            Stdio,
            Session,
            ControllingTty,
            Credentials,
            Chdir,
            Exec,
            MountPoint,
            Attach,
            Forked,
            LockMount,
            Limits,
            UserMaps,
        ]
        .into_iter()
        .find(|s| *s as u32 == v)
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Stage::Ready => "start",
            Stage::JoinNamespaces => "joining the namespaces",
            Stage::NewNamespaces => "creating the namespaces",
            Stage::Plan => "mount set-up",
            Stage::Fork => "forking",
            Stage::Stdio => "setting up stdin/stdout/stderr",
            Stage::Session => "creating a session (setsid)",
            Stage::ControllingTty => "acquiring the controlling terminal",
            Stage::Credentials => "switching user and groups",
            Stage::Chdir => "changing directory",
            Stage::Exec => "exec",
            Stage::MountPoint => "creating the mount point",
            Stage::Attach => "attaching the mount",
            Stage::Forked => "forking",
            Stage::LockMount => "locking the mount's flags",
            Stage::Limits => "setting the resource limits",
            Stage::UserMaps => "waiting for the user namespace's maps",
        }
    }
}

/// What a child reported.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Report {
    pub stage: Stage,
    pub index: u32,
    pub errno: Errno,
}

const REPORT_LEN: usize = 12;

/// Writes a report record; async-signal-safe.
pub(crate) fn report(fd: RawFd, stage: Stage, index: u32, errno: Errno) {
    let mut rec = [0u8; REPORT_LEN];
    rec[..4].copy_from_slice(&(stage as u32).to_ne_bytes());
    rec[4..8].copy_from_slice(&index.to_ne_bytes());
    rec[8..].copy_from_slice(&errno.to_ne_bytes());
    let _ = sys::write_all(fd, &rec);
}

/// Reports and ends the child.
pub(crate) fn fail(fd: RawFd, stage: Stage, index: u32, errno: Errno) -> ! {
    report(fd, stage, index, errno);
    sys::exit(127)
}

/// The pipe a child reports on.
pub(crate) struct ReportPipe {
    read: OwnedFd,
    write: OwnedFd,
}

fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, VmError> {
    // The child moves its stdio onto 0..=2; the report pipe must not be there.
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    sys::dup_cloexec_above_stdio(fd.as_fd())
        .map_err(|e| VmError::setup("duplicating the report pipe", e))
}

impl ReportPipe {
    pub(crate) fn new() -> Result<ReportPipe, VmError> {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| VmError::io("creating the report pipe", e.into()))?;
        Ok(ReportPipe {
            read: above_stdio(read)?,
            write: above_stdio(write)?,
        })
    }

    pub(crate) fn write_fd(&self) -> RawFd {
        self.write.as_raw_fd()
    }

    pub(crate) fn read_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Writes one byte, the go-ahead a child blocked on the read end waits for.
    pub(crate) fn go(&self) -> Result<(), VmError> {
        sys::write_all(self.write.as_raw_fd(), &[1])
            .map_err(|e| VmError::setup("telling the child to go on", e))
    }

    /// Closes our write end and reads the child's record; `None` at EOF.
    pub(crate) fn finish(self) -> Result<Option<Report>, VmError> {
        self.reader().next()
    }

    /// Closes our write end; the reader yields every record children write.
    pub(crate) fn reader(self) -> ReportReader {
        drop(self.write);
        ReportReader {
            file: std::fs::File::from(self.read),
        }
    }
}

/// Reads report records until EOF.
pub(crate) struct ReportReader {
    file: std::fs::File,
}

impl ReportReader {
    /// The next record; `None` at EOF (every writer gone).
    pub(crate) fn next(&mut self) -> Result<Option<Report>, VmError> {
        let file = &mut self.file;
        let mut rec = [0u8; REPORT_LEN];
        let mut got = 0;
        while got < REPORT_LEN {
            match file.read(&mut rec[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(VmError::io("reading the child's report", e)),
            }
        }
        if got < REPORT_LEN {
            return Ok(None);
        }
        let word = |i: usize| u32::from_ne_bytes(rec[i..i + 4].try_into().unwrap_or_default());
        let stage = Stage::from_u32(word(0))
            .ok_or_else(|| VmError::setup("reading the child's report", libc::EPROTO))?;
        Ok(Some(Report {
            stage,
            index: word(4),
            errno: word(8) as i32,
        }))
    }
}

fn own_pid_ns() -> Result<RawFd, VmError> {
    static OWN: OnceLock<Option<OwnedFd>> = OnceLock::new();
    OWN.get_or_init(|| {
        std::fs::File::open("/proc/self/ns/pid")
            .ok()
            .map(OwnedFd::from)
    })
    .as_ref()
    .map(|fd| fd.as_raw_fd())
    .ok_or_else(|| VmError::setup("opening /proc/self/ns/pid", libc::ENOENT))
}

type Job = Box<dyn FnOnce() + Send>;

/// Runs `job` on a thread that lives as long as the process, and returns its
/// result.
///
/// A VM's init asks for SIGKILL when its parent dies (PR_SET_PDEATHSIG), so a
/// service killed with -9 takes its VM (and with it every distribution) along
/// instead of leaving namespaces behind. The kernel's "parent" there is the
/// thread that cloned the init, so the init is cloned from this thread, which
/// only ends with the process.
pub(crate) fn on_lifetime_thread<R: Send + 'static>(job: impl FnOnce() -> R + Send + 'static) -> R {
    static JOBS: OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Job>>> = OnceLock::new();
    let jobs = JOBS.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("wslp-vm-owner".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .expect("spawning the VM owner thread");
        std::sync::Mutex::new(tx)
    });
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let sent = crate::sync::lock(jobs).send(Box::new(move || {
        let _ = tx.send(job());
    }));
    sent.expect("the VM owner thread lives as long as the process");
    rx.recv().expect("the VM owner thread answers every job")
}

/// Runs `start` (which creates a child) with every signal blocked and, when
/// `pid_ns_of` is given, with this thread's children going to the pid
/// namespace of the process behind it; then puts the thread back.
fn in_pid_ns_of<R>(
    pid_ns_of: Option<BorrowedFd<'_>>,
    start: impl FnOnce() -> Result<R, Errno>,
) -> Result<R, Errno> {
    // Looked up only when needed: a per-user service forks before it makes
    // the pid namespace it will call its own (rootless::enter).
    let own = match pid_ns_of {
        Some(_) => own_pid_ns().map_err(|_| libc::ENOENT)?,
        None => -1,
    };
    let old_mask = sys::set_sigmask(&sys::sigset(true));
    let entered = match pid_ns_of {
        Some(fd) => sys::setns(fd.as_raw_fd(), libc::CLONE_NEWPID).map(|_| true),
        None => Ok(false),
    };
    let started = entered.and_then(|_| start());
    if entered == Ok(true) {
        if let Err(errno) = sys::setns(own, libc::CLONE_NEWPID) {
            // This thread would put every later child of its own into the VM.
            // The kernel allows going back to one's own namespace, so this
            // cannot happen short of a broken /proc.
            tracing::error!(errno, "cannot return the thread to its own pid namespace");
            std::process::abort();
        }
    }
    sys::set_sigmask(&old_mask);
    started
}

/// `f` as the body [`sys::spawn_vm`] runs: called once; if it returns, the
/// child exits with 127.
fn then_exit(f: impl FnOnce()) -> impl FnMut() -> libc::c_int {
    let mut f = Some(f);
    move || {
        if let Some(f) = f.take() {
            f();
        }
        sys::exit(127)
    }
}

/// Forks a child, in the pid namespace of the process behind `pid_ns_of` when
/// given, with extra clone `flags` (new namespaces), running `child` in it.
/// Returns the child's pid and pidfd. `child` must follow the rules of
/// [`sys::clone3`]; if it returns, the child exits with 127.
pub(crate) fn clone_child(
    pid_ns_of: Option<BorrowedFd<'_>>,
    flags: u64,
    child: impl FnOnce(),
) -> Result<(i32, OwnedFd), Errno> {
    in_pid_ns_of(pid_ns_of, || {
        // SAFETY: the child only runs `child`, which callers write to the rules
        // of clone3 (async-signal-safe, no allocation), then exits.
        match unsafe { sys::clone3(flags) }? {
            Cloned::Child => {
                child();
                sys::exit(127)
            }
            Cloned::Parent { pid, pidfd } => Ok((pid, pidfd)),
        }
    })
}

/// Like [`clone_child`] without extra flags, for a child that execs (or
/// exits) at once: it shares our memory until then instead of copying it
/// (see [`sys::spawn_vm`]), and this returns only after. `child` must follow
/// the rules of [`sys::spawn_vm`]; if it returns, the child exits with 127.
pub(crate) fn spawn_child(
    pid_ns_of: Option<BorrowedFd<'_>>,
    child: impl FnOnce(),
) -> Result<(i32, OwnedFd), Errno> {
    let mut body = then_exit(child);
    in_pid_ns_of(pid_ns_of, || {
        // SAFETY: `child` is written to spawn_vm's rules (no allocation, no
        // lock, raw syscalls, exec or exit).
        let spawned = unsafe { sys::spawn_vm(&mut body) };
        // The child became root of the VM's user namespace on our memory,
        // which made it undumpable: ours again, so /proc/<service>/… stays
        // readable.
        let _ = sys::set_dumpable(true);
        spawned
    })
}

/// From inside a helper child: starts `program` (which execs) as a child of
/// the helper on `stack`, sharing memory until it has execed, and returns
/// then. The helper exits next, and the program is orphaned to the init of
/// its pid namespace. Async-signal-safe.
pub(crate) fn spawn_orphan(stack: &mut [u8], program: impl FnOnce()) -> Result<(), Errno> {
    let mut body = then_exit(program);
    // SAFETY: `program` follows spawn_vm's rules (it execs or reports and
    // exits, with raw syscalls and no allocation), on a stack made by our caller.
    unsafe { sys::spawn_vm_on(stack, &mut body, false) }.map(drop)
}

/// From inside a child made by [`clone_child`]: forks `init` (with namespace
/// `flags`) as a child of *our parent*, the caller (CLONE_PARENT), so the
/// caller can wait for it. Returns, in the helper, the number of the new
/// process's pidfd. Async-signal-safe; `init` must follow the rules of
/// [`sys::clone3`] and not return.
pub(crate) fn clone_sibling(flags: u64, init: impl FnOnce()) -> Result<RawFd, Errno> {
    // SAFETY: the new process only runs `init`, written to clone3's rules.
    match unsafe { sys::clone3(flags | libc::CLONE_PARENT as u64) }? {
        Cloned::Child => {
            init();
            sys::exit(127)
        }
        Cloned::Parent { pidfd, .. } => Ok(pidfd.into_raw_fd()),
    }
}

/// Joins every namespace of the init behind `target` (user namespace
/// included) and becomes root of its user namespace. Async-signal-safe.
/// `flags` is [`JOIN_FLAGS`] or a part of it.
pub(crate) fn join(
    target: RawFd,
    flags: libc::c_int,
    setgroups: bool,
) -> Result<(), (Stage, Errno)> {
    sys::setns(target, flags).map_err(|e| (Stage::JoinNamespaces, e))?;
    sys::become_root(setgroups).map_err(|e| (Stage::Credentials, e))
}

/// Where [`lock_tree`] attaches a tree: a host directory of the caller's
/// (`dir`), a file it creates in a tmpfs it mounts there (`file`, inside `dir`),
/// and which of them fits the tree.
pub(crate) struct LockPoint {
    pub dir: CString,
    pub file: CString,
    pub tree_is_dir: bool,
}

/// Makes the flags of the detached mount tree `tree` (read-only, nodev, …)
/// unchangeable from inside the user namespace `userns`, and puts the locked
/// copy on descriptor number `tree`. Runs in a child of the host; leaves it in
/// a throw-away mount namespace. Async-signal-safe.
///
/// Root of the user namespace owns every mount namespace of the VM, so it may
/// remount what the caller attached there: clear `nodev` on a distribution's
/// root filesystem and open device nodes an imported tarball carried, or clear
/// `ro` on a read-only MountFolder and write through its idmapping as the
/// host's owner of the files. The kernel forbids that only for mounts that
/// came into a mount namespace by copy from a namespace of a more privileged
/// user namespace (it locks their flags). So: attach `tree` at `lock_point` in
/// a private copy of the host's mount namespace, join `userns`, copy that
/// namespace again (now the copy is owned by `userns` and its mounts are
/// locked), and take a detached clone of the locked mount, which keeps the
/// locks wherever it is attached.
pub(crate) fn lock_tree(tree: RawFd, lock: &LockPoint, userns: RawFd) -> Result<(), Errno> {
    sys::unshare(libc::CLONE_NEWNS)?;
    sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)?;
    // A tmpfs there (seen by nobody else) gives a file to attach a file onto.
    sys::mount(
        Some(c"tmpfs"),
        &lock.dir,
        Some(c"tmpfs"),
        0,
        Some(c"mode=700"),
    )?;
    let at = if lock.tree_is_dir {
        &lock.dir
    } else {
        sys::touch(&lock.file)?;
        &lock.file
    };
    sys::attach_tree(tree, at)?;
    sys::setns(userns, libc::CLONE_NEWUSER)?;
    // Still the host's ids, which own `lock.dir` and the directories above it.
    sys::unshare(libc::CLONE_NEWNS)?;
    let locked = sys::open_tree_clone_raw(at)?;
    sys::dup_onto_cloexec(locked, tree)?;
    sys::close(locked);
    Ok(())
}

/// For a process with one thread that has just made a pid namespace of its
/// own (unshare): forks, and only the child returns, as pid 1 of that
/// namespace. The parent stays outside, passes every signal it gets on to
/// the child and exits as the child does; the child dies with it.
pub(crate) fn continue_as_pid1() -> Result<(), Errno> {
    let all = sys::sigset(true);
    // Blocked first, so no SIGCHLD is lost between the fork and the wait.
    let old = sys::set_sigmask(&all);
    // SAFETY: the caller has a single thread, so the child may run any code
    // (nothing can hold a lock); the parent runs only the loop below.
    match unsafe { sys::clone3(0) } {
        Err(e) => {
            sys::set_sigmask(&old);
            Err(e)
        }
        Ok(Cloned::Child) => {
            sys::set_sigmask(&old);
            sys::set_parent_death_signal(libc::SIGKILL)?;
            Ok(())
        }
        Ok(Cloned::Parent { pidfd, .. }) => {
            // Nothing of the child's stays open through us: whoever reads its
            // output to the end (a client waiting for the service to be
            // ready, cargo) sees the end when the child closes it.
            let keep = pidfd.as_raw_fd() as libc::c_uint;
            if keep > 0 {
                let _ = sys::close_range(0, keep - 1, false);
            }
            let _ = sys::close_range(keep + 1, libc::c_uint::MAX, false);
            loop {
                if let Some(code) = sys::try_wait_pidfd(pidfd.as_fd()) {
                    sys::exit(code)
                }
                let sig = sys::sigwait(&all);
                if sig > 0 && sig != libc::SIGCHLD {
                    let _ = sys::pidfd_send_signal(pidfd.as_fd(), sig);
                }
            }
        }
    }
}

/// For a process with one thread: runs `f` in a forked child and returns its
/// exit code (`f`'s value). The child may run any code: with one thread,
/// nothing it inherits can be locked.
pub(crate) fn fork_and_wait(f: impl FnOnce() -> i32) -> Result<i32, Errno> {
    // SAFETY: the caller has a single thread (see above).
    match unsafe { sys::clone3(0) }? {
        Cloned::Child => sys::exit(f()),
        Cloned::Parent { pidfd, .. } => sys::wait_pidfd(pidfd.as_fd()),
    }
}

/// Puts `fds` on 0, 1, 2 (they may themselves be 0..=2, in any order).
/// Async-signal-safe.
pub(crate) fn setup_stdio(fds: [RawFd; 3]) -> Result<(), Errno> {
    let mut high = [-1; 3];
    for (i, fd) in fds.iter().enumerate() {
        high[i] = sys::dup_above_stdio(*fd)?;
    }
    for (i, fd) in high.iter().enumerate() {
        sys::dup_to(*fd, i as RawFd)?;
    }
    for fd in high {
        sys::close(fd);
    }
    Ok(())
}

/// The rest of an init's life, once its set-up is done: close every descriptor
/// above stdio, drop the copy of the caller's memory (see
/// [`sys::shed_memory`]), become dumpable, report [`Stage::Ready`] on
/// `ready_fd` (so the caller sees a lean init), then block every signal and
/// reap children forever.
///
/// Dumpable: becoming root of the user namespace made the init undumpable,
/// and its memory belongs to the host's user namespace, so not even root of
/// the VM could read `/proc/1/…` (its `exe`, its descriptors, the `ns/pid` of
/// a distribution's init that plugins look up by InitPid). The memory it
/// keeps is code and the read-only parts of the caller's image.
pub(crate) fn init_loop(ready_fd: RawFd) -> ! {
    sys::set_sigmask(&sys::sigset(true));
    let chld = sys::sigset_of(libc::SIGCHLD);
    let mut ready = [0u8; REPORT_LEN];
    ready[..4].copy_from_slice(&(Stage::Ready as u32).to_ne_bytes());
    // Keep nothing of the caller's: other VMs' sockets, pipes, files.
    if ready_fd > 3 {
        let _ = sys::close_range(3, ready_fd as u32 - 1, false);
    }
    let _ = sys::close_range(ready_fd as u32 + 1, u32::MAX, false);
    if sys::CAN_SHED_MEMORY {
        // SAFETY: we are a single-threaded init; from here on only the stack
        // (chld, ready), code and bare syscalls are used.
        unsafe { sys::shed_memory() };
        sys::bare_set_dumpable();
        sys::bare_write_and_close(ready_fd, &ready);
        sys::bare_reap_forever(&chld)
    }
    sys::bare_set_dumpable();
    let _ = sys::write_all(ready_fd, &ready);
    sys::close(ready_fd);
    loop {
        sys::reap_all();
        sys::sigwait(&chld);
    }
}

/// Everything a child needs to exec a program, prepared in the caller so the
/// child allocates nothing.
pub(crate) struct ExecPlan {
    /// Paths to try in order (one, or one per `PATH` entry).
    candidates: Vec<CString>,
    _argv: Vec<CString>,
    argv: Vec<*const c_char>,
    _env: Vec<CString>,
    envp: Vec<*const c_char>,
    cwd: CString,
    creds: Option<(u32, u32, Vec<u32>)>,
    /// setgroups(2) is denied in the user namespace (a per-user VM with only
    /// root): the groups stay as they are.
    keep_groups: bool,
    stdio: [RawFd; 3],
    /// Which of 0..=2 becomes the controlling terminal.
    controlling_tty: Option<RawFd>,
    rlimits: Vec<(u32, u64, u64)>,
    no_new_privs: bool,
}

impl ExecPlan {
    /// `program` is run with `argv`; `search` looks it up in `PATH` when it has no `/`.
    pub(crate) fn new(
        program: &str,
        argv: &[String],
        env: &[(String, String)],
        search: bool,
        cwd: &str,
        stdio: [RawFd; 3],
    ) -> Result<ExecPlan, VmError> {
        if program.is_empty() {
            return Err(VmError::InvalidArgument("the program path is empty".into()));
        }
        if argv.is_empty() {
            return Err(VmError::InvalidArgument("argv is empty".into()));
        }
        let candidates = if search && !program.contains('/') {
            let path = env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map_or(crate::DEFAULT_PATH, |(_, v)| v.as_str());
            path.split(':')
                .filter(|dir| !dir.is_empty())
                .map(|dir| cstring("program path", format!("{dir}/{program}")))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            vec![cstring("program path", program)?]
        };
        let c_argv = argv
            .iter()
            .map(|a| cstring("argument", a.as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        let c_env = env
            .iter()
            .map(|(k, v)| {
                if k.is_empty() || k.contains('=') {
                    return Err(VmError::InvalidArgument(format!(
                        "environment variable name {k:?} is empty or contains '='"
                    )));
                }
                cstring("environment variable", format!("{k}={v}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let argv_ptrs = c_argv
            .iter()
            .map(|a| a.as_ptr())
            .chain([std::ptr::null()])
            .collect();
        let envp = c_env
            .iter()
            .map(|a| a.as_ptr())
            .chain([std::ptr::null()])
            .collect();
        Ok(ExecPlan {
            candidates,
            _argv: c_argv,
            argv: argv_ptrs,
            _env: c_env,
            envp,
            cwd: cstring("working directory", cwd)?,
            creds: None,
            keep_groups: false,
            stdio,
            controlling_tty: None,
            rlimits: Vec::new(),
            no_new_privs: false,
        })
    }

    pub(crate) fn with_credentials(mut self, uid: u32, gid: u32, groups: Vec<u32>) -> Self {
        self.creds = Some((uid, gid, groups));
        self
    }

    /// Whether the user namespace allows setgroups(2); when it does not,
    /// the credentials leave the groups alone.
    pub(crate) fn with_setgroups(mut self, allowed: bool) -> Self {
        self.keep_groups = !allowed;
        self
    }

    /// `fd` (0, 1 or 2 after the stdio set-up) becomes the controlling terminal.
    pub(crate) fn with_controlling_tty(mut self, fd: Option<RawFd>) -> Self {
        self.controlling_tty = fd;
        self
    }

    /// `(resource, soft, hard)` set by [`ExecPlan::set_limits`].
    pub(crate) fn with_rlimits(mut self, rlimits: Vec<(u32, u64, u64)>) -> Self {
        self.rlimits = rlimits;
        self
    }

    pub(crate) fn with_no_new_privs(mut self, on: bool) -> Self {
        self.no_new_privs = on;
        self
    }

    /// Sets the resource limits; run in the child while it still has the
    /// host's credentials, which may raise a hard limit above the caller's
    /// (CAP_SYS_RESOURCE on the host: not granted by any user namespace).
    /// Async-signal-safe.
    ///
    /// Where the service itself may not raise a hard limit (no
    /// CAP_SYS_RESOURCE, as for root in a container), the limit is clamped
    /// to the service's own hard limit rather than failing the command.
    pub(crate) fn set_limits(&self, report_fd: RawFd) {
        for (i, &(resource, soft, hard)) in self.rlimits.iter().enumerate() {
            let set = sys::set_rlimit(resource, soft, hard).or_else(|e| {
                let (_, own_hard) = sys::get_rlimit(0, resource).map_err(|_| e)?;
                if e != libc::EPERM || hard <= own_hard {
                    return Err(e);
                }
                sys::set_rlimit(resource, soft.min(own_hard), own_hard)
            });
            if let Err(e) = set {
                fail(report_fd, Stage::Limits, i as u32, e);
            }
        }
    }

    /// Sets the process up and execs; reports on `report_fd` and exits on
    /// failure. Runs in the child: async-signal-safe.
    pub(crate) fn run(&self, report_fd: RawFd) -> ! {
        if let Err(e) = setup_stdio(self.stdio) {
            fail(report_fd, Stage::Stdio, 0, e);
        }
        // Its own session: the caller's terminal signals (Ctrl-C) are not for it.
        if let Err(e) = sys::setsid() {
            fail(report_fd, Stage::Session, 0, e);
        }
        if let Some(fd) = self.controlling_tty {
            if let Err(e) = sys::set_controlling_tty(fd) {
                fail(report_fd, Stage::ControllingTty, 0, e);
            }
        }
        if let Some((uid, gid, groups)) = &self.creds {
            let groups = if self.keep_groups {
                None
            } else {
                Some(&groups[..])
            };
            if let Err(e) = sys::set_credentials(*uid, *gid, groups) {
                fail(report_fd, Stage::Credentials, 0, e);
            }
        }
        // After switching user, so the user's own permissions decide.
        if let Err(e) = sys::chdir(&self.cwd) {
            fail(report_fd, Stage::Chdir, 0, e);
        }
        // Nothing of the caller's descriptors may leak into the program.
        let _ = sys::close_range(3, u32::MAX, true);
        if self.no_new_privs {
            if let Err(e) = sys::set_no_new_privs() {
                fail(report_fd, Stage::Credentials, 0, e);
            }
        }
        sys::reset_signal_dispositions();
        sys::set_sigmask(&sys::sigset(false));
        let mut err = libc::ENOENT;
        for path in &self.candidates {
            let e = sys::execve(path, &self.argv, &self.envp);
            // As execvp: keep looking past missing entries, remember EACCES.
            match e {
                libc::ENOENT | libc::ENOTDIR => {}
                libc::EACCES => err = e,
                _ => {
                    err = e;
                    break;
                }
            }
        }
        fail(report_fd, Stage::Exec, 0, err)
    }
}
