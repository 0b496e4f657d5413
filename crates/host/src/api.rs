//! The state behind the plugin API table, and the API calls' semantics (SPEC §5).
//!
//! The C callbacks get no context pointer, so what they act on is process-global:
//! a map from session id to the [`PluginServices`] serving it, and a thread-local
//! "hook in progress" record for PluginError (WSL keeps the message thread-local
//! too: only the thread running the hook may set it). Session ids come from one
//! process-wide counter, so several managers can coexist in one process.
//!
//! `ffi` decodes raw pointers and calls the safe functions here.

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, OnceLock, RwLock};

use wslp_abi::hresult::{
    E_ILLEGAL_METHOD_CALL, E_ILLEGAL_STATE_CHANGE, E_INVALIDARG, RPC_E_DISCONNECTED, S_OK,
};
use wslp_abi::GUID;

use crate::trace;

/// What plugins' VM calls are served by. The service implements it with the real VM.
pub trait PluginServices: Send + Sync {
    /// Starts `path` in the VM's root namespace; the returned socket is its stdin/stdout.
    fn execute_binary(&self, path: &str, argv: &[String]) -> Result<OwnedFd, i32>;
    /// Same, inside a running distribution, as root.
    fn execute_binary_in_distribution(
        &self,
        distro: GUID,
        path: &str,
        argv: &[String],
    ) -> Result<OwnedFd, i32>;
    /// Mounts `host_path` at `vm_path` in the VM's root namespace.
    fn mount_folder(
        &self,
        host_path: &Path,
        vm_path: &str,
        read_only: bool,
        name: &str,
    ) -> Result<(), i32>;
}

type SessionMap = HashMap<u32, Arc<dyn PluginServices>>;

static SESSIONS: LazyLock<RwLock<SessionMap>> = LazyLock::new(|| RwLock::new(HashMap::new()));
static NEXT_SESSION_ID: AtomicU32 = AtomicU32::new(1);

pub(crate) fn allocate_session_id() -> u32 {
    NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed)
}

pub(crate) fn bind_session(id: u32, services: Arc<dyn PluginServices>) {
    crate::sync::write(&SESSIONS).insert(id, services);
}

pub(crate) fn unbind_session(id: u32) {
    crate::sync::write(&SESSIONS).remove(&id);
}

/// The services of a live session. Cloned out so no lock is held while the VM works
/// (a plugin may call back from another thread meanwhile).
fn services(id: u32) -> Option<Arc<dyn PluginServices>> {
    crate::sync::read(&SESSIONS).get(&id).cloned()
}

/// Where the API calls of a plugin-host process go: the service, over the api socket.
/// Set once at plugin-host start; never set in the service itself.
///
/// `traced`: someone traces this plugin; the service then records the call
/// as it serves it (its duration is the service's, without the ~20 µs hop),
/// which costs nothing more than the call itself. Calls answered in the host
/// (PluginError, a NULL out-pointer) are sent as `Trace` frames instead.
pub(crate) trait ApiForwarder: Send + Sync {
    fn mount_folder(
        &self,
        session: u32,
        host_path: Option<String>,
        vm_path: Option<String>,
        read_only: bool,
        name: Option<String>,
        traced: bool,
    ) -> i32;
    fn execute_binary(
        &self,
        session: u32,
        path: Option<String>,
        argv: Vec<String>,
        traced: bool,
    ) -> Result<OwnedFd, i32>;
    fn execute_binary_in_distribution(
        &self,
        session: u32,
        distro: Option<GUID>,
        path: Option<String>,
        argv: Vec<String>,
        traced: bool,
    ) -> Result<OwnedFd, i32>;
}

static FORWARDER: OnceLock<Box<dyn ApiForwarder>> = OnceLock::new();

/// Makes this process a plugin host: VM calls go to `f`. PluginError stays local,
/// because its rules are about the plugin's own threads.
pub(crate) fn set_forwarder(f: Box<dyn ApiForwarder>) {
    if FORWARDER.set(f).is_err() {
        panic!("the API forwarder is set once, at plugin-host start");
    }
}

struct HookContext {
    accepts_error: bool,
    message: Option<String>,
    /// The plugin whose hook this is, for the trace of its API calls.
    plugin: &'static str,
}

/// Plugins loaded in this process (names leaked: plugins are never unloaded).
static IN_PROCESS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());

pub(crate) fn register_in_process(plugin: &'static str) {
    crate::sync::lock(&IN_PROCESS).push(plugin);
}

/// Which plugin an API call made on this thread belongs to (the C callbacks
/// carry no context): the one whose hook runs here, else the only plugin loaded
/// in this process. `None` when neither says.
pub(crate) fn current_plugin() -> Option<&'static str> {
    CURRENT_HOOK
        .with(|c| c.borrow().as_ref().map(|ctx| ctx.plugin))
        .or_else(|| match crate::sync::lock(&IN_PROCESS).as_slice() {
            [only] => Some(*only),
            _ => None,
        })
}

