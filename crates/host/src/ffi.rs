//! The one module that touches plugin code: `dlopen`, the entry point, the API table
//! handed to plugins, and hook calls through raw function pointers.
//!
//! Everything a callback decides is in [`crate::api`]; the callbacks here only turn
//! C arguments into Rust values and back. A panic never unwinds into plugin code:
//! each callback catches it and answers `E_UNEXPECTED`.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::os::fd::IntoRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
use wslp_abi::hresult::{hresult_from_win32, win32, E_INVALIDARG, E_UNEXPECTED, S_OK};
use wslp_abi::{
    from_wide, to_wide, WSLCProcessFd, WSLCProcessHandle, WSLCSessionId, WSLCSessionInformation,
    WSLDistributionInformation, WSLPluginAPIV1, WSLPluginAPI_EntryPointV1, WSLPluginHooksV1,
    WSLSessionInformation, WSLVersion, WSLVmCreationSettings, WslOfflineDistributionInformation,
    BOOL, GUID, HANDLE, HRESULT, LPCSTR, LPCWSTR, SOCKET, WSL_API_VERSION,
};

use crate::api::{self, HookScope};
use crate::instance::{
    DistroInfo, HookCall, HookOutcome, OfflineDistroInfo, PluginInstance, WslcSession,
};
use crate::wslc_api;

/// The API table at the default version. Static so its address stays valid for as
/// long as a plugin keeps the pointer (plugins store it in a global and use it from
/// any thread).
static API_TABLE: WSLPluginAPIV1 = WSLPluginAPIV1 {
    Version: WSL_API_VERSION,
    MountFolder: Some(mount_folder),
    ExecuteBinary: Some(execute_binary),
    PluginError: Some(plugin_error),
    ExecuteBinaryInDistribution: Some(execute_binary_in_distribution),
    WSLCMountFolder: Some(wslc_mount_folder),
    WSLCUnmountFolder: Some(wslc_unmount_folder),
    WSLCCreateProcess: Some(wslc_create_process),
    WSLCProcessGetFd: Some(wslc_process_get_fd),
    WSLCProcessGetExitEvent: Some(wslc_process_get_exit_event),
    WSLCProcessGetExitCode: Some(wslc_process_get_exit_code),
    WSLCReleaseProcess: Some(wslc_release_process),
};

/// The API table whose `Version` is `version` (`api_version` in wslp.toml). Tables
/// other than the default are leaked, one per distinct version, created on first use:
/// a plugin keeps the pointer for the life of the process, and a service sees only
/// the few versions its settings named.
pub(crate) fn api_table(version: WSLVersion) -> &'static WSLPluginAPIV1 {
    if version == WSL_API_VERSION {
        return &API_TABLE;
    }
    type Key = (u32, u32, u32);
    static TABLES: LazyLock<Mutex<HashMap<Key, &'static WSLPluginAPIV1>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut map = crate::sync::lock(&TABLES);
    let key = (version.Major, version.Minor, version.Revision);
    map.entry(key).or_insert_with(|| {
        Box::leak(Box::new(WSLPluginAPIV1 {
            Version: version,
            ..API_TABLE
        }))
    })
}

fn guarded(f: impl FnOnce() -> HRESULT) -> HRESULT {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        tracing::error!("panic while serving a plugin API call");
        E_UNEXPECTED
    })
}

