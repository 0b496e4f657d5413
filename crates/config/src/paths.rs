//! Where one instance keeps its files. Everything hangs off `$WSLP_ROOT`, so
//! two roots never see each other. With `WSLP_ROOT` unset, root uses the
//! system instance at `/var/lib/wslp` and every other user a private one at
//! `$XDG_DATA_HOME/wslp` (default `~/.local/share/wslp`), whose socket is in
//! `$XDG_RUNTIME_DIR` when that is set (SPEC §10).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub const DEFAULT_ROOT: &str = "/var/lib/wslp";

/// The socket's name, in the root or in `$XDG_RUNTIME_DIR`.
const SOCKET_NAME: &str = "wslpd.sock";

#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
    /// Where the service listens: `root/wslpd.sock` unless a per-user
    /// default put it in `$XDG_RUNTIME_DIR` (or `$WSLP_SOCKET` says).
    socket: PathBuf,
}

/// Which instance a root is, for `wslp --status` and for who may change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceKind {
    /// Root's instance (the default `/var/lib/wslp`, or any root root owns).
    System,
    /// A user's private instance: its root belongs to that user.
    PerUser { uid: u32 },
}

impl Paths {
    /// `$WSLP_ROOT`, or the default for whoever runs us (see the module
    /// documentation). A relative value is made absolute so the service and
    /// its clients agree whatever their working directories.
    pub fn from_env() -> Paths {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let euid = rustix::process::geteuid().as_raw();
        let mut paths = match var("WSLP_ROOT") {
            Some(root) => Paths::new(Path::new(&root)),
            None => Paths::default_for(
                euid,
                var("XDG_DATA_HOME"),
                var("HOME"),
                var("XDG_RUNTIME_DIR"),
            ),
        };
        // A client hands the service the socket it computed, so both agree
        // even when the service's environment differs.
        if let Some(s) = var("WSLP_SOCKET") {
            paths.socket = absolute(Path::new(&s));
        }
        paths
    }

    /// The default instance of `euid` from its environment: pure, for tests.
    pub fn default_for(
        euid: u32,
        xdg_data_home: Option<OsString>,
        home: Option<OsString>,
        xdg_runtime_dir: Option<OsString>,
    ) -> Paths {
        if euid == 0 {
            return Paths::new(Path::new(DEFAULT_ROOT));
        }
        // XDG says relative values are invalid and to be ignored.
        let abs = |v: Option<OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
        let data = abs(xdg_data_home)
            .or_else(|| abs(home).map(|h| h.join(".local/share")))
            .or_else(|| home_of(euid).map(|h| h.join(".local/share")))
            .unwrap_or_else(|| std::env::temp_dir().join(format!("wslp-{euid}")));
        let mut paths = Paths::new(&data.join("wslp"));
        if let Some(run) = abs(xdg_runtime_dir) {
            paths.socket = run.join(SOCKET_NAME);
        }
        paths
    }

    pub fn new(root: &Path) -> Paths {
        let root = absolute(root);
        Paths {
            socket: root.join(SOCKET_NAME),
            root,
        }
    }

    /// Whose instance this is: the owner of its root; before it exists, the
    /// caller's when the caller may create it (the nearest existing
    /// directory above it is theirs or writable by them), else root's.
    pub fn kind(&self) -> InstanceKind {
        use std::os::unix::fs::MetadataExt;
        let euid = rustix::process::geteuid().as_raw();
        let owner = match std::fs::metadata(&self.root) {
            Ok(m) => m.uid(),
            // The system instance's place is root's even before it exists.
            Err(_) if self.root == Path::new(DEFAULT_ROOT) => 0,
            Err(_) => {
                let mine = self.root.ancestors().skip(1).find_map(|a| {
                    let m = std::fs::metadata(a).ok()?;
                    Some(
                        m.uid() == euid
                            || rustix::fs::access(a, rustix::fs::Access::WRITE_OK).is_ok(),
                    )
                });
                if mine == Some(true) {
                    euid
                } else {
                    0
                }
            }
        };
        match owner {
            0 => InstanceKind::System,
            uid => InstanceKind::PerUser { uid },
        }
    }

    /// Whether the caller may change this instance's registry, settings,
    /// trust store and distributions: root, or the owner of a per-user
    /// instance (SPEC §7, §10).
    pub fn may_administer(&self) -> bool {
        let euid = rustix::process::geteuid().as_raw();
        euid == 0 || self.kind() == InstanceKind::PerUser { uid: euid }
    }

    pub fn socket(&self) -> PathBuf {
        self.socket.clone()
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

/// Whether this process is root of the host itself: euid 0 in the initial
/// user namespace. A per-user instance's service is root too, of a user
/// namespace of its own (SPEC §10), and may do only what its user may on the
/// host: no kernel NAT, no idmapped mounts, no device nodes, no other ids.
pub fn is_host_root() -> bool {
    rustix::process::geteuid().is_root() && in_initial_user_namespace()
}

/// Whether this process is in the host's user namespace (the one whose map
/// is the identity over every id).
pub fn in_initial_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
        .unwrap_or(true)
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// The home directory of `uid` in `/etc/passwd`, for a service started
/// without `$HOME` (by a systemd unit, say).
fn home_of(uid: u32) -> Option<PathBuf> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.get(2)?.parse::<u32>().ok()? == uid && f.get(5)?.starts_with('/'))
            .then(|| PathBuf::from(f[5]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_keeps_the_system_instance() {
        let p = Paths::default_for(
            0,
            Some("/x".into()),
            Some("/root".into()),
            Some("/run/user/0".into()),
        );
        assert_eq!(p.root, Path::new("/var/lib/wslp"));
        assert_eq!(p.socket(), Path::new("/var/lib/wslp/wslpd.sock"));
    }

    #[test]
    fn a_user_gets_xdg_paths() {
        let p = Paths::default_for(
            1000,
            None,
            Some("/home/u".into()),
            Some("/run/user/1000".into()),
        );
        assert_eq!(p.root, Path::new("/home/u/.local/share/wslp"));
        assert_eq!(p.socket(), Path::new("/run/user/1000/wslpd.sock"));
        let p = Paths::default_for(1000, Some("/data".into()), Some("/home/u".into()), None);
        assert_eq!(p.root, Path::new("/data/wslp"));
        assert_eq!(p.socket(), Path::new("/data/wslp/wslpd.sock"));
        // Relative XDG values are ignored, as the XDG spec says.
        let p = Paths::default_for(
            1000,
            Some("rel".into()),
            Some("/home/u".into()),
            Some("run".into()),
        );
        assert_eq!(p.root, Path::new("/home/u/.local/share/wslp"));
        assert_eq!(
            p.socket(),
            Path::new("/home/u/.local/share/wslp/wslpd.sock")
        );
    }
}
