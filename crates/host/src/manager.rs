//! [`PluginManager`]: loads the registry's plugins and dispatches hooks with WSL's
//! policy (SPEC §3, §4). The policy is written once here against
//! [`PluginInstance`], whatever runs the plugin.
//!
//! WSL's behaviour followed (`PluginManager.cpp`): plugins are called in registry
//! order, synchronously; the first OnVMStarted/OnDistributionStarted failure stops
//! the loop and fails the start; stop and registration hooks only log; a hook that
//! called PluginError and returned success fails with E_ILLEGAL_STATE_CHANGE; a load
//! failure is remembered (the last one, as WSL's `m_pluginError.emplace` keeps) and
//! fails every VM start before any hook runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wslp_abi::hresult::{hresult_from_win32, hresult_name, win32, E_ILLEGAL_STATE_CHANGE};
use wslp_abi::messages::{self, Stage};

use crate::api::{self, PluginServices};
use crate::instance::{
    DistroInfo, HookCall, OfflineDistroInfo, PluginInstance, Session, WslcSession,
};
use crate::loader::{self, LoadOptions};
use crate::trace;
use wslp_config::registry::read_registry;
use wslp_config::Settings;

/// Where the manager finds its files and how it behaves.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub wslp_root: PathBuf,
    pub settings: Settings,
}

/// A failure the user sees. `Display` is exactly SPEC's two-line text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFailure {
    pub plugin: String,
    pub code: i32,
    /// What the plugin passed to PluginError (or the crash/timeout message).
    pub message: Option<String>,
    pub text: String,
}

impl std::fmt::Display for PluginFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for PluginFailure {}

struct Slot {
    name: String,
    path: PathBuf,
    instance: Result<Box<dyn PluginInstance>, i32>,
}

pub struct PluginManager {
    config: HostConfig,
    slots: Vec<Slot>,
    /// Fails every VM start: a plugin that did not load, or an unreadable registry.
    load_failure: Option<PluginFailure>,
    warnings: Vec<String>,
    /// uid → session id, so a user's SessionId is stable for the manager's life.
    sessions: Mutex<HashMap<u32, u32>>,
}

impl PluginManager {
    /// Reads the registry and loads every plugin (SPEC §3). Never fails as a whole:
    /// per-plugin load failures are remembered and reported at each VM start.
    pub fn load(config: HostConfig) -> PluginManager {
        let trust_dir = config.wslp_root.join("trust");
        let opts = LoadOptions {
            require_signatures: config.settings.require_signatures,
            trust_dir: &trust_dir,
            hook_timeout: config.settings.hook_timeout(),
            api_version: config.settings.api_version,
        };
        let mut manager = PluginManager {
            config,
            slots: Vec::new(),
            load_failure: None,
            warnings: Vec::new(),
            sessions: Mutex::new(HashMap::new()),
        };
        let entries = match read_registry(&manager.config.wslp_root) {
            Ok((entries, warnings)) => {
                for w in &warnings {
                    tracing::warn!("{w}");
                }
                manager.warnings = warnings;
                entries
            }
            Err(e) => {
                // Fail closed: silently running without the registry's plugins could
                // skip one the user relies on (a security or mount plugin).
                tracing::error!(error = %e, "cannot read the plugin registry; every VM start will fail");
                let code = hresult_from_win32(win32::ERROR_INVALID_DATA);
                manager.load_failure = Some(PluginFailure {
                    plugin: String::new(),
                    code,
                    message: Some(e.to_string()),
                    text: format!("{e}\n{}", messages::error_code_line(Stage::CreateVm, code)),
                });
                return manager;
            }
        };
        let wants_host = entries
            .iter()
            .any(|e| !manager.config.settings.is_in_process(&e.name));
        let host_exe = if wants_host { find_plugin_host() } else { None };
        if wants_host && host_exe.is_none() {
            // Fail closed: loading every plugin in the service instead would let
            // one crash take the service down, which nobody asked for.
            let text = format!(
                "The plugin host {PLUGIN_HOST_BIN} was found neither in ${PLUGIN_HOST_ENV}, next to {}, nor in PATH, so no plugin can load.\n\
                 Install {PLUGIN_HOST_BIN} beside wslpd, or list the plugins to load inside the service in in_process_plugins in {}.",
                std::env::current_exe().map_or_else(|_| "the service".into(), |p| p.display().to_string()),
                manager.config.wslp_root.join("wslp.toml").display(),
            );
            tracing::error!("{text}");
            manager.load_failure = Some(PluginFailure {
                plugin: String::new(),
                code: hresult_from_win32(win32::ERROR_FILE_NOT_FOUND),
                message: None,
                text,
            });
            return manager;
        }
        for entry in entries {
            let in_process = manager.config.settings.is_in_process(&entry.name);
            let instance = match (&host_exe, in_process) {
                (Some(exe), false) => {
                    loader::load_out_of_process(&entry.name, &entry.path, &opts, exe)
                }
                _ => loader::load_in_process(&entry.name, &entry.path, &opts),
            };
            let instance = match instance {
                Ok(i) => {
                    let mode = if host_exe.is_some() && !in_process {
                        "its own plugin host"
                    } else {
                        "the service"
                    };
                    tracing::info!(plugin = %entry.name, path = %entry.path.display(), "plugin loaded in {mode}");
                    Ok(i)
                }
                Err(f) => {
                    tracing::error!(
                        plugin = %entry.name,
                        code = %hresult_name(f.hr),
                        detail = %f.detail,
                        "plugin failed to load; every VM start will fail until it is fixed or removed"
                    );
                    let text = match &f.message {
                        // A plugin host that crashed or hung in the entry point (SPEC §8).
                        Some(m) => messages::fatal_plugin_error(
                            &entry.name,
                            Some(m),
                            Stage::CreateVm,
                            f.hr,
                        ),
                        None => messages::load_failure(&entry.name, f.hr),
                    };
                    manager.load_failure = Some(PluginFailure {
                        plugin: entry.name.clone(),
                        code: f.hr,
                        message: f.message.clone(),
                        text,
                    });
                    Err(f.hr)
                }
            };
            manager.slots.push(Slot {
                name: entry.name,
                path: entry.path,
                instance,
            });
        }
        manager
    }

