//! Issue 15: the binaries link no shared library but the C runtime. Signing
//! is pure Rust and xz, zstd and gzip are built in, so nothing loads
//! libssl, libcrypto or liblzma at start-up (the dynamic loader's work was
//! most of `wslp`'s start-up), and a static musl build needs no C library
//! but libc.

use std::process::Command;

use wslp_e2e::bin;

/// What `ldd` may list: the vDSO, the loader, libc, and the two libraries
/// Rust's std links on glibc (libgcc_s for unwinding, libm for floats).
fn allowed(lib: &str) -> bool {
    let file = lib.rsplit('/').next().unwrap_or(lib);
    ["linux-vdso.so.", "libc.so.", "libgcc_s.so.", "libm.so."]
        .iter()
        .any(|p| file.starts_with(p))
        || (file.starts_with("ld-linux") && file.contains(".so."))
}

#[test]
fn binaries_link_only_the_c_runtime() {
    for name in ["wslp", "wslpd", "wslp-plugin-host"] {
        let path = bin(name);
        let out = Command::new("ldd").arg(&path).output().expect("ldd runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if text.contains("not a dynamic executable") || text.contains("statically linked") {
            continue;
        }
        assert!(out.status.success(), "ldd {}: {text}", path.display());
        let libs: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert!(
            libs.iter().any(|l| l.starts_with("libc.so.")),
            "{name}: {text}"
        );
        let extra: Vec<&&str> = libs.iter().filter(|l| !allowed(l)).collect();
        assert!(
            extra.is_empty(),
            "{name} links {extra:?} besides the C runtime; ldd says:\n{text}"
        );
    }
}

#[test]
fn the_allow_list_refuses_what_it_must() {
    for lib in [
        "libssl.so.3",
        "libcrypto.so.3",
        "liblzma.so.5",
        "libzstd.so.1",
        "libz.so.1",
    ] {
        assert!(!allowed(lib), "{lib}");
    }
    for lib in [
        "linux-vdso.so.1",
        "libc.so.6",
        "/lib64/ld-linux-x86-64.so.2",
        "libgcc_s.so.1",
        "libm.so.6",
    ] {
        assert!(allowed(lib), "{lib}");
    }
}
