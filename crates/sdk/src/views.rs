//! Typed, borrowed views of what the host passes to a hook.
//!
//! A view is valid only during the hook call (the host frees the structs after
//! it), which its lifetime enforces. Strings are converted from wide strings
//! when asked for. Fields that an older WSL does not pass (the struct it
//! allocates is shorter) read as `None` instead of reading past its end.

use crate::ffi::host::{RawDistribution, RawOfflineDistribution};
use crate::sys::{WSLSessionInformation, GUID, HANDLE, PSID};
use uuid::Uuid;

/// The user session a hook runs for (`WSLSessionInformation`).
#[derive(Clone, Copy)]
pub struct Session<'a> {
    raw: &'a WSLSessionInformation,
}

impl<'a> Session<'a> {
    /// Wraps the host's struct.
    pub fn from_raw(raw: &'a WSLSessionInformation) -> Self {
        Session { raw }
    }

    /// The session id; stable for the service's life. API calls take it.
    pub fn id(&self) -> u32 {
        self.raw.SessionId
    }

    /// The user's token: an opaque handle (a Windows access token on Windows,
    /// an opaque non-NULL handle on wslp). Valid only during the hook.
    pub fn user_token(&self) -> HANDLE {
        self.raw.UserToken
    }

    /// The user's SID: an opaque handle. Valid only during the hook.
    pub fn user_sid(&self) -> PSID {
        self.raw.UserSid
    }
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id()).finish()
    }
}

/// The user's VM settings that plugins are told about (`WSLVmCreationSettings`).
///
/// ```
/// let s = wslp_sdk::VmSettings::from_bits(2);
/// assert!(!s.custom_kernel());
/// assert!(s.custom_kernel_command_line());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VmSettings {
    flags: u32,
}

impl VmSettings {
    /// `WSLUserConfigurationCustomKernel`.
    pub const CUSTOM_KERNEL: u32 = 1;
    /// `WSLUserConfigurationCustomKernelCommandLine`.
    pub const CUSTOM_KERNEL_COMMAND_LINE: u32 = 2;

    /// From `CustomConfigurationFlags`.
    pub fn from_bits(flags: u32) -> Self {
        VmSettings { flags }
    }

    /// `CustomConfigurationFlags` as the host passed it.
    pub fn bits(&self) -> u32 {
        self.flags
    }

    /// The user configured a custom kernel.
    pub fn custom_kernel(&self) -> bool {
        self.flags & Self::CUSTOM_KERNEL != 0
    }

    /// The user configured a custom kernel command line.
    pub fn custom_kernel_command_line(&self) -> bool {
        self.flags & Self::CUSTOM_KERNEL_COMMAND_LINE != 0
    }
}

/// Converts a C GUID to a [`Uuid`] with the same textual form (without braces).
///
/// ```
/// use wslp_sdk::{sys::GUID, views::guid_to_uuid};
/// let g = GUID { Data1: 0x12345678, Data2: 0x9abc, Data3: 0xdef0, Data4: [1, 2, 3, 4, 5, 6, 7, 8] };
/// assert_eq!(guid_to_uuid(&g).to_string(), "12345678-9abc-def0-0102-030405060708");
/// ```
pub fn guid_to_uuid(g: &GUID) -> Uuid {
    Uuid::from_fields(g.Data1, g.Data2, g.Data3, &g.Data4)
}

/// Converts a [`Uuid`] back to the C GUID layout.
pub fn uuid_to_guid(u: &Uuid) -> GUID {
    let (d1, d2, d3, d4) = u.as_fields();
    GUID {
        Data1: d1,
        Data2: d2,
        Data3: d3,
        Data4: *d4,
    }
}

/// A string field: `None` for NULL or empty (WSL passes an empty string for
/// "none" in some fields and NULL in others; plugins should not care which).
fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// A running distribution (`WSLDistributionInformation`).
///
/// Made by the SDK for a hook (`Distribution::from_raw`, in `ffi`); valid
/// only during it.
#[derive(Clone, Copy)]
pub struct Distribution<'a> {
    raw: RawDistribution<'a>,
}

impl<'a> Distribution<'a> {
    pub(crate) fn new(raw: RawDistribution<'a>) -> Self {
        Distribution { raw }
    }

    /// The distribution's GUID, fixed at registration.
    pub fn id(&self) -> Uuid {
        guid_to_uuid(&self.raw.id())
    }

    /// The distribution's name.
    pub fn name(&self) -> String {
        self.raw.name().unwrap_or_default()
    }

    /// The inode number of the distribution's pid namespace.
    pub fn pid_namespace(&self) -> u64 {
        self.raw.pid_namespace()
    }

    /// The Store package family name; `None` when there is none (WSL passes an
    /// empty string then; wslp always does).
    pub fn package_family_name(&self) -> Option<String> {
        non_empty(self.raw.package_family_name())
    }

    /// The pid of the distribution's init, as seen from the VM's root
    /// namespace; `None` when the host is older than WSL 2.0.5.
    pub fn init_pid(&self) -> Option<u32> {
        self.raw.init_pid()
    }

    /// `ID=` of the distribution's os-release; `None` when missing or when the
    /// host is older than WSL 2.4.4.
    pub fn flavor(&self) -> Option<String> {
        non_empty(self.raw.flavor())
    }

    /// `VERSION_ID=` of the distribution's os-release; `None` when missing or
    /// when the host is older than WSL 2.4.4.
    pub fn version(&self) -> Option<String> {
        non_empty(self.raw.version())
    }
}

impl std::fmt::Debug for Distribution<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distribution")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("pid_namespace", &self.pid_namespace())
            .field("package_family_name", &self.package_family_name())
            .field("init_pid", &self.init_pid())
            .field("flavor", &self.flavor())
            .field("version", &self.version())
            .finish()
    }
}

/// A registered distribution that is not running
/// (`WslOfflineDistributionInformation`), for the registration hooks.
#[derive(Clone, Copy)]
pub struct OfflineDistribution<'a> {
    raw: RawOfflineDistribution<'a>,
}

impl<'a> OfflineDistribution<'a> {
    pub(crate) fn new(raw: RawOfflineDistribution<'a>) -> Self {
        OfflineDistribution { raw }
    }

    /// The distribution's GUID.
    pub fn id(&self) -> Uuid {
        guid_to_uuid(&self.raw.id())
    }

    /// The distribution's name.
    pub fn name(&self) -> String {
        self.raw.name().unwrap_or_default()
    }

    /// The Store package family name; `None` when there is none.
    pub fn package_family_name(&self) -> Option<String> {
        non_empty(self.raw.package_family_name())
    }

    /// `ID=` of os-release; `None` when missing or the host is older than WSL 2.4.4.
    pub fn flavor(&self) -> Option<String> {
        non_empty(self.raw.flavor())
    }

    /// `VERSION_ID=` of os-release; `None` when missing or the host is older than WSL 2.4.4.
    pub fn version(&self) -> Option<String> {
        non_empty(self.raw.version())
    }
}

impl std::fmt::Debug for OfflineDistribution<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineDistribution")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("package_family_name", &self.package_family_name())
            .field("flavor", &self.flavor())
            .field("version", &self.version())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_uuid_round_trip_matches_wsl_text() {
        let g = GUID {
            Data1: 0xdeadbeef,
            Data2: 0x0102,
            Data3: 0x0304,
            Data4: [0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7],
        };
        let u = guid_to_uuid(&g);
        assert_eq!(uuid_to_guid(&u), g);
        #[cfg(unix)]
        assert_eq!(format!("{{{u}}}"), g.to_string());
    }
}
