//! The namespace backend: the utility VM as fresh user, mount, pid, uts, ipc,
//! net (unless [`VmConfig::host_network`]) and cgroup namespaces around a tmpfs root, and distributions as
//! containers (own mount, pid and uts namespaces) inside it.
//!
//! The VM's init is a direct child of the caller, created by clone3 with the
//! namespace flags; it waits until the caller has written the user
//! namespace's maps ([`crate::UserNamespace`]), runs the mount plan, reports
//! readiness on a pipe and then only reaps. Every namespace of the VM and of
//! its distributions is owned by that one user namespace, so root inside is
//! an unprivileged range of ids on the host. Killing it makes the kernel kill everything in its pid
//! namespace (distributions included, their pid namespaces are children of
//! it), and with the last process its mount namespace and every mount in it go
//! away. The caller never mounts anything in its own namespace, so the host's
//! mount table is untouched throughout. No namespace file descriptor is kept:
//! pidfds name the inits, so nothing pins a namespace after a stop.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::sync::lock;

use crate::child::{self, ExecPlan, ReportPipe, Stage, JOIN_FLAGS};
use crate::error::VmError;
use crate::log::VmLog;
use crate::plan::{self, cstring, HostLayout, PlanOptions};
use crate::process::{self, ExitSlot, Process, ProcessSpec};
use crate::sys;
use crate::{Activity, DistroSpec, RunningDistro, Vm, VmBackend, VmConfig};

const VM_CLONE_FLAGS: u64 = (libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// The environment of ExecuteBinary processes.
fn default_env() -> Vec<(String, String)> {
    vec![
        ("PATH".into(), crate::DEFAULT_PATH.into()),
        ("HOME".into(), "/root".into()),
    ]
}

/// The default backend: Linux namespaces, no hypervisor.
#[derive(Debug, Default, Clone, Copy)]
pub struct NamespaceBackend;

fn plan_options(cfg: &VmConfig) -> PlanOptions {
    PlanOptions {
        tmpfs_size: cfg.tmpfs_size.clone(),
        setgroups: cfg.user_namespace.setgroups,
        host_network: cfg.host_network,
        tty_group: cfg.user_namespace.host_gid(5).is_some(),
    }
}

impl NamespaceBackend {
    /// The mount plan a VM started with `cfg` would run, one step a line (for
    /// `--debug`); touches nothing.
    pub fn describe_plan(cfg: &VmConfig) -> Result<String, VmError> {
        let plan = plan::vm_plan(
            &HostLayout::probe(),
            &cfg.state_dir.join("root"),
            &cfg.hostname,
            &plan_options(cfg),
        )?;
        Ok(plan::describe(&plan))
    }
}

impl VmBackend for NamespaceBackend {
    fn start(&self, cfg: &VmConfig) -> Result<Arc<dyn Vm>, VmError> {
        Ok(Arc::new(NamespaceVm::start(cfg)?))
    }
}

/// The init of the VM or of a distribution, watched by a reaper thread.
struct Init {
    pid: i32,
    pidfd: Arc<OwnedFd>,
    exit: Arc<ExitSlot>,
}

impl Init {
    fn alive(&self) -> bool {
        !self.exit.exited()
    }

    fn kill_and_wait(&self) {
        // ESRCH: it is already gone, which is what we want.
        let _ = sys::pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL);
        self.exit.wait();
    }
}

/// Kills and reaps a child that failed during start.
fn discard(pidfd: &OwnedFd) {
    let _ = sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
    let _ = sys::wait_pidfd(pidfd.as_fd());
}

/// What both the VM and its distributions need: the VM log's write end, and
/// how the VM's user namespace works.
struct VmShared {
    log_fd: Mutex<Option<Arc<OwnedFd>>>,
    /// setgroups(2) is allowed in the user namespace.
    setgroups: bool,
    /// Trees from the host are attached through idmapped mounts.
    idmapped: bool,
    /// A host directory where [`child::lock_tree`] attaches a tree in its
    /// throw-away mount namespace (the VM's staging directory), and a file
    /// name in it.
    lock_dir: CString,
    lock_file: CString,
    /// The plan options of distributions.
    plan: PlanOptions,
}

impl VmShared {
    fn lock_point(&self, tree_is_dir: bool) -> child::LockPoint {
        child::LockPoint {
            dir: self.lock_dir.clone(),
            file: self.lock_file.clone(),
            tree_is_dir,
        }
    }

    fn log_fd(&self, what: &str) -> Result<Arc<OwnedFd>, VmError> {
        lock(&self.log_fd)
            .clone()
            .ok_or_else(|| VmError::NotRunning {
                what: what.to_owned(),
            })
    }
}

/// Where processes run: the init whose namespaces they join.
struct Target<'a> {
    pidfd: BorrowedFd<'a>,
    pid: i32,
    what: &'a str,
    setgroups: bool,
    /// The namespaces a process joins ([`join_flags`]).
    join: libc::c_int,
}

/// The namespaces processes join besides the pid namespace: all of
/// [`JOIN_FLAGS`], but the network namespace when the VM has none of its
/// own (the host's, owned by the host's user namespace, cannot be joined
/// from the VM's; every process already is in it).
fn join_flags(host_network: bool) -> libc::c_int {
    if host_network {
        JOIN_FLAGS & !libc::CLONE_NEWNET
    } else {
        JOIN_FLAGS
    }
}

