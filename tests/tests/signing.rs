//! SPEC §3 step 2 through the CLI: with signatures required (the default),
//! only plugins signed by a trusted certificate load.

use wslp_e2e::*;

const CODE: &str = "Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/";

#[test]
fn unsigned_untrusted_tampered_and_trusted_plugins() {
    let env = Env::with_settings("");
    env.import("D");
    let s = env.scratch();
    let log = s.join("plugin.log");
    let so = build_plugin("e2e", &[&format!("LOG_PATH=\"{}\"", log.display())], &s);
    let (key, cert) = env.new_certificate("CN=e2e signer");

    // Unsigned.
    env.add_plugin("P", &so);
    let o = env.wslp(&["-d", "D", "--", "true"]);
    assert_eq!(
        stderr(&o),
        format!("A fatal error was returned by plugin 'P'\n{CODE}TRUST_E_NOSIGNATURE\n")
    );

    // Signed, but by a certificate nobody trusts.
    env.sign(&key, &cert, &so);
    env.ok(&["--shutdown"]);
    let o = env.wslp(&["-d", "D", "--", "true"]);
    assert_eq!(
        stderr(&o),
        format!("A fatal error was returned by plugin 'P'\n{CODE}TRUST_E_NOSIGNATURE\n")
    );

    // Trusted: it loads and its hooks run.
    env.ok(&["trust", "add", cert.to_str().unwrap()]);
    env.ok(&["--shutdown"]);
    env.ok(&["-d", "D", "--", "true"]);
    assert!(read_log(&log).contains("OnVMStarted"));

    // One byte changed after signing.
    let mut bytes = std::fs::read(&so).unwrap();
    bytes[200] ^= 0xff;
    std::fs::write(&so, &bytes).unwrap();
    env.ok(&["--shutdown"]);
    let o = env.wslp(&["-d", "D", "--", "true"]);
    assert_eq!(
        stderr(&o),
        format!("A fatal error was returned by plugin 'P'\n{CODE}TRUST_E_BAD_DIGEST\n")
    );
    let v = env.wslp(&["verify", so.to_str().unwrap()]);
    assert!(!v.status.success());
}

/// Issue 14 item 2: a plugin host started again (here after a crash) loads the
/// bytes whose signature was verified, even when root has since copied another,
/// unsigned plugin over the same file (same inode, so the descriptor the service
/// kept sees the new bytes).
#[test]
fn a_restarted_plugin_host_runs_the_verified_bytes_not_a_file_copied_over_them() {
    use std::os::unix::fs::MetadataExt;
    let env = Env::with_settings("");
    env.import("Keep");
    env.import("Victim");
    let s = env.scratch();
    let (log_a, log_b) = (s.join("a.log"), s.join("b.log"));
    let marker = s.join("once");
    let a_dir = s.join("a");
    let b_dir = s.join("b");
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let marker_def = format!("ONCE_MARKER=\"{}\"", marker.display());
    // A crashes once in Victim's start, so its host is started again.
    let a = build_plugin(
        "crash",
        &[
            &format!("LOG_PATH=\"{}\"", log_a.display()),
            &marker_def,
            "IN_DISTRO_STARTED",
            "VICTIM=L\"Victim\"",
            "DO_SEGV",
        ],
        &a_dir,
    );
    let b = build_plugin(
        "crash",
        &[&format!("LOG_PATH=\"{}\"", log_b.display())],
        &b_dir,
    );
    let (key, cert) = env.new_certificate("CN=e2e signer");
    env.sign(&key, &cert, &a);
    env.ok(&["trust", "add", cert.to_str().unwrap()]);
    env.add_plugin("P", &a);

    env.ok(&["-d", "Keep", "--", "true"]);
    let o = env.wslp(&["-d", "Victim", "--", "true"]);
    assert!(!o.status.success(), "the plugin crashed: {}", stderr(&o));

    // Root replaces the signed file's bytes in place, as `cp` does.
    let inode = std::fs::metadata(&a).unwrap().ino();
    let st = std::process::Command::new("cp")
        .arg(&b)
        .arg(&a)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(std::fs::metadata(&a).unwrap().ino(), inode, "same inode");
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());

    // The next start needs a new plugin host: it runs A, the verified plugin.
    assert_eq!(env.ok(&["-d", "Victim", "--", "echo", "ok"]), "ok\n");
    assert!(
        !log_b.exists(),
        "the unsigned plugin ran: {}",
        read_log(&log_b)
    );
    let l = read_log(&log_a);
    let entries = l.lines().filter(|l| l.starts_with("EntryPoint")).count();
    assert_eq!(entries, 2, "A's entry point ran again in a new host: {l}");
    assert!(
        env.service_log()
            .contains("the plugin's file changed after its signature was verified"),
        "{}",
        env.service_log()
    );
}
