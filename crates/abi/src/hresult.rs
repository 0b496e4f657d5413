//! HRESULT values and their names as Windows spells them.
//!
//! A code without a name prints as lowercase hex (`0x8007007f`), as WSL prints it.

/// An HRESULT as the plugin ABI carries it.
pub type HResult = i32;

const fn hr(v: u32) -> HResult {
    v as i32
}

/// `HRESULT_FROM_WIN32(code)`.
pub const fn hresult_from_win32(code: u32) -> HResult {
    if code == 0 {
        0
    } else {
        hr((code & 0xFFFF) | (7 << 16) | 0x8000_0000)
    }
}

pub const S_OK: HResult = 0;
pub const S_FALSE: HResult = 1;
pub const E_NOTIMPL: HResult = hr(0x8000_4001);
pub const E_NOINTERFACE: HResult = hr(0x8000_4002);
pub const E_POINTER: HResult = hr(0x8000_4003);
pub const E_ABORT: HResult = hr(0x8000_4004);
pub const E_FAIL: HResult = hr(0x8000_4005);
pub const E_UNEXPECTED: HResult = hr(0x8000_FFFF);
pub const E_PENDING: HResult = hr(0x8000_000A);
pub const E_ILLEGAL_STATE_CHANGE: HResult = hr(0x8000_000D);
pub const E_ILLEGAL_METHOD_CALL: HResult = hr(0x8000_000E);
pub const E_ACCESSDENIED: HResult = hr(0x8007_0005);
pub const E_HANDLE: HResult = hr(0x8007_0006);
pub const E_OUTOFMEMORY: HResult = hr(0x8007_000E);
pub const E_INVALIDARG: HResult = hr(0x8007_0057);
pub const RPC_E_DISCONNECTED: HResult = hr(0x8001_0108);
pub const TRUST_E_NOSIGNATURE: HResult = hr(0x800B_0100);
pub const TRUST_E_BAD_DIGEST: HResult = hr(0x8009_6010);
pub const TRUST_E_SUBJECT_NOT_TRUSTED: HResult = hr(0x800B_0004);
pub const CERT_E_EXPIRED: HResult = hr(0x800B_0101);
pub const CERT_E_UNTRUSTEDROOT: HResult = hr(0x800B_0109);
pub const CERT_E_CHAINING: HResult = hr(0x800B_010A);
pub const CERT_E_WRONG_USAGE: HResult = hr(0x800B_0110);
pub const WSL_E_PLUGIN_REQUIRES_UPDATE: HResult = hr(0x8004_032A);
pub const WSL_E_VM_MODE_INVALID_STATE: HResult = hr(0x8004_0313);

// WSLC's errors, `MAKE_HRESULT(SEVERITY_ERROR, FACILITY_ITF, WSLC_E_BASE + n)` with
// WSLC_E_BASE 0x600, as microsoft/WSL's src/windows/service/inc/wslc.idl defines them.
pub const WSLC_E_IMAGE_NOT_FOUND: HResult = hr(0x8004_0601);
pub const WSLC_E_CONTAINER_PREFIX_AMBIGUOUS: HResult = hr(0x8004_0602);
pub const WSLC_E_CONTAINER_NOT_FOUND: HResult = hr(0x8004_0603);
pub const WSLC_E_VOLUME_NOT_FOUND: HResult = hr(0x8004_0604);
pub const WSLC_E_CONTAINER_NOT_RUNNING: HResult = hr(0x8004_0605);
pub const WSLC_E_CONTAINER_IS_RUNNING: HResult = hr(0x8004_0606);
pub const WSLC_E_SESSION_RESERVED: HResult = hr(0x8004_0607);
pub const WSLC_E_INVALID_SESSION_NAME: HResult = hr(0x8004_0608);
pub const WSLC_E_NETWORK_NOT_FOUND: HResult = hr(0x8004_0609);
pub const WSLC_E_WU_SEARCH_FAILED: HResult = hr(0x8004_060A);
pub const WSLC_E_SDK_UPDATE_NEEDED: HResult = hr(0x8004_060B);
pub const WSLC_E_CONTAINER_DISABLED: HResult = hr(0x8004_060C);
pub const WSLC_E_REGISTRY_BLOCKED_BY_POLICY: HResult = hr(0x8004_060D);
pub const WSLC_E_VOLUME_NOT_AVAILABLE: HResult = hr(0x8004_060E);
/// A WSLC call named a session that is unknown or not running (SPEC §11).
pub const WSLC_E_SESSION_NOT_FOUND: HResult = hr(0x8004_060F);
/// A WSLC call found its session without a running VM (SPEC §11).
pub const WSLC_E_VM_NOT_RUNNING: HResult = hr(0x8004_0610);

