//! Certificates: reading them, describing them, checking them for code
//! signing, and making new code-signing and CA certificates.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::asn1::{
    BitString, GeneralizedTime, Ia5StringRef, OctetString, PrintableStringRef, SetOfVec, UtcTime,
    Utf8StringRef,
};
use der::{Any, Decode, Encode, Tag, Tagged};
use sha2::{Digest, Sha256};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::certificate::{CertificateInner, TbsCertificateInner, Version};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::error::TrustError;
use crate::key::{same_key, PrivateKey};
use crate::oid::{self, StringKind};
use crate::Signer;

/// An X.509 certificate: its DER bytes exactly as read (fingerprints,
/// the trust store and signatures use these, never a re-encoding) and
/// their parse.
#[derive(Clone, Debug)]
pub struct Certificate {
    der: Vec<u8>,
    pub(crate) x509: CertificateInner,
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}
impl Eq for Certificate {}

impl Certificate {
    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let x509 = CertificateInner::from_der(der)
            .map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
        Ok(Certificate {
            der: der.to_vec(),
            x509,
        })
    }

    /// Every `CERTIFICATE` block of PEM text, in order; other blocks and
    /// text around them are skipped. An empty list when there is none.
    pub fn from_pem(pem: &[u8]) -> Result<Vec<Self>, String> {
        crate::pem::blocks(pem)
            .iter()
            .filter(|b| b.label == "CERTIFICATE" || b.label == "X509 CERTIFICATE")
            .map(|b| Certificate::from_der(&b.decode()?))
            .collect()
    }

    /// Reads a PEM file holding one or more certificates, the first being
    /// the one that matters (the signer, or the certificate to trust).
    pub fn read_pem_file(path: &Path) -> Result<Vec<Self>, TrustError> {
        let pem = fs::read(path).map_err(|e| TrustError::io("cannot read certificate", path, e))?;
        let what = || format!("certificate file {}", path.display());
        let certs = Certificate::from_pem(&pem).map_err(|reason| {
            TrustError::invalid(what(), format!("it is not a PEM certificate: {reason}"))
        })?;
        if certs.is_empty() {
            return Err(TrustError::invalid(
                what(),
                "no `-----BEGIN CERTIFICATE-----` block in it",
            ));
        }
        Ok(certs)
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM, as OpenSSL writes it.
    pub fn to_pem(&self) -> Vec<u8> {
        crate::pem::encode("CERTIFICATE", &self.der)
    }

    pub(crate) fn tbs(&self) -> &TbsCertificateInner {
        &self.x509.tbs_certificate
    }

    /// The DER of tbsCertificate as it is in the file: what the issuer signed.
    pub(crate) fn tbs_der(&self) -> &[u8] {
        crate::format::first_element(&self.der).unwrap_or(&[])
    }

    pub(crate) fn subject_string(&self) -> String {
        name_string(&self.tbs().subject)
    }

    pub(crate) fn not_before(&self) -> u64 {
        self.tbs().validity.not_before.to_unix_duration().as_secs()
    }

    pub(crate) fn not_after(&self) -> u64 {
        self.tbs().validity.not_after.to_unix_duration().as_secs()
    }

    /// The extensions wslp acts on, parsed.
    pub(crate) fn extensions(&self) -> Result<Extensions, String> {
        Extensions::of(self)
    }
}

