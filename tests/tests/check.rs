//! SPEC §13's `wslp plugin check FILE` through the real `wslp` and
//! `wslp-plugin-host`: each kind of plugin that would not load gets its own
//! line and exit status, and the last line is the summary a CI job greps.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wslp_e2e::*;

fn check(env: &Env, file: &Path) -> Output {
    env.wslp(&["plugin", "check", file.to_str().unwrap()])
}

/// Exit status `code`, `line` among the output, and the summary line.
fn expect(o: &Output, code: i32, line: &str, summary: &str) {
    let out = stdout(o);
    assert_eq!(o.status.code(), Some(code), "{out}{}", stderr(o));
    assert!(out.contains(line), "{line:?} in:\n{out}");
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("wslp plugin check: ") && last.contains(summary),
        "summary {summary:?} in {last:?}"
    );
}

fn gcc(args: &[&str]) {
    let o = Command::new("gcc").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "gcc {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_good_plugin_passes_and_shows_its_hooks() {
    let env = Env::new();
    let log = env.scratch().join("log");
    let so = build_plugin(
        "e2e",
        &[&format!("LOG_PATH=\"{}\"", log.display())],
        &env.scratch(),
    );
    let o = check(&env, &so);
    expect(
        &o,
        0,
        "returned S_OK (Api->Version 2.9.5)",
        &format!("PASS {}", so.display()),
    );
    let out = stdout(&o);
    for line in [
        "ELF 64-bit shared object",
        "WSLPluginAPIV1_EntryPoint is exported",
        "libc.so.6 => ",
        "unsigned; signatures are not required here",
        "set: OnVMStarted, OnVMStopping, OnDistributionStarted, OnDistributionStopping, OnDistributionRegistered, OnDistributionUnregistered",
    ] {
        assert!(out.contains(line), "{line:?} in:\n{out}");
    }
    // Its entry point really ran, in a process that is gone now.
    assert!(read_log(&log).contains("EntryPoint version=2.9.5"));
    // Nothing was registered.
    assert!(env
        .ok(&["plugin", "list"])
        .contains("No plugins are registered."));
}

