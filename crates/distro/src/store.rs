//! The distribution store: the registry file, its lock, and the import and
//! unregister procedures that keep it consistent with the disk.

use std::ffi::OsStr;
use std::io::{IsTerminal, Read};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, Mode, RenameFlags};
use uuid::Uuid;

use crate::extract::{open_tar_stream, unpack};
use crate::fsutil::{open_dir, remove_tree, remove_tree_at, FileLock};
use crate::name::{same_name, validate_name};
use crate::registry::{Entry, Registry};
use crate::DistroError;
use wslp_config::write_atomic;

/// The registry file name under `$WSLP_ROOT`.
pub const REGISTRY_FILE: &str = "distributions.toml";
/// The lock serialising registry writers.
pub const LOCK_FILE: &str = "distributions.lock";
/// Where a distribution's root filesystem lives inside its directory.
pub const ROOTFS_DIR: &str = "rootfs";
/// Prefix of the hidden staging directories an import extracts into.
pub const STAGING_PREFIX: &str = ".wslp-import-";

/// Where an import reads its tarball from.
pub enum ImportSource {
    /// A file; its size drives the progress bar.
    Path(PathBuf),
    /// A stream: standard input, or a descriptor passed over a socket.
    Reader(Box<dyn Read + Send>),
}

impl std::fmt::Debug for ImportSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportSource::Path(p) => f.debug_tuple("Path").field(p).finish(),
            ImportSource::Reader(_) => f.write_str("Reader(..)"),
        }
    }
}

/// One registered distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistroRecord {
    /// GUID fixed at import; plugins see it as the distribution's `Id`.
    pub id: Uuid,
    pub name: String,
    /// The DIR given at import.
    pub base_path: PathBuf,
    /// `base_path/rootfs`.
    pub rootfs: PathBuf,
    pub default_uid: u32,
    /// Always 2 (a WSL 2 style distribution).
    pub version: u32,
    pub is_default: bool,
    /// `(uid_base, gid_base)`: the files are stored with the host ids of a
    /// VM range from these (their filesystem cannot be idmapped); `None`:
    /// stored with their own ids, shown through an idmapped mount.
    pub shifted: Option<(u32, u32)>,
}

/// A distribution's default user, as [`DistroRecord::default_user`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultUser {
    /// The user's name; `None` when the stored uid has no passwd entry.
    pub name: Option<String>,
    /// The stored uid; `None` when the name comes from wsl.conf (it is
    /// resolved at start, where an unknown name is an error, as `-u` is).
    pub uid: Option<u32>,
    pub from_wsl_conf: bool,
}

impl DefaultUser {
    /// Root, the default of every distribution nobody configured.
    pub fn is_root(&self) -> bool {
        self.uid == Some(0) || (self.uid.is_none() && self.name.as_deref() == Some("root"))
    }

    /// For `--status`: `dev (from /etc/wsl.conf)`, `dev (uid 1000)`, `uid 1000`.
    pub fn describe(&self) -> String {
        match (&self.name, self.uid) {
            (Some(n), _) if self.from_wsl_conf => format!("{n} (from {})", crate::WSL_CONF),
            (Some(n), Some(uid)) => format!("{n} (uid {uid})"),
            (None, Some(uid)) => format!("uid {uid}"),
            (Some(n), None) => n.clone(),
            (None, None) => "root".into(),
        }
    }

    /// For `-l -v`: the name, else the uid.
    pub fn short(&self) -> String {
        match (&self.name, self.uid) {
            (Some(n), _) => n.clone(),
            (None, Some(uid)) => uid.to_string(),
            (None, None) => "root".into(),
        }
    }
}

impl DistroRecord {
    /// Who commands without `-u` run as: wsl.conf's `[user] default` when
    /// set (SPEC §12: it wins), else the stored default uid, named from the
    /// distribution's own passwd where it is there.
    pub fn default_user(&self) -> DefaultUser {
        match crate::read_wsl_conf(&self.rootfs).0.default_user {
            Some(name) => DefaultUser {
                name: Some(name),
                uid: None,
                from_wsl_conf: true,
            },
            None => DefaultUser {
                name: crate::lookup_uid(&self.rootfs, self.default_uid)
                    .ok()
                    .map(|u| u.name),
                uid: Some(self.default_uid),
                from_wsl_conf: false,
            },
        }
    }

