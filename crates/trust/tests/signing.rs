//! Every verification outcome, with real gcc-built plugins, real keys and the
//! real OpenSSL. Runs as root (CI does): the trust store is root-only.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

use common::{dl, mode, now, Fixture};
use wslp_abi::hresult;
use wslp_trust::{
    attach_signature, exit, sign_bytes, sign_file, split_signature, verify, CertOptions,
    Certificate, PrivateKey, TrustError, TrustStore, TRAILER_LEN,
};

fn load_pair(key: &std::path::Path, cert: &std::path::Path) -> (PrivateKey, Certificate) {
    let k = PrivateKey::read_pem_file(key).unwrap();
    let c = Certificate::read_pem_file(cert).unwrap().remove(0);
    (k, c)
}

#[test]
fn signed_plugin_verifies_and_still_dlopens() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 42);
    let original = fs::read(&so).unwrap();
    assert_eq!(dl::call_answer(&so), Some(42));
    fs::set_permissions(&so, std::os::unix::fs::PermissionsExt::from_mode(0o751)).unwrap();
    std::os::unix::fs::chown(&so, Some(1234), Some(5678)).unwrap();

    let (key, cert, made) = fx.self_signed("dev");
    TrustStore::open(&fx.trust_dir()).add(&cert).unwrap();
    let signed_by = sign_file(&so, &key, &cert).unwrap();
    assert_eq!(signed_by, made);

    let bytes = fs::read(&so).unwrap();
    let (content, block) = split_signature(&bytes).unwrap();
    assert_eq!(content, &original[..], "the content is the file as built");
    assert!(block.is_some());
    let signer = verify(&bytes, &fx.trust_dir()).unwrap();
    assert_eq!(signer.subject, "CN=dev, O=wslp tests");
    assert_eq!(signer.fingerprint_sha256, made.fingerprint_sha256);
    assert_eq!(signer.fingerprint_sha256.len(), 64);
    assert!(signer
        .fingerprint_sha256
        .chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));

    assert_eq!(
        dl::call_answer(&so),
        Some(42),
        "a signed plugin still loads"
    );
    let meta = fs::metadata(&so).unwrap();
    assert_eq!(mode(&so), 0o751, "mode kept");
    assert_eq!((meta.uid(), meta.gid()), (1234, 5678), "owner kept");
    let leftovers: Vec<_> = fs::read_dir(fx.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left behind");
}

#[test]
fn resigning_replaces_the_signature() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 7);
    let original = fs::read(&so).unwrap();
    let (k1, c1, _) = fx.self_signed("first");
    let (k2, c2, s2) = fx.self_signed("second");
    TrustStore::open(&fx.trust_dir()).add(&c2).unwrap();

    sign_file(&so, &k1, &c1).unwrap();
    let err = verify(&fs::read(&so).unwrap(), &fx.trust_dir()).unwrap_err();
    assert!(matches!(err, TrustError::Untrusted { .. }), "{err}");

    sign_file(&so, &k2, &c2).unwrap();
    let bytes = fs::read(&so).unwrap();
    let (content, block) = split_signature(&bytes).unwrap();
    assert_eq!(content, &original[..], "one signature, not two stacked");
    assert_eq!(
        bytes.len(),
        original.len() + block.unwrap().len() + TRAILER_LEN
    );
    assert_eq!(verify(&bytes, &fx.trust_dir()).unwrap(), s2);
    assert_eq!(dl::call_answer(&so), Some(7));
}

#[test]
fn signing_through_a_symlink_signs_the_target() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 1);
    let link = fx.path("link.so");
    std::os::unix::fs::symlink(&so, &link).unwrap();
    let (key, cert, _) = fx.self_signed("dev");
    TrustStore::open(&fx.trust_dir()).add(&cert).unwrap();
    sign_file(&link, &key, &cert).unwrap();
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    verify(&fs::read(&so).unwrap(), &fx.trust_dir()).unwrap();
}

