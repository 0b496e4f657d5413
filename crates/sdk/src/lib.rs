//! Write WSL plugins in safe Rust: implement [`Plugin`], export it with
//! [`export_plugin!`], call the host through [`Api`].
//!
//! The same plugin source builds as a Linux shared object for wslp and as a
//! Windows DLL for WSL (`x86_64-pc-windows-gnu` or `-msvc`): [`sys`] maps the
//! C types per platform (32-bit `wchar_t` and file-descriptor sockets on
//! Linux, UTF-16 and Winsock sockets on Windows).
//!
//! ```
//! use wslp_sdk::{export_plugin, Api, Distribution, Plugin, Result, Session, VmSettings};
//!
//! struct Hello {
//!     api: Api,
//! }
//!
//! impl Plugin for Hello {
//!     fn new(api: Api) -> Result<Self> {
//!         log::info!("loaded by a host implementing WSL API {}", api.version());
//!         Ok(Hello { api })
//!     }
//!
//!     fn on_vm_started(&self, session: &Session<'_>, _settings: &VmSettings) -> Result<()> {
//!         let out = self.api.execute_binary_status(session, "/bin/uname", &["-r"])?;
//!         log::info!("kernel {} (uname exited with {})", out.stdout_text(), out.status);
//!         Ok(())
//!     }
//!
//!     fn on_distribution_started(&self, _s: &Session<'_>, d: &Distribution<'_>) -> Result<()> {
//!         log::info!("{} {{{}}} started", d.name(), d.id());
//!         Ok(())
//!     }
//! }
//!
//! // Exports `WSLPluginAPIV1_EntryPoint`; the host must implement WSL API 2.1.2 or later.
//! export_plugin!(Hello, min_version = (2, 1, 2));
//! # fn main() {}
//! ```
//!
//! Build it as a `cdylib`, register it (`wslp plugin add Hello
//! target/debug/libhello.so`), and its hooks run at the next VM start.
//!
//! What the SDK does at the boundary, so the plugin does not have to:
//! - the entry point checks the host's API version against `min_version` and
//!   answers `WSL_E_PLUGIN_REQUIRES_UPDATE` when it is older, creates the
//!   plugin once ([`Plugin::new`]) and fills the hook table;
//! - a panic in a hook never unwinds into the host: it becomes `E_UNEXPECTED`,
//!   and in a start hook its text reaches the user through `PluginError`;
//! - an [`Error`] with a message returned from a start hook is passed to
//!   `PluginError`, so the user sees why;
//! - fields and calls that the host's WSL version does not have are never
//!   read (`init_pid`, `flavor`, ... are `None`; calls return `E_NOTIMPL`);
//! - `log` records go to stderr, which wslp puts in its log ([`logger`]).

#![warn(missing_docs)]
// `unsafe` lives in `ffi` (the C side of the boundary) and `sys` (raw types
// and the system calls that need it); everything else is safe Rust.
#![deny(unsafe_code)]

pub mod api;
pub mod error;
pub mod exec;
#[doc(hidden)]
#[allow(unsafe_code)]
pub mod ffi;
pub mod logger;
mod module;
#[allow(unsafe_code)]
pub mod sys;
pub mod version;
pub mod views;
pub mod wide;
#[cfg(unix)]
pub mod wslc;

pub use api::{Api, SessionId};
pub use error::{Error, Result};
pub use exec::Output;
pub use module::plugin_file;
pub use sys::ProcessStream;
pub use uuid::Uuid;
pub use version::Version;
pub use views::{Distribution, OfflineDistribution, Session, VmSettings};
/// HRESULT constants (`E_FAIL`, `hresult_from_win32`, ...) and their names.
pub use wslp_abi::hresult;