impl Target<'_> {
    fn not_running(&self) -> VmError {
        VmError::NotRunning {
            what: self.what.to_owned(),
        }
    }

    fn clone_error(&self, errno: sys::Errno) -> VmError {
        if errno == libc::ESRCH {
            self.not_running()
        } else {
            VmError::setup(format!("forking a process into {}", self.what), errno)
        }
    }

    fn report_error(&self, r: child::Report, program: &str, cwd: &str) -> VmError {
        let cause = std::io::Error::from_raw_os_error(r.errno);
        match r.stage {
            Stage::JoinNamespaces if r.errno == libc::ESRCH => self.not_running(),
            Stage::Limits => VmError::Setup {
                step: format!(
                    "setting resource limit #{} for {program} in {}",
                    r.index, self.what
                ),
                cause,
            },
            Stage::Exec => VmError::Exec {
                program: program.to_owned(),
                where_: self.what.to_owned(),
                cause,
            },
            Stage::Chdir => VmError::WorkingDirectory {
                path: cwd.into(),
                where_: self.what.to_owned(),
                cause,
            },
            stage => VmError::Setup {
                step: format!("{} for {program} in {}", stage.describe(), self.what),
                cause,
            },
        }
    }

    /// ExecuteBinary: a socketpair end for stdin+stdout, stderr to the log; the
    /// helper child forks the program and exits, so the program is orphaned
    /// inside the target pid namespace and its init reaps it.
    fn execute_binary(
        &self,
        log_fd: RawFd,
        path: &str,
        argv: &[String],
    ) -> Result<OwnedFd, VmError> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| VmError::io("creating the socketpair", e))?;
        let theirs = OwnedFd::from(theirs);
        let fd = theirs.as_raw_fd();
        let exec = ExecPlan::new(path, argv, &default_env(), false, "/", [fd, fd, log_fd])?;
        let exec = exec
            .with_credentials(0, 0, Vec::new())
            .with_setgroups(self.setgroups);
        let report = ReportPipe::new()?;
        let w = report.write_fd();
        let target = self.pidfd.as_raw_fd();
        let (setgroups, join) = (self.setgroups, self.join);
        // The program's, made here: the helper may not allocate.
        let mut stack = sys::Stack::new()
            .map_err(|e| VmError::setup("mapping a stack for ExecuteBinary", e))?;
        let (_, helper) = child::spawn_child(Some(self.pidfd), || {
            if let Err((stage, e)) = child::join(target, join, setgroups) {
                child::fail(w, stage, 0, e);
            }
            match child::spawn_orphan(stack.as_mut(), || exec.run(w)) {
                Ok(()) => sys::exit(0),
                Err(e) => child::fail(w, Stage::Fork, 0, e),
            }
        })
        .map_err(|e| self.clone_error(e))?;
        drop(theirs);
        let result = report.finish();
        let helper_status = sys::wait_pidfd(helper.as_fd());
        match result? {
            Some(r) => Err(self.report_error(r, path, "/")),
            None if helper_status == Ok(0) => Ok(OwnedFd::from(ours)),
            None => Err(self.not_running()),
        }
    }

    fn spawn(&self, spec: ProcessSpec) -> Result<Process, VmError> {
        let program = match &spec.program {
            Some(p) => p.clone(),
            None => spec
                .argv
                .first()
                .ok_or_else(|| VmError::InvalidArgument("argv is empty".into()))?
                .clone(),
        };
        let cwd = match &spec.cwd {
            Some(p) => p
                .to_str()
                .ok_or_else(|| VmError::InvalidArgument(format!("{} is not UTF-8", p.display())))?
                .to_owned(),
            None => "/".to_owned(),
        };
        let stdio = [
            spec.stdin.as_raw_fd(),
            spec.stdout.as_raw_fd(),
            spec.stderr.as_raw_fd(),
        ];
        // The pty slave among stdin, stdout, stderr (its number after the
        // stdio set-up): the one the client made for a terminal of its own.
        let ctty = spec
            .controlling_tty
            .then(|| {
                stdio
                    .iter()
                    .position(|fd| nix::unistd::isatty(*fd).unwrap_or(false))
            })
            .flatten()
            .map(|i| i as RawFd);
        let rlimits = spec
            .rlimits
            .iter()
            .map(|l| (l.resource, l.soft, l.hard))
            .collect();
        let exec = ExecPlan::new(&program, &spec.argv, &spec.env, true, &cwd, stdio)?
            .with_credentials(spec.uid, spec.gid, spec.groups.clone())
            .with_setgroups(self.setgroups)
            .with_controlling_tty(ctty)
            .with_rlimits(rlimits)
            .with_no_new_privs(spec.no_new_privs);
        let report = ReportPipe::new()?;
        let w = report.write_fd();
        let target = self.pidfd.as_raw_fd();
        let (setgroups, join) = (self.setgroups, self.join);
        let (pid, pidfd) = child::spawn_child(Some(self.pidfd), || {
            exec.set_limits(w);
            if let Err((stage, e)) = child::join(target, join, setgroups) {
                child::fail(w, stage, 0, e);
            }
            exec.run(w)
        })
        .map_err(|e| self.clone_error(e))?;
        drop(spec);
        match report.finish() {
            Ok(None) => Process::new(pid, pidfd),
            Ok(Some(r)) => {
                let _ = sys::wait_pidfd(pidfd.as_fd());
                Err(self.report_error(r, &program, &cwd))
            }
            Err(e) => {
                discard(&pidfd);
                Err(e)
            }
        }
    }
}

