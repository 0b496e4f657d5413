//! Import, registry and unregister, end to end on real files (as root in CI:
//! owners and device nodes are checked then).

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use common::*;
use wslp_distro::{
    lookup_user, read_os_release, DistroError, DistroStore, ImportSource, STAGING_PREFIX,
};

fn store() -> (tempfile::TempDir, DistroStore) {
    let t = tempfile::tempdir().unwrap();
    let s = DistroStore::open(&t.path().join("wslp")).unwrap();
    (t, s)
}

fn import_bytes(
    s: &DistroStore,
    name: &str,
    dir: &Path,
    bytes: Vec<u8>,
) -> Result<wslp_distro::DistroRecord, DistroError> {
    s.import(
        name,
        dir,
        ImportSource::Reader(Box::new(std::io::Cursor::new(bytes))),
        false,
    )
}

fn check_rootfs(rootfs: &Path) {
    let bb = std::fs::symlink_metadata(rootfs.join("usr/bin/busybox")).unwrap();
    assert!(bb.is_file());
    assert_eq!(bb.permissions().mode() & 0o7777, 0o755);
    assert_eq!(
        std::fs::read(rootfs.join("usr/bin/busybox")).unwrap(),
        busybox()
    );
    assert_eq!(
        std::fs::read_link(rootfs.join("bin")).unwrap(),
        Path::new("usr/bin")
    );
    assert_eq!(
        std::fs::read_link(rootfs.join("usr/bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        std::fs::read_link(rootfs.join("usr/bin/cat")).unwrap(),
        Path::new("/usr/bin/busybox")
    );
    let hard = std::fs::metadata(rootfs.join("usr/bin/busybox.hard")).unwrap();
    assert_eq!(hard.ino(), bb.ino(), "hard link shares the inode");
    assert_eq!(
        std::fs::metadata(rootfs.join("usr/bin/suid"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o4755
    );
    assert_eq!(
        std::fs::metadata(rootfs.join("tmp"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o1777
    );
    assert_eq!(
        std::fs::read(rootfs.join("var/lib/misc/implicit")).unwrap(),
        b"x"
    );
    let alice = std::fs::metadata(rootfs.join("home/alice")).unwrap();
    assert_eq!(alice.permissions().mode() & 0o7777, 0o750);
    // Directory times are set after their contents were written.
    assert_eq!(alice.mtime(), 1_700_000_000);
    assert_eq!(bb.mtime(), 1_700_000_000);
    if is_root() {
        assert_eq!((alice.uid(), alice.gid()), (1000, 1000));
        let null = std::fs::symlink_metadata(rootfs.join("dev/null")).unwrap();
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
        assert_eq!(null.permissions().mode() & 0o777, 0o666);
        let fifo = std::fs::symlink_metadata(rootfs.join("dev/initctl")).unwrap();
        assert!(fifo.file_type().is_fifo());
    }
    let os = read_os_release(rootfs);
    assert_eq!(os.id.as_deref(), Some("debian"));
    assert_eq!(os.version_id.as_deref(), Some("13"));
    let u = lookup_user(rootfs, "alice").unwrap();
    assert_eq!(
        (u.uid, u.gid, u.groups.clone()),
        (1000, 1000, vec![1000, 27])
    );
}

#[test]
fn imports_a_busybox_rootfs_in_every_compression_told_by_magic_bytes() {
    let (t, s) = store();
    let tar = rootfs_tar();
    for (i, codec) in CODECS.iter().enumerate() {
        // Always named .tar: the format must come from the bytes.
        let src = write_file(t.path(), &format!("rootfs{i}.tar"), &compress(*codec, &tar));
        let dir = t.path().join(format!("distro{i}"));
        let name = format!("Debian-{codec:?}");
        let r = s
            .import(&name, &dir, ImportSource::Path(src), true)
            .unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        assert_eq!(r.name, name);
        assert_eq!(r.base_path, dir);
        assert_eq!(r.rootfs, dir.join("rootfs"));
        assert_eq!((r.version, r.default_uid), (2, 0));
        assert_eq!(r.is_default, i == 0, "first import becomes the default");
        assert_eq!(names(&dir), vec!["rootfs"], "no staging left behind");
        check_rootfs(&r.rootfs);
    }
    let list = s.list().unwrap();
    let order: Vec<_> = list.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        order,
        ["Debian-Plain", "Debian-Gzip", "Debian-Xz", "Debian-Zstd"]
    );
}

#[test]
fn busybox_runs_inside_the_imported_rootfs() {
    if !is_root() {
        eprintln!("needs root for chroot; CI runs as root");
        return;
    }
    let (t, s) = store();
    let r = import_bytes(&s, "Run", &t.path().join("d"), rootfs_tar()).unwrap();
    let out = std::process::Command::new("chroot")
        .arg(&r.rootfs)
        .args(["/bin/sh", "-c", "cat /etc/os-release && ls -l /dev/null"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("ID=debian") && text.contains("VERSION_ID=\"13\""),
        "{text}"
    );
    assert!(text.contains("1,   3") || text.contains("1, 3"), "{text}");
}

#[test]
fn registry_lookups_default_and_unregister() {
    let (t, s) = store();
    let a = import_bytes(&s, "Alpha", &t.path().join("a"), rootfs_tar()).unwrap();
    let b = import_bytes(&s, "Beta", &t.path().join("b"), rootfs_tar()).unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(
        s.get("alpha").unwrap().id,
        a.id,
        "names are case-insensitive"
    );
    assert_eq!(s.get("BETA").unwrap().name, "Beta", "stored case is kept");
    assert_eq!(s.get_by_id(b.id).unwrap().name, "Beta");
    assert_eq!(s.default().unwrap().unwrap().id, a.id);

    // Another process (another store object) sees the same state.
    let again = DistroStore::open(s.root()).unwrap();
    assert_eq!(again.list().unwrap(), s.list().unwrap());

    s.set_default("beta").unwrap();
    assert_eq!(s.default().unwrap().unwrap().id, b.id);
    assert!(!s.get("Alpha").unwrap().is_default);
    s.set_default_uid("Alpha", 1000).unwrap();
    assert_eq!(s.get("Alpha").unwrap().default_uid, 1000);

    let e = s.get("Gamma").unwrap_err().to_string();
    assert!(e.contains("wslp --list"), "{e}");
    assert!(matches!(
        s.set_default("Gamma"),
        Err(DistroError::NotFound { .. })
    ));
    assert!(matches!(
        s.get_by_id(uuid::Uuid::new_v4()),
        Err(DistroError::IdNotFound { .. })
    ));

    // Unregistering the default hands the role to the first remaining one.
    let gone = s.unregister("BETA").unwrap();
    assert_eq!(gone.id, b.id);
    assert!(!t.path().join("b").exists(), "files removed");
    assert_eq!(s.default().unwrap().unwrap().id, a.id);
    assert!(matches!(
        s.unregister("Beta"),
        Err(DistroError::NotFound { .. })
    ));

    // The user's own files next to rootfs survive, as in WSL.
    std::fs::write(t.path().join("a/notes.txt"), b"mine").unwrap();
    s.unregister("Alpha").unwrap();
    assert_eq!(names(&t.path().join("a")), vec!["notes.txt"]);
    assert!(s.list().unwrap().is_empty());
    assert!(s.default().unwrap().is_none());

    // The id survives in the file, not just in memory.
    let text = std::fs::read_to_string(s.registry_path()).unwrap();
    assert!(text.contains("format = 1"), "{text}");
}

#[test]
fn ids_are_fixed_at_import_and_stable_across_reopen() {
    let (t, s) = store();
    let r = import_bytes(&s, "Stable", &t.path().join("d"), rootfs_tar()).unwrap();
    let text = std::fs::read_to_string(s.registry_path()).unwrap();
    assert!(text.contains(&r.id.to_string()));
    let reopened = DistroStore::open(s.root()).unwrap();
    assert_eq!(reopened.get("stable").unwrap().id, r.id);
}

#[test]
fn refusals_change_nothing() {
    let (t, s) = store();
    import_bytes(&s, "Taken", &t.path().join("taken"), rootfs_tar()).unwrap();
    let before = std::fs::read(s.registry_path()).unwrap();

    let fresh = t.path().join("fresh");
    // Existing name, compared case-insensitively.
    let e = import_bytes(&s, "TAKEN", &fresh, rootfs_tar()).unwrap_err();
    assert!(matches!(e, DistroError::AlreadyExists { .. }), "{e}");
    assert!(e.to_string().contains("wslp --unregister Taken"), "{e}");
    assert!(!fresh.exists());

    // Invalid name.
    let e = import_bytes(&s, "no spaces", &fresh, rootfs_tar()).unwrap_err();
    assert!(matches!(e, DistroError::InvalidName { .. }), "{e}");
    assert!(!fresh.exists());

    // A directory with someone's files in it.
    let full = t.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("precious"), b"keep").unwrap();
    let e = import_bytes(&s, "New", &full, rootfs_tar()).unwrap_err();
    assert!(matches!(e, DistroError::DirNotEmpty { .. }), "{e}");
    assert_eq!(names(&full), vec!["precious"]);

    // A file where the directory should be.
    let file = write_file(t.path(), "a-file", b"x");
    let e = import_bytes(&s, "New", &file, rootfs_tar()).unwrap_err();
    assert!(matches!(e, DistroError::NotADirectory { .. }), "{e}");

    // Not tarballs: text, empty input, bzip2, a short file, gzip of text.
    for (what, bytes) in [
        ("text", b"hello, I am not a tarball\n".repeat(40)),
        ("empty", Vec::new()),
        ("short", b"abc".to_vec()),
        (
            "gzip of text",
            compress(Codec::Gzip, &b"just text ".repeat(100)),
        ),
        ("zeros", vec![0u8; 2048]),
    ] {
        let src = write_file(t.path(), "bad.tar.gz", &bytes);
        let e = s
            .import("New", &fresh, ImportSource::Path(src), false)
            .unwrap_err();
        assert!(matches!(e, DistroError::NotATarball { .. }), "{what}: {e}");
        assert!(e.to_string().contains("is not a tarball"), "{e}");
        assert!(!fresh.exists(), "{what}: nothing created");
    }
    let e = import_bytes(&s, "New", &fresh, b"BZh91AY&SY....".to_vec()).unwrap_err();
    assert!(
        matches!(
            e,
            DistroError::UnsupportedCompression {
                format: "bzip2",
                ..
            }
        ),
        "{e}"
    );

    // A missing tarball file.
    let e = s
        .import(
            "New",
            &fresh,
            ImportSource::Path(t.path().join("nope.tar")),
            false,
        )
        .unwrap_err();
    assert!(e.to_string().contains("nope.tar"), "{e}");

    // The directory of a registered distribution.
    let e = import_bytes(&s, "New", &t.path().join("taken"), rootfs_tar()).unwrap_err();
    assert!(matches!(e, DistroError::DirInUse { .. }), "{e}");

    assert!(!fresh.exists());
    assert_eq!(
        std::fs::read(s.registry_path()).unwrap(),
        before,
        "registry untouched"
    );
}

/// A hostile or damaged tarball: an error of the expected kind, nothing
/// registered, nothing left in DIR (which the import created), nothing
/// written outside it.
fn assert_refused(tar: Vec<u8>, what: &str, expect: fn(&DistroError) -> bool) {
    let (t, s) = store();
    let outside = t.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let dir = t.path().join("sub/distro");
    std::fs::create_dir(t.path().join("sub")).unwrap();
    let e = import_bytes(&s, "Bad", &dir, tar).unwrap_err();
    assert!(expect(&e), "{what}: unexpected error {e:?}");
    let msg = e.to_string();
    eprintln!("{what}: {msg}");
    assert!(!msg.contains('\n'), "{what}: one line: {msg}");
    assert!(s.list().unwrap().is_empty(), "{what}: nothing registered");
    assert!(!dir.exists(), "{what}: DIR removed again");
    assert!(
        names(&outside).is_empty(),
        "{what}: nothing written outside"
    );
    assert_eq!(names(&t.path().join("sub")), Vec::<String>::new(), "{what}");
    assert_eq!(names(t.path()), vec!["outside", "sub", "wslp"], "{what}");
}

fn unsafe_entry(e: &DistroError) -> bool {
    matches!(e, DistroError::UnsafeEntry { .. })
}
fn corrupt(e: &DistroError) -> bool {
    matches!(e, DistroError::CorruptTarball { .. })
}

#[test]
fn path_traversal_is_refused() {
    for name in ["../escape", "./a/../../escape", "a/../../../outside/escape"] {
        let mut t = TarBuilder::new();
        t.dir("./a/", 0o755, 0).file(name, 0o644, 0, b"pwned");
        assert_refused(t.finish(), name, unsafe_entry);
    }
    let mut t = TarBuilder::new();
    t.file("/tmp/absolute-escape", 0o644, 0, b"pwned");
    assert_refused(t.finish(), "absolute", unsafe_entry);
}

#[test]
fn writes_through_symlinks_out_of_dir_are_refused() {
    // Relative link climbing out, then a file through it.
    let mut t = TarBuilder::new();
    t.symlink("./up", "../../outside")
        .file("./up/pwned", 0o644, 0, b"x");
    assert_refused(t.finish(), "relative symlink", unsafe_entry);

    // Absolute link (to the host's view of the test dir), then a directory.
    let mut t = TarBuilder::new();
    t.symlink("./abs", "/tmp").dir("./abs/pwned-dir/", 0o755, 0);
    assert_refused(t.finish(), "absolute symlink", unsafe_entry);

    // A chain of two links, each harmless-looking alone.
    let mut t = TarBuilder::new();
    t.dir("./a/", 0o755, 0)
        .symlink("./a/b", "..")
        .symlink("./c", "a/b/..")
        .file("./c/pwned", 0o644, 0, b"x");
    assert_refused(t.finish(), "symlink chain", unsafe_entry);

    // A hard link naming a file outside.
    let mut t = TarBuilder::new();
    t.hardlink("./passwd", "../../../etc/passwd");
    assert_refused(t.finish(), "hard link out", unsafe_entry);
    let mut t = TarBuilder::new();
    t.hardlink("./passwd", "/etc/passwd");
    assert_refused(t.finish(), "absolute hard link", unsafe_entry);
    // A hard link through a symlink that leaves DIR.
    let mut t = TarBuilder::new();
    t.symlink("./etc", "/etc")
        .hardlink("./passwd", "etc/passwd");
    assert_refused(t.finish(), "hard link through symlink", unsafe_entry);
}

#[test]
fn writes_through_symlinks_inside_dir_work() {
    let (t, s) = store();
    let mut tb = TarBuilder::new();
    tb.dir("./usr/", 0o755, 0)
        .dir("./usr/bin/", 0o755, 0)
        .symlink("./bin", "usr/bin")
        .file("./bin/tool", 0o755, 0, b"#!/bin/sh\n")
        // A later member replaces an earlier one of the same name.
        .file("./etc/motd", 0o644, 0, b"old")
        .file("./etc/motd", 0o644, 0, b"new");
    let r = import_bytes(&s, "Inside", &t.path().join("d"), tb.finish()).unwrap();
    assert_eq!(
        std::fs::read(r.rootfs.join("usr/bin/tool")).unwrap(),
        b"#!/bin/sh\n"
    );
    assert_eq!(std::fs::read(r.rootfs.join("etc/motd")).unwrap(), b"new");
}

#[test]
fn truncated_tarballs_are_refused() {
    let tar = rootfs_tar();
    // Mid-way through busybox's data.
    let cut = tar.len() / 2;
    assert_refused(tar[..cut].to_vec(), "plain, mid-member", corrupt);
    // At a member boundary: only the end-of-archive marker tells.
    let mut t = TarBuilder::new();
    t.file("./a", 0o644, 0, b"aaaa")
        .file("./b", 0o644, 0, b"bbbb");
    let whole = t.finish();
    assert_refused(whole[..1024].to_vec(), "plain, at a boundary", corrupt);
    for codec in [Codec::Gzip, Codec::Xz, Codec::Zstd] {
        let c = compress(codec, &tar);
        assert_refused(
            c[..c.len() * 2 / 3].to_vec(),
            &format!("{codec:?}"),
            corrupt,
        );
    }
}

#[test]
fn stale_staging_from_a_crash_is_cleared_and_a_live_one_is_respected() {
    let (t, s) = store();
    let dir = t.path().join("d");
    let stale = dir.join(format!("{STAGING_PREFIX}deadbeef"));
    std::fs::create_dir_all(stale.join("rootfs/etc")).unwrap();
    std::fs::write(stale.join("rootfs/etc/half"), b"x").unwrap();

    // While another import holds its staging directory, we keep out.
    let held = std::fs::File::open(&stale).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let e = import_bytes(&s, "Later", &dir, rootfs_tar()).unwrap_err();
    assert!(matches!(e, DistroError::ImportInProgress { .. }), "{e}");
    assert!(stale.exists());
    drop(held);

    import_bytes(&s, "Later", &dir, rootfs_tar()).unwrap();
    assert_eq!(names(&dir), vec!["rootfs"]);
}

#[test]
fn crash_between_rename_and_registration_is_recovered() {
    let (t, s) = store();
    let dir = t.path().join("d");
    // What such a crash leaves: an unregistered rootfs and an empty, unlocked staging dir.
    std::fs::create_dir_all(dir.join("rootfs/etc")).unwrap();
    std::fs::create_dir_all(dir.join(format!("{STAGING_PREFIX}0123"))).unwrap();
    let r = import_bytes(&s, "Recovered", &dir, rootfs_tar()).unwrap();
    check_rootfs(&r.rootfs);
    assert_eq!(names(&dir), vec!["rootfs"]);
    // Without a staging dir next to it, a rootfs is someone's data.
    let other = t.path().join("o");
    std::fs::create_dir_all(other.join("rootfs")).unwrap();
    let e = import_bytes(&s, "Other", &other, rootfs_tar()).unwrap_err();
    assert!(matches!(e, DistroError::DirNotEmpty { .. }), "{e}");
}

#[test]
fn concurrent_importers_do_not_lose_each_other() {
    let (t, s) = store();
    let tar = rootfs_tar();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            // A store per thread: separate lock descriptions, as separate processes.
            let s = DistroStore::open(s.root()).unwrap();
            let dir = t.path().join(format!("d{i}"));
            let tar = tar.clone();
            std::thread::spawn(move || import_bytes(&s, &format!("C{i}"), &dir, tar).map(|r| r.id))
        })
        .collect();
    let ids: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    let list = s.list().unwrap();
    assert_eq!(list.len(), 4);
    for id in ids {
        assert!(list.iter().any(|r| r.id == id));
    }
    assert_eq!(list.iter().filter(|r| r.is_default).count(), 1);
}

#[test]
fn two_importers_of_the_same_name_one_wins() {
    let (t, s) = store();
    let tar = rootfs_tar();
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let s = DistroStore::open(s.root()).unwrap();
            let dir = t.path().join(format!("same{i}"));
            let tar = tar.clone();
            std::thread::spawn(move || import_bytes(&s, "Same", &dir, tar))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert!(
        matches!(loser, DistroError::AlreadyExists { .. }),
        "{loser}"
    );
    assert_eq!(s.list().unwrap().len(), 1);
    // The loser's directory was created by it and is gone again.
    let present = [0, 1]
        .iter()
        .filter(|i| t.path().join(format!("same{i}")).exists())
        .count();
    assert_eq!(present, 1);
}

#[test]
fn malformed_registry_is_reported_with_file_and_line() {
    let (_t, s) = store();
    std::fs::write(s.registry_path(), "format = 1\n[[distribution]]\nid = 12\n").unwrap();
    let e = s.list().unwrap_err().to_string();
    assert!(
        e.contains("distributions.toml") && e.contains("line 3"),
        "{e}"
    );
    std::fs::write(s.registry_path(), "format = 1\nbroken = [\n").unwrap();
    let e = s.get("x").unwrap_err().to_string();
    assert!(
        e.contains("distributions.toml") && e.contains("line"),
        "{e}"
    );
}

#[test]
fn a_member_replacing_a_symlink_replaces_the_link_not_its_target() {
    let (t, s) = store();
    let outside = t.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let victim = outside.join("victim");
    let mut tb = TarBuilder::new();
    tb.symlink("./f", victim.to_str().unwrap())
        .file("./f", 0o644, 0, b"inside")
        .symlink("./d", outside.to_str().unwrap())
        .dir("./d/", 0o755, 0)
        .file("./d/x", 0o644, 0, b"inside too")
        .symlink("./h", victim.to_str().unwrap())
        .file("./target", 0o644, 0, b"t")
        .hardlink("./h", "./target");
    let r = import_bytes(&s, "Replace", &t.path().join("d"), tb.finish()).unwrap();
    assert_eq!(std::fs::read(r.rootfs.join("f")).unwrap(), b"inside");
    assert!(std::fs::symlink_metadata(r.rootfs.join("d"))
        .unwrap()
        .is_dir());
    assert_eq!(std::fs::read(r.rootfs.join("d/x")).unwrap(), b"inside too");
    assert_eq!(std::fs::read(r.rootfs.join("h")).unwrap(), b"t");
    assert!(
        names(&outside).is_empty(),
        "nothing written through the links"
    );
}

#[test]
fn unregister_never_deletes_through_a_mount() {
    if !is_root() {
        eprintln!("needs root to mount; CI runs as root");
        return;
    }
    let (t, s) = store();
    let r = import_bytes(&s, "Mounted", &t.path().join("d"), rootfs_tar()).unwrap();
    let mnt = r.rootfs.join("tmp");
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "wslp-distro-test"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("cannot mount tmpfs here; skipping");
        return;
    }
    std::fs::write(mnt.join("precious"), b"keep").unwrap();
    let e = s.unregister("Mounted");
    let survived = std::fs::read(mnt.join("precious"));
    let umount = std::process::Command::new("umount")
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(umount.success());
    let e = e.unwrap_err();
    assert!(matches!(e, DistroError::RemoveFiles { .. }), "{e}");
    assert!(e.to_string().contains("mount point"), "{e}");
    assert_eq!(
        survived.unwrap(),
        b"keep",
        "the mounted filesystem was not touched"
    );
    assert!(s.list().unwrap().is_empty(), "unregistered all the same");
}

#[test]
fn pax_long_names_times_and_xattrs_are_kept() {
    let (t, s) = store();
    let long = format!("./{}/{}", "d".repeat(90), "f".repeat(120));
    let mut tb = TarBuilder::new();
    tb.pax(&[
        ("path", long.as_bytes()),
        ("mtime", b"1600000000.25"),
        ("SCHILY.xattr.user.wslp", b"hello"),
    ])
    .file("./short-name-overridden", 0o640, 0, b"long")
    .pax(&[("uid", b"4000000"), ("gid", b"4000001")])
    .file("./big-ids", 0o644, 0, b"ids");
    let r = import_bytes(&s, "Pax", &t.path().join("d"), tb.finish()).unwrap();
    let p = r.rootfs.join(&long[2..]);
    assert_eq!(std::fs::read(&p).unwrap(), b"long");
    assert!(!r.rootfs.join("short-name-overridden").exists());
    let m = std::fs::metadata(&p).unwrap();
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_600_000_000, 250_000_000));
    assert_eq!(m.permissions().mode() & 0o7777, 0o640);
    let mut buf = [0u8; 64];
    match rustix::fs::getxattr(&p, "user.wslp", &mut buf[..]) {
        Ok(n) => assert_eq!(&buf[..n], b"hello"),
        // Some filesystems (tmpfs without user xattrs) cannot hold it; the
        // import warns and goes on.
        Err(e) => eprintln!("user xattrs unsupported here: {e}"),
    }
    if is_root() {
        let m = std::fs::metadata(r.rootfs.join("big-ids")).unwrap();
        assert_eq!((m.uid(), m.gid()), (4_000_000, 4_000_001));
    }
}

