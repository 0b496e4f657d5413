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
