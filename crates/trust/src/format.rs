//! The on-disk layout of a signed plugin: content, signature block, trailer.
//!
//! Modelled on Linux module signing (`~Module signature appended~`): the
//! signature goes after the ELF, where the dynamic loader never looks, so the
//! signed file still loads with `dlopen`. docs/signing.md describes it byte by
//! byte.
//!
//! ```text
//! content (N bytes) | signature block (L bytes, DER) | L: u32 BE | version: u8 = 1 | 0 0 0 | MAGIC (26 bytes)
//! ```
//!
//! Everything here reads untrusted bytes: no panics, no allocation, every
//! length checked against [`MAX_SIGNATURE_LEN`] and the input before use.

use crate::error::TrustError;

/// The last bytes of every signed file.
pub const MAGIC: &[u8; 26] = b"~wslp signature appended~\n";
/// The only trailer format version there is.
pub const FORMAT_VERSION: u8 = 1;
/// Length field (4) + version (1) + reserved (3) + magic.
pub const TRAILER_LEN: usize = 4 + 1 + 3 + MAGIC.len();
/// A signature block larger than this is refused: a certificate chain of a
/// few certificates is a few KiB, and the cap keeps a hostile length field
/// from making anyone read or allocate without bound.
pub const MAX_SIGNATURE_LEN: usize = 1 << 20;

/// Splits a file into (content, Some(signature block)) when it ends with the
/// wslp trailer, or (whole file, None) when it does not.
///
/// A trailer that is present but inconsistent (wrong version, non-zero
/// reserved bytes, a length of zero, over [`MAX_SIGNATURE_LEN`] or longer
/// than the file) is [`TrustError::Malformed`]: it is neither a valid
/// signature nor an unsigned file.
pub fn split_signature(file_bytes: &[u8]) -> Result<(&[u8], Option<&[u8]>), TrustError> {
    if file_bytes.len() < TRAILER_LEN || !file_bytes.ends_with(MAGIC) {
        return Ok((file_bytes, None));
    }
    let trailer = &file_bytes[file_bytes.len() - TRAILER_LEN..];
    let len = u32::from_be_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]) as usize;
    let version = trailer[4];
    if version != FORMAT_VERSION {
        return Err(TrustError::malformed(format!(
            "signature trailer version {version} is not supported (this wslp reads version {FORMAT_VERSION}); \
             sign the file again with this wslp"
        )));
    }
    if trailer[5..8] != [0, 0, 0] {
        return Err(TrustError::malformed(
            "reserved bytes of the signature trailer are not zero",
        ));
    }
    if len == 0 {
        return Err(TrustError::malformed("the signature block is empty"));
    }
    if len > MAX_SIGNATURE_LEN {
        return Err(TrustError::malformed(format!(
            "the signature block claims {len} bytes, more than the limit of {MAX_SIGNATURE_LEN}"
        )));
    }
    let body_len = file_bytes.len() - TRAILER_LEN;
    if len > body_len {
        return Err(TrustError::malformed(format!(
            "the signature block claims {len} bytes but only {body_len} precede the trailer (truncated file?)"
        )));
    }
    let content_len = body_len - len;
    Ok((
        &file_bytes[..content_len],
        Some(&file_bytes[content_len..body_len]),
    ))
}

/// `content || block || trailer`: the bytes of a signed file.
pub fn attach_signature(content: &[u8], block: &[u8]) -> Result<Vec<u8>, TrustError> {
    if block.is_empty() || block.len() > MAX_SIGNATURE_LEN {
        return Err(TrustError::malformed(format!(
            "a signature block of {} bytes cannot be attached (1 to {MAX_SIGNATURE_LEN} bytes)",
            block.len()
        )));
    }
    let mut out = Vec::with_capacity(content.len() + block.len() + TRAILER_LEN);
    out.extend_from_slice(content);
    out.extend_from_slice(block);
    out.extend_from_slice(&(block.len() as u32).to_be_bytes());
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(MAGIC);
    Ok(out)
}

/// DER OID bodies (without tag and length).
const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];