/// A VM of the namespace backend.
pub struct NamespaceVm {
    init: Init,
    shared: Arc<VmShared>,
    logger: Mutex<Option<VmLog>>,
    distros: Mutex<Vec<Weak<NamespaceDistro>>>,
    /// Set when a stop begins: from then on the VM is "not running" to everyone.
    stopping: AtomicBool,
    /// Held for the whole of a stop; true once stopped.
    stopped: Mutex<bool>,
    log_path: PathBuf,
}

const VM: &str = "the utility VM";

impl NamespaceVm {
    fn start(cfg: &VmConfig) -> Result<NamespaceVm, VmError> {
        let staging = cfg.state_dir.join("root");
        std::fs::create_dir_all(&staging).map_err(|e| {
            VmError::io(
                format!("creating the VM state directory {}", staging.display()),
                e,
            )
        })?;
        let opts = plan_options(cfg);
        let plan = plan::vm_plan(&HostLayout::probe(), &staging, &cfg.hostname, &opts)?;
        tracing::debug!(plan = %plan::describe(&plan), "starting the utility VM");
        let lock_dir = cstring("VM state directory", staging.as_os_str().as_bytes())?;
        let lock_file = cstring(
            "VM state directory",
            staging.join("lock").as_os_str().as_bytes(),
        )?;
        let (logger, log_write) = VmLog::start(&cfg.log_path, cfg.log_cap_bytes)?;
        let log_fd = log_write.as_raw_fd();
        let report = ReportPipe::new()?;
        let w = report.write_fd();
        // The init waits on this pipe until its user namespace has maps.
        let maps = ReportPipe::new()?;
        let (maps_r, maps_w) = (maps.read_fd(), maps.write_fd());
        let init_plan = plan.clone();
        let clone_flags = if cfg.host_network {
            VM_CLONE_FLAGS & !(libc::CLONE_NEWNET as u64)
        } else {
            VM_CLONE_FLAGS
        };
        let started = child::on_lifetime_thread(move || {
            child::clone_child(None, clone_flags, move || {
                vm_init(&init_plan, w, log_fd, maps_r, maps_w)
            })
        });
        let (pid, pidfd) = match started {
            Ok(v) => v,
            Err(e) => {
                logger.stop();
                let step = if e == libc::EPERM || e == libc::ENOSPC {
                    "creating the VM's namespaces (clone3 with a new user namespace) was refused; \
                     run the wslp service as root, and check that user namespaces are enabled \
                     (user.max_user_namespaces)"
                } else {
                    "creating the VM's init (clone3 with new namespaces)"
                };
                return Err(VmError::setup(step, e));
            }
        };
        let fail = |err: VmError| {
            discard(&pidfd);
            err
        };
        if let Err(e) = cfg.user_namespace.write_maps(pid).and_then(|()| maps.go()) {
            let e = fail(e);
            logger.stop();
            return Err(e);
        }
        let ready = report.finish();
        // Held until here: the init exits instead of running on alone if
        // we die before it asked for a signal at our death (see vm_init).
        drop(maps);
        let ready = match ready {
            Ok(Some(r)) if r.stage == Stage::Ready => Ok(()),
            Ok(Some(r)) if r.stage == Stage::Plan => Err(VmError::setup(
                format!(
                    "starting the utility VM: mount step `{}`",
                    plan.get(r.index as usize)
                        .map_or("?".into(), |s| s.to_string())
                ),
                r.errno,
            )),
            Ok(Some(r)) => Err(VmError::setup(
                format!("starting the utility VM: {}", r.stage.describe()),
                r.errno,
            )),
            Ok(None) => Err(VmError::setup(
                "starting the utility VM: init died",
                libc::ECHILD,
            )),
            Err(e) => Err(e),
        };
        if let Err(e) = ready {
            let e = fail(e);
            logger.stop();
            return Err(e);
        }
        let pidfd = Arc::new(pidfd);
        let exit = match process::watch(pid, pidfd.clone()) {
            Ok(exit) => exit,
            Err(e) => {
                discard(&pidfd);
                logger.stop();
                return Err(e);
            }
        };
        tracing::info!(pid, hostname = %cfg.hostname, "utility VM started");
        Ok(NamespaceVm {
            init: Init { pid, pidfd, exit },
            shared: Arc::new(VmShared {
                log_fd: Mutex::new(Some(Arc::new(log_write))),
                setgroups: cfg.user_namespace.setgroups,
                idmapped: cfg.user_namespace.idmapped_storage,
                lock_dir,
                lock_file,
                plan: opts,
            }),
            logger: Mutex::new(Some(logger)),
            distros: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            stopped: Mutex::new(false),
            log_path: cfg.log_path.clone(),
        })
    }

    fn target(&self) -> Result<Target<'_>, VmError> {
        if !self.is_running() {
            return Err(VmError::NotRunning { what: VM.into() });
        }
        Ok(Target {
            pidfd: self.init.pidfd.as_fd(),
            pid: self.init.pid,
            what: VM,
            setgroups: self.shared.setgroups,
            join: join_flags(self.shared.plan.host_network),
        })
    }
}

