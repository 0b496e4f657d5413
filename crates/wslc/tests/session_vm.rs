//! A session VM with the real engine in it (as root): containers run, the
//! engine's state stays in the session's storage across a VM restart, and a
//! stopped VM leaves no process or mount behind.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use wslp_vm::NamespaceBackend;
use wslp_wslc::{ContainerRun, SessionVm, SessionVmConfig};

fn busybox_rootfs(dir: &Path) -> PathBuf {
    let out = dir.join("rootfs.tar.gz");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-rootfs.sh");
    let st = Command::new(script).arg(&out).status().unwrap();
    assert!(st.success(), "make-rootfs.sh failed");
    out
}

fn mounts_under(path: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|m| Path::new(m).starts_with(path))
        })
        .map(String::from)
        .collect()
}

#[test]
fn containers_run_in_the_session_vm_and_its_storage_outlives_the_vm() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(dir.path());
    let storage = dir.path().join("wslc/1");
    let cfg = SessionVmConfig::new(&storage, "wslc-test");
    let s = SessionVm::start(&NamespaceBackend, &cfg).expect("the session VM starts");
    let init = s.vm().init_pid();
    assert!(s.engine().version().unwrap().starts_with("20."));

    let id = s.engine().import_image(&rootfs, "bb:1").unwrap();
    assert!(id.starts_with("sha256:"), "{id}");
    let out = s
        .engine()
        .run_to_end(&ContainerRun {
            image: "bb:1".into(),
            cmd: vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo out; echo err >&2; exit 3".into(),
            ],
            labels: [("wslp.test".to_string(), "yes".to_string())].into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(out.exit_code, 3);
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");

    // The engine's state is in the session's storage, nothing of it outside.
    assert!(storage.join("engine/docker").is_dir());
    s.stop(Duration::from_secs(5));
    assert!(!s.is_running());
    assert!(!Path::new(&format!("/proc/{init}")).exists());
    assert_eq!(mounts_under(dir.path()), Vec::<String>::new());

    // A new VM of the same session finds the image again.
    let s = SessionVm::start(&NamespaceBackend, &cfg).expect("the session VM starts again");
    let inspect = s.engine().inspect_image("bb:1").unwrap();
    assert_eq!(inspect["Id"], id.as_str());
    let out = s
        .engine()
        .run_to_end(&ContainerRun {
            image: "bb:1".into(),
            cmd: vec!["/bin/cat".into(), "/etc/os-release".into()],
            network_mode: Some("none".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(out.exit_code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    s.stop(Duration::from_secs(5));
    assert_eq!(mounts_under(dir.path()), Vec::<String>::new());
}