    fn from_entry(e: &Entry, default: Option<Uuid>) -> Self {
        DistroRecord {
            id: e.id,
            name: e.name.clone(),
            rootfs: e.base_path.join(ROOTFS_DIR),
            base_path: e.base_path.clone(),
            default_uid: e.default_uid,
            version: e.version,
            is_default: default == Some(e.id),
            shifted: e.shifted,
        }
    }
}

/// The distributions registered under one `$WSLP_ROOT`.
#[derive(Debug, Clone)]
pub struct DistroStore {
    root: PathBuf,
    registry: PathBuf,
    lock: PathBuf,
}

/// What `prepare_dir` found in an import's target directory.
struct Prepared {
    created: bool,
}

impl DistroStore {
    /// Opens the store rooted at `wslp_root`, creating the directory when
    /// missing. The registry file itself is created by the first import.
    pub fn open(wslp_root: &Path) -> Result<Self, DistroError> {
        std::fs::create_dir_all(wslp_root)
            .map_err(|e| DistroError::io("create the wslp root", wslp_root, e))?;
        Ok(DistroStore {
            root: wslp_root.to_path_buf(),
            registry: wslp_root.join(REGISTRY_FILE),
            lock: wslp_root.join(LOCK_FILE),
        })
    }

    /// The `$WSLP_ROOT` this store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The registry file's path.
    pub fn registry_path(&self) -> &Path {
        &self.registry
    }

