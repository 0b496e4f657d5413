//! The SDK's one error type: an HRESULT, its Windows name, and a message.

use wslp_abi::hresult::{self, HResult, E_FAIL, E_UNEXPECTED};

/// A failed HRESULT with an optional message.
///
/// Returned by every API call of [`Api`](crate::Api) and by plugin hooks. When a
/// start hook (`on_vm_started`, `on_distribution_started`) returns an error that
/// has a message, and the hook did not call
/// [`Api::plugin_error`](crate::Api::plugin_error) itself, the SDK passes the
/// message to `PluginError`, so the user sees it:
///
/// ```text
/// A fatal error was returned by plugin 'MyPlugin'. Error message: '<message>'
/// Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/E_FAIL
/// ```
///
/// ```
/// use wslp_sdk::{Error, hresult};
/// let e = Error::with_message(hresult::E_ACCESSDENIED, "cannot read /etc/shadow");
/// assert_eq!(e.code() as u32, 0x80070005);
/// assert_eq!(e.name(), "E_ACCESSDENIED");
/// assert_eq!(e.to_string(), "cannot read /etc/shadow (E_ACCESSDENIED)");
/// assert_eq!(Error::new(0x80071234u32 as i32).to_string(), "0x80071234");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    code: HResult,
    message: Option<String>,
}

/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with only a code. A success code (`>= 0`) would tell the host
    /// that the hook succeeded, so it is replaced by `E_UNEXPECTED`.
    pub fn new(code: HResult) -> Self {
        Error {
            code: if hresult::failed(code) {
                code
            } else {
                E_UNEXPECTED
            },
            message: None,
        }
    }

    /// An error with a code and a message for the user (and the log).
    pub fn with_message(code: HResult, message: impl Into<String>) -> Self {
        Error {
            message: Some(message.into()),
            ..Error::new(code)
        }
    }

    /// `E_FAIL` with a message: the usual way for a hook to fail.
    ///
    /// ```
    /// let e = wslp_sdk::Error::failed("the setup script exited with status 3");
    /// assert_eq!(e.name(), "E_FAIL");
    /// ```
    pub fn failed(message: impl Into<String>) -> Self {
        Error::with_message(E_FAIL, message)
    }

    /// An I/O failure, as `E_FAIL` (or `E_ACCESSDENIED` for a permission
    /// error) with `context` saying what was being done.
    ///
    /// ```
    /// let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
    /// let e = wslp_sdk::Error::io("reading /etc/wslp.conf", &io);
    /// assert_eq!(e.name(), "E_ACCESSDENIED");
    /// assert!(e.message().unwrap().starts_with("reading /etc/wslp.conf: "));
    /// ```
    pub fn io(context: impl std::fmt::Display, err: &std::io::Error) -> Self {
        let code = Error::from(std::io::Error::from(err.kind())).code;
        Error::with_message(code, format!("{context}: {err}"))
    }

    /// The HRESULT (always a failure code).
    pub fn code(&self) -> HResult {
        self.code
    }

    /// The HRESULT's Windows name (`E_FAIL`, `ERROR_FILE_NOT_FOUND`, ...), or
    /// lowercase hex (`0x8007007f`) as WSL prints a code without a name.
    pub fn name(&self) -> String {
        hresult::hresult_name(self.code)
    }

    /// The message, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
}

/// `?` on an I/O result in a hook: the I/O error's text becomes the message.
/// Prefer [`Error::io`] to say what was being done.
impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        let code = match err.kind() {
            std::io::ErrorKind::PermissionDenied => hresult::E_ACCESSDENIED,
            _ => E_FAIL,
        };
        Error::with_message(code, err.to_string())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.message {
            Some(m) => write!(f, "{m} ({})", self.name()),
            None => f.write_str(&self.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wslp_abi::hresult::{hresult_from_win32, win32, S_FALSE, S_OK};

    #[test]
    fn success_codes_are_not_errors() {
        assert_eq!(Error::new(S_OK).code(), E_UNEXPECTED);
        assert_eq!(Error::new(S_FALSE).code(), E_UNEXPECTED);
    }

    #[test]
    fn names() {
        let e = Error::new(hresult_from_win32(win32::ERROR_FILE_NOT_FOUND));
        assert_eq!(e.name(), "ERROR_FILE_NOT_FOUND");
        assert_eq!(e.to_string(), "ERROR_FILE_NOT_FOUND");
        assert_eq!(Error::new(hresult_from_win32(127)).name(), "0x8007007f");
    }
}
