//! The one way wslp replaces a file that holds state: `plugins.toml`,
//! `distributions.toml`, the trust store, a signed plugin.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The mode and owner the new file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileAttrs {
    /// Permission bits (set-id bits included), set whatever the umask.
    pub mode: u32,
    /// `(uid, gid)`; `None` keeps the writer's.
    pub owner: Option<(u32, u32)>,
}

impl Default for FileAttrs {
    /// 0644, the writer's: state under `$WSLP_ROOT` is root's to write and
    /// everyone's to read, as HKLM is.
    fn default() -> Self {
        FileAttrs {
            mode: 0o644,
            owner: None,
        }
    }
}

/// [`write_atomic_with`] with [`FileAttrs::default`].
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomic_with(path, contents, FileAttrs::default())
}

/// Replaces `path` with `contents` so that a reader sees the old or the new
/// file, never a mix, even across a crash: a temporary beside it (created
/// exclusively, so nothing planted there is followed), written, given its
/// owner and mode, fsynced, renamed over `path`, then the directory fsynced
/// so the rename itself is durable. The temporary is removed on failure.
///
/// The directory must exist. Concurrent writers of one path each get their own
/// temporary; the last rename wins, so callers that read, modify and write
/// hold a lock around all three.
pub fn write_atomic_with(path: &Path, contents: &[u8], attrs: FileAttrs) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = temporary_beside(dir, path);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(attrs.mode & 0o777)
            .open(&tmp)?;
        f.write_all(contents)?;
        // Owner first: chown clears set-id bits, the chmod after puts them back.
        if let Some((uid, gid)) = attrs.owner {
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
        }
        f.set_permissions(std::fs::Permissions::from_mode(attrs.mode & 0o7777))?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    File::open(dir)?.sync_all()
}

/// `.<name>.<pid>.<n>.tmp` in `dir`: hidden, and unique per process and call.
fn temporary_beside(dir: &Path, path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("reg.toml");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(names(d.path()), ["reg.toml"]);
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o644);
    }

    #[test]
    fn mode_is_set_whatever_the_umask() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        let attrs = FileAttrs {
            mode: 0o2751,
            owner: None,
        };
        write_atomic_with(&p, b"x", attrs).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o2751);
    }

    #[test]
    fn failure_leaves_the_old_file_and_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state");
        write_atomic(&p, b"old").unwrap();
        // Renaming a file over a non-empty directory fails after the write.
        let blocked = d.path().join("dir");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("inside"), b"x").unwrap();
        assert!(write_atomic(&blocked, b"new").is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(names(d.path()), ["dir", "state"]);
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let e = write_atomic(&d.path().join("no/such/file"), b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