    /// Registry warnings (skipped values, duplicate files) from [`PluginManager::load`].
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The failure every VM start reports, if a plugin did not load. The service may
    /// check it before starting the VM.
    pub fn load_failure(&self) -> Option<&PluginFailure> {
        self.load_failure.as_ref()
    }

    /// The session of `uid`, without binding services: for hooks that run while the
    /// VM is stopped (registration), whose API calls then get RPC_E_DISCONNECTED.
    pub fn session(&self, uid: u32) -> Session {
        let mut map = crate::sync::lock(&self.sessions);
        let id = *map.entry(uid).or_insert_with(api::allocate_session_id);
        Session { id, uid }
    }

    /// Creates (or re-opens) `uid`'s session and binds the services the plugins' API
    /// calls go to. Call when the VM is up.
    pub fn open_session(&self, uid: u32, services: Arc<dyn PluginServices>) -> Session {
        let session = self.session(uid);
        api::bind_session(session.id, services);
        session
    }

    /// Later API calls with this session id get RPC_E_DISCONNECTED.
    pub fn close_session(&self, session: &Session) {
        api::unbind_session(session.id);
    }

    fn loaded(&self) -> impl Iterator<Item = (&str, &dyn PluginInstance)> {
        self.slots
            .iter()
            .filter_map(|s| s.instance.as_ref().ok().map(|i| (s.name.as_str(), &**i)))
    }

