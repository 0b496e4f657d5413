//! `#[repr(C)]` mirror of every type of `include/WslPluginApi.h`.
//!
//! Field order and signatures are those of Microsoft's header at WSL 2.9.5,
//! WSLC tail fields included; the layout test in `tests/layout.rs` compares
//! every size and offset against the C compiler's.
#![allow(non_snake_case, non_camel_case_types, non_upper_case_globals)]

use std::ffi::{c_char, c_int, c_void};

pub type HRESULT = i32;
pub type DWORD = u32;
pub type BOOL = i32;
pub type WSLSessionId = u32;
pub type WSLCSessionId = u32;
/// `const wchar_t*`: NUL-terminated, 32-bit `wchar_t` on Linux.
pub type LPCWSTR = *const libc_wchar;
pub type LPWSTR = *mut libc_wchar;
pub type LPCSTR = *const c_char;
pub type LPSTR = *mut c_char;
/// A file descriptor the plugin owns and must close.
pub type SOCKET = c_int;
pub type HANDLE = *mut c_void;
pub type PSID = *mut c_void;
pub type WSLCProcessHandle = *mut c_void;

/// `wchar_t` on Linux (x86_64 and aarch64): 32 bits.
#[allow(non_camel_case_types)]
pub type libc_wchar = i32;

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GUID {
    pub Data1: u32,
    pub Data2: u16,
    pub Data3: u16,
    pub Data4: [u8; 8],
}

impl GUID {
    /// The GUID's bytes in RFC 4122 order (Data1..3 big-endian), as a UUID is written.
    pub fn to_rfc4122_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.Data1.to_be_bytes());
        b[4..6].copy_from_slice(&self.Data2.to_be_bytes());
        b[6..8].copy_from_slice(&self.Data3.to_be_bytes());
        b[8..16].copy_from_slice(&self.Data4);
        b
    }

    pub fn from_rfc4122_bytes(b: [u8; 16]) -> Self {
        GUID {
            Data1: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            Data2: u16::from_be_bytes([b[4], b[5]]),
            Data3: u16::from_be_bytes([b[6], b[7]]),
            Data4: [b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]],
        }
    }
}

impl std::fmt::Display for GUID {
    /// `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}`, the way WSL prints distribution ids.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = &self.Data4;
        write!(
            f,
            "{{{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}}}",
            self.Data1, self.Data2, self.Data3, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]
        )
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WSLVersion {
    pub Major: u32,
    pub Minor: u32,
    pub Revision: u32,
}

