//! Signing: a detached SignedData over the content, attached in place.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::signed_data::{SignerIdentifier, SignerInfo};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Encode};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;

use crate::cert::{check_code_signing, check_validity, describe, Certificate};
use crate::error::TrustError;
use crate::format::{attach_signature, split_signature};
use crate::key::{same_key, PrivateKey};
use crate::{oid, Signer};

/// The DER signature block over `content`: a detached SignedData, SHA-256,
/// signed attributes (content type, signing time, message digest), the signer
/// certificate and `chain` included, the signer identified by issuer and
/// serial number: what `openssl cms -sign -binary -md sha256 -nosmimecap`
/// makes.
///
/// No policy checks: [`sign_file`] is the checked entry point. This one exists
/// so tests and tools can make signatures wslp would refuse to make (expired
/// or wrong-usage certificates) and check that verification catches them.
pub fn sign_bytes(
    content: &[u8],
    key: &PrivateKey,
    cert: &Certificate,
    chain: &[Certificate],
) -> Result<Vec<u8>, TrustError> {
    let der =
        build_signed_data(content, key, cert, chain).map_err(|reason| TrustError::Crypto {
            what: "signing failed".into(),
            reason,
        })?;
    crate::format::check_signed_data_shape(&der)?;
    Ok(der)
}

fn build_signed_data(
    content: &[u8],
    key: &PrivateKey,
    cert: &Certificate,
    chain: &[Certificate],
) -> Result<Vec<u8>, String> {
    let e = |e: der::Error| e.to_string();
    let attr = |oid, value: Any| -> Result<Attribute, String> {
        Ok(Attribute {
            oid,
            values: SetOfVec::try_from(vec![value]).map_err(e)?,
        })
    };
    // UTCTime until 2049, as RFC 5652 §11.3 wants.
    let signing_time =
        crate::cert::time_from_unix(crate::cert::unix_now()).map_err(|e| e.to_string())?;
    let signed_attrs = SetOfVec::try_from(vec![
        attr(oid::CONTENT_TYPE, Any::encode_from(&oid::DATA).map_err(e)?)?,
        attr(
            oid::SIGNING_TIME,
            Any::encode_from(&signing_time).map_err(e)?,
        )?,
        attr(
            oid::MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(Sha256::digest(content).to_vec()).map_err(e)?)
                .map_err(e)?,
        )?,
    ])
    .map_err(e)?;
    // RFC 5652 §5.4: the signature covers the DER of the attributes as a
    // SET OF, which is how SetOfVec encodes.
    let signature = key.sign_sha256(&signed_attrs.to_der().map_err(e)?)?;
    let sha256 = AlgorithmIdentifierOwned {
        oid: oid::SHA256,
        parameters: None,
    };
    let info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs().issuer.clone(),
            serial_number: cert.tbs().serial_number.clone(),
        }),
        digest_alg: sha256.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: key.cms_signature_algorithm(),
        signature: OctetString::new(signature).map_err(e)?,
        unsigned_attrs: None,
    };

    // The outer levels by hand, so the certificates go in as the exact
    // bytes they were read as (a re-encoding could change a fingerprint),
    // signer first, each once, as OpenSSL orders them.
    let mut certs: Vec<&[u8]> = vec![cert.der()];
    for c in chain {
        if !certs.contains(&c.der()) {
            certs.push(c.der());
        }
    }
    let signed_data = [
        tlv(0x02, &[1]),                            // version 1
        tlv(0x31, &sha256.to_der().map_err(e)?),    // digestAlgorithms
        tlv(0x30, &oid::DATA.to_der().map_err(e)?), // encapContentInfo, detached
        tlv(0xa0, &certs.concat()),                 // [0] IMPLICIT certificates
        tlv(0x31, &info.to_der().map_err(e)?),      // signerInfos
    ]
    .concat();
    Ok(tlv(
        0x30,
        &[
            oid::SIGNED_DATA.to_der().map_err(e)?,
            tlv(0xa0, &tlv(0x30, &signed_data)),
        ]
        .concat(),
    ))
}

/// One DER element: tag, definite length, contents.
fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(body);
    out
}

/// Signs (or re-signs) `plugin` in place with the key and certificate.
///
/// Refuses a certificate without the code-signing EKU, one outside its
/// validity period, and a key that is not the certificate's. Further
/// certificates in `cert_pem` (intermediates) go into the signature. The file
/// is replaced atomically (temp file in the same directory, fsync, rename),
/// keeping its mode and owner.
pub fn sign_file(plugin: &Path, key_pem: &Path, cert_pem: &Path) -> Result<Signer, TrustError> {
    let key = PrivateKey::read_pem_file(key_pem)?;
    let mut certs = Certificate::read_pem_file(cert_pem)?;
    let cert = certs.remove(0);
    check_code_signing(&cert)?;
    check_validity(&cert)?;
    if !same_key(&key, &cert.tbs().subject_public_key_info) {
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
    Ok(describe(&cert))
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
