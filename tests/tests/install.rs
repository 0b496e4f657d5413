//! `wslp --install --from-file FILE.wsl` (SPEC §12): the name, default user
//! and first-run command come from the file's /etc/wsl-distribution.conf.

use std::path::{Path, PathBuf};
use wslp_e2e::*;

/// The test rootfs with `conf` as its /etc/wsl-distribution.conf, as a .wsl file.
fn wsl_file(dir: &Path, conf: &str) -> PathBuf {
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let st = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(rootfs_tarball())
        .arg("-C")
        .arg(&tree)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(tree.join("etc/wsl-distribution.conf"), conf).unwrap();
    let out = dir.join("tiny.wsl");
    let st = std::process::Command::new("tar")
        .args(["--numeric-owner", "-czf"])
        .arg(&out)
        .arg("-C")
        .arg(&tree)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_dir_all(&tree).unwrap();
    out
}

#[test]
fn install_takes_name_default_user_and_a_first_run_command_that_reruns_until_it_succeeds() {
    let env = Env::new();
    let file = wsl_file(
        &env.scratch(),
        "[oobe]\ncommand = echo ran >> /oobe.log; test -e /etc/oobe-ok\ndefaultUid = 1000\ndefaultName = Tiny\n",
    );
    let o = env.wslp(&["--install", "--from-file", file.to_str().unwrap()]);
    // The first-run command failed: the install says so, with its status.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "the first-run command of 'Tiny' exited with 1; it runs again before the next command"
        ),
        "{}",
        stderr(&o)
    );
    let rootfs = env.root.join("distros/Tiny/rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("oobe.log")).unwrap(),
        "ran\n"
    );
    // Fixed; root's next command runs it again first, then never again.
    std::fs::write(rootfs.join("etc/oobe-ok"), "").unwrap();
    assert_eq!(env.ok(&["-d", "Tiny", "--", "id", "-u"]), "1000\n");
    assert_eq!(env.ok(&["-d", "Tiny", "--", "id", "-u"]), "1000\n");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("oobe.log")).unwrap(),
        "ran\nran\n"
    );
    assert!(env.ok(&["-l", "-q"]).lines().any(|l| l.trim() == "Tiny"));
    // A pending command of a distribution unregistered meanwhile is dropped
    // at root's next command.
    let o = env.wslp(&[
        "--install",
        "--from-file",
        file.to_str().unwrap(),
        "--name",
        "Gone",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let pending = || {
        std::fs::read_dir(env.root.join("first-run"))
            .unwrap()
            .count()
    };
    assert_eq!(pending(), 1);
    env.ok(&["--unregister", "Gone"]);
    env.ok(&["-d", "Tiny", "--", "true"]);
    assert_eq!(pending(), 0);
}

#[test]
fn install_with_a_name_and_location_and_without_a_conf() {
    let env = Env::new();
    let file = wsl_file(&env.scratch(), "[oobe]\ndefaultName = Tiny\n");
    let at = env.scratch().join("here");
    env.ok(&[
        "--install",
        "--from-file",
        file.to_str().unwrap(),
        "--name",
        "Other",
        "--location",
        at.to_str().unwrap(),
    ]);
    assert!(at.join("rootfs/etc/wsl-distribution.conf").is_file());
    assert_eq!(env.ok(&["-d", "Other", "--", "id", "-u"]), "0\n");
    // A plain rootfs names nothing: --name is needed, and nothing is installed.
    let o = env.wslp(&[
        "--install",
        "--from-file",
        rootfs_tarball().to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("give it one with --name NAME"),
        "{}",
        stderr(&o)
    );
    assert_eq!(env.ok(&["-l", "-q"]).lines().count(), 1);
}
