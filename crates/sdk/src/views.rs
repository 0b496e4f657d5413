//! Typed, borrowed views of what the host passes to a hook.
//!
//! A view is valid only during the hook call (the host frees the structs after
//! it), which its lifetime enforces. Strings are converted from wide strings
//! when asked for. Fields that an older WSL does not pass (the struct it
//! allocates is shorter) read as `None` instead of reading past its end.

use crate::sys::{
    WSLDistributionInformation, WSLSessionInformation, WslOfflineDistributionInformation, GUID,
    HANDLE, PSID,
};
use crate::version::Version;
use crate::wide::from_wide_ptr;
use std::marker::PhantomData;
use std::ptr::addr_of;
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
///
/// # Safety
/// `p` must be NULL or a NUL-terminated wide string valid during the call.
unsafe fn opt_string(p: crate::sys::LPCWSTR) -> Option<String> {
    // SAFETY: forwarded from the caller.
    unsafe { from_wide_ptr(p) }.filter(|s| !s.is_empty())
}

/// A running distribution (`WSLDistributionInformation`).
#[derive(Clone, Copy)]
pub struct Distribution<'a> {
    raw: *const WSLDistributionInformation,
    host: Version,
    _life: PhantomData<&'a WSLDistributionInformation>,
}

impl<'a> Distribution<'a> {
    /// Wraps the host's struct.
    ///
    /// # Safety
    /// `raw` must point to the distribution information a host passed to a
    /// hook, valid for `'a`, laid out as the header of WSL API `host` says
    /// (fields added after `host` are not read).
    pub unsafe fn from_raw(raw: *const WSLDistributionInformation, host: Version) -> Self {
        Distribution {
            raw,
            host,
            _life: PhantomData,
        }
    }

    /// The distribution's GUID, fixed at registration.
    pub fn id(&self) -> Uuid {
        // SAFETY: `Id` is in every version of the struct; `raw` is valid (from_raw).
        guid_to_uuid(unsafe { &*addr_of!((*self.raw).Id) })
    }

    /// The distribution's name.
    pub fn name(&self) -> String {
        // SAFETY: `Name` is in every version; the host passes a valid string or NULL.
        unsafe { from_wide_ptr(addr_of!((*self.raw).Name).read()) }.unwrap_or_default()
    }

    /// The inode number of the distribution's pid namespace.
    pub fn pid_namespace(&self) -> u64 {
        // SAFETY: `PidNamespace` is in every version of the struct.
        unsafe { addr_of!((*self.raw).PidNamespace).read() }
    }

    /// The Store package family name; `None` when there is none (WSL passes an
    /// empty string then; wslp always does).
    pub fn package_family_name(&self) -> Option<String> {
        // SAFETY: `PackageFamilyName` is in every version of the struct.
        unsafe { opt_string(addr_of!((*self.raw).PackageFamilyName).read()) }
    }

    /// The pid of the distribution's init, as seen from the VM's root
    /// namespace; `None` when the host is older than WSL 2.0.5.
    pub fn init_pid(&self) -> Option<u32> {
        if self.host < Version::INIT_PID {
            return None;
        }
        // SAFETY: the host's version says the field is there.
        Some(unsafe { addr_of!((*self.raw).InitPid).read() })
    }

    /// `ID=` of the distribution's os-release; `None` when missing or when the
    /// host is older than WSL 2.4.4.
    pub fn flavor(&self) -> Option<String> {
        if self.host < Version::FLAVOR {
            return None;
        }
        // SAFETY: the host's version says the field is there.
        unsafe { opt_string(addr_of!((*self.raw).Flavor).read()) }
    }

    /// `VERSION_ID=` of the distribution's os-release; `None` when missing or
    /// when the host is older than WSL 2.4.4.
    pub fn version(&self) -> Option<String> {
        if self.host < Version::FLAVOR {
            return None;
        }
        // SAFETY: the host's version says the field is there.
        unsafe { opt_string(addr_of!((*self.raw).Version).read()) }
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
    raw: *const WslOfflineDistributionInformation,
    host: Version,
    _life: PhantomData<&'a WslOfflineDistributionInformation>,
}

impl<'a> OfflineDistribution<'a> {
    /// Wraps the host's struct.
    ///
    /// # Safety
    /// As [`Distribution::from_raw`].
    pub unsafe fn from_raw(raw: *const WslOfflineDistributionInformation, host: Version) -> Self {
        OfflineDistribution {
            raw,
            host,
            _life: PhantomData,
        }
    }

