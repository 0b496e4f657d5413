//! The C side of a plugin: the entry point and the hook trampolines that
//! [`export_plugin!`](crate::export_plugin) wires up.
//!
//! Every function here is called by the host through a C function pointer.
//! None lets a panic unwind into the host: a panic becomes `E_UNEXPECTED`
//! (with its text passed to `PluginError` in a start hook), since unwinding
//! through C frames is undefined behaviour and WSL's service is C++.

pub(crate) mod host;

use crate::api::Api;
use crate::error::Error;
use crate::sys::{
    WSLDistributionInformation, WSLPluginAPIV1, WSLPluginHooksV1, WSLSessionInformation,
    WSLVmCreationSettings, WslOfflineDistributionInformation, HRESULT,
};
use crate::version::{self, Version};
use crate::views::{Distribution, OfflineDistribution, Session, VmSettings};
use crate::Plugin;
use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::addr_of_mut;
use std::sync::{Arc, RwLock};
use wslp_abi::hresult::{E_INVALIDARG, E_UNEXPECTED, S_OK};

/// What `export_plugin!` declares about the plugin crate.
pub trait Exported: 'static {
    /// The plugin type.
    type Plugin: Plugin;
    /// The crate's name, for the log.
    const NAME: &'static str;
    /// The oldest WSL API the plugin works with.
    const MIN_VERSION: Version;
    /// Where the instance lives.
    fn slot() -> &'static Slot<Self::Plugin>;
}

/// Holds the plugin instance between the entry point and the hooks.
pub struct Slot<P> {
    inner: RwLock<Option<(Arc<P>, Api)>>,
}

impl<P> Slot<P> {
    /// An empty slot (a `static` initialiser).
    pub const fn new() -> Self {
        Slot {
            inner: RwLock::new(None),
        }
    }

    fn get(&self) -> Option<(Arc<P>, Api)> {
        // A panic never happens while the lock is held, but a poisoned lock
        // still holds a consistent value.
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(p, a)| (Arc::clone(p), *a))
    }

    fn set(&self, plugin: P, api: Api) {
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = Some((Arc::new(plugin), api));
    }
}

impl<P> Default for Slot<P> {
    fn default() -> Self {
        Self::new()
    }
}

thread_local! {
    /// Whether the hook running on this thread already called PluginError,
    /// so that the SDK does not call it a second time for the returned error.
    static PLUGIN_ERROR_SENT: Cell<bool> = const { Cell::new(false) };
}

pub(crate) fn note_plugin_error() {
    PLUGIN_ERROR_SENT.with(|c| c.set(true));
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

fn panicked(payload: Box<dyn Any + Send>) -> Error {
    let text = panic_text(&*payload);
    // Dropping a payload can itself panic; leak it rather than risk unwinding.
    std::mem::forget(payload);
    Error::with_message(E_UNEXPECTED, format!("the plugin panicked: {text}"))
}

/// The body of `WSLPluginAPIV1_EntryPoint`.
///
/// # Safety
/// `api` and `hooks` must be what a host passes to the entry point: NULL, or a
/// valid API table (alive while the plugin is loaded) and a writable hooks
/// table of at least the host's API version's size.
pub unsafe fn entry_point<E: Exported>(
    api: *const WSLPluginAPIV1,
    hooks: *mut WSLPluginHooksV1,
) -> HRESULT {
    if api.is_null() || hooks.is_null() {
        return E_INVALIDARG;
    }
    let run = || -> Result<(), Error> {
        // SAFETY: the host's table, valid while loaded (this fn's contract).
        let api = unsafe { Api::from_raw(api) };
        if <E::Plugin as Plugin>::INSTALL_LOGGER {
            crate::logger::install(E::NAME);
        }
        version::require(api.version(), E::MIN_VERSION)?;
        let plugin = <E::Plugin as Plugin>::new(api)?;
        E::slot().set(plugin, api);
        // SAFETY: `hooks` is writable (contract). Fields are written one by one
        // so a shorter table from an older host is not written past its end.
        unsafe {
            addr_of_mut!((*hooks).OnVMStarted).write(Some(on_vm_started::<E>));
            addr_of_mut!((*hooks).OnVMStopping).write(Some(on_vm_stopping::<E>));
            addr_of_mut!((*hooks).OnDistributionStarted).write(Some(on_distribution_started::<E>));
            addr_of_mut!((*hooks).OnDistributionStopping)
                .write(Some(on_distribution_stopping::<E>));
        }
        if api.version() >= Version::DISTRIBUTION_API {
            // SAFETY: as above; the host's version says these fields are there.
            unsafe {
                addr_of_mut!((*hooks).OnDistributionRegistered)
                    .write(Some(on_distribution_registered::<E>));
                addr_of_mut!((*hooks).OnDistributionUnregistered)
                    .write(Some(on_distribution_unregistered::<E>));
            }
        }
        #[cfg(unix)]
        // SAFETY: as above; the host's version says the WSLC tail is there.
        unsafe {
            wslc_hooks::install::<E>(hooks, api.version())
        };
        Ok(())
    };
    let result = catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|p| Err(panicked(p)));
    match result {
        Ok(()) => S_OK,
        Err(e) => {
            // PluginError is not allowed here; the log is the only place to say why.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                log::error!("loading the plugin failed: {e}");
            }));
            e.code()
        }
    }
}