/// Win32 error codes (the argument of `HRESULT_FROM_WIN32`).
pub mod win32 {
    pub const ERROR_INVALID_FUNCTION: u32 = 1;
    pub const ERROR_FILE_NOT_FOUND: u32 = 2;
    pub const ERROR_PATH_NOT_FOUND: u32 = 3;
    pub const ERROR_TOO_MANY_OPEN_FILES: u32 = 4;
    pub const ERROR_ACCESS_DENIED: u32 = 5;
    pub const ERROR_INVALID_HANDLE: u32 = 6;
    pub const ERROR_NOT_ENOUGH_MEMORY: u32 = 8;
    pub const ERROR_INVALID_DATA: u32 = 13;
    pub const ERROR_NOT_READY: u32 = 21;
    pub const ERROR_SHARING_VIOLATION: u32 = 32;
    pub const ERROR_NOT_SUPPORTED: u32 = 50;
    pub const ERROR_FILE_EXISTS: u32 = 80;
    pub const ERROR_INVALID_PARAMETER: u32 = 87;
    pub const ERROR_BROKEN_PIPE: u32 = 109;
    pub const ERROR_INSUFFICIENT_BUFFER: u32 = 122;
    pub const ERROR_INVALID_NAME: u32 = 123;
    pub const ERROR_MOD_NOT_FOUND: u32 = 126;
    pub const ERROR_PROC_NOT_FOUND: u32 = 127;
    pub const ERROR_DIR_NOT_EMPTY: u32 = 145;
    pub const ERROR_BAD_PATHNAME: u32 = 161;
    pub const ERROR_ALREADY_EXISTS: u32 = 183;
    pub const ERROR_BAD_EXE_FORMAT: u32 = 193;
    pub const ERROR_NO_DATA: u32 = 232;
    pub const ERROR_MORE_DATA: u32 = 234;
    pub const ERROR_OPERATION_ABORTED: u32 = 995;
    pub const ERROR_SERVICE_NOT_ACTIVE: u32 = 1062;
    pub const ERROR_PROCESS_ABORTED: u32 = 1067;
    pub const ERROR_NOT_FOUND: u32 = 1168;
    pub const ERROR_CANCELLED: u32 = 1223;
    pub const ERROR_TIMEOUT: u32 = 1460;
    pub const ERROR_INVALID_STATE: u32 = 5023;
}

const NAMED: &[(HResult, &str)] = &[
    (S_OK, "S_OK"),
    (S_FALSE, "S_FALSE"),
    (E_NOTIMPL, "E_NOTIMPL"),
    (E_NOINTERFACE, "E_NOINTERFACE"),
    (E_POINTER, "E_POINTER"),
    (E_ABORT, "E_ABORT"),
    (E_FAIL, "E_FAIL"),
    (E_UNEXPECTED, "E_UNEXPECTED"),
    (E_PENDING, "E_PENDING"),
    (E_ILLEGAL_STATE_CHANGE, "E_ILLEGAL_STATE_CHANGE"),
    (E_ILLEGAL_METHOD_CALL, "E_ILLEGAL_METHOD_CALL"),
    (E_ACCESSDENIED, "E_ACCESSDENIED"),
    (E_HANDLE, "E_HANDLE"),
    (E_OUTOFMEMORY, "E_OUTOFMEMORY"),
    (E_INVALIDARG, "E_INVALIDARG"),
    (RPC_E_DISCONNECTED, "RPC_E_DISCONNECTED"),
    (TRUST_E_NOSIGNATURE, "TRUST_E_NOSIGNATURE"),
    (TRUST_E_BAD_DIGEST, "TRUST_E_BAD_DIGEST"),
    (TRUST_E_SUBJECT_NOT_TRUSTED, "TRUST_E_SUBJECT_NOT_TRUSTED"),
    (CERT_E_EXPIRED, "CERT_E_EXPIRED"),
    (CERT_E_UNTRUSTEDROOT, "CERT_E_UNTRUSTEDROOT"),
    (CERT_E_CHAINING, "CERT_E_CHAINING"),
    (CERT_E_WRONG_USAGE, "CERT_E_WRONG_USAGE"),
    (WSL_E_PLUGIN_REQUIRES_UPDATE, "WSL_E_PLUGIN_REQUIRES_UPDATE"),
    (WSL_E_VM_MODE_INVALID_STATE, "WSL_E_VM_MODE_INVALID_STATE"),
    (WSLC_E_IMAGE_NOT_FOUND, "WSLC_E_IMAGE_NOT_FOUND"),
    (
        WSLC_E_CONTAINER_PREFIX_AMBIGUOUS,
        "WSLC_E_CONTAINER_PREFIX_AMBIGUOUS",
    ),
    (WSLC_E_CONTAINER_NOT_FOUND, "WSLC_E_CONTAINER_NOT_FOUND"),
    (WSLC_E_VOLUME_NOT_FOUND, "WSLC_E_VOLUME_NOT_FOUND"),
    (WSLC_E_CONTAINER_NOT_RUNNING, "WSLC_E_CONTAINER_NOT_RUNNING"),
    (WSLC_E_CONTAINER_IS_RUNNING, "WSLC_E_CONTAINER_IS_RUNNING"),
    (WSLC_E_SESSION_RESERVED, "WSLC_E_SESSION_RESERVED"),
    (WSLC_E_INVALID_SESSION_NAME, "WSLC_E_INVALID_SESSION_NAME"),
    (WSLC_E_NETWORK_NOT_FOUND, "WSLC_E_NETWORK_NOT_FOUND"),
    (WSLC_E_WU_SEARCH_FAILED, "WSLC_E_WU_SEARCH_FAILED"),
    (WSLC_E_SDK_UPDATE_NEEDED, "WSLC_E_SDK_UPDATE_NEEDED"),
    (WSLC_E_CONTAINER_DISABLED, "WSLC_E_CONTAINER_DISABLED"),
    (
        WSLC_E_REGISTRY_BLOCKED_BY_POLICY,
        "WSLC_E_REGISTRY_BLOCKED_BY_POLICY",
    ),
    (WSLC_E_VOLUME_NOT_AVAILABLE, "WSLC_E_VOLUME_NOT_AVAILABLE"),
    (WSLC_E_SESSION_NOT_FOUND, "WSLC_E_SESSION_NOT_FOUND"),
    (WSLC_E_VM_NOT_RUNNING, "WSLC_E_VM_NOT_RUNNING"),
];

