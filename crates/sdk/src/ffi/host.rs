//! The host's side of the boundary, read and called from the plugin: the API
//! table behind [`Api`] and the structs behind the views. Every raw pointer
//! the host hands the plugin is dereferenced here and nowhere else; the
//! public types wrap these in safe methods.

use crate::api::Api;
use crate::sys::{
    self, ProcessStream, WSLDistributionInformation, WSLPluginAPIV1, WSLPluginAPI_ExecuteBinary,
    WSLPluginAPI_ExecuteBinaryInDistribution, WSLPluginAPI_MountFolder, WSLPluginAPI_PluginError,
    WslOfflineDistributionInformation, GUID, HRESULT, LPCSTR, LPCWSTR, SOCKET, WCHAR,
};
use crate::version::Version;
use crate::views::{Distribution, OfflineDistribution};
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::ptr::addr_of;
use wslp_abi::hresult;

/// A copy of the host's function pointers (the host keeps them valid while
/// the plugin is loaded). `None` for a call the host's table lacks.
#[derive(Clone, Copy)]
pub(crate) struct RawApi {
    pub(crate) mount_folder: WSLPluginAPI_MountFolder,
    pub(crate) execute_binary: WSLPluginAPI_ExecuteBinary,
    pub(crate) plugin_error: WSLPluginAPI_PluginError,
    pub(crate) execute_binary_in_distribution: WSLPluginAPI_ExecuteBinaryInDistribution,
    /// The WSLC calls, from WSL 2.9.0 on.
    #[cfg(unix)]
    pub(crate) wslc: Option<RawWslc>,
}

impl Api {
    /// Copies the host's table.
    ///
    /// Reads only the fields that the host's API version has
    /// (`ExecuteBinaryInDistribution` from WSL 2.1.2 on), so an older host's
    /// shorter table is not read past its end.
    ///
    /// # Safety
    /// `raw` must point to a `WSLPluginAPIV1` table as a host passes it to the
    /// entry point, whose function pointers stay valid while the plugin is loaded.
    pub unsafe fn from_raw(raw: *const WSLPluginAPIV1) -> Self {
        // SAFETY: `Version` and the first three calls are in every version of the table.
        let (version, mount_folder, execute_binary, plugin_error) = unsafe {
            (
                Version::from(addr_of!((*raw).Version).read()),
                addr_of!((*raw).MountFolder).read(),
                addr_of!((*raw).ExecuteBinary).read(),
                addr_of!((*raw).PluginError).read(),
            )
        };
        let execute_binary_in_distribution = if version >= Version::DISTRIBUTION_API {
            // SAFETY: the host's version says the field is there.
            unsafe { addr_of!((*raw).ExecuteBinaryInDistribution).read() }
        } else {
            None
        };
        #[cfg(unix)]
        // SAFETY: the host's version says the WSLC tail is there.
        let wslc = (version >= Version::WSLC_API).then(|| unsafe { RawWslc::read(raw) });
        Api::new(
            version,
            RawApi {
                mount_folder,
                execute_binary,
                plugin_error,
                execute_binary_in_distribution,
                #[cfg(unix)]
                wslc,
            },
        )
    }
}

/// Panics unless `w` ends with its NUL: the host reads up to it.
fn terminated(w: &[WCHAR]) -> LPCWSTR {
    assert_eq!(w.last(), Some(&0), "wide string without its NUL");
    w.as_ptr()
}