    /// The loaded plugins that set `hook`, in order: a hook left NULL is not
    /// called (it would answer S_OK without running anything).
    fn with_hook<'a>(
        &'a self,
        hook: &'a HookCall<'_>,
    ) -> impl Iterator<Item = (&'a str, &'a dyn PluginInstance)> {
        self.loaded().filter(|(_, i)| i.hooks() & hook.bit() != 0)
    }

    /// A start hook: the first failure stops the loop and is returned.
    fn dispatch_fatal(&self, hook: &HookCall<'_>, stage: Stage) -> Result<(), PluginFailure> {
        let timeout = self.config.settings.hook_timeout();
        for (name, instance) in self.with_hook(hook) {
            let out = call_traced(name, instance, hook, timeout);
            if out.hr < 0 {
                tracing::error!(plugin = name, hook = hook.name(), code = %hresult_name(out.hr), message = ?out.message, "plugin hook failed");
                return Err(PluginFailure {
                    plugin: name.to_string(),
                    code: out.hr,
                    text: messages::fatal_plugin_error(name, out.message.as_deref(), stage, out.hr),
                    message: out.message,
                });
            }
            if out.message.is_some() {
                tracing::error!(plugin = name, hook = hook.name(), message = ?out.message, "plugin emitted an error message but returned success");
                return Err(PluginFailure {
                    plugin: name.to_string(),
                    code: E_ILLEGAL_STATE_CHANGE,
                    message: out.message,
                    text: messages::error_then_success(name, stage),
                });
            }
        }
        Ok(())
    }

    /// A stop or registration hook: every plugin is called; failures are only logged.
    fn dispatch_logged(&self, hook: &HookCall<'_>) {
        let timeout = self.config.settings.hook_timeout();
        for (name, instance) in self.with_hook(hook) {
            let out = call_traced(name, instance, hook, timeout);
            if out.hr < 0 {
                tracing::warn!(plugin = name, hook = hook.name(), code = %hresult_name(out.hr), message = ?out.message, "plugin hook failed; going on");
            }
        }
    }

    /// OnVMStarted for every plugin in order. Reports the remembered load failure
    /// first, without calling any hook. When a hook fails, every loaded plugin gets
    /// OnVMStopping (the VM is torn down), as WSL does — the failing one and those
    /// after it included.
    pub fn on_vm_started(
        &self,
        s: &Session,
        custom_configuration_flags: u32,
    ) -> Result<(), PluginFailure> {
        if let Some(f) = &self.load_failure {
            return Err(f.clone());
        }
        let hook = HookCall::VmStarted {
            session: s,
            custom_configuration_flags,
        };
        self.dispatch_fatal(&hook, Stage::CreateVm)
            .inspect_err(|_| {
                self.on_vm_stopping(s);
            })
    }

    pub fn on_vm_stopping(&self, s: &Session) {
        self.dispatch_logged(&HookCall::VmStopping { session: s });
    }

    /// OnDistributionStarted for every plugin in order; the first failure fails the
    /// start. The caller must then not raise OnDistributionStopping for it (SPEC §4).
    pub fn on_distribution_started(
        &self,
        s: &Session,
        d: &DistroInfo,
    ) -> Result<(), PluginFailure> {
        self.dispatch_fatal(
            &HookCall::DistributionStarted {
                session: s,
                distro: d,
            },
            Stage::CreateInstance,
        )
    }

    pub fn on_distribution_stopping(&self, s: &Session, d: &DistroInfo) {
        self.dispatch_logged(&HookCall::DistributionStopping {
            session: s,
            distro: d,
        });
    }

    pub fn on_distribution_registered(&self, s: &Session, d: &OfflineDistroInfo) {
        self.dispatch_logged(&HookCall::DistributionRegistered {
            session: s,
            distro: d,
        });
    }

    pub fn on_distribution_unregistered(&self, s: &Session, d: &OfflineDistroInfo) {
        self.dispatch_logged(&HookCall::DistributionUnregistered {
            session: s,
            distro: d,
        });
    }

    /// OnSessionCreated (SPEC §11): the first failure fails the session's
    /// creation with `Wsl/Service/CreateSession/Plugin/<code>`; the caller
    /// then raises no other hook for it. A plugin that did not load fails it
    /// too, as it fails a VM start.
    pub fn on_session_created(&self, w: &WslcSession) -> Result<(), PluginFailure> {
        if let Some(f) = &self.load_failure {
            return Err(f.clone());
        }
        self.dispatch_fatal(&HookCall::SessionCreated { wslc: w }, Stage::CreateSession)
    }

    pub fn on_session_stopping(&self, w: &WslcSession) {
        self.dispatch_logged(&HookCall::SessionStopping { wslc: w });
    }

    /// WslcVmStarted: each start of the session VM, the engine ready. Logged.
    pub fn on_wslc_vm_started(&self, w: &WslcSession) {
        self.dispatch_logged(&HookCall::WslcVmStarted { wslc: w });
    }

    /// WslcVmStopping: once per WslcVmStarted, before the VM goes. Logged.
    pub fn on_wslc_vm_stopping(&self, w: &WslcSession) {
        self.dispatch_logged(&HookCall::WslcVmStopping { wslc: w });
    }

    /// ContainerStarted: the first failure is returned with
    /// `Wsl/Service/Container/Plugin/<code>`; the caller stops the container.
    pub fn on_container_started(
        &self,
        w: &WslcSession,
        inspect: &str,
    ) -> Result<(), PluginFailure> {
        self.dispatch_fatal(
            &HookCall::ContainerStarted { wslc: w, inspect },
            Stage::Container,
        )
    }

    pub fn on_container_stopping(&self, w: &WslcSession, container_id: &str) {
        self.dispatch_logged(&HookCall::ContainerStopping {
            wslc: w,
            container_id,
        });
    }

    pub fn on_image_created(&self, w: &WslcSession, inspect: &str) {
        self.dispatch_logged(&HookCall::ImageCreated { wslc: w, inspect });
    }

    pub fn on_image_deleted(&self, w: &WslcSession, image_id: &str) {
        self.dispatch_logged(&HookCall::ImageDeleted { wslc: w, image_id });
    }

    /// Every registry entry that was tried, in order, with its load result.
    pub fn plugins(&self) -> Vec<(String, PathBuf, Result<(), i32>)> {
        self.slots
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.path.clone(),
                    s.instance.as_ref().map(|_| ()).map_err(|hr| *hr),
                )
            })
            .collect()
    }

    pub fn wslp_root(&self) -> &Path {
        &self.config.wslp_root
    }
}