#[test]
fn only_real_staging_directories_count_as_leftovers() {
    let (t, s) = store();
    let dir = t.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    // A file, and a symlink to a directory of the user's, with the prefix.
    std::fs::write(dir.join(format!("{STAGING_PREFIX}file")), b"mine").unwrap();
    let e = import_bytes(&s, "X", &dir, rootfs_tar()).unwrap_err();
    assert!(matches!(e, DistroError::DirNotEmpty { .. }), "{e}");
    std::fs::remove_file(dir.join(format!("{STAGING_PREFIX}file"))).unwrap();
    let users = t.path().join("users-dir");
    std::fs::create_dir(&users).unwrap();
    std::fs::write(users.join("keep"), b"x").unwrap();
    std::os::unix::fs::symlink(&users, dir.join(format!("{STAGING_PREFIX}link"))).unwrap();
    let e = import_bytes(&s, "X", &dir, rootfs_tar()).unwrap_err();
    assert!(matches!(e, DistroError::DirNotEmpty { .. }), "{e}");
    assert_eq!(names(&users), vec!["keep"]);
    assert!(s.list().unwrap().is_empty());
}

#[test]
fn hard_links_to_missing_or_directory_targets_are_refused() {
    let mut t = TarBuilder::new();
    t.hardlink("./early", "./later")
        .file("./later", 0o644, 0, b"x");
    assert_refused(t.finish(), "link before its target", unsafe_entry);
    let mut t = TarBuilder::new();
    t.dir("./d/", 0o755, 0).hardlink("./link-to-dir", "./d");
    assert_refused(t.finish(), "link to a directory", unsafe_entry);
    let mut t = TarBuilder::new();
    t.hardlink("./root-link", "./");
    assert_refused(t.finish(), "link to the root", unsafe_entry);
}

/// Issue 14 item 3: an import through a symlink to a registered distribution's
/// folder, with a stale staging directory beside its rootfs (a crash after the
/// registry write), is refused, and the distribution's files stay.
#[test]
fn an_import_through_a_symlink_never_touches_a_registered_distribution() {
    let (t, s) = store();
    let dir = t.path().join("d");
    let first = import_bytes(&s, "First", &dir, rootfs_tar()).unwrap();
    let marker = first.rootfs.join("etc/keep-me");
    std::fs::write(&marker, b"data").unwrap();
    std::fs::create_dir(dir.join(format!("{STAGING_PREFIX}0123"))).unwrap();
    let link = t.path().join("link");
    std::os::unix::fs::symlink(&dir, &link).unwrap();

    let e = import_bytes(&s, "Second", &link, rootfs_tar()).unwrap_err();
    assert!(
        matches!(&e, DistroError::DirInUse { owner, .. } if owner == "First"),
        "{e}"
    );
    assert_eq!(std::fs::read(&marker).unwrap(), b"data");
    assert!(s.get("Second").is_err());
}