/// A NULL-terminated pointer array over `args`, which must outlive it.
fn pointers(args: &[CString]) -> Vec<LPCSTR> {
    args.iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// What an ExecuteBinary call gave back.
pub(crate) struct Started {
    pub(crate) hr: HRESULT,
    /// The program's stream, when the call succeeded and returned one.
    pub(crate) stream: Option<ProcessStream>,
}

impl RawApi {
    /// `MountFolder`; `None` when the host's table lacks it. The strings are
    /// NUL-terminated wide strings ([`to_wide`](crate::wide::to_wide)).
    pub(crate) fn mount_folder(
        &self,
        session: u32,
        host_path: &[WCHAR],
        vm_path: &[WCHAR],
        read_only: bool,
        name: &[WCHAR],
    ) -> Option<HRESULT> {
        let f = self.mount_folder?;
        let (h, v, n) = (terminated(host_path), terminated(vm_path), terminated(name));
        // SAFETY: the strings are NUL-terminated and outlive the call; `f` is the
        // host's MountFolder, valid while the plugin is loaded (Api::from_raw).
        Some(unsafe { f(session, h, v, i32::from(read_only), n) })
    }

    /// `ExecuteBinary` of `path` with `argv` (its first element is `argv[0]`);
    /// `None` when the host's table lacks it.
    pub(crate) fn execute_binary(
        &self,
        session: u32,
        path: &CStr,
        argv: &[CString],
    ) -> Option<Started> {
        let f = self.execute_binary?;
        let mut argv = pointers(argv);
        let mut socket: SOCKET = sys::INVALID_SOCKET;
        // SAFETY: path and argv are NUL-terminated and outlive the call, argv ends
        // with NULL; `f` is the host's ExecuteBinary (Api::from_raw).
        let hr = unsafe { f(session, path.as_ptr(), argv.as_mut_ptr(), &mut socket) };
        Some(started(hr, socket))
    }

    /// `ExecuteBinaryInDistribution`; `None` when the host's table lacks it
    /// (a host older than WSL 2.1.2).
    pub(crate) fn execute_binary_in_distribution(
        &self,
        session: u32,
        distribution: &GUID,
        path: &CStr,
        argv: &[CString],
    ) -> Option<Started> {
        let f = self.execute_binary_in_distribution?;
        let mut argv = pointers(argv);
        let mut socket: SOCKET = sys::INVALID_SOCKET;
        // SAFETY: as in execute_binary; `distribution` outlives the call.
        let hr = unsafe {
            f(
                session,
                distribution,
                path.as_ptr(),
                argv.as_mut_ptr(),
                &mut socket,
            )
        };
        Some(started(hr, socket))
    }

    /// `PluginError`; `None` when the host's table lacks it.
    pub(crate) fn plugin_error(&self, message: &[WCHAR]) -> Option<HRESULT> {
        let f = self.plugin_error?;
        let m = terminated(message);
        // SAFETY: `message` is NUL-terminated and outlives the call; `f` is the
        // host's PluginError (Api::from_raw).
        Some(unsafe { f(m) })
    }
}

/// Takes the socket a successful call returned.
fn started(hr: HRESULT, socket: SOCKET) -> Started {
    let stream = (hresult::succeeded(hr) && socket != sys::INVALID_SOCKET).then(|| {
        // SAFETY: the host handed us this socket with its success, and we are
        // its only owner.
        unsafe { sys::stream_from_socket(socket) }
    });
    Started { hr, stream }
}

/// A string field: `None` for NULL.
///
/// # Safety
/// `p` must be NULL or a NUL-terminated wide string valid during the call.
unsafe fn string(p: LPCWSTR) -> Option<String> {
    // SAFETY: forwarded from the caller.
    unsafe { sys::from_wide_ptr(p) }
}

/// The host's `WSLDistributionInformation`, valid for `'a`, laid out as the
/// header of the host's API version says: fields a newer WSL added read as
/// `None` on an older host instead of past the end of its struct.
#[derive(Clone, Copy)]
pub(crate) struct RawDistribution<'a> {
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
        Distribution::new(RawDistribution {
            raw,
            host,
            _life: PhantomData,
        })
    }
}

/// The host's `WslOfflineDistributionInformation`, as [`RawDistribution`].
#[derive(Clone, Copy)]
pub(crate) struct RawOfflineDistribution<'a> {
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
        OfflineDistribution::new(RawOfflineDistribution {
            raw,
            host,
            _life: PhantomData,
        })
    }
}

/// The fields both distribution structs have, at the same names: the
/// reads are the same for both.
macro_rules! common_fields {
    ($raw:ident) => {
        impl $raw<'_> {
            pub(crate) fn id(&self) -> GUID {
                // SAFETY: `Id` is in every version of the struct; `raw` is valid (from_raw).
                unsafe { addr_of!((*self.raw).Id).read() }
            }

            pub(crate) fn name(&self) -> Option<String> {
                // SAFETY: `Name` is in every version; the host passes a valid string or NULL.
                unsafe { string(addr_of!((*self.raw).Name).read()) }
            }

            pub(crate) fn package_family_name(&self) -> Option<String> {
                // SAFETY: `PackageFamilyName` is in every version of the struct.
                unsafe { string(addr_of!((*self.raw).PackageFamilyName).read()) }
            }

            /// `None` when the host is older than WSL 2.4.4.
            pub(crate) fn flavor(&self) -> Option<String> {
                if self.host < Version::FLAVOR {
                    return None;
                }
                // SAFETY: the host's version says the field is there.
                unsafe { string(addr_of!((*self.raw).Flavor).read()) }
            }

            /// `None` when the host is older than WSL 2.4.4.
            pub(crate) fn version(&self) -> Option<String> {
                if self.host < Version::FLAVOR {
                    return None;
                }
                // SAFETY: the host's version says the field is there.
                unsafe { string(addr_of!((*self.raw).Version).read()) }
            }
        }
    };
}

