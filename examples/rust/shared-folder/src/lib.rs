//! A WSL plugin that shares one host folder with every distribution.
//!
//! When the VM starts it mounts the host folder into the VM (MountFolder, at
//! `vm_path`, by default `/mnt/wsl/<name>`: below `/mnt/wsl`, which WSL shares
//! with every distribution; wslp's VM does not yet, and the setup script then
//! reports the folder as not visible). When a distribution starts it runs a setup script
//! inside it, as root (ExecuteBinaryInDistribution), that makes the folder
//! available at `distro_path` (a symbolic link, by default `/mnt/<name>`) and
//! writes a profile snippet exporting `WSLP_SHARED_FOLDER`. The script's exit
//! status is read with the SDK's status trailer.
//!
//! Configuration: the TOML file named by `WSLP_SHARED_FOLDER_CONFIG`, or
//! `shared-folder.toml` beside the plugin:
//!
//! ```toml
//! host_path = "/srv/team"     # required: the host folder (a Windows path on Windows)
//! name = "team"               # default "shared"
//! vm_path = "/mnt/wsl/team"   # default "/mnt/wsl/<name>"
//! distro_path = "/mnt/team"   # default "/mnt/<name>"
//! read_only = false           # default false
//! required = false            # default false: failures are logged, nothing stops
//! profile_script = "/etc/profile.d/wslp-team.sh"  # default as shown; "" for none
//! setup_script = "..."        # replaces the built-in script; gets $1..$4 as it does
//! ```
//!
//! With `required = true`, a folder that cannot be mounted fails the VM start
//! and a setup script that fails fails the distribution's start, with the
//! reason shown to the user. A configuration that is missing or wrong is
//! reported at VM start (the entry point cannot show a message).

#![deny(unsafe_code)]

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use wslp_sdk::hresult::{hresult_from_win32, win32, E_INVALIDARG};
use wslp_sdk::{export_plugin, Api, Distribution, Error, Plugin, Result, Session, VmSettings};

/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "WSLP_SHARED_FOLDER_CONFIG";
/// The configuration file's name beside the plugin.
pub const CONFIG_NAME: &str = "shared-folder.toml";

/// The built-in setup script, run in each distribution as
/// `/bin/sh -c SCRIPT wslp-shared-folder VM_PATH DISTRO_PATH NAME PROFILE_SCRIPT`.
/// Its output (stderr included) is logged, and shown when it fails.
pub const SETUP_SCRIPT: &str = r#"exec 2>&1
vm=$1 target=$2 name=$3 profile=$4
if [ ! -d "$vm" ]; then
    echo "the shared folder $vm is not visible in this distribution"
    exit 3
fi
if [ "$target" != "$vm" ]; then
    mkdir -p "$(dirname "$target")" || exit 4
    if [ -L "$target" ] || [ ! -e "$target" ]; then
        ln -sfn "$vm" "$target" || exit 4
    elif [ ! "$target" -ef "$vm" ]; then
        echo "$target exists and is not the shared folder; leaving it alone"
        exit 5
    fi
fi
if [ -n "$profile" ]; then
    mkdir -p "$(dirname "$profile")" || exit 6
    printf "export WSLP_SHARED_FOLDER='%s'\n" "$target" > "$profile" || exit 6
fi
echo "shared folder $name ready at $target"
"#;

/// The configuration file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    host_path: PathBuf,
    name: Option<String>,
    vm_path: Option<String>,
    distro_path: Option<String>,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    required: bool,
    profile_script: Option<String>,
    setup_script: Option<String>,
}

/// The configuration with its defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The host folder.
    pub host_path: PathBuf,
    /// The mount's name.
    pub name: String,
    /// Where the folder is mounted in the VM.
    pub vm_path: String,
    /// Where it appears in each distribution.
    pub distro_path: String,
    /// Mount read-only.
    pub read_only: bool,
    /// Failures are fatal instead of logged.
    pub required: bool,
    /// The profile snippet written in each distribution; `None` for none.
    pub profile_script: Option<String>,
    /// The script run in each distribution.
    pub setup_script: String,
}

