//! The trust store: `$WSLP_ROOT/trust/`, one PEM certificate per file named
//! `<sha256 fingerprint>.pem`, the counterpart of Windows' Trusted Publishers
//! and Root stores. Writable only by root (SPEC §2).

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::fs as rfs;

use wslp_config::fs::{write_atomic_with, FileAttrs};

use crate::cert::{describe, fingerprint, normalize_fingerprint, Certificate};
use crate::error::TrustError;
use crate::Signer;

/// A PEM file larger than this in the store is skipped: certificates are a
/// few KiB, and the store is read at every plugin load.
const MAX_STORE_FILE: u64 = 1 << 20;

/// The trusted certificates under one directory (`$WSLP_ROOT/trust`).
#[derive(Debug, Clone)]
pub struct TrustStore {
    dir: PathBuf,
}

impl TrustStore {
    /// Opens the store at `trust_dir`; nothing is read or created until used.
    pub fn open(trust_dir: &Path) -> Self {
        TrustStore {
            dir: trust_dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Trusts the (first) certificate in `cert_pem`: a self-signed signer, or
    /// a CA whose leaves are then trusted. Adding a certificate already there
    /// succeeds and changes nothing. Root only.
    pub fn add(&self, cert_pem: &Path) -> Result<Signer, TrustError> {
        self.require_admin("adding to the trust store")?;
        let cert = Certificate::read_pem_file(cert_pem)?.swap_remove(0);
        let signer = describe(&cert);
        self.ensure_dir()?;
        let pem = cert.to_pem();
        let path = self.dir.join(format!("{}.pem", signer.fingerprint_sha256));
        write_atomically(&path, &pem)?;
        tracing::info!(subject = %signer.subject, fingerprint = %signer.fingerprint_sha256, "certificate trusted");
        Ok(signer)
    }

    /// Every certificate in the store, sorted by subject then fingerprint.
    /// A missing store is an empty one.
    pub fn list(&self) -> Result<Vec<Signer>, TrustError> {
        let mut out = Vec::new();
        for StoreFile { certs, .. } in read_dir_certs(&self.dir)? {
            for c in certs {
                out.push(describe(&c));
            }
        }
        out.sort_by(|a, b| {
            (a.subject.as_str(), a.fingerprint_sha256.as_str())
                .cmp(&(b.subject.as_str(), b.fingerprint_sha256.as_str()))
        });
        out.dedup_by(|a, b| a.fingerprint_sha256 == b.fingerprint_sha256);
        Ok(out)
    }

    /// Stops trusting the certificate with this SHA-256 fingerprint (hex,
    /// colons allowed), wherever in the store it is. Root only.
    pub fn remove(&self, fingerprint_hex: &str) -> Result<(), TrustError> {
        self.require_admin("removing from the trust store")?;
        let wanted = normalize_fingerprint(fingerprint_hex)?;
        let mut found = false;
        for StoreFile { path, certs, .. } in read_dir_certs(&self.dir)? {
            let mut keep = Vec::new();
            let mut hit = false;
            for c in certs {
                if fingerprint(&c) == wanted {
                    hit = true;
                } else {
                    keep.push(c);
                }
            }
            if !hit {
                continue;
            }
            found = true;
            if keep.is_empty() {
                fs::remove_file(&path).map_err(|e| TrustError::io("cannot remove", &path, e))?;
            } else {
                // A hand-placed bundle: keep its other certificates.
                let mut pem = Vec::new();
                for c in &keep {
                    pem.extend(c.to_pem());
                }
                write_atomically(&path, &pem)?;
            }
        }
        if !found {
            return Err(TrustError::NotFound {
                fingerprint: wanted,
                dir: self.dir.clone(),
            });
        }
        tracing::info!(fingerprint = %wanted, "certificate no longer trusted");
        Ok(())
    }

    /// 0755, root-owned, created when missing.
    fn ensure_dir(&self) -> Result<(), TrustError> {
        fs::create_dir_all(&self.dir)
            .map_err(|e| TrustError::io("cannot create the trust store", &self.dir, e))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o755))
            .map_err(|e| TrustError::io("cannot set the mode of", &self.dir, e))?;
        // A per-user instance's store is its owner's (SPEC §10).
        if !nix::unistd::geteuid().is_root() {
            return Ok(());
        }
        std::os::unix::fs::chown(&self.dir, Some(0), Some(0))
            .map_err(|e| TrustError::io("cannot give root the trust store", &self.dir, e))
    }

    /// Refuses store changes unless we are root, or the owner of the
    /// per-user instance whose store this is (the owner of its root, the
    /// store's parent directory).
    fn require_admin(&self, action: &str) -> Result<(), TrustError> {
        let euid = nix::unistd::geteuid().as_raw();
        let instance_owner =
            self.dir
                .parent()
                .map(|root| match wslp_config::Paths::new(root).kind() {
                    wslp_config::InstanceKind::System => 0,
                    wslp_config::InstanceKind::PerUser { uid } => uid,
                });
        if euid != 0 && instance_owner == Some(euid) {
            return Ok(());
        }
        require_root_as(euid, action)
    }
}

