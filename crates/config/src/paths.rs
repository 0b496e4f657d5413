//! Where one instance keeps its files. Everything hangs off `$WSLP_ROOT`
//! (default `/var/lib/wslp`), so two roots never see each other.

use std::path::{Path, PathBuf};

pub const DEFAULT_ROOT: &str = "/var/lib/wslp";

#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
}

impl Paths {
    /// `$WSLP_ROOT`, or the default. A relative value is made absolute so the
    /// service and its clients agree whatever their working directories.
    pub fn from_env() -> Paths {
        let root = std::env::var_os("WSLP_ROOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT));
        Paths::new(&root)
    }

    pub fn new(root: &Path) -> Paths {
        let root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|d| d.join(root))
                .unwrap_or_else(|_| root.to_path_buf())
        };
        Paths { root }
    }

    pub fn socket(&self) -> PathBuf {
        self.root.join("wslpd.sock")
    }
    pub fn lock(&self) -> PathBuf {
        self.root.join("wslpd.lock")
    }
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn service_log(&self) -> PathBuf {
        self.logs().join("wslpd.log")
    }
    pub fn vm_log(&self) -> PathBuf {
        self.logs().join("vm.log")
    }
    pub fn vm_state(&self) -> PathBuf {
        self.root.join("vm")
    }
    pub fn trust(&self) -> PathBuf {
        self.root.join("trust")
    }
    pub fn plugins_toml(&self) -> PathBuf {
        self.root.join("plugins.toml")
    }
    pub fn settings_toml(&self) -> PathBuf {
        self.root.join("wslp.toml")
    }
}