impl Config {
    /// Parses and checks a configuration; `origin` names it in messages.
    pub fn parse(text: &str, origin: &Path) -> std::result::Result<Config, String> {
        let bad = |m: String| format!("{}: {m}", origin.display());
        let f: ConfigFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let name = f.name.unwrap_or_else(|| "shared".to_string());
        if name.is_empty() || name.contains(['/', '\'', '\0']) || name.starts_with('.') {
            return Err(bad(format!(
                "name '{name}' must be non-empty, not start with '.', and have no '/' or quote"
            )));
        }
        let vm_path = f.vm_path.unwrap_or_else(|| format!("/mnt/wsl/{name}"));
        let distro_path = f.distro_path.unwrap_or_else(|| format!("/mnt/{name}"));
        let profile_script = match f.profile_script {
            None => Some(format!("/etc/profile.d/wslp-{name}.sh")),
            Some(p) if p.is_empty() => None,
            Some(p) => Some(p),
        };
        for (key, p) in [
            ("vm_path", Some(&vm_path)),
            ("distro_path", Some(&distro_path)),
            ("profile_script", profile_script.as_ref()),
        ] {
            let Some(p) = p else { continue };
            if !p.starts_with('/') || p.contains(['\'', '\0']) {
                return Err(bad(format!(
                    "{key} '{p}' must be an absolute Linux path without quotes"
                )));
            }
        }
        if !f.host_path.is_absolute() {
            return Err(bad(format!(
                "host_path '{}' must be absolute",
                f.host_path.display()
            )));
        }
        Ok(Config {
            host_path: f.host_path,
            name,
            vm_path,
            distro_path,
            read_only: f.read_only,
            required: f.required,
            profile_script,
            setup_script: f.setup_script.unwrap_or_else(|| SETUP_SCRIPT.to_string()),
        })
    }

    /// The arguments after `/bin/sh` that run the setup script.
    pub fn setup_args(&self) -> Vec<&str> {
        vec![
            "-c",
            &self.setup_script,
            "wslp-shared-folder",
            &self.vm_path,
            &self.distro_path,
            &self.name,
            self.profile_script.as_deref().unwrap_or(""),
        ]
    }
}

/// Where the configuration is read from.
fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(CONFIG_ENV) {
        return Some(PathBuf::from(p));
    }
    Some(wslp_sdk::plugin_file()?.parent()?.join(CONFIG_NAME))
}

fn load_config() -> std::result::Result<Config, Error> {
    let path = config_path().ok_or_else(|| {
        Error::with_message(
            hresult_from_win32(win32::ERROR_FILE_NOT_FOUND),
            format!("no configuration: set {CONFIG_ENV} or put {CONFIG_NAME} beside the plugin"),
        )
    })?;
    let text = std::fs::read_to_string(&path).map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            hresult_from_win32(win32::ERROR_FILE_NOT_FOUND)
        } else {
            Error::from(std::io::Error::from(e.kind())).code()
        };
        Error::with_message(
            code,
            format!(
                "cannot read the configuration {}: {e} (set {CONFIG_ENV} or put {CONFIG_NAME} beside the plugin)",
                path.display()
            ),
        )
    })?;
    Config::parse(&text, &path).map_err(|m| Error::with_message(E_INVALIDARG, m))
}

/// The plugin.
pub struct SharedFolder {
    api: Api,
    config: std::result::Result<Config, Error>,
    /// Whether the folder is mounted in the running VM.
    mounted: AtomicBool,
}

impl Plugin for SharedFolder {
    fn new(api: Api) -> Result<Self> {
        let config = load_config();
        match &config {
            Ok(c) => log::info!(
                "sharing {} as '{}' at {} (VM) and {} (distributions)",
                c.host_path.display(),
                c.name,
                c.vm_path,
                c.distro_path
            ),
            // Reported at VM start, where the user sees the message.
            Err(e) => log::error!("{e}"),
        }
        Ok(SharedFolder {
            api,
            config,
            mounted: AtomicBool::new(false),
        })
    }

    fn on_vm_started(&self, session: &Session<'_>, _settings: &VmSettings) -> Result<()> {
        self.mounted.store(false, Ordering::SeqCst);
        let c = self.config.as_ref().map_err(Clone::clone)?;
        let mounted =
            self.api
                .mount_folder(session, &c.host_path, &c.vm_path, c.read_only, &c.name);
        match mounted {
            Ok(()) => {
                self.mounted.store(true, Ordering::SeqCst);
                log::info!("mounted {} at {}", c.host_path.display(), c.vm_path);
                Ok(())
            }
            Err(e) => {
                let e = Error::with_message(
                    e.code(),
                    format!(
                        "the shared folder {} could not be mounted at {}: {}; check host_path",
                        c.host_path.display(),
                        c.vm_path,
                        e.message().unwrap_or("failed"),
                    ),
                );
                if c.required {
                    Err(e)
                } else {
                    log::warn!("{e}; going on without it (required = false)");
                    Ok(())
                }
            }
        }
    }