/// SHA-256 of the DER certificate, lowercase hex without colons.
pub fn fingerprint(cert: &Certificate) -> String {
    Sha256::digest(&cert.der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `CN=x, O=y`: a name as a user wrote it, OpenSSL's short names, in DER
/// order; an attribute wslp has no name for shows as its OID.
pub(crate) fn name_string(name: &Name) -> String {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .map(|atv| {
            let key = oid::name_attr_short(&atv.oid)
                .map(str::to_string)
                .unwrap_or_else(|| atv.oid.to_string());
            let value = string_value(&atv.value).unwrap_or_else(|| "?".into());
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text of a directory string, whatever ASN.1 string type carries it.
fn string_value(v: &Any) -> Option<String> {
    let b = v.value();
    match v.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::VisibleString
        | Tag::NumericString => std::str::from_utf8(b).ok().map(str::to_string),
        // T.61 as OpenSSL reads it: Latin-1.
        Tag::TeletexString => Some(b.iter().map(|&c| c as char).collect()),
        Tag::BmpString => {
            let units: Vec<u16> = b
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1)?]).into())
                .collect::<Option<_>>()?;
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// Names equal as OpenSSL compares them (X509_NAME_cmp on the canonical
/// form): same attributes in the same RDNs, string values compared after
/// trimming, collapsing inner white space and lower-casing ASCII.
pub(crate) fn names_match(a: &Name, b: &Name) -> bool {
    /// (attribute OID, normalized text or, for a non-string, the DER).
    type Canonical = (String, Result<String, Vec<u8>>);
    fn canon(name: &Name) -> Vec<Vec<Canonical>> {
        name.0
            .iter()
            .map(|rdn| {
                let mut set: Vec<_> = rdn
                    .0
                    .iter()
                    .map(|atv| {
                        let v = match string_value(&atv.value) {
                            Some(s) => Ok(s
                                .split_whitespace()
                                .collect::<Vec<_>>()
                                .join(" ")
                                .to_ascii_lowercase()),
                            None => Err(atv.value.to_der().unwrap_or_default()),
                        };
                        (atv.oid.to_string(), v)
                    })
                    .collect();
                set.sort();
                set
            })
            .collect()
    }
    a == b || canon(a) == canon(b)
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

/// A time as OpenSSL prints it: `Nov 27 10:00:00 2027 GMT`, the day padded
/// with a space.
pub(crate) fn openssl_time(t: &Time) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let d = t.to_date_time();
    format!(
        "{} {:2} {:02}:{:02}:{:02} {} GMT",
        MONTHS[usize::from(d.month().clamp(1, 12)) - 1],
        d.day(),
        d.hour(),
        d.minutes(),
        d.seconds(),
        d.year()
    )
}

pub(crate) fn describe(cert: &Certificate) -> Signer {
    Signer {
        subject: cert.subject_string(),
        fingerprint_sha256: fingerprint(cert),
        not_after: openssl_time(&cert.tbs().validity.not_after),
    }
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The [`TrustError::Expired`] of a certificate.
pub(crate) fn expired(cert: &Certificate) -> TrustError {
    TrustError::Expired {
        subject: cert.subject_string(),
        not_before: openssl_time(&cert.tbs().validity.not_before),
        not_after: openssl_time(&cert.tbs().validity.not_after),
    }
}

/// Inside [not_before, not_after] at `now` (Unix seconds)?
pub(crate) fn within_validity(cert: &Certificate, now: i64) -> bool {
    let now = now.max(0) as u64;
    cert.not_before() <= now && now <= cert.not_after()
}

/// Inside [not_before, not_after] now?
pub(crate) fn check_validity(cert: &Certificate) -> Result<(), TrustError> {
    if within_validity(cert, unix_now()) {
        Ok(())
    } else {
        Err(expired(cert))
    }
}

/// Code signing needs the codeSigning EKU spelled out (an absent EKU is
/// "any purpose" to X.509 but not to Windows' code-signing policy, nor here),
/// and a key usage, when present, that allows digitalSignature.
pub(crate) fn check_code_signing(cert: &Certificate) -> Result<(), TrustError> {
    let wrong = |reason: &str| TrustError::WrongUsage {
        subject: cert.subject_string(),
        reason: reason.to_string(),
    };
    let ext = cert
        .extensions()
        .map_err(|e| wrong(&format!("its extensions cannot be read ({e})")))?;
    match &ext.eku {
        None => return Err(wrong("it has no extended key usage extension")),
        Some(eku) if !eku.contains(&oid::CODE_SIGNING) => {
            return Err(wrong("its extended key usage does not include codeSigning"))
        }
        Some(_) => {}
    }
    if let Some(ku) = ext.key_usage {
        if !ku.0.contains(KeyUsages::DigitalSignature) {
            return Err(wrong("its key usage does not include digitalSignature"));
        }
    }
    Ok(())
}

/// The extensions of a certificate that verification acts on.
#[derive(Debug, Default)]
pub(crate) struct Extensions {
    pub basic_constraints: Option<BasicConstraints>,
    pub key_usage: Option<KeyUsage>,
    pub eku: Option<Vec<der::asn1::ObjectIdentifier>>,
    pub subject_key_id: Option<Vec<u8>>,
    pub authority_key_id: Option<AuthorityKeyIdentifier>,
    /// A critical extension wslp does not process, if any: such a
    /// certificate must not be used (RFC 5280 §4.2).
    pub unhandled_critical: Option<der::asn1::ObjectIdentifier>,
}

impl Extensions {
    fn of(cert: &Certificate) -> Result<Self, String> {
        let mut out = Extensions::default();
        let mut seen = Vec::new();
        for Extension {
            extn_id,
            critical,
            extn_value,
        } in cert.tbs().extensions.iter().flatten()
        {
            if seen.contains(extn_id) {
                return Err(format!("the extension {extn_id} appears twice"));
            }
            seen.push(*extn_id);
            let v = extn_value.as_bytes();
            let bad = |what: &'static str| {
                move |e: der::Error| format!("its {what} extension is malformed: {e}")
            };
            match *extn_id {
                oid::BASIC_CONSTRAINTS => {
                    out.basic_constraints =
                        Some(BasicConstraints::from_der(v).map_err(bad("basic constraints"))?)
                }
                oid::KEY_USAGE => {
                    out.key_usage = Some(KeyUsage::from_der(v).map_err(bad("key usage"))?)
                }
                oid::EXT_KEY_USAGE => {
                    out.eku = Some(
                        ExtendedKeyUsage::from_der(v)
                            .map_err(bad("extended key usage"))?
                            .0,
                    )
                }
                oid::SUBJECT_KEY_ID => {
                    out.subject_key_id = Some(
                        SubjectKeyIdentifier::from_der(v)
                            .map_err(bad("subject key identifier"))?
                            .0
                            .as_bytes()
                            .to_vec(),
                    )
                }
                oid::AUTHORITY_KEY_ID => {
                    out.authority_key_id = Some(
                        AuthorityKeyIdentifier::from_der(v)
                            .map_err(bad("authority key identifier"))?,
                    )
                }
                // Processed by nothing that wslp checks, so harmless even
                // when critical: alternative names and policies (policies
                // are only checked when a policy is required, and wslp
                // requires none, as OpenSSL by default).
                oid::SUBJECT_ALT_NAME | oid::ISSUER_ALT_NAME | oid::CERTIFICATE_POLICIES => {}
                other if *critical && out.unhandled_critical.is_none() => {
                    out.unhandled_critical = Some(other)
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

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

/// `CN=x, O=y` or `/CN=x/O=y` into a name, one RDN per attribute in the
/// order given; attribute names as OpenSSL knows them (CN, O, OU, C, ST, L,
/// emailAddress, DC, … or their long names), values typed and bounded as
/// OpenSSL does (countryName two printable letters, CN at most 64, …).
pub(crate) fn parse_subject(subject: &str) -> Result<Name, TrustError> {
    let bad = |reason: String| TrustError::invalid(format!("subject '{subject}'"), reason);
    let parts: Vec<&str> = if subject.trim_start().starts_with('/') {
        subject.split('/').collect()
    } else {
        subject.split(',').collect()
    };
    let mut rdns = Vec::new();
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("'{part}' is not KEY=VALUE (e.g. CN=My Plugin)")))?;
        let (key, value) = (key.trim(), value.trim());
        let attr = oid::name_attr_by_key(key).ok_or_else(|| {
            bad(format!(
                "unknown attribute '{key}' (use CN, O, OU, C, ST, L, emailAddress, DC)"
            ))
        })?;
        let chars = value.chars().count();
        if chars < attr.min || chars > attr.max {
            return Err(bad(if attr.min == attr.max {
                format!("{key} must be {} characters long", attr.min)
            } else if chars == 0 {
                format!("{key} is empty")
            } else {
                format!("{key} is longer than {} characters", attr.max)
            }));
        }
        let typed = match attr.kind {
            StringKind::Utf8 => Utf8StringRef::new(value).and_then(|s| Any::encode_from(&s)),
            StringKind::Printable => PrintableStringRef::new(value)
                .map_err(|_| {
                    bad(format!(
                        "{key} may only hold letters, digits and ' ()+,-./:=?"
                    ))
                })
                .map(|s| Any::encode_from(&s))
                .and_then(|r| r.map_err(|e| bad(e.to_string())).map(Ok))?,
            StringKind::Ia5 => Ia5StringRef::new(value)
                .map_err(|_| bad(format!("{key} may only hold ASCII")))
                .map(|s| Any::encode_from(&s))
                .and_then(|r| r.map_err(|e| bad(e.to_string())).map(Ok))?,
        }
        .map_err(|e| bad(e.to_string()))?;
        let atv = AttributeTypeAndValue {
            oid: attr.oid,
            value: typed,
        };
        let set = SetOfVec::try_from(vec![atv]).map_err(|e| bad(e.to_string()))?;
        rdns.push(RelativeDistinguishedName(set));
    }
    if rdns.is_empty() {
        return Err(bad("it is empty; give at least CN=…".into()));
    }
    Ok(RdnSequence(rdns))
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
    let validity = Validity {
        not_before: time_from_unix(not_before_unix)?,
        not_after: time_from_unix(not_after_unix)?,
    };
    let key = PrivateKey::generate_p256();

    let issuer = match &opts.issuer {
        Some((ca_key_path, ca_cert_path)) => {
            let ca_key = PrivateKey::read_pem_file(ca_key_path)?;
            let ca_cert = Certificate::read_pem_file(ca_cert_path)?.swap_remove(0);
            if !same_key(&ca_key, &ca_cert.tbs().subject_public_key_info) {
                return Err(TrustError::KeyMismatch {
                    key: ca_key_path.clone(),
                    cert: ca_cert_path.clone(),
                });
            }
            let ext = ca_cert.extensions().map_err(|e| {
                TrustError::invalid(format!("CA certificate {}", ca_cert_path.display()), e)
            })?;
            if let Some(ku) = ext.key_usage {
                if !ku.0.contains(KeyUsages::KeyCertSign) {
                    return Err(TrustError::invalid(
                        format!("CA certificate {}", ca_cert_path.display()),
                        "its key usage does not allow signing certificates; make one with `wslp cert new --ca`",
                    ));
                }
            }
            Some((ca_key, ca_cert, ext.subject_key_id))
        }
        None => None,
    };

    let cert = build(opts, name, &key, issuer.as_ref(), validity).map_err(|reason| {
        TrustError::Crypto {
            what: "cannot build the certificate".into(),
            reason,
        }
    })?;

    let key_der = key.to_pkcs8_der().map_err(|reason| TrustError::Crypto {
        what: "cannot encode the key".into(),
        reason,
    })?;
    write_new(
        key_out,
        &crate::pem::encode("PRIVATE KEY", key_der.as_bytes()),
        0o600,
    )?;
    write_new(cert_out, &cert.to_pem(), 0o644)?;
    Ok(describe(&cert))
}

/// UTCTime up to 2049, GeneralizedTime after (RFC 5280 §4.1.2.5).
pub(crate) fn time_from_unix(secs: i64) -> Result<Time, TrustError> {
    let out_of_range = || {
        TrustError::invalid(
            "validity",
            format!("{secs} (Unix time) is outside the years 1970 to 9999 a certificate can hold"),
        )
    };
    let d = Duration::from_secs(u64::try_from(secs).map_err(|_| out_of_range())?);
    match UtcTime::from_unix_duration(d) {
        Ok(t) => Ok(Time::UtcTime(t)),
        Err(_) => GeneralizedTime::from_unix_duration(d)
            .map(Time::GeneralTime)
            .map_err(|_| out_of_range()),
    }
}

fn extension(
    id: der::asn1::ObjectIdentifier,
    critical: bool,
    value: &impl Encode,
) -> Result<Extension, String> {
    Ok(Extension {
        extn_id: id,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?,
    })
}

/// A key identifier: the first 160 bits of SHA-256 of the public key
/// (RFC 7093 §2 method 1).
fn key_id(spki: &spki::SubjectPublicKeyInfoOwned) -> Vec<u8> {
    Sha256::digest(spki.subject_public_key.raw_bytes())[..20].to_vec()
}

fn build(
    opts: &CertOptions,
    subject: Name,
    key: &PrivateKey,
    issuer: Option<&(PrivateKey, Certificate, Option<Vec<u8>>)>,
    validity: Validity,
) -> Result<Certificate, String> {
    let spki = key.public_key().to_spki()?;
    // 127 random bits: positive and unique, as RFC 5280 §4.1.2.2 asks.
    let mut serial = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut serial);
    serial[0] &= 0x7f;
    let serial: SerialNumber = SerialNumber::new(&serial).map_err(|e| e.to_string())?;

    let mut ku = KeyUsage(KeyUsages::DigitalSignature.into());
    if opts.is_ca {
        ku.0 |= KeyUsages::KeyCertSign | KeyUsages::CRLSign;
    }
    let mut extensions = vec![
        extension(
            oid::BASIC_CONSTRAINTS,
            true,
            &BasicConstraints {
                ca: opts.is_ca,
                path_len_constraint: None,
            },
        )?,
        extension(oid::KEY_USAGE, true, &ku)?,
    ];
    if opts.code_signing {
        extensions.push(extension(
            oid::EXT_KEY_USAGE,
            false,
            &ExtendedKeyUsage(vec![oid::CODE_SIGNING]),
        )?);
    }
    let ski = OctetString::new(key_id(&spki)).map_err(|e| e.to_string())?;
    extensions.push(extension(
        oid::SUBJECT_KEY_ID,
        false,
        &SubjectKeyIdentifier(ski),
    )?);
    if let Some((_, _, Some(ca_ski))) = issuer {
        extensions.push(extension(
            oid::AUTHORITY_KEY_ID,
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(ca_ski.clone()).map_err(|e| e.to_string())?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
        )?);
    }

    let signing_key = issuer.map(|(k, _, _)| k).unwrap_or(key);
    let tbs = TbsCertificateInner {
        version: Version::V3,
        serial_number: serial,
        signature: signing_key.cert_signature_algorithm(),
        issuer: match issuer {
            Some((_, ca, _)) => ca.tbs().subject.clone(),
            None => subject.clone(),
        },
        validity,
        subject,
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let tbs_der = tbs.to_der().map_err(|e| e.to_string())?;
    let signature = signing_key.sign_sha256(&tbs_der)?;
    let cert = CertificateInner {
        signature_algorithm: tbs.signature.clone(),
        tbs_certificate: tbs,
        signature: BitString::from_bytes(&signature).map_err(|e| e.to_string())?,
    };
    Certificate::from_der(&cert.to_der().map_err(|e| e.to_string())?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_openssl_prints_them() {
        let t = time_from_unix(1_827_309_600).unwrap(); // 2027-11-27 10:00:00
        assert_eq!(openssl_time(&t), "Nov 27 10:00:00 2027 GMT");
        let t = time_from_unix(1_704_502_861).unwrap(); // 2024-01-06 01:01:01
        assert_eq!(openssl_time(&t), "Jan  6 01:01:01 2024 GMT");
        assert!(matches!(
            time_from_unix(2_556_144_000).unwrap(),
            Time::GeneralTime(_)
        ));
        assert!(time_from_unix(-1).is_err());
        assert!(time_from_unix(300_000_000_000).is_err());
    }

    #[test]
    fn subjects_with_several_rdns_keep_their_order() {
        let n =
            parse_subject("CN=My Plugin, O=Contoso, OU=a, OU=b, C=DE, emailAddress=x@y.z").unwrap();
        assert_eq!(n.0.len(), 6);
        assert_eq!(
            name_string(&n),
            "CN=My Plugin, O=Contoso, OU=a, OU=b, C=DE, emailAddress=x@y.z"
        );
        let slashes = parse_subject("/DC=org/DC=example/CN=x").unwrap();
        assert_eq!(name_string(&slashes), "DC=org, DC=example, CN=x");
        assert_eq!(slashes.0[0].0.get(0).unwrap().value.tag(), Tag::Ia5String);
        for bad in [
            "",
            "CN",
            "XX=1",
            "C=DEU",
            "CN=",
            &format!("CN={}", "x".repeat(65)),
        ] {
            assert!(parse_subject(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_compare_as_openssl_does() {
        let a = parse_subject("CN=Some  CA, O=X").unwrap();
        let b = parse_subject("CN=some ca, O=x").unwrap();
        let c = parse_subject("CN=some ca").unwrap();
        assert!(names_match(&a, &b));
        assert!(!names_match(&a, &c));
    }
}