    /// Readers need no lock: the file is only ever replaced by a rename.
    fn read(&self) -> Result<Registry, DistroError> {
        match std::fs::read(&self.registry) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|e| DistroError::RegistrySyntax {
                    path: self.registry.clone(),
                    line: {
                        let ok = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                        ok.iter().filter(|&&b| b == b'\n').count() + 1
                    },
                    column: 1,
                    message: "the file is not UTF-8".into(),
                })?;
                Registry::parse(&text, &self.registry)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registry::default()),
            Err(e) => Err(DistroError::io("read", &self.registry, e)),
        }
    }

    fn lock(&self) -> Result<FileLock, DistroError> {
        FileLock::exclusive(&self.lock).map_err(|e| DistroError::io("lock", &self.lock, e))
    }

    fn write(&self, reg: &Registry, _held: &FileLock) -> Result<(), DistroError> {
        write_atomic(&self.registry, reg.render().as_bytes())
            .map_err(|e| DistroError::io("write", &self.registry, e))
    }

    /// Read-modify-write under the lock.
    fn update<T>(
        &self,
        f: impl FnOnce(&mut Registry) -> Result<T, DistroError>,
    ) -> Result<T, DistroError> {
        let held = self.lock()?;
        let mut reg = self.read()?;
        let out = f(&mut reg)?;
        self.write(&reg, &held)?;
        Ok(out)
    }

    /// All distributions, in registration order.
    pub fn list(&self) -> Result<Vec<DistroRecord>, DistroError> {
        let reg = self.read()?;
        Ok(reg
            .entries
            .iter()
            .map(|e| DistroRecord::from_entry(e, reg.default))
            .collect())
    }

    /// The distribution named `name`, compared case-insensitively like WSL.
    pub fn get(&self, name: &str) -> Result<DistroRecord, DistroError> {
        let reg = self.read()?;
        reg.find(name)
            .map(|e| DistroRecord::from_entry(e, reg.default))
            .ok_or_else(|| DistroError::NotFound {
                name: name.to_string(),
            })
    }

    /// The distribution with GUID `id`.
    pub fn get_by_id(&self, id: Uuid) -> Result<DistroRecord, DistroError> {
        let reg = self.read()?;
        reg.entries
            .iter()
            .find(|e| e.id == id)
            .map(|e| DistroRecord::from_entry(e, reg.default))
            .ok_or(DistroError::IdNotFound { id })
    }

    /// The default distribution, if any is registered.
    pub fn default(&self) -> Result<Option<DistroRecord>, DistroError> {
        Ok(self.list()?.into_iter().find(|r| r.is_default))
    }

    /// Makes `name` the default distribution.
    pub fn set_default(&self, name: &str) -> Result<(), DistroError> {
        self.update(|reg| {
            let id = reg
                .find(name)
                .ok_or_else(|| DistroError::NotFound {
                    name: name.to_string(),
                })?
                .id;
            reg.default = Some(id);
            Ok(())
        })
    }

    /// Sets the uid that `wslp -d NAME` runs as when no `-u` is given.
    pub fn set_default_uid(&self, name: &str, uid: u32) -> Result<(), DistroError> {
        self.update(|reg| {
            let e = reg
                .entries
                .iter_mut()
                .find(|e| same_name(&e.name, name))
                .ok_or_else(|| DistroError::NotFound {
                    name: name.to_string(),
                })?;
            e.default_uid = uid;
            Ok(())
        })
    }

    /// Stores `name`'s files with the host ids from `uid_base` and `gid_base`
    /// (see [`crate::shift_ownership`]) and records it.
    pub fn store_shifted(
        &self,
        name: &str,
        uid_base: u32,
        gid_base: u32,
    ) -> Result<u64, DistroError> {
        let record = self.get(name)?;
        if record.shifted.is_some() {
            return Ok(0);
        }
        let n = crate::shift::shift_ownership(&record.rootfs, uid_base, gid_base)?;
        self.update(|reg| {
            let e = reg
                .entries
                .iter_mut()
                .find(|e| e.id == record.id)
                .ok_or_else(|| DistroError::NotFound {
                    name: name.to_string(),
                })?;
            e.shifted = Some((uid_base, gid_base));
            Ok(())
        })?;
        tracing::info!(
            distro = name,
            uid_base,
            gid_base,
            files = n,
            "distribution stored with shifted ids"
        );
        Ok(n)
    }

    /// Extracts `source` into `<dir>/rootfs` and registers it as `name`. The
    /// first distribution imported becomes the default.
    ///
    /// All checks that can fail without reading the whole tarball (name,
    /// target directory, "is it a tarball at all") run before anything is
    /// created. The archive is extracted into a hidden staging directory in
    /// `dir`, flushed with one `syncfs`, renamed to `rootfs` and only then
    /// registered, under the registry lock. On any error the staging
    /// directory (and `dir`, when the import created it) is removed; after a
    /// crash or `kill -9` nothing is registered and the next import into
    /// `dir` clears the leftovers.
    ///
    /// `dir` becomes 0700, and every directory on the way to it must be one
    /// only root (or the importing user) can change ([`crate::check_chain`]):
    /// the tarball's set-uid files and device nodes are kept.
    pub fn import(
        &self,
        name: &str,
        dir: &Path,
        source: ImportSource,
        progress: bool,
    ) -> Result<DistroRecord, DistroError> {
        validate_name(name)?;
        let dir = std::path::absolute(dir).map_err(|e| DistroError::io("resolve", dir, e))?;
        if dir.to_str().is_none() {
            return Err(DistroError::NonUtf8Path { path: dir });
        }
        let reg = self.read()?;
        check_free(&reg, name, &dir)?;

        let (reader, source_name, total): (Box<dyn Read + Send>, String, Option<u64>) = match source
        {
            ImportSource::Path(p) => {
                let f = std::fs::File::open(&p)
                    .map_err(|e| DistroError::io("open the tarball", &p, e))?;
                let len = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
                (Box::new(f), format!("'{}'", p.display()), len)
            }
            ImportSource::Reader(r) => (r, "the tarball stream".to_string(), None),
        };
        let bar = (progress && std::io::stderr().is_terminal()).then(|| progress_bar(total, name));
        let reader: Box<dyn Read + Send> = match &bar {
            Some(b) => Box::new(b.wrap_read(reader)),
            None => reader,
        };
        let stream = open_tar_stream(reader, &source_name)?;

        let prepared = prepare_dir(&dir, &reg)?;
        let cleanup_dir = |prepared: &Prepared| {
            if prepared.created {
                let _ = std::fs::remove_dir(&dir);
            }
        };
        // Set-uid files and device nodes of the tarball land here: nobody but
        // the instance's owner may enter DIR or swap anything on the way to it.
        if let Err(e) = crate::storage::secure_dir(&dir, rustix::process::geteuid().as_raw()) {
            cleanup_dir(&prepared);
            return Err(e);
        }
        let staging_name = format!("{STAGING_PREFIX}{}", Uuid::new_v4().simple());
        let staging = dir.join(&staging_name);
        let staged = (|| {
            // 0700: half-extracted set-uid files stay out of other users' reach.
            std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
                .create(&staging)
                .map_err(|e| DistroError::io("create", &staging, e))?;
            let sfd = open_dir(&staging).map_err(|e| DistroError::io("open", &staging, e))?;
            // Held until this function returns (or the process dies): tells
            // a concurrent import into `dir` that this staging is live.
            let lock = FileLock::try_on(
                sfd.try_clone()
                    .map_err(|e| DistroError::io("open", &staging, e))?,
            )
            .map_err(|e| DistroError::io("lock", &staging, e))?
            .ok_or_else(|| DistroError::ImportInProgress { dir: dir.clone() })?;
            rfs::mkdirat(&sfd, ROOTFS_DIR, Mode::from_raw_mode(0o755))
                .map_err(|e| DistroError::io("create", staging.join(ROOTFS_DIR), e.into()))?;
            rfs::chmodat(
                &sfd,
                ROOTFS_DIR,
                Mode::from_raw_mode(0o755),
                rfs::AtFlags::empty(),
            )
            .map_err(|e| DistroError::io("chmod", staging.join(ROOTFS_DIR), e.into()))?;
            // Relative to the staging descriptor: nothing swapped in on the
            // way (a symlink in place of rootfs) is followed.
            let rootfs_fd = rfs::openat(
                &sfd,
                ROOTFS_DIR,
                rfs::OFlags::RDONLY
                    | rfs::OFlags::DIRECTORY
                    | rfs::OFlags::NOFOLLOW
                    | rfs::OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| DistroError::io("open", staging.join(ROOTFS_DIR), e.into()))?;
            let stats = unpack(stream, rootfs_fd.as_fd(), &source_name)?;
            // One flush for the whole tree instead of one per file.
            rfs::syncfs(&rootfs_fd).map_err(|e| DistroError::io("sync", &staging, e.into()))?;
            tracing::debug!(?stats, distro = name, "tarball extracted");
            Ok::<_, DistroError>((sfd, lock))
        })();
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        let (sfd, _staging_lock) = match staged {
            Ok(v) => v,
            Err(e) => {
                if let Err(rm) = remove_tree(&staging) {
                    tracing::warn!(path = %staging.display(), error = %rm, "could not remove the staging directory");
                }
                cleanup_dir(&prepared);
                return Err(e);
            }
        };

        let id = Uuid::new_v4();
        let registered = (|| {
            let held = self.lock()?;
            let mut reg = self.read()?;
            // Checked again under the lock: another import may have won.
            check_free(&reg, name, &dir)?;
            let dfd = open_dir(&dir).map_err(|e| DistroError::io("open", &dir, e))?;
            rfs::renameat_with(&sfd, ROOTFS_DIR, &dfd, ROOTFS_DIR, RenameFlags::NOREPLACE)
                .or_else(|e| match e {
                    // A filesystem without RENAME_NOREPLACE (some FUSE and
                    // network ones): prepare_dir emptied DIR, and we hold the
                    // registry lock, so a plain rename is as safe here.
                    rustix::io::Errno::INVAL => rfs::renameat(&sfd, ROOTFS_DIR, &dfd, ROOTFS_DIR),
                    e => Err(e),
                })
                .map_err(|e| {
                    if e == rustix::io::Errno::EXIST {
                        DistroError::DirNotEmpty { dir: dir.clone() }
                    } else {
                        DistroError::io(
                            "move the imported files into",
                            dir.join(ROOTFS_DIR),
                            e.into(),
                        )
                    }
                })?;
            // The staging directory goes before the registry names the
            // rootfs: a crash after this leaves no staging beside a
            // registered rootfs for a later import to take for leftovers.
            if let Some(staging_name) = staging.file_name() {
                if let Err(e) = rfs::unlinkat(&dfd, staging_name, rfs::AtFlags::REMOVEDIR) {
                    tracing::warn!(path = %staging.display(), error = %e, "could not remove the staging directory");
                }
            }
            reg.entries.push(Entry {
                id,
                name: name.to_string(),
                base_path: dir.clone(),
                default_uid: 0,
                version: 2,
                shifted: None,
            });
            if reg.default.is_none() {
                reg.default = Some(id);
            }
            if let Err(e) = rfs::fsync(&dfd)
                .map_err(std::io::Error::from)
                .and_then(|()| write_atomic(&self.registry, reg.render().as_bytes()))
            {
                // Not registered: take the files back out.
                let _ = remove_tree_at(&dfd, OsStr::new(ROOTFS_DIR));
                return Err(DistroError::io("write", &self.registry, e));
            }
            drop(held);
            Ok(DistroRecord::from_entry(
                reg.entries.last().expect("just pushed"),
                reg.default,
            ))
        })();
        let _ = remove_tree(&staging);
        match registered {
            Ok(r) => {
                tracing::info!(distro = name, id = %r.id, path = %dir.display(), "distribution imported");
                Ok(r)
            }
            Err(e) => {
                cleanup_dir(&prepared);
                Err(e)
            }
        }
    }

    /// Removes `name` from the registry, then deletes its `rootfs` (never
    /// crossing into a mount) and its directory when that is left empty. If
    /// it was the default, the first remaining distribution becomes the
    /// default, as WSL picks another one.
    pub fn unregister(&self, name: &str) -> Result<DistroRecord, DistroError> {
        let record = self.update(|reg| {
            let pos = reg
                .entries
                .iter()
                .position(|e| same_name(&e.name, name))
                .ok_or_else(|| DistroError::NotFound {
                    name: name.to_string(),
                })?;
            let rec = DistroRecord::from_entry(&reg.entries[pos], reg.default);
            reg.entries.remove(pos);
            if reg.default == Some(rec.id) {
                reg.default = reg.entries.first().map(|e| e.id);
            }
            Ok(rec)
        })?;
        let files_gone = remove_tree(&record.rootfs).and_then(|()| {
            remove_stale_staging(&record.base_path)?;
            match std::fs::remove_dir(&record.base_path) {
                Ok(()) => Ok(()),
                // The user's own files next to rootfs stay, as WSL leaves the
                // folder of an unregistered distribution.
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTEMPTY.raw_os_error()) => {
                    Ok(())
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            }
        });
        if let Err(cause) = files_gone {
            return Err(DistroError::RemoveFiles {
                name: record.name,
                path: record.base_path,
                cause,
            });
        }
        tracing::info!(distro = %record.name, id = %record.id, "distribution unregistered");
        Ok(record)
    }
}

