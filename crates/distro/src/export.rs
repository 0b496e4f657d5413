//! `wslp --export`: a distribution's root filesystem as a tarball that
//! `--import` turns back into the same files (SPEC §12): owners, modes
//! (set-id bits included), hard links, symlinks, device nodes, FIFOs, mtimes
//! and extended attributes (file capabilities among them, as
//! `SCHILY.xattr.*` PAX records, which the importer reads).
//!
//! The file is written beside its destination as an unnamed file (O_TMPFILE)
//! and gets its name only once complete and synced: a failed or killed
//! export leaves nothing behind and never a partial FILE.

use crate::DistroError;
use rustix::fs as rfs;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The compression of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Tar,
    TarGz,
    TarXz,
    TarZst,
}

impl Format {
    /// `tar`, `tar.gz`, `tar.xz`, `tar.zst` (wsl.exe's `--format` names).
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "tar" => Some(Format::Tar),
            "tar.gz" | "tgz" => Some(Format::TarGz),
            "tar.xz" | "txz" => Some(Format::TarXz),
            "tar.zst" | "tzst" => Some(Format::TarZst),
            _ => None,
        }
    }

    /// From a file name's ending; a plain tar otherwise.
    pub fn from_path(path: &Path) -> Format {
        let name = path.to_string_lossy();
        [".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.zst", ".tzst"]
            .iter()
            .find(|e| name.ends_with(*e))
            .and_then(|e| Format::from_name(e.trim_start_matches('.')))
            .unwrap_or(Format::Tar)
    }
}

/// Reads and writes of an export move this much at a time (larger buys
/// nothing measurable here).
pub(crate) const COPY_BUF: usize = 64 << 10;

/// What an export wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExportStats {
    pub entries: u64,
    /// Bytes of file contents (before compression).
    pub bytes: u64,
}

/// Bytes of regular files under `rootfs` (for a progress bar's length).
pub fn tree_size(rootfs: &Path) -> u64 {
    fn walk(p: &Path, sum: &mut u64) {
        let Ok(dir) = std::fs::read_dir(p) else {
            return;
        };
        for e in dir.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                walk(&e.path(), sum);
            } else if m.is_file() {
                *sum += m.len();
            }
        }
    }
    let mut sum = 0;
    walk(rootfs, &mut sum);
    sum
}

/// Writes the tree at `rootfs` as a tarball of `format` into `out`. Ids of
/// a tree stored shifted (`shift` = the VM's first host uid and gid) are
/// written as the distribution sees them. `progress` is told the bytes of
/// contents written so far.
pub fn export_tree(
    rootfs: &Path,
    out: &mut dyn Write,
    format: Format,
    shift: Option<(u32, u32)>,
    progress: &dyn Fn(u64),
) -> Result<ExportStats, DistroError> {
    let fail = |e: io::Error| DistroError::io("export", rootfs, e);
    let mut stats = ExportStats::default();
    let run = |w: &mut dyn Write, stats: &mut ExportStats| -> io::Result<()> {
        let mut b = tar::Builder::new(w);
        let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
        let mut w = Writer {
            b: &mut b,
            root: rootfs,
            shift,
            links: &mut links,
            stats,
            progress,
        };
        w.entry(Path::new("."))?;
        b.finish()
    };
    match format {
        Format::Tar => run(out, &mut stats).map_err(fail)?,
        Format::TarGz => {
            let mut z = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            run(&mut z, &mut stats).map_err(fail)?;
            z.finish().map_err(fail)?;
        }
        Format::TarXz => {
            // As `xz -T0` (tar -J's xz since 5.4): a block per thread.
            let mut z = liblzma::write::XzEncoder::new_parallel(out, 6);
            run(&mut z, &mut stats).map_err(fail)?;
            z.finish().map_err(fail)?;
        }
        Format::TarZst => {
            let mut z = zstd::Encoder::new(out, 3).map_err(fail)?;
            run(&mut z, &mut stats).map_err(fail)?;
            z.finish().map_err(fail)?;
        }
    }
    Ok(stats)
}