/// # Safety
/// `p` is NULL or a NUL-terminated C string.
unsafe fn c_string(p: *const c_char) -> Option<String> {
    // SAFETY: the caller's contract.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// # Safety
/// `argv` is NULL or a NULL-terminated array of C strings.
unsafe fn c_argv(argv: *mut LPCSTR) -> Vec<String> {
    let mut out = Vec::new();
    if argv.is_null() {
        return out;
    }
    let mut i = 0;
    loop {
        // SAFETY: the array is NULL-terminated and we stop at the NULL.
        let p = unsafe { *argv.add(i) };
        if p.is_null() {
            return out;
        }
        // SAFETY: each element is a NUL-terminated C string.
        out.push(unsafe { c_string(p) }.unwrap_or_default());
        i += 1;
    }
}

/// # Safety
/// `p` is NULL or a NUL-terminated 32-bit wide string.
unsafe fn wide(p: LPCWSTR) -> Option<String> {
    // SAFETY: the caller's contract.
    unsafe { from_wide(p) }
}

unsafe extern "C" fn mount_folder(
    session: u32,
    windows_path: LPCWSTR,
    linux_path: LPCWSTR,
    read_only: BOOL,
    name: LPCWSTR,
) -> HRESULT {
    guarded(|| {
        // SAFETY: the header documents these as NUL-terminated wide strings (or NULL).
        let (host, vm, name) = unsafe { (wide(windows_path), wide(linux_path), wide(name)) };
        api::mount_folder(session, host, vm, read_only != 0, name)
    })
}

/// Writes the socket the plugin now owns, or closes it when there is nowhere to write.
///
/// # Safety
/// `out` is NULL or points to writable storage for a SOCKET.
unsafe fn hand_over(result: Result<std::os::fd::OwnedFd, i32>, out: *mut SOCKET) -> HRESULT {
    match result {
        // `api` refuses a NULL pointer before any work; never written through.
        Ok(_) if out.is_null() => E_INVALIDARG,
        Ok(fd) => {
            // SAFETY: non-NULL (checked above); the caller's contract.
            unsafe { *out = fd.into_raw_fd() };
            S_OK
        }
        Err(hr) => hr,
    }
}

unsafe extern "C" fn execute_binary(
    session: u32,
    path: LPCSTR,
    arguments: *mut LPCSTR,
    socket: *mut SOCKET,
) -> HRESULT {
    guarded(|| {
        // SAFETY: a C string and a NULL-terminated argv, per the header.
        let (path, argv) = unsafe { (c_string(path), c_argv(arguments)) };
        let result = api::execute_binary(session, path, argv, !socket.is_null());
        // SAFETY: on success `socket` is non-NULL (api refuses NULL) and the
        // plugin's out-parameter.
        unsafe { hand_over(result, socket) }
    })
}

unsafe extern "C" fn execute_binary_in_distribution(
    session: u32,
    distribution: *const GUID,
    path: LPCSTR,
    arguments: *mut LPCSTR,
    socket: *mut SOCKET,
) -> HRESULT {
    guarded(|| {
        // SAFETY: `distribution` is NULL or points to a GUID, per the header.
        let distro = unsafe { distribution.as_ref() }.copied();
        // SAFETY: a C string and a NULL-terminated argv, per the header.
        let (path, argv) = unsafe { (c_string(path), c_argv(arguments)) };
        let result =
            api::execute_binary_in_distribution(session, distro, path, argv, !socket.is_null());
        // SAFETY: on success `socket` is non-NULL (api refuses NULL).
        unsafe { hand_over(result, socket) }
    })
}

unsafe extern "C" fn plugin_error(message: LPCWSTR) -> HRESULT {
    // SAFETY: a NUL-terminated wide string or NULL, per the header.
    guarded(|| api::plugin_error(unsafe { wide(message) }))
}

// WSLC calls (SPEC §11). The parameter types are spelled as the header's
// typedefs (WSLCPluginAPI_*), which API_TABLE's field types pin down. NULL
// arguments are E_POINTER before anything else; the rest is wslc_api's.
unsafe extern "C" fn wslc_mount_folder(
    session: WSLCSessionId,
    windows_path: LPCWSTR,
    mountpoint: LPCSTR,
    read_only: BOOL,
) -> HRESULT {
    guarded(|| {
        // SAFETY: a wide and a narrow NUL-terminated string (or NULL), per the header.
        let (host, mp) = unsafe { (wide(windows_path), c_string(mountpoint)) };
        match (host, mp) {
            (Some(h), Some(m)) => wslc_api::mount_folder(session, &h, &m, read_only != 0),
            _ => wslc_api::NULL_ARGUMENT,
        }
    })
}

unsafe extern "C" fn wslc_unmount_folder(session: WSLCSessionId, mountpoint: LPCSTR) -> HRESULT {
    guarded(|| {
        // SAFETY: a NUL-terminated string or NULL, per the header.
        match unsafe { c_string(mountpoint) } {
            Some(m) => wslc_api::unmount_folder(session, &m),
            None => wslc_api::NULL_ARGUMENT,
        }
    })
}

unsafe extern "C" fn wslc_create_process(
    session: WSLCSessionId,
    executable: LPCSTR,
    arguments: *mut LPCSTR,
    env: *mut LPCSTR,
    process: *mut WSLCProcessHandle,
    errno_out: *mut c_int,
) -> HRESULT {
    guarded(|| {
        let set_errno = |v: c_int| {
            if !errno_out.is_null() {
                // SAFETY: non-NULL; the plugin's out-parameter.
                unsafe { *errno_out = v };
            }
        };
        // WSL leaves 0 when the call fails before the session is found.
        set_errno(0);
        // SAFETY: a C string and NULL-terminated arrays (or NULL), per the header.
        let (exe, mut argv, env) =
            unsafe { (c_string(executable), c_argv(arguments), c_argv(env)) };
        let Some(exe) = exe.filter(|_| !process.is_null()) else {
            return wslc_api::NULL_ARGUMENT;
        };
        if argv.is_empty() {
            argv.push(exe.clone());
        }
        match wslc_api::create_process(session, &exe, &argv, &env) {
            Ok(p) => {
                set_errno(-1);
                let handle = Box::new(wslc_api::ProcessHandle::new(p));
                // SAFETY: non-NULL (checked above); the plugin's out-parameter.
                unsafe { *process = Box::into_raw(handle).cast() };
                S_OK
            }
            Err((hr, errno)) => {
                set_errno(errno);
                hr
            }
        }
    })
}

/// The handle a WSLCCreateProcess call wrote.
///
/// # Safety
/// `process` is NULL or a handle from `wslc_create_process` not yet released.
unsafe fn process_handle<'a>(process: WSLCProcessHandle) -> Option<&'a wslc_api::ProcessHandle> {
    // SAFETY: the caller's contract: a live Box from wslc_create_process.
    unsafe { process.cast::<wslc_api::ProcessHandle>().as_ref() }
}

unsafe extern "C" fn wslc_process_get_fd(
    process: WSLCProcessHandle,
    fd: WSLCProcessFd,
    handle: *mut HANDLE,
) -> HRESULT {
    guarded(|| {
        // SAFETY: the header's contract for a WSLCProcessHandle.
        let Some(p) = (unsafe { process_handle(process) }) else {
            return wslc_api::NULL_ARGUMENT;
        };
        if handle.is_null() {
            return wslc_api::NULL_ARGUMENT;
        }
        match p.take_fd(fd) {
            Ok(owned) => {
                // SAFETY: non-NULL (checked above); the caller owns the descriptor now.
                unsafe { *handle = wslp_abi::handle_from_fd(owned.into_raw_fd()) };
                S_OK
            }
            Err(hr) => hr,
        }
    })
}

unsafe extern "C" fn wslc_process_get_exit_event(
    process: WSLCProcessHandle,
    exit_event: *mut HANDLE,
) -> HRESULT {
    guarded(|| {
        // SAFETY: the header's contract for a WSLCProcessHandle.
        let Some(p) = (unsafe { process_handle(process) }) else {
            return wslc_api::NULL_ARGUMENT;
        };
        if exit_event.is_null() {
            return wslc_api::NULL_ARGUMENT;
        }
        match p.exit_event() {
            Ok(owned) => {
                // SAFETY: non-NULL (checked above); the caller owns the descriptor now.
                unsafe { *exit_event = wslp_abi::handle_from_fd(owned.into_raw_fd()) };
                S_OK
            }
            Err(hr) => hr,
        }
    })
}

unsafe extern "C" fn wslc_process_get_exit_code(
    process: WSLCProcessHandle,
    exit_code: *mut c_int,
) -> HRESULT {
    guarded(|| {
        // SAFETY: the header's contract for a WSLCProcessHandle.
        let Some(p) = (unsafe { process_handle(process) }) else {
            return wslc_api::NULL_ARGUMENT;
        };
        if exit_code.is_null() {
            return wslc_api::NULL_ARGUMENT;
        }
        let (hr, code) = p.exit_code();
        // SAFETY: non-NULL (checked above); the plugin's out-parameter.
        unsafe { *exit_code = code };
        hr
    })
}

unsafe extern "C" fn wslc_release_process(process: WSLCProcessHandle) {
    if process.is_null() {
        return;
    }
    // SAFETY: a handle from wslc_create_process, released once (the header's contract).
    let handle = unsafe { Box::from_raw(process.cast::<wslc_api::ProcessHandle>()) };
    let _ = catch_unwind(AssertUnwindSafe(move || handle.release()));
}

/// `UserToken`/`UserSid`: non-NULL opaque handles of a uid. One leaked `u32` per
/// distinct uid, so a handle stays valid for as long as a plugin keeps it.
fn user_handle(uid: u32) -> *mut c_void {
    static HANDLES: LazyLock<Mutex<HashMap<u32, &'static u32>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut map = crate::sync::lock(&HANDLES);
    let r: &'static u32 = map.entry(uid).or_insert_with(|| Box::leak(Box::new(uid)));
    (r as *const u32).cast_mut().cast()
}

/// Why loading failed: the HRESULT the user sees and a detail for the log.
#[derive(Debug)]
pub(crate) struct LoadFailure {
    pub hr: i32,
    pub detail: String,
    /// Shown to the user beside the code: a plugin host's crash or timeout (SPEC §8).
    pub message: Option<String>,
}

/// A plugin loaded into this process.
pub(crate) struct InProcessPlugin {
    /// For the trace of its API calls (leaked: plugins are never unloaded).
    name: &'static str,
    hooks: WSLPluginHooksV1,
}

impl InProcessPlugin {
    /// `dlopen`s `path` (the plugin's own path, or `/proc/self/fd/N`), resolves the entry
    /// point and calls it once with the API table reporting `api_version`. The library is never unloaded: a plugin may have started
    /// threads or handed out pointers into itself (WSL keeps plugins until service exit).
    pub(crate) fn load(
        name: &'static str,
        path: &Path,
        api_version: WSLVersion,
    ) -> Result<InProcessPlugin, LoadFailure> {
        // SAFETY: loading runs the plugin's constructors; running plugin code is this
        // module's purpose, and the caller has already verified the file when required.
        let lib = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| {
            LoadFailure {
                hr: hresult_from_win32(win32::ERROR_MOD_NOT_FOUND),
                detail: e.to_string(),
                message: None,
            }
        })?;
        let lib = std::mem::ManuallyDrop::new(lib);
        // SAFETY: the symbol's type is the header's WSLPluginAPI_EntryPointV1.
        let entry: Result<WSLPluginAPI_EntryPointV1, _> =
            unsafe { lib.get::<WSLPluginAPI_EntryPointV1>(b"WSLPluginAPIV1_EntryPoint\0") }
                .map(|s| *s);
        let entry = entry.map_err(|e| LoadFailure {
            hr: hresult_from_win32(win32::ERROR_PROC_NOT_FOUND),
            detail: e.to_string(),
            message: None,
        })?;
        let mut hooks = WSLPluginHooksV1::default();
        let table = api_table(api_version);
        // API calls made from the entry point are this plugin's in the trace;
        // PluginError is refused there, as outside any hook.
        let scope = HookScope::enter(false, name);
        // SAFETY: the API table lives for the rest of the process and is full-size;
        // `hooks` is a zeroed full-size table the plugin fills during the call.
        let hr = unsafe { entry(table, &mut hooks) };
        drop(scope);
        if hr < 0 {
            return Err(LoadFailure {
                hr,
                detail: format!(
                    "WSLPluginAPIV1_EntryPoint returned {}",
                    wslp_abi::hresult_name(hr)
                ),
                message: None,
            });
        }
        Ok(InProcessPlugin { name, hooks })
    }

    /// The hooks the entry point set, as [`HookCall::bit`]s.
    pub(crate) fn hook_mask(&self) -> u32 {
        let h = &self.hooks;
        [
            h.OnVMStarted.is_some(),
            h.OnVMStopping.is_some(),
            h.OnDistributionStarted.is_some(),
            h.OnDistributionStopping.is_some(),
            h.OnDistributionRegistered.is_some(),
            h.OnDistributionUnregistered.is_some(),
            h.OnSessionCreated.is_some(),
            h.OnSessionStopping.is_some(),
            h.ContainerStarted.is_some(),
            h.ContainerStopping.is_some(),
            h.ImageCreated.is_some(),
            h.ImageDeleted.is_some(),
            h.WslcVmStarted.is_some(),
            h.WslcVmStopping.is_some(),
        ]
        .iter()
        .enumerate()
        .fold(0, |m, (i, set)| m | (u32::from(*set) << i))
    }

    /// The hooks the entry point set, by their names in `WSLPluginHooksV1`.
    pub(crate) fn hooks_set(&self) -> Vec<&'static str> {
        let h = &self.hooks;
        [
            ("OnVMStarted", h.OnVMStarted.is_some()),
            ("OnVMStopping", h.OnVMStopping.is_some()),
            ("OnDistributionStarted", h.OnDistributionStarted.is_some()),
            ("OnDistributionStopping", h.OnDistributionStopping.is_some()),
            (
                "OnDistributionRegistered",
                h.OnDistributionRegistered.is_some(),
            ),
            (
                "OnDistributionUnregistered",
                h.OnDistributionUnregistered.is_some(),
            ),
            ("OnSessionCreated", h.OnSessionCreated.is_some()),
            ("OnSessionStopping", h.OnSessionStopping.is_some()),
            ("ContainerStarted", h.ContainerStarted.is_some()),
            ("ContainerStopping", h.ContainerStopping.is_some()),
            ("ImageCreated", h.ImageCreated.is_some()),
            ("ImageDeleted", h.ImageDeleted.is_some()),
            ("WslcVmStarted", h.WslcVmStarted.is_some()),
            ("WslcVmStopping", h.WslcVmStopping.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, set)| set.then_some(n))
        .collect()
    }
}

