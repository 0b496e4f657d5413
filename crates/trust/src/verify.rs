//! Verification of a signed plugin against the trust store.
//!
//! Checks run in a fixed order and the first failure is the answer:
//! trailer present → block well-formed → signature matches the content →
//! signer chains to a trusted certificate → every certificate of the chain
//! within its validity → signer is a code-signing certificate.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509StoreContext, X509};

use crate::cert::{check_code_signing, check_validity, describe, fingerprint, subject_string};
use crate::error::TrustError;
use crate::format::{check_signed_data_shape, split_signature};
use crate::Signer;

/// OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID and X509_V_ERR_CERT_HAS_EXPIRED
/// (x509_vfy.h; stable ABI values).
const X509_V_ERR_CERT_NOT_YET_VALID: i32 = 9;
const X509_V_ERR_CERT_HAS_EXPIRED: i32 = 10;

/// Verify the exact bytes that will be loaded (the whole file, signature
/// block included) against the trust store directory.
pub fn verify(file_bytes: &[u8], trust_dir: &Path) -> Result<Signer, TrustError> {
    let (content, block) = split_signature(file_bytes)?;
    let block = block.ok_or(TrustError::NoSignature)?;
    check_signed_data_shape(block)?;
    let p7 = Pkcs7::from_der(block).map_err(|e| {
        TrustError::malformed(format!("the signature block is not valid PKCS#7/CMS: {e}"))
    })?;

    let mut embedded = Stack::<X509>::new().map_err(TrustError::ssl("cannot allocate"))?;
    if let Some(certs) = p7.signed().and_then(|s| s.certificates()) {
        for c in certs {
            embedded
                .push(c.to_owned())
                .map_err(TrustError::ssl("cannot collect certificates"))?;
        }
    }
    let signers = p7
        .signers(&embedded, Pkcs7Flags::empty())
        .map_err(|_| TrustError::malformed("the signer's certificate is not in the signature"))?;
    if signers.len() != 1 {
        return Err(TrustError::malformed(
            "the signature must have exactly one signer",
        ));
    }
    let leaf = signers[0].to_owned();

    // The signature over the content first, chain ignored (NOVERIFY): a
    // changed file is BAD_DIGEST whoever signed it.
    let no_anchors = X509StoreBuilder::new()
        .map_err(TrustError::ssl("cannot allocate a store"))?
        .build();
    p7.verify(
        &embedded,
        &no_anchors,
        Some(content),
        None,
        Pkcs7Flags::NOVERIFY | Pkcs7Flags::BINARY,
    )
    .map_err(|e| {
        tracing::debug!(%e, "signature check failed");
        TrustError::BadDigest
    })?;

    let (store, count) = load_store(trust_dir)?;
    let untrusted = |reason: String| -> Result<TrustError, TrustError> {
        Ok(TrustError::Untrusted {
            subject: subject_string(&leaf),
            fingerprint: fingerprint(&leaf)?,
            reason,
        })
    };
    if count == 0 {
        return Err(untrusted(format!(
            "the trust store {} holds no certificates",
            trust_dir.display()
        ))?);
    }
    let mut ctx = X509StoreContext::new().map_err(TrustError::ssl("cannot allocate"))?;
    let outcome = ctx
        .init(&store, &leaf, &embedded, |c| {
            let ok = c.verify_cert()?;
            let failing = c.current_cert().map(|x| x.to_owned());
            Ok((ok, c.error(), failing))
        })
        .map_err(TrustError::ssl(
            "certificate chain verification failed to run",
        ))?;
    match outcome {
        (true, _, _) => {}
        (false, err, failing)
            if err.as_raw() == X509_V_ERR_CERT_HAS_EXPIRED
                || err.as_raw() == X509_V_ERR_CERT_NOT_YET_VALID =>
        {
            let c = failing.unwrap_or_else(|| leaf.clone());
            return Err(TrustError::Expired {
                subject: subject_string(&c),
                not_before: c.not_before().to_string(),
                not_after: c.not_after().to_string(),
            });
        }
        (false, err, failing) => {
            let at = failing
                .map(|c| format!(" (at '{}')", subject_string(&c)))
                .unwrap_or_default();
            return Err(untrusted(format!(
                "{}{at}, checked against the {count} certificate(s) in {}",
                err.error_string(),
                trust_dir.display()
            ))?);
        }
    }
    // OpenSSL may not check the dates of a trust anchor; a leaf trusted
    // directly is one.
    check_validity(&leaf)?;
    check_code_signing(&leaf)?;
    describe(&leaf)
}

/// Every certificate in the `*.pem` files of `dir`, as trust anchors. Any
/// certificate in the store anchors a chain (PARTIAL_CHAIN), so a trusted
/// intermediate or a trusted self-signed leaf needs nothing above it.
///
/// A file writable by group or others, or owned by someone other than root
/// or us, is skipped with a warning, and a directory writable by group or
/// others is ignored whole: the store is root's to write (SPEC §2), and a
/// certificate anyone could have put there vouches for nothing.
pub(crate) fn load_store(dir: &Path) -> Result<(X509Store, usize), TrustError> {
    let mut b = X509StoreBuilder::new().map_err(TrustError::ssl("cannot allocate a store"))?;
    b.set_flags(X509VerifyFlags::PARTIAL_CHAIN)
        .map_err(TrustError::ssl("cannot configure the store"))?;
    let mut count = 0;
    if let Ok(meta) = fs::metadata(dir) {
        if meta.permissions().mode() & 0o022 != 0 {
            tracing::warn!(dir = %dir.display(), "trust store directory is writable by group or others; trusting nothing in it");
            return Ok((b.build(), 0));
        }
    }
    let euid = nix::unistd::geteuid().as_raw();
    for (path, certs) in crate::store::read_dir_certs(dir)? {
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        let mode = meta.permissions().mode();
        if mode & 0o022 != 0 || (meta.uid() != 0 && meta.uid() != euid) {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), uid = meta.uid(), "trust store file is writable by others or owned by another user; ignored");
            continue;
        }
        for c in certs {
            // A duplicate (the same certificate in two files) is harmless.
            if b.add_cert(c).is_ok() {
                count += 1;
            }
        }
    }
    Ok((b.build(), count))
}