/// A WSL plugin.
///
/// The host calls the hooks synchronously, each on the thread that starts or
/// stops the thing, possibly from several threads at once (two distributions
/// starting): hence `Send + Sync`, and `&self`. Every hook has a no-op default.
///
/// A start hook's error is fatal to what is starting (the VM, or the
/// distribution) and is shown to the user; the other hooks' errors are only
/// logged by the host.
pub trait Plugin: Sized + Send + Sync + 'static {
    /// Whether the entry point installs the SDK's stderr logger ([`logger`])
    /// before calling [`new`](Self::new). Set it to `false` to install your own.
    const INSTALL_LOGGER: bool = true;

    /// Creates the plugin; called once, by the entry point, after the version
    /// check. An error here fails every VM start until the plugin is fixed
    /// (`PluginError` is not available yet, so say why in the log).
    fn new(api: Api) -> Result<Self>;

    /// The VM is up, before any distribution starts. An error fails the VM start.
    fn on_vm_started(&self, session: &Session<'_>, settings: &VmSettings) -> Result<()> {
        let _ = (session, settings);
        Ok(())
    }

    /// The VM is about to stop (it is still up: programs can still run).
    fn on_vm_stopping(&self, session: &Session<'_>) -> Result<()> {
        let _ = session;
        Ok(())
    }

    /// A distribution's init is running, before the user's command. An error
    /// fails the distribution's start.
    fn on_distribution_started(
        &self,
        session: &Session<'_>,
        distribution: &Distribution<'_>,
    ) -> Result<()> {
        let _ = (session, distribution);
        Ok(())
    }

    /// A distribution is about to stop (it is still running).
    fn on_distribution_stopping(
        &self,
        session: &Session<'_>,
        distribution: &Distribution<'_>,
    ) -> Result<()> {
        let _ = (session, distribution);
        Ok(())
    }

    /// A distribution was registered (imported). WSL 2.1.2 and later. The VM
    /// may not be running.
    fn on_distribution_registered(
        &self,
        session: &Session<'_>,
        distribution: &OfflineDistribution<'_>,
    ) -> Result<()> {
        let _ = (session, distribution);
        Ok(())
    }

    /// A distribution is about to be unregistered. WSL 2.1.2 and later. The
    /// VM may not be running.
    fn on_distribution_unregistered(
        &self,
        session: &Session<'_>,
        distribution: &OfflineDistribution<'_>,
    ) -> Result<()> {
        let _ = (session, distribution);
        Ok(())
    }

    /// OnSessionCreated (WSLC, SPEC §11): an error refuses the session, with
    /// its message shown as in [`on_vm_started`](Self::on_vm_started).
    #[cfg(unix)]
    fn on_session_created(&self, session: &wslc::WslcSession<'_>) -> Result<()> {
        let _ = session;
        Ok(())
    }

    /// OnSessionStopping: errors are only logged.
    #[cfg(unix)]
    fn on_session_stopping(&self, session: &wslc::WslcSession<'_>) -> Result<()> {
        let _ = session;
        Ok(())
    }

    /// ContainerStarted: an error stops the container and fails the command
    /// that started it, with its message.
    #[cfg(unix)]
    fn on_container_started(
        &self,
        session: &wslc::WslcSession<'_>,
        container: &wslc::Container,
    ) -> Result<()> {
        let _ = (session, container);
        Ok(())
    }

    /// ContainerStopping: a running container stopped. Errors are only logged.
    #[cfg(unix)]
    fn on_container_stopping(
        &self,
        session: &wslc::WslcSession<'_>,
        container_id: &str,
    ) -> Result<()> {
        let _ = (session, container_id);
        Ok(())
    }

    /// ImageCreated: after `image import`, once per image `image load` loaded.
    #[cfg(unix)]
    fn on_image_created(&self, session: &wslc::WslcSession<'_>, image: &wslc::Image) -> Result<()> {
        let _ = (session, image);
        Ok(())
    }

    /// ImageDeleted: once per image id `image rm` deleted.
    #[cfg(unix)]
    fn on_image_deleted(&self, session: &wslc::WslcSession<'_>, image_id: &str) -> Result<()> {
        let _ = (session, image_id);
        Ok(())
    }

    /// WslcVmStarted (WSL 2.9.5): each start of the session's VM, its engine
    /// ready; the WSLC calls work here. Errors are only logged.
    #[cfg(unix)]
    fn on_wslc_vm_started(&self, session: &wslc::WslcSession<'_>) -> Result<()> {
        let _ = session;
        Ok(())
    }

    /// WslcVmStopping (WSL 2.9.5): before the VM goes; the calls still work.
    #[cfg(unix)]
    fn on_wslc_vm_stopping(&self, session: &wslc::WslcSession<'_>) -> Result<()> {
        let _ = session;
        Ok(())
    }
}

/// Exports a [`Plugin`] type as the plugin of this crate: defines
/// `WSLPluginAPIV1_EntryPoint` and declares the oldest WSL API version the
/// plugin needs (`min_version = (major, minor, revision)`). A host that is
/// older gets `WSL_E_PLUGIN_REQUIRES_UPDATE`.
///
/// Use it once per `cdylib` crate.
///
/// ```
/// struct Quiet;
/// impl wslp_sdk::Plugin for Quiet {
///     fn new(_api: wslp_sdk::Api) -> wslp_sdk::Result<Self> {
///         Ok(Quiet)
///     }
/// }
/// // WSL 2.0.5 is when `InitPid` appeared, which is the oldest worth targeting.
/// wslp_sdk::export_plugin!(Quiet, min_version = (2, 0, 5));
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty, min_version = ($major:expr, $minor:expr, $revision:expr) $(,)?) => {
        const _: () = {
            static SLOT: $crate::ffi::Slot<$plugin> = $crate::ffi::Slot::new();

            struct Export;

            impl $crate::ffi::Exported for Export {
                type Plugin = $plugin;
                const NAME: &'static str = ::core::env!("CARGO_PKG_NAME");
                const MIN_VERSION: $crate::Version =
                    $crate::Version::new($major, $minor, $revision);
                fn slot() -> &'static $crate::ffi::Slot<$plugin> {
                    &SLOT
                }
            }

            /// The plugin's entry point, called once by the host at load.
            ///
            /// # Safety
            /// Only the host calls it, with its API table and a zeroed hooks table.
            // A plugin crate may deny `unsafe_code`: this one entry point is
            // the SDK's, and its only unsafe is calling `entry_point`.
            #[allow(unsafe_code)]
            #[no_mangle]
            pub unsafe extern "C" fn WSLPluginAPIV1_EntryPoint(
                api: *const $crate::sys::WSLPluginAPIV1,
                hooks: *mut $crate::sys::WSLPluginHooksV1,
            ) -> $crate::sys::HRESULT {
                // SAFETY: the host passes what `entry_point` requires.
                unsafe { $crate::ffi::entry_point::<Export>(api, hooks) }
            }
        };
    };
}