fn opt_wide(s: &Option<String>) -> Option<Vec<i32>> {
    s.as_deref().map(to_wide)
}

fn ptr_of(v: &Option<Vec<i32>>) -> LPCWSTR {
    v.as_ref().map_or(ptr::null(), |v| v.as_ptr())
}

/// Wide strings of a distribution, owned for the duration of a hook call.
struct WideStrings {
    name: Vec<i32>,
    package_family_name: Vec<i32>,
    flavor: Option<Vec<i32>>,
    version: Option<Vec<i32>>,
}

impl WideStrings {
    fn new(name: &str, flavor: &Option<String>, version: &Option<String>) -> Self {
        WideStrings {
            name: to_wide(name),
            // WSL passes an empty string, never NULL, and plugins rely on it.
            package_family_name: to_wide(""),
            flavor: opt_wide(flavor),
            version: opt_wide(version),
        }
    }

    fn online(&self, d: &DistroInfo) -> WSLDistributionInformation {
        WSLDistributionInformation {
            Id: d.id,
            Name: self.name.as_ptr(),
            PidNamespace: d.pid_namespace,
            PackageFamilyName: self.package_family_name.as_ptr(),
            InitPid: d.init_pid,
            Flavor: ptr_of(&self.flavor),
            Version: ptr_of(&self.version),
        }
    }

