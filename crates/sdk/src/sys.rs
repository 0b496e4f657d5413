//! The raw C types of `WslPluginApi.h`, per platform.
//!
//! On Linux (wslp) they are `wslp_abi::types`: 32-bit `wchar_t`, `SOCKET` is a
//! file descriptor. On Windows they are Microsoft's: UTF-16 `WCHAR`, `SOCKET`
//! is a `UINT_PTR`. Field order is that of `include/WslPluginApi.h` either
//! way. Plugin code should not need this module; it is public for the export
//! macro and for authors who must reach past the safe wrapper.
//!
//! With [`ffi`](crate::ffi) it holds all of the SDK's `unsafe`: reading wide
//! strings the host passes, owning the sockets it returns, and asking the
//! loader which file holds the plugin.
#![allow(non_snake_case, non_camel_case_types)]

#[cfg(unix)]
pub use wslp_abi::types::{
    WSLDistributionInformation, WSLPluginAPIV1, WSLPluginAPI_ExecuteBinary,
    WSLPluginAPI_ExecuteBinaryInDistribution, WSLPluginAPI_MountFolder,
    WSLPluginAPI_OnDistributionRegistered, WSLPluginAPI_OnDistributionStarted,
    WSLPluginAPI_OnVMStarted, WSLPluginAPI_OnVMStopping, WSLPluginAPI_PluginError,
    WSLPluginHooksV1, WSLSessionId, WSLSessionInformation, WSLVersion, WSLVmCreationSettings,
    WslOfflineDistributionInformation, BOOL, GUID, HANDLE, HRESULT, LPCSTR, LPCWSTR, PSID, SOCKET,
};

/// One unit of a wide string: `wchar_t`, 32 bits on Linux.
#[cfg(unix)]
pub type WCHAR = wslp_abi::types::libc_wchar;

#[cfg(windows)]
pub use self::windows::*;

/// Microsoft's definitions, as `WslPluginApi.h` declares them on Windows
/// (x86_64: every calling convention is the Microsoft x64 one).
///
/// Only the V1 part is declared: the SDK reads and writes the tables field by
/// field and never touches the WSLC tail, so a host that allocated shorter
/// tables (an older WSL) is safe.
#[cfg(windows)]
// Fields keep the header's names and meaning; `include/WslPluginApi.h` documents them.
#[allow(missing_docs)]
mod windows {
    use std::ffi::{c_char, c_void};

    /// A result code: negative is failure.
    pub type HRESULT = i32;
    /// A Win32 boolean: 0 is false.
    pub type BOOL = i32;
    /// An unsigned 32-bit integer.
    pub type DWORD = u32;
    /// A session id (`WSLSessionId`).
    pub type WSLSessionId = u32;
    /// UTF-16 code unit.
    pub type WCHAR = u16;
    /// A NUL-terminated UTF-16 string.
    pub type LPCWSTR = *const WCHAR;
    /// A NUL-terminated narrow (UTF-8) string.
    pub type LPCSTR = *const c_char;
    /// `UINT_PTR`: a Winsock socket handle the plugin owns and must close.
    pub type SOCKET = usize;
    /// An opaque handle.
    pub type HANDLE = *mut c_void;
    /// An opaque pointer to a security identifier.
    pub type PSID = *mut c_void;