/// Checks a MountFolder VM path: absolute, no `..`; returns its components.
fn vm_path_components(vm_path: &str) -> Result<Vec<String>, VmError> {
    if !vm_path.starts_with('/') {
        return Err(VmError::InvalidArgument(format!(
            "the VM path {vm_path:?} is not absolute"
        )));
    }
    let mut parts = Vec::new();
    for c in Path::new(vm_path).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(VmError::InvalidArgument(format!(
                    "the VM path {vm_path:?} leaves its directory with '..'"
                )))
            }
        }
    }
    if parts.is_empty() {
        return Err(VmError::InvalidArgument(
            "cannot mount over the VM's root directory".into(),
        ));
    }
    Ok(parts)
}

/// Why [`host_tree`] failed.
enum TreeError {
    /// The filesystem refuses MOUNT_ATTR_IDMAP (EINVAL).
    NoIdmap(VmError),
    Other(VmError),
}

impl TreeError {
    fn into_vm_error(self) -> VmError {
        match self {
            TreeError::NoIdmap(e) | TreeError::Other(e) => e,
        }
    }
}

/// A detached copy of the host's mount tree at `path` (private, so nothing
/// mounted below it in the VM propagates to the host) with `attr`
/// (MOUNT_ATTR_*), shown through `userns`'s maps when given.
fn host_tree(path: &Path, attr: u64, userns: Option<BorrowedFd<'_>>) -> Result<OwnedFd, TreeError> {
    let c = cstring("host path", path.as_os_str().as_bytes()).map_err(TreeError::Other)?;
    let tree = sys::open_tree_clone(&c).map_err(|e| {
        TreeError::Other(VmError::setup(
            format!("cloning the mount of {}", path.display()),
            e,
        ))
    })?;
    let idmapped = userns.is_some();
    sys::mount_setattr_idmapped(tree.as_raw_fd(), c"", attr, libc::MS_PRIVATE, userns).map_err(
        |e| {
            let err = VmError::setup(
                format!(
                    "setting the attributes of the mount of {}{}",
                    path.display(),
                    if idmapped {
                        " (idmapped through the VM's user namespace)"
                    } else {
                        ""
                    }
                ),
                e,
            );
            if idmapped && e == libc::EINVAL {
                TreeError::NoIdmap(err)
            } else {
                TreeError::Other(err)
            }
        },
    )?;
    Ok(tree)
}

/// Whether the filesystem at `path` can show its files through an idmapped
/// mount (MOUNT_ATTR_IDMAP), as distributions' and MountFolder's trees are:
/// tried on a detached copy of it, with a throw-away user namespace that
/// maps one id (the kernel refuses an empty one). Needs root. Where it
/// cannot (ramfs, NFS, most FUSE filesystems), a distribution's files must
/// be stored with the VM's host ids instead.
pub fn can_idmap(path: &Path) -> Result<bool, VmError> {
    let flags = libc::CLONE_NEWUSER as u64;
    // Waits, every signal blocked, for its SIGKILL.
    let (pid, pidfd) = child::clone_child(None, flags, || loop {
        sys::sigwait(&sys::sigset(true));
    })
    .map_err(|e| VmError::setup("creating a user namespace to try an idmapped mount", e))?;
    let userns = crate::UserNamespace::mapped(crate::DEFAULT_RANGE_BASE, 1)
        .write_maps(pid)
        .and_then(|()| {
            std::fs::File::open(format!("/proc/{pid}/ns/user"))
                .map_err(|e| VmError::io("opening the user namespace to try an idmapped mount", e))
        });
    discard(&pidfd);
    let userns = OwnedFd::from(userns?);
    match host_tree(path, 0, Some(userns.as_fd())) {
        Ok(_) => Ok(true),
        Err(TreeError::NoIdmap(_)) => Ok(false),
        Err(TreeError::Other(e)) => Err(e),
    }
}

/// Descriptors of the namespaces of the VM's init, for a helper that enters
/// them one by one after it has left the host's user namespace (for idmapped
/// mounts and [`child::lock_tree`]). From there it could not enter them
/// through the init's pidfd: that needs ptrace access to the init, which is
/// not dumpable, from the namespace its memory belongs to (the host's). Not
/// kept, so nothing pins a namespace after a stop.
struct VmNamespaces {
    user: OwnedFd,
    /// mnt, uts, ipc, net, cgroup (the flags of [`JOIN_FLAGS`] but user).
    others: [(OwnedFd, libc::c_int); 5],
}

impl VmNamespaces {
    fn open(target: &Target<'_>) -> Result<VmNamespaces, VmError> {
        let open = |name: &str| {
            let path = format!("/proc/{}/ns/{name}", target.pid);
            std::fs::File::open(&path)
                .map(OwnedFd::from)
                .map_err(|e| match e.raw_os_error() {
                    Some(libc::ENOENT) | Some(libc::ESRCH) => target.not_running(),
                    _ => VmError::io(format!("opening {path}"), e),
                })
        };
        let opened = VmNamespaces {
            user: open("user")?,
            others: [
                (open("mnt")?, libc::CLONE_NEWNS),
                (open("uts")?, libc::CLONE_NEWUTS),
                (open("ipc")?, libc::CLONE_NEWIPC),
                (open("net")?, libc::CLONE_NEWNET),
                (open("cgroup")?, libc::CLONE_NEWCGROUP),
            ],
        };
        // The init still lives, so its pid named it and not a newcomer.
        sys::pidfd_send_signal(target.pidfd, 0).map_err(|_| target.not_running())?;
        Ok(opened)
    }

