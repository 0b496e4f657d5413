//! Certificates: reading them, describing them, checking them for code
//! signing, and making new code-signing and CA certificates.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509ExtendedKeyUsage, X509KeyUsage, X509NameBuilder, X509Ref, X509};

use crate::error::TrustError;
use crate::Signer;

/// What `wslp cert new` makes.
#[derive(Debug, Clone)]
pub struct CertOptions {
    /// Distinguished name, `CN=My Plugin, O=Contoso` (or `/CN=…/O=…`).
    pub subject: String,
    /// Validity from now, in days (at least 1).
    pub days: u32,
    /// A CA certificate (basicConstraints CA:TRUE, keyCertSign) that can issue leaves.
    pub is_ca: bool,
    /// (CA key, CA certificate) to issue from; None makes a self-signed certificate.
    pub issuer: Option<(PathBuf, PathBuf)>,
    /// Add the code-signing extended key usage (1.3.6.1.5.5.7.3.3).
    pub code_signing: bool,
}

/// Reads a PEM file holding one or more certificates, the first being the
/// one that matters (the signer, or the certificate to trust).
pub(crate) fn read_certs(path: &Path) -> Result<Vec<X509>, TrustError> {
    let pem = fs::read(path).map_err(|e| TrustError::io("cannot read certificate", path, e))?;
    let certs = X509::stack_from_pem(&pem).map_err(TrustError::ssl(format!(
        "{} is not a PEM certificate",
        path.display()
    )))?;
    if certs.is_empty() {
        return Err(TrustError::invalid(
            format!("certificate file {}", path.display()),
            "no `-----BEGIN CERTIFICATE-----` block in it",
        ));
    }
    Ok(certs)
}

pub(crate) fn read_key(path: &Path) -> Result<PKey<Private>, TrustError> {
    let pem = fs::read(path).map_err(|e| TrustError::io("cannot read private key", path, e))?;
    PKey::private_key_from_pem(&pem).map_err(TrustError::ssl(format!(
        "{} is not a PEM private key",
        path.display()
    )))
}

/// `CN=x, O=y`: the subject as a user wrote it, short names in DER order.
pub(crate) fn subject_string(cert: &X509Ref) -> String {
    cert.subject_name()
        .entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_else(|_| "?".into());
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// SHA-256 of the DER certificate, lowercase hex without colons.
pub fn fingerprint(cert: &X509Ref) -> Result<String, TrustError> {
    let d = cert
        .digest(MessageDigest::sha256())
        .map_err(TrustError::ssl("cannot hash certificate"))?;
    Ok(d.iter().map(|b| format!("{b:02x}")).collect())
}

/// Accepts `AB:CD:…` or `abcd…`; returns 64 lowercase hex digits.
pub(crate) fn normalize_fingerprint(fp: &str) -> Result<String, TrustError> {
    let hex: String = fp
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(TrustError::invalid(
            format!("fingerprint '{fp}'"),
            "expected a SHA-256 fingerprint: 64 hex digits, colons allowed (`wslp trust list` shows them)",
        ));
    }
    Ok(hex)
}

pub(crate) fn describe(cert: &X509Ref) -> Result<Signer, TrustError> {
    Ok(Signer {
        subject: subject_string(cert),
        fingerprint_sha256: fingerprint(cert)?,
        not_after: cert.not_after().to_string(),
    })
}

/// Inside [not_before, not_after] now?
pub(crate) fn check_validity(cert: &X509Ref) -> Result<(), TrustError> {
    let now = Asn1Time::days_from_now(0).map_err(TrustError::ssl("cannot read the clock"))?;
    let before_start = cert.not_before() > now;
    let after_end = cert.not_after() < now;
    if before_start || after_end {
        return Err(TrustError::Expired {
            subject: subject_string(cert),
            not_before: cert.not_before().to_string(),
            not_after: cert.not_after().to_string(),
        });
    }
    Ok(())
}

/// Code signing needs the codeSigning EKU spelled out (an absent EKU is
/// "any purpose" to X.509 but not to Windows' code-signing policy, nor here),
/// and a key usage, when present, that allows digitalSignature.
pub(crate) fn check_code_signing(cert: &X509Ref) -> Result<(), TrustError> {
    let wrong = |reason: &str| TrustError::WrongUsage {
        subject: subject_string(cert),
        reason: reason.to_string(),
    };
    match cert.extended_key_usage() {
        None => return Err(wrong("it has no extended key usage extension")),
        Some(eku) if !eku.contains(X509ExtendedKeyUsage::CODE_SIGN) => {
            return Err(wrong("its extended key usage does not include codeSigning"))
        }
        Some(_) => {}
    }
    if let Some(ku) = cert.key_usage() {
        if !ku.contains(X509KeyUsage::DIGITAL_SIGNATURE) {
            return Err(wrong("its key usage does not include digitalSignature"));
        }
    }
    Ok(())
}

fn parse_subject(subject: &str) -> Result<openssl::x509::X509Name, TrustError> {
    let bad = |reason: String| TrustError::invalid(format!("subject '{subject}'"), reason);
    let parts: Vec<&str> = if subject.trim_start().starts_with('/') {
        subject.split('/').collect()
    } else {
        subject.split(',').collect()
    };
    let mut name = X509NameBuilder::new().map_err(TrustError::ssl("cannot build a name"))?;
    let mut any = false;
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("'{part}' is not KEY=VALUE (e.g. CN=My Plugin)")))?;
        name.append_entry_by_text(key.trim(), value.trim())
            .map_err(|_| {
                bad(format!(
                    "unknown attribute '{}' (use CN, O, OU, C, ST, L)",
                    key.trim()
                ))
            })?;
        any = true;
    }
    if !any {
        return Err(bad("it is empty; give at least CN=…".into()));
    }
    Ok(name.build())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Makes an ECDSA P-256 key and a certificate for it valid for `opts.days`
