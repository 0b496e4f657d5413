//! Keys: reading private keys in the PEM forms OpenSSL writes, making P-256
//! keys, and the two signature schemes wslp signs and verifies with,
//! ECDSA (P-256, P-384) and RSA PKCS#1 v1.5, over SHA-2.

use std::fs;
use std::path::Path;

use der::asn1::{AnyRef, ObjectIdentifier};
use der::Decode;
use rand_core::OsRng;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::hazmat::{PrehashSigner, PrehashVerifier};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::error::TrustError;
use crate::oid;

/// The largest RSA modulus accepted, in bits: the rsa crate's default cap is
/// 4096, which would refuse keys OpenSSL takes.
const MAX_RSA_BITS: usize = 16384;

/// A private key that can sign plugins and certificates: ECDSA P-256 (what
/// `wslp cert new` makes), ECDSA P-384, or RSA.
pub struct PrivateKey(Inner);

enum Inner {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        f.write_str(match self.0 {
            Inner::P256(_) => "PrivateKey(ECDSA P-256)",
            Inner::P384(_) => "PrivateKey(ECDSA P-384)",
            Inner::Rsa(_) => "PrivateKey(RSA)",
        })
    }
}

impl PrivateKey {
    /// The first private key in PEM text: PKCS#8 (`PRIVATE KEY`), SEC1
    /// (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`), as `openssl genpkey`,
    /// `openssl ecparam -genkey`, `openssl genrsa` and `openssl req` write
    /// them. Encrypted keys are refused (decrypt them with `openssl pkey`).
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let block = crate::pem::blocks(pem)
            .into_iter()
            .find(|b| b.label.ends_with("PRIVATE KEY"))
            .ok_or("no `-----BEGIN PRIVATE KEY-----` block in it")?;
        if block.label == "ENCRYPTED PRIVATE KEY" || block.is_encrypted() {
            return Err("the key is encrypted; wslp reads unencrypted keys only \
                        (`openssl pkey -in KEY -out PLAIN.pem` decrypts it)"
                .into());
        }
        let der = block.decode()?;
        match block.label {
            "PRIVATE KEY" => Self::from_pkcs8_der(&der),
            "EC PRIVATE KEY" => Self::from_sec1_der(&der),
            "RSA PRIVATE KEY" => {
                use rsa::pkcs1::DecodeRsaPrivateKey;
                let k = rsa::RsaPrivateKey::from_pkcs1_der(&der)
                    .map_err(|e| format!("not a valid PKCS#1 RSA key: {e}"))?;
                Self::rsa(k)
            }
            other => Err(format!(
                "a {other} is not supported; use an ECDSA P-256/P-384 or RSA key"
            )),
        }
    }

    /// [`PrivateKey::from_pem`] of a file.
    pub fn read_pem_file(path: &Path) -> Result<Self, TrustError> {
        let pem = fs::read(path).map_err(|e| TrustError::io("cannot read private key", path, e))?;
        Self::from_pem(&pem).map_err(|reason| {
            TrustError::invalid(format!("private key {}", path.display()), reason)
        })
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self, String> {
        use pkcs8::DecodePrivateKey;
        let info = pkcs8::PrivateKeyInfo::try_from(der)
            .map_err(|e| format!("not a valid PKCS#8 key: {e}"))?;
        let bad = |e: pkcs8::Error| format!("not a valid PKCS#8 key: {e}");
        match info.algorithm.oid {
            oid::RSA_ENCRYPTION => Self::rsa(rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(bad)?),
            oid::EC_PUBLIC_KEY => match info.algorithm.parameters_oid().ok() {
                Some(oid::SECP256R1) => Ok(Self(Inner::P256(
                    p256::SecretKey::from_pkcs8_der(der).map_err(bad)?.into(),
                ))),
                Some(oid::SECP384R1) => Ok(Self(Inner::P384(
                    p384::SecretKey::from_pkcs8_der(der).map_err(bad)?.into(),
                ))),
                curve => Err(unsupported_curve(curve)),
            },
            other => Err(format!(
                "keys of algorithm {other} are not supported; use an ECDSA P-256/P-384 or RSA key"
            )),
        }
    }

    fn from_sec1_der(der: &[u8]) -> Result<Self, String> {
        let ec = sec1::EcPrivateKey::from_der(der)
            .map_err(|e| format!("not a valid SEC1 EC key: {e}"))?;
        let curve = match ec.parameters.and_then(|p| p.named_curve()) {
            Some(c) => Some(c),
            // Parameters left out (they were in an EC PARAMETERS block): the
            // scalar's length tells the two curves apart.
            None if ec.private_key.len() == 32 => Some(oid::SECP256R1),
            None if ec.private_key.len() == 48 => Some(oid::SECP384R1),
            None => None,
        };
        let bad = |e: p256::elliptic_curve::Error| format!("not a valid SEC1 EC key: {e}");
        match curve {
            Some(oid::SECP256R1) => Ok(Self(Inner::P256(
                p256::SecretKey::from_sec1_der(der).map_err(bad)?.into(),
            ))),
            Some(oid::SECP384R1) => Ok(Self(Inner::P384(
                p384::SecretKey::from_sec1_der(der).map_err(bad)?.into(),
            ))),
            other => Err(unsupported_curve(other)),
        }
    }

    fn rsa(k: rsa::RsaPrivateKey) -> Result<Self, String> {
        if k.size() * 8 > MAX_RSA_BITS {
            return Err(format!(
                "RSA keys over {MAX_RSA_BITS} bits are not supported"
            ));
        }
        Ok(Self(Inner::Rsa(Box::new(k))))
    }

    /// A new random ECDSA P-256 key.
    pub(crate) fn generate_p256() -> Self {
        Self(Inner::P256(p256::ecdsa::SigningKey::random(&mut OsRng)))
    }

    /// PKCS#8 DER, the form `wslp cert new` writes.
    pub(crate) fn to_pkcs8_der(&self) -> Result<der::SecretDocument, String> {
        use pkcs8::EncodePrivateKey;
        let r = match &self.0 {
            Inner::P256(k) => p256::SecretKey::from(k).to_pkcs8_der(),
            Inner::P384(k) => p384::SecretKey::from(k).to_pkcs8_der(),
            Inner::Rsa(k) => k.to_pkcs8_der(),
        };
        r.map_err(|e| format!("cannot encode the key: {e}"))
    }

    pub(crate) fn public_key(&self) -> PublicKey {
        match &self.0 {
            Inner::P256(k) => PublicKey::P256(*k.verifying_key()),
            Inner::P384(k) => PublicKey::P384(*k.verifying_key()),
            Inner::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
        }
    }

    /// The algorithm certificates signed by this key name: SHA-256 with
    /// ECDSA or RSA, as OpenSSL's `-sha256` would.
    pub(crate) fn cert_signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        match self.0 {
            Inner::P256(_) | Inner::P384(_) => alg(oid::ECDSA_WITH_SHA256, false),
            Inner::Rsa(_) => alg(oid::SHA256_WITH_RSA, true),
        }
    }

    /// The SignerInfo signatureAlgorithm, as OpenSSL's PKCS7_sign writes it:
    /// ecdsa-with-SHA256, or rsaEncryption (the digest is named separately).
    pub(crate) fn cms_signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        match self.0 {
            Inner::P256(_) | Inner::P384(_) => alg(oid::ECDSA_WITH_SHA256, false),
            Inner::Rsa(_) => alg(oid::RSA_ENCRYPTION, true),
        }
    }

    /// Signs SHA-256(`message`): a DER ECDSA-Sig-Value, or an RSA PKCS#1
    /// v1.5 signature.
    pub(crate) fn sign_sha256(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let hash = Sha256::digest(message);
        let fail = |e: &dyn std::fmt::Display| format!("signing failed: {e}");
        match &self.0 {
            Inner::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign_prehash(&hash).map_err(|e| fail(&e))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Inner::P384(k) => {
                let sig: p384::ecdsa::Signature = k.sign_prehash(&hash).map_err(|e| fail(&e))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            // With a random generator the rsa crate blinds the private-key
            // operation.
            Inner::Rsa(k) => k
                .sign_with_rng(&mut OsRng, rsa::Pkcs1v15Sign::new::<Sha256>(), &hash)
                .map_err(|e| fail(&e)),
        }
    }
}

