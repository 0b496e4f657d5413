//! `$WSLP_ROOT/wslp.toml`: the service's settings (SPEC §2, §8, §9).
//!
//! A missing file means defaults. An unknown key is a warning, not an error, so a
//! newer file still works with an older wslp. A value of the wrong type or range is
//! an error naming the file and line: guessing what the user meant for a security
//! switch like `require_signatures` would be worse than refusing.

use std::path::Path;
use std::time::Duration;

use wslp_abi::{WSLVersion, WSL_API_VERSION};

use crate::network::{Ipv4Cidr, NatBackend, NetworkingMode, MAX_NAT_PREFIX};
use crate::toml_util::{item_line, key_line, parse_spanned, read_checked};
use crate::ConfigError;

pub const SETTINGS_FILE: &str = "wslp.toml";

const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

/// WSL's: its VM has half the host's memory, and a tmpfs without `size=`
/// takes half of that.
pub const DEFAULT_TMPFS_SIZE: &str = "25%";

/// Whether `size` is a tmpfs size: digits, then nothing, `k`, `m`, `g` (either
/// case) or `%`, not zero (which tmpfs reads as "no limit").
pub fn valid_tmpfs_size(size: &str) -> bool {
    let digits = size.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G', '%']);
    size.len() - digits.len() <= 1
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.bytes().any(|b| b != b'0')
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Plugins must carry a trusted signature (false is the test-signing switch).
    pub require_signatures: bool,
    /// WSL's vmIdleTimeout; -1 = never.
    pub vm_idle_timeout_ms: i64,
    /// -1 = never.
    pub distro_idle_timeout_ms: i64,
    /// The service exits after this long with the VM stopped and no client; -1 = never.
    pub service_idle_timeout_ms: i64,
    /// How long a plugin's entry point or hook may run (SPEC §8); -1 = never.
    pub hook_timeout_ms: i64,
    /// A WSLC session VM stops after this long with no running container
    /// and no operation in flight (SPEC §11); -1 = never.
    pub wslc_idle_timeout_ms: i64,
    /// Plugins loaded in the service itself rather than in a plugin-host process.
    pub in_process_plugins: Vec<String>,
    /// One of error, warn, info, debug, trace.
    pub log_level: String,
    /// What every plugin's entry point sees in `Api->Version` (SPEC §1): the WSL API
    /// level to pretend to be, so plugin authors can test their version checks
    /// against an older WSL.
    pub api_version: WSLVersion,
    /// `size=` of the tmpfs on `/tmp`, `/run` and `/dev/shm` of the VM and of
    /// each distribution: bytes with an optional k, m or g, or a percentage
    /// of the host's RAM.
    pub tmpfs_size: String,
    /// SPEC §9: how the VM reaches the network.
    pub networking_mode: NetworkingMode,
    /// SPEC §9: the nat subnet; `None` picks one that no host route uses.
    pub nat_subnet: Option<Ipv4Cidr>,
    /// SPEC §9: listening TCP ports of the VM show on the host's 127.0.0.1 (nat only).
    pub localhost_forwarding: bool,
    /// Which parts make nat (docs/networking.md).
    pub nat_backend: NatBackend,
    /// Unknown keys, one message each; the caller logs them.
    pub warnings: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            require_signatures: true,
            vm_idle_timeout_ms: 60_000,
            distro_idle_timeout_ms: 15_000,
            service_idle_timeout_ms: 60_000,
            hook_timeout_ms: 30_000,
            wslc_idle_timeout_ms: 30_000,
            in_process_plugins: Vec::new(),
            log_level: "info".to_string(),
            api_version: WSL_API_VERSION,
            tmpfs_size: DEFAULT_TMPFS_SIZE.to_string(),
            networking_mode: NetworkingMode::Nat,
            nat_subnet: None,
            localhost_forwarding: true,
            nat_backend: NatBackend::Auto,
            warnings: Vec::new(),
        }
    }
}

/// `-1` (never) becomes `None`.
pub fn timeout(ms: i64) -> Option<Duration> {
    (ms >= 0).then(|| Duration::from_millis(ms as u64))
}