    /// A GUID, as `guiddef.h` lays it out.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct GUID {
        pub Data1: u32,
        pub Data2: u16,
        pub Data3: u16,
        pub Data4: [u8; 8],
    }

    /// `WSLVersion`: the API version the host implements.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct WSLVersion {
        pub Major: u32,
        pub Minor: u32,
        pub Revision: u32,
    }

    /// `WSLVmCreationSettings`.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, Default)]
    pub struct WSLVmCreationSettings {
        pub CustomConfigurationFlags: u32,
    }

    /// `WSLSessionInformation`.
    #[repr(C)]
    #[derive(Debug, Clone, Copy)]
    pub struct WSLSessionInformation {
        pub SessionId: WSLSessionId,
        pub UserToken: HANDLE,
        pub UserSid: PSID,
    }

    /// `WSLDistributionInformation`.
    #[repr(C)]
    #[derive(Debug, Clone, Copy)]
    pub struct WSLDistributionInformation {
        pub Id: GUID,
        pub Name: LPCWSTR,
        pub PidNamespace: u64,
        pub PackageFamilyName: LPCWSTR,
        pub InitPid: u32,
        pub Flavor: LPCWSTR,
        pub Version: LPCWSTR,
    }

    /// `WslOfflineDistributionInformation`.
    #[repr(C)]
    #[derive(Debug, Clone, Copy)]
    pub struct WslOfflineDistributionInformation {
        pub Id: GUID,
        pub Name: LPCWSTR,
        pub PackageFamilyName: LPCWSTR,
        pub Flavor: LPCWSTR,
        pub Version: LPCWSTR,
    }

    /// `MountFolder`.
    pub type WSLPluginAPI_MountFolder =
        Option<unsafe extern "C" fn(WSLSessionId, LPCWSTR, LPCWSTR, BOOL, LPCWSTR) -> HRESULT>;
    /// `ExecuteBinary`.
    pub type WSLPluginAPI_ExecuteBinary =
        Option<unsafe extern "C" fn(WSLSessionId, LPCSTR, *mut LPCSTR, *mut SOCKET) -> HRESULT>;
    /// `ExecuteBinaryInDistribution`.
    pub type WSLPluginAPI_ExecuteBinaryInDistribution = Option<
        unsafe extern "C" fn(
            WSLSessionId,
            *const GUID,
            LPCSTR,
            *mut LPCSTR,
            *mut SOCKET,
        ) -> HRESULT,
    >;
    /// `PluginError`.
    pub type WSLPluginAPI_PluginError = Option<unsafe extern "C" fn(LPCWSTR) -> HRESULT>;
    /// The `OnVMStarted` hook.
    pub type WSLPluginAPI_OnVMStarted = Option<
        unsafe extern "C" fn(*const WSLSessionInformation, *const WSLVmCreationSettings) -> HRESULT,
    >;
    /// The `OnVMStopping` hook.
    pub type WSLPluginAPI_OnVMStopping =
        Option<unsafe extern "C" fn(*const WSLSessionInformation) -> HRESULT>;
    /// The `OnDistributionStarted` and `OnDistributionStopping` hooks.
    pub type WSLPluginAPI_OnDistributionStarted = Option<
        unsafe extern "C" fn(
            *const WSLSessionInformation,
            *const WSLDistributionInformation,
        ) -> HRESULT,
    >;
    /// The registration hooks.
    pub type WSLPluginAPI_OnDistributionRegistered = Option<
        unsafe extern "C" fn(
            *const WSLSessionInformation,
            *const WslOfflineDistributionInformation,
        ) -> HRESULT,
    >;

    /// The V1 hooks. WSL ≥ 2.9 appends WSLC hooks; the SDK leaves them as the host zeroed them.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, Default)]
    pub struct WSLPluginHooksV1 {
        pub OnVMStarted: WSLPluginAPI_OnVMStarted,
        pub OnVMStopping: WSLPluginAPI_OnVMStopping,
        pub OnDistributionStarted: WSLPluginAPI_OnDistributionStarted,
        pub OnDistributionStopping: WSLPluginAPI_OnDistributionStarted,
        pub OnDistributionRegistered: WSLPluginAPI_OnDistributionRegistered,
        pub OnDistributionUnregistered: WSLPluginAPI_OnDistributionRegistered,
    }

    /// The V1 API table. WSL ≥ 2.9 appends WSLC calls, which the SDK does not read.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, Default)]
    pub struct WSLPluginAPIV1 {
        pub Version: WSLVersion,
        pub MountFolder: WSLPluginAPI_MountFolder,
        pub ExecuteBinary: WSLPluginAPI_ExecuteBinary,
        pub PluginError: WSLPluginAPI_PluginError,
        pub ExecuteBinaryInDistribution: WSLPluginAPI_ExecuteBinaryInDistribution,
    }
}

/// The stream `ExecuteBinary` hands back: the program's stdin and stdout.
///
/// A Unix socket on Linux. On Windows it is a Winsock socket wrapped in
/// [`std::net::TcpStream`] so that `Read`, `Write` and `shutdown` work; it is
/// not a TCP connection (WSL uses an hvsocket), so do not use the TCP-only
/// methods (`peer_addr`, `set_nodelay`, ...).
#[cfg(unix)]
pub type ProcessStream = std::os::unix::net::UnixStream;
/// The stream `ExecuteBinary` hands back: the program's stdin and stdout.
#[cfg(windows)]
pub type ProcessStream = std::net::TcpStream;

