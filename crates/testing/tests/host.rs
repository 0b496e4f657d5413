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

#[test]
fn the_trace_shows_what_the_plugin_did() {
    use wslp_testing::{TraceItem, TraceValue};
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("libtraced.so");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let st = std::process::Command::new("gcc")
        .args(["-Wall", "-Werror", "-shared", "-fPIC"])
        .arg(format!("-I{}", repo.join("include").display()))
        .arg(repo.join("tests/plugins/traced.c"))
        .arg("-o")
        .arg(&so)
        .status()
        .unwrap();
    assert!(st.success());
    let host = TestHost::builder()
        .plugin("Traced", &so)
        .busybox_distribution("T")
        .build()
        .unwrap();
    let trace = host.trace();
    host.start_distribution("T").unwrap();
    let events: Vec<_> = trace
        .drain()
        .into_iter()
        .map(|i| match i {
            TraceItem::Event(e) => e,
            TraceItem::Dropped(n) => panic!("{n} dropped"),
        })
        .collect();
    let calls: Vec<&str> = events.iter().map(|e| e.call.as_str()).collect();
    assert_eq!(
        calls,
        ["ExecuteBinary", "OnVMStarted", "OnDistributionStarted"]
    );
    assert!(events.iter().all(|e| e.plugin == "Traced" && e.result == 0));
    assert!(events[0]
        .args
        .contains(&("path".into(), TraceValue::Str("/bin/echo".into()))));
    assert!(events[2]
        .args
        .contains(&("distribution".into(), TraceValue::Str("T".into()))));
}