    fn offline(&self, d: &OfflineDistroInfo) -> WslOfflineDistributionInformation {
        WslOfflineDistributionInformation {
            Id: d.id,
            Name: self.name.as_ptr(),
            PackageFamilyName: self.package_family_name.as_ptr(),
            Flavor: ptr_of(&self.flavor),
            Version: ptr_of(&self.version),
        }
    }
}

impl PluginInstance for InProcessPlugin {
    fn hooks(&self) -> u32 {
        self.hook_mask()
    }

    fn call(&self, hook: &HookCall<'_>, _timeout: Option<Duration>) -> HookOutcome {
        if let Some(wslc) = hook.wslc_session() {
            return self.call_wslc(hook, wslc);
        }
        let s = hook.session().expect("a V1 hook has a WSL session");
        let handle = user_handle(s.uid);
        let session = WSLSessionInformation {
            SessionId: s.id,
            UserToken: handle,
            UserSid: handle,
        };
        let h = &self.hooks;
        let scope = HookScope::enter(hook.accepts_plugin_error(), self.name);
        // SAFETY (all calls below): the pointers are the plugin's own hook functions,
        // called with structures that live until the call returns, as the header says.
        let hr = match *hook {
            HookCall::VmStarted {
                custom_configuration_flags,
                ..
            } => h.OnVMStarted.map_or(S_OK, |f| {
                let settings = WSLVmCreationSettings {
                    CustomConfigurationFlags: custom_configuration_flags,
                };
                // SAFETY: see above.
                unsafe { f(&session, &settings) }
            }),
            // SAFETY: see above.
            HookCall::VmStopping { .. } => h.OnVMStopping.map_or(S_OK, |f| unsafe { f(&session) }),
            HookCall::DistributionStarted { distro, .. }
            | HookCall::DistributionStopping { distro, .. } => {
                let f = match hook {
                    HookCall::DistributionStarted { .. } => h.OnDistributionStarted,
                    _ => h.OnDistributionStopping,
                };
                f.map_or(S_OK, |f| {
                    let w = WideStrings::new(&distro.name, &distro.flavor, &distro.version);
                    let info = w.online(distro);
                    // SAFETY: see above; `w` outlives the call.
                    unsafe { f(&session, &info) }
                })
            }
            HookCall::DistributionRegistered { distro, .. }
            | HookCall::DistributionUnregistered { distro, .. } => {
                let f = match hook {
                    HookCall::DistributionRegistered { .. } => h.OnDistributionRegistered,
                    _ => h.OnDistributionUnregistered,
                };
                f.map_or(S_OK, |f| {
                    let w = WideStrings::new(&distro.name, &distro.flavor, &distro.version);
                    let info = w.offline(distro);
                    // SAFETY: see above; `w` outlives the call.
                    unsafe { f(&session, &info) }
                })
            }
            _ => unreachable!("WSLC hooks return above"),
        };
        HookOutcome {
            hr,
            message: scope.finish(),
        }
    }
}

