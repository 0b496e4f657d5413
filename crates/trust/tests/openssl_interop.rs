//! wslp and the openssl(1) tool read each other's signatures, keys and
//! certificates: what the OpenSSL-based wslp made still verifies, what
//! `openssl cms -sign` makes verifies for every key type that worked before
//! (ECDSA P-256 and P-384, RSA 2048 to 4096, PKCS#8 and traditional key
//! files), and what wslp signs passes `openssl cms -verify`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Fixture;
use wslp_trust::{
    attach_signature, new_certificate, sign_file, split_signature, verify, CertOptions, Signer,
    TrustError, TrustStore,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/openssl-era")
        .join(name)
}

/// Runs openssl(1) and returns its stdout; panics with its stderr on failure.
fn openssl(args: &[&str], dir: &Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What openssl says of a certificate, in the form of wslp's [`Signer`].
fn openssl_signer(cert: &Path, dir: &Path) -> Signer {
    let cert = cert.to_str().unwrap();
    let subject = openssl(
        &[
            "x509",
            "-noout",
            "-subject",
            "-nameopt",
            "sep_comma_plus_space",
            "-in",
            cert,
        ],
        dir,
    );
    let fp = openssl(
        &["x509", "-noout", "-fingerprint", "-sha256", "-in", cert],
        dir,
    );
    let end = openssl(&["x509", "-noout", "-enddate", "-in", cert], dir);
    Signer {
        subject: subject
            .trim()
            .trim_start_matches("subject=")
            .replace(" = ", "=")
            .to_string(),
        fingerprint_sha256: fp
            .trim()
            .rsplit('=')
            .next()
            .unwrap()
            .replace(':', "")
            .to_lowercase(),
        not_after: end.trim().trim_start_matches("notAfter=").to_string(),
    }
}

#[test]
fn signatures_made_by_the_openssl_era_wslp_still_verify() {
    let fx = Fixture::new();
    let store = TrustStore::open(&fx.trust_dir());
    store.add(&data("ca.pem")).unwrap();
    let by_leaf = fs::read(data("by-leaf.bin")).unwrap();
    let signer = verify(&by_leaf, &fx.trust_dir()).unwrap();
    assert_eq!(
        signer,
        Signer {
            subject: "CN=wslp 0.1 leaf, O=wslp tests, OU=openssl era".into(),
            fingerprint_sha256: "102d31a794375ad8aa857ace85300e1c3b1e2e69acaa20869ce09e51a6ff2391"
                .into(),
            not_after: "Nov  9 08:38:16 2126 GMT".into(),
        }
    );
    assert_eq!(signer, openssl_signer(&data("leaf.pem"), fx.dir.path()));
    assert_eq!(
        split_signature(&by_leaf).unwrap().0,
        &fs::read(data("content.bin")).unwrap()[..]
    );

    // The self-signed one is not vouched for by the CA, only by itself.
    let by_self = fs::read(data("by-self.bin")).unwrap();
    let err = verify(&by_self, &fx.trust_dir()).unwrap_err();
    assert!(matches!(err, TrustError::Untrusted { .. }), "{err}");
    store.add(&data("self.pem")).unwrap();
    let signer = verify(&by_self, &fx.trust_dir()).unwrap();
    assert_eq!(
        signer.fingerprint_sha256,
        "6433de35590654c28bd16b29485bdc6338c2b9f6e0f0fba2b5dfa0b4654216ec"
    );
    assert_eq!(signer.subject, "CN=wslp 0.1 self-signed, O=wslp tests");

    // The store file is the certificate as it was given: same fingerprint,
    // same name, readable by openssl.
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 2);
    for s in &listed {
        let file = fx.trust_dir().join(format!("{}.pem", s.fingerprint_sha256));
        assert_eq!(&openssl_signer(&file, fx.dir.path()), s);
    }
}