/// Where an export goes.
pub enum ExportDest {
    /// A file, created atomically (see [`crate::write_file_atomically`]).
    Path(PathBuf),
    /// Standard output (`-`).
    Stdout,
}

impl DistroStore {
    /// `wslp --export`: the files of `name` as a tarball of `format` (SPEC
    /// §12). The caller stops the distribution first. `progress` draws a
    /// bar on stderr.
    pub fn export(
        &self,
        name: &str,
        dest: ExportDest,
        format: crate::ExportFormat,
        progress: bool,
    ) -> Result<crate::ExportStats, DistroError> {
        let record = self.get(name)?;
        let bar = progress.then(|| {
            let b = progress_bar(Some(crate::tree_size(&record.rootfs)), name);
            b.set_message(format!("Exporting {name}"));
            b
        });
        let tick = |n: u64| {
            if let Some(b) = &bar {
                b.set_position(n);
            }
        };
        let shift = record.shifted;
        let stats = match dest {
            ExportDest::Stdout => {
                let mut out = std::io::BufWriter::with_capacity(
                    crate::export::COPY_BUF,
                    std::io::stdout().lock(),
                );
                let stats = crate::export_tree(&record.rootfs, &mut out, format, shift, &tick)?;
                std::io::Write::flush(&mut out)
                    .map_err(|e| DistroError::io("write", "standard output", e))?;
                stats
            }
            ExportDest::Path(p) => {
                let mut stats = crate::ExportStats::default();
                crate::write_file_atomically(&p, |f| {
                    let mut out = std::io::BufWriter::with_capacity(crate::export::COPY_BUF, f);
                    stats = crate::export_tree(&record.rootfs, &mut out, format, shift, &tick)?;
                    std::io::Write::flush(&mut out).map_err(|e| DistroError::io("write", &p, e))
                })?;
                stats
            }
        };
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        tracing::info!(distro = %name, entries = stats.entries, bytes = stats.bytes, "distribution exported");
        Ok(stats)
    }
}

