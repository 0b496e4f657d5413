//! Fixtures: real shared objects built with gcc, real keys and certificates.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use wslp_trust::{new_certificate, new_certificate_valid_between, CertOptions, Signer};

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("wslp-trust-test-")
            .tempdir()
            .unwrap();
        Fixture { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The trust store of this test; created by `TrustStore::add`.
    pub fn trust_dir(&self) -> PathBuf {
        self.path("root/trust")
    }

    /// `gcc -shared -fPIC` of a plugin exporting `wslp_test_answer()` = `answer`.
    pub fn build_so(&self, name: &str, answer: i32) -> PathBuf {
        let src = self.path(&format!("{name}.c"));
        fs::write(
            &src,
            format!("int wslp_test_answer(void) {{ return {answer}; }}\n"),
        )
        .unwrap();
        let out = self.path(&format!("{name}.so"));
        let st = Command::new("gcc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("gcc runs");
        assert!(st.success(), "gcc failed");
        out
    }

    /// A self-signed code-signing certificate valid for a year.
    pub fn self_signed(&self, name: &str) -> (PathBuf, PathBuf, Signer) {
        self.cert(
            name,
            CertOptions {
                subject: format!("CN={name}, O=wslp tests"),
                days: 365,
                is_ca: false,
                issuer: None,
                code_signing: true,
            },
        )
    }

    pub fn cert(&self, name: &str, opts: CertOptions) -> (PathBuf, PathBuf, Signer) {
        let key = self.path(&format!("{name}.key.pem"));
        let cert = self.path(&format!("{name}.cert.pem"));
        let signer = new_certificate(&opts, &key, &cert).unwrap();
        (key, cert, signer)
    }

    pub fn cert_between(
        &self,
        name: &str,
        opts: CertOptions,
        not_before: i64,
        not_after: i64,
    ) -> (PathBuf, PathBuf, Signer) {
        let key = self.path(&format!("{name}.key.pem"));
        let cert = self.path(&format!("{name}.cert.pem"));
        let signer =
            new_certificate_valid_between(&opts, not_before, not_after, &key, &cert).unwrap();
        (key, cert, signer)
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// The only unsafe in the tests: loading a real signed .so.
pub mod dl {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    /// dlopen(path), call `wslp_test_answer`, dlclose; None when it does not load.
    pub fn call_answer(path: &Path) -> Option<i32> {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: c is a valid NUL-terminated path; the library is our own
        // gcc-built one-function object with no constructors.
        let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if h.is_null() {
            return None;
        }
        let sym = CString::new("wslp_test_answer").unwrap();
        // SAFETY: h is a live handle from dlopen above.
        let f = unsafe { libc::dlsym(h, sym.as_ptr()) };
        let answer = if f.is_null() {
            None
        } else {
            // SAFETY: the symbol is `int wslp_test_answer(void)`, compiled
            // from the source in Fixture::build_so.
            let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(f) };
            Some(f())
        };
        // SAFETY: h came from dlopen and nothing from it outlives this call.
        unsafe { libc::dlclose(h) };
        answer
    }
}
