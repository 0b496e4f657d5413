//! Where a distribution's files may live: a place only the service's owner
//! can change, that nobody else can enter.
//!
//! A distribution's directory holds what its tarball carried: set-uid files
//! owned by root, device nodes. Inside the VM they are harmless (its user
//! namespace, nodev), but on the host they are what they say. So its
//! directory is 0700 and root's, and every directory on the way to it is one
//! only root (or the instance's owner) can change: otherwise whoever can
//! rename an entry there could swap the distribution's `etc` (and its users'
//! groups) or the whole tree between two starts.
//!
//! In a per-user instance (SPEC §10) the service is root of a user namespace
//! of its own, where host root and every other host user show as the
//! overflow uid (`/proc/sys/kernel/overflowuid`): that owner is taken for
//! root there. The chain was checked with the real ids before the service
//! entered its namespace (its root) and by the client at import (a
//! distribution's `--location`).
//!
//! A directory that others may write is accepted in one case: owned by root
//! with the sticky bit (`/tmp`). There nobody but root and an entry's owner
//! may rename or remove the entry, and the next directory of the chain must
//! be the owner's anyway, so nobody else can swap it.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::DistroError;

/// How many symlinks a walk follows before it gives up (as the kernel's 40).
const MAX_LINKS: usize = 40;

fn unsafe_dir(path: &Path, dir: &Path, reason: String) -> DistroError {
    DistroError::UnsafeStorage {
        path: path.to_path_buf(),
        dir: dir.to_path_buf(),
        reason,
    }
}

/// Checks every directory (and symlink) from `/` down to `path`, following
/// symlinks as the kernel would: each must be owned by root or by `owner`,
/// and no one else may write it unless it is root's and sticky.
pub fn check_chain(path: &Path, owner: u32) -> Result<(), DistroError> {
    if !path.is_absolute() {
        return Err(unsafe_dir(path, path, "is not an absolute path".into()));
    }
    let root_like = root_uids();
    let owned = |uid: u32| root_like.contains(&uid) || uid == owner;
    let check = |dir: &Path, m: &std::fs::Metadata| -> Result<(), DistroError> {
        if !owned(m.uid()) {
            return Err(unsafe_dir(
                path,
                dir,
                format!(
                    "is owned by uid {}, who could replace what it holds",
                    m.uid()
                ),
            ));
        }
        if m.file_type().is_symlink() {
            return Ok(());
        }
        if !m.is_dir() {
            return Err(unsafe_dir(path, dir, "is not a directory".into()));
        }
        let mode = m.mode();
        let sticky_root = mode & 0o1000 != 0 && root_like.contains(&m.uid());
        if mode & 0o022 != 0 && !sticky_root {
            return Err(unsafe_dir(
                path,
                dir,
                format!(
                    "has mode {:o}: its group or others may rename what it holds",
                    mode & 0o7777
                ),
            ));
        }
        Ok(())
    };
    let meta =
        |p: &Path| std::fs::symlink_metadata(p).map_err(|e| DistroError::io("inspect", p, e));
    let mut cur = PathBuf::from("/");
    check(&cur, &meta(&cur)?)?;
    let mut todo: VecDeque<OsString> = VecDeque::new();
    let push_front = |todo: &mut VecDeque<OsString>, p: &Path| {
        for c in p.components().rev() {
            todo.push_front(c.as_os_str().to_owned());
        }
    };
    push_front(&mut todo, path);
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        match Path::new(&c).components().next() {
            Some(Component::RootDir) => cur = PathBuf::from("/"),
            Some(Component::ParentDir) => {
                cur.pop();
            }
            Some(Component::Normal(name)) => {
                let next = cur.join(name);
                let m = meta(&next)?;
                check(&next, &m)?;
                if m.file_type().is_symlink() {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(unsafe_dir(
                            path,
                            &next,
                            "is one symlink too many (a loop?)".into(),
                        ));
                    }
                    let target = std::fs::read_link(&next)
                        .map_err(|e| DistroError::io("read the symlink", &next, e))?;
                    push_front(&mut todo, &target);
                } else {
                    cur = next;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The uids that stand for host root here: 0, and in a user namespace of
/// our own the overflow uid too (see the module documentation).
fn root_uids() -> Vec<u32> {
    let mut v = vec![0];
    if !wslp_config::in_initial_user_namespace() {
        let overflow = std::fs::read_to_string("/proc/sys/kernel/overflowuid")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(65534);
        v.push(overflow);
    }
    v
}

/// [`check_chain`], then makes `dir` itself (the distribution's directory)
/// 0700 when it is more open: what it holds is for the service alone.
pub fn secure_dir(dir: &Path, owner: u32) -> Result<(), DistroError> {
    check_chain(dir, owner)?;
    let m = std::fs::metadata(dir).map_err(|e| DistroError::io("inspect", dir, e))?;
    if m.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| DistroError::io("make private (chmod 700)", dir, e))?;
        tracing::info!(dir = %dir.display(), "distribution directory made private (0700)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{chown, symlink};

    fn dir_mode(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn root_owned_chains_pass_and_sticky_tmp_is_accepted() {
        // tempdir lives in /tmp: root's, 1777.
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a/b");
        std::fs::create_dir_all(&a).unwrap();
        let me = rustix::process::geteuid().as_raw();
        check_chain(&a, me).unwrap();
        // A symlink in the way is followed and its target checked.
        symlink(&a, d.path().join("link")).unwrap();
        check_chain(&d.path().join("link"), me).unwrap();
        check_chain(&d.path().join("a/../a/b/."), me).unwrap();
    }

    #[test]
    fn a_user_owned_or_writable_directory_is_refused_naming_it() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let user = d.path().join("user");
        let inside = user.join("distro");
        std::fs::create_dir_all(&inside).unwrap();
        chown(&user, Some(1000), Some(1000)).unwrap();
        let e = check_chain(&inside, 0).unwrap_err().to_string();
        assert!(
            e.contains(&format!("'{}' is owned by uid 1000", user.display())),
            "{e}"
        );
        // Unless uid 1000 is the instance's owner.
        check_chain(&inside, 1000).unwrap();
        chown(&user, Some(0), Some(0)).unwrap();
        dir_mode(&user, 0o775);
        let e = check_chain(&inside, 0).unwrap_err().to_string();
        assert!(e.contains("has mode 775"), "{e}");
        // Sticky is not enough for a directory that is not root's.
        dir_mode(&user, 0o1777);
        chown(&user, Some(1000), None).unwrap();
        assert!(check_chain(&inside, 0).is_err());
        // A symlink owned by a user in a sticky directory could be swapped.
        chown(&user, Some(0), None).unwrap();
        let link = user.join("link");
        symlink(&inside, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(1000), None).unwrap();
        let e = check_chain(&link, 0).unwrap_err().to_string();
        assert!(e.contains("link' is owned by uid 1000"), "{e}");
    }

    #[test]
    fn loops_and_relative_paths_are_errors() {
        let d = tempfile::tempdir().unwrap();
        symlink("loop", d.path().join("loop")).unwrap();
        assert!(check_chain(&d.path().join("loop/x"), 0).is_err());
        assert!(check_chain(Path::new("relative/dir"), 0).is_err());
    }

    #[test]
    fn secure_dir_makes_the_directory_private() {
        let d = tempfile::tempdir().unwrap();
        let x = d.path().join("x");
        std::fs::create_dir(&x).unwrap();
        dir_mode(&x, 0o755);
        secure_dir(&x, rustix::process::geteuid().as_raw()).unwrap();
        assert_eq!(std::fs::metadata(&x).unwrap().mode() & 0o7777, 0o700);
    }
}