/// Runs one hook on the plugin: panics caught, errors logged, and in a start
/// hook an error's message passed to PluginError unless the hook already did.
fn run_hook<E: Exported>(
    hook: &'static str,
    start_hook: bool,
    f: impl FnOnce(&E::Plugin) -> Result<(), Error>,
) -> HRESULT {
    let body = AssertUnwindSafe(|| {
        let Some((plugin, api)) = E::slot().get() else {
            log::error!("{hook} was called before the entry point succeeded");
            return E_UNEXPECTED;
        };
        PLUGIN_ERROR_SENT.with(|c| c.set(false));
        let result =
            catch_unwind(AssertUnwindSafe(|| f(&plugin))).unwrap_or_else(|p| Err(panicked(p)));
        match result {
            Ok(()) => S_OK,
            Err(e) => {
                log::error!("{hook} failed: {e}");
                let sent = PLUGIN_ERROR_SENT.with(|c| c.get());
                if let (true, false, Some(msg)) = (start_hook, sent, e.message()) {
                    if let Err(pe) = api.plugin_error(msg) {
                        log::warn!("passing the error message to the host failed: {pe}");
                    }
                }
                e.code()
            }
        }
    });
    catch_unwind(body).unwrap_or(E_UNEXPECTED)
}

unsafe extern "C" fn on_vm_started<E: Exported>(
    session: *const WSLSessionInformation,
    settings: *const WSLVmCreationSettings,
) -> HRESULT {
    if session.is_null() {
        return E_INVALIDARG;
    }
    // SAFETY: the host passes valid structs for the duration of the call.
    let session = Session::from_raw(unsafe { &*session });
    let settings = if settings.is_null() {
        VmSettings::default()
    } else {
        // SAFETY: as above.
        VmSettings::from_bits(unsafe { (*settings).CustomConfigurationFlags })
    };
    run_hook::<E>("OnVMStarted", true, |p| {
        p.on_vm_started(&session, &settings)
    })
}

unsafe extern "C" fn on_vm_stopping<E: Exported>(session: *const WSLSessionInformation) -> HRESULT {
    if session.is_null() {
        return E_INVALIDARG;
    }
    // SAFETY: the host passes a valid struct for the duration of the call.
    let session = Session::from_raw(unsafe { &*session });
    run_hook::<E>("OnVMStopping", false, |p| p.on_vm_stopping(&session))
}

/// The API version the plugin was loaded with, for the views' field gating.
fn host_version<E: Exported>() -> Version {
    E::slot()
        .get()
        .map(|(_, a)| a.version())
        .unwrap_or_default()
}

/// The four distribution hooks differ only in their struct, view, name and
/// whether PluginError is allowed (start hooks); one body serves them all.
macro_rules! distribution_hook {
    ($fn:ident, $raw:ty, $view:ident, $name:literal, $start:literal) => {
        unsafe extern "C" fn $fn<E: Exported>(
            session: *const WSLSessionInformation,
            distribution: *const $raw,
        ) -> HRESULT {
            if session.is_null() || distribution.is_null() {
                return E_INVALIDARG;
            }
            // SAFETY: the host passes valid structs of its API version for the call.
            let (session, distribution) = unsafe {
                (
                    Session::from_raw(&*session),
                    $view::from_raw(distribution, host_version::<E>()),
                )
            };
            run_hook::<E>($name, $start, |p| p.$fn(&session, &distribution))
        }
    };
}

distribution_hook!(
    on_distribution_started,
    WSLDistributionInformation,
    Distribution,
    "OnDistributionStarted",
    true
);
distribution_hook!(
    on_distribution_stopping,
    WSLDistributionInformation,
    Distribution,
    "OnDistributionStopping",
    false
);
distribution_hook!(
    on_distribution_registered,
    WslOfflineDistributionInformation,
    OfflineDistribution,
    "OnDistributionRegistered",
    false
);
distribution_hook!(
    on_distribution_unregistered,
    WslOfflineDistributionInformation,
    OfflineDistribution,
    "OnDistributionUnregistered",
    false
);

