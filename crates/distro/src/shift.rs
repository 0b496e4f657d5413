//! Storing a distribution's files with the host ids of the VM's range, for
//! a filesystem that cannot show them through an idmapped mount (ramfs, NFS,
//! most FUSE filesystems).
//!
//! Every id `n` of 0–65535 becomes `base + n` on disk, so the VM, which maps
//! its `n` to the host's `base + n`, sees the files with their own owners
//! without any mapping of the mount. Ids above 65535 have no name in the VM
//! and stay as they are. chown(2) clears set-id bits and drops
//! `security.capability`: both are put back as the tarball had them.

use std::collections::HashSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use rustix::fs::{AtFlags, Gid, Uid, XattrFlags, CWD};

use crate::DistroError;

const CAPABILITY: &str = "security.capability";

/// The largest id that is shifted (the VM's ids are 0–65535).
const LAST_ID: u32 = 65535;

fn shifted(id: u32, base: u32) -> u32 {
    if id <= LAST_ID {
        base + id
    } else {
        id
    }
}

/// The inverse of [`shifted`]: the id a file stored shifted has inside.
pub(crate) fn unshifted(id: u32, base: u32) -> u32 {
    match id.checked_sub(base) {
        Some(inside) if inside <= LAST_ID => inside,
        _ => id,
    }
}

/// Shifts the owner and group of every file under `rootfs` (itself
/// included) by `uid_base` and `gid_base`, without crossing into other
/// filesystems or following symlinks; each inode once, hard links or not.
/// Returns how many inodes changed.
pub fn shift_ownership(rootfs: &Path, uid_base: u32, gid_base: u32) -> Result<u64, DistroError> {
    let top =
        std::fs::symlink_metadata(rootfs).map_err(|e| DistroError::io("inspect", rootfs, e))?;
    let mut seen = HashSet::new();
    let mut todo = vec![rootfs.to_path_buf()];
    let mut count = 0;
    while let Some(path) = todo.pop() {
        let m =
            std::fs::symlink_metadata(&path).map_err(|e| DistroError::io("inspect", &path, e))?;
        if m.dev() != top.dev() || !seen.insert(m.ino()) {
            continue;
        }
        if m.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(|e| DistroError::io("read", &path, e))? {
                todo.push(entry.map_err(|e| DistroError::io("read", &path, e))?.path());
            }
        }
        let io = |what: &'static str, e: rustix::io::Errno| DistroError::io(what, &path, e.into());
        // A capability set is 20 or 24 bytes (v2, v3).
        let mut buf = [0u8; 64];
        let cap = match rustix::fs::lgetxattr(&path, CAPABILITY, &mut buf[..]) {
            Ok(n) => Some(buf[..n].to_vec()),
            Err(rustix::io::Errno::NODATA) | Err(rustix::io::Errno::OPNOTSUPP) => None,
            Err(e) => return Err(io("read the capabilities of", e)),
        };
        let (uid, gid) = (shifted(m.uid(), uid_base), shifted(m.gid(), gid_base));
        if (uid, gid) == (m.uid(), m.gid()) {
            continue;
        }
        rustix::fs::chownat(
            CWD,
            &path,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io("change the owner of", e))?;
        if !m.file_type().is_symlink() && m.mode() & 0o6000 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m.mode() & 0o7777))
                .map_err(|e| DistroError::io("restore the set-id bits of", &path, e))?;
        }
        if let Some(cap) = cap {
            rustix::fs::lsetxattr(&path, CAPABILITY, &cap, XattrFlags::empty())
                .map_err(|e| io("restore the capabilities of", e))?;
        }
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{chown, lchown, symlink};

    #[test]
    fn ids_move_by_the_base_and_set_id_bits_and_links_survive() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let r = d.path().join("rootfs");
        std::fs::create_dir_all(r.join("home/user")).unwrap();
        chown(r.join("home/user"), Some(1000), Some(1000)).unwrap();
        std::fs::write(r.join("su"), "x").unwrap();
        std::fs::set_permissions(r.join("su"), std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::fs::hard_link(r.join("su"), r.join("su-link")).unwrap();
        symlink("home/user", r.join("link")).unwrap();
        lchown(r.join("link"), Some(1000), Some(44)).unwrap();
        std::fs::write(r.join("far"), "x").unwrap();
        chown(r.join("far"), Some(70000), Some(0)).unwrap();
        let n = shift_ownership(&r, 200_000, 300_000).unwrap();
        assert_eq!(n, 6, "rootfs, home, user, su (once), link, far");
        let ids = |p: &str| {
            let m = std::fs::symlink_metadata(r.join(p)).unwrap();
            (m.uid(), m.gid(), m.mode() & 0o7777)
        };
        assert_eq!(ids(""), (200_000, 300_000, 0o755));
        assert_eq!(ids("home/user").0, 201_000);
        assert_eq!(ids("su"), (200_000, 300_000, 0o4755));
        assert_eq!(ids("link").0..=ids("link").1, 201_000..=300_044);
        assert_eq!(ids("far").0..=ids("far").1, 70_000..=300_000);
        // Shifted ids are above 65535, so a second pass changes nothing.
        assert_eq!(shift_ownership(&r, 200_000, 300_000).unwrap(), 0);
    }
}
