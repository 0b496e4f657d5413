//! Entry points for the fuzz targets in `fuzz/` (and their regression tests):
//! the real parsers of files a distribution's author shapes, fed raw bytes.

use std::io::Cursor;
use std::path::Path;

use crate::{DistroError, UnpackStats};

/// A tarball (compressed or not) unpacked into the empty directory `dir`, as
/// `--import` does.
pub fn unpack_tarball_into(data: &[u8], dir: &Path) -> Result<UnpackStats, DistroError> {
    let root = rustix::fs::open(
        dir,
        rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| DistroError::CorruptTarball {
        source_name: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let stream = crate::extract::open_tar_stream(Box::new(Cursor::new(data.to_vec())), "fuzz")?;
    crate::extract::unpack(stream, std::os::fd::AsFd::as_fd(&root), "fuzz")
}

/// `/etc/os-release`, `/etc/wsl.conf`, `/etc/passwd` and `/etc/group` text,
/// as a distribution start reads them. `rootfs` is a scratch directory the
/// files are written to.
pub fn parse_user_files(data: &[u8], rootfs: &Path) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::parse_os_release(&text);
    let (_, problems) = crate::parse_wsl_conf(&text);
    // Every skipped line is one of the file's.
    assert!(problems
        .iter()
        .all(|p| p.line >= 1 && p.line <= text.lines().count().max(1)));
    // One input, three files: split at the first two NULs so the fuzzer can
    // shape each (a missing part is an empty file).
    let mut parts = data.splitn(3, |&b| b == 0);
    let passwd = parts.next().unwrap_or_default();
    let group = parts.next().unwrap_or_default();
    let user = parts.next().unwrap_or_default();
    let etc = rootfs.join("etc");
    if std::fs::create_dir_all(&etc).is_err()
        || std::fs::write(etc.join("passwd"), passwd).is_err()
        || std::fs::write(etc.join("group"), group).is_err()
    {
        return;
    }
    let user = String::from_utf8_lossy(user);
    for name in [user.as_ref(), "root", ""] {
        let _ = crate::lookup_user(rootfs, name);
    }
    for uid in [0, 1000, u32::MAX] {
        let _ = crate::lookup_uid(rootfs, uid);
    }
    let _ = crate::passwd::groups_of(&String::from_utf8_lossy(group), &user, 0);
}