    /// The distribution's GUID.
    pub fn id(&self) -> Uuid {
        // SAFETY: `Id` is in every version of the struct; `raw` is valid (from_raw).
        guid_to_uuid(unsafe { &*addr_of!((*self.raw).Id) })
    }

    /// The distribution's name.
    pub fn name(&self) -> String {
        // SAFETY: `Name` is in every version of the struct.
        unsafe { from_wide_ptr(addr_of!((*self.raw).Name).read()) }.unwrap_or_default()
    }

    /// The Store package family name; `None` when there is none.
    pub fn package_family_name(&self) -> Option<String> {
        // SAFETY: `PackageFamilyName` is in every version of the struct.
        unsafe { opt_string(addr_of!((*self.raw).PackageFamilyName).read()) }
    }

    /// `ID=` of os-release; `None` when missing or the host is older than WSL 2.4.4.
    pub fn flavor(&self) -> Option<String> {
        if self.host < Version::FLAVOR {
            return None;
        }
        // SAFETY: the host's version says the field is there.
        unsafe { opt_string(addr_of!((*self.raw).Flavor).read()) }
    }

    /// `VERSION_ID=` of os-release; `None` when missing or the host is older than WSL 2.4.4.
    pub fn version(&self) -> Option<String> {
        if self.host < Version::FLAVOR {
            return None;
        }
        // SAFETY: the host's version says the field is there.
        unsafe { opt_string(addr_of!((*self.raw).Version).read()) }
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
    use crate::wide::to_wide;

    #[test]
    fn distribution_fields_and_version_gating() {
        let name = to_wide("Ubuntu").unwrap();
        let empty = to_wide("").unwrap();
        let flavor = to_wide("ubuntu").unwrap();
        let ver = to_wide("24.04").unwrap();
        let id = Uuid::parse_str("0b6b5d5e-1a2b-4c3d-8e9f-001122334455").unwrap();
        let raw = WSLDistributionInformation {
            Id: uuid_to_guid(&id),
            Name: name.as_ptr(),
            PidNamespace: 4026531836,
            PackageFamilyName: empty.as_ptr(),
            InitPid: 4242,
            Flavor: flavor.as_ptr(),
            Version: ver.as_ptr(),
        };
        // SAFETY: `raw` and its strings outlive the view.
        let d = unsafe { Distribution::from_raw(&raw, Version::new(2, 9, 5)) };
        assert_eq!(d.id(), id);
        assert_eq!(d.name(), "Ubuntu");
        assert_eq!(d.pid_namespace(), 4026531836);
        assert_eq!(d.package_family_name(), None);
        assert_eq!(d.init_pid(), Some(4242));
        assert_eq!(d.flavor().as_deref(), Some("ubuntu"));
        assert_eq!(d.version().as_deref(), Some("24.04"));

        // SAFETY: as above.
        let old = unsafe { Distribution::from_raw(&raw, Version::new(2, 1, 2)) };
        assert_eq!(old.init_pid(), Some(4242));
        assert_eq!(old.flavor(), None);
        // SAFETY: as above.
        let older = unsafe { Distribution::from_raw(&raw, Version::new(2, 0, 4)) };
        assert_eq!(older.init_pid(), None);
    }

    #[test]
    fn null_flavor_is_none() {
        let name = to_wide("alpine").unwrap();
        let raw = WslOfflineDistributionInformation {
            Id: GUID::default(),
            Name: name.as_ptr(),
            PackageFamilyName: std::ptr::null(),
            Flavor: std::ptr::null(),
            Version: std::ptr::null(),
        };
        // SAFETY: `raw` and its strings outlive the view.
        let d = unsafe { OfflineDistribution::from_raw(&raw, Version::new(2, 9, 5)) };
        assert_eq!(d.name(), "alpine");
        assert_eq!(d.flavor(), None);
        assert_eq!(d.package_family_name(), None);
        assert_eq!(d.id(), Uuid::nil());
    }

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