/// Checks the shape of the signature block before anything parses it
/// further: exactly one DER ContentInfo holding a detached SignedData whose
/// only digest algorithm is SHA-256 and which has exactly one SignerInfo,
/// itself using SHA-256.
///
/// CMS allows MD5 or SHA-1 and several signers; a weak digest would open the
/// door to collision attacks on what a trusted key signed, and several
/// signers would make "the signer" ambiguous.
pub fn check_signed_data_shape(block: &[u8]) -> Result<(), TrustError> {
    signed_data_shape(block).map(|_| ())
}

/// The parts of a signature block verification reads, as the exact bytes
/// of the block.
pub(crate) struct Shape<'a> {
    /// Each element of `certificates`, whole (tag and length included).
    pub certificates: Vec<&'a [u8]>,
    /// The one SignerInfo, whole.
    pub signer_info: &'a [u8],
}

/// [`check_signed_data_shape`], returning the parts.
pub(crate) fn signed_data_shape(block: &[u8]) -> Result<Shape<'_>, TrustError> {
    let m = |r: &str| TrustError::malformed(r.to_string());
    let mut top = Der::new(block);
    let content_info = top
        .expect(0x30)
        .ok_or_else(|| m("the signature block is not a DER SEQUENCE"))?;
    if !top.is_empty() {
        return Err(m("bytes follow the signature's DER structure"));
    }
    let mut ci = Der::new(content_info);
    let oid = ci
        .expect(0x06)
        .ok_or_else(|| m("ContentInfo has no contentType"))?;
    if oid != OID_SIGNED_DATA {
        return Err(m("the signature is not a CMS/PKCS#7 SignedData"));
    }
    let explicit = ci
        .expect(0xa0)
        .ok_or_else(|| m("ContentInfo has no content"))?;
    let mut sd = Der::new(
        Der::new(explicit)
            .expect(0x30)
            .ok_or_else(|| m("SignedData is not a SEQUENCE"))?,
    );
    sd.expect(0x02)
        .ok_or_else(|| m("SignedData has no version"))?;
    let digest_algs = sd
        .expect(0x31)
        .ok_or_else(|| m("SignedData has no digestAlgorithms"))?;
    let mut algs = Der::new(digest_algs);
    let mut n = 0;
    while !algs.is_empty() {
        let alg = algs
            .expect(0x30)
            .ok_or_else(|| m("bad digestAlgorithms entry"))?;
        if Der::new(alg).expect(0x06) != Some(OID_SHA256) {
            return Err(m("the signature uses a digest other than SHA-256"));
        }
        n += 1;
    }
    if n != 1 {
        return Err(m(
            "the signature must name exactly one digest algorithm (SHA-256)",
        ));
    }
    let encap = sd
        .expect(0x30)
        .ok_or_else(|| m("SignedData has no encapContentInfo"))?;
    let mut encap = Der::new(encap);
    encap
        .expect(0x06)
        .ok_or_else(|| m("encapContentInfo has no eContentType"))?;
    if !encap.is_empty() {
        return Err(m(
            "the signature embeds content; wslp signatures are detached",
        ));
    }
    // certificates [0] and crls [1] are optional and come before signerInfos.
    let mut signer_infos = None;
    let mut certificates = Vec::new();
    while let Some((tag, body)) = sd.next() {
        match tag {
            0xa0 => {
                let mut certs = Der::new(body);
                while !certs.is_empty() {
                    certificates.push(
                        certs
                            .next_whole()
                            .ok_or_else(|| m("bad element in the certificates of SignedData"))?,
                    );
                }
            }
            0xa1 => {}
            0x31 => {
                signer_infos = Some(body);
                break;
            }
            _ => return Err(m("unexpected element in SignedData")),
        }
    }
    if !sd.is_empty() {
        return Err(m("bytes follow SignedData's signerInfos"));
    }
    let mut infos = Der::new(signer_infos.ok_or_else(|| m("SignedData has no signerInfos"))?);
    let whole_info = infos
        .next_whole()
        .filter(|w| w.first() == Some(&0x30))
        .ok_or_else(|| m("the signature has no signer"))?;
    let info = Der::new(whole_info)
        .expect(0x30)
        .ok_or_else(|| m("the signature has no signer"))?;
    if !infos.is_empty() {
        return Err(m("the signature has more than one signer"));
    }
    let mut si = Der::new(info);
    si.expect(0x02)
        .ok_or_else(|| m("SignerInfo has no version"))?;
    // sid: issuerAndSerialNumber (SEQUENCE) or subjectKeyIdentifier ([0]).
    si.next().ok_or_else(|| m("SignerInfo has no sid"))?;
    let alg = si
        .expect(0x30)
        .ok_or_else(|| m("SignerInfo has no digestAlgorithm"))?;
    if Der::new(alg).expect(0x06) != Some(OID_SHA256) {
        return Err(m("the signer uses a digest other than SHA-256"));
    }
    Ok(Shape {
        certificates,
        signer_info: whole_info,
    })
}