pub(crate) fn require_root_as(euid: u32, action: &str) -> Result<(), TrustError> {
    if euid != 0 {
        return Err(TrustError::NotRoot {
            action: action.to_string(),
        });
    }
    Ok(())
}

/// One certificate file of the store, with the owner and mode of the
/// descriptor it was read through.
pub(crate) struct StoreFile {
    pub path: PathBuf,
    pub certs: Vec<Certificate>,
    pub uid: u32,
    pub mode: u32,
}

/// The store directory, opened without following a symlink, with its owner
/// and mode from that descriptor. `None` when it does not exist.
pub(crate) fn open_store_dir(dir: &Path) -> Result<Option<(OwnedFd, rfs::Stat)>, TrustError> {
    let fd = match rfs::open(
        dir,
        rfs::OFlags::RDONLY | rfs::OFlags::DIRECTORY | rfs::OFlags::NOFOLLOW | rfs::OFlags::CLOEXEC,
        rfs::Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(rustix::io::Errno::LOOP) | Err(rustix::io::Errno::NOTDIR) => {
            return Err(TrustError::io(
                "cannot use the trust store",
                dir,
                std::io::Error::other(
                    "it is a symbolic link or not a directory; the store must be a real directory",
                ),
            ))
        }
        Err(e) => return Err(TrustError::io("cannot read the trust store", dir, e.into())),
    };
    let st = rfs::fstat(&fd)
        .map_err(|e| TrustError::io("cannot read the trust store", dir, e.into()))?;
    Ok(Some((fd, st)))
}

/// Every readable `*.pem` in `dir`, by file name, each opened relative to the
/// directory's descriptor without following a symlink and checked with
/// `fstat` on the descriptor it is read from. A file that does not parse is
/// skipped with a warning rather than making every plugin untrusted.
pub(crate) fn read_dir_certs(dir: &Path) -> Result<Vec<StoreFile>, TrustError> {
    let Some((dfd, _)) = open_store_dir(dir)? else {
        return Ok(Vec::new());
    };
    read_certs_at(&dfd, dir)
}

pub(crate) fn read_certs_at(dfd: &OwnedFd, dir: &Path) -> Result<Vec<StoreFile>, TrustError> {
    use std::io::Read;
    let mut names: Vec<std::ffi::OsString> = Vec::new();
    let entries = rfs::Dir::read_from(dfd)
        .map_err(|e| TrustError::io("cannot read the trust store", dir, e.into()))?;
    for e in entries {
        let e = e.map_err(|e| TrustError::io("cannot read the trust store", dir, e.into()))?;
        let name = std::ffi::OsStr::from_bytes(e.file_name().to_bytes()).to_os_string();
        if Path::new(&name).extension().is_some_and(|x| x == "pem") {
            names.push(name);
        }
    }
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let opened = rfs::openat(
            dfd,
            name.as_os_str(),
            rfs::OFlags::RDONLY
                | rfs::OFlags::NOFOLLOW
                | rfs::OFlags::CLOEXEC
                | rfs::OFlags::NONBLOCK,
            rfs::Mode::empty(),
        );
        let Ok(fd) = opened else {
            tracing::warn!(path = %path.display(), "trust store entry cannot be opened (a symbolic link?); ignored");
            continue;
        };
        let st = match rfs::fstat(&fd) {
            Ok(st)
                if rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::RegularFile
                    && (st.st_size as u64) <= MAX_STORE_FILE =>
            {
                st
            }
            _ => {
                tracing::warn!(path = %path.display(), "trust store entry is not a regular file of at most 1 MiB; ignored");
                continue;
            }
        };
        let mut pem = Vec::new();
        let parsed = fs::File::from(fd)
            .read_to_end(&mut pem)
            .ok()
            .and_then(|_| Certificate::from_pem(&pem).ok());
        match parsed {
            Some(certs) if !certs.is_empty() => out.push(StoreFile {
                path,
                certs,
                uid: st.st_uid,
                mode: st.st_mode,
            }),
            _ => {
                tracing::warn!(path = %path.display(), "trust store file holds no PEM certificate; ignored")
            }
        }
    }
    Ok(out)
}

/// A 0644 file owned by root (whatever group sudo or a service manager left
/// us in), replaced atomically.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TrustError> {
    // Root's in the system instance; a per-user instance's owner's own.
    let attrs = FileAttrs {
        mode: 0o644,
        owner: nix::unistd::geteuid().is_root().then_some((0, 0)),
    };
    write_atomic_with(path, bytes, attrs).map_err(|e| TrustError::io("cannot write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_root_is_refused_with_a_clear_message() {
        let err = require_root_as(1000, "adding to the trust store").unwrap_err();
        assert!(matches!(err, TrustError::NotRoot { .. }));
        assert!(err.to_string().contains("needs root"), "{err}");
        assert_eq!(err.exit_code(), crate::exit::NOT_ROOT);
        assert!(require_root_as(0, "x").is_ok());
    }
}