impl Settings {
    /// Reads `$WSLP_ROOT/wslp.toml`; a missing file gives the defaults.
    ///
    /// SPEC §3: only a root-only setting turns the signature check off. A file that
    /// someone other than root (or the service's own user) owns, or that group or
    /// others may write, keeps `require_signatures = true` whatever it says, with a
    /// warning.
    pub fn load(wslp_root: &Path) -> Result<Settings, ConfigError> {
        let path = wslp_root.join(SETTINGS_FILE);
        // Owner and mode come from the descriptor the text was read through.
        let Some((text, owner)) = read_checked(&path)? else {
            return Ok(Settings::default());
        };
        let mut s = Settings::parse(&text, &path)?;
        if !s.require_signatures && !only_admin_can_write(owner.uid, owner.mode) {
            s.require_signatures = true;
            s.warnings.push(format!(
                "{}: require_signatures = false ignored: the file is owned by uid {} with mode {:o}; \
                 only a file owned by root and not group- or world-writable may turn signatures off",
                path.display(),
                owner.uid,
                owner.mode & 0o7777
            ));
        }
        Ok(s)
    }

    /// Parses settings text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Settings, ConfigError> {
        let doc = parse_spanned(text, path)?;
        let mut s = Settings::default();
        for (key, item) in doc.as_table().iter() {
            let line = item_line(text, item).unwrap_or(1);
            let bad = |message: String| ConfigError::Malformed {
                path: path.to_path_buf(),
                line,
                message,
            };
            match key {
                "require_signatures" => {
                    s.require_signatures = item
                        .as_bool()
                        .ok_or_else(|| bad("require_signatures must be true or false".into()))?
                }
                "vm_idle_timeout_ms" => {
                    s.vm_idle_timeout_ms = timeout_value(key, item).map_err(bad)?
                }
                "distro_idle_timeout_ms" => {
                    s.distro_idle_timeout_ms = timeout_value(key, item).map_err(bad)?
                }
                "service_idle_timeout_ms" => {
                    s.service_idle_timeout_ms = timeout_value(key, item).map_err(bad)?
                }
                "hook_timeout_ms" => s.hook_timeout_ms = timeout_value(key, item).map_err(bad)?,
                "wslc_idle_timeout_ms" => {
                    s.wslc_idle_timeout_ms = timeout_value(key, item).map_err(bad)?
                }
                "in_process_plugins" => {
                    let arr = item.as_array().ok_or_else(|| {
                        bad("in_process_plugins must be a list of plugin names".into())
                    })?;
                    s.in_process_plugins = arr
                        .iter()
                        .map(|v| v.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| bad("in_process_plugins must hold strings only".into()))?;
                }
                "log_level" => {
                    let level = item.as_str().filter(|l| LOG_LEVELS.contains(l));
                    s.log_level = level
                        .ok_or_else(|| {
                            bad(format!(
                                "log_level must be one of {}",
                                LOG_LEVELS.join(", ")
                            ))
                        })?
                        .to_string();
                }
                "api_version" => {
                    s.api_version = item
                        .as_str()
                        .and_then(parse_version)
                        .ok_or_else(|| {
                            bad(format!(
                                "api_version must be a string \"MAJOR.MINOR.REVISION\" of whole numbers, \
                                 such as \"{}\"",
                                version_string(WSL_API_VERSION)
                            ))
                        })?;
                }
                "tmpfs_size" => {
                    s.tmpfs_size =
                        item.as_str()
                            .filter(|v| valid_tmpfs_size(v))
                            .ok_or_else(|| {
                                bad("tmpfs_size must be a string: bytes with an optional k, m or g \
                                 (\"512m\"), or a percentage of RAM (\"25%\")"
                                .into())
                            })?
                            .to_string();
                }
                "networking_mode" => {
                    s.networking_mode =
                        item.as_str()
                            .and_then(NetworkingMode::parse)
                            .ok_or_else(|| {
                                bad(format!(
                                    "networking_mode must be one of \"{}\"",
                                    NetworkingMode::NAMES.join("\", \"")
                                ))
                            })?;
                }
                "nat_subnet" => {
                    let text = item.as_str().ok_or_else(|| {
                        bad("nat_subnet must be a string such as \"172.29.0.0/24\"".into())
                    })?;
                    let cidr: Ipv4Cidr =
                        text.parse().map_err(|e| bad(format!("nat_subnet: {e}")))?;
                    if cidr.prefix() > MAX_NAT_PREFIX {
                        return Err(bad(format!(
                            "nat_subnet {cidr} is too small: it needs the gateway and the VM, \
                             so a prefix of at most /{MAX_NAT_PREFIX}"
                        )));
                    }
                    s.nat_subnet = Some(cidr);
                }
                "localhost_forwarding" => {
                    s.localhost_forwarding = item
                        .as_bool()
                        .ok_or_else(|| bad("localhost_forwarding must be true or false".into()))?
                }
                "nat_backend" => {
                    s.nat_backend = item.as_str().and_then(NatBackend::parse).ok_or_else(|| {
                        bad(format!(
                            "nat_backend must be one of \"{}\"",
                            NatBackend::NAMES.join("\", \"")
                        ))
                    })?;
                }
                other => {
                    let line = doc
                        .as_table()
                        .key(other)
                        .and_then(|k| key_line(text, k))
                        .unwrap_or(line);
                    s.warnings.push(format!(
                        "{}:{line}: unknown setting '{other}', ignored",
                        path.display()
                    ));
                }
            }
        }
        Ok(s)
    }

    /// `hook_timeout_ms` as a duration, `None` for never.
    pub fn hook_timeout(&self) -> Option<Duration> {
        timeout(self.hook_timeout_ms)
    }

    /// `wslc_idle_timeout_ms` as a duration, `None` for never.
    pub fn wslc_idle_timeout(&self) -> Option<Duration> {
        timeout(self.wslc_idle_timeout_ms)
    }

    /// Whether `name` runs in the service itself (SPEC §8 `in_process_plugins`).
    pub fn is_in_process(&self, name: &str) -> bool {
        self.in_process_plugins.iter().any(|n| n == name)
    }
}

