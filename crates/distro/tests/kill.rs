//! `kill -9` in the middle of an import: the registry stays as it was, nothing
//! is registered, and the next import into the same DIR succeeds.
//!
//! The import runs in a child process (this test binary again, running the
//! ignored helper below) that reads the tarball from its stdin. The parent
//! feeds it only the first part of a large archive, so the child is certainly
//! mid-extraction, waits until files have appeared in its staging directory,
//! and then SIGKILLs it. No timing decides the outcome.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use wslp_distro::{DistroStore, ImportSource, STAGING_PREFIX};

const ROOT_ENV: &str = "WSLP_DISTRO_TEST_KILL_ROOT";
const DIR_ENV: &str = "WSLP_DISTRO_TEST_KILL_DIR";

/// Runs only in the child: imports from stdin until killed.
#[test]
#[ignore = "helper process of kill_9_mid_import_leaves_the_registry_intact"]
fn kill_helper_import_from_stdin() {
    let (Some(root), Some(dir)) = (std::env::var_os(ROOT_ENV), std::env::var_os(DIR_ENV)) else {
        return;
    };
    let s = DistroStore::open(Path::new(&root)).unwrap();
    let r = s.import(
        "Victim",
        Path::new(&dir),
        ImportSource::Reader(Box::new(std::io::stdin())),
        false,
    );
    // Reaching here means the parent never killed us; it fails the test.
    eprintln!("helper finished unexpectedly: {r:?}");
}

/// 300 files of 64 KiB: about 20 MB, big enough to be caught mid-way.
fn big_tar() -> Vec<u8> {
    let mut t = TarBuilder::new();
    t.dir("./data/", 0o755, 0);
    let mut chunk = vec![0u8; 64 * 1024];
    for i in 0..300u32 {
        for (j, b) in chunk.iter_mut().enumerate() {
            *b = (i as usize * 31 + j) as u8;
        }
        t.file(&format!("./data/f{i:04}"), 0o644, 0, &chunk);
    }
    t.finish()
}

fn staged_files(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(STAGING_PREFIX))
        .map(|e| {
            std::fs::read_dir(e.path().join("rootfs/data"))
                .map(|r| r.count())
                .unwrap_or(0)
        })
        .sum()
}

#[test]
fn kill_9_mid_import_leaves_the_registry_intact() {
    let t = tempfile::tempdir().unwrap();
    let root: PathBuf = t.path().join("wslp");
    let s = DistroStore::open(&root).unwrap();
    let earlier = s
        .import(
            "Earlier",
            &t.path().join("earlier"),
            ImportSource::Reader(Box::new(std::io::Cursor::new(rootfs_tar()))),
            false,
        )
        .unwrap();
    let registry_before = std::fs::read(s.registry_path()).unwrap();

    let dir = t.path().join("victim");
    let tar = big_tar();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "kill_helper_import_from_stdin",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROOT_ENV, &root)
        .env(DIR_ENV, &dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The first 40%: the child blocks reading the rest, mid-extraction.
    stdin
        .write_all(&tar[..tar.len() * 2 / 5])
        .expect("the helper stopped reading early");
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while staged_files(&dir) < 20 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the helper exited before it was killed"
        );
        assert!(Instant::now() < deadline, "the helper extracted nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    drop(stdin);

    // The crash left a staging directory behind, and nothing else changed.
    assert!(staged_files(&dir) >= 20, "the kill came mid-import");
    assert_eq!(std::fs::read(s.registry_path()).unwrap(), registry_before);
    let list = s.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, earlier.id);
    assert!(list[0].is_default);
    assert!(s.get("Victim").is_err());
    assert!(!dir.join("rootfs").exists());

    // A new import into the same DIR succeeds and clears the leftovers.
    let r = s
        .import(
            "Victim",
            &dir,
            ImportSource::Reader(Box::new(std::io::Cursor::new(tar))),
            false,
        )
        .unwrap();
    assert_eq!(names(&dir), vec!["rootfs"]);
    assert_eq!(names(&r.rootfs.join("data")).len(), 300);
    assert_eq!(s.list().unwrap().len(), 2);
}
