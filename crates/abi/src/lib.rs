//! The plugin ABI: a `#[repr(C)]` mirror of `include/WslPluginApi.h`, HRESULT
//! constants and names, and the user-facing error texts of WSL.
//!
//! Nothing here runs plugin code; it only describes the bytes that cross the
//! boundary and how failures are spelled to the user.

#![deny(unsafe_code)]

#[allow(unsafe_code)]
pub mod ffi;
pub mod hresult;
pub mod messages;
pub mod types;

pub use hresult::{hresult_name, HResult};
pub use types::*;

/// The WSL API level wslp implements and reports in `Api->Version`
/// (not wslp's own version), so plugins' `WSL_PLUGIN_REQUIRE_VERSION` checks pass.
pub const WSL_API_VERSION: WSLVersion = WSLVersion {
    Major: 2,
    Minor: 9,
    Revision: 5,
};
