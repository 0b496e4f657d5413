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
    #[error("host path {} does not exist: {cause}", path.display())]
    HostPathNotFound { path: PathBuf, cause: io::Error },

    /// The VM (or the distribution) is not running: it was never started, was
    /// stopped, or its init died.
    #[error("{what} is not running; start it again")]
    NotRunning { what: String },

    /// The program could not be started (missing binary, not executable, bad
    /// format); `where_` says which VM or distribution.
    #[error("cannot execute {program} in {where_}: {cause}")]
    Exec {
        program: String,
        where_: String,
        cause: io::Error,
    },

    /// The requested working directory does not exist (or is not usable).
    #[error("cannot change to directory {} in {where_}: {cause}", path.display())]
    WorkingDirectory {
        path: PathBuf,
        where_: String,
        cause: io::Error,
    },

    /// One step of preparing a process, a mount or a namespace failed.
    #[error("{step} failed: {cause}")]
    Setup { step: String, cause: io::Error },

    /// No user namespace for an unprivileged user: the whole sentence,
    /// naming the setting that forbids it ([`crate::rootless::refusal`]).
    #[error("{0}")]
    UserNamespaceRefused(String),
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
            VmError::UserNamespaceRefused(_) => hresult::E_ACCESSDENIED,
            VmError::Exec { .. } | VmError::WorkingDirectory { .. } | VmError::Setup { .. } => {
                hresult::E_FAIL
            }
        }
    }

    pub(crate) fn setup(step: impl Into<String>, errno: i32) -> VmError {
        VmError::Setup {
            step: step.into(),
            cause: io::Error::from_raw_os_error(errno),
        }
    }

    pub(crate) fn io(step: impl Into<String>, cause: io::Error) -> VmError {
        VmError::Setup {
            step: step.into(),
            cause,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_printed_once() {
        // A chain printer (anyhow's `{:#}`) adds nothing to the message.
        let shown =
            |e: &dyn std::error::Error| e.source().map_or(e.to_string(), |c| format!("{e}: {c}"));
        let cases = [
            (
                VmError::setup("mounting /proc", 1),
                "mounting /proc failed: Operation not permitted (os error 1)",
            ),
            (
                VmError::Exec {
                    program: "/bin/nope".into(),
                    where_: "the VM".into(),
                    cause: io::Error::from_raw_os_error(2),
                },
                "cannot execute /bin/nope in the VM: No such file or directory (os error 2)",
            ),
            (
                VmError::HostPathNotFound {
                    path: "/x".into(),
                    cause: io::Error::from_raw_os_error(2),
                },
                "host path /x does not exist: No such file or directory (os error 2)",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(shown(&e), text);
        }
    }
}