/// from now; writes the key (PKCS#8 PEM, mode 0600) and the certificate
/// (PEM, 0644). Refuses to overwrite either file.
pub fn new_certificate(
    opts: &CertOptions,
    key_out: &Path,
    cert_out: &Path,
) -> Result<Signer, TrustError> {
    if opts.days == 0 {
        return Err(TrustError::invalid(
            "--days 0",
            "a certificate must be valid for at least one day",
        ));
    }
    // Backdated a minute so a clock a little behind another machine's still accepts it.
    let not_before = unix_now() - 60;
    let not_after = unix_now() + i64::from(opts.days) * 86_400;
    new_certificate_valid_between(opts, not_before, not_after, key_out, cert_out)
}

/// [`new_certificate`] with an explicit validity in Unix seconds; either bound
/// may lie in the past, which is how tests make expired certificates.
pub fn new_certificate_valid_between(
    opts: &CertOptions,
    not_before_unix: i64,
    not_after_unix: i64,
    key_out: &Path,
    cert_out: &Path,
) -> Result<Signer, TrustError> {
    for path in [key_out, cert_out] {
        if path.symlink_metadata().is_ok() {
            return Err(TrustError::invalid(
                format!("output {}", path.display()),
                "it already exists; wslp cert new does not overwrite keys or certificates, remove it first",
            ));
        }
    }
    let name = parse_subject(&opts.subject)?;
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)
        .map_err(TrustError::ssl("cannot set up P-256"))?;
    let ec = EcKey::generate(&group).map_err(TrustError::ssl("cannot generate a P-256 key"))?;
    let key = PKey::from_ec_key(ec).map_err(TrustError::ssl("cannot wrap the key"))?;

    let issuer = match &opts.issuer {
        Some((ca_key_path, ca_cert_path)) => {
            let ca_key = read_key(ca_key_path)?;
            let ca_cert = read_certs(ca_cert_path)?.swap_remove(0);
            let ca_pub = ca_cert
                .public_key()
                .map_err(TrustError::ssl("cannot read the CA certificate's key"))?;
            if !ca_pub.public_eq(&ca_key) {
                return Err(TrustError::KeyMismatch {
                    key: ca_key_path.clone(),
                    cert: ca_cert_path.clone(),
                });
            }
            if let Some(ku) = ca_cert.key_usage() {
                if !ku.contains(X509KeyUsage::KEY_CERT_SIGN) {
                    return Err(TrustError::invalid(
                        format!("CA certificate {}", ca_cert_path.display()),
                        "its key usage does not allow signing certificates; make one with `wslp cert new --ca`",
                    ));
                }
            }
            Some((ca_key, ca_cert))
        }
        None => None,
    };

    let cert = build(
        opts,
        &name,
        &key,
        issuer.as_ref(),
        not_before_unix,
        not_after_unix,
    )
    .map_err(TrustError::ssl("cannot build the certificate"))?;

    let key_pem = key
        .private_key_to_pem_pkcs8()
        .map_err(TrustError::ssl("cannot encode the key"))?;
    write_new(key_out, &key_pem, 0o600)?;
    let cert_pem = cert
        .to_pem()
        .map_err(TrustError::ssl("cannot encode the certificate"))?;
    write_new(cert_out, &cert_pem, 0o644)?;
    describe(&cert)
}

fn build(
    opts: &CertOptions,
    name: &openssl::x509::X509NameRef,
    key: &PKey<Private>,
    issuer: Option<&(PKey<Private>, X509)>,
    not_before_unix: i64,
    not_after_unix: i64,
) -> Result<X509, openssl::error::ErrorStack> {
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    // 127 random bits: positive and unique, as RFC 5280 §4.1.2.2 asks.
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(name)?;
    match issuer {
        Some((_, ca)) => b.set_issuer_name(ca.subject_name())?,
        None => b.set_issuer_name(name)?,
    }
    b.set_pubkey(key)?;
    let not_before = Asn1Time::from_unix(not_before_unix as _)?;
    let not_after = Asn1Time::from_unix(not_after_unix as _)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;

    let mut bc = BasicConstraints::new();
    bc.critical();
    if opts.is_ca {
        bc.ca();
    }
    b.append_extension(bc.build()?)?;
    let mut ku = KeyUsage::new();
    ku.critical().digital_signature();
    if opts.is_ca {
        ku.key_cert_sign().crl_sign();
    }
    b.append_extension(ku.build()?)?;
    if opts.code_signing {
        b.append_extension(ExtendedKeyUsage::new().code_signing().build()?)?;
    }
    let ski =
        SubjectKeyIdentifier::new().build(&b.x509v3_context(issuer.map(|(_, c)| &**c), None))?;
    b.append_extension(ski)?;
    if issuer.is_some() {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&b.x509v3_context(issuer.map(|(_, c)| &**c), None))?;
        b.append_extension(aki)?;
    }
    let signing_key = issuer.map(|(k, _)| k).unwrap_or(key);
    b.sign(signing_key, MessageDigest::sha256())?;
    Ok(b.build())
}

/// Creates `path` exclusively with `mode`; the mode is set again explicitly
/// since the umask may have taken bits away on creation.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TrustError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| TrustError::io("cannot create", path, e))?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| TrustError::io("cannot set the mode of", path, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| TrustError::io("cannot write", path, e))
}