common_fields!(RawDistribution);
common_fields!(RawOfflineDistribution);

impl RawDistribution<'_> {
    pub(crate) fn pid_namespace(&self) -> u64 {
        // SAFETY: `PidNamespace` is in every version of the struct.
        unsafe { addr_of!((*self.raw).PidNamespace).read() }
    }

    /// `None` when the host is older than WSL 2.0.5.
    pub(crate) fn init_pid(&self) -> Option<u32> {
        if self.host < Version::INIT_PID {
            return None;
        }
        // SAFETY: the host's version says the field is there.
        Some(unsafe { addr_of!((*self.raw).InitPid).read() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::uuid_to_guid;
    use crate::wide::to_wide;
    use uuid::Uuid;

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
}

/// The WSLC calls of the host's table (WSL 2.9.0 and later; Linux only in
/// this SDK), copied like [`RawApi`].
#[cfg(unix)]
#[derive(Clone, Copy)]
pub(crate) struct RawWslc {
    mount_folder: wslp_abi::types::WSLCPluginAPI_MountFolder,
    unmount_folder: wslp_abi::types::WSLCPluginAPI_UnmountFolder,
    create_process: wslp_abi::types::WSLCPluginAPI_CreateProcess,
    get_fd: wslp_abi::types::WSLCPluginAPI_ProcessGetFd,
    get_exit_event: wslp_abi::types::WSLCPluginAPI_ProcessGetExitEvent,
    get_exit_code: wslp_abi::types::WSLCPluginAPI_ProcessGetExitCode,
    release: wslp_abi::types::WSLCPluginAPI_ReleaseProcess,
}

/// A `WSLCProcessHandle` with the calls that act on it; released on drop.
#[cfg(unix)]
pub(crate) struct RawProcess {
    handle: wslp_abi::types::WSLCProcessHandle,
    api: RawWslc,
}

// SAFETY: the handle is an opaque token the host's calls accept from any
// thread (SPEC §11: WSLC calls on any thread, any time); nothing here reads
// through it.
#[cfg(unix)]
unsafe impl Send for RawProcess {}
// SAFETY: as above; every call through `&self` is one host call.
#[cfg(unix)]
unsafe impl Sync for RawProcess {}

#[cfg(unix)]
impl RawWslc {
    /// Reads the WSLC tail of the host's table.
    ///
    /// # Safety
    /// `raw` as for [`Api::from_raw`], from a host whose version has the tail.
    pub(crate) unsafe fn read(raw: *const WSLPluginAPIV1) -> RawWslc {
        // SAFETY: the caller's contract: the fields are there.
        unsafe {
            RawWslc {
                mount_folder: addr_of!((*raw).WSLCMountFolder).read(),
                unmount_folder: addr_of!((*raw).WSLCUnmountFolder).read(),
                create_process: addr_of!((*raw).WSLCCreateProcess).read(),
                get_fd: addr_of!((*raw).WSLCProcessGetFd).read(),
                get_exit_event: addr_of!((*raw).WSLCProcessGetExitEvent).read(),
                get_exit_code: addr_of!((*raw).WSLCProcessGetExitCode).read(),
                release: addr_of!((*raw).WSLCReleaseProcess).read(),
            }
        }
    }

    pub(crate) fn mount_folder(
        &self,
        session: u32,
        host_path: &[WCHAR],
        mountpoint: &CStr,
        read_only: bool,
    ) -> Option<HRESULT> {
        let f = self.mount_folder?;
        // SAFETY: NUL-terminated strings that outlive the call; the host's call.
        Some(unsafe {
            f(
                session,
                terminated(host_path),
                mountpoint.as_ptr(),
                i32::from(read_only),
            )
        })
    }

    pub(crate) fn unmount_folder(&self, session: u32, mountpoint: &CStr) -> Option<HRESULT> {
        let f = self.unmount_folder?;
        // SAFETY: a NUL-terminated string that outlives the call; the host's call.
        Some(unsafe { f(session, mountpoint.as_ptr()) })
    }

    /// `WSLCCreateProcess`: the HRESULT, `*Errno`, and the process on success.
    pub(crate) fn create_process(
        &self,
        session: u32,
        executable: &CStr,
        argv: &[CString],
        env: &[CString],
    ) -> Option<(HRESULT, i32, Option<RawProcess>)> {
        let f = self.create_process?;
        let mut argv = pointers(argv);
        let mut env = pointers(env);
        let mut handle: wslp_abi::types::WSLCProcessHandle = std::ptr::null_mut();
        let mut errno: i32 = 0;
        // SAFETY: NUL-terminated strings and NULL-terminated arrays that
        // outlive the call; out-pointers to locals; the host's call.
        let hr = unsafe {
            f(
                session,
                executable.as_ptr(),
                argv.as_mut_ptr(),
                env.as_mut_ptr(),
                &mut handle,
                &mut errno,
            )
        };
        let process = (hr >= 0 && !handle.is_null()).then_some(RawProcess { handle, api: *self });
        Some((hr, errno, process))
    }
}

#[cfg(unix)]
impl RawProcess {
    /// `WSLCProcessGetFd`: the descriptor, now the caller's.
    pub(crate) fn take_fd(&self, fd: u32) -> Result<std::os::fd::OwnedFd, HRESULT> {
        use std::os::fd::FromRawFd;
        let f = self.api.get_fd.ok_or(hresult::E_NOTIMPL)?;
        let mut h: sys::HANDLE = std::ptr::null_mut();
        // SAFETY: a live handle and an out-pointer to a local; the host's call.
        let hr = unsafe { f(self.handle, fd, &mut h) };
        let raw = wslp_abi::handle_fd(h);
        if hr < 0 || raw <= 0 {
            return Err(if hr < 0 { hr } else { hresult::E_UNEXPECTED });
        }
        // SAFETY: the host hands the descriptor over (SPEC §11: the caller owns it).
        Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) })
    }

    /// `WSLCProcessGetExitEvent`: a descriptor that polls readable once it exited.
    pub(crate) fn exit_event(&self) -> Result<std::os::fd::OwnedFd, HRESULT> {
        use std::os::fd::FromRawFd;
        let f = self.api.get_exit_event.ok_or(hresult::E_NOTIMPL)?;
        let mut h: sys::HANDLE = std::ptr::null_mut();
        // SAFETY: a live handle and an out-pointer to a local; the host's call.
        let hr = unsafe { f(self.handle, &mut h) };
        let raw = wslp_abi::handle_fd(h);
        if hr < 0 || raw <= 0 {
            return Err(if hr < 0 { hr } else { hresult::E_UNEXPECTED });
        }
        // SAFETY: a new descriptor each call, the caller's (SPEC §11).
        Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) })
    }

    /// `WSLCProcessGetExitCode`: the HRESULT and `*Code`.
    pub(crate) fn exit_code(&self) -> (HRESULT, i32) {
        let Some(f) = self.api.get_exit_code else {
            return (hresult::E_NOTIMPL, -1);
        };
        let mut code = -1;
        // SAFETY: a live handle and an out-pointer to a local; the host's call.
        let hr = unsafe { f(self.handle, &mut code) };
        (hr, code)
    }
}

#[cfg(unix)]
impl Drop for RawProcess {
    fn drop(&mut self) {
        if let Some(f) = self.api.release {
            // SAFETY: the handle from WSLCCreateProcess, released once, here.
            unsafe { f(self.handle) };
        }
    }
}

/// A `WSLCSessionInformation` the host passes to a WSLC hook.
#[cfg(unix)]
pub(crate) struct RawWslcSession<'a> {
    pub(crate) raw: &'a wslp_abi::types::WSLCSessionInformation,
}

#[cfg(unix)]
impl RawWslcSession<'_> {
    pub(crate) fn name(&self) -> Option<String> {
        // SAFETY: `DisplayName` is NULL or a NUL-terminated wide string the
        // host keeps valid during the hook.
        unsafe { string(self.raw.DisplayName) }
    }
}

/// A UTF-8 string the host passes to a WSLC hook (JSON or an id).
///
/// # Safety
/// `p` is NULL or NUL-terminated, valid during the hook.
#[cfg(unix)]
pub(crate) unsafe fn narrow<'a>(p: LPCSTR) -> Option<&'a str> {
    // SAFETY: the caller's contract.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().ok())?
}