    fn on_vm_stopping(&self, _session: &Session<'_>) -> Result<()> {
        self.mounted.store(false, Ordering::SeqCst);
        Ok(())
    }

    fn on_distribution_started(&self, session: &Session<'_>, d: &Distribution<'_>) -> Result<()> {
        let Ok(c) = &self.config else { return Ok(()) };
        if !self.mounted.load(Ordering::SeqCst) {
            return Ok(());
        }
        let name = d.name();
        let out = self.api.execute_binary_in_distribution_status(
            session,
            &d.id(),
            "/bin/sh",
            &c.setup_args(),
        );
        let failure = match out {
            Ok(out) if out.success() => {
                log::info!("{name}: {}", out.stdout_text());
                return Ok(());
            }
            Ok(out) => Error::failed(format!(
                "setting up the shared folder '{}' in {name} failed (exit status {}): {}",
                c.name,
                out.status,
                out.stdout_text()
            )),
            Err(e) => e,
        };
        if c.required {
            Err(failure)
        } else {
            log::warn!("{failure}; going on (required = false)");
            Ok(())
        }
    }
}

export_plugin!(SharedFolder, min_version = (2, 1, 2));

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<Config, String> {
        Config::parse(text, Path::new("/etc/shared-folder.toml"))
    }

    #[test]
    fn defaults() {
        let c = parse("host_path = '/srv/team'").unwrap();
        assert_eq!(c.name, "shared");
        assert_eq!(c.vm_path, "/mnt/wsl/shared");
        assert_eq!(c.distro_path, "/mnt/shared");
        assert_eq!(
            c.profile_script.as_deref(),
            Some("/etc/profile.d/wslp-shared.sh")
        );
        assert!(!c.read_only && !c.required);
        assert_eq!(c.setup_script, SETUP_SCRIPT);
    }

    #[test]
    fn everything_set() {
        let c = parse(
            "host_path = '/srv/t'\nname = 'team'\nvm_path = '/v'\ndistro_path = '/d'\n\
             read_only = true\nrequired = true\nprofile_script = ''\nsetup_script = 'true'",
        )
        .unwrap();
        assert_eq!(
            c.setup_args(),
            ["-c", "true", "wslp-shared-folder", "/v", "/d", "team", ""]
        );
        assert!(c.read_only && c.required);
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let e = parse("name = 'x'").unwrap_err();
        assert!(e.starts_with("/etc/shared-folder.toml: "), "{e}");
        assert!(e.contains("host_path"), "{e}");
        let e = parse("host_path = '/a'\nvm_path = 'rel'").unwrap_err();
        assert!(e.contains("vm_path 'rel'"), "{e}");
        let e = parse("host_path = 'rel'").unwrap_err();
        assert!(e.contains("must be absolute"), "{e}");
        let e = parse("host_path = '/a'\nname = '../x'").unwrap_err();
        assert!(e.contains("name"), "{e}");
        let e = parse("host_path = '/a'\ncolour = 'red'").unwrap_err();
        assert!(e.contains("colour"), "{e}");
    }

    /// The built-in script, run by the real /bin/sh in a scratch directory.
    #[cfg(unix)]
    #[test]
    fn setup_script_links_and_writes_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let vm = dir.path().join("vm");
        std::fs::create_dir(&vm).unwrap();
        std::fs::write(vm.join("hello"), "hi").unwrap();
        let target = dir.path().join("deep/target");
        let profile = dir.path().join("profile.d/x.sh");
        let run = |vm: &Path| {
            std::process::Command::new("/bin/sh")
                .args(["-c", SETUP_SCRIPT, "wslp-shared-folder"])
                .arg(vm)
                .arg(&target)
                .arg("team")
                .arg(&profile)
                .output()
                .unwrap()
        };
        let out = run(&vm);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(std::fs::read_to_string(target.join("hello")).unwrap(), "hi");
        assert_eq!(
            std::fs::read_to_string(&profile).unwrap(),
            format!("export WSLP_SHARED_FOLDER='{}'\n", target.display())
        );
        // Idempotent: a distribution starts many times.
        assert!(run(&vm).status.success());
        // A folder that is not there is reported, not papered over.
        let out = run(&dir.path().join("absent"));
        assert_eq!(out.status.code(), Some(3));
        assert!(String::from_utf8_lossy(&out.stdout).contains("is not visible"));
    }
}