/// The first element inside a DER SEQUENCE, whole: the tbsCertificate of a
/// certificate. None when `der` is not a SEQUENCE holding one.
pub(crate) fn first_element(der: &[u8]) -> Option<&[u8]> {
    Der::new(Der::new(der).expect(0x30)?).next_whole()
}

/// A cursor over consecutive DER TLVs. Definite lengths only (DER forbids
/// the indefinite form); lengths are bounded by the remaining input.
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Der { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element as (tag, contents); None (and the cursor emptied) on
    /// anything malformed.
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let parsed = Self::parse(self.rest);
        match parsed {
            Some((tag, body, rest)) => {
                self.rest = rest;
                Some((tag, body))
            }
            None => {
                self.rest = &[];
                None
            }
        }
    }

    /// The next element with its tag and length.
    fn next_whole(&mut self) -> Option<&'a [u8]> {
        let before = self.rest;
        self.next()?;
        Some(&before[..before.len() - self.rest.len()])
    }

    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.next() {
            Some((t, body)) if t == tag => Some(body),
            _ => None,
        }
    }

    fn parse(input: &'a [u8]) -> Option<(u8, &'a [u8], &'a [u8])> {
        let (&tag, rest) = input.split_first()?;
        // Multi-byte tags never occur in SignedData's outer structure.
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            first as usize
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | b as usize;
            }
            rest = &rest[n..];
            len
        };
        if len > rest.len() {
            return None;
        }
        let (body, rest) = rest.split_at(len);
        Some((tag, body, rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_then_split_round_trips() {
        let signed = attach_signature(b"\x7fELF body", b"SIG").unwrap();
        assert_eq!(signed.len(), 9 + 3 + TRAILER_LEN);
        let (content, block) = split_signature(&signed).unwrap();
        assert_eq!(content, b"\x7fELF body");
        assert_eq!(block, Some(&b"SIG"[..]));
    }

    #[test]
    fn no_magic_is_unsigned() {
        let (content, block) = split_signature(b"plain").unwrap();
        assert_eq!(content, b"plain");
        assert!(block.is_none());
    }

    #[test]
    fn inconsistent_trailers_are_malformed() {
        let good = attach_signature(b"abc", b"SIG").unwrap();
        let body = good.len() - TRAILER_LEN;
        let cases: Vec<(usize, u8)> = vec![
            (body, 0xff),    // length way over the cap
            (body + 3, 200), // length longer than the file
            (body + 4, 2),   // version
            (body + 6, 1),   // reserved
        ];
        for (at, byte) in cases {
            let mut bad = good.clone();
            bad[at] = byte;
            assert!(
                matches!(split_signature(&bad), Err(TrustError::Malformed { .. })),
                "byte {at} = {byte}"
            );
        }
        let mut zero = good.clone();
        zero[body..body + 4].copy_from_slice(&[0, 0, 0, 0]);
        assert!(matches!(
            split_signature(&zero),
            Err(TrustError::Malformed { .. })
        ));
    }

    #[test]
    fn der_lengths_beyond_input_are_rejected() {
        assert!(check_signed_data_shape(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(check_signed_data_shape(&[0x30, 0x80, 0, 0]).is_err());
        assert!(check_signed_data_shape(&[]).is_err());
    }
}