fn progress_bar(total: Option<u64>, name: &str) -> indicatif::ProgressBar {
    let bar = match total {
        Some(n) => indicatif::ProgressBar::new(n).with_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        ),
        None => indicatif::ProgressBar::new_spinner().with_style(
            indicatif::ProgressStyle::with_template("{msg} {spinner} {bytes} {bytes_per_sec}")
                .expect("static template"),
        ),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar.set_message(format!("Importing {name}"));
    bar
}

fn check_free(reg: &Registry, name: &str, dir: &Path) -> Result<(), DistroError> {
    if let Some(e) = reg.find(name) {
        return Err(DistroError::AlreadyExists {
            name: e.name.clone(),
        });
    }
    if let Some(e) = reg.entries.iter().find(|e| same_dir(&e.base_path, dir)) {
        return Err(DistroError::DirInUse {
            dir: dir.to_path_buf(),
            owner: e.name.clone(),
        });
    }
    Ok(())
}

/// Whether `a` and `b` name one directory: the same (device, inode) once
/// symlinks are followed, or the same text when either is missing. Text alone
/// let an import through a symlink reach a registered distribution's files.
fn same_dir(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(ma), Ok(mb)) => ma.dev() == mb.dev() && ma.ino() == mb.ino(),
        _ => a == b,
    }
}

