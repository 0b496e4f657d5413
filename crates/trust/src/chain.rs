//! Certificate chain validation: from the signer up to a certificate of the
//! trust store, checked by signature (never by name alone), with the rules
//! OpenSSL's `X509_verify_cert` applies under `X509_V_FLAG_PARTIAL_CHAIN`
//! and no purpose, which wslp used before and keeps:
//!
//! * every certificate in the store is a trust anchor, so a chain ends at the
//!   first certificate that is in the store (byte for byte), be it the signer
//!   itself, an intermediate or a root;
//! * an issuer has the subject's issuer name, the subject key identifier the
//!   subject's authority key identifier names (when both are there), a key
//!   usage allowing keyCertSign (when it has a key usage), and its key
//!   verifies the subject's signature; trusted issuers are tried first, then
//!   the certificates that came with the signature, currently valid ones
//!   before others;
//! * every issuer is a CA (basicConstraints CA:TRUE; the anchor at the top
//!   may instead be a v1 self-signed certificate or one whose key usage has
//!   keyCertSign), path length constraints hold, and no certificate has a
//!   critical extension wslp does not process;
//! * then validity times, from the anchor down, so an expired CA is
//!   reported as itself.

use crate::cert::{names_match, within_validity, Certificate, Extensions};
use crate::key::{cert_signature_scheme, PublicKey};

/// Longest chain looked for; OpenSSL's default depth is 100, real chains
/// are 1 to 4 certificates.
const MAX_CHAIN: usize = 16;

/// Why a chain is not acceptable.
#[derive(Debug)]
pub(crate) enum ChainError {
    /// No path to an anchor, or one that breaks a rule: what and at which
    /// certificate.
    Untrusted {
        reason: String,
        at: Box<Certificate>,
    },
    /// This certificate of an otherwise good chain is outside its validity.
    Expired(Box<Certificate>),
}

/// The chain from `leaf` to an anchor (leaf first), checked as the module
/// says, at `now` (Unix seconds).
pub(crate) fn verify_chain(
    leaf: &Certificate,
    intermediates: &[Certificate],
    anchors: &[Certificate],
    now: i64,
) -> Result<Vec<Certificate>, ChainError> {
    let mut search = Search {
        intermediates,
        anchors,
        now,
        failure: None,
    };
    let mut path = vec![leaf.clone()];
    if !search.build(&mut path) {
        let (reason, at) = search.failure.unwrap_or_else(|| {
            let reason = if is_self_signed(leaf) {
                "self-signed certificate"
            } else {
                "unable to get local issuer certificate"
            };
            (reason.to_string(), leaf.clone())
        });
        return Err(ChainError::Untrusted {
            reason,
            at: Box::new(at),
        });
    }
    check_extensions(&path)?;
    for cert in path.iter().rev() {
        if !within_validity(cert, now) {
            return Err(ChainError::Expired(Box::new(cert.clone())));
        }
    }
    Ok(path)
}

struct Search<'a> {
    intermediates: &'a [Certificate],
    anchors: &'a [Certificate],
    now: i64,
    /// The most telling reason a candidate issuer was turned down.
    failure: Option<(String, Certificate)>,
}

impl Search<'_> {
    /// Extends `path` (whose last certificate is not yet known to be
    /// trusted) up to an anchor; false, with `path` as it was, when none.
    fn build(&mut self, path: &mut Vec<Certificate>) -> bool {
        let top = path.last().expect("the path starts with the leaf").clone();
        if self.anchors.contains(&top) {
            return true;
        }
        if path.len() >= MAX_CHAIN {
            self.failure = Some(("certificate chain too long".into(), top));
            return false;
        }
        for issuer in self.candidates(&top, self.anchors) {
            if self.signed_by(&top, issuer) {
                path.push(issuer.clone());
                return true;
            }
        }
        for issuer in self.candidates(&top, self.intermediates) {
            if path.contains(issuer) || !self.signed_by(&top, issuer) {
                continue;
            }
            path.push(issuer.clone());
            if self.build(path) {
                return true;
            }
            path.pop();
        }
        false
    }

    /// The certificates of `pool` that may have issued `cert`, by name, key
    /// identifier and key usage (OpenSSL's X509_check_issued), valid ones
    /// first.
    fn candidates<'p>(&self, cert: &Certificate, pool: &'p [Certificate]) -> Vec<&'p Certificate> {
        let akid = cert.extensions().ok().and_then(|e| e.authority_key_id);
        let mut out: Vec<&Certificate> = pool
            .iter()
            .filter(|c| names_match(&c.tbs().subject, &cert.tbs().issuer))
            .filter(|c| {
                let Ok(ext) = c.extensions() else {
                    return false;
                };
                if let (Some(akid), Some(ski)) = (
                    akid.as_ref().and_then(|a| a.key_identifier.as_ref()),
                    ext.subject_key_id.as_ref(),
                ) {
                    if akid.as_bytes() != ski.as_slice() {
                        return false;
                    }
                }
                if let Some(serial) = akid
                    .as_ref()
                    .and_then(|a| a.authority_cert_serial_number.as_ref())
                {
                    if *serial != c.tbs().serial_number {
                        return false;
                    }
                }
                match ext.key_usage {
                    Some(ku) => ku.0.contains(x509_cert::ext::pkix::KeyUsages::KeyCertSign),
                    None => true,
                }
            })
            .collect();
        out.sort_by_key(|c| !within_validity(c, self.now));
        out
    }

    /// Whether `issuer`'s key verifies `cert`'s signature; a failure is
    /// remembered as the reason when no path is found.
    fn signed_by(&mut self, cert: &Certificate, issuer: &Certificate) -> bool {
        match check_signature(cert, issuer) {
            Ok(()) => true,
            Err(reason) => {
                self.failure = Some((reason, cert.clone()));
                false
            }
        }
    }
}

