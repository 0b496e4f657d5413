//! Property tests on the parsers of untrusted bytes: the trailer, the DER
//! shape check and the whole verification path. Random, truncated and
//! mutated inputs never panic, never verify, and never get past the length cap.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use wslp_trust::{
    attach_signature, check_signed_data_shape, sign_bytes, split_signature, verify, CertOptions,
    Signer, TrustError, TrustStore, MAGIC, MAX_SIGNATURE_LEN, TRAILER_LEN,
};

/// One real signed file and its trusted store, shared by all cases.
struct Signed {
    _fx: common::Fixture,
    trust: PathBuf,
    content: Vec<u8>,
    file: Vec<u8>,
    signer: Signer,
}

fn signed() -> &'static Signed {
    static S: OnceLock<Signed> = OnceLock::new();
    S.get_or_init(|| {
        let fx = common::Fixture::new();
        let (key, cert, signer) = fx.cert(
            "prop",
            CertOptions {
                subject: "CN=prop".into(),
                days: 30,
                is_ca: false,
                issuer: None,
                code_signing: true,
            },
        );
        TrustStore::open(&fx.trust_dir()).add(&cert).unwrap();
        let k = wslp_trust::PrivateKey::read_pem_file(&key).unwrap();
        let c = wslp_trust::Certificate::read_pem_file(&cert)
            .unwrap()
            .remove(0);
        let content = b"\x7fELF pretend plugin bytes for the property tests".to_vec();
        let file = attach_signature(&content, &sign_bytes(&content, &k, &c, &[]).unwrap()).unwrap();
        let trust = fx.trust_dir();
        Signed {
            _fx: fx,
            trust,
            content,
            file,
            signer,
        }
    })
}

fn trailer(len: u32, version: u8, reserved: [u8; 3]) -> Vec<u8> {
    let mut t = len.to_be_bytes().to_vec();
    t.push(version);
    t.extend(reserved);
    t.extend(MAGIC);
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn split_never_panics_and_stays_in_bounds(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        if let Ok((content, block)) = split_signature(&bytes) {
            match block {
                None => prop_assert_eq!(content.len(), bytes.len()),
                Some(b) => {
                    prop_assert!(!b.is_empty() && b.len() <= MAX_SIGNATURE_LEN);
                    prop_assert_eq!(content.len() + b.len() + TRAILER_LEN, bytes.len());
                }
            }
        }
    }

    #[test]
    fn any_declared_length_is_checked_before_use(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        len in any::<u32>(),
        version in prop_oneof![Just(1u8), any::<u8>()],
        reserved in prop_oneof![Just([0u8; 3]), any::<[u8; 3]>()],
    ) {
        let mut bytes = body.clone();
        bytes.extend(trailer(len, version, reserved));
        match split_signature(&bytes) {
            Ok((content, Some(block))) => {
                prop_assert_eq!(version, 1);
                prop_assert_eq!(reserved, [0, 0, 0]);
                prop_assert_eq!(block.len(), len as usize);
                prop_assert!(block.len() <= body.len());
                prop_assert_eq!(content.len() + block.len(), body.len());
            }
            Ok((_, None)) => prop_assert!(false, "a trailer with the magic is never 'unsigned'"),
            Err(e) => {
                let malformed = matches!(e, TrustError::Malformed { .. });
                prop_assert!(malformed, "{}", e);
            }
        }
        // And the whole path refuses it without panicking.
        prop_assert!(verify(&bytes, &signed().trust).is_err());
    }

    #[test]
    fn der_shape_check_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = check_signed_data_shape(&bytes);
    }

    #[test]
    fn random_blocks_never_verify(block in proptest::collection::vec(any::<u8>(), 1..2048)) {
        let file = attach_signature(b"content", &block).unwrap();
        prop_assert!(verify(&file, &signed().trust).is_err());
    }

    #[test]
    fn every_truncation_of_a_signed_file_is_refused(cut in 1usize..400) {
        let s = signed();
        let cut = cut.min(s.file.len());
        prop_assert!(verify(&s.file[..s.file.len() - cut], &s.trust).is_err());
        // From the front too: the content changes, the block stays whole.
        prop_assert!(verify(&s.file[cut.min(s.content.len())..], &s.trust).is_err());
    }

    #[test]
    fn mutations_never_verify_as_another_signer_or_other_content(
        at in any::<proptest::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let s = signed();
        let mut bad = s.file.clone();
        let i = at.index(bad.len());
        bad[i] ^= xor;
        if let Ok(who) = verify(&bad, &s.trust) {
            prop_assert!(i >= s.content.len(), "a changed content byte {} verified", i);
            prop_assert_eq!(&who, &s.signer);
            prop_assert_eq!(split_signature(&bad).unwrap().0, &s.content[..]);
        }
    }

    #[test]
    fn der_prefixes_of_a_real_block_never_panic(cut in 0usize..2048) {
        let s = signed();
        let block = split_signature(&s.file).unwrap().1.unwrap();
        let cut = cut.min(block.len());
        let _ = check_signed_data_shape(&block[..cut]);
        let file = attach_signature(&s.content, &block[..cut.max(1)]).unwrap();
        if cut < block.len() {
            prop_assert!(verify(&file, &s.trust).is_err());
        }
    }
}

#[test]
fn the_real_file_verifies() {
    let s = signed();
    assert_eq!(verify(&s.file, &s.trust).unwrap(), s.signer);
}

#[test]
fn an_oversized_block_is_refused_before_reading_it() {
    let mut bytes = vec![0u8; 16];
    bytes.extend(trailer(u32::MAX, 1, [0; 3]));
    assert!(matches!(
        split_signature(&bytes),
        Err(TrustError::Malformed { .. })
    ));
    let mut bytes = vec![0u8; MAX_SIGNATURE_LEN + 1];
    bytes.extend(trailer((MAX_SIGNATURE_LEN + 1) as u32, 1, [0; 3]));
    let err = split_signature(&bytes).unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
    assert!(attach_signature(b"", &vec![0; MAX_SIGNATURE_LEN + 1]).is_err());
}
