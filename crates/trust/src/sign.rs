//! Signing: a detached SignedData over the content, attached in place.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkey::{HasPrivate, PKeyRef};
use openssl::stack::Stack;
use openssl::x509::{X509Ref, X509};

use crate::cert::{check_code_signing, check_validity, describe, read_certs, read_key};
use crate::error::TrustError;
use crate::format::{attach_signature, split_signature};
use crate::Signer;

/// The DER signature block over `content`: a detached SignedData, SHA-256,
/// signed attributes (content type, signing time, message digest), the signer
/// certificate and `chain` included.
///
/// No policy checks: [`sign_file`] is the checked entry point. This one exists
/// so tests and tools can make signatures wslp would refuse to make (expired
/// or wrong-usage certificates) and check that verification catches them.
pub fn sign_bytes<T: HasPrivate>(
    content: &[u8],
    key: &PKeyRef<T>,
    cert: &X509Ref,
    chain: &[X509],
) -> Result<Vec<u8>, TrustError> {
    let mut extra = Stack::new().map_err(TrustError::ssl("cannot allocate a certificate stack"))?;
    for c in chain {
        extra
            .push(c.clone())
            .map_err(TrustError::ssl("cannot collect the chain"))?;
    }
    // SHA-256 is OpenSSL 3's default digest for EC and RSA keys;
    // check_signed_data_shape refuses anything else, so a change of default
    // would fail loudly here rather than produce weak signatures.
    let flags = Pkcs7Flags::DETACHED | Pkcs7Flags::BINARY | Pkcs7Flags::NOSMIMECAP;
    let p7 = Pkcs7::sign(cert, key, &extra, content, flags)
        .map_err(TrustError::ssl("signing failed"))?;
    let der = p7
        .to_der()
        .map_err(TrustError::ssl("cannot encode the signature"))?;
    crate::format::check_signed_data_shape(&der)?;
    Ok(der)
}

/// Signs (or re-signs) `plugin` in place with the key and certificate.
///
/// Refuses a certificate without the code-signing EKU, one outside its
/// validity period, and a key that is not the certificate's. Further
/// certificates in `cert_pem` (intermediates) go into the signature. The file
/// is replaced atomically (temp file in the same directory, fsync, rename),
/// keeping its mode and owner.
pub fn sign_file(plugin: &Path, key_pem: &Path, cert_pem: &Path) -> Result<Signer, TrustError> {
    let key = read_key(key_pem)?;
    let mut certs = read_certs(cert_pem)?;
    let cert = certs.remove(0);
    check_code_signing(&cert)?;
    check_validity(&cert)?;
    let cert_key = cert
        .public_key()
        .map_err(TrustError::ssl("cannot read the certificate's public key"))?;
    if !cert_key.public_eq(&key) {
        return Err(TrustError::KeyMismatch {
            key: key_pem.to_path_buf(),
            cert: cert_pem.to_path_buf(),
        });
    }

    // Through a symlink, sign the file it names rather than replace the link.
    let plugin =
        &fs::canonicalize(plugin).map_err(|e| TrustError::io("cannot find plugin", plugin, e))?;
    let bytes = fs::read(plugin).map_err(|e| TrustError::io("cannot read plugin", plugin, e))?;
    let (content, _old) = split_signature(&bytes).map_err(|e| match e {
        TrustError::Malformed { reason } => TrustError::Malformed {
            reason: format!(
                "{reason}; {} ends with a broken wslp signature, rebuild it before signing",
                plugin.display()
            ),
        },
        other => other,
    })?;
    let block = sign_bytes(content, &key, &cert, &certs)?;
    let signed = attach_signature(content, &block)?;
    replace_atomically(plugin, &signed)?;
    describe(&cert)
}

/// Writes `bytes` to `path` so that readers see either the old file or the
/// new one, never a mix: a loader that opens the plugin mid-sign gets
/// whole bytes.
fn replace_atomically(path: &Path, bytes: &[u8]) -> Result<(), TrustError> {
    let meta = fs::metadata(path).map_err(|e| TrustError::io("cannot stat", path, e))?;
    let attrs = wslp_config::fs::FileAttrs {
        mode: meta.mode() & 0o7777,
        owner: Some((meta.uid(), meta.gid())),
    };
    wslp_config::fs::write_atomic_with(path, bytes, attrs)
        .map_err(|e| TrustError::io("cannot replace", path, e))
}