#[test]
fn a_ca_made_by_the_openssl_era_wslp_still_issues() {
    let fx = Fixture::new();
    let (key, cert) = (fx.path("new.key"), fx.path("new.pem"));
    let made = new_certificate(
        &CertOptions {
            subject: "CN=issued by an old CA, O=wslp tests".into(),
            days: 30,
            is_ca: false,
            issuer: Some((data("ca.key"), data("ca.pem"))),
            code_signing: true,
        },
        &key,
        &cert,
    )
    .unwrap();
    // OpenSSL agrees it chains (authority key identifier = the CA's SHA-1
    // subject key identifier, name, signature).
    openssl(
        &[
            "verify",
            "-CAfile",
            data("ca.pem").to_str().unwrap(),
            "-purpose",
            "any",
            cert.to_str().unwrap(),
        ],
        fx.dir.path(),
    );
    let so = fx.build_so("plugin", 4);
    sign_file(&so, &key, &cert).unwrap();
    TrustStore::open(&fx.trust_dir())
        .add(&data("ca.pem"))
        .unwrap();
    assert_eq!(
        verify(&fs::read(&so).unwrap(), &fx.trust_dir()).unwrap(),
        made
    );
    assert_eq!(made, openssl_signer(&cert, fx.dir.path()));
}

/// `openssl req` arguments for a new self-signed code-signing certificate.
fn new_key_args(spec: &str) -> Vec<&str> {
    match spec {
        "ec-p256" => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "ec-p384" => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "rsa-2048" => vec!["-newkey", "rsa:2048"],
        "rsa-4096" => vec!["-newkey", "rsa:4096"],
        other => panic!("{other}"),
    }
}

#[test]
fn openssl_cms_signatures_verify_for_every_key_type() {
    for spec in ["ec-p256", "ec-p384", "rsa-2048", "rsa-4096"] {
        let fx = Fixture::new();
        let dir = fx.dir.path();
        let so = fx.build_so("plugin", 6);
        let mut req = vec!["req", "-x509", "-nodes", "-days", "30"];
        req.extend(new_key_args(spec));
        let subj = format!("/CN={spec} signer/O=wslp tests");
        req.extend([
            "-subj",
            &subj,
            "-addext",
            "extendedKeyUsage=codeSigning",
            "-addext",
            "keyUsage=critical,digitalSignature",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ]);
        openssl(&req, dir);
        let expected = openssl_signer(&fx.path("cert.pem"), dir);
        assert_eq!(expected.subject, format!("CN={spec} signer, O=wslp tests"));
        TrustStore::open(&fx.trust_dir())
            .add(&fx.path("cert.pem"))
            .unwrap();

        // With signed attributes (the recipe), and without (-noattr), which
        // OpenSSL also verified.
        for extra in [&[][..], &["-noattr"][..]] {
            let mut sign = vec![
                "cms",
                "-sign",
                "-binary",
                "-md",
                "sha256",
                "-nosmimecap",
                "-outform",
                "DER",
                "-in",
            ];
            sign.push(so.to_str().unwrap());
            sign.extend([
                "-signer", "cert.pem", "-inkey", "key.pem", "-out", "sig.der",
            ]);
            sign.extend(extra);
            openssl(&sign, dir);
            let content = fs::read(&so).unwrap();
            let signed =
                attach_signature(&content, &fs::read(fx.path("sig.der")).unwrap()).unwrap();
            let got = verify(&signed, &fx.trust_dir())
                .unwrap_or_else(|e| panic!("{spec} {extra:?}: {e}"));
            assert_eq!(got, expected, "{spec} {extra:?}");
            let mut tampered = signed.clone();
            tampered[64] ^= 1;
            assert!(
                matches!(
                    verify(&tampered, &fx.trust_dir()),
                    Err(TrustError::BadDigest)
                ),
                "{spec} {extra:?}"
            );
        }

        // wslp signs with the key file openssl wrote (PKCS#8), and with the
        // traditional form (`RSA PRIVATE KEY`, `EC PRIVATE KEY`).
        openssl(
            &["pkey", "-in", "key.pem", "-traditional", "-out", "trad.pem"],
            dir,
        );
        let trad = fs::read_to_string(fx.path("trad.pem")).unwrap();
        assert!(
            trad.starts_with("-----BEGIN RSA PRIVATE KEY-----")
                || trad.starts_with("-----BEGIN EC PRIVATE KEY-----"),
            "{trad}"
        );
        for key in ["key.pem", "trad.pem"] {
            let copy = fx.path(&format!("{key}.so"));
            fs::copy(&so, &copy).unwrap();
            assert_eq!(
                sign_file(&copy, &fx.path(key), &fx.path("cert.pem")).unwrap(),
                expected
            );
            assert_eq!(
                verify(&fs::read(&copy).unwrap(), &fx.trust_dir()).unwrap(),
                expected
            );
            openssl_cms_verify(&copy, &fx.path("cert.pem"), dir).expect("openssl accepts it");
        }
    }
}