/// Takes ownership of a socket returned by the host.
///
/// # Safety
/// `socket` must be an open socket that nothing else owns or closes.
pub(crate) unsafe fn stream_from_socket(socket: SOCKET) -> ProcessStream {
    #[cfg(unix)]
    {
        use std::os::fd::FromRawFd;
        // SAFETY: the caller hands over sole ownership of an open descriptor.
        unsafe { ProcessStream::from_raw_fd(socket) }
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::{FromRawSocket, RawSocket};
        // SAFETY: the caller hands over sole ownership of an open socket handle.
        unsafe { ProcessStream::from_raw_socket(socket as RawSocket) }
    }
}

/// A socket value no host ever returns, to tell "not written" apart.
#[cfg(unix)]
pub(crate) const INVALID_SOCKET: SOCKET = -1;
#[cfg(windows)]
pub(crate) const INVALID_SOCKET: SOCKET = usize::MAX;

/// Reads a NUL-terminated wide string from the host; `None` for NULL.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated wide string that stays valid
/// for the duration of the call.
pub unsafe fn from_wide_ptr(p: LPCWSTR) -> Option<String> {
    if p.is_null() {
        return None;
    }
    let mut len = 0usize;
    // SAFETY: the caller promises a NUL-terminated array; we stop at the NUL.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: the `len` units before the NUL were just read, so they are valid.
    let units = unsafe { std::slice::from_raw_parts(p, len) };
    Some(crate::wide::from_wide_units(units))
}

/// The file the dynamic loader says holds `addr` (`dladdr`); `None` when
/// it does not know.
#[cfg(unix)]
pub(crate) fn dladdr_file(addr: usize) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: Dl_info is plain data; all-zero is a valid value to overwrite.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only looks the address up and fills `info`.
    let found = unsafe { libc::dladdr(addr as *const libc::c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dladdr returned a NUL-terminated name that lives as long as the object.
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    Some(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(
        name.to_bytes(),
    )))
}

/// `GetModuleFileNameW` of the DLL that holds this code.
#[cfg(windows)]
pub(crate) fn module_file() -> Option<std::path::PathBuf> {
    win::containing_file()
}

#[cfg(windows)]
mod win {
    use std::ffi::c_void;
    use std::os::windows::ffi::OsStringExt;
    use std::path::PathBuf;

    const GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS: u32 = 0x4;
    const GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT: u32 = 0x2;

    #[link(name = "kernel32")]
    extern "system" {
        fn GetModuleHandleExW(flags: u32, name: *const u16, module: *mut *mut c_void) -> i32;
        fn GetModuleFileNameW(module: *mut c_void, filename: *mut u16, size: u32) -> u32;
    }

    static MARKER: u8 = 0;

    pub fn containing_file() -> Option<PathBuf> {
        let mut module: *mut c_void = std::ptr::null_mut();
        // SAFETY: with FROM_ADDRESS the name argument is an address inside the
        // module; UNCHANGED_REFCOUNT means nothing must be released.
        let ok = unsafe {
            GetModuleHandleExW(
                GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS
                    | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                std::ptr::addr_of!(MARKER).cast(),
                &mut module,
            )
        };
        if ok == 0 {
            return None;
        }
        let mut buf = vec![0u16; 32768];
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { GetModuleFileNameW(module, buf.as_mut_ptr(), buf.len() as u32) };
        if n == 0 || n as usize >= buf.len() {
            return None;
        }
        Some(PathBuf::from(std::ffi::OsString::from_wide(
            &buf[..n as usize],
        )))
    }
}

#[cfg(test)]
mod wide_tests {
    use super::*;
    use crate::wide::to_wide;

    #[test]
    fn null_is_none() {
        // SAFETY: NULL is allowed.
        assert_eq!(unsafe { from_wide_ptr(std::ptr::null()) }, None);
    }

    proptest::proptest! {
        #[test]
        fn round_trip(s in "[^\u{0}]*") {
            let w = to_wide(&s).unwrap();
            // SAFETY: `w` is NUL-terminated and outlives the call.
            let back = unsafe { from_wide_ptr(w.as_ptr()) };
            proptest::prop_assert_eq!(back.as_deref(), Some(s.as_str()));
        }
    }
}
