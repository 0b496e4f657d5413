//! Property tests on untrusted tarballs: random, truncated and mutated input
//! never panics, never writes outside the destination, and an import that
//! fails registers nothing.

mod common;

use std::io::Cursor;

use common::*;
use proptest::prelude::*;
use wslp_distro::{unpack_tarball, DistroStore, ImportSource};

fn small_tar() -> Vec<u8> {
    let mut t = TarBuilder::new();
    t.dir("./etc/", 0o755, 0)
        .file("./etc/os-release", 0o644, 0, OS_RELEASE.as_bytes())
        .symlink("./etc/link", "os-release")
        .hardlink("./etc/hard", "./etc/os-release")
        .symlink("./up", "..")
        .file("./dir/a", 0o600, 1000, &[7u8; 1500]);
    t.finish()
}

/// Extracts `bytes` into `dest` under a fresh parent and checks that only
/// `dest` exists in that parent afterwards.
fn unpack_confined(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let r = unpack_tarball(Cursor::new(bytes), &dest);
    let after = names(t.path());
    prop_assert_eq!(after, vec!["dest".to_string()]);
    if let Err(e) = r {
        let msg = e.to_string();
        prop_assert!(!msg.is_empty() && !msg.contains('\n'), "{}", msg);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        unpack_confined(bytes)?;
    }

    #[test]
    fn random_bytes_behind_a_valid_magic_never_panic(
        magic in prop_oneof![
            Just(vec![0x1fu8, 0x8b]),
            Just(b"\xfd7zXZ\0".to_vec()),
            Just(vec![0x28u8, 0xb5, 0x2f, 0xfd]),
        ],
        rest in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut bytes = magic;
        bytes.extend(rest);
        unpack_confined(bytes)?;
    }

    #[test]
    fn mutated_tarballs_never_panic_or_escape(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
    ) {
        let mut bytes = small_tar();
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        unpack_confined(bytes)?;
    }

    #[test]
    fn truncated_imports_fail_cleanly(cut in 0usize..10240, codec in 0usize..4) {
        let codec = CODECS[codec];
        let full = compress(codec, &small_tar());
        let cut = cut.min(full.len());
        let t = tempfile::tempdir().unwrap();
        let s = DistroStore::open(&t.path().join("wslp")).unwrap();
        let dir = t.path().join("d");
        let r = s.import("Cut", &dir, ImportSource::Reader(Box::new(Cursor::new(full[..cut].to_vec()))), false);
        // Plain tar needs only the first end-of-archive block; a compressed
        // stream must be whole, its checksum trailer included.
        let complete = cut == full.len() || (matches!(codec, Codec::Plain) && cut >= full.len() - 512);
        prop_assert_eq!(r.is_ok(), complete, "{:?} cut at {} of {}: {:?}", codec, cut, full.len(), r);
        if complete {
            s.unregister("Cut").unwrap();
        } else {
            prop_assert!(s.list().unwrap().is_empty());
            prop_assert!(!dir.exists());
        }
    }
}