struct Writer<'a, 'b, W: Write> {
    b: &'a mut tar::Builder<W>,
    root: &'b Path,
    shift: Option<(u32, u32)>,
    links: &'a mut HashMap<(u64, u64), PathBuf>,
    stats: &'a mut ExportStats,
    progress: &'a dyn Fn(u64),
}

impl<W: Write> Writer<'_, '_, W> {
    fn entry(&mut self, rel: &Path) -> io::Result<()> {
        let path = self.root.join(rel);
        let m = std::fs::symlink_metadata(&path)?;
        let ft = m.file_type();
        // `rel` is `.`, `./bin`, `./bin/sh`…: the root's own entry is `./`.
        let name = if rel == Path::new(".") {
            PathBuf::from("./")
        } else {
            rel.to_path_buf()
        };
        self.xattrs(&path)?;
        let mut h = tar::Header::new_gnu();
        h.set_mode(m.mode() & 0o7777);
        let (uid, gid) = match self.shift {
            Some((u, g)) => (
                crate::shift::unshifted(m.uid(), u),
                crate::shift::unshifted(m.gid(), g),
            ),
            None => (m.uid(), m.gid()),
        };
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        h.set_mtime(m.mtime().max(0) as u64);
        h.set_size(0);
        h.set_device_major(0)?;
        h.set_device_minor(0)?;
        self.stats.entries += 1;
        if !ft.is_dir() && m.nlink() > 1 {
            let key = (m.dev(), m.ino());
            if let Some(first) = self.links.get(&key) {
                h.set_entry_type(tar::EntryType::Link);
                let first = first.clone();
                return self.b.append_link(&mut h, &name, first);
            }
            self.links.insert(key, name.clone());
        }
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            self.b.append_data(&mut h, &name, io::empty())?;
            let mut children: Vec<OsString> = std::fs::read_dir(&path)?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<io::Result<_>>()?;
            children.sort();
            for c in children {
                self.entry(&rel.join(c))?;
            }
            Ok(())
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(m.len());
            let f = std::fs::File::open(&path)?;
            // Exactly the size in the header, whatever the file does
            // meanwhile; in large reads (io::copy takes a BufRead's own buffer).
            let mut r = io::BufReader::with_capacity(COPY_BUF, io::Read::take(f, m.len()));
            self.b.append_data(&mut h, &name, &mut r)?;
            if r.get_ref().limit() != 0 {
                return Err(io::Error::other(format!(
                    "{} shrank while it was read",
                    path.display()
                )));
            }
            self.stats.bytes += m.len();
            (self.progress)(self.stats.bytes);
            Ok(())
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = std::fs::read_link(&path)?;
            self.b.append_link(&mut h, &name, target)
        } else if ft.is_char_device() || ft.is_block_device() {
            h.set_entry_type(if ft.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            });
            let rdev = m.rdev();
            h.set_device_major(rustix::fs::major(rdev))?;
            h.set_device_minor(rustix::fs::minor(rdev))?;
            self.b.append_data(&mut h, &name, io::empty())
        } else if ft.is_fifo() {
            h.set_entry_type(tar::EntryType::Fifo);
            self.b.append_data(&mut h, &name, io::empty())
        } else {
            // Sockets: nothing a tarball can carry, as tar(1) says too.
            tracing::warn!(path = %path.display(), "a socket is not exported");
            Ok(())
        }
    }

    /// The entry's extended attributes, as a PAX header before it.
    fn xattrs(&mut self, path: &Path) -> io::Result<()> {
        let mut names = vec![0u8; 4096];
        let n = match rfs::llistxattr(path, &mut names) {
            Ok(n) => n,
            Err(rustix::io::Errno::NOTSUP) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let mut records = Vec::new();
        for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
            let name = std::ffi::OsStr::from_bytes(name);
            let mut value = vec![0u8; 65536];
            let len = match rfs::lgetxattr(path, name, &mut value) {
                Ok(len) => len,
                Err(rustix::io::Errno::NODATA) => continue,
                Err(e) => return Err(e.into()),
            };
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(name.as_bytes());
            pax_record(&mut records, &key, &value[..len]);
        }
        if records.is_empty() {
            return Ok(());
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_mode(0o644);
        // Readers parse every numeric field, used or not.
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_device_major(0)?;
        h.set_device_minor(0)?;
        h.set_size(records.len() as u64);
        h.set_path("PaxHeaders/xattrs")?;
        h.set_cksum();
        self.b.append(&h, &records[..])
    }
}