#[test]
fn unsigned_plugin_is_no_signature() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 1);
    let (_, cert, _) = fx.self_signed("dev");
    TrustStore::open(&fx.trust_dir()).add(&cert).unwrap();
    let err = verify(&fs::read(&so).unwrap(), &fx.trust_dir()).unwrap_err();
    assert!(matches!(err, TrustError::NoSignature), "{err}");
    assert_eq!(err.hresult(), hresult::TRUST_E_NOSIGNATURE);
    assert_eq!(err.exit_code(), exit::UNSIGNED);
    assert!(
        err.to_string().contains("wslp sign"),
        "tells what to do: {err}"
    );
}

#[test]
fn a_changed_byte_of_the_content_is_bad_digest() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 1);
    let (key, cert, _) = fx.self_signed("dev");
    TrustStore::open(&fx.trust_dir()).add(&cert).unwrap();
    sign_file(&so, &key, &cert).unwrap();
    let bytes = fs::read(&so).unwrap();
    let content_len = split_signature(&bytes).unwrap().0.len();
    for at in [0, 1, 100, content_len / 2, content_len - 1] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x01;
        let err = verify(&bad, &fx.trust_dir()).unwrap_err();
        assert!(matches!(err, TrustError::BadDigest), "byte {at}: {err}");
        assert_eq!(err.hresult(), hresult::TRUST_E_BAD_DIGEST);
        assert_eq!(err.exit_code(), exit::BAD_DIGEST);
    }
    // An untrusted signer does not hide the tampering.
    let err = verify(
        &{
            let mut b = bytes.clone();
            b[10] ^= 0x80;
            b
        },
        &fx.path("empty-store"),
    )
    .unwrap_err();
    assert!(matches!(err, TrustError::BadDigest), "{err}");
}

#[test]
fn a_changed_byte_of_the_signature_never_verifies_as_someone_else() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 1);
    let (key, cert, me) = fx.self_signed("dev");
    TrustStore::open(&fx.trust_dir()).add(&cert).unwrap();
    sign_file(&so, &key, &cert).unwrap();
    let bytes = fs::read(&so).unwrap();
    let content_len = split_signature(&bytes).unwrap().0.len();
    for at in content_len..bytes.len() {
        let mut bad = bytes.clone();
        bad[at] ^= 0x5a;
        // A few bytes of SignedData are not covered by the signature (DER
        // parameters OpenSSL ignores); changing those may still verify, but
        // only ever as the same signer over the same content.
        if let Ok(s) = verify(&bad, &fx.trust_dir()) {
            assert_eq!(s, me, "byte {at}");
        }
    }
}

#[test]
fn truncated_files_are_refused() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 1);
    let (key, cert, _) = fx.self_signed("dev");
    TrustStore::open(&fx.trust_dir()).add(&cert).unwrap();
    sign_file(&so, &key, &cert).unwrap();
    let bytes = fs::read(&so).unwrap();
    // Cut inside the trailer: the magic is gone, so the file reads as unsigned.
    for cut in 1..TRAILER_LEN {
        let err = verify(&bytes[..bytes.len() - cut], &fx.trust_dir()).unwrap_err();
        assert!(matches!(err, TrustError::NoSignature), "cut {cut}: {err}");
    }
    // A trailer whose length runs past the start of the file.
    let tiny = attach_signature(b"", &[0x30; 64]).unwrap();
    let err = verify(&tiny[64..], &fx.trust_dir()).unwrap_err();
    assert!(matches!(err, TrustError::Malformed { .. }), "{err}");
    assert_eq!(err.exit_code(), exit::MALFORMED);
    // Bytes cut from the middle of the signature block, trailer intact.
    let block_start = split_signature(&bytes).unwrap().0.len();
    let mut cut = bytes[..block_start + 10].to_vec();
    cut.extend_from_slice(&bytes[block_start + 20..]);
    assert!(verify(&cut, &fx.trust_dir()).is_err());
}