/// Owned by root (or by the user the service runs as, for a developer's private
/// instance) and not writable by group or others.
fn only_admin_can_write(uid: u32, mode: u32) -> bool {
    (uid == 0 || uid == rustix::process::geteuid().as_raw()) && mode & 0o022 == 0
}

/// `"2.1.2"` → 2.1.2; `None` unless exactly three dot-separated u32s (no sign,
/// no spaces), so a typo is reported rather than read as some other version.
pub fn parse_version(text: &str) -> Option<WSLVersion> {
    let mut parts = text.split('.').map(|p| {
        p.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| p.parse::<u32>().ok())
            .flatten()
    });
    let v = WSLVersion {
        Major: parts.next()??,
        Minor: parts.next()??,
        Revision: parts.next()??,
    };
    parts.next().is_none().then_some(v)
}

/// `2.9.5` → `"2.9.5"`, the form `api_version` takes.
pub fn version_string(v: WSLVersion) -> String {
    format!("{}.{}.{}", v.Major, v.Minor, v.Revision)
}

fn timeout_value(key: &str, item: &toml_edit::Item) -> Result<i64, String> {
    match item.as_integer() {
        Some(v) if v >= -1 => Ok(v),
        _ => Err(format!(
            "{key} must be a whole number of milliseconds, or -1 for never"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Settings, ConfigError> {
        Settings::parse(t, Path::new("/root/wslp.toml"))
    }

    #[test]
    fn defaults_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load(dir.path()).unwrap();
        assert_eq!(s, Settings::default());
        assert!(s.require_signatures);
        assert_eq!(s.vm_idle_timeout_ms, 60000);
        assert_eq!(s.distro_idle_timeout_ms, 15000);
        assert_eq!(s.service_idle_timeout_ms, 60000);
        assert_eq!(s.hook_timeout_ms, 30000);
        assert_eq!(s.log_level, "info");
        assert_eq!(s.hook_timeout(), Some(Duration::from_secs(30)));
        assert_eq!(version_string(s.api_version), "2.9.5");
    }

    #[test]
    fn all_keys() {
        let s = parse(
            "require_signatures = false\nvm_idle_timeout_ms = -1\ndistro_idle_timeout_ms = 5\n\
             service_idle_timeout_ms = 7\nhook_timeout_ms = -1\nin_process_plugins = [\"A\", \"B\"]\n\
             log_level = \"debug\"\napi_version = \"2.0.5\"\n",
        )
        .unwrap();
        assert!(!s.require_signatures);
        assert_eq!(s.vm_idle_timeout_ms, -1);
        assert_eq!(s.distro_idle_timeout_ms, 5);
        assert_eq!(s.service_idle_timeout_ms, 7);
        assert_eq!(s.hook_timeout(), None);
        assert!(s.is_in_process("B"));
        assert!(!s.is_in_process("C"));
        assert_eq!(s.log_level, "debug");
        assert_eq!(
            s.api_version,
            WSLVersion {
                Major: 2,
                Minor: 0,
                Revision: 5
            }
        );
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn signatures_stay_on_when_others_can_write_the_settings() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SETTINGS_FILE);
        std::fs::write(&path, "require_signatures = false\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(!Settings::load(dir.path()).unwrap().require_signatures);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let s = Settings::load(dir.path()).unwrap();
        assert!(s.require_signatures);
        assert!(
            s.warnings[0].contains("require_signatures = false ignored"),
            "{:?}",
            s.warnings
        );
        assert!(only_admin_can_write(0, 0o100644));
        assert!(!only_admin_can_write(0, 0o100664));
        assert!(
            !only_admin_can_write(12345, 0o100644) || rustix::process::geteuid().as_raw() == 12345
        );
    }

    #[test]
    fn unknown_key_warns_with_line() {
        let s = parse("log_level = \"warn\"\nfrobnicate = 1\n").unwrap();
        assert_eq!(s.log_level, "warn");
        assert_eq!(
            s.warnings,
            vec!["/root/wslp.toml:2: unknown setting 'frobnicate', ignored".to_string()]
        );
    }

    #[test]
    fn wrong_types_name_file_and_line() {
        let e = parse("log_level = \"info\"\nrequire_signatures = \"no\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/root/wslp.toml:2: require_signatures must be"),
            "{e}"
        );
        let e = parse("\n\nhook_timeout_ms = -2\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/root/wslp.toml:3: hook_timeout_ms"),
            "{e}"
        );
        let e = parse("log_level = \"loud\"\n").unwrap_err();
        assert!(e.to_string().contains("log_level must be one of"), "{e}");
        let e = parse("in_process_plugins = [1]\n").unwrap_err();
        assert!(e.to_string().contains("strings only"), "{e}");
    }

    #[test]
    fn tmpfs_size_takes_tmpfs_syntax_only() {
        assert_eq!(parse("").unwrap().tmpfs_size, "25%");
        for good in ["512m", "2G", "10%", "65536"] {
            assert_eq!(
                parse(&format!("tmpfs_size = \"{good}\"\n"))
                    .unwrap()
                    .tmpfs_size,
                good
            );
        }
        for bad in ["\"0\"", "\"1,mode=4777\"", "\"lots\"", "512", "\"\""] {
            let e = parse(&format!("\ntmpfs_size = {bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(":2: tmpfs_size must be"), "{bad}: {e}");
        }
    }

    #[test]
    fn networking_settings() {
        let s = Settings::default();
        assert_eq!(s.networking_mode, NetworkingMode::Nat);
        assert_eq!(s.nat_subnet, None);
        assert!(s.localhost_forwarding);
        assert_eq!(s.nat_backend, NatBackend::Auto);
        let s = parse(
            "networking_mode = \"mirrored\"\nnat_subnet = \"172.30.16.0/20\"\n\
             localhost_forwarding = false\nnat_backend = \"pasta\"\n",
        )
        .unwrap();
        assert_eq!(s.networking_mode, NetworkingMode::Mirrored);
        assert_eq!(s.nat_subnet, Some("172.30.16.0/20".parse().unwrap()));
        assert!(!s.localhost_forwarding);
        assert_eq!(s.nat_backend, NatBackend::Pasta);
        assert!(s.warnings.is_empty());
        for (text, line, says) in [
            (
                "\nnetworking_mode = \"bridged\"\n",
                2,
                "networking_mode must be one of \"nat\", \"mirrored\", \"none\"",
            ),
            ("networking_mode = 1\n", 1, "networking_mode must be one of"),
            (
                "\n\nnat_subnet = \"10.0.0.1/24\"\n",
                3,
                "nat_subnet: 10.0.0.1/24 has host bits set; the subnet is 10.0.0.0/24",
            ),
            (
                "nat_subnet = \"10.0.0.0\"\n",
                1,
                "nat_subnet: \"10.0.0.0\" is not of the form a.b.c.d/n",
            ),
            (
                "nat_subnet = \"10.0.0.0/31\"\n",
                1,
                "nat_subnet 10.0.0.0/31 is too small",
            ),
            ("nat_subnet = 10\n", 1, "nat_subnet must be a string"),
            (
                "localhost_forwarding = \"yes\"\n",
                1,
                "localhost_forwarding must be true or false",
            ),
            (
                "nat_backend = \"slirp\"\n",
                1,
                "nat_backend must be one of \"auto\", \"kernel\", \"pasta\"",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("/root/wslp.toml:{line}: {says}")),
                "{text:?}: {e}"
            );
        }
    }

    #[test]
    fn api_version_must_be_three_whole_numbers() {
        let v = |major, minor, revision| WSLVersion {
            Major: major,
            Minor: minor,
            Revision: revision,
        };
        assert_eq!(parse_version("2.1.2"), Some(v(2, 1, 2)));
        assert_eq!(parse_version("0.0.0"), Some(v(0, 0, 0)));
        assert_eq!(parse_version("4294967295.0.10"), Some(v(u32::MAX, 0, 10)));
        for bad in [
            "",
            "2",
            "2.1",
            "2.1.2.0",
            "2.1.",
            ".1.2",
            "2..2",
            "v2.1.2",
            "2.1.2 ",
            " 2.1.2",
            "+2.1.2",
            "-1.0.0",
            "2.1.x",
            "4294967296.0.0",
            "2,1,2",
        ] {
            assert_eq!(parse_version(bad), None, "{bad:?}");
        }
        for (text, line) in [
            ("log_level = \"info\"\napi_version = \"2.1\"\n", 2),
            ("\n\n\napi_version = 2\n", 4),
            ("api_version = [2, 1, 2]\n", 1),
        ] {
            let e = parse(text).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with(&format!("/root/wslp.toml:{line}: api_version must be")),
                "{e}"
            );
            assert!(e.to_string().contains("\"2.9.5\""), "{e}");
        }
    }

    #[test]
    fn malformed_names_file_and_line() {
        let e = parse("log_level = \"info\"\nvm_idle_timeout_ms = = 3\n").unwrap_err();
        match e {
            ConfigError::Malformed { line, ref path, .. } => {
                assert_eq!(line, 2);
                assert_eq!(path, Path::new("/root/wslp.toml"));
            }
            other => panic!("{other}"),
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC{0,200}") {
            let _ = Settings::parse(&text, Path::new("/r/wslp.toml"));
        }

        #[test]
        fn timeouts_round_trip(ms in -1i64..i64::MAX) {
            let s = Settings::parse(&format!("hook_timeout_ms = {ms}\n"), Path::new("/x")).unwrap();
            prop_assert_eq!(s.hook_timeout_ms, ms);
            prop_assert_eq!(s.hook_timeout().is_none(), ms == -1);
        }

        #[test]
        fn api_versions_round_trip(major: u32, minor: u32, revision: u32) {
            let v = WSLVersion { Major: major, Minor: minor, Revision: revision };
            let text = format!("api_version = \"{}\"\n", version_string(v));
            let s = Settings::parse(&text, Path::new("/x")).unwrap();
            prop_assert_eq!(s.api_version, v);
        }
    }
}