fn unsupported_curve(curve: Option<ObjectIdentifier>) -> String {
    match curve {
        Some(c) => format!(
            "EC keys on curve {c} are not supported; use P-256 (prime256v1) or P-384 (secp384r1)"
        ),
        None => "the EC key names no curve; use P-256 (prime256v1) or P-384 (secp384r1)".into(),
    }
}

fn alg(oid: ObjectIdentifier, null_params: bool) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: null_params.then(|| AnyRef::NULL.into()),
    }
}

/// The hash inside a signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

/// A public key wslp can verify signatures with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Rsa(rsa::RsaPublicKey),
}

impl PublicKey {
    /// The key of a SubjectPublicKeyInfo; the error says what is unsupported.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, String> {
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or("the public key is not a whole number of bytes")?;
        match spki.algorithm.oid {
            oid::RSA_ENCRYPTION => {
                let k = rsa::pkcs1::RsaPublicKey::from_der(bits)
                    .map_err(|e| format!("the RSA public key does not parse: {e}"))?;
                let n = rsa::BigUint::from_bytes_be(k.modulus.as_bytes());
                let e = rsa::BigUint::from_bytes_be(k.public_exponent.as_bytes());
                rsa::RsaPublicKey::new_with_max_size(n, e, MAX_RSA_BITS)
                    .map(PublicKey::Rsa)
                    .map_err(|e| format!("the RSA public key is not usable: {e}"))
            }
            oid::EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
                let bad = |_| "the EC public key is not a point of its curve".to_string();
                match curve {
                    Some(oid::SECP256R1) => p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                        .map(PublicKey::P256)
                        .map_err(bad),
                    Some(oid::SECP384R1) => p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                        .map(PublicKey::P384)
                        .map_err(bad),
                    other => Err(unsupported_curve(other)),
                }
            }
            other => Err(format!(
                "public keys of algorithm {other} are not supported (wslp verifies ECDSA P-256/P-384 and RSA)"
            )),
        }
    }

    /// Whether `sig` is this key's signature over a message whose `hash`
    /// is given. For RSA, `hash_alg` names the hash in the PKCS#1 DigestInfo.
    pub fn verify_prehashed(&self, hash_alg: Hash, hash: &[u8], sig: &[u8]) -> bool {
        match self {
            PublicKey::P256(k) => p256::ecdsa::Signature::from_der(sig)
                .is_ok_and(|s| k.verify_prehash(hash, &s).is_ok()),
            PublicKey::P384(k) => p384::ecdsa::Signature::from_der(sig)
                .is_ok_and(|s| k.verify_prehash(hash, &s).is_ok()),
            PublicKey::Rsa(k) => {
                let scheme = match hash_alg {
                    Hash::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                    Hash::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                    Hash::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
                };
                k.verify(scheme, hash, sig).is_ok()
            }
        }
    }

    pub fn is_rsa(&self) -> bool {
        matches!(self, PublicKey::Rsa(_))
    }

    /// The SubjectPublicKeyInfo of this key, as it goes into a certificate.
    pub fn to_spki(&self) -> Result<SubjectPublicKeyInfoOwned, String> {
        use pkcs8::EncodePublicKey;
        let der = match self {
            PublicKey::P256(k) => p256::PublicKey::from(k).to_public_key_der(),
            PublicKey::P384(k) => p384::PublicKey::from(k).to_public_key_der(),
            PublicKey::Rsa(k) => k.to_public_key_der(),
        }
        .map_err(|e| format!("cannot encode the public key: {e}"))?;
        SubjectPublicKeyInfoOwned::from_der(der.as_bytes())
            .map_err(|e| format!("cannot encode the public key: {e}"))
    }

    /// Size in bits, for messages.
    pub fn describe(&self) -> String {
        match self {
            PublicKey::P256(_) => "ECDSA P-256".into(),
            PublicKey::P384(_) => "ECDSA P-384".into(),
            PublicKey::Rsa(k) => format!("RSA-{}", k.n().bits()),
        }
    }
}

