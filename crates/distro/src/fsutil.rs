//! Small filesystem helpers: advisory locks, a tree
//! removal that never leaves its filesystem, and reads confined to a rootfs.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, FlockOperation, Mode, OFlags, ResolveFlags};

/// An exclusive `flock` held until drop (closing the descriptor releases it,
/// and so does the death of the process: a `kill -9` never leaves it held).
#[derive(Debug)]
pub(crate) struct FileLock {
    _fd: OwnedFd,
}

impl FileLock {
    /// Blocks until the lock on `path` (created when missing) is ours.
    pub fn exclusive(path: &Path) -> io::Result<FileLock> {
        let fd = rfs::open(
            path,
            OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        loop {
            match rfs::flock(&fd, FlockOperation::LockExclusive) {
                Err(rustix::io::Errno::INTR) => continue,
                r => r?,
            }
            break;
        }
        Ok(FileLock { _fd: fd })
    }

    /// Takes the lock on an already open file or directory without waiting;
    /// `Ok(None)` when someone else holds it.
    pub fn try_on(fd: OwnedFd) -> io::Result<Option<FileLock>> {
        match rfs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(FileLock { _fd: fd })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Opens a directory for `*at` calls.
pub(crate) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rfs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Removes `name` in `parent` and everything under it without following
/// symlinks and without descending into anything mounted below it (a
/// distribution's rootfs may still carry a mount, and a recursive delete
/// through a bind mount of `/` is the classic way to wipe a host). A mount
/// point makes the removal fail instead.
pub(crate) fn remove_tree_at(parent: impl AsFd, name: &OsStr) -> io::Result<()> {
    let parent = parent.as_fd();
    let st = match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Ok(rfs::unlinkat(parent, name, AtFlags::empty())?);
    }
    let dev = st.st_dev;
    remove_dir_contents(parent, name, dev, 0)?;
    Ok(rfs::unlinkat(parent, name, AtFlags::REMOVEDIR)?)
}

fn remove_dir_contents(
    parent: rustix::fd::BorrowedFd<'_>,
    name: &OsStr,
    dev: u64,
    depth: usize,
) -> io::Result<()> {
    if depth > 4096 {
        return Err(io::Error::other("directory tree too deep to remove"));
    }
    let fd = rfs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rfs::fstat(&fd)?;
    if st.st_dev != dev {
        return Err(io::Error::other(format!(
            "'{}' is a mount point; unmount it first",
            name.to_string_lossy()
        )));
    }
    // Collect first: unlinking while reading a directory stream may skip
    // entries.
    let mut names = Vec::new();
    for ent in rfs::Dir::read_from(&fd)? {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n == b"." || n == b".." {
            continue;
        }
        let is_dir = match ent.file_type() {
            FileType::Directory => true,
            FileType::Unknown => {
                let st = rfs::statat(&fd, OsStr::from_bytes(n), AtFlags::SYMLINK_NOFOLLOW)?;
                FileType::from_raw_mode(st.st_mode) == FileType::Directory
            }
            _ => false,
        };
        names.push((OsStr::from_bytes(n).to_owned(), is_dir));
    }
    for (n, is_dir) in names {
        if is_dir {
            remove_dir_contents(fd.as_fd(), &n, dev, depth + 1)?;
            rfs::unlinkat(&fd, &n, AtFlags::REMOVEDIR)?;
        } else {
            rfs::unlinkat(&fd, &n, AtFlags::empty())?;
        }
    }
    Ok(())
}

/// Removes the directory at `path` like [`remove_tree_at`].
pub(crate) fn remove_tree(path: &Path) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("cannot remove a root directory"))?;
    remove_tree_at(open_dir(parent)?, name)
}

/// Reads `rel` inside the directory tree `root` as if `root` were `/`:
/// symlinks, absolute or with `..`, cannot leave it (openat2
/// RESOLVE_IN_ROOT, the kernel's chroot-style lookup). Only a regular file is
/// read, at most `limit` bytes, and opening never blocks on a FIFO.
/// `Ok(None)` when there is no such file.
pub(crate) fn read_in_root(root: &Path, rel: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let root = open_dir(root)?;
    let fd = match rfs::openat2(
        &root,
        rel,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT)
        | Err(rustix::io::Errno::NOTDIR)
        | Err(rustix::io::Errno::LOOP) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(rfs::fstat(&fd)?.st_mode) != FileType::RegularFile {
        return Ok(None);
    }
    let mut buf = Vec::new();
    File::from(fd).take(limit).read_to_end(&mut buf)?;
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_tree_does_not_follow_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"x").unwrap();
        let victim = d.path().join("victim");
        std::fs::create_dir_all(victim.join("a/b")).unwrap();
        std::fs::write(victim.join("a/b/f"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, victim.join("a/link")).unwrap();
        remove_tree(&victim).unwrap();
        assert!(!victim.exists());
        assert!(outside.join("keep").exists());
    }

    #[test]
    fn read_in_root_keeps_absolute_symlinks_inside() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(d.path().join("secret"), b"host").unwrap();
        // Points at the host file when followed naively.
        let host_path = d.path().join("secret");
        std::os::unix::fs::symlink(&host_path, root.join("etc/abs")).unwrap();
        std::os::unix::fs::symlink("../../../../../secret", root.join("etc/rel")).unwrap();
        assert_eq!(read_in_root(&root, "etc/abs", 100).unwrap(), None);
        assert_eq!(read_in_root(&root, "etc/rel", 100).unwrap(), None);
        std::fs::write(root.join("secret"), b"inside").unwrap();
        assert_eq!(
            read_in_root(&root, "etc/rel", 100).unwrap().unwrap(),
            b"inside"
        );
    }

    #[test]
    fn lock_is_exclusive_between_open_file_descriptions() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l");
        let held = FileLock::exclusive(&p).unwrap();
        let other = rfs::open(&p, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()).unwrap();
        assert!(FileLock::try_on(other).unwrap().is_none());
        drop(held);
        let other = rfs::open(&p, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()).unwrap();
        assert!(FileLock::try_on(other).unwrap().is_some());
    }
}