/// Win32 codes whose `HRESULT_FROM_WIN32` prints as `ERROR_*`. E_ACCESSDENIED,
/// E_HANDLE, E_OUTOFMEMORY and E_INVALIDARG are themselves HRESULT_FROM_WIN32 codes
/// (5, 6, 14, 87) and keep their E_ names, as Windows prints them.
const WIN32_NAMED: &[(u32, &str)] = {
    use win32::*;
    &[
        (ERROR_INVALID_FUNCTION, "ERROR_INVALID_FUNCTION"),
        (ERROR_FILE_NOT_FOUND, "ERROR_FILE_NOT_FOUND"),
        (ERROR_PATH_NOT_FOUND, "ERROR_PATH_NOT_FOUND"),
        (ERROR_TOO_MANY_OPEN_FILES, "ERROR_TOO_MANY_OPEN_FILES"),
        (ERROR_ACCESS_DENIED, "ERROR_ACCESS_DENIED"),
        (ERROR_NOT_ENOUGH_MEMORY, "ERROR_NOT_ENOUGH_MEMORY"),
        (ERROR_INVALID_DATA, "ERROR_INVALID_DATA"),
        (ERROR_NOT_READY, "ERROR_NOT_READY"),
        (ERROR_SHARING_VIOLATION, "ERROR_SHARING_VIOLATION"),
        (ERROR_NOT_SUPPORTED, "ERROR_NOT_SUPPORTED"),
        (ERROR_FILE_EXISTS, "ERROR_FILE_EXISTS"),
        (ERROR_BROKEN_PIPE, "ERROR_BROKEN_PIPE"),
        (ERROR_INSUFFICIENT_BUFFER, "ERROR_INSUFFICIENT_BUFFER"),
        (ERROR_INVALID_NAME, "ERROR_INVALID_NAME"),
        (ERROR_MOD_NOT_FOUND, "ERROR_MOD_NOT_FOUND"),
        (ERROR_DIR_NOT_EMPTY, "ERROR_DIR_NOT_EMPTY"),
        (ERROR_BAD_PATHNAME, "ERROR_BAD_PATHNAME"),
        (ERROR_ALREADY_EXISTS, "ERROR_ALREADY_EXISTS"),
        (ERROR_BAD_EXE_FORMAT, "ERROR_BAD_EXE_FORMAT"),
        (ERROR_NO_DATA, "ERROR_NO_DATA"),
        (ERROR_MORE_DATA, "ERROR_MORE_DATA"),
        (ERROR_OPERATION_ABORTED, "ERROR_OPERATION_ABORTED"),
        (ERROR_SERVICE_NOT_ACTIVE, "ERROR_SERVICE_NOT_ACTIVE"),
        (ERROR_PROCESS_ABORTED, "ERROR_PROCESS_ABORTED"),
        (ERROR_NOT_FOUND, "ERROR_NOT_FOUND"),
        (ERROR_CANCELLED, "ERROR_CANCELLED"),
        (ERROR_TIMEOUT, "ERROR_TIMEOUT"),
        (ERROR_INVALID_STATE, "ERROR_INVALID_STATE"),
    ]
};