/// The signature algorithm of a certificate, as (uses RSA, hash), or why it
/// is not supported.
pub(crate) fn cert_signature_scheme(
    alg: &AlgorithmIdentifierOwned,
) -> Result<(bool, Hash), String> {
    match alg.oid {
        oid::SHA256_WITH_RSA => Ok((true, Hash::Sha256)),
        oid::SHA384_WITH_RSA => Ok((true, Hash::Sha384)),
        oid::SHA512_WITH_RSA => Ok((true, Hash::Sha512)),
        oid::ECDSA_WITH_SHA256 => Ok((false, Hash::Sha256)),
        oid::ECDSA_WITH_SHA384 => Ok((false, Hash::Sha384)),
        oid::ECDSA_WITH_SHA512 => Ok((false, Hash::Sha512)),
        oid::SHA1_WITH_RSA | oid::ECDSA_WITH_SHA1 => {
            Err("it is signed with SHA-1, which collisions have broken".into())
        }
        other => Err(format!(
            "its signature algorithm {other} is not supported (wslp verifies RSA PKCS#1 v1.5 and ECDSA with SHA-256/384/512)"
        )),
    }
}

/// Public key equality between what a private key implies and what a
/// certificate holds (by key material, not encoding).
pub(crate) fn same_key(key: &PrivateKey, spki: &SubjectPublicKeyInfoOwned) -> bool {
    PublicKey::from_spki(spki).is_ok_and(|p| p == key.public_key())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_with_each_key_kind() {
        let keys = [
            PrivateKey::generate_p256(),
            PrivateKey(Inner::P384(p384::ecdsa::SigningKey::random(&mut OsRng))),
            PrivateKey(Inner::Rsa(Box::new(
                rsa::RsaPrivateKey::new(&mut OsRng, 1024).unwrap(),
            ))),
        ];
        for k in keys {
            let sig = k.sign_sha256(b"hello").unwrap();
            let p = k.public_key();
            let h = Hash::Sha256.digest(b"hello");
            assert!(p.verify_prehashed(Hash::Sha256, &h, &sig), "{k:?}");
            let other = Hash::Sha256.digest(b"hellO");
            assert!(!p.verify_prehashed(Hash::Sha256, &other, &sig), "{k:?}");
            let spki = p.to_spki().unwrap();
            assert!(same_key(&k, &spki));
            assert!(!same_key(&PrivateKey::generate_p256(), &spki));
            // Through PKCS#8 PEM and back.
            let der = k.to_pkcs8_der().unwrap();
            let pem = crate::pem::encode("PRIVATE KEY", der.as_bytes());
            let back = PrivateKey::from_pem(&pem).unwrap();
            assert_eq!(back.public_key(), p);
        }
    }

    #[test]
    fn encrypted_and_foreign_keys_are_refused_clearly() {
        let enc =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(PrivateKey::from_pem(enc).unwrap_err().contains("encrypted"));
        let dsa = b"-----BEGIN DSA PRIVATE KEY-----\nAAAA\n-----END DSA PRIVATE KEY-----\n";
        assert!(PrivateKey::from_pem(dsa)
            .unwrap_err()
            .contains("not supported"));
        assert!(PrivateKey::from_pem(b"nothing")
            .unwrap_err()
            .contains("BEGIN PRIVATE KEY"));
    }
}