/// `openssl cms -verify` of a signed file's block over its content, with
/// `anchor` as the only trusted certificate.
fn openssl_cms_verify(signed: &Path, anchor: &Path, dir: &Path) -> Result<(), String> {
    let bytes = fs::read(signed).unwrap();
    let (content, block) = split_signature(&bytes).unwrap();
    let name = signed.file_name().unwrap().to_string_lossy();
    let (c, b) = (
        dir.join(format!("{name}.content")),
        dir.join(format!("{name}.p7")),
    );
    fs::write(&c, content).unwrap();
    fs::write(&b, block.unwrap()).unwrap();
    let out = Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any",
        ])
        .arg("-in")
        .arg(&b)
        .arg("-content")
        .arg(&c)
        .arg("-CAfile")
        .arg(anchor)
        .args(["-out", "/dev/null"])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn wslp_signatures_verify_with_openssl_cms() {
    let fx = Fixture::new();
    let so = fx.build_so("plugin", 8);

    // Self-signed.
    let (key, cert, _) = fx.self_signed("dev");
    let self_signed = fx.path("self.so");
    fs::copy(&so, &self_signed).unwrap();
    sign_file(&self_signed, &key, &cert).unwrap();
    openssl_cms_verify(&self_signed, &cert, fx.dir.path()).unwrap();

    // Root → intermediate → leaf, the intermediate carried in the signature.
    let ca = |name: &str, issuer: Option<(PathBuf, PathBuf)>| {
        fx.cert(
            name,
            CertOptions {
                subject: format!("CN={name}, O=wslp tests"),
                days: 365,
                is_ca: true,
                issuer,
                code_signing: false,
            },
        )
    };
    let (root_key, root, _) = ca("root", None);
    let (int_key, int, _) = ca("intermediate", Some((root_key, root.clone())));
    let (leaf_key, leaf, _) = fx.cert(
        "leaf",
        CertOptions {
            subject: "CN=leaf, OU=builds, O=wslp tests".into(),
            days: 30,
            is_ca: false,
            issuer: Some((int_key, int.clone())),
            code_signing: true,
        },
    );
    let bundle = fx.path("bundle.pem");
    fs::write(
        &bundle,
        [fs::read(&leaf).unwrap(), fs::read(&int).unwrap()].concat(),
    )
    .unwrap();
    let chained = fx.path("chained.so");
    fs::copy(&so, &chained).unwrap();
    sign_file(&chained, &leaf_key, &bundle).unwrap();
    openssl_cms_verify(&chained, &root, fx.dir.path()).unwrap();
    // And openssl is not merely accepting anything: another root fails.
    let err = openssl_cms_verify(&chained, &cert, fx.dir.path()).unwrap_err();
    assert!(err.contains("Verification failure"), "{err}");
    // A changed byte fails there as here.
    let mut bytes = fs::read(&chained).unwrap();
    bytes[100] ^= 1;
    fs::write(&chained, &bytes).unwrap();
    assert!(openssl_cms_verify(&chained, &root, fx.dir.path()).is_err());
}