    /// The raw numbers, for a child.
    fn raw(&self) -> (RawFd, [(RawFd, libc::c_int); 5]) {
        (
            self.user.as_raw_fd(),
            self.others
                .each_ref()
                .map(|(fd, flag)| (fd.as_raw_fd(), *flag)),
        )
    }
}

/// From a child in the VM's user namespace: enters the VM's other namespaces
/// (`only`: those of these flags) and becomes root there. Async-signal-safe.
fn enter_vm(
    others: &[(RawFd, libc::c_int); 5],
    only: libc::c_int,
    setgroups: bool,
) -> Result<(), (Stage, sys::Errno)> {
    for &(fd, flag) in others {
        if flag & only != 0 {
            sys::setns(fd, flag).map_err(|e| (Stage::JoinNamespaces, e))?;
        }
    }
    sys::become_root(setgroups).map_err(|e| (Stage::Credentials, e))
}

impl Vm for NamespaceVm {
    fn execute_binary(&self, path: &str, argv: &[String]) -> Result<OwnedFd, VmError> {
        let target = self.target()?;
        let log = self.shared.log_fd(VM)?;
        target.execute_binary(log.as_raw_fd(), path, argv)
    }

    fn mount_folder(
        &self,
        host_path: &Path,
        vm_path: &str,
        read_only: bool,
    ) -> Result<(), VmError> {
        let parts = vm_path_components(vm_path)?;
        if host_path.as_os_str().is_empty() {
            return Err(VmError::InvalidArgument("the host path is empty".into()));
        }
        let meta = std::fs::metadata(host_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                VmError::HostPathNotFound {
                    path: host_path.to_owned(),
                    cause: e,
                }
            } else {
                VmError::io(format!("looking at {}", host_path.display()), e)
            }
        })?;
        let target = self.target()?;
        let ns = VmNamespaces::open(&target)?;
        let attr = if read_only { sys::MOUNT_ATTR_RDONLY } else { 0 };
        let tree = match host_tree(host_path, attr, self.shared.idmapped.then(|| ns.user.as_fd())) {
            // A filesystem that cannot be idmapped (NFS, most FUSE): its files
            // show as `nobody` inside, and only what others may do on the
            // host works there.
            Err(TreeError::NoIdmap(_)) => {
                tracing::warn!(host = %host_path.display(), "the filesystem cannot be idmapped; mounting it in the VM without idmapping");
                host_tree(host_path, attr, None)
            }
            other => other,
        }
        .map_err(TreeError::into_vm_error)?;
        let mut prefixes = Vec::new();
        let mut acc = String::new();
        for p in &parts {
            acc.push('/');
            acc.push_str(p);
            prefixes.push(cstring("VM path", acc.as_str())?);
        }
        let mount_point = prefixes.pop().unwrap_or_default();
        let is_dir = meta.is_dir();
        let report = ReportPipe::new()?;
        let w = report.write_fd();
        let tree_fd = tree.as_raw_fd();
        let (userns_fd, others) = ns.raw();
        let lock_point = self.shared.lock_point(meta.is_dir());
        let setgroups = self.shared.setgroups;
        let (_, helper) = child::clone_child(None, 0, || {
            // Read-only must stay read-only for root of the VM (see lock_tree).
            if let Err(e) = child::lock_tree(tree_fd, &lock_point, userns_fd) {
                child::fail(w, Stage::LockMount, 0, e);
            }
            if let Err((stage, e)) = enter_vm(&others, libc::CLONE_NEWNS, setgroups) {
                child::fail(w, stage, 0, e);
            }
            for dir in &prefixes {
                if let Err(e) = sys::mkdir(dir, 0o755) {
                    child::fail(w, Stage::MountPoint, 0, e);
                }
            }
            let made = if is_dir {
                sys::mkdir(&mount_point, 0o755)
            } else {
                sys::touch(&mount_point)
            };
            if let Err(e) = made {
                child::fail(w, Stage::MountPoint, 0, e);
            }
            if let Err(e) = sys::attach_tree(tree_fd, &mount_point) {
                child::fail(w, Stage::Attach, 0, e);
            }
            sys::exit(0)
        })
        .map_err(|e| target.clone_error(e))?;
        let result = report.finish();
        let status = sys::wait_pidfd(helper.as_fd());
        match result? {
            None if status == Ok(0) => {
                tracing::info!(host = %host_path.display(), vm_path, read_only, "folder mounted in the VM");
                Ok(())
            }
            None => Err(target.not_running()),
            Some(r) if r.stage == Stage::JoinNamespaces && r.errno == libc::ESRCH => {
                Err(target.not_running())
            }
            Some(r) => Err(VmError::setup(
                format!(
                    "{} for mounting {} at {vm_path} in the utility VM",
                    r.stage.describe(),
                    host_path.display()
                ),
                r.errno,
            )),
        }
    }

    fn spawn(&self, spec: ProcessSpec) -> Result<Process, VmError> {
        self.target()?.spawn(spec)
    }

    fn start_distribution(&self, spec: &DistroSpec) -> Result<Arc<dyn RunningDistro>, VmError> {
        let target = self.target()?;
        let distro = Arc::new(NamespaceDistro::start(&target, self.shared.clone(), spec)?);
        let mut distros = lock(&self.distros);
        distros.retain(|d| d.strong_count() > 0);
        distros.push(Arc::downgrade(&distro));
        Ok(distro)
    }

    fn init_pid(&self) -> i32 {
        self.init.pid
    }

    fn log_path(&self) -> PathBuf {
        self.log_path.clone()
    }

    fn log_writer(&self) -> Result<OwnedFd, VmError> {
        self.shared
            .log_fd(VM)?
            .try_clone()
            .map_err(|e| VmError::io("duplicating the VM log descriptor", e))
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let mut stopped = lock(&self.stopped);
        if *stopped {
            return;
        }
        let distros: Vec<_> = lock(&self.distros).drain(..).collect();
        for d in distros.iter().filter_map(Weak::upgrade) {
            d.stop();
        }
        self.init.kill_and_wait();
        lock(&self.shared.log_fd).take();
        if let Some(logger) = lock(&self.logger).take() {
            logger.stop();
        }
        *stopped = true;
        tracing::info!(pid = self.init.pid, "utility VM stopped");
    }

    fn is_running(&self) -> bool {
        !self.stopping.load(Ordering::SeqCst) && self.init.alive()
    }
}