#[test]
fn untrusted_signer_is_no_signature_at_load() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 1);
    let (key, cert, me) = fx.self_signed("stranger");
    let (_, other, _) = fx.self_signed("trusted");
    sign_file(&so, &key, &cert).unwrap();
    let bytes = fs::read(&so).unwrap();

    // Missing store.
    let err = verify(&bytes, &fx.trust_dir()).unwrap_err();
    assert!(matches!(err, TrustError::Untrusted { .. }), "{err}");
    // A store with someone else.
    TrustStore::open(&fx.trust_dir()).add(&other).unwrap();
    let err = verify(&bytes, &fx.trust_dir()).unwrap_err();
    match &err {
        TrustError::Untrusted {
            subject,
            fingerprint,
            ..
        } => {
            assert_eq!(subject, "CN=stranger, O=wslp tests");
            assert_eq!(fingerprint, &me.fingerprint_sha256);
        }
        e => panic!("expected Untrusted, got {e}"),
    }
    // SPEC §3: untrusted is TRUST_E_NOSIGNATURE, not CERT_E_UNTRUSTEDROOT.
    assert_eq!(err.hresult(), hresult::TRUST_E_NOSIGNATURE);
    assert_eq!(err.exit_code(), exit::UNTRUSTED);
    assert!(err.to_string().contains("wslp trust add"), "{err}");
}

#[test]
fn expired_certificate_is_refused_to_sign_and_to_verify() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 1);
    let opts = CertOptions {
        subject: "CN=old".into(),
        days: 1,
        is_ca: false,
        issuer: None,
        code_signing: true,
    };
    let (key, cert, _) = fx.cert_between("old", opts, now() - 30 * 86_400, now() - 86_400);
    TrustStore::open(&fx.trust_dir()).add(&cert).unwrap();

    let err = sign_file(&so, &key, &cert).unwrap_err();
    assert!(matches!(err, TrustError::Expired { .. }), "{err}");
    assert!(
        split_signature(&fs::read(&so).unwrap())
            .unwrap()
            .1
            .is_none(),
        "file untouched"
    );

    // Signed while it was valid, as far as the bytes can tell.
    let (k, c) = load_pair(&key, &cert);
    let content = fs::read(&so).unwrap();
    let signed = attach_signature(&content, &sign_bytes(&content, &k, &c, &[]).unwrap()).unwrap();
    let err = verify(&signed, &fx.trust_dir()).unwrap_err();
    assert!(matches!(err, TrustError::Expired { .. }), "{err}");
    assert_eq!(err.hresult(), hresult::CERT_E_EXPIRED);
    assert_eq!(err.exit_code(), exit::EXPIRED);
}

#[test]
fn not_yet_valid_certificate_is_expired_too() {
    let fx = Fixture::new();
    let opts = CertOptions {
        subject: "CN=future".into(),
        days: 1,
        is_ca: false,
        issuer: None,
        code_signing: true,
    };
    let (key, cert, _) = fx.cert_between("future", opts, now() + 86_400, now() + 10 * 86_400);
    TrustStore::open(&fx.trust_dir()).add(&cert).unwrap();
    let (k, c) = load_pair(&key, &cert);
    let signed =
        attach_signature(b"content", &sign_bytes(b"content", &k, &c, &[]).unwrap()).unwrap();
    let err = verify(&signed, &fx.trust_dir()).unwrap_err();
    assert!(matches!(err, TrustError::Expired { .. }), "{err}");
}

