//! The object identifiers wslp reads and writes, by name.

use der::asn1::ObjectIdentifier as Oid;

// Keys and signature algorithms.
pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
pub const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
pub const ECDSA_WITH_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
pub const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
pub const ECDSA_WITH_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");

// CMS (RFC 5652).
pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
pub const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");

// Certificate extensions (RFC 5280).
pub const SUBJECT_KEY_ID: Oid = Oid::new_unwrap("2.5.29.14");
pub const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
pub const SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
pub const ISSUER_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.18");
pub const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
pub const CERTIFICATE_POLICIES: Oid = Oid::new_unwrap("2.5.29.32");
pub const AUTHORITY_KEY_ID: Oid = Oid::new_unwrap("2.5.29.35");
pub const EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
pub const CODE_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.3");

/// Name attributes: OpenSSL's short name, long name, OID, the string type
/// OpenSSL gives the value, and OpenSSL's bounds on its length (its
/// ASN1_STRING_TABLE, which follows RFC 5280's upper bounds).
pub struct NameAttr {
    pub short: &'static str,
    pub long: &'static str,
    pub oid: Oid,
    pub kind: StringKind,
    pub min: usize,
    pub max: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringKind {
    Utf8,
    Printable,
    Ia5,
}

const fn attr(
    short: &'static str,
    long: &'static str,
    oid: &str,
    kind: StringKind,
    min: usize,
    max: usize,
) -> NameAttr {
    NameAttr {
        short,
        long,
        oid: Oid::new_unwrap(oid),
        kind,
        min,
        max,
    }
}

/// No bound in OpenSSL's table (ub-name is 32768).
const UB: usize = 32768;

pub static NAME_ATTRS: &[NameAttr] = &[
    attr("CN", "commonName", "2.5.4.3", StringKind::Utf8, 1, 64),
    attr("C", "countryName", "2.5.4.6", StringKind::Printable, 2, 2),
    attr("L", "localityName", "2.5.4.7", StringKind::Utf8, 1, 128),
    attr(
        "ST",
        "stateOrProvinceName",
        "2.5.4.8",
        StringKind::Utf8,
        1,
        128,
    ),
    attr("O", "organizationName", "2.5.4.10", StringKind::Utf8, 1, 64),
    attr(
        "OU",
        "organizationalUnitName",
        "2.5.4.11",
        StringKind::Utf8,
        1,
        64,
    ),
    attr(
        "emailAddress",
        "emailAddress",
        "1.2.840.113549.1.9.1",
        StringKind::Ia5,
        1,
        128,
    ),
    attr(
        "serialNumber",
        "serialNumber",
        "2.5.4.5",
        StringKind::Printable,
        1,
        64,
    ),
    attr(
        "street",
        "streetAddress",
        "2.5.4.9",
        StringKind::Utf8,
        1,
        UB,
    ),
    attr("title", "title", "2.5.4.12", StringKind::Utf8, 1, UB),
    attr(
        "postalCode",
        "postalCode",
        "2.5.4.17",
        StringKind::Utf8,
        1,
        UB,
    ),
    attr("name", "name", "2.5.4.41", StringKind::Utf8, 1, UB),
    attr("SN", "surname", "2.5.4.4", StringKind::Utf8, 1, UB),
    attr("GN", "givenName", "2.5.4.42", StringKind::Utf8, 1, UB),
    attr("initials", "initials", "2.5.4.43", StringKind::Utf8, 1, UB),
    attr(
        "dnQualifier",
        "dnQualifier",
        "2.5.4.46",
        StringKind::Printable,
        1,
        UB,
    ),
    attr(
        "pseudonym",
        "pseudonym",
        "2.5.4.65",
        StringKind::Utf8,
        1,
        UB,
    ),
    attr(
        "DC",
        "domainComponent",
        "0.9.2342.19200300.100.1.25",
        StringKind::Ia5,
        1,
        UB,
    ),
    attr(
        "UID",
        "userId",
        "0.9.2342.19200300.100.1.1",
        StringKind::Utf8,
        1,
        UB,
    ),
    attr(
        "organizationIdentifier",
        "organizationIdentifier",
        "2.5.4.97",
        StringKind::Utf8,
        1,
        UB,
    ),
];

/// The attribute named `key` (short or long name, case-insensitive).
pub fn name_attr_by_key(key: &str) -> Option<&'static NameAttr> {
    NAME_ATTRS
        .iter()
        .find(|a| a.short.eq_ignore_ascii_case(key) || a.long.eq_ignore_ascii_case(key))
}

/// OpenSSL's short name for a name attribute, if it is one wslp knows.
pub fn name_attr_short(oid: &Oid) -> Option<&'static str> {
    NAME_ATTRS.iter().find(|a| a.oid == *oid).map(|a| a.short)
}