/// Verifies `cert`'s signature with `issuer`'s public key.
pub(crate) fn check_signature(cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    let (rsa, hash) = cert_signature_scheme(&cert.x509.signature_algorithm)?;
    let key = PublicKey::from_spki(&issuer.tbs().subject_public_key_info)
        .map_err(|e| format!("the issuer's key cannot be used: {e}"))?;
    if key.is_rsa() != rsa {
        return Err(format!(
            "the signature algorithm does not fit the issuer's {} key",
            key.describe()
        ));
    }
    let sig = cert
        .x509
        .signature
        .as_bytes()
        .ok_or("the signature is not a whole number of bytes")?;
    let digest = hash.digest(cert.tbs_der());
    if key.verify_prehashed(hash, &digest, sig) {
        Ok(())
    } else {
        Err("certificate signature failure".into())
    }
}

/// Issued by itself and verifiable with its own key.
fn is_self_signed(cert: &Certificate) -> bool {
    names_match(&cert.tbs().subject, &cert.tbs().issuer) && check_signature(cert, cert).is_ok()
}

/// OpenSSL's X509_check_ca: 0 when the certificate may not issue, 1 for
/// basicConstraints CA:TRUE, 3 for a v1 self-signed certificate, 4 for a key
/// usage with keyCertSign and no basicConstraints.
fn ca_kind(cert: &Certificate, ext: &Extensions) -> u8 {
    if let Some(ku) = ext.key_usage {
        if !ku.0.contains(x509_cert::ext::pkix::KeyUsages::KeyCertSign) {
            return 0;
        }
    }
    match &ext.basic_constraints {
        Some(bc) => u8::from(bc.ca),
        None if cert.tbs().version == x509_cert::certificate::Version::V1
            && is_self_signed(cert) =>
        {
            3
        }
        None if ext.key_usage.is_some() => 4,
        None => 0,
    }
}

/// OpenSSL's check_chain_extensions: unknown critical extensions, CA flags
/// and path lengths.
fn check_extensions(path: &[Certificate]) -> Result<(), ChainError> {
    let mut below = 0u32; // non-self-issued certificates below this one
    for (i, cert) in path.iter().enumerate() {
        let untrusted = |reason: String| ChainError::Untrusted {
            reason,
            at: Box::new(cert.clone()),
        };
        let ext = cert
            .extensions()
            .map_err(|e| untrusted(format!("invalid certificate extension: {e}")))?;
        if let Some(oid) = ext.unhandled_critical {
            return Err(untrusted(format!("unhandled critical extension {oid}")));
        }
        if i > 0 {
            let kind = ca_kind(cert, &ext);
            let is_top = i + 1 == path.len();
            if kind == 0 || (!is_top && kind != 1) {
                return Err(untrusted("invalid CA certificate".into()));
            }
        }
        if let Some(max) = ext
            .basic_constraints
            .as_ref()
            .and_then(|b| b.path_len_constraint)
        {
            if i > 1 && below > u32::from(max) {
                return Err(untrusted("path length constraint exceeded".into()));
            }
        }
        if i > 0 && !names_match(&cert.tbs().subject, &cert.tbs().issuer) {
            below += 1;
        }
    }
    Ok(())
}
