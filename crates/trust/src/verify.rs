//! Verification of a signed plugin against the trust store.
//!
//! Checks run in a fixed order and the first failure is the answer:
//! trailer present → block well-formed → signature matches the content →
//! signer chains to a trusted certificate → every certificate of the chain
//! within its validity → signer is a code-signing certificate.

use std::path::Path;

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::OctetString;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};

use crate::cert::{
    check_code_signing, check_validity, describe, expired, fingerprint, names_match, unix_now,
    Certificate,
};
use crate::chain::{verify_chain, ChainError};
use crate::error::TrustError;
use crate::format::{signed_data_shape, split_signature};
use crate::key::{Hash, PublicKey};
use crate::{oid, Signer};

/// Verify the exact bytes that will be loaded (the whole file, signature
/// block included) against the trust store directory.
pub fn verify(file_bytes: &[u8], trust_dir: &Path) -> Result<Signer, TrustError> {
    let (content, block) = split_signature(file_bytes)?;
    let block = block.ok_or(TrustError::NoSignature)?;
    let (info, embedded, leaf) = parse_block(block)?;

    // The signature over the content first, chain ignored: a changed file
    // is BAD_DIGEST whoever signed it.
    check_content_signature(content, &info, &leaf)?;

    let (anchors, count) = load_store(trust_dir)?;
    let untrusted = |reason: String| TrustError::Untrusted {
        subject: leaf.subject_string(),
        fingerprint: fingerprint(&leaf),
        reason,
    };
    if count == 0 {
        return Err(untrusted(format!(
            "the trust store {} holds no certificates",
            trust_dir.display()
        )));
    }
    match verify_chain(&leaf, &embedded, &anchors, unix_now()) {
        Ok(_) => {}
        Err(ChainError::Expired(c)) => return Err(expired(&c)),
        Err(ChainError::Untrusted { reason, at }) => {
            return Err(untrusted(format!(
                "{reason} (at '{}'), checked against the {count} certificate(s) in {}",
                at.subject_string(),
                trust_dir.display()
            )))
        }
    }
    // The chain check covers the leaf's dates too; checked again here so
    // the rule does not hang on how the chain ended.
    check_validity(&leaf)?;
    check_code_signing(&leaf)?;
    Ok(describe(&leaf))
}

/// Who the signature of `file_bytes` says signed it, without checking the
/// signature, the chain or the trust store: for diagnostics only (`wslp
/// plugin check` names the signer of a tampered file). `None` when unsigned.
pub fn claimed_signer(file_bytes: &[u8]) -> Result<Option<Signer>, TrustError> {
    let (_, block) = split_signature(file_bytes)?;
    block
        .map(|b| parse_block(b).map(|(_, _, leaf)| describe(&leaf)))
        .transpose()
}

/// The signature block's SignerInfo, its certificates and the signer's.
fn parse_block(block: &[u8]) -> Result<(SignerInfo, Vec<Certificate>, Certificate), TrustError> {
    let shape = signed_data_shape(block)?;
    let not_cms = |e: der::Error| {
        TrustError::malformed(format!("the signature block is not valid PKCS#7/CMS: {e}"))
    };
    // The whole block must parse as CMS, strictly, before any part is used.
    ContentInfo::from_der(block)
        .and_then(|ci| ci.content.decode_as::<SignedData>())
        .map_err(not_cms)?;
    let info = SignerInfo::from_der(shape.signer_info).map_err(not_cms)?;
    let embedded = shape
        .certificates
        .iter()
        .map(|der| Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TrustError::malformed(format!("a certificate in the signature: {e}")))?;
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &info.sid else {
        // PKCS#7 v1.5 (which wslp's format is) has no other way to name the signer.
        return Err(TrustError::malformed(
            "the signer is identified by subject key identifier; wslp signatures name it by issuer and serial number",
        ));
    };
    let leaf = embedded
        .iter()
        .find(|c| {
            c.tbs().serial_number == sid.serial_number && names_match(&c.tbs().issuer, &sid.issuer)
        })
        .cloned()
        .ok_or_else(|| TrustError::malformed("the signer's certificate is not in the signature"))?;
    Ok((info, embedded, leaf))
}

