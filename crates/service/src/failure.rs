//! What a request that failed tells the user: WSL's two-line form.

use wslp_abi::hresult::{hresult_name, HResult};

/// The text the user sees on stderr and the client's exit status.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub text: String,
    pub exit_code: i32,
}

/// The exit status of `wslp` when wslp itself (not the command) failed.
pub const ERROR_EXIT: i32 = 1;

impl Failure {
    /// A failure whose text is already complete (the plugin manager's exact texts).
    pub fn text(text: impl Into<String>) -> Failure {
        Failure {
            text: text.into(),
            exit_code: ERROR_EXIT,
        }
    }

    /// `message` then `Error code: Wsl/Service/<code>`, as WSL prints its service errors.
    pub fn service(message: impl std::fmt::Display, code: &str) -> Failure {
        Failure::text(format!("{message}\nError code: Wsl/Service/{code}"))
    }

    pub fn service_hr(message: impl std::fmt::Display, hr: HResult) -> Failure {
        Failure::service(message, &hresult_name(hr))
    }

    pub fn access_denied(what: &str) -> Failure {
        Failure::service(
            format!("Only root can {what}. Run the command as root (for example with sudo)."),
            "E_ACCESSDENIED",
        )
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}
