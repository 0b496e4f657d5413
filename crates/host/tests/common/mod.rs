//! Shared pieces of the host's integration tests: building the C test plugins,
//! isolated WSLP_ROOTs, and a `PluginServices` that runs programs on the host.

#![allow(dead_code)]

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use wslp_abi::hresult::{hresult_from_win32, win32, E_FAIL, WSL_E_VM_MODE_INVALID_STATE};
use wslp_config::{add_registry_entry, Settings};
use wslp_host::{HostConfig, PluginManager, PluginServices, GUID};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Compiles `tests/plugins/<source>` once per test process; returns the .so.
pub fn built(source: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let map = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = map.lock().unwrap();
    if let Some(p) = map.get(source) {
        return p.clone();
    }
    // Built once per test process (nextest runs each test in its own) under a
    // private name, then renamed into place: concurrent builders never expose a
    // half-written file, and nothing accumulates across runs.
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("host-plugins");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join(format!("{source}.so"));
    let tmp = out_dir.join(format!("{source}.{}.so", std::process::id()));
    let compiler = if source.ends_with(".cpp") {
        "g++"
    } else {
        "gcc"
    };
    let status = Command::new(compiler)
        .args(["-Wall", "-Wextra", "-Werror", "-shared", "-fPIC"])
        .arg(format!("-I{}", repo().join("include").display()))
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/plugins")
                .join(source),
        )
        .arg("-o")
        .arg(&tmp)
        .status()
        .expect("run the C compiler");
    assert!(status.success(), "{compiler} failed on {source}");
    std::fs::rename(&tmp, &out).unwrap();
    map.insert(source.to_string(), out.clone());
    out
}

/// An isolated WSLP_ROOT with plugins copied into it (each copy is its own inode,
/// so the dynamic loader treats it as a distinct object from other tests' copies).
pub struct Root {
    pub dir: tempfile::TempDir,
}

impl Root {
    /// Signatures off: the test-signing switch.
    pub fn new() -> Root {
        let r = Root {
            dir: tempfile::tempdir().unwrap(),
        };
        r.settings("require_signatures = false\n");
        r
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Root-only (0644) whatever the umask, or `require_signatures = false` is ignored.
    pub fn settings(&self, text: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path().join("wslp.toml");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }

    /// Copies the built `source` to `<root>/<file>`, writes its `.conf`, registers it.
    pub fn plugin(&self, name: &str, source: &str, file: &str, conf: &str) -> PathBuf {
        let dst = self.path().join(file);
        std::fs::copy(built(source), &dst).unwrap();
        std::fs::write(format!("{}.conf", dst.display()), conf).unwrap();
        self.register(name, &dst);
        dst
    }

    pub fn register(&self, name: &str, path: &Path) {
        add_registry_entry(self.path(), name, path).unwrap();
    }

    pub fn shared_log(&self) -> PathBuf {
        self.path().join("shared.log")
    }

    pub fn manager(&self) -> PluginManager {
        PluginManager::load(HostConfig {
            wslp_root: self.path().to_path_buf(),
            settings: Settings::load(self.path()).unwrap(),
        })
    }
}

/// Lines of a plugin log, without the tag prefix filter.
pub fn log_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The log of a plugin at `so` (its default log file).
pub fn plugin_log(so: &Path) -> Vec<String> {
    log_lines(Path::new(&format!("{}.log", so.display())))
}

/// Lines `"<tag> <hook> <what>"` of `log` containing `needle`.
pub fn grep(log: &[String], needle: &str) -> Vec<String> {
    log.iter().filter(|l| l.contains(needle)).cloned().collect()
}

/// Serves plugin calls with real processes on the host: a socketpair whose other
/// end is the program's stdin and stdout. Distributions are a set of GUIDs taken to
/// be running; mounts are checked and recorded (the real ones are the VM's job).
#[derive(Default)]
pub struct HostServices {
    pub running_distros: Mutex<Vec<GUID>>,
    pub mounts: Mutex<Vec<(PathBuf, String, bool, String)>>,
}

impl HostServices {
    pub fn new() -> Arc<HostServices> {
        Arc::new(HostServices::default())
    }

    fn spawn(&self, path: &str, argv: &[String]) -> Result<OwnedFd, i32> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|_| E_FAIL)?;
        let theirs2 = theirs.try_clone().map_err(|_| E_FAIL)?;
        let mut cmd = Command::new(path);
        if let Some(a0) = argv.first() {
            cmd.arg0(a0);
        }
        let mut child = cmd
            .args(argv.iter().skip(1))
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::from(theirs2))
            .stderr(Stdio::null())
            .spawn()
            .map_err(|_| E_FAIL)?;
        // Reaped in the background so no zombie outlives the test.
        std::thread::spawn(move || child.wait());
        Ok(ours)
    }
}

impl PluginServices for HostServices {
    fn execute_binary(&self, path: &str, argv: &[String]) -> Result<OwnedFd, i32> {
        self.spawn(path, argv)
    }

    fn execute_binary_in_distribution(
        &self,
        distro: GUID,
        path: &str,
        argv: &[String],
    ) -> Result<OwnedFd, i32> {
        if !self.running_distros.lock().unwrap().contains(&distro) {
            return Err(WSL_E_VM_MODE_INVALID_STATE);
        }
        self.spawn(path, argv)
    }

    fn mount_folder(
        &self,
        host_path: &Path,
        vm_path: &str,
        read_only: bool,
        name: &str,
    ) -> Result<(), i32> {
        if !host_path.exists() {
            return Err(hresult_from_win32(win32::ERROR_FILE_NOT_FOUND));
        }
        self.mounts.lock().unwrap().push((
            host_path.to_path_buf(),
            vm_path.to_string(),
            read_only,
            name.to_string(),
        ));
        Ok(())
    }
}

pub fn guid(n: u32) -> GUID {
    GUID {
        Data1: n,
        Data2: 0xabcd,
        Data3: 0x4321,
        Data4: [1, 2, 3, 4, 5, 6, 7, 8],
    }
}