impl Drop for NamespaceVm {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A distribution of the namespace backend.
pub struct NamespaceDistro {
    name: String,
    what: String,
    init: Init,
    vm_pid: u32,
    pid_ns: u64,
    shared: Arc<VmShared>,
    stopping: AtomicBool,
    stopped: Mutex<bool>,
    /// Processes started with `spawn`: children of the caller, not of the
    /// init, so its children do not show them. Pruned as they exit.
    spawned: Mutex<Vec<process::Watch>>,
}

/// The pid of `pid` in the pid namespace one level above its own (the VM's),
/// from the NSpid line of `/proc/<pid>/status`.
fn parent_ns_pid(pid: i32) -> Result<u32, VmError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| VmError::io(format!("reading /proc/{pid}/status"), e))?;
    let nspid: Vec<u32> = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|v| {
            v.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    if nspid.len() < 2 {
        return Err(VmError::setup(
            format!("reading NSpid of {pid}"),
            libc::EPROTO,
        ));
    }
    Ok(nspid[nspid.len() - 2])
}

fn pid_ns_inode(pid: i32) -> std::io::Result<u64> {
    Ok(std::fs::metadata(format!("/proc/{pid}/ns/pid"))?.ino())
}

/// The host pid, pid namespace inode and VM-level pid of the init behind `pidfd`.
fn init_facts(pidfd: &OwnedFd, what: &str) -> Result<(i32, u64, u32), VmError> {
    let fdinfo = format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd());
    let pid = std::fs::read_to_string(&fdinfo)
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Pid:"))
                .and_then(|p| p.trim().parse::<i32>().ok())
        })
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            VmError::setup(
                format!("reading the pid of the init of {what} from {fdinfo}"),
                libc::ESRCH,
            )
        })?;
    let ns = pid_ns_inode(pid)
        .map_err(|e| VmError::io(format!("reading the pid namespace of {what}"), e))?;
    Ok((pid, ns, parent_ns_pid(pid)?))
}

/// The VM's init, in its new namespaces: waits for the maps of its user
/// namespace (a byte on `maps_r`), mounts its root from `plan` (which makes
/// it root of the user namespace), dies with the service (see
/// [`child::on_lifetime_thread`]), then reaps. Runs under clone3's rules: no
/// allocation, bare syscalls.
fn vm_init(plan: &[plan::MountStep], w: RawFd, log_fd: RawFd, maps_r: RawFd, maps_w: RawFd) -> ! {
    // Ours would keep the pipe open: EOF must mean the caller is gone.
    sys::close(maps_w);
    let mut go = [0u8; 1];
    match sys::read(maps_r, &mut go) {
        Ok(1) => {}
        Ok(_) => sys::exit(1),
        Err(e) => child::fail(w, Stage::UserMaps, 0, e),
    }
    // Quiet stdio first, while the host's /dev/null is still reachable:
    // the caller's stdout may be a pipe someone reads to EOF.
    let null = match sys::open(c"/dev/null", libc::O_RDWR, 0) {
        Ok(fd) => fd,
        Err(e) => child::fail(w, Stage::Stdio, 0, e),
    };
    if let Err(e) = child::setup_stdio([null, null, log_fd]) {
        child::fail(w, Stage::Stdio, 0, e);
    }
    if let Err((i, e)) = plan::execute(plan) {
        child::fail(w, Stage::Plan, i as u32, e);
    }
    // Only now: a change of credentials (the plan's BecomeRoot) clears it.
    if let Err(e) = sys::set_parent_death_signal(libc::SIGKILL) {
        child::fail(w, Stage::Stdio, 0, e);
    }
    // The caller holds the pipe's write end until we are ready: a hang-up
    // means it died before the signal was asked for, and nobody would stop us.
    if sys::pipe_hung_up(maps_r) {
        sys::exit(1);
    }
    child::init_loop(w)
}