/// One `LEN KEY=VALUE\n` record, LEN counting itself.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// The temporary name of an export to `name` by process `pid`.
fn temp_name(name: &std::ffi::OsStr, pid: u32) -> OsString {
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".wslp-export-{pid}"));
    tmp
}

/// Removes what exports to `name` in `dir` left when they were killed: the
/// temporary files of processes that no longer run.
fn remove_stale_temps(dir: &Path, name: &std::ffi::OsStr) {
    let prefix = temp_name(name, 0);
    let prefix = prefix.as_bytes();
    let prefix = &prefix[..prefix.len() - 1];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(pid) = file.as_bytes().strip_prefix(prefix) else {
            continue;
        };
        let Some(pid) = std::str::from_utf8(pid)
            .ok()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let gone = rustix::process::Pid::from_raw(pid).map_or(true, |p| {
            rustix::process::test_kill_process(p) == Err(rustix::io::Errno::SRCH)
        });
        if gone {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Creates `dest` from what `write` puts into it, atomically: a temporary
/// file beside it, synced, then renamed over it. `dest` is never partial; a
/// failed `write` leaves nothing, and what a killed export left is removed
/// by the next export to the same name. (An unnamed O_TMPFILE would leave
/// nothing even then, but writes to one are several times slower on ext4.)
pub fn write_file_atomically(
    dest: &Path,
    write: impl FnOnce(&mut std::fs::File) -> Result<(), DistroError>,
) -> Result<(), DistroError> {
    let io = |what: &'static str| move |e: io::Error| DistroError::io(what, dest, e);
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = dest.file_name().ok_or_else(|| {
        DistroError::io(
            "write",
            dest,
            io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
        )
    })?;
    remove_stale_temps(dir, name);
    let tmp = dir.join(temp_name(name, std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc_nofollow())
        .open(&tmp)
        .map_err(io("create a file for"))?;
    let done = write(&mut file).and_then(|()| file.sync_all().map_err(io("sync")));
    if let Err(e) = done {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, dest).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io("name")(e)
    })?;
    // The new name is durable once the directory is.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn libc_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_name_and_by_file_ending() {
        assert_eq!(Format::from_name("tar.zst"), Some(Format::TarZst));
        assert_eq!(Format::from_name("zip"), None);
        assert_eq!(Format::from_path(Path::new("/b/d.tar.xz")), Format::TarXz);
        assert_eq!(Format::from_path(Path::new("d.tgz")), Format::TarGz);
        assert_eq!(Format::from_path(Path::new("d.tar")), Format::Tar);
        assert_eq!(Format::from_path(Path::new("backup")), Format::Tar);
    }

    #[test]
    fn a_pax_record_counts_its_own_length() {
        for value in [&b"x"[..], &[0u8; 5], &[7u8; 95], &[1u8; 994]] {
            let mut r = Vec::new();
            pax_record(&mut r, b"SCHILY.xattr.user.k", value);
            let sp = r.iter().position(|b| *b == b' ').unwrap();
            let len: usize = std::str::from_utf8(&r[..sp]).unwrap().parse().unwrap();
            assert_eq!(len, r.len());
        }
    }

    #[test]
    fn a_failed_write_leaves_no_file() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("out.tar");
        let r = write_file_atomically(&dest, |f| {
            f.write_all(b"partial").unwrap();
            Err(DistroError::io("write", "x", io::Error::other("disk full")))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
        write_file_atomically(&dest, |f| {
            f.write_all(b"whole")
                .map_err(|e| DistroError::io("write", "x", e))
        })
        .unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