impl InProcessPlugin {
    /// A hook of the WSLC tail: `WSLCSessionInformation` and, for four of
    /// them, a UTF-8 string (inspect JSON or an id).
    fn call_wslc(&self, hook: &HookCall<'_>, wslc: &WslcSession) -> HookOutcome {
        let name = to_wide(&wslc.name);
        let info = WSLCSessionInformation {
            SessionId: wslc.id,
            DisplayName: name.as_ptr(),
            ApplicationPid: wslc.application_pid,
            UserToken: ptr::null_mut(),
            UserSid: ptr::null_mut(),
        };
        let h = &self.hooks;
        let (session_hook, string_hook, text) = match *hook {
            HookCall::SessionCreated { .. } => (h.OnSessionCreated, None, None),
            HookCall::SessionStopping { .. } => (h.OnSessionStopping, None, None),
            HookCall::WslcVmStarted { .. } => (h.WslcVmStarted, None, None),
            HookCall::WslcVmStopping { .. } => (h.WslcVmStopping, None, None),
            HookCall::ContainerStarted { inspect, .. } => (None, h.ContainerStarted, Some(inspect)),
            HookCall::ContainerStopping { container_id, .. } => {
                (None, h.ContainerStopping, Some(container_id))
            }
            HookCall::ImageCreated { inspect, .. } => (None, h.ImageCreated, Some(inspect)),
            HookCall::ImageDeleted { image_id, .. } => (None, h.ImageDeleted, Some(image_id)),
            _ => unreachable!("only WSLC hooks have a WSLC session"),
        };
        // Interior NULs cannot occur in JSON or ids; one would cut the string short.
        let text = text.map(|t| CString::new(t.replace('\0', "")).unwrap_or_default());
        let scope = HookScope::enter(hook.accepts_plugin_error(), self.name);
        let hr = match (session_hook, string_hook, &text) {
            // SAFETY: the plugin's own hook, called with a structure and a
            // string that live until it returns, as the header says.
            (Some(f), _, _) => unsafe { f(&info) },
            // SAFETY: as above.
            (_, Some(f), Some(t)) => unsafe { f(&info, t.as_ptr()) },
            _ => S_OK,
        };
        HookOutcome {
            hr,
            message: scope.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_per_version_that_never_moves() {
        let v = |minor| WSLVersion {
            Major: 2,
            Minor: minor,
            Revision: 7,
        };
        assert!(ptr::eq(api_table(WSL_API_VERSION), &API_TABLE));
        let a = api_table(v(0));
        assert_eq!(a.Version, v(0));
        assert!(ptr::eq(a, api_table(v(0))));
        let b = api_table(v(1));
        assert_eq!(b.Version, v(1));
        assert!(!ptr::eq(a, b));
        // Same calls as the default table: only the version differs.
        assert_eq!(
            a.ExecuteBinary.map(|f| f as usize),
            API_TABLE.ExecuteBinary.map(|f| f as usize)
        );
        assert_eq!(
            a.WSLCReleaseProcess.map(|f| f as usize),
            API_TABLE.WSLCReleaseProcess.map(|f| f as usize)
        );
    }
}