thread_local! {
    static CURRENT_HOOK: RefCell<Option<HookContext>> = const { RefCell::new(None) };
}

/// Marks this thread as running a hook for the scope's life.
pub(crate) struct HookScope {
    previous: Option<Option<HookContext>>,
}

impl HookScope {
    pub(crate) fn enter(accepts_error: bool, plugin: &'static str) -> HookScope {
        let previous = CURRENT_HOOK.with(|c| {
            c.replace(Some(HookContext {
                accepts_error,
                message: None,
                plugin,
            }))
        });
        HookScope {
            previous: Some(previous),
        }
    }

    /// Ends the hook; returns what it passed to PluginError.
    pub(crate) fn finish(mut self) -> Option<String> {
        self.restore().and_then(|c| c.message)
    }

    fn restore(&mut self) -> Option<HookContext> {
        let previous = self.previous.take()?;
        CURRENT_HOOK.with(|c| c.replace(previous))
    }
}

impl Drop for HookScope {
    fn drop(&mut self) {
        self.restore();
    }
}

/// PluginError(message): `None` is a NULL pointer.
pub(crate) fn plugin_error(message: Option<String>) -> i32 {
    let traced = trace::start().map(|t| (t, vec![trace::arg("message", message.clone())]));
    let hr = set_plugin_error(message);
    if let Some((t, args)) = traced {
        trace::api_call(t, "PluginError", args, hr);
    }
    hr
}

fn set_plugin_error(message: Option<String>) -> i32 {
    let Some(message) = message else {
        return E_INVALIDARG;
    };
    CURRENT_HOOK.with(|c| match c.borrow_mut().as_mut() {
        Some(ctx) if ctx.accepts_error => {
            if ctx.message.is_some() {
                E_ILLEGAL_STATE_CHANGE
            } else {
                ctx.message = Some(message);
                S_OK
            }
        }
        // Another hook, another thread, or no hook at all.
        _ => E_ILLEGAL_METHOD_CALL,
    })
}

pub(crate) fn mount_folder(
    session: u32,
    host_path: Option<String>,
    vm_path: Option<String>,
    read_only: bool,
    name: Option<String>,
) -> i32 {
    let traced = trace::start().map(|t| {
        (
            t,
            mount_args(session, &host_path, &vm_path, read_only, &name),
        )
    });
    let hr = match FORWARDER.get() {
        // The service traces what it serves for a plugin host (see `ApiForwarder`).
        Some(f) => {
            return f.mount_folder(
                session,
                host_path,
                vm_path,
                read_only,
                name,
                traced.is_some(),
            )
        }
        None => serve_mount_folder(session, host_path, vm_path, read_only, name),
    };
    if let Some((t, args)) = traced {
        trace::api_call(t, "MountFolder", args, hr);
    }
    hr
}

/// The trace's arguments of MountFolder.
pub(crate) fn mount_args(
    session: u32,
    host_path: &Option<String>,
    vm_path: &Option<String>,
    read_only: bool,
    name: &Option<String>,
) -> Vec<(String, trace::TraceValue)> {
    vec![
        trace::arg("session", session),
        trace::arg("host_path", host_path.clone()),
        trace::arg("vm_path", vm_path.clone()),
        trace::arg("read_only", read_only),
        trace::arg("name", name.clone()),
    ]
}

/// The trace's arguments of ExecuteBinary and ExecuteBinaryInDistribution.
pub(crate) fn exec_args(
    session: u32,
    distro: Option<Option<GUID>>,
    path: &Option<String>,
    argv: &[String],
) -> Vec<(String, trace::TraceValue)> {
    let mut a = vec![trace::arg("session", session)];
    if let Some(d) = distro {
        a.push(trace::arg("distribution_id", d.map(|g| g.to_string())));
    }
    a.push(trace::arg("path", path.clone()));
    a.push(trace::arg("argv", argv.to_vec()));
    a
}

pub(crate) fn result_hr(r: &Result<OwnedFd, i32>) -> i32 {
    r.as_ref().err().copied().unwrap_or(S_OK)
}

/// ExecuteBinary; `has_out` is false when the plugin passed a NULL socket pointer.
pub(crate) fn execute_binary(
    session: u32,
    path: Option<String>,
    argv: Vec<String>,
    has_out: bool,
) -> Result<OwnedFd, i32> {
    let traced = trace::start().map(|t| (t, exec_args(session, None, &path, &argv)));
    let r = match FORWARDER.get() {
        _ if !has_out => Err(E_INVALIDARG),
        Some(f) => return f.execute_binary(session, path, argv, traced.is_some()),
        None => serve_execute_binary(session, path, argv),
    };
    if let Some((t, args)) = traced {
        trace::api_call(t, "ExecuteBinary", args, result_hr(&r));
    }
    r
}