/// The WSLC hooks (WSL 2.9.0, the VM ones 2.9.5), Linux only.
#[cfg(unix)]
mod wslc_hooks {
    use super::{run_hook, Exported};
    use crate::ffi::host::narrow;
    use crate::sys::{WSLPluginHooksV1, HRESULT, LPCSTR};
    use crate::version::Version;
    use crate::wslc::{Container, Image, WslcSession};
    use crate::Plugin;
    use std::ptr::addr_of_mut;
    use wslp_abi::hresult::E_INVALIDARG;
    use wslp_abi::types::WSLCSessionInformation;

    /// # Safety
    /// `hooks` is the host's writable table of at least `version`'s size.
    pub(super) unsafe fn install<E: Exported>(hooks: *mut WSLPluginHooksV1, version: Version) {
        if version >= Version::WSLC_API {
            // SAFETY: the caller's contract: these fields are there.
            unsafe {
                addr_of_mut!((*hooks).OnSessionCreated).write(Some(session_created::<E>));
                addr_of_mut!((*hooks).OnSessionStopping).write(Some(session_stopping::<E>));
                addr_of_mut!((*hooks).ContainerStarted).write(Some(container_started::<E>));
                addr_of_mut!((*hooks).ContainerStopping).write(Some(container_stopping::<E>));
                addr_of_mut!((*hooks).ImageCreated).write(Some(image_created::<E>));
                addr_of_mut!((*hooks).ImageDeleted).write(Some(image_deleted::<E>));
            }
        }
        if version >= Version::WSLC_VM_HOOKS {
            // SAFETY: as above.
            unsafe {
                addr_of_mut!((*hooks).WslcVmStarted).write(Some(vm_started::<E>));
                addr_of_mut!((*hooks).WslcVmStopping).write(Some(vm_stopping::<E>));
            }
        }
    }

    /// A hook with only the session.
    macro_rules! session_hook {
        ($fn:ident, $method:ident, $name:literal, $fatal:literal) => {
            unsafe extern "C" fn $fn<E: Exported>(s: *const WSLCSessionInformation) -> HRESULT {
                // SAFETY: NULL or the host's struct, valid during the call.
                let Some(s) = (unsafe { s.as_ref() }) else {
                    return E_INVALIDARG;
                };
                let session = WslcSession::from_raw(s);
                run_hook::<E>($name, $fatal, |p| p.$method(&session))
            }
        };
    }

    session_hook!(
        session_created,
        on_session_created,
        "OnSessionCreated",
        true
    );
    session_hook!(
        session_stopping,
        on_session_stopping,
        "OnSessionStopping",
        false
    );
    session_hook!(vm_started, on_wslc_vm_started, "WslcVmStarted", false);
    session_hook!(vm_stopping, on_wslc_vm_stopping, "WslcVmStopping", false);

    /// The session and the hook's string, both valid during the call.
    ///
    /// # Safety
    /// What the host passes to a WSLC hook.
    unsafe fn args<'a>(
        s: *const WSLCSessionInformation,
        text: LPCSTR,
    ) -> Option<(WslcSession<'a>, &'a str)> {
        // SAFETY: the caller's contract.
        let s = unsafe { s.as_ref() }?;
        // SAFETY: the caller's contract.
        let text = unsafe { narrow(text) }?;
        Some((WslcSession::from_raw(s), text))
    }

    unsafe extern "C" fn container_started<E: Exported>(
        s: *const WSLCSessionInformation,
        inspect: LPCSTR,
    ) -> HRESULT {
        // SAFETY: what the host passes.
        let Some((session, json)) = (unsafe { args(s, inspect) }) else {
            return E_INVALIDARG;
        };
        run_hook::<E>("ContainerStarted", true, |p| {
            p.on_container_started(&session, &Container::parse(json)?)
        })
    }

    unsafe extern "C" fn container_stopping<E: Exported>(
        s: *const WSLCSessionInformation,
        id: LPCSTR,
    ) -> HRESULT {
        // SAFETY: what the host passes.
        let Some((session, id)) = (unsafe { args(s, id) }) else {
            return E_INVALIDARG;
        };
        run_hook::<E>("ContainerStopping", false, |p| {
            p.on_container_stopping(&session, id)
        })
    }

    unsafe extern "C" fn image_created<E: Exported>(
        s: *const WSLCSessionInformation,
        inspect: LPCSTR,
    ) -> HRESULT {
        // SAFETY: what the host passes.
        let Some((session, json)) = (unsafe { args(s, inspect) }) else {
            return E_INVALIDARG;
        };
        run_hook::<E>("ImageCreated", false, |p| {
            p.on_image_created(&session, &Image::parse(json)?)
        })
    }

    unsafe extern "C" fn image_deleted<E: Exported>(
        s: *const WSLCSessionInformation,
        id: LPCSTR,
    ) -> HRESULT {
        // SAFETY: what the host passes.
        let Some((session, id)) = (unsafe { args(s, id) }) else {
            return E_INVALIDARG;
        };
        run_hook::<E>("ImageDeleted", false, |p| p.on_image_deleted(&session, id))
    }
}