#[test]
fn certificate_without_code_signing_eku_is_wrong_usage() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 1);
    let (key, cert, _) = fx.cert(
        "tls",
        CertOptions {
            subject: "CN=not for code".into(),
            days: 30,
            is_ca: false,
            issuer: None,
            code_signing: false,
        },
    );
    TrustStore::open(&fx.trust_dir()).add(&cert).unwrap();
    let err = sign_file(&so, &key, &cert).unwrap_err();
    assert!(matches!(err, TrustError::WrongUsage { .. }), "{err}");
    assert!(err.to_string().contains("1.3.6.1.5.5.7.3.3"), "{err}");

    let (k, c) = load_pair(&key, &cert);
    let content = fs::read(&so).unwrap();
    let signed = attach_signature(&content, &sign_bytes(&content, &k, &c, &[]).unwrap()).unwrap();
    let err = verify(&signed, &fx.trust_dir()).unwrap_err();
    assert!(matches!(err, TrustError::WrongUsage { .. }), "{err}");
    assert_eq!(err.hresult(), hresult::CERT_E_WRONG_USAGE);
    assert_eq!(err.exit_code(), exit::WRONG_USAGE);
}

#[test]
fn key_that_is_not_the_certificates_is_refused() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 1);
    let before = fs::read(&so).unwrap();
    let (_, cert, _) = fx.self_signed("a");
    let (other_key, _, _) = fx.self_signed("b");
    let err = sign_file(&so, &other_key, &cert).unwrap_err();
    assert!(matches!(err, TrustError::KeyMismatch { .. }), "{err}");
    assert_eq!(err.exit_code(), exit::KEY_MISMATCH);
    assert_eq!(fs::read(&so).unwrap(), before);
}

#[test]
fn leaf_issued_by_a_trusted_ca_is_trusted() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 3);
    let (ca_key, ca_cert, _) = fx.cert(
        "ca",
        CertOptions {
            subject: "CN=wslp test CA".into(),
            days: 365,
            is_ca: true,
            issuer: None,
            code_signing: false,
        },
    );
    let (key, cert, leaf) = fx.cert(
        "leaf",
        CertOptions {
            subject: "CN=leaf".into(),
            days: 30,
            is_ca: false,
            issuer: Some((ca_key.clone(), ca_cert.clone())),
            code_signing: true,
        },
    );
    sign_file(&so, &key, &cert).unwrap();
    let bytes = fs::read(&so).unwrap();

    let err = verify(&bytes, &fx.trust_dir()).unwrap_err();
    assert!(
        matches!(err, TrustError::Untrusted { .. }),
        "CA not trusted yet: {err}"
    );

    let store = TrustStore::open(&fx.trust_dir());
    let ca = store.add(&ca_cert).unwrap();
    assert_eq!(verify(&bytes, &fx.trust_dir()).unwrap(), leaf);
    assert_eq!(dl::call_answer(&so), Some(3));

    // Another CA's leaf with the same subject is not.
    let (other_ca_key, other_ca_cert, _) = fx.cert(
        "other-ca",
        CertOptions {
            subject: "CN=wslp test CA".into(),
            days: 365,
            is_ca: true,
            issuer: None,
            code_signing: false,
        },
    );
    let (k2, c2, _) = fx.cert(
        "leaf2",
        CertOptions {
            subject: "CN=leaf".into(),
            days: 30,
            is_ca: false,
            issuer: Some((other_ca_key, other_ca_cert)),
            code_signing: true,
        },
    );
    sign_file(&so, &k2, &c2).unwrap();
    let err = verify(&fs::read(&so).unwrap(), &fx.trust_dir()).unwrap_err();
    assert!(matches!(err, TrustError::Untrusted { .. }), "{err}");

    // Removing the CA untrusts its leaves.
    sign_file(&so, &key, &cert).unwrap();
    store.remove(&ca.fingerprint_sha256).unwrap();
    let err = verify(&fs::read(&so).unwrap(), &fx.trust_dir()).unwrap_err();
    assert!(matches!(err, TrustError::Untrusted { .. }), "{err}");
}