fn is_staging(name: &OsStr) -> bool {
    name.as_bytes().starts_with(STAGING_PREFIX.as_bytes())
}

/// Removes staging directories no live import holds; errors if one is held.
fn remove_stale_staging(dir: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for ent in rd {
        let ent = ent?;
        if is_staging(&ent.file_name()) && ent.file_type().is_ok_and(|t| t.is_dir()) {
            let p = ent.path();
            if let Ok(fd) = open_dir(&p) {
                if FileLock::try_on(fd)?.is_none() {
                    return Err(std::io::Error::other(format!(
                        "'{}' is in use by a running import",
                        p.display()
                    )));
                }
            }
            remove_tree(&p)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Makes sure `dir` is an empty directory, creating it when missing. A
/// directory holding only leftovers of a crashed import counts as empty:
/// stale staging directories, and a `rootfs` next to one (the crash came
/// between the rename and the registry write; the caller checked that no
/// registered distribution lives in `dir`).
fn prepare_dir(dir: &Path, reg: &Registry) -> Result<Prepared, DistroError> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| DistroError::io("create", dir, e))?;
            return Ok(Prepared { created: true });
        }
        Err(e) => return Err(DistroError::io("inspect", dir, e)),
        Ok(m) if m.is_dir() => {}
        Ok(m) if m.file_type().is_symlink() && dir.is_dir() => {}
        Ok(_) => {
            return Err(DistroError::NotADirectory {
                dir: dir.to_path_buf(),
            })
        }
    }
    let mut stale = Vec::new();
    let mut rootfs = false;
    for ent in std::fs::read_dir(dir).map_err(|e| DistroError::io("read", dir, e))? {
        let ent = ent.map_err(|e| DistroError::io("read", dir, e))?;
        let n = ent.file_name();
        let real_dir = ent.file_type().is_ok_and(|t| t.is_dir());
        if is_staging(&n) && real_dir {
            let fd = open_dir(&ent.path()).map_err(|e| DistroError::io("open", ent.path(), e))?;
            match FileLock::try_on(fd).map_err(|e| DistroError::io("lock", ent.path(), e))? {
                Some(_) => stale.push(ent.path()),
                None => {
                    return Err(DistroError::ImportInProgress {
                        dir: dir.to_path_buf(),
                    })
                }
            }
        } else if n == ROOTFS_DIR {
            rootfs = true;
        } else {
            return Err(DistroError::DirNotEmpty {
                dir: dir.to_path_buf(),
            });
        }
    }
    if rootfs && stale.is_empty() {
        return Err(DistroError::DirNotEmpty {
            dir: dir.to_path_buf(),
        });
    }
    if rootfs {
        // Whatever the path says, a rootfs some distribution is registered with
        // is never a leftover.
        let candidate = dir.join(ROOTFS_DIR);
        if let Some(e) = reg
            .entries
            .iter()
            .find(|e| same_dir(&e.base_path.join(ROOTFS_DIR), &candidate))
        {
            return Err(DistroError::DirInUse {
                dir: dir.to_path_buf(),
                owner: e.name.clone(),
            });
        }
        tracing::warn!(dir = %dir.display(), "removing the unregistered rootfs of an interrupted import");
        remove_tree(&dir.join(ROOTFS_DIR)).map_err(|e| {
            DistroError::io("remove the leftovers of an interrupted import in", dir, e)
        })?;
    }
    for p in stale {
        tracing::info!(path = %p.display(), "removing the staging directory of an interrupted import");
        remove_tree(&p).map_err(|e| {
            DistroError::io("remove the leftovers of an interrupted import in", &p, e)
        })?;
    }
    Ok(Prepared { created: false })
}