#[test]
fn a_chain_made_with_openssl_verifies() {
    let fx = Fixture::new();
    let dir = fx.dir.path();
    openssl(
        &[
            "req",
            "-x509",
            "-nodes",
            "-days",
            "30",
            "-newkey",
            "rsa:2048",
            "-subj",
            "/CN=openssl root/O=elsewhere",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
        ],
        dir,
    );
    openssl(
        &[
            "req",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-subj",
            "/CN=openssl leaf",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
        ],
        dir,
    );
    fs::write(
        fx.path("ext.cnf"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\n\
         authorityKeyIdentifier=keyid\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-days",
            "10",
            "-sha384",
            "-extfile",
            "ext.cnf",
            "-out",
            "leaf.pem",
        ],
        dir,
    );
    let so = fx.build_so("plugin", 2);
    openssl(
        &[
            "cms",
            "-sign",
            "-binary",
            "-md",
            "sha256",
            "-nosmimecap",
            "-outform",
            "DER",
            "-in",
            so.to_str().unwrap(),
            "-signer",
            "leaf.pem",
            "-inkey",
            "leaf.key",
            "-out",
            "sig.der",
        ],
        dir,
    );
    let signed = attach_signature(
        &fs::read(&so).unwrap(),
        &fs::read(fx.path("sig.der")).unwrap(),
    )
    .unwrap();
    let err = verify(&signed, &fx.trust_dir()).unwrap_err();
    assert!(matches!(err, TrustError::Untrusted { .. }), "{err}");
    TrustStore::open(&fx.trust_dir())
        .add(&fx.path("root.pem"))
        .unwrap();
    assert_eq!(
        verify(&signed, &fx.trust_dir()).unwrap(),
        openssl_signer(&fx.path("leaf.pem"), dir)
    );
}

