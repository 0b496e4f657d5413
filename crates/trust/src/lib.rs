//! Plugin signature trust: signing plugin files with X.509 and CMS/PKCS#7 the
//! way Linux signs kernel modules, verifying them against the root-only trust
//! store under `$WSLP_ROOT/trust/`, and making the certificates to do it with.
//!
//! It is wslp's counterpart of WSL's Authenticode check (SPEC §3, §7); the
//! byte layout and the choices behind it are in docs/signing.md. All of it
//! is pure Rust (RustCrypto), so nothing that links it needs libssl.

#![deny(unsafe_code)]

mod cert;
mod chain;
mod error;
mod format;
mod key;
mod oid;
mod pem;
mod sign;
mod store;
mod verify;

pub use cert::{
    fingerprint, new_certificate, new_certificate_valid_between, CertOptions, Certificate,
};
pub use error::{exit, TrustError};
pub use format::{
    attach_signature, check_signed_data_shape, split_signature, FORMAT_VERSION, MAGIC,
    MAX_SIGNATURE_LEN, TRAILER_LEN,
};
pub use key::PrivateKey;
pub use sign::{sign_bytes, sign_file};
pub use store::TrustStore;
pub use verify::{claimed_signer, verify};

/// Who signed a file, or a certificate in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// `CN=…, O=…`.
    pub subject: String,
    /// SHA-256 of the DER certificate, lowercase hex, no colons.
    pub fingerprint_sha256: String,
    /// As OpenSSL prints it: `Nov 27 10:00:00 2027 GMT`.
    pub not_after: String,
}

/// `$WSLP_ROOT/trust` for a given root.
pub fn trust_dir(wslp_root: &std::path::Path) -> std::path::PathBuf {
    wslp_root.join("trust")
}
