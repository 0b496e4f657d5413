//! The policy in a real session VM with Debian's container engine
//! (`wslp_testing`), a busybox image made from the test rootfs. Root only:
//! the engine of a per-user instance is not covered here.
#![cfg(unix)]

use wslp_testing::TestHost;

#[test]
fn a_labelled_container_is_refused_and_others_run() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("libwslp_container_policy_plugin.so");
    // Builds this crate's cdylib (cargo test builds only the rlib).
    let built = wslp_testing::build_plugin(env!("CARGO_MANIFEST_DIR")).unwrap();
    std::fs::copy(built, &plugin).unwrap();
    let t = TestHost::builder()
        .plugin("ContainerPolicy", &plugin)
        .build()
        .unwrap();
    let rootfs = dir.path().join("rootfs.tar");
    wslp_testing::busybox_tarball(&rootfs, "busybox", "1").unwrap();
    let id = t.wslc_import_image(&rootfs, "bb:1").unwrap();
    assert!(id.starts_with("sha256:"), "{id}");

    let out = t.wslc_run("bb:1", &["echo", "allowed"], &[]).unwrap();
    assert_eq!((out.code, out.stdout_text().as_str()), (0, "allowed\n"));

    let err = t
        .wslc_run(
            "bb:1",
            &["echo", "never printed"],
            &[("wslp.example/deny", "true")],
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "A fatal error was returned by plugin 'ContainerPolicy'. Error message: 'container '"
        ),
        "{err}"
    );
    assert!(err.contains("is labelled wslp.example/deny=true"), "{err}");
    assert!(
        err.ends_with("Error code: Wsl/Service/Container/Plugin/E_ACCESSDENIED"),
        "{err}"
    );
    t.wslc_terminate().unwrap();
}
