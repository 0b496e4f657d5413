//! Every way signing, verification and the trust store can fail, with the
//! Windows HRESULT each maps to and the documented `wslp` exit code.

use std::io;
use std::path::PathBuf;

use wslp_abi::hresult::{self, win32, HResult};

/// Exit codes of `wslp verify`, `wslp sign`, `wslp cert` and `wslp trust`
/// (docs/signing.md lists them; scripts rely on them, so they never change).
pub mod exit {
    /// Signed and trusted (verify), or the command succeeded.
    pub const OK: i32 = 0;
    /// Anything else: I/O, bad arguments, a failed cryptographic operation.
    pub const OTHER: i32 = 1;
    /// The file carries no signature.
    pub const UNSIGNED: i32 = 10;
    /// The signature does not match the file's contents.
    pub const BAD_DIGEST: i32 = 11;
    /// Signed, but by a certificate the trust store does not vouch for.
    pub const UNTRUSTED: i32 = 12;
    /// The signing certificate (or one above it) is outside its validity period.
    pub const EXPIRED: i32 = 13;
    /// The signing certificate is not meant for code signing.
    pub const WRONG_USAGE: i32 = 14;
    /// A signature trailer or block that cannot be parsed.
    pub const MALFORMED: i32 = 15;
    /// The private key does not belong to the certificate.
    pub const KEY_MISMATCH: i32 = 16;
    /// A trust store change attempted without root.
    pub const NOT_ROOT: i32 = 17;
    /// `wslp trust remove` of a fingerprint that is not in the store.
    pub const NOT_FOUND: i32 = 18;
}

/// A failure of signing, verification or the trust store.
#[derive(thiserror::Error, Debug)]
pub enum TrustError {
    #[error(
        "the file is not signed (no wslp signature trailer at its end); sign it with \
         `wslp sign --key KEY.pem --cert CERT.pem FILE`"
    )]
    NoSignature,

    #[error(
        "the signature does not match the file's contents: the file was changed after it \
         was signed; rebuild and sign it again"
    )]
    BadDigest,

    #[error(
        "the signer '{subject}' (SHA-256 {fingerprint}) is not trusted: {reason}; \
         add its certificate or its CA's with `wslp trust add CERT.pem` (as root, or as the owner of a per-user instance)"
    )]
    Untrusted {
        subject: String,
        fingerprint: String,
        reason: String,
    },

    #[error(
        "the certificate '{subject}' is not within its validity period \
         (not before {not_before}, not after {not_after}); issue a new one with \
         `wslp cert new` and sign again"
    )]
    Expired {
        subject: String,
        not_before: String,
        not_after: String,
    },

    #[error(
        "the certificate '{subject}' is not a code-signing certificate: {reason}; \
         it needs the extended key usage codeSigning (1.3.6.1.5.5.7.3.3) and, when it \
         has a key usage, digitalSignature (`wslp cert new` makes such a certificate)"
    )]
    WrongUsage { subject: String, reason: String },

    #[error("malformed signature: {reason}")]
    Malformed { reason: String },

    #[error(
        "the private key {} does not belong to the certificate {}; pass the key the \
         certificate was issued for", key.display(), cert.display()
    )]
    KeyMismatch { key: PathBuf, cert: PathBuf },

    #[error(
        "{action} needs root: the trust store is writable only by root \
         (as HKLM is only by administrators); run it with sudo"
    )]
    NotRoot { action: String },

    #[error("no certificate with SHA-256 fingerprint {fingerprint} in the trust store {}; `wslp trust list` shows what is there", dir.display())]
    NotFound { fingerprint: String, dir: PathBuf },

    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },

    #[error("{what} {}: {cause}", path.display())]
    Io {
        what: String,
        path: PathBuf,
        cause: io::Error,
    },

    /// A cryptographic operation that failed for a reason other than the
    /// input's (key generation, encoding).
    #[error("{what}: {reason}")]
    Crypto { what: String, reason: String },
}

impl TrustError {
    /// The HRESULT WSL would report for this failure (SPEC §3: unsigned and
    /// untrusted are both TRUST_E_NOSIGNATURE at load).
    pub fn hresult(&self) -> HResult {
        match self {
            TrustError::NoSignature | TrustError::Untrusted { .. } => hresult::TRUST_E_NOSIGNATURE,
            // A block that is not a signature is, to Windows, no signature.
            TrustError::Malformed { .. } => hresult::TRUST_E_NOSIGNATURE,
            TrustError::BadDigest => hresult::TRUST_E_BAD_DIGEST,
            TrustError::Expired { .. } => hresult::CERT_E_EXPIRED,
            TrustError::WrongUsage { .. } => hresult::CERT_E_WRONG_USAGE,
            TrustError::KeyMismatch { .. } | TrustError::Invalid { .. } => hresult::E_INVALIDARG,
            TrustError::NotRoot { .. } => hresult::E_ACCESSDENIED,
            TrustError::NotFound { .. } => hresult::hresult_from_win32(win32::ERROR_NOT_FOUND),
            TrustError::Io { cause, .. } => match cause.kind() {
                io::ErrorKind::NotFound => hresult::hresult_from_win32(win32::ERROR_FILE_NOT_FOUND),
                io::ErrorKind::PermissionDenied => hresult::E_ACCESSDENIED,
                _ => hresult::E_FAIL,
            },
            TrustError::Crypto { .. } => hresult::E_FAIL,
        }
    }

    /// The documented exit code of the CLI for this failure (see [`exit`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            TrustError::NoSignature => exit::UNSIGNED,
            TrustError::BadDigest => exit::BAD_DIGEST,
            TrustError::Untrusted { .. } => exit::UNTRUSTED,
            TrustError::Expired { .. } => exit::EXPIRED,
            TrustError::WrongUsage { .. } => exit::WRONG_USAGE,
            TrustError::Malformed { .. } => exit::MALFORMED,
            TrustError::KeyMismatch { .. } => exit::KEY_MISMATCH,
            TrustError::NotRoot { .. } => exit::NOT_ROOT,
            TrustError::NotFound { .. } => exit::NOT_FOUND,
            TrustError::Invalid { .. } | TrustError::Io { .. } | TrustError::Crypto { .. } => {
                exit::OTHER
            }
        }
    }

    pub(crate) fn io(what: impl Into<String>, path: impl Into<PathBuf>, cause: io::Error) -> Self {
        TrustError::Io {
            what: what.into(),
            path: path.into(),
            cause,
        }
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        TrustError::Malformed {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        TrustError::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    #[test]
    fn each_cause_is_printed_once() {
        // A chain printer (anyhow's `{:#}`) adds nothing to the message.
        let shown =
            |e: &dyn std::error::Error| e.source().map_or(e.to_string(), |c| format!("{e}: {c}"));
        let e = TrustError::io("cannot read", "/t/a.pem", io::Error::from_raw_os_error(13));
        assert_eq!(
            shown(&e),
            "cannot read /t/a.pem: Permission denied (os error 13)"
        );
    }
}
