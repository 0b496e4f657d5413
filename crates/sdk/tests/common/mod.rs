//! A minimal host for the SDK's tests: an API table whose ExecuteBinary
//! really starts the program (its stdin and stdout on one end of a socket
//! pair, as wslp does), and whose PluginError and MountFolder record what they
//! were given, per thread (a hook runs on its caller's thread).
#![allow(dead_code)]

use std::cell::RefCell;
use std::ffi::CStr;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use wslp_abi::hresult::*;
use wslp_abi::types::*;

/// session, host path, VM path, read-only, name
pub type Mount = (u32, String, String, bool, String);

thread_local! {
    pub static PLUGIN_ERRORS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    pub static MOUNTS: RefCell<Vec<Mount>> = const { RefCell::new(Vec::new()) };
    pub static IN_DISTRO: RefCell<Vec<(GUID, Vec<String>)>> = const { RefCell::new(Vec::new()) };
}

pub const SESSION: u32 = 7;

unsafe fn wide(p: LPCWSTR) -> String {
    // SAFETY: the plugin passes NUL-terminated wide strings (the API's contract).
    unsafe { from_wide(p) }.expect("non-NULL string")
}

unsafe fn argv(args: *mut LPCSTR) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        // SAFETY: argv is NULL-terminated (the API's contract); we stop at NULL.
        let p = unsafe { *args.add(i) };
        if p.is_null() {
            return out;
        }
        // SAFETY: each argument is a NUL-terminated C string.
        out.push(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned());
        i += 1;
    }
}

fn spawn(path: &str, argv: &[String]) -> Result<SOCKET, HRESULT> {
    let (ours, theirs) = UnixStream::pair().map_err(|_| E_FAIL)?;
    let theirs: OwnedFd = theirs.into();
    let child = Command::new(path)
        .args(&argv[1..])
        .stdin(Stdio::from(theirs.try_clone().map_err(|_| E_FAIL)?))
        .stdout(Stdio::from(theirs))
        .stderr(Stdio::null())
        .spawn()
        .map_err(|_| E_FAIL)?;
    // Reap in the background so no zombie outlives the test.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(ours.into_raw_fd())
}

unsafe extern "C" fn execute_binary(
    session: WSLSessionId,
    path: LPCSTR,
    args: *mut LPCSTR,
    socket: *mut SOCKET,
) -> HRESULT {
    if session != SESSION {
        return RPC_E_DISCONNECTED;
    }
    // SAFETY: the path is a NUL-terminated C string (the API's contract).
    let path = unsafe { CStr::from_ptr(path) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: argv is NULL-terminated (the API's contract).
    let argv = unsafe { argv(args) };
    match spawn(&path, &argv) {
        Ok(s) => {
            // SAFETY: `socket` points to the caller's SOCKET (the API's contract).
            unsafe { *socket = s };
            S_OK
        }
        Err(hr) => hr,
    }
}

unsafe extern "C" fn execute_binary_in_distribution(
    session: WSLSessionId,
    distro: *const GUID,
    path: LPCSTR,
    args: *mut LPCSTR,
    socket: *mut SOCKET,
) -> HRESULT {
    if distro.is_null() {
        return E_INVALIDARG;
    }
    // SAFETY: argv is NULL-terminated (the API's contract).
    let argv_v = unsafe { argv(args) };
    // SAFETY: checked non-NULL above; the GUID is valid during the call.
    let guid = unsafe { *distro };
    IN_DISTRO.with(|v| v.borrow_mut().push((guid, argv_v)));
    // SAFETY: the same arguments, under the same contract.
    unsafe { execute_binary(session, path, args, socket) }
}

unsafe extern "C" fn mount_folder(
    session: WSLSessionId,
    host: LPCWSTR,
    vm: LPCWSTR,
    read_only: BOOL,
    name: LPCWSTR,
) -> HRESULT {
    // SAFETY: the strings are NUL-terminated wide strings (the API's contract).
    let (host, vm, name) = unsafe { (wide(host), wide(vm), wide(name)) };
    if !std::path::Path::new(&host).exists() {
        return hresult_from_win32(win32::ERROR_FILE_NOT_FOUND);
    }
    let rec = (session, host, vm, read_only != 0, name);
    MOUNTS.with(|m| m.borrow_mut().push(rec));
    S_OK
}

unsafe extern "C" fn plugin_error(message: LPCWSTR) -> HRESULT {
    if message.is_null() {
        return E_INVALIDARG;
    }
    // SAFETY: checked non-NULL; a NUL-terminated wide string (the API's contract).
    let m = unsafe { wide(message) };
    PLUGIN_ERRORS.with(|v| {
        let mut v = v.borrow_mut();
        if v.is_empty() {
            v.push(m);
            S_OK
        } else {
            E_ILLEGAL_STATE_CHANGE
        }
    })
}

pub fn api_table(major: u32, minor: u32, revision: u32) -> WSLPluginAPIV1 {
    WSLPluginAPIV1 {
        Version: WSLVersion {
            Major: major,
            Minor: minor,
            Revision: revision,
        },
        MountFolder: Some(mount_folder),
        ExecuteBinary: Some(execute_binary),
        PluginError: Some(plugin_error),
        ExecuteBinaryInDistribution: Some(execute_binary_in_distribution),
        ..Default::default()
    }
}

pub fn take_plugin_errors() -> Vec<String> {
    PLUGIN_ERRORS.with(|v| std::mem::take(&mut *v.borrow_mut()))
}

/// Owns the strings a distribution struct points to.
pub struct DistroStrings {
    pub name: Vec<i32>,
    pub pfn: Vec<i32>,
    pub flavor: Vec<i32>,
    pub version: Vec<i32>,
}

impl DistroStrings {
    pub fn new(name: &str) -> Self {
        DistroStrings {
            name: to_wide(name),
            pfn: to_wide(""),
            flavor: to_wide("debian"),
            version: to_wide("12"),
        }
    }

    pub fn info(&self, id: GUID) -> WSLDistributionInformation {
        WSLDistributionInformation {
            Id: id,
            Name: self.name.as_ptr(),
            PidNamespace: 4026532000,
            PackageFamilyName: self.pfn.as_ptr(),
            InitPid: 321,
            Flavor: self.flavor.as_ptr(),
            Version: self.version.as_ptr(),
        }
    }

    pub fn offline(&self, id: GUID) -> WslOfflineDistributionInformation {
        WslOfflineDistributionInformation {
            Id: id,
            Name: self.name.as_ptr(),
            PackageFamilyName: self.pfn.as_ptr(),
            Flavor: self.flavor.as_ptr(),
            Version: self.version.as_ptr(),
        }
    }
}

pub fn session() -> WSLSessionInformation {
    WSLSessionInformation {
        SessionId: SESSION,
        UserToken: 1 as HANDLE,
        UserSid: 2 as PSID,
    }
}