#[test]
fn a_leaf_cannot_issue_certificates() {
    let fx = Fixture::new();
    let (leaf_key, leaf_cert, _) = fx.self_signed("leaf");
    let opts = CertOptions {
        subject: "CN=child".into(),
        days: 30,
        is_ca: false,
        issuer: Some((leaf_key, leaf_cert)),
        code_signing: true,
    };
    let err = wslp_trust::new_certificate(&opts, &fx.path("c.key"), &fx.path("c.pem")).unwrap_err();
    assert!(err.to_string().contains("wslp cert new --ca"), "{err}");
}

#[test]
fn trust_store_add_list_remove() {
    let fx = Fixture::new();
    let (_, a, sa) = fx.self_signed("alpha");
    let (_, b, sb) = fx.self_signed("beta");
    let store = TrustStore::open(&fx.trust_dir());
    assert!(store.list().unwrap().is_empty(), "a missing store is empty");
    store.add(&a).unwrap();
    store.add(&b).unwrap();
    store.add(&a).unwrap();
    assert_eq!(store.list().unwrap(), vec![sa.clone(), sb.clone()]);

    assert_eq!(mode(&fx.trust_dir()), 0o755);
    let file = fx
        .trust_dir()
        .join(format!("{}.pem", sa.fingerprint_sha256));
    assert_eq!(mode(&file), 0o644);
    assert_eq!(fs::metadata(&file).unwrap().uid(), 0);
    assert_eq!(fs::metadata(&file).unwrap().gid(), 0);
    assert_eq!(fs::metadata(fx.trust_dir()).unwrap().uid(), 0);

    // Colons and upper case, as `openssl x509 -fingerprint` prints it.
    let colons: String = sa
        .fingerprint_sha256
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    store.remove(&colons).unwrap();
    assert_eq!(store.list().unwrap(), vec![sb.clone()]);
    let err = store.remove(&sa.fingerprint_sha256).unwrap_err();
    assert!(matches!(err, TrustError::NotFound { .. }), "{err}");
    assert_eq!(err.exit_code(), exit::NOT_FOUND);
    let err = store.remove("abc").unwrap_err();
    assert!(err.to_string().contains("64 hex digits"), "{err}");
}

/// A plugin signed by a self-signed certificate the store trusts: its bytes
/// (which verify) and the signer.
fn trusted_plugin(fx: &Fixture) -> (Vec<u8>, wslp_trust::Signer) {
    let so = fx.build_so("plugin", 1);
    let (key, cert, s) = fx.self_signed("dev");
    TrustStore::open(&fx.trust_dir()).add(&cert).unwrap();
    sign_file(&so, &key, &cert).unwrap();
    let bytes = fs::read(&so).unwrap();
    verify(&bytes, &fx.trust_dir()).unwrap();
    (bytes, s)
}

#[test]
fn world_writable_store_files_vouch_for_nothing() {
    let fx = Fixture::new();
    let (bytes, s) = trusted_plugin(&fx);
    let file = fx.trust_dir().join(format!("{}.pem", s.fingerprint_sha256));
    fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let err = verify(&bytes, &fx.trust_dir()).unwrap_err();
    assert!(matches!(err, TrustError::Untrusted { .. }), "{err}");
}

/// Issue 14 item 6: the store is read through descriptors, never through a
/// symlink: a symlinked store directory is refused, a symlinked certificate
/// file is skipped, though each points at a certificate that verifies.
#[test]
fn symlinks_in_the_trust_store_are_never_followed() {
    let fx = Fixture::new();
    let (bytes, s) = trusted_plugin(&fx);

    // The whole directory behind a symlink.
    let link = fx.trust_dir().with_file_name("trust-link");
    std::os::unix::fs::symlink(fx.trust_dir(), &link).unwrap();
    let err = verify(&bytes, &link).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");

    // One certificate file behind a symlink.
    let file = fx.trust_dir().join(format!("{}.pem", s.fingerprint_sha256));
    let real = fx.trust_dir().with_file_name("real.pem");
    fs::rename(&file, &real).unwrap();
    std::os::unix::fs::symlink(&real, &file).unwrap();
    let err = verify(&bytes, &fx.trust_dir()).unwrap_err();
    assert!(matches!(err, TrustError::Untrusted { .. }), "{err}");
}

