//! `wslp --export` (SPEC §12): what --import makes of an export is the same
//! tree, and a failed export leaves nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use wslp_e2e::*;

/// Everything --import promises to keep, per path, plus the hard-link groups.
fn describe(root: &Path) -> (BTreeMap<PathBuf, String>, BTreeSet<Vec<PathBuf>>) {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, Vec<PathBuf>> = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let p = root.join(&rel);
        let m = std::fs::symlink_metadata(&p).unwrap();
        let ft = m.file_type();
        let mut xattrs: Vec<(String, Vec<u8>)> = xattr_names(&p)
            .into_iter()
            .map(|n| {
                let v = get_xattr(&p, &n);
                (n, v)
            })
            .collect();
        xattrs.sort();
        let what = if ft.is_dir() {
            let mut children: Vec<_> = std::fs::read_dir(&p)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            children.sort();
            for c in children {
                stack.push(rel.join(c));
            }
            "dir".to_string()
        } else if ft.is_symlink() {
            format!("symlink {}", std::fs::read_link(&p).unwrap().display())
        } else if ft.is_file() {
            inodes.entry(m.ino()).or_default().push(rel.clone());
            format!(
                "file {} bytes, sum {}, mtime {}",
                m.len(),
                std::fs::read(&p)
                    .unwrap()
                    .iter()
                    .map(|b| *b as u64)
                    .sum::<u64>(),
                m.mtime()
            )
        } else {
            format!("special {:o} rdev {}", m.mode() & 0o170000, m.rdev())
        };
        out.insert(
            rel,
            format!(
                "{what} mode {:o} owner {}:{} xattrs {:?}",
                m.mode() & 0o7777,
                m.uid(),
                m.gid(),
                xattrs
            ),
        );
    }
    let links = inodes.into_values().filter(|v| v.len() > 1).map(|mut v| {
        v.sort();
        v
    });
    (out, links.collect())
}

fn xattr_names(p: &Path) -> Vec<String> {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: a valid path and buffer of the given length.
    let n = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return Vec::new();
    }
    buf[..n as usize]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

fn get_xattr(p: &Path, name: &str) -> Vec<u8> {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 1024];
    // SAFETY: valid strings and a buffer of the given length.
    let len =
        unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    buf.truncate(len.max(0) as usize);
    buf
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid strings and a value of the given length.
    let r = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(r, 0, "setxattr {name} on {}", p.display());
}

