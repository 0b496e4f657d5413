//! Tarballs built by the tests themselves: a small Debian-like rootfs around
//! the host's busybox-static, and hand-made hostile archives.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

pub const OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"13\"\nVERSION=\"13 (trixie)\"\nID=debian\n";
pub const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n";
pub const GROUP: &str = "root:x:0:\nsudo:x:27:alice\nalice:x:1000:\n";

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Debian's busybox-static, the test's real payload.
pub fn busybox() -> Vec<u8> {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if let Ok(b) = std::fs::read(p) {
            return b;
        }
    }
    panic!("busybox-static is not installed: `apt-get install busybox-static`");
}

/// Writes raw bytes into a header's name field, bypassing the tar crate's
/// own refusal of `..` and absolute names: hostile archives need them.
pub fn raw_name(h: &mut Header, name: &[u8]) {
    let field = &mut h.as_old_mut().name;
    field.fill(0);
    field[..name.len()].copy_from_slice(name);
}

pub fn raw_link(h: &mut Header, target: &[u8]) {
    let field = &mut h.as_old_mut().linkname;
    field.fill(0);
    field[..target.len()].copy_from_slice(target);
}

pub struct TarBuilder {
    b: tar::Builder<Vec<u8>>,
}

impl Default for TarBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TarBuilder {
    pub fn new() -> Self {
        TarBuilder {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(name: &str, kind: EntryType, mode: u32, uid: u64, gid: u64) -> Header {
        let mut h = Header::new_gnu();
        raw_name(&mut h, name.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(1_700_000_000);
        h.set_size(0);
        h
    }

    pub fn dir(&mut self, name: &str, mode: u32, uid: u64) -> &mut Self {
        let mut h = Self::header(name, EntryType::Directory, mode, uid, uid);
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    pub fn file(&mut self, name: &str, mode: u32, uid: u64, data: &[u8]) -> &mut Self {
        let mut h = Self::header(name, EntryType::Regular, mode, uid, uid);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = Self::header(name, EntryType::Symlink, 0o777, 0, 0);
        raw_link(&mut h, target.as_bytes());
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = Self::header(name, EntryType::Link, 0o644, 0, 0);
        raw_link(&mut h, target.as_bytes());
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    pub fn device(
        &mut self,
        name: &str,
        kind: EntryType,
        major: u32,
        minor: u32,
        mode: u32,
    ) -> &mut Self {
        let mut h = Self::header(name, kind, mode, 0, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    /// A pax extended header ('x') for the member that follows.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            let body = k.len() + v.len() + 3; // ' ', '=', '\n'
            let mut len = body + 1;
            while len != body + len.to_string().len() {
                len = body + len.to_string().len();
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        let mut h = Self::header("./PaxHeaders/x", EntryType::XHeader, 0o644, 0, 0);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append(&h, &data[..]).unwrap();
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

/// A small Debian 13 look-alike: busybox-static, merged-/usr style symlinks,
/// os-release behind the usual relative symlink, users, a device node, a
/// FIFO, a hard link, set-uid and sticky bits, a non-root owner.
pub fn rootfs_tar() -> Vec<u8> {
    let mut t = TarBuilder::new();
    t.dir("./", 0o755, 0)
        .dir("./usr/", 0o755, 0)
        .dir("./usr/bin/", 0o755, 0)
        .dir("./usr/lib/", 0o755, 0)
        .symlink("./bin", "usr/bin")
        .file("./usr/bin/busybox", 0o755, 0, &busybox())
        .symlink("./usr/bin/sh", "busybox")
        .symlink("./usr/bin/cat", "/usr/bin/busybox")
        .hardlink("./usr/bin/busybox.hard", "./usr/bin/busybox")
        .file("./usr/bin/suid", 0o4755, 0, b"#!/bin/sh\n")
        .dir("./etc/", 0o755, 0)
        .file("./usr/lib/os-release", 0o644, 0, OS_RELEASE.as_bytes())
        .symlink("./etc/os-release", "../usr/lib/os-release")
        .file("./etc/passwd", 0o644, 0, PASSWD.as_bytes())
        .file("./etc/group", 0o644, 0, GROUP.as_bytes())
        .dir("./dev/", 0o755, 0)
        .device("./dev/null", EntryType::Char, 1, 3, 0o666)
        .device("./dev/initctl", EntryType::Fifo, 0, 0, 0o600)
        .dir("./tmp/", 0o1777, 0)
        .dir("./home/", 0o755, 0)
        .dir("./home/alice/", 0o750, 1000)
        .file("./home/alice/.profile", 0o644, 1000, b"export PS1='$ '\n")
        // A member whose parent directory has no member of its own.
        .file("./var/lib/misc/implicit", 0o600, 0, b"x");
    t.finish()
}

#[derive(Debug, Clone, Copy)]
pub enum Codec {
    Plain,
    Gzip,
    Xz,
    Zstd,
}

pub const CODECS: [Codec; 4] = [Codec::Plain, Codec::Gzip, Codec::Xz, Codec::Zstd];

pub fn compress(codec: Codec, data: &[u8]) -> Vec<u8> {
    match codec {
        Codec::Plain => data.to_vec(),
        Codec::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Codec::Xz => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Codec::Zstd => zstd::encode_all(data, 1).unwrap(),
    }
}

/// Writes `data` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// Names in a directory, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => return Vec::new(),
    };
    v.sort();
    v
}