/// The Windows name of an HRESULT, if it has one here.
pub fn known_name(code: HResult) -> Option<&'static str> {
    if let Some((_, n)) = NAMED.iter().find(|(c, _)| *c == code) {
        return Some(n);
    }
    WIN32_NAMED
        .iter()
        .find(|(w, _)| hresult_from_win32(*w) == code)
        .map(|(_, n)| *n)
}

/// The name as it appears after `…/Plugin/` in an error code: the Windows name,
/// or the code as lowercase hex (`0x8007007f`).
pub fn hresult_name(code: HResult) -> String {
    match known_name(code) {
        Some(n) => n.to_string(),
        None => format!("{:#010x}", code as u32),
    }
}

/// Looks a name up the other way (`"E_FAIL"` → its code); accepts `0x…` hex too.
pub fn hresult_from_name(name: &str) -> Option<HResult> {
    if let Some(hex) = name.strip_prefix("0x") {
        return u32::from_str_radix(hex, 16).ok().map(|v| v as i32);
    }
    NAMED
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(c, _)| *c)
        .or_else(|| {
            WIN32_NAMED
                .iter()
                .find(|(_, n)| *n == name)
                .map(|(w, _)| hresult_from_win32(*w))
        })
}

pub fn succeeded(code: HResult) -> bool {
    code >= 0
}

pub fn failed(code: HResult) -> bool {
    code < 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(hresult_name(E_UNEXPECTED), "E_UNEXPECTED");
        assert_eq!(
            hresult_name(hresult_from_win32(win32::ERROR_MOD_NOT_FOUND)),
            "ERROR_MOD_NOT_FOUND"
        );
        assert_eq!(
            hresult_name(hresult_from_win32(win32::ERROR_PROCESS_ABORTED)),
            "ERROR_PROCESS_ABORTED"
        );
        assert_eq!(
            hresult_name(hresult_from_win32(win32::ERROR_TIMEOUT)),
            "ERROR_TIMEOUT"
        );
        assert_eq!(
            hresult_name(WSL_E_PLUGIN_REQUIRES_UPDATE),
            "WSL_E_PLUGIN_REQUIRES_UPDATE"
        );
        assert_eq!(hresult_name(E_ACCESSDENIED), "E_ACCESSDENIED");
        assert_eq!(
            hresult_name(WSLC_E_SESSION_NOT_FOUND),
            "WSLC_E_SESSION_NOT_FOUND"
        );
        assert_eq!(hresult_name(WSLC_E_VM_NOT_RUNNING), "WSLC_E_VM_NOT_RUNNING");
        assert_eq!(
            hresult_name(hresult_from_win32(win32::ERROR_INVALID_STATE)),
            "ERROR_INVALID_STATE"
        );
        // HRESULT_FROM_WIN32(ERROR_PROC_NOT_FOUND) has no name in WSL's output.
        assert_eq!(
            hresult_name(hresult_from_win32(win32::ERROR_PROC_NOT_FOUND)),
            "0x8007007f"
        );
        assert_eq!(hresult_name(0x1234), "0x00001234");
    }

    #[test]
    fn values() {
        assert_eq!(WSL_E_PLUGIN_REQUIRES_UPDATE as u32, 0x8004032A);
        assert_eq!(WSLC_E_VM_NOT_RUNNING as u32, 0x80040610);
        assert_eq!(WSLC_E_SESSION_NOT_FOUND as u32, 0x8004060F);
        assert_eq!(
            hresult_from_win32(win32::ERROR_PATH_NOT_FOUND) as u32,
            0x80070003
        );
        assert_eq!(
            hresult_from_win32(win32::ERROR_ALREADY_EXISTS) as u32,
            0x800700B7
        );
        assert_eq!(
            hresult_from_win32(win32::ERROR_NOT_FOUND) as u32,
            0x80070490
        );
        assert_eq!(
            hresult_from_win32(win32::ERROR_INVALID_STATE) as u32,
            0x8007139F
        );
        assert_eq!(WSL_E_VM_MODE_INVALID_STATE as u32, 0x80040313);
        assert_eq!(
            hresult_from_win32(win32::ERROR_FILE_NOT_FOUND) as u32,
            0x80070002
        );
        assert_eq!(hresult_from_name("E_FAIL"), Some(E_FAIL));
        assert_eq!(
            hresult_from_name("ERROR_TIMEOUT"),
            Some(hresult_from_win32(win32::ERROR_TIMEOUT))
        );
        assert_eq!(
            hresult_from_name("0x8007007f"),
            Some(hresult_from_win32(win32::ERROR_PROC_NOT_FOUND))
        );
    }
}