/// ExecuteBinaryInDistribution; `has_out` as for [`execute_binary`] (a NULL
/// GUID is checked first, as WSL does).
pub(crate) fn execute_binary_in_distribution(
    session: u32,
    distro: Option<GUID>,
    path: Option<String>,
    argv: Vec<String>,
    has_out: bool,
) -> Result<OwnedFd, i32> {
    let traced = trace::start().map(|t| (t, exec_args(session, Some(distro), &path, &argv)));
    let r = match FORWARDER.get() {
        _ if distro.is_some() && !has_out => Err(E_INVALIDARG),
        Some(f) => {
            return f.execute_binary_in_distribution(session, distro, path, argv, traced.is_some())
        }
        None => serve_execute_binary_in_distribution(session, distro, path, argv),
    };
    if let Some((t, args)) = traced {
        trace::api_call(t, "ExecuteBinaryInDistribution", args, result_hr(&r));
    }
    r
}

/// MountFolder in the service: the same code whether the plugin runs here or in a
/// plugin host, so the answers are the same.
pub(crate) fn serve_mount_folder(
    session: u32,
    host_path: Option<String>,
    vm_path: Option<String>,
    read_only: bool,
    name: Option<String>,
) -> i32 {
    let Some(services) = services(session) else {
        return RPC_E_DISCONNECTED;
    };
    let (Some(host_path), Some(vm_path)) = (host_path, vm_path) else {
        return E_INVALIDARG;
    };
    let name = name.unwrap_or_default();
    let result = services.mount_folder(Path::new(&host_path), &vm_path, read_only, &name);
    tracing::debug!(session, %host_path, %vm_path, read_only, %name, ?result, "plugin MountFolder");
    result.err().unwrap_or(S_OK)
}

pub(crate) fn serve_execute_binary(
    session: u32,
    path: Option<String>,
    argv: Vec<String>,
) -> Result<OwnedFd, i32> {
    let services = services(session).ok_or(RPC_E_DISCONNECTED)?;
    let path = path.ok_or(E_INVALIDARG)?;
    let result = services.execute_binary(&path, &argv);
    tracing::debug!(session, %path, ok = result.is_ok(), "plugin ExecuteBinary");
    result
}

pub(crate) fn serve_execute_binary_in_distribution(
    session: u32,
    distro: Option<GUID>,
    path: Option<String>,
    argv: Vec<String>,
) -> Result<OwnedFd, i32> {
    // WSL checks the GUID before the session.
    let distro = distro.ok_or(E_INVALIDARG)?;
    let services = services(session).ok_or(RPC_E_DISCONNECTED)?;
    let path = path.ok_or(E_INVALIDARG)?;
    let result = services.execute_binary_in_distribution(distro, &path, &argv);
    tracing::debug!(session, %distro, %path, ok = result.is_ok(), "plugin ExecuteBinaryInDistribution");
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_error_rules() {
        assert_eq!(plugin_error(Some("x".into())), E_ILLEGAL_METHOD_CALL);
        assert_eq!(plugin_error(None), E_INVALIDARG);
        let scope = HookScope::enter(true, "test");
        assert_eq!(plugin_error(None), E_INVALIDARG);
        assert_eq!(plugin_error(Some("first".into())), S_OK);
        assert_eq!(plugin_error(Some("second".into())), E_ILLEGAL_STATE_CHANGE);
        let other_thread = std::thread::spawn(|| plugin_error(Some("t".into())))
            .join()
            .unwrap();
        assert_eq!(other_thread, E_ILLEGAL_METHOD_CALL);
        assert_eq!(scope.finish().as_deref(), Some("first"));
        assert_eq!(plugin_error(Some("after".into())), E_ILLEGAL_METHOD_CALL);

        let scope = HookScope::enter(false, "test");
        assert_eq!(plugin_error(Some("stop".into())), E_ILLEGAL_METHOD_CALL);
        assert_eq!(scope.finish(), None);
    }

    #[test]
    fn unknown_session_is_disconnected() {
        let id = allocate_session_id();
        assert_eq!(
            execute_binary(id, Some("/bin/true".into()), vec![], true).unwrap_err(),
            RPC_E_DISCONNECTED
        );
        assert_eq!(
            mount_folder(id, Some("/".into()), Some("/x".into()), false, None),
            RPC_E_DISCONNECTED
        );
        assert_eq!(
            execute_binary_in_distribution(id, None, Some("/bin/true".into()), vec![], true)
                .unwrap_err(),
            E_INVALIDARG
        );
        assert_eq!(
            execute_binary_in_distribution(
                id,
                Some(GUID::default()),
                Some("/bin/true".into()),
                vec![],
                true
            )
            .unwrap_err(),
            RPC_E_DISCONNECTED
        );
    }
}