/// The openssl(1) recipe of docs/signing.md makes signatures wslp accepts,
/// here with an RSA-3072 key: the format is plain CMS, not a private one.
#[test]
fn openssl_cli_recipe_from_the_docs_verifies() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 5);
    let key = fx.path("rsa.key");
    let cert = fx.path("rsa.pem");
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:3072",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=rsa signer",
        ])
        .args([
            "-addext",
            "extendedKeyUsage=codeSigning",
            "-addext",
            "keyUsage=critical,digitalSignature",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    // The recipe is read from the docs so the two cannot drift apart.
    let docs = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/signing.md"
    ))
    .unwrap();
    let section = &docs[docs
        .find("### Making a signature without wslp")
        .expect("recipe section")..];
    let start = section.find("```sh\n").expect("sh block") + "```sh\n".len();
    let script = &section[start..start + section[start..].find("```").unwrap()];
    fs::copy(&so, fx.path("plugin.so")).unwrap();
    fs::copy(&cert, fx.path("cert.pem")).unwrap();
    fs::copy(&key, fx.path("key.pem")).unwrap();
    let st = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(fx.dir.path())
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let signed = fs::read(fx.path("plugin.signed.so")).unwrap();

    TrustStore::open(&fx.trust_dir()).add(&cert).unwrap();
    let s = verify(&signed, &fx.trust_dir()).unwrap();
    assert_eq!(s.subject, "CN=rsa signer");

    // And wslp sign takes the same RSA key.
    sign_file(&so, &key, &cert).unwrap();
    verify(&fs::read(&so).unwrap(), &fx.trust_dir()).unwrap();
}

#[test]
fn signatures_use_sha256_and_carry_the_signer_certificate() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 1);
    let (key, cert, _) = fx.self_signed("dev");
    sign_file(&so, &key, &cert).unwrap();
    let bytes = fs::read(&so).unwrap();
    let block = split_signature(&bytes).unwrap().1.unwrap().to_vec();
    let der = fx.path("block.der");
    fs::write(&der, &block).unwrap();
    let out = Command::new("openssl")
        .args(["cms", "-cmsout", "-print", "-inform", "DER", "-in"])
        .arg(&der)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("algorithm: sha256"), "{text}");
    assert!(text.contains("eContent: <ABSENT>"), "detached: {text}");
    assert!(text.contains("CN=dev"), "{text}");
}

#[test]
fn new_certificate_makes_a_private_key_and_does_not_overwrite() {
    let fx = Fixture::new();
    let (key, cert, s) = fx.self_signed("dev");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&cert), 0o644);
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Code Signing"), "{text}");
    assert!(text.contains("Digital Signature"), "{text}");
    assert!(text.contains("prime256v1"), "{text}");
    assert!(s.not_after.ends_with("GMT"));

    let opts = CertOptions {
        subject: "CN=again".into(),
        days: 1,
        is_ca: false,
        issuer: None,
        code_signing: true,
    };
    let err = wslp_trust::new_certificate(&opts, &key, &fx.path("new.pem")).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let bad = CertOptions {
        subject: "no equals sign".into(),
        ..opts.clone()
    };
    assert!(wslp_trust::new_certificate(&bad, &fx.path("x.key"), &fx.path("x.pem")).is_err());
    let zero = CertOptions { days: 0, ..opts };
    assert!(wslp_trust::new_certificate(&zero, &fx.path("y.key"), &fx.path("y.pem")).is_err());
}

