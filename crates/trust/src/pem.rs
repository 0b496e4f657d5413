//! PEM (RFC 7468) reading and writing, as tolerant as OpenSSL's reader:
//! text around and between blocks is ignored, so are blocks of other kinds
//! (a key next to a certificate, `EC PARAMETERS` before an EC key), and the
//! base64 may be wrapped at any width.

use base64ct::{Base64, Encoding};

/// One `-----BEGIN <label>-----` … `-----END <label>-----` block.
#[derive(Debug)]
pub(crate) struct Block<'a> {
    pub label: &'a str,
    /// The lines between the markers: RFC 1421 headers (`Proc-Type: …`), if
    /// any, then base64.
    body: &'a str,
}

impl Block<'_> {
    /// An RFC 1421 encrypted block (`Proc-Type: 4,ENCRYPTED`).
    pub fn is_encrypted(&self) -> bool {
        self.body
            .lines()
            .any(|l| l.trim_start().starts_with("Proc-Type:") && l.contains("ENCRYPTED"))
    }

    /// The decoded contents; headers are skipped.
    pub fn decode(&self) -> Result<Vec<u8>, String> {
        let b64: String = self
            .body
            .lines()
            .filter(|l| !l.contains(':'))
            .flat_map(|l| l.chars())
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        Base64::decode_vec(&b64)
            .map_err(|_| format!("the {} block is not valid base64", self.label))
    }
}

/// Every complete PEM block in `text`, in order. A BEGIN without its END
/// ends the scan, as it does for OpenSSL.
pub(crate) fn blocks(text: &[u8]) -> Vec<Block<'_>> {
    // PEM is ASCII; anything else is text around the blocks and stays unread.
    let text = match std::str::from_utf8(text) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&text[..e.valid_up_to()]).unwrap_or(""),
    };
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("-----BEGIN ") {
        let after = &rest[at + "-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = &after[..label_end];
        if label.contains('\n') {
            rest = after;
            continue;
        }
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body_start.find(&end_marker) else {
            break;
        };
        out.push(Block {
            label,
            body: &body_start[..end],
        });
        rest = &body_start[end + end_marker.len()..];
    }
    out
}

/// `-----BEGIN <label>-----`, base64 in lines of 64, `-----END <label>-----`,
/// as OpenSSL writes it.
pub(crate) fn encode(label: &str, der: &[u8]) -> Vec<u8> {
    let b64 = Base64::encode_string(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_noise_around_blocks() {
        let der: Vec<u8> = (0..=255u8).collect();
        let pem = encode("CERTIFICATE", &der);
        let mut text = b"Certificate:\n    Data: ...\n".to_vec();
        text.extend(encode("EC PARAMETERS", b"\x06\x08"));
        text.extend(&pem);
        text.extend(b"trailing words\n-----BEGIN CERTIFICATE-----\nunterminated");
        let found = blocks(&text);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].label, "EC PARAMETERS");
        assert_eq!(found[1].label, "CERTIFICATE");
        assert_eq!(found[1].decode().unwrap(), der);
        assert!(pem.split(|b| *b == b'\n').all(|l| l.len() <= 64));
    }

    #[test]
    fn any_line_width_and_headers() {
        let text = "-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES\n\nAAEC\nAw==\n-----END X-----\n";
        let b = &blocks(text.as_bytes())[0];
        assert!(b.is_encrypted());
        assert_eq!(b.decode().unwrap(), vec![0, 1, 2, 3]);
        assert!(blocks(b"-----BEGIN X-----\n!!\n-----END X-----\n")[0]
            .decode()
            .is_err());
    }
}