/// The body of a distribution's init, in its new pid, mount and uts namespaces.
fn distro_init(plan: &[plan::MountStep], w: RawFd, log_fd: RawFd) -> ! {
    if let Err((i, e)) = plan::execute(plan) {
        child::fail(w, Stage::Plan, i as u32, e);
    }
    let null = match sys::open(c"/dev/null", libc::O_RDWR, 0) {
        Ok(fd) => fd,
        Err(e) => child::fail(w, Stage::Stdio, 0, e),
    };
    if let Err(e) = child::setup_stdio([null, null, log_fd]) {
        child::fail(w, Stage::Stdio, 0, e);
    }
    child::init_loop(w)
}

impl NamespaceDistro {
    fn start(
        vm: &Target<'_>,
        shared: Arc<VmShared>,
        spec: &DistroSpec,
    ) -> Result<NamespaceDistro, VmError> {
        let what = format!("distribution '{}'", spec.name);
        let meta = std::fs::metadata(&spec.rootfs).map_err(|e| {
            VmError::io(
                format!("root filesystem {} of {what}", spec.rootfs.display()),
                e,
            )
        })?;
        if !meta.is_dir() {
            return Err(VmError::setup(
                format!("root filesystem {} of {what}", spec.rootfs.display()),
                libc::ENOTDIR,
            ));
        }
        let ns = VmNamespaces::open(vm)?;
        // Files keep their own ids on disk and show with them inside, through
        // the VM's maps; device nodes a tarball carried never open (nodev,
        // locked below). Private before it is attached anywhere: with a shared
        // host mount, the clone would otherwise carry the distribution's
        // mounts back to the host.
        let idmap = (shared.idmapped && !spec.stored_shifted).then(|| ns.user.as_fd());
        let tree = host_tree(&spec.rootfs, sys::MOUNT_ATTR_NODEV, idmap).map_err(|e| match e {
            TreeError::NoIdmap(_) => VmError::Setup {
                step: format!(
                    "starting {what}: showing {} through an idmapped mount (its filesystem cannot be \
                     idmapped; import the distribution again and wslp stores its files with the VM's ids)",
                    spec.rootfs.display()
                ),
                cause: std::io::Error::from_raw_os_error(libc::EINVAL),
            },
            TreeError::Other(e) => e,
        })?;
        let plan = plan::distro_plan(tree.as_raw_fd(), &spec.hostname, &shared.plan)?;
        tracing::debug!(plan = %plan::describe(&plan), distro = %spec.name, "starting distribution");
        let log = shared.log_fd(VM)?;
        let log_fd = log.as_raw_fd();
        let report = ReportPipe::new()?;
        let w = report.write_fd();
        let tree_fd = tree.as_raw_fd();
        let (userns_fd, others) = ns.raw();
        let lock_point = shared.lock_point(true);
        let (setgroups, join) = (shared.setgroups, vm.join);
        // A new pid namespace can only be made by a process whose own pid
        // namespace is its children's (copy_pid_ns), so a helper in the VM's
        // namespaces creates the init, as a child of the caller (CLONE_PARENT),
        // and hands over its pidfd (pidfd_getfd).
        let init_flags =
            (libc::CLONE_PARENT | libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWUTS)
                as u64;
        let (_, helper) = child::clone_child(Some(vm.pidfd), 0, || {
            // nodev stays for root of the distribution too; this joins the
            // VM's user namespace.
            if let Err(e) = child::lock_tree(tree_fd, &lock_point, userns_fd) {
                child::fail(w, Stage::LockMount, 0, e);
            }
            // Net, ipc and cgroup stay the VM's; mount and uts are copies of the VM's.
            if let Err((stage, e)) = enter_vm(&others, join, setgroups) {
                child::fail(w, stage, 0, e);
            }
            match child::clone_sibling(init_flags, || distro_init(&plan, w, log_fd)) {
                Ok(pidfd) => {
                    child::report(w, Stage::Forked, pidfd as u32, 0);
                    // Wait for the caller to take the pidfd and kill us.
                    loop {
                        sys::sigwait(&sys::sigset(true));
                    }
                }
                Err(e) => child::fail(w, Stage::NewNamespaces, 0, e),
            }
        })
        .map_err(|e| vm.clone_error(e))?;
        drop(tree);
        drop(ns);
        let mut reader = report.reader();
        let mut init_pidfd: Option<OwnedFd> = None;
        let mut ready = false;
        let outcome = loop {
            if ready && init_pidfd.is_some() {
                break Ok(());
            }
            match reader.next() {
                Ok(Some(r)) if r.stage == Stage::Forked => {
                    match sys::pidfd_getfd(helper.as_fd(), r.index as RawFd) {
                        Ok(fd) => init_pidfd = Some(fd),
                        Err(e) => {
                            break Err(VmError::setup(
                                format!("taking the pidfd of the init of {what}"),
                                e,
                            ))
                        }
                    }
                    discard(&helper);
                }
                Ok(Some(r)) if r.stage == Stage::Ready => ready = true,
                Ok(Some(r)) if r.stage == Stage::Plan => {
                    break Err(VmError::setup(
                        format!(
                            "starting {what}: mount step `{}`",
                            plan.get(r.index as usize)
                                .map_or("?".into(), |s| s.to_string())
                        ),
                        r.errno,
                    ))
                }
                Ok(Some(r)) if r.stage == Stage::JoinNamespaces && r.errno == libc::ESRCH => {
                    break Err(vm.not_running())
                }
                Ok(Some(r)) => {
                    break Err(VmError::setup(
                        format!("starting {what}: {}", r.stage.describe()),
                        r.errno,
                    ))
                }
                Ok(None) => {
                    break Err(VmError::setup(
                        format!("starting {what}: init died"),
                        libc::ECHILD,
                    ))
                }
                Err(e) => break Err(e),
            }
        };
        discard(&helper);
        let started = outcome.and_then(|_| {
            let pidfd = init_pidfd
                .take()
                .ok_or_else(|| VmError::setup(format!("starting {what}: no init"), libc::ECHILD))?;
            match init_facts(&pidfd, &what) {
                Ok((pid, pid_ns, vm_pid)) => Ok((pidfd, pid, pid_ns, vm_pid)),
                Err(e) => {
                    discard(&pidfd);
                    Err(e)
                }
            }
        });
        let (pidfd, pid, pid_ns, vm_pid) = match started {
            Ok(v) => v,
            Err(e) => {
                if let Some(fd) = init_pidfd {
                    discard(&fd);
                }
                return Err(e);
            }
        };
        let pidfd = Arc::new(pidfd);
        let exit = match process::watch(pid, pidfd.clone()) {
            Ok(exit) => exit,
            Err(e) => {
                discard(&pidfd);
                return Err(e);
            }
        };
        tracing::info!(distro = %spec.name, pid, vm_pid, pid_ns, "distribution started");
        Ok(NamespaceDistro {
            name: spec.name.clone(),
            what,
            init: Init { pid, pidfd, exit },
            vm_pid,
            pid_ns,
            shared,
            stopping: AtomicBool::new(false),
            stopped: Mutex::new(false),
            spawned: Mutex::new(Vec::new()),
        })
    }