/// Run as nobody by `trust_store_changes_need_root`.
#[test]
#[ignore = "child process of trust_store_changes_need_root"]
fn child_trust_store_change_as_non_root() {
    let (Ok(dir), Ok(cert)) = (
        std::env::var("WSLP_TRUST_TEST_DIR"),
        std::env::var("WSLP_TRUST_TEST_CERT"),
    ) else {
        return;
    };
    let store = TrustStore::open(std::path::Path::new(&dir));
    let err = store.add(std::path::Path::new(&cert)).unwrap_err();
    assert!(matches!(err, TrustError::NotRoot { .. }), "{err}");
    assert!(err.to_string().contains("needs root"));
    let err = store.remove(&"0".repeat(64)).unwrap_err();
    assert!(matches!(err, TrustError::NotRoot { .. }), "{err}");
    println!("CHILD-CHECKED");
}

#[test]
fn trust_store_changes_need_root() {
    use std::os::unix::process::CommandExt;
    let fx = Fixture::new();
    fs::set_permissions(
        fx.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let (_, cert, _) = fx.self_signed("dev");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_trust_store_change_as_non_root",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WSLP_TRUST_TEST_DIR", fx.trust_dir())
        .env("WSLP_TRUST_TEST_CERT", &cert)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("CHILD-CHECKED"), "{stdout}");
    assert!(!fx.trust_dir().exists(), "nothing created");
}

#[test]
fn intermediates_travel_in_the_signature() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 9);
    let ca = |name: &str, issuer: Option<(std::path::PathBuf, std::path::PathBuf)>| {
        fx.cert(
            name,
            CertOptions {
                subject: format!("CN={name}"),
                days: 365,
                is_ca: true,
                issuer,
                code_signing: false,
            },
        )
    };
    let (root_key, root_cert, _) = ca("root", None);
    let (int_key, int_cert, _) = ca("intermediate", Some((root_key, root_cert.clone())));
    let (key, leaf_cert, leaf) = fx.cert(
        "leaf",
        CertOptions {
            subject: "CN=leaf".into(),
            days: 30,
            is_ca: false,
            issuer: Some((int_key, int_cert.clone())),
            code_signing: true,
        },
    );
    TrustStore::open(&fx.trust_dir()).add(&root_cert).unwrap();

    // Only the leaf: the path to the root is missing.
    sign_file(&so, &key, &leaf_cert).unwrap();
    let err = verify(&fs::read(&so).unwrap(), &fx.trust_dir()).unwrap_err();
    assert!(matches!(err, TrustError::Untrusted { .. }), "{err}");

    // Leaf and intermediate in the --cert file: both go into the signature.
    let bundle = fx.path("bundle.pem");
    let mut pem = fs::read(&leaf_cert).unwrap();
    pem.extend(fs::read(&int_cert).unwrap());
    fs::write(&bundle, pem).unwrap();
    sign_file(&so, &key, &bundle).unwrap();
    assert_eq!(
        verify(&fs::read(&so).unwrap(), &fx.trust_dir()).unwrap(),
        leaf
    );
}

#[test]
fn an_expired_ca_expires_its_leaves() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 9);
    let (ca_key, ca_cert, _) = fx.cert_between(
        "old-ca",
        CertOptions {
            subject: "CN=old CA".into(),
            days: 1,
            is_ca: true,
            issuer: None,
            code_signing: false,
        },
        now() - 400 * 86_400,
        now() - 86_400,
    );
    let (key, cert, _) = fx.cert(
        "leaf",
        CertOptions {
            subject: "CN=leaf".into(),
            days: 30,
            is_ca: false,
            issuer: Some((ca_key, ca_cert.clone())),
            code_signing: true,
        },
    );
    TrustStore::open(&fx.trust_dir()).add(&ca_cert).unwrap();
    sign_file(&so, &key, &cert).unwrap();
    let err = verify(&fs::read(&so).unwrap(), &fx.trust_dir()).unwrap_err();
    match &err {
        TrustError::Expired { subject, .. } => assert_eq!(subject, "CN=old CA"),
        e => panic!("expected Expired, got {e}"),
    }
}
