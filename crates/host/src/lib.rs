//! The plugin manager: reads the registry, loads and verifies plugins, dispatches hooks
//! with WSL's fatal/logged policy, and serves the plugin API.
//!
//! The registry and settings files themselves (`plugins.toml`, `wslp.toml`) are
//! `wslp-config`'s: the CLI edits them without linking the plugin manager.
//!
//! Layout:
//! - [`instance`]: the [`PluginInstance`] trait every way of running a plugin implements
//!   (in the service, or in a plugin-host process), and the hook calls it carries.
//! - `out_of_process`, `protocol`, [`plugin_host`]: SPEC §8's plugin-host process: the
//!   service side, the wire protocol, and the host binary's code; `check`: the
//!   host binary's `--check` mode, the last step of `wslp plugin check`.
//! - `loader`: opening, signature checking and choosing what to `dlopen`.
//! - `ffi`: the one module with `dlopen`, the API table and raw plugin pointers.
//! - `api`: the process-global state behind the API table (sessions, PluginError context).
//! - [`manager`]: [`PluginManager`], the dispatch policy written once against [`PluginInstance`].
//! - [`trace`]: SPEC §13's events of hooks and API calls, for `wslp plugin trace`.

#![deny(unsafe_code)]

pub mod api;
mod check;
#[allow(unsafe_code)]
mod ffi;
#[doc(hidden)]
pub mod fuzzing;
pub mod instance;
mod loader;
pub mod manager;
mod out_of_process;
pub mod plugin_host;
mod protocol;
mod sync;
#[allow(unsafe_code)]
mod sys;
pub mod trace;
pub mod wslc_api;

pub use api::PluginServices;
pub use instance::{
    DistroInfo, HookCall, HookOutcome, OfflineDistroInfo, PluginInstance, Session, WslcSession,
};
pub use manager::{HostConfig, PluginFailure, PluginManager};
pub use out_of_process::forward_log;
pub use wslc_api::{set_wslc_services, WslcProcess, WslcServices};
pub use wslp_abi::GUID;