    fn target(&self) -> Result<Target<'_>, VmError> {
        if !self.is_running() {
            return Err(VmError::NotRunning {
                what: self.what.clone(),
            });
        }
        Ok(Target {
            pidfd: self.init.pidfd.as_fd(),
            pid: self.init.pid,
            what: &self.what,
            setgroups: self.shared.setgroups,
            join: join_flags(self.shared.plan.host_network),
        })
    }
}

impl RunningDistro for NamespaceDistro {
    fn execute_binary(&self, path: &str, argv: &[String]) -> Result<OwnedFd, VmError> {
        let target = self.target()?;
        let log = self.shared.log_fd(&self.what)?;
        target.execute_binary(log.as_raw_fd(), path, argv)
    }

    fn spawn(&self, spec: ProcessSpec) -> Result<Process, VmError> {
        let p = self.target()?.spawn(spec)?;
        let mut spawned = lock(&self.spawned);
        spawned.retain(|w| !w.exited());
        spawned.push(p.watch());
        Ok(p)
    }

    fn pid_namespace(&self) -> u64 {
        self.pid_ns
    }

    fn init_pid(&self) -> u32 {
        self.vm_pid
    }

    fn host_init_pid(&self) -> i32 {
        self.init.pid
    }

    fn activity(&self) -> Activity {
        if !self.is_running() {
            return Activity::Idle;
        }
        {
            let mut spawned = lock(&self.spawned);
            spawned.retain(|w| !w.exited());
            if let Some(w) = spawned.first() {
                return Activity::Busy(w.pidfd());
            }
        }
        // Everything else in the pid namespace descends from a process we
        // spawned or from the init: an orphan is reparented to it. So the
        // init's children are enough, read from its own /proc entry rather
        // than by scanning the host's processes.
        let path = format!("/proc/{0}/task/{0}/children", self.init.pid);
        let children = || -> Option<Vec<i32>> {
            let text = std::fs::read_to_string(&path).ok()?;
            Some(
                text.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect(),
            )
        };
        // A child may exit between the read and pidfd_open; look again.
        for _ in 0..16 {
            let pid = match children() {
                None => return Activity::Busy(None),
                Some(c) => match c.first() {
                    None => return Activity::Idle,
                    Some(&pid) => pid,
                },
            };
            let Ok(fd) = sys::pidfd_open(pid) else {
                continue;
            };
            // Still the init's child now that we hold it: not a reused pid.
            if children().is_some_and(|c| c.contains(&pid)) {
                return Activity::Busy(Some(fd));
            }
        }
        Activity::Busy(None)
    }

    fn exit_watch(&self) -> Option<OwnedFd> {
        self.init.pidfd.try_clone().ok()
    }

    fn is_running(&self) -> bool {
        !self.stopping.load(Ordering::SeqCst) && self.init.alive()
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let mut stopped = lock(&self.stopped);
        if *stopped {
            return;
        }
        self.init.kill_and_wait();
        *stopped = true;
        tracing::info!(distro = %self.name, "distribution stopped");
    }
}

impl Drop for NamespaceDistro {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_paths_must_be_absolute_and_stay_inside() {
        assert_eq!(vm_path_components("/mnt/x").unwrap(), ["mnt", "x"]);
        assert_eq!(vm_path_components("/mnt//./x/").unwrap(), ["mnt", "x"]);
        for bad in ["mnt/x", "", "/", "/mnt/../etc", "/.."] {
            let err = vm_path_components(bad).unwrap_err();
            assert!(matches!(err, VmError::InvalidArgument(_)), "{bad}: {err}");
        }
    }
}