/// Makes `<name>.key` (P-256) and `<name>.pem` with the extensions in
/// `exts` (openssl x509v3_config lines), self-signed or issued by `issuer`.
fn openssl_cert(dir: &Path, name: &str, issuer: Option<&str>, exts: &str) {
    openssl(
        &[
            "req",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
        dir,
    );
    fs::write(
        dir.join(format!("{name}.ext")),
        format!("subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n{exts}\n"),
    )
    .unwrap();
    let (ext, csr, out) = (
        format!("{name}.ext"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    let mut args = vec![
        "x509", "-req", "-days", "10", "-extfile", &ext, "-in", &csr, "-out", &out,
    ];
    let (ca, ca_key, self_key);
    match issuer {
        Some(i) => {
            (ca, ca_key) = (format!("{i}.pem"), format!("{i}.key"));
            args.extend(["-CA", &ca, "-CAkey", &ca_key, "-CAcreateserial"]);
        }
        None => {
            self_key = format!("{name}.key");
            args.extend(["-signkey", &self_key]);
        }
    }
    openssl(&args, dir);
}

/// The chain rules (CA flags, key usage of issuers, path length, critical
/// extensions, any store certificate as an anchor) give the verdict
/// `openssl verify -partial_chain` gives, which is what wslp used before.
#[test]
fn chain_rules_agree_with_openssl_verify() {
    const CA: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign";
    const SIGNER: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning";
    struct Case {
        name: &'static str,
        /// (name, issuer, extensions), issuers first.
        certs: &'static [(&'static str, Option<&'static str>, &'static str)],
        /// Names of certificates in the trust store.
        store: &'static [&'static str],
        /// Names of intermediates carried in the signature.
        carried: &'static [&'static str],
        trusted: bool,
    }
    let cases = [
        Case {
            name: "root and leaf",
            certs: &[("root", None, CA), ("leaf", Some("root"), SIGNER)],
            store: &["root"],
            carried: &[],
            trusted: true,
        },
        Case {
            name: "issuer with CA:FALSE",
            certs: &[
                ("root", None, "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyCertSign"),
                ("leaf", Some("root"), SIGNER),
            ],
            store: &["root"],
            carried: &[],
            trusted: false,
        },
        Case {
            name: "issuer whose key usage lacks keyCertSign",
            certs: &[
                ("root", None, "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature"),
                ("leaf", Some("root"), SIGNER),
            ],
            store: &["root"],
            carried: &[],
            trusted: false,
        },
        Case {
            name: "intermediate without basicConstraints",
            certs: &[
                ("root", None, CA),
                ("int", Some("root"), "keyUsage=critical,keyCertSign"),
                ("leaf", Some("int"), SIGNER),
            ],
            store: &["root"],
            carried: &["int"],
            trusted: false,
        },
        Case {
            name: "the same one trusted itself, at the top",
            certs: &[
                ("root", None, CA),
                ("int", Some("root"), "keyUsage=critical,keyCertSign"),
                ("leaf", Some("int"), SIGNER),
            ],
            store: &["int"],
            carried: &[],
            trusted: true,
        },
        Case {
            name: "path length 0 with an intermediate",
            certs: &[
                ("root", None, "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign"),
                ("int", Some("root"), CA),
                ("leaf", Some("int"), SIGNER),
            ],
            store: &["root"],
            carried: &["int"],
            trusted: false,
        },
        Case {
            name: "path length 1 with an intermediate",
            certs: &[
                ("root", None, "basicConstraints=critical,CA:TRUE,pathlen:1\nkeyUsage=critical,keyCertSign"),
                ("int", Some("root"), CA),
                ("leaf", Some("int"), SIGNER),
            ],
            store: &["root"],
            carried: &["int"],
            trusted: true,
        },
        Case {
            name: "unknown critical extension",
            certs: &[
                ("root", None, CA),
                ("leaf", Some("root"), "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n1.2.3.4=critical,ASN1:NULL"),
            ],
            store: &["root"],
            carried: &[],
            trusted: false,
        },
        Case {
            name: "critical certificate policies",
            certs: &[
                ("root", None, CA),
                ("leaf", Some("root"), "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\ncertificatePolicies=critical,1.2.3.4"),
            ],
            store: &["root"],
            carried: &[],
            trusted: true,
        },
        Case {
            name: "a CA-issued leaf trusted itself",
            certs: &[("root", None, CA), ("leaf", Some("root"), SIGNER)],
            store: &["leaf"],
            carried: &[],
            trusted: true,
        },
        Case {
            name: "intermediate trusted, root unknown",
            certs: &[
                ("root", None, CA),
                ("int", Some("root"), CA),
                ("leaf", Some("int"), SIGNER),
            ],
            store: &["int"],
            carried: &["int"],
            trusted: true,
        },
        Case {
            name: "intermediate missing from the signature",
            certs: &[
                ("root", None, CA),
                ("int", Some("root"), CA),
                ("leaf", Some("int"), SIGNER),
            ],
            store: &["root"],
            carried: &[],
            trusted: false,
        },
    ];
    for case in cases {
        let fx = Fixture::new();
        let dir = fx.dir.path();
        for (name, issuer, exts) in case.certs {
            openssl_cert(dir, name, *issuer, exts);
        }
        let pems = |names: &[&str]| -> Vec<u8> {
            names
                .iter()
                .flat_map(|n| fs::read(dir.join(format!("{n}.pem"))).unwrap())
                .collect()
        };
        fs::write(fx.path("store.pem"), pems(case.store)).unwrap();
        fs::write(fx.path("carried.pem"), pems(case.carried)).unwrap();

        let mut args = vec!["verify", "-partial_chain", "-CAfile", "store.pem"];
        if !case.carried.is_empty() {
            args.extend(["-untrusted", "carried.pem"]);
        }
        args.push("leaf.pem");
        let by_openssl = Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert_eq!(
            by_openssl.status.success(),
            case.trusted,
            "{}: openssl says {}{}",
            case.name,
            String::from_utf8_lossy(&by_openssl.stdout),
            String::from_utf8_lossy(&by_openssl.stderr)
        );

        let so = fx.build_so("plugin", 1);
        let mut sign = vec![
            "cms",
            "-sign",
            "-binary",
            "-md",
            "sha256",
            "-nosmimecap",
            "-outform",
            "DER",
            "-signer",
            "leaf.pem",
            "-inkey",
            "leaf.key",
            "-out",
            "sig.der",
            "-in",
        ];
        sign.push(so.to_str().unwrap());
        if !case.carried.is_empty() {
            sign.extend(["-certfile", "carried.pem"]);
        }
        openssl(&sign, dir);
        let signed = attach_signature(
            &fs::read(&so).unwrap(),
            &fs::read(fx.path("sig.der")).unwrap(),
        )
        .unwrap();
        let store = TrustStore::open(&fx.trust_dir());
        for name in case.store {
            store.add(&fx.path(&format!("{name}.pem"))).unwrap();
        }
        match verify(&signed, &fx.trust_dir()) {
            Ok(s) => assert!(case.trusted, "{}: wslp trusts {s:?}", case.name),
            Err(TrustError::Untrusted { reason, .. }) => {
                assert!(!case.trusted, "{}: wslp refuses: {reason}", case.name)
            }
            Err(e) => panic!("{}: {e}", case.name),
        }
    }
}
