//! A session VM: a namespace VM whose storage is the session's directory and
//! in which containerd and dockerd run until the VM stops.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{info, warn};
use wslp_vm::{Process, ProcessSpec, Vm, VmBackend, VmConfig, DEFAULT_PATH};

use crate::engine::Engine;
use crate::WslcError;

/// Where the session's `engine/` directory is bound in the VM.
pub const ENGINE_DIR_IN_VM: &str = "/var/lib/wslc";

/// The engine's programs, looked up in the VM's `/usr` (the host's).
const ENGINE_PROGRAMS: [&str; 3] = ["containerd", "dockerd", "runc"];

/// Run as root in the session VM: mounts the cgroup hierarchies runc looks
/// for, then starts containerd and becomes dockerd. Each step says what it
/// does in the VM log, where an engine that fails to start is explained.
const LAUNCHER: &str = r#"
E=/var/lib/wslc
if grep -qv '^0::' /proc/self/cgroup; then
    # cgroup v1 or hybrid: one mount per hierarchy this cgroup namespace has.
    mount -t tmpfs -o mode=755,nosuid,nodev,noexec cgroup /sys/fs/cgroup || exit 20
    while IFS=: read -r _ ctrl _; do
        if [ -z "$ctrl" ]; then
            mkdir -p /sys/fs/cgroup/unified
            mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup/unified ||
                echo "wslc: the cgroup2 hierarchy could not be mounted; containers go without it"
        else
            dir=${ctrl#name=}
            mkdir -p "/sys/fs/cgroup/$dir"
            mount -t cgroup -o "nosuid,nodev,noexec,$ctrl" cgroup "/sys/fs/cgroup/$dir" ||
                echo "wslc: the $ctrl cgroup hierarchy could not be mounted; containers go without it"
        fi
    done < /proc/self/cgroup
else
    mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup || exit 21
fi
mkdir -p "$E/containerd" "$E/docker" /run/containerd /run/docker || exit 22
rm -f "$E/docker.sock"
echo "wslc: starting containerd and dockerd"
containerd --root "$E/containerd" --state /run/containerd/state \
    --address /run/containerd/containerd.sock &
exec dockerd --rootless --containerd /run/containerd/containerd.sock \
    --data-root "$E/docker" --exec-root /run/docker --pidfile /run/docker/dockerd.pid \
    -H "unix://$E/docker.sock" --iptables=false --bridge=none \
    --shutdown-timeout 2
"#;

/// How to start a session VM.
#[derive(Debug, Clone)]
pub struct SessionVmConfig {
    /// `$WSLP_ROOT/wslc/<session>/`: created when missing.
    pub storage: PathBuf,
    /// The VM itself; its `state_dir` should be `storage/vm`.
    pub vm: VmConfig,
    /// How long the engine may take to answer its first ping.
    pub ready_timeout: Duration,
}

impl SessionVmConfig {
    /// A VM as [`VmConfig::new`] makes one (the caller must be root), its
    /// state in `storage/vm`, the engine given 60 s to come up.
    pub fn new(storage: impl Into<PathBuf>, hostname: impl Into<String>) -> Self {
        let storage = storage.into();
        SessionVmConfig {
            vm: VmConfig::new(storage.join("vm"), hostname),
            storage,
            ready_timeout: Duration::from_secs(60),
        }
    }
}

/// A running session VM with its engine ready.
pub struct SessionVm {
    vm: Arc<dyn Vm>,
    engine_process: Process,
    engine: Engine,
    storage: PathBuf,
}

impl SessionVm {
    /// Starts the VM and the engine in it; returns once the engine answers.
    /// On any failure the VM is stopped again.
    pub fn start(backend: &dyn VmBackend, cfg: &SessionVmConfig) -> Result<SessionVm, WslcError> {
        for program in ENGINE_PROGRAMS {
            if !["/usr/bin", "/usr/sbin"]
                .iter()
                .any(|d| Path::new(d).join(program).exists())
            {
                return Err(WslcError::EngineMissing { program });
            }
        }
        let engine_dir = cfg.storage.join("engine");
        std::fs::create_dir_all(&engine_dir)
            .map_err(|e| WslcError::io(format!("creating {}", engine_dir.display()), e))?;
        let vm = backend.start(&cfg.vm)?;
        match Self::start_engine(vm.clone(), &engine_dir, cfg.ready_timeout) {
            Ok((engine_process, engine)) => Ok(SessionVm {
                vm,
                engine_process,
                engine,
                storage: cfg.storage.clone(),
            }),
            Err(e) => {
                vm.stop();
                Err(e)
            }
        }
    }

    fn start_engine(
        vm: Arc<dyn Vm>,
        engine_dir: &Path,
        timeout: Duration,
    ) -> Result<(Process, Engine), WslcError> {
        let t0 = Instant::now();
        vm.mount_folder(engine_dir, ENGINE_DIR_IN_VM, false)?;
        let log = vm.log_writer()?;
        let null: OwnedFd = std::fs::File::open("/dev/null")
            .map_err(|e| WslcError::io("opening /dev/null", e))?
            .into();
        let process = vm.spawn(ProcessSpec {
            program: None,
            argv: vec!["/bin/sh".into(), "-c".into(), LAUNCHER.into()],
            env: vec![("PATH".into(), DEFAULT_PATH.into())],
            cwd: None,
            uid: 0,
            gid: 0,
            groups: vec![],
            stdin: null,
            stdout: log
                .try_clone()
                .map_err(|e| WslcError::io("duplicating the VM log descriptor", e))?,
            stderr: log,
            controlling_tty: false,
            rlimits: Vec::new(),
            no_new_privs: false,
        })?;
        let socket = engine_dir.join("docker.sock");
        let mut pause = Duration::from_millis(2);
        loop {
            if let Some(status) = process.try_wait() {
                return Err(WslcError::EngineExited {
                    status,
                    log: vm.log_path(),
                    tail: log_tail(&vm.log_path(), 15),
                });
            }
            if socket.exists() {
                if let Ok(engine) = Engine::connect(&socket) {
                    info!(
                        ms = t0.elapsed().as_millis() as u64,
                        "the session's container engine is ready"
                    );
                    return Ok((process, engine));
                }
            }
            if t0.elapsed() > timeout {
                let _ = process.signal_group(libc::SIGKILL);
                return Err(WslcError::EngineTimeout {
                    ms: timeout.as_millis() as u64,
                    log: vm.log_path(),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// The VM, for the WSLC calls (MountFolder, CreateProcess) and the hooks.
    pub fn vm(&self) -> &Arc<dyn Vm> {
        &self.vm
    }

    /// The engine's client.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The session's storage directory.
    pub fn storage(&self) -> &Path {
        &self.storage
    }

    /// The Engine API socket, as the host sees it.
    pub fn engine_socket(&self) -> PathBuf {
        self.storage.join("engine/docker.sock")
    }

    /// Stops the engine only: dockerd stops its containers and writes its
    /// state within `grace`; the VM stays up (WslcVmStopping runs in it).
    pub fn stop_engine(&self, grace: Duration) {
        if self.vm.is_running() && self.engine_process.try_wait().is_none() {
            let _ = self.engine_process.signal(libc::SIGTERM);
            if self.engine_process.wait_timeout(grace).is_none() {
                warn!(
                    grace_ms = grace.as_millis() as u64,
                    "the session's container engine did not stop in time; stopping the VM under it"
                );
            }
        }
    }

    /// Stops the engine ([`SessionVm::stop_engine`]), then the VM, which
    /// takes every process and mount of the session with it. Idempotent.
    pub fn stop(&self, grace: Duration) {
        self.stop_engine(grace);
        self.vm.stop();
    }

    pub fn is_running(&self) -> bool {
        self.vm.is_running()
    }
}

/// The last `n` lines of a log file, for an error that points at it.
fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
