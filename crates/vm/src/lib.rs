//! Utility VM backends (Linux namespaces first) and the runtime of distributions inside the VM.
//!
//! A [`VmBackend`] starts a [`Vm`]; the VM runs processes in its root
//! namespaces (ExecuteBinary, `--debug-shell`), bind-mounts host folders into
//! itself (MountFolder) and starts distributions ([`RunningDistro`]) as
//! containers inside it. [`NamespaceBackend`] needs no hypervisor: the VM is a
//! set of fresh namespaces with a tmpfs root (SPEC §6), all owned by one user
//! namespace ([`UserNamespace`]), so root inside is an unprivileged range of
//! host ids. A microVM backend can implement the same traits later.
//!
//! The library never re-executes a binary of its own (it is embedded in plain
//! `cargo test` processes of plugin crates): children created from the
//! caller's threads run prepared, allocation-free code until they exec.

#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod child;
mod error;
pub mod log;
mod namespace;
pub mod plan;
mod process;
pub mod rootless;
pub mod subid;
mod sync;
#[allow(unsafe_code)]
mod sys;
mod userns;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::VmError;

/// The `PATH` of a command whose environment names none, and of every command
/// the service starts in a distribution: Debian's for root. One value, so what
/// the VM resolves a program with is what the command sees.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub use namespace::{can_idmap, NamespaceBackend};
pub use process::{Process, ProcessSpec, ResourceLimit};
pub use userns::{IdRange, MapWriter, UserNamespace, RANGE_SIZE};

/// The host ids of a VM whose caller names no range ([`VmConfig::new`]), and
/// of the system instance when `/etc/subuid` has no range for the `wslp`
/// account: 65536 ids from 1879048192 (0x70000000). systemd leaves
/// 1879048192–2147352575 unused (docs/UIDS-GIDS.md), and shadow's useradd
/// hands out subordinate ids from 100000 to 600100000, so no user or
/// container of a stock system has them.
pub const DEFAULT_RANGE_BASE: u32 = 0x7000_0000;

/// Default cap of the VM log before it rotates to `<log>.1`.
pub const DEFAULT_LOG_CAP_BYTES: u64 = 1024 * 1024;

/// A way to run utility VMs.
pub trait VmBackend: Send + Sync {
    /// Starts a VM; it is running when this returns.
    fn start(&self, cfg: &VmConfig) -> Result<Arc<dyn Vm>, VmError>;
}

/// How to start a VM.
#[derive(Debug, Clone)]
pub struct VmConfig {
    /// A directory under `$WSLP_ROOT` the VM may use (created when missing);
    /// the namespace backend mounts its tmpfs root on `<state_dir>/root`, which
    /// only the VM's own mount namespace sees.
    pub state_dir: PathBuf,
    /// The VM log (the counterpart of dmesg).
    pub log_path: PathBuf,
    /// Size at which the log rotates to `<log_path>.1`.
    pub log_cap_bytes: u64,
    pub hostname: String,
    /// The VM's user namespace: which host ids its ids are.
    pub user_namespace: UserNamespace,
    /// `size=` of `/tmp`, `/run` and `/dev/shm` in the VM and its
    /// distributions (see [`plan::PlanOptions::tmpfs_size`]).
    pub tmpfs_size: Option<String>,
    /// No network namespace of its own: the VM and its distributions use
    /// the host's (networking_mode mirrored, SPEC §9).
    pub host_network: bool,
}

impl VmConfig {
    /// A configuration with the log at `<state_dir>/vm.log` capped at 1 MiB,
    /// ids 0–65535 mapped to the host's from [`DEFAULT_RANGE_BASE`] (the
    /// caller must be root), the kernel's tmpfs sizes.
    pub fn new(state_dir: impl Into<PathBuf>, hostname: impl Into<String>) -> VmConfig {
        let state_dir = state_dir.into();
        VmConfig {
            log_path: state_dir.join("vm.log"),
            log_cap_bytes: DEFAULT_LOG_CAP_BYTES,
            state_dir,
            hostname: hostname.into(),
            user_namespace: UserNamespace::mapped(DEFAULT_RANGE_BASE, RANGE_SIZE),
            tmpfs_size: None,
            host_network: false,
        }
    }
}