/// The SignerInfo's signature over `content` with the signer certificate's
/// key, as PKCS7_signatureVerify checks it: with signed attributes, their
/// messageDigest is SHA-256(content) and the signature covers their DER;
/// without, it covers the content. Any mismatch is [`TrustError::BadDigest`].
fn check_content_signature(
    content: &[u8],
    info: &SignerInfo,
    signer: &Certificate,
) -> Result<(), TrustError> {
    let key = PublicKey::from_spki(&signer.tbs().subject_public_key_info).map_err(|e| {
        TrustError::malformed(format!("the signer's key cannot verify the signature: {e}"))
    })?;
    let signed = match &info.signed_attrs {
        Some(attrs) => {
            let mut digests = attrs
                .iter()
                .filter(|a| a.oid == oid::MESSAGE_DIGEST)
                .flat_map(|a| a.values.iter());
            let digest = match (digests.next(), digests.next()) {
                (Some(d), None) => d.decode_as::<OctetString>().ok(),
                _ => None,
            };
            let Some(digest) = digest else {
                tracing::debug!("signed attributes without exactly one messageDigest");
                return Err(TrustError::BadDigest);
            };
            if digest.as_bytes() != &Sha256::digest(content)[..] {
                tracing::debug!("messageDigest does not match the content");
                return Err(TrustError::BadDigest);
            }
            attrs.to_der().map_err(|_| TrustError::BadDigest)?
        }
        None => content.to_vec(),
    };
    let hash = Sha256::digest(&signed);
    if !key.verify_prehashed(Hash::Sha256, &hash, info.signature.as_bytes()) {
        tracing::debug!("the signature does not verify with the signer's key");
        return Err(TrustError::BadDigest);
    }
    Ok(())
}

/// Every certificate in the `*.pem` files of `dir`, as trust anchors, and
/// how many there are. Any certificate in the store anchors a chain, so a
/// trusted intermediate or a trusted self-signed leaf needs nothing above it.
///
/// A file writable by group or others, or owned by someone other than root
/// or us, is skipped with a warning, and a directory writable by group or
/// others is ignored whole: the store is root's to write (SPEC §2), and a
/// certificate anyone could have put there vouches for nothing.
pub(crate) fn load_store(dir: &Path) -> Result<(Vec<Certificate>, usize), TrustError> {
    let mut anchors: Vec<Certificate> = Vec::new();
    let euid = nix::unistd::geteuid().as_raw();
    // Owner and mode of the directory and of each file come from the
    // descriptors they are read through; nothing is followed by name.
    let Some((dfd, st)) = crate::store::open_store_dir(dir)? else {
        return Ok((anchors, 0));
    };
    if st.st_mode & 0o022 != 0 || (st.st_uid != 0 && st.st_uid != euid) {
        tracing::warn!(dir = %dir.display(), uid = st.st_uid, mode = format!("{:o}", st.st_mode & 0o7777), "trust store directory is writable by group or others, or owned by another user; trusting nothing in it");
        return Ok((anchors, 0));
    }
    for f in crate::store::read_certs_at(&dfd, dir)? {
        if f.mode & 0o022 != 0 || (f.uid != 0 && f.uid != euid) {
            tracing::warn!(path = %f.path.display(), mode = format!("{:o}", f.mode), uid = f.uid, "trust store file is writable by others or owned by another user; ignored");
            continue;
        }
        for c in f.certs {
            // A duplicate (the same certificate in two files) is harmless.
            if !anchors.contains(&c) {
                anchors.push(c);
            }
        }
    }
    let count = anchors.len();
    Ok((anchors, count))
}