/// Things a busybox tarball lacks: a hard link, a FIFO, a device node, a
/// set-uid file, a file capability, a user xattr, a file of uid 1000.
fn enrich(rootfs: &Path) {
    std::fs::hard_link(rootfs.join("bin/busybox"), rootfs.join("bin/busybox-link")).unwrap();
    nix::unistd::mkfifo(
        &rootfs.join("tmp/fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o620),
    )
    .unwrap();
    nix::sys::stat::mknod(
        &rootfs.join("dev-null-copy"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
    let suid = rootfs.join("bin/suid-tool");
    std::fs::write(&suid, b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let capped = rootfs.join("bin/capped");
    std::fs::write(&capped, b"caps").unwrap();
    // VFS_CAP_REVISION_2 with the effective bit; permitted: CAP_NET_RAW.
    let mut cap = Vec::new();
    for w in [0x0200_0001u32, 1 << 13, 0, 0, 0] {
        cap.extend_from_slice(&w.to_le_bytes());
    }
    set_xattr(&capped, "security.capability", &cap);
    set_xattr(
        &rootfs.join("etc/passwd"),
        "user.wslp-test",
        b"kept\0binary\xff",
    );
    let owned = rootfs.join("home/user/notes");
    std::fs::write(&owned, b"mine").unwrap();
    nix::unistd::chown(&owned, Some(1000.into()), Some(1000.into())).unwrap();
}

#[test]
fn an_export_imports_back_to_the_same_tree_in_every_format() {
    let env = Env::new();
    let log = env.scratch().join("plugin.log");
    let so = build_plugin(
        "e2e",
        &[&format!("LOG_PATH=\"{}\"", log.display())],
        &env.scratch(),
    );
    env.add_plugin("Hooks", &so);
    let dir = env.import("D");
    enrich(&dir.join("rootfs"));
    // Running: the export stops it first, with its hooks.
    env.ok(&["-d", "D", "--", "true"]);
    let want = describe(&dir.join("rootfs"));
    for (i, file) in ["d.tar", "d.tar.gz", "d.tar.xz", "d.tar.zst"]
        .iter()
        .enumerate()
    {
        let out = env.scratch().join(file);
        env.ok(&["--export", "D", out.to_str().unwrap()]);
        let name = format!("E{i}");
        let back = env.import_tarball(&name, &out);
        assert_eq!(describe(&back.join("rootfs")), want, "{file}");
    }
    assert!(
        read_log(&log).contains("OnDistributionStopping session=1 name=D"),
        "{}",
        read_log(&log)
    );
    // `-` is stdout, and --import reads stdin: a pipe between the two.
    let mut export = env
        .cmd()
        .args(["--export", "D", "-"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let into = env.scratch().join("piped");
    let o = env
        .cmd()
        .args(["--import", "P", into.to_str().unwrap(), "-"])
        .stdin(export.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(export.wait().unwrap().success());
    assert_eq!(describe(&into.join("rootfs")), want, "through a pipe");
}

#[test]
fn a_failed_export_leaves_no_file_and_the_distribution_as_it_was() {
    let env = Env::new();
    let dir = env.import("D");
    let before = describe(&dir.join("rootfs"));
    let o = env.wslp(&["--export", "D", "/nonexistent-dir/d.tar"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("could not be exported") && stderr(&o).contains("Nothing was written"),
        "{}",
        stderr(&o)
    );
    let target = env.scratch().join("kept.tar");
    std::fs::write(&target, b"an older backup").unwrap();
    let o = env.wslp(&["--export", "D", target.to_str().unwrap(), "--format", "zip"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Unknown export format 'zip'"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"an older backup");
    let o = env.wslp(&["--export", "Nope", target.to_str().unwrap()]);
    assert!(!o.status.success());
    assert_eq!(std::fs::read(&target).unwrap(), b"an older backup");
    // Nothing beside the target either, and the distribution is untouched.
    assert_eq!(
        std::fs::read_dir(env.scratch())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("wslp-export")
            })
            .count(),
        0
    );
    assert_eq!(describe(&dir.join("rootfs")), before);
    assert_eq!(env.ok(&["-d", "D", "--", "echo", "fine"]), "fine\n");
}

#[test]
fn an_export_killed_half_way_leaves_no_file_and_the_distribution_starts() {
    let env = Env::new();
    let dir = env.import("D");
    // Enough to take seconds through xz: a large file of random-looking bytes.
    let big = dir.join("rootfs/big");
    let mut f = std::fs::File::create(&big).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..96 {
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        std::io::Write::write_all(&mut f, &buf).unwrap();
    }
    drop(f);
    let out = env.scratch().join("killed.tar.xz");
    let mut child = env
        .cmd()
        .args(["--export", "D", out.to_str().unwrap()])
        .spawn()
        .unwrap();
    // Killed once it is writing (the distribution stopped, the file begun).
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the export ended before it could be killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let left = || -> Vec<String> {
        std::fs::read_dir(env.scratch())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("killed"))
            .collect()
    };
    // No FILE; at most the killed process's temporary file, which the next
    // export to that name removes.
    assert!(
        left()
            .iter()
            .all(|n| n.starts_with(".killed.tar.xz.wslp-export-")),
        "{:?}",
        left()
    );
    assert_eq!(env.ok(&["-d", "D", "--", "echo", "starts"]), "starts\n");
    std::fs::remove_file(&big).unwrap();
    env.ok(&["--export", "D", out.to_str().unwrap()]);
    assert_eq!(left(), ["killed.tar.xz"]);
}