/// A running utility VM.
pub trait Vm: Send + Sync {
    /// ExecuteBinary: start `path` with `argv` in the VM's root namespaces; returns the plugin's end of an
    /// AF_UNIX SOCK_STREAM socketpair whose other end is the process's stdin AND stdout (no relay thread, no copy).
    /// stderr goes to the VM log. The process is reparented to the VM's init (double fork) so no zombie is left
    /// when the plugin closes the socket.
    fn execute_binary(&self, path: &str, argv: &[String]) -> Result<OwnedFd, VmError>;
    /// MountFolder: bind mount host_path at vm_path inside the VM's root mount namespace (mount point created
    /// when missing, read-only when asked), visible to every later process in the VM. Its files show with
    /// their host owners (an idmapped mount), and read-only stays read-only for root of the VM.
    fn mount_folder(&self, host_path: &Path, vm_path: &str, read_only: bool)
        -> Result<(), VmError>;
    /// Start an arbitrary process in the VM root namespaces (used for --debug-shell): see ProcessSpec.
    fn spawn(&self, spec: ProcessSpec) -> Result<Process, VmError>;
    /// Start a distribution as a container inside the VM.
    fn start_distribution(&self, spec: &DistroSpec) -> Result<Arc<dyn RunningDistro>, VmError>;
    /// Host pid of the VM's init (pid 1 of the VM's pid namespace).
    fn init_pid(&self) -> i32;
    /// Path of the VM log file (the counterpart of dmesg).
    fn log_path(&self) -> PathBuf;
    /// A descriptor that writes to the VM log (for processes' output and for
    /// the service's own lines there), rotated with it.
    fn log_writer(&self) -> Result<OwnedFd, VmError>;
    /// Stop: kill every process of the VM (and its distributions), wait for init, leave no mount/process/namespace behind. Idempotent.
    fn stop(&self);
    fn is_running(&self) -> bool;
}

/// A distribution to start.
#[derive(Debug, Clone)]
pub struct DistroSpec {
    pub name: String,
    /// Host path of the extracted root filesystem.
    pub rootfs: PathBuf,
    pub hostname: String,
    /// The files are stored with the host ids of the VM's range (shifted at
    /// import, on a filesystem that cannot be idmapped): attach the rootfs as
    /// it is rather than through an idmapped mount.
    pub stored_shifted: bool,
}

/// What a distribution runs besides its init, for an idle policy that sleeps
/// until something changes.
#[derive(Debug)]
pub enum Activity {
    /// Nothing but its init.
    Idle,
    /// Something else runs. The descriptor (a pidfd) becomes readable when
    /// that may have changed: look again then. Without one, nothing says
    /// when; look again after a while.
    Busy(Option<OwnedFd>),
}

/// A distribution running inside a VM.
pub trait RunningDistro: Send + Sync {
    /// ExecuteBinaryInDistribution: like Vm::execute_binary but inside the distribution, as root.
    fn execute_binary(&self, path: &str, argv: &[String]) -> Result<OwnedFd, VmError>;
    /// Run a user command inside the distribution.
    fn spawn(&self, spec: ProcessSpec) -> Result<Process, VmError>;
    /// Inode number of the distribution's pid namespace.
    fn pid_namespace(&self) -> u64;
    /// The distribution init's pid as seen from the VM's root pid namespace (NSpid), new on every start.
    fn init_pid(&self) -> u32;
    /// Host pid of the distribution's init.
    fn host_init_pid(&self) -> i32;
    /// Whether anything but its init is left (for the distribution idle
    /// timeout), and what to wait on for that to change. The cost does not
    /// grow with the number of processes on the host.
    fn activity(&self) -> Activity;
    /// true when no process other than its init is left.
    fn is_idle(&self) -> bool {
        matches!(self.activity(), Activity::Idle)
    }
    /// A descriptor that becomes readable (poll) when the distribution's init
    /// has exited, for a caller that waits on events rather than polls.
    fn exit_watch(&self) -> Option<OwnedFd>;
    fn is_running(&self) -> bool;
    /// Kill everything in the distribution, leave nothing behind. Idempotent.
    fn stop(&self);
}
