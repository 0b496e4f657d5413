//! A signed sample plugin: wslp loads it through its verified descriptor
//! (`/proc/self/fd/N`), or from a sealed copy when others could rewrite the
//! file. `wslp_sdk::plugin_file()` must give the real path in the first case
//! (the demo log appears beside the plugin) and nothing in the second (no
//! log beside a file the plugin does not really come from), and the plugin
//! must run either way.

#[path = "../../testing/host.rs"]
mod host;

use host::*;
use std::os::unix::fs::PermissionsExt;

fn signed_root(mode: u32) -> Root {
    let root = Root::new(&built_plugin("libwslp_sample_plugin.so"), "Sample");
    let keys = tempfile::tempdir().unwrap();
    let (key, cert) = (keys.path().join("key.pem"), keys.path().join("cert.pem"));
    let opts = wslp_trust::CertOptions {
        subject: "CN=wslp sample test".to_string(),
        days: 1,
        is_ca: false,
        issuer: None,
        code_signing: true,
    };
    wslp_trust::new_certificate(&opts, &key, &cert).unwrap();
    wslp_trust::TrustStore::open(&wslp_trust::trust_dir(root.path()))
        .add(&cert)
        .unwrap();
    wslp_trust::sign_file(&root.plugin, &key, &cert).unwrap();
    std::fs::set_permissions(&root.plugin, std::fs::Permissions::from_mode(mode)).unwrap();
    std::fs::write(root.path().join("wslp.toml"), "require_signatures = true\n").unwrap();
    root
}

fn run_vm(root: &Root) {
    let manager = root.load();
    let session = manager.open_session(0, HostServices::new());
    manager.on_vm_started(&session, 0).expect("OnVMStarted");
    manager.on_vm_stopping(&session);
    manager.close_session(&session);
}

#[test]
fn loaded_through_its_descriptor_it_finds_its_real_directory() {
    let root = signed_root(0o755);
    run_vm(&root);
    let log = root.plugin.parent().unwrap().join("wsl-plugin-demo.txt");
    let text = std::fs::read_to_string(&log).expect("the demo log beside the plugin");
    assert!(
        text.starts_with("Plugin loaded. WSL version: 2.9.5\n"),
        "{text}"
    );
    assert!(text.contains("\nKernel version info: "), "{text}");
}

#[test]
fn loaded_from_a_sealed_copy_it_does_not_claim_the_file() {
    let root = signed_root(0o666);
    run_vm(&root);
    let dir = root.plugin.parent().unwrap();
    assert!(!dir.join("wsl-plugin-demo.txt").exists());
}