#[test]
fn a_file_without_the_entry_point() {
    let env = Env::new();
    let so = build_plugin(
        "e2e",
        &["LOG_PATH=\"/dev/null\"", "NO_ENTRY"],
        &env.scratch(),
    );
    expect(
        &check(&env, &so),
        23,
        "does not export WSLPluginAPIV1_EntryPoint: loading it would fail with 0x8007007f",
        "FAIL (no-entry-point, exit 23)",
    );
    // Defined but hidden is told apart.
    let src = env.scratch().join("hidden.c");
    std::fs::write(
        &src,
        "__attribute__((visibility(\"hidden\"))) int WSLPluginAPIV1_EntryPoint(void) { return 0; }\n",
    )
    .unwrap();
    let hidden = env.scratch().join("libhidden.so");
    gcc(&[
        "-shared",
        "-fPIC",
        "-o",
        hidden.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    expect(
        &check(&env, &hidden),
        23,
        "WSLPluginAPIV1_EntryPoint is defined but not exported",
        "FAIL (no-entry-point, exit 23)",
    );
}

#[test]
fn a_library_with_a_missing_dependency() {
    let env = Env::new();
    let dir = env.scratch();
    let dep_src = dir.join("dep.c");
    std::fs::write(&dep_src, "int dep_value(void) { return 42; }\n").unwrap();
    let libdir = dir.join("libs");
    std::fs::create_dir(&libdir).unwrap();
    let dep = libdir.join("libwslpcheckdep.so");
    gcc(&[
        "-shared",
        "-fPIC",
        "-o",
        dep.to_str().unwrap(),
        dep_src.to_str().unwrap(),
    ]);
    let src = dir.join("uses.c");
    std::fs::write(
        &src,
        "#include <WslPluginApi.h>\nint dep_value(void);\n\
         EXTERN_C __declspec(dllexport) HRESULT WSLPluginAPIV1_EntryPoint(const struct WSLPluginAPIV1* a, struct WSLPluginHooksV1* h)\n\
         { (void)a; (void)h; return dep_value() == 42 ? S_OK : E_FAIL; }\n",
    )
    .unwrap();
    let so = dir.join("libuses.so");
    let include = format!("-I{}", workspace().join("include").display());
    let libs = format!("-L{}", libdir.display());
    gcc(&[
        "-shared",
        "-fPIC",
        &include,
        "-o",
        so.to_str().unwrap(),
        src.to_str().unwrap(),
        &libs,
        "-lwslpcheckdep",
    ]);
    let o = check(&env, &so);
    expect(
        &o,
        24,
        "not found here: libwslpcheckdep.so",
        "FAIL (unresolved, exit 24",
    );
    let out = stdout(&o);
    assert!(
        out.contains("libwslpcheckdep.so (needed by libuses.so) is in none of: "),
        "{out}"
    );
    assert!(out.contains("undefined symbol: dep_value"), "{out}");
    assert!(
        out.contains("not run: the dynamic loader would refuse the file"),
        "{out}"
    );

    // Found through LD_LIBRARY_PATH, it loads and runs.
    let o = env
        .cmd()
        .env("LD_LIBRARY_PATH", &libdir)
        .args(["plugin", "check", so.to_str().unwrap()])
        .output()
        .unwrap();
    expect(
        &o,
        0,
        &format!("libwslpcheckdep.so => {}", dep.display()),
        "PASS",
    );
    // A library that lost a symbol the plugin binds to.
    std::fs::write(&dep_src, "int other_value(void) { return 1; }\n").unwrap();
    gcc(&[
        "-shared",
        "-fPIC",
        "-o",
        dep.to_str().unwrap(),
        dep_src.to_str().unwrap(),
    ]);
    let o = env
        .cmd()
        .env("LD_LIBRARY_PATH", &libdir)
        .args(["plugin", "check", so.to_str().unwrap()])
        .output()
        .unwrap();
    expect(
        &o,
        24,
        "undefined symbol: dep_value (needed by libuses.so; no loaded library defines it)",
        "FAIL (unresolved, exit 24)",
    );
}

#[test]
fn a_file_that_is_not_elf() {
    let env = Env::new();
    let f = env.scratch().join("plugin.so");
    std::fs::write(&f, "#!/bin/sh\necho not a plugin\n").unwrap();
    expect(
        &check(&env, &f),
        20,
        "not an ELF file (it starts with 23 21 2f 62 (a script))",
        "FAIL (not-elf, exit 20)",
    );
}

/// A 52-byte ELF header of a 32-bit little-endian i386 shared object.
fn elf32_i386() -> Vec<u8> {
    let mut h = b"\x7fELF\x01\x01\x01\x00".to_vec();
    h.extend([0u8; 8]);
    for (v, n) in [(3u32, 2), (3, 2), (1, 4), (0, 4), (0, 4), (0, 4), (0, 4)] {
        h.extend(&v.to_le_bytes()[..n]);
    }
    for v in [52u16, 32, 0, 40, 0, 0] {
        h.extend(v.to_le_bytes());
    }
    assert_eq!(h.len(), 52);
    h
}

#[test]
fn a_32_bit_or_foreign_architecture_elf() {
    let env = Env::new();
    let f32 = env.scratch().join("lib32.so");
    std::fs::write(&f32, elf32_i386()).unwrap();
    expect(
        &check(&env, &f32),
        22,
        "ELF 32-bit shared object, i386: this machine loads 64-bit",
        "FAIL (wrong-architecture, exit 22)",
    );
    // A real plugin of this machine with e_machine changed to another one.
    let so = build_plugin("e2e", &["LOG_PATH=\"/dev/null\""], &env.scratch());
    let mut bytes = std::fs::read(&so).unwrap();
    let (other, name): (u16, &str) = if cfg!(target_arch = "aarch64") {
        (62, "x86-64")
    } else {
        (183, "AArch64")
    };
    bytes[18..20].copy_from_slice(&other.to_le_bytes());
    let foreign = env.scratch().join("libforeign.so");
    std::fs::write(&foreign, bytes).unwrap();
    expect(
        &check(&env, &foreign),
        22,
        &format!("ELF 64-bit shared object, {name}: this machine loads"),
        "FAIL (wrong-architecture, exit 22)",
    );
}

#[test]
fn a_plugin_that_requires_api_99() {
    let env = Env::new();
    let so = build_plugin(
        "e2e",
        &["LOG_PATH=\"/dev/null\"", "REQUIRE_MAJOR=99"],
        &env.scratch(),
    );
    let o = env.wslp(&["plugin", "check", "--name", "Future", so.to_str().unwrap()]);
    expect(
        &o,
        26,
        "The plugin 'Future' requires a newer version of wslp. Please update wslp.\n",
        "FAIL (requires-update, exit 26)",
    );
    assert!(stdout(&o).contains(
        "Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/WSL_E_PLUGIN_REQUIRES_UPDATE"
    ));
}

#[test]
fn a_plugin_that_crashes_in_its_entry_point() {
    let env = Env::new();
    let so = build_plugin(
        "crash",
        &["LOG_PATH=\"/dev/null\"", "IN_ENTRY", "DO_SEGV"],
        &env.scratch(),
    );
    expect(
        &check(&env, &so),
        27,
        "the plugin host died while loading the plugin: The plugin crashed (SIGSEGV).",
        "FAIL (crashed, exit 27)",
    );
}

/// A plugin built to print a line we can change without breaking it.
fn signable(env: &Env) -> PathBuf {
    let src = env.scratch().join("signable.c");
    std::fs::write(
        &src,
        "#include <WslPluginApi.h>\n#include <stdio.h>\n\
         EXTERN_C __declspec(dllexport) HRESULT WSLPluginAPIV1_EntryPoint(const struct WSLPluginAPIV1* a, struct WSLPluginHooksV1* h)\n\
         { (void)a; (void)h; puts(\"MARKER-abcdef\"); return S_OK; }\n",
    )
    .unwrap();
    let so = env.scratch().join("libsignable.so");
    let include = format!("-I{}", workspace().join("include").display());
    gcc(&[
        "-shared",
        "-fPIC",
        &include,
        "-o",
        so.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    so
}

#[test]
fn unsigned_untrusted_tampered_and_trusted_files() {
    // Signatures required: this instance's setting decides.
    let env = Env::with_settings("");
    let so = signable(&env);
    expect(
        &check(&env, &so),
        10,
        "signature     FAIL  unsigned; signatures are required",
        "FAIL (unsigned, exit 10)",
    );

    let (key, cert) = env.new_certificate("CN=Check Test Signer");
    env.sign(&key, &cert, &so);
    let o = check(&env, &so);
    expect(
        &o,
        12,
        "signed by an untrusted certificate ('CN=Check Test Signer')",
        "FAIL (untrusted, exit 12)",
    );
    // The entry point still ran: the author learns both things at once.
    assert!(stdout(&o).contains("returned S_OK"), "{}", stdout(&o));
    assert!(stdout(&o).contains("MARKER-abcdef"), "{}", stdout(&o));

    env.ok(&["trust", "add", cert.to_str().unwrap()]);
    let o = check(&env, &so);
    expect(&o, 0, "trusted: signed by 'CN=Check Test Signer'", "PASS");

    // One byte of the printed text changed after signing.
    let mut bytes = std::fs::read(&so).unwrap();
    let at = bytes
        .windows(13)
        .position(|w| w == b"MARKER-abcdef")
        .unwrap();
    bytes[at + 7] = b'X';
    let tampered = env.scratch().join("libtampered.so");
    std::fs::write(&tampered, bytes).unwrap();
    let o = check(&env, &tampered);
    expect(
        &o,
        11,
        "tampered: the file changed after it was signed ('CN=Check Test Signer')",
        "FAIL (tampered, exit 11)",
    );
    assert!(
        stdout(&o).contains("Plugin/TRUST_E_BAD_DIGEST"),
        "{}",
        stdout(&o)
    );
}