/// One plugin's hook, with its trace event when someone traces (SPEC §13).
fn call_traced(
    name: &str,
    instance: &dyn PluginInstance,
    hook: &HookCall<'_>,
    timeout: Option<std::time::Duration>,
) -> crate::instance::HookOutcome {
    let started = trace::start();
    let out = instance.call(hook, timeout);
    if let Some(t) = started {
        trace::hook(t, name, hook, &out);
    }
    out
}

/// The plugin-host binary's file name.
pub const PLUGIN_HOST_BIN: &str = "wslp-plugin-host";
/// Overrides where the plugin-host binary is looked for.
pub const PLUGIN_HOST_ENV: &str = "WSLP_PLUGIN_HOST";

/// Where the plugin-host binary is: `$WSLP_PLUGIN_HOST`, else beside the running
/// executable (wslpd and the host are installed together), else one level up when
/// the executable sits in cargo's `deps/` or `examples/` directory (test and example
/// binaries), else PATH. `None` when there is none: plugins then load in process.
pub fn find_plugin_host() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(PLUGIN_HOST_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if is_executable(&p) {
            return Some(p);
        }
        tracing::warn!(path = %p.display(), "${PLUGIN_HOST_ENV} does not name an executable file; ignored");
    }
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let cargo_subdir = matches!(
            dir.file_name().and_then(|n| n.to_str()),
            Some("deps" | "examples")
        );
        let parent = dir.parent().map(Path::to_path_buf);
        dirs.push(dir);
        if let (true, Some(parent)) = (cargo_subdir, parent) {
            dirs.push(parent);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .map(|d| d.join(PLUGIN_HOST_BIN))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Drop for PluginManager {
    fn drop(&mut self) {
        let map = crate::sync::lock(&self.sessions);
        for id in map.values() {
            api::unbind_session(*id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manager_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<PluginManager>();
        shared::<PluginFailure>();
    }

    #[test]
    fn empty_root_loads_nothing_and_starts() {
        let dir = tempfile::tempdir().unwrap();
        let m = PluginManager::load(HostConfig {
            wslp_root: dir.path().to_path_buf(),
            settings: Settings::default(),
        });
        assert!(m.plugins().is_empty());
        assert!(m.load_failure().is_none());
        let s = m.session(0);
        assert_eq!(m.on_vm_started(&s, 0), Ok(()));
        // Different managers never share session ids.
        let m2 = PluginManager::load(HostConfig {
            wslp_root: dir.path().to_path_buf(),
            settings: Settings::default(),
        });
        assert_ne!(m2.session(0).id, s.id);
    }
}
