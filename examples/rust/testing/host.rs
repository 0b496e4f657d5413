//! Runs an example plugin the way wslp does, on this machine: the real
//! `wslp_host::PluginManager` loads the built `.so` from a temporary
//! `$WSLP_ROOT`, and its API calls are served by [`HostServices`], which
//! really starts processes here (a socket pair and fork/exec) and really
//! bind-mounts folders. The machine itself plays the VM, and each
//! distribution too.
//!
//! Included by each example's tests with `#[path]`.
#![allow(dead_code)]

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use wslp_abi::hresult::{hresult_from_win32, win32, E_FAIL, WSL_E_VM_MODE_INVALID_STATE};
use wslp_abi::GUID;
use wslp_config::Settings;
use wslp_host::{HostConfig, PluginManager, PluginServices};

/// One API call the plugin made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Execute {
        path: String,
        argv: Vec<String>,
    },
    ExecuteIn {
        distro: GUID,
        path: String,
        argv: Vec<String>,
    },
    Mount {
        host: PathBuf,
        vm: String,
        read_only: bool,
        name: String,
    },
}

/// Serves a session's API calls on this machine and records them.
#[derive(Default)]
pub struct HostServices {
    pub calls: Mutex<Vec<Call>>,
    /// Distributions that count as running; others get WSL_E_VM_MODE_INVALID_STATE.
    pub running: Mutex<Vec<GUID>>,
    /// Bind mounts made, undone by [`HostServices::unmount_all`] (and on drop).
    mounts: Mutex<Vec<PathBuf>>,
}

impl HostServices {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn spawn(&self, path: &str, argv: &[String]) -> Result<OwnedFd, i32> {
        let (ours, theirs) = UnixStream::pair().map_err(|_| E_FAIL)?;
        let theirs: OwnedFd = theirs.into();
        let mut cmd = Command::new(path);
        if let Some(arg0) = argv.first() {
            cmd.arg0(arg0);
        }
        let child = cmd
            .args(argv.iter().skip(1))
            .stdin(Stdio::from(theirs.try_clone().map_err(|_| E_FAIL)?))
            .stdout(Stdio::from(theirs))
            // As in the VM, stderr goes to the log: here, the test's output.
            .stderr(Stdio::inherit())
            .spawn()
            // SPEC §5: a missing binary is E_FAIL.
            .map_err(|_| E_FAIL)?;
        // Reaped in the background so no zombie outlives the test.
        std::thread::spawn(move || {
            let mut child = child;
            let _ = child.wait();
        });
        Ok(ours.into())
    }

    pub fn unmount_all(&self) {
        for target in self.mounts.lock().unwrap().drain(..).rev() {
            let c = CString::new(target.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: umount2 reads a NUL-terminated path; nothing else is touched.
            // Failure is not fatal here (this also runs in Drop): the tests check
            // that the mount is gone, and Root's Drop sweeps what is left.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

impl Drop for HostServices {
    fn drop(&mut self) {
        self.unmount_all();
    }
}

impl PluginServices for HostServices {
    fn execute_binary(&self, path: &str, argv: &[String]) -> Result<OwnedFd, i32> {
        self.calls.lock().unwrap().push(Call::Execute {
            path: path.to_string(),
            argv: argv.to_vec(),
        });
        self.spawn(path, argv)
    }

    fn execute_binary_in_distribution(
        &self,
        distro: GUID,
        path: &str,
        argv: &[String],
    ) -> Result<OwnedFd, i32> {
        self.calls.lock().unwrap().push(Call::ExecuteIn {
            distro,
            path: path.to_string(),
            argv: argv.to_vec(),
        });
        if !self.running.lock().unwrap().contains(&distro) {
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
        self.calls.lock().unwrap().push(Call::Mount {
            host: host_path.to_path_buf(),
            vm: vm_path.to_string(),
            read_only,
            name: name.to_string(),
        });
        if !host_path.exists() {
            return Err(hresult_from_win32(win32::ERROR_FILE_NOT_FOUND));
        }
        std::fs::create_dir_all(vm_path).map_err(|_| E_FAIL)?;
        let src = CString::new(host_path.as_os_str().as_encoded_bytes()).unwrap();
        let dst = CString::new(vm_path).unwrap();
        // SAFETY: mount(2) with NUL-terminated paths and no data; a bind mount.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(hresult_from_win32(win32::ERROR_ACCESS_DENIED));
        }
        self.mounts.lock().unwrap().push(PathBuf::from(vm_path));
        if read_only {
            let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
            // SAFETY: as above; remounts the bind mount read-only.
            let rc = unsafe {
                libc::mount(
                    std::ptr::null(),
                    dst.as_ptr(),
                    std::ptr::null(),
                    flags,
                    std::ptr::null(),
                )
            };
            if rc != 0 {
                return Err(E_FAIL);
            }
        }
        Ok(())
    }
}

/// Builds the example's shared object (with `wslp_testing::build_plugin`: a
/// package's tests only get its rlib from cargo) and returns its path.
pub fn built_plugin(file_name: &str) -> PathBuf {
    let so =
        wslp_testing::build_plugin(env!("CARGO_MANIFEST_DIR")).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        so.ends_with(file_name),
        "built {} instead of {file_name}",
        so.display()
    );
    so
}

/// A private `$WSLP_ROOT` with one registered plugin, copied into it so that
/// files the plugin keeps beside itself land in the temporary directory.
pub struct Root {
    pub dir: tempfile::TempDir,
    pub plugin: PathBuf,
}

impl Root {
    pub fn new(built: &Path, plugin_name: &str) -> Root {
        let dir = tempfile::tempdir().expect("a temporary WSLP_ROOT");
        let plugin_dir = dir.path().join("plugins");
        std::fs::create_dir(&plugin_dir).unwrap();
        let plugin = plugin_dir.join(built.file_name().unwrap());
        std::fs::copy(built, &plugin).unwrap();
        std::fs::write(
            dir.path().join("plugins.toml"),
            format!(
                "[plugins]\n{plugin_name} = {:?}\n",
                plugin.display().to_string()
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("wslp.toml"), "require_signatures = false\n").unwrap();
        Root { dir, plugin }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Loads the registry with the real plugin manager.
    pub fn load(&self) -> PluginManager {
        let settings = Settings::load(self.path()).expect("wslp.toml");
        let manager = PluginManager::load(HostConfig {
            wslp_root: self.path().to_path_buf(),
            settings,
        });
        if let Some(f) = manager.load_failure() {
            panic!("the plugin did not load:\n{f}");
        }
        manager
    }
}

/// Undoes any mount left below the root (a test that failed before
/// `unmount_all`, with the services still referenced by the host), so a
/// failing test leaks nothing.
impl Drop for Root {
    fn drop(&mut self) {
        let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
            return;
        };
        let prefix = self.path().to_path_buf();
        let mut targets: Vec<PathBuf> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            // /proc/mounts escapes spaces as \040; temporary paths have none.
            .map(PathBuf::from)
            .filter(|t| t.starts_with(&prefix))
            .collect();
        targets.sort_by_key(|t| std::cmp::Reverse(t.components().count()));
        for t in targets {
            let c = CString::new(t.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: umount2 reads a NUL-terminated path; nothing else is touched.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

pub fn guid(n: u8) -> GUID {
    GUID {
        Data1: 0x5eed0000 | n as u32,
        Data2: 0xabcd,
        Data3: 0x4ef0,
        Data4: [0x80, 1, 2, 3, 4, 5, 6, n],
    }
}
