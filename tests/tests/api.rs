//! SPEC §5 with the real VM: a C plugin mounts a host folder and round-trips
//! bytes through ExecuteBinary's socket, and every error comes back with the
//! HRESULT SPEC names.

use wslp_e2e::*;

#[test]
fn api_calls_against_the_real_vm() {
    let env = Env::new();
    let s = env.scratch();
    let host_dir = s.join("shared");
    std::fs::create_dir(&host_dir).unwrap();
    std::fs::write(host_dir.join("file"), "from-the-host\n").unwrap();
    let log = s.join("api.log");
    let so = build_plugin(
        "api",
        &[
            &format!("LOG_PATH=\"{}\"", log.display()),
            &format!("HOST_DIR=\"{}\"", host_dir.display()),
        ],
        &s,
    );
    env.add_plugin("Api", &so);
    env.import("D");
    env.ok(&["-d", "D", "--", "true"]);
    let l = read_log(&log);
    let line = |prefix: &str| {
        l.lines()
            .find(|x| x.starts_with(&format!("{prefix} hr=")))
            .unwrap_or_else(|| panic!("no {prefix} line in:\n{l}"))
            .to_string()
    };
    assert_eq!(line("MountFolder"), "MountFolder hr=0x00000000 out=[]");
    assert_eq!(
        line("ExecuteBinary"),
        "ExecuteBinary hr=0x00000000 out=[from-the-host|ping]"
    );
    assert_eq!(line("ReadOnly"), "ReadOnly hr=0x00000000 out=[refused|]");
    assert!(!host_dir.join("new").exists());
    assert_eq!(
        line("MountFolder missing"),
        "MountFolder missing hr=0x80070002 out=[]"
    );
    assert_eq!(
        line("MountFolder relative"),
        "MountFolder relative hr=0x80070057 out=[]"
    );
    assert_eq!(
        line("MountFolder escape"),
        "MountFolder escape hr=0x80070057 out=[]"
    );
    assert_eq!(
        line("ExecuteBinary missing"),
        "ExecuteBinary missing hr=0x80004005 out=[]"
    );
    assert_eq!(
        line("ExecuteBinary null"),
        "ExecuteBinary null hr=0x80070057 out=[]"
    );
    assert_eq!(
        line("ExecuteBinary session"),
        "ExecuteBinary session hr=0x80010108 out=[]"
    );
    assert_eq!(
        line("InDistribution null"),
        "InDistribution null hr=0x80070057 out=[]"
    );
    assert_eq!(
        line("InDistribution unknown"),
        "InDistribution unknown hr=0x80040313 out=[]"
    );
    // Inside the distribution, as root, in its own root (the VM's /mnt/x is not there).
    assert_eq!(
        line("InDistribution"),
        "InDistribution hr=0x00000000 out=[0|debian|own-root|]"
    );
    assert_eq!(
        line("InDistribution missing"),
        "InDistribution missing hr=0x80004005 out=[]"
    );
}

#[test]
fn execute_binary_stderr_lands_in_the_vm_log() {
    let env = Env::new();
    let s = env.scratch();
    let log = s.join("plugin.log");
    let so = build_plugin(
        "e2e",
        &[
            &format!("LOG_PATH=\"{}\"", log.display()),
            "EXEC_STDERR=\"wslp-vm-log-check\"",
        ],
        &s,
    );
    env.add_plugin("Loud", &so);
    env.import("D");
    env.ok(&["-d", "D", "--", "true"]);
    let mut text = String::new();
    for _ in 0..100 {
        text = env.ok(&["--vm-log"]);
        if text.contains("wslp-vm-log-check") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(text.contains("wslp-vm-log-check"), "{text}");
}
