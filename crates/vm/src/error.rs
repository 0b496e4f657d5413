//! Errors of the VM runtime and the HRESULT each one means to a plugin (SPEC §5).

use std::io;
use std::path::PathBuf;

use wslp_abi::hresult::{self, HResult};

/// What went wrong in the VM or a distribution.
#[derive(thiserror::Error, Debug)]
pub enum VmError {
    /// A NULL/empty path or argv, a path with a NUL byte, a VM path that is not
    /// absolute or leaves the root with `..`.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The host folder of a MountFolder call does not exist.
    #[error("host path {} does not exist: {source}", path.display())]
    HostPathNotFound { path: PathBuf, source: io::Error },

    /// The VM (or the distribution) is not running: it was never started, was
    /// stopped, or its init died.
    #[error("{what} is not running; start it again")]
    NotRunning { what: String },

    /// The program could not be started (missing binary, not executable, bad
    /// format); `where_` says which VM or distribution.
    #[error("cannot execute {program} in {where_}: {source}")]
    Exec {
        program: String,
        where_: String,
        source: io::Error,
    },

    /// The requested working directory does not exist (or is not usable).
    #[error("cannot change to directory {} in {where_}: {source}", path.display())]
    WorkingDirectory {
        path: PathBuf,
        where_: String,
        source: io::Error,
    },

    /// One step of preparing a process, a mount or a namespace failed.
    #[error("{step} failed: {source}")]
    Setup { step: String, source: io::Error },
}

impl VmError {
    /// The HRESULT a plugin sees for this error (SPEC §5): missing binary →
    /// E_FAIL; bad arguments → E_INVALIDARG; missing host path →
    /// HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND); VM or distribution not
    /// running → WSL_E_VM_MODE_INVALID_STATE; anything else → E_FAIL.
    pub fn hresult(&self) -> HResult {
        match self {
            VmError::InvalidArgument(_) => hresult::E_INVALIDARG,
            VmError::HostPathNotFound { .. } => {
                hresult::hresult_from_win32(hresult::win32::ERROR_FILE_NOT_FOUND)
            }
            VmError::NotRunning { .. } => hresult::WSL_E_VM_MODE_INVALID_STATE,
            VmError::Exec { .. } | VmError::WorkingDirectory { .. } | VmError::Setup { .. } => {
                hresult::E_FAIL
            }
        }
    }

    pub(crate) fn setup(step: impl Into<String>, errno: i32) -> VmError {
        VmError::Setup {
            step: step.into(),
            source: io::Error::from_raw_os_error(errno),
        }
    }

    pub(crate) fn io(step: impl Into<String>, source: io::Error) -> VmError {
        VmError::Setup {
            step: step.into(),
            source,
        }
    }
}
