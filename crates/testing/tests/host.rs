//! The embedded host runs a real VM and distribution.

use wslp_testing::TestHost;

#[test]
fn runs_commands_in_a_real_distribution() {
    let host = TestHost::builder()
        .busybox_distribution("T")
        .build()
        .unwrap();
    assert!(!host.vm_running());
    let out = host
        .run(
            "T",
            &["sh", "-c", "cat /etc/hostname; echo oops >&2; exit 3"],
        )
        .unwrap();
    assert_eq!(out.stdout_text(), "debian\n");
    assert_eq!(out.stderr_text(), "oops\n");
    assert_eq!(out.code, 3);
    assert!(host.vm_running());
    let vm = host.run_in_vm(&["cat", "/proc/1/comm"]).unwrap();
    assert_eq!(vm.code, 0);
    host.terminate("T").unwrap();
    host.shutdown();
    assert!(!host.vm_running());
}

#[test]
fn a_missing_plugin_fails_the_vm_start_with_wsl_text() {
    let host = TestHost::builder()
        .plugin("Ghost", "/nonexistent/libghost.so")
        .build()
        .unwrap();
    assert_eq!(
        host.start_vm().unwrap_err().to_string(),
        "A fatal error was returned by plugin 'Ghost'\nError code: Wsl/Service/CreateInstance/CreateVm/Plugin/ERROR_MOD_NOT_FOUND"
    );
}