/// `enum WSLUserConfiguration`, a bit set.
pub type WSLUserConfiguration = u32;
pub const WSLUserConfigurationNone: WSLUserConfiguration = 0;
pub const WSLUserConfigurationCustomKernel: WSLUserConfiguration = 1;
pub const WSLUserConfigurationCustomKernelCommandLine: WSLUserConfiguration = 2;

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct WSLVmCreationSettings {
    pub CustomConfigurationFlags: WSLUserConfiguration,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSLSessionInformation {
    pub SessionId: WSLSessionId,
    pub UserToken: HANDLE,
    pub UserSid: PSID,
}

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

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WslOfflineDistributionInformation {
    pub Id: GUID,
    pub Name: LPCWSTR,
    pub PackageFamilyName: LPCWSTR,
    pub Flavor: LPCWSTR,
    pub Version: LPCWSTR,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSLCSessionInformation {
    pub SessionId: WSLCSessionId,
    pub DisplayName: LPCWSTR,
    pub ApplicationPid: DWORD,
    pub UserToken: HANDLE,
    pub UserSid: PSID,
}

/// `enum _WSLCProcessFd`.
pub type WSLCProcessFd = u32;
pub const WSLCProcessFdStdin: WSLCProcessFd = 0;
pub const WSLCProcessFdStdout: WSLCProcessFd = 1;
pub const WSLCProcessFdStderr: WSLCProcessFd = 2;

pub type WSLPluginAPI_MountFolder =
    Option<unsafe extern "C" fn(WSLSessionId, LPCWSTR, LPCWSTR, BOOL, LPCWSTR) -> HRESULT>;
pub type WSLPluginAPI_ExecuteBinary =
    Option<unsafe extern "C" fn(WSLSessionId, LPCSTR, *mut LPCSTR, *mut SOCKET) -> HRESULT>;
pub type WSLPluginAPI_ExecuteBinaryInDistribution = Option<
    unsafe extern "C" fn(WSLSessionId, *const GUID, LPCSTR, *mut LPCSTR, *mut SOCKET) -> HRESULT,
>;
pub type WSLPluginAPI_PluginError = Option<unsafe extern "C" fn(LPCWSTR) -> HRESULT>;

pub type WSLPluginAPI_OnVMStarted = Option<
    unsafe extern "C" fn(*const WSLSessionInformation, *const WSLVmCreationSettings) -> HRESULT,
>;
pub type WSLPluginAPI_OnVMStopping =
    Option<unsafe extern "C" fn(*const WSLSessionInformation) -> HRESULT>;
pub type WSLPluginAPI_OnDistributionStarted = Option<
    unsafe extern "C" fn(
        *const WSLSessionInformation,
        *const WSLDistributionInformation,
    ) -> HRESULT,
>;
pub type WSLPluginAPI_OnDistributionStopping = WSLPluginAPI_OnDistributionStarted;
pub type WSLPluginAPI_OnDistributionRegistered = Option<
    unsafe extern "C" fn(
        *const WSLSessionInformation,
        *const WslOfflineDistributionInformation,
    ) -> HRESULT,
>;

pub type WSLPluginAPI_OnSessionCreated =
    Option<unsafe extern "C" fn(*const WSLCSessionInformation) -> HRESULT>;
pub type WSLPluginAPI_OnSessionStopping = WSLPluginAPI_OnSessionCreated;
pub type WSLPluginAPI_ContainerStarted =
    Option<unsafe extern "C" fn(*const WSLCSessionInformation, LPCSTR) -> HRESULT>;
pub type WSLPluginAPI_ContainerStopping = WSLPluginAPI_ContainerStarted;
pub type WSLPluginAPI_ImageCreated = WSLPluginAPI_ContainerStarted;
pub type WSLPluginAPI_ImageDeleted = WSLPluginAPI_ContainerStarted;
pub type WSLPluginAPI_OnWslcVmStarted = WSLPluginAPI_OnSessionCreated;
pub type WSLPluginAPI_OnWslcVmStopping = WSLPluginAPI_OnSessionCreated;

/// `(Session, WindowsPath, Mountpoint, ReadOnly)`, as released in WSL 2.9.0.
pub type WSLCPluginAPI_MountFolder =
    Option<unsafe extern "C" fn(WSLCSessionId, LPCWSTR, LPCSTR, BOOL) -> HRESULT>;
pub type WSLCPluginAPI_UnmountFolder =
    Option<unsafe extern "C" fn(WSLCSessionId, LPCSTR) -> HRESULT>;
pub type WSLCPluginAPI_CreateProcess = Option<
    unsafe extern "C" fn(
        WSLCSessionId,
        LPCSTR,
        *mut LPCSTR,
        *mut LPCSTR,
        *mut WSLCProcessHandle,
        *mut c_int,
    ) -> HRESULT,
>;
pub type WSLCPluginAPI_ProcessGetFd =
    Option<unsafe extern "C" fn(WSLCProcessHandle, WSLCProcessFd, *mut HANDLE) -> HRESULT>;
pub type WSLCPluginAPI_ProcessGetExitEvent =
    Option<unsafe extern "C" fn(WSLCProcessHandle, *mut HANDLE) -> HRESULT>;
pub type WSLCPluginAPI_ProcessGetExitCode =
    Option<unsafe extern "C" fn(WSLCProcessHandle, *mut c_int) -> HRESULT>;
pub type WSLCPluginAPI_ReleaseProcess = Option<unsafe extern "C" fn(WSLCProcessHandle)>;

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct WSLPluginHooksV1 {
    pub OnVMStarted: WSLPluginAPI_OnVMStarted,
    pub OnVMStopping: WSLPluginAPI_OnVMStopping,
    pub OnDistributionStarted: WSLPluginAPI_OnDistributionStarted,
    pub OnDistributionStopping: WSLPluginAPI_OnDistributionStopping,
    pub OnDistributionRegistered: WSLPluginAPI_OnDistributionRegistered,
    pub OnDistributionUnregistered: WSLPluginAPI_OnDistributionRegistered,
    pub OnSessionCreated: WSLPluginAPI_OnSessionCreated,
    pub OnSessionStopping: WSLPluginAPI_OnSessionStopping,
    pub ContainerStarted: WSLPluginAPI_ContainerStarted,
    pub ContainerStopping: WSLPluginAPI_ContainerStopping,
    pub ImageCreated: WSLPluginAPI_ImageCreated,
    pub ImageDeleted: WSLPluginAPI_ImageDeleted,
    pub WslcVmStarted: WSLPluginAPI_OnWslcVmStarted,
    pub WslcVmStopping: WSLPluginAPI_OnWslcVmStopping,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct WSLPluginAPIV1 {
    pub Version: WSLVersion,
    pub MountFolder: WSLPluginAPI_MountFolder,
    pub ExecuteBinary: WSLPluginAPI_ExecuteBinary,
    pub PluginError: WSLPluginAPI_PluginError,
    pub ExecuteBinaryInDistribution: WSLPluginAPI_ExecuteBinaryInDistribution,
    pub WSLCMountFolder: WSLCPluginAPI_MountFolder,
    pub WSLCUnmountFolder: WSLCPluginAPI_UnmountFolder,
    pub WSLCCreateProcess: WSLCPluginAPI_CreateProcess,
    pub WSLCProcessGetFd: WSLCPluginAPI_ProcessGetFd,
    pub WSLCProcessGetExitEvent: WSLCPluginAPI_ProcessGetExitEvent,
    pub WSLCProcessGetExitCode: WSLCPluginAPI_ProcessGetExitCode,
    pub WSLCReleaseProcess: WSLCPluginAPI_ReleaseProcess,
}

pub type WSLPluginAPI_EntryPointV1 =
    unsafe extern "C" fn(*const WSLPluginAPIV1, *mut WSLPluginHooksV1) -> HRESULT;

/// The HANDLE a WSLC call hands out for a file descriptor: `(HANDLE)(intptr_t)fd`,
/// what the header's `WSLP_HANDLE_FD` undoes. wslp never hands out descriptor 0,
/// so a NULL HANDLE keeps meaning "no handle".
pub fn handle_from_fd(fd: c_int) -> HANDLE {
    fd as isize as HANDLE
}

/// The file descriptor a WSLC HANDLE carries (`WSLP_HANDLE_FD`).
pub fn handle_fd(handle: HANDLE) -> c_int {
    handle as isize as c_int
}

/// The symbol every plugin exports.
pub const ENTRY_POINT_SYMBOL: &str = "WSLPluginAPIV1_EntryPoint";

pub use crate::ffi::{from_wide, to_wide};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_carry_descriptors() {
        for fd in [3, 42, c_int::MAX, -1] {
            assert_eq!(handle_fd(handle_from_fd(fd)), fd);
        }
        // INVALID_HANDLE_VALUE is (HANDLE)-1, which carries descriptor -1.
        assert_eq!(handle_from_fd(-1) as usize, usize::MAX);
        assert!(handle_from_fd(0).is_null());
    }

    #[test]
    fn guid_display_and_bytes() {
        let g = GUID {
            Data1: 0x12345678,
            Data2: 0x9abc,
            Data3: 0xdef0,
            Data4: [1, 2, 3, 4, 5, 6, 7, 8],
        };
        assert_eq!(g.to_string(), "{12345678-9abc-def0-0102-030405060708}");
        assert_eq!(GUID::from_rfc4122_bytes(g.to_rfc4122_bytes()), g);
    }
}
