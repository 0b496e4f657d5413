//! Safe extraction of an untrusted rootfs tarball.
//!
//! The compression is told by magic bytes, never by file name. Every member
//! name is checked (no `..`, no absolute path), and every lookup of a parent
//! directory goes through `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
//! RESOLVE_NO_XDEV)` from a descriptor of the target directory: the kernel
//! refuses any resolution, through a symlink the archive planted or not, that
//! would leave it. That closes what the tar crate's canonicalise-then-check
//! leaves open between check and use, and the class of bugs behind
//! CVE-2007-4131 and CVE-2021-32803 (write through a symlink out of the
//! destination). The last component is always created with a call that does
//! not follow symlinks (`O_CREAT|O_EXCL`, `mkdirat`, `mknodat`, `linkat`
//! without `AT_SYMLINK_FOLLOW`, `symlinkat`).
//!
//! Owners, modes (set-id bits included), device nodes, FIFOs, hard links
//! (target inside the destination only), mtimes and `SCHILY.xattr.*` (file
//! capabilities) are kept: wslp runs as root, like WSL's importer.
//! Nothing is fsynced per file; the caller runs one `syncfs` at the end.

use std::ffi::{OsStr, OsString};
use std::io::{self, BufReader, Cursor, Read, Write};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use rustix::fs::{
    self as rfs, AtFlags, FileType, Gid, Mode, OFlags, ResolveFlags, Timestamps, Uid,
};
use rustix::io::Errno;
use tar::EntryType;

use crate::DistroError;

const IO_BUF: usize = 256 * 1024;

/// What a finished extraction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Archive members created on disk.
    pub entries: u64,
    /// Bytes of regular-file data written.
    pub bytes: u64,
    /// Members skipped (unknown types, or device nodes and ownership when not
    /// running as root).
    pub skipped: u64,
}

/// Compression formats recognised by their magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

pub(crate) fn detect(head: &[u8]) -> Result<Compression, &'static str> {
    Ok(match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        [b'B', b'Z', b'h', ..] => return Err("bzip2"),
        [0x04, 0x22, 0x4d, 0x18, ..] => return Err("lz4"),
        [0x89, b'L', b'Z', b'O', ..] => return Err("lzop"),
        _ => Compression::None,
    })
}

/// Reads until `buf` is full or the input ends; returns the count read.
fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// True when `block` is a tar header whose checksum adds up (the test GNU
/// tar and libarchive use to tell a tar archive from other bytes).
fn is_tar_header(block: &[u8; 512]) -> bool {
    let field = &block[148..156];
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .collect();
    let Ok(text) = std::str::from_utf8(&digits) else {
        return false;
    };
    let Ok(stored) = u32::from_str_radix(text, 8) else {
        return false;
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(*b)
            }
        })
        .sum();
    !digits.is_empty() && sum == stored
}

/// Wraps `source` in the decompressor its magic bytes call for and checks
/// that what comes out starts with a tar header, so that a file that is not a
/// tarball is refused before anything is created on disk.
pub(crate) fn open_tar_stream(
    source: Box<dyn Read + Send>,
    source_name: &str,
) -> Result<Box<dyn Read + Send>, DistroError> {
    let not_tar = |reason: String| DistroError::NotATarball {
        source_name: source_name.to_string(),
        reason,
    };
    let mut source = BufReader::with_capacity(IO_BUF, source);
    let mut head = [0u8; 6];
    let n = read_up_to(&mut source, &mut head)
        .map_err(|e| not_tar(format!("reading it failed ({e})")))?;
    if n == 0 {
        return Err(not_tar("it is empty".into()));
    }
    let raw = BufReader::with_capacity(IO_BUF, Cursor::new(head[..n].to_vec()).chain(source));
    let compression = detect(&head[..n]).map_err(|format| DistroError::UnsupportedCompression {
        source_name: source_name.to_string(),
        format,
    })?;
    let mut stream: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(raw),
        // Multi-member readers: pigz, pixz and zstd -T write several frames.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(raw)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(raw)
                .map_err(|e| not_tar(format!("zstd: {e}")))?,
        ),
    };
    let mut block = [0u8; 512];
    let n = read_up_to(&mut stream, &mut block).map_err(|e| {
        not_tar(match compression {
            Compression::None => format!("reading it failed ({e})"),
            c => format!("its {c:?} data cannot be decompressed ({e})"),
        })
    })?;
    if n < 512 {
        return Err(not_tar(format!(
            "it is only {n} bytes long, shorter than one tar header"
        )));
    }
    if block.iter().all(|b| *b == 0) {
        return Err(not_tar("the archive is empty".into()));
    }
    if !is_tar_header(&block) {
        return Err(not_tar("its first block is not a tar header".into()));
    }
    Ok(Box::new(Cursor::new(block.to_vec()).chain(stream)))
}

/// Remembers how many bytes the tar reader consumed and the last 512 of them:
/// the tar crate ends quietly on EOF at a header boundary, so only this tells
/// an archive with its end-of-archive marker from one cut short between two
/// members.
struct TailTracker<R> {
    inner: R,
    total: u64,
    tail: [u8; 512],
}

impl<R: Read> Read for TailTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let k = n.min(512);
        let start = self.total + (n - k) as u64;
        for (j, b) in buf[n - k..n].iter().enumerate() {
            self.tail[((start + j as u64) % 512) as usize] = *b;
        }
        self.total += n as u64;
        Ok(n)
    }
}

impl<R> TailTracker<R> {
    fn ended_with_marker(&self) -> bool {
        self.total >= 512 && self.total % 512 == 0 && self.tail.iter().all(|b| *b == 0)
    }
}

/// Splits a member name into the components to create below the root;
/// `Err` says why the name is unsafe. An empty result names the root itself.
fn components(name: &[u8]) -> Result<Vec<&OsStr>, &'static str> {
    if name.is_empty() {
        return Err("it has an empty name");
    }
    if name[0] == b'/' {
        return Err("it is an absolute path");
    }
    let mut out = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("its path contains '..'"),
            c => out.push(OsStr::from_bytes(c)),
        }
    }
    Ok(out)
}

fn join(comps: &[&OsStr]) -> OsString {
    let mut p = OsString::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            p.push("/");
        }
        p.push(c);
    }
    if p.is_empty() {
        p.push(".");
    }
    p
}

/// Metadata of one member, with pax overrides applied.
struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: rustix::fs::Timespec,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

/// Why one member failed, before the member's name is attached.
enum Fail {
    Unsafe(String),
    Io(io::Error),
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Io(e)
    }
}
impl From<Errno> for Fail {
    fn from(e: Errno) -> Self {
        Fail::Io(e.into())
    }
}

struct Unpacker<'a> {
    root: BorrowedFd<'a>,
    host_root: bool,
    warned_owner: bool,
    stats: UnpackStats,
    /// Last parent directory opened, reused while members stay in it.
    cache: Option<(OsString, OwnedFd)>,
    /// Directories whose mtime is set at the end, as later members change it.
    dir_times: Vec<(OsString, rustix::fs::Timespec)>,
    buf: Vec<u8>,
}

/// Extracts the tar stream `stream` (already decompressed) into the empty
/// directory `root`.
pub(crate) fn unpack(
    stream: impl Read,
    root: BorrowedFd<'_>,
    source_name: &str,
) -> Result<UnpackStats, DistroError> {
    let corrupt = |e: io::Error| DistroError::CorruptTarball {
        source_name: source_name.to_string(),
        reason: e.to_string(),
    };
    let mut tracker = TailTracker {
        inner: stream,
        total: 0,
        tail: [0xff; 512],
    };
    let mut u = Unpacker {
        root,
        host_root: wslp_config::is_host_root(),
        warned_owner: false,
        stats: UnpackStats::default(),
        cache: None,
        dir_times: Vec::new(),
        buf: vec![0; IO_BUF],
    };
    {
        let mut archive = tar::Archive::new(&mut tracker);
        for entry in archive.entries().map_err(corrupt)? {
            let mut entry = entry.map_err(corrupt)?;
            let name = entry.path_bytes().into_owned();
            let shown = String::from_utf8_lossy(&name).into_owned();
            let fail = |f: Fail| match f {
                Fail::Unsafe(reason) => DistroError::UnsafeEntry {
                    source_name: source_name.to_string(),
                    entry: shown.clone(),
                    reason,
                },
                // A read error of the member's data is the archive's fault.
                Fail::Io(e)
                    if e.kind() == io::ErrorKind::UnexpectedEof
                        || e.kind() == io::ErrorKind::InvalidData =>
                {
                    corrupt(e)
                }
                Fail::Io(e) => DistroError::Extract {
                    source_name: source_name.to_string(),
                    entry: shown.clone(),
                    cause: e,
                },
            };
            u.member(&mut entry, &name).map_err(fail)?;
        }
    }
    if !tracker.ended_with_marker() {
        return Err(corrupt(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the archive ends without its end-of-archive marker",
        )));
    }
    // Read what follows the end marker (padding, a compressed stream's
    // trailer): a gzip, xz or zstd stream cut short, or with a bad checksum,
    // fails here even when all members came through.
    io::copy(&mut tracker.inner, &mut io::sink()).map_err(corrupt)?;
    u.finish().map_err(|e| DistroError::Extract {
        source_name: source_name.to_string(),
        entry: "(directory times)".into(),
        cause: e,
    })?;
    Ok(u.stats)
}

fn meta_of<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Meta, Fail> {
    let h = entry.header();
    let bad = |what: &str, e: io::Error| {
        Fail::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad {what} field: {e}"),
        ))
    };
    let mode = h.mode().map_err(|e| bad("mode", e))? & 0o7777;
    let uid = h.uid().map_err(|e| bad("uid", e))?;
    let gid = h.gid().map_err(|e| bad("gid", e))?;
    let mut mtime = rustix::fs::Timespec {
        tv_sec: h.mtime().map_err(|e| bad("mtime", e))?.min(i64::MAX as u64) as i64,
        tv_nsec: 0,
    };
    let mut xattrs = Vec::new();
    if let Some(pax) = entry.pax_extensions().map_err(|e| bad("pax header", e))? {
        for ext in pax {
            let ext = ext.map_err(|e| bad("pax header", e))?;
            let Ok(key) = ext.key() else { continue };
            if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                xattrs.push((OsString::from(name), ext.value_bytes().to_vec()));
            } else if key == "mtime" {
                if let Some(t) = ext.value().ok().and_then(parse_pax_time) {
                    mtime = t;
                }
            }
        }
    }
    Ok(Meta {
        mode,
        uid,
        gid,
        mtime,
        xattrs,
    })
}

/// pax times are decimal seconds with an optional fraction.
fn parse_pax_time(s: &str) -> Option<rustix::fs::Timespec> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let tv_nsec = if digits.is_empty() {
        0
    } else {
        digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32)
    };
    Some(rustix::fs::Timespec {
        tv_sec,
        tv_nsec: tv_nsec as _,
    })
}

fn resolve_flags() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV
}

fn escape_reason(e: Errno, what: &str) -> Fail {
    match e {
        Errno::XDEV => Fail::Unsafe(format!(
            "{what} leads outside the distribution's directory through a symlink"
        )),
        Errno::LOOP => Fail::Unsafe(format!("{what} goes through too many symlinks")),
        Errno::NOTDIR => Fail::Unsafe(format!(
            "{what} runs through something that is not a directory"
        )),
        e => Fail::Io(e.into()),
    }
}

impl Unpacker<'_> {
    fn invalidate(&mut self) {
        self.cache = None;
    }

    /// Opens (creating when missing) the directory `comps` below the root.
    fn dir(&mut self, comps: &[&OsStr], create: bool, what: &str) -> Result<OwnedFd, Fail> {
        let path = join(comps);
        if let Some((p, fd)) = &self.cache {
            if *p == path {
                return Ok(fd.try_clone()?);
            }
        }
        let open = |p: &OsStr| {
            rfs::openat2(
                self.root,
                p,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                resolve_flags(),
            )
        };
        let fd = match open(&path) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if create => {
                // Archives may omit directory members; make them as tar does.
                let mut cur = self.root.try_clone_to_owned()?;
                for i in 0..comps.len() {
                    let sub = join(&comps[..=i]);
                    cur = match open(&sub) {
                        Ok(fd) => fd,
                        Err(Errno::NOENT) => {
                            match rfs::mkdirat(&cur, comps[i], Mode::from_raw_mode(0o755)) {
                                Ok(()) | Err(Errno::EXIST) => {}
                                Err(e) => return Err(escape_reason(e, what)),
                            }
                            open(&sub).map_err(|e| escape_reason(e, what))?
                        }
                        Err(e) => return Err(escape_reason(e, what)),
                    };
                }
                cur
            }
            Err(e) => return Err(escape_reason(e, what)),
        };
        self.cache = Some((path, fd.try_clone()?));
        Ok(fd)
    }

    /// Makes room for a new non-directory member: a later member of the same
    /// name replaces an earlier one, as with tar; a non-empty directory is
    /// never replaced.
    fn clear(&mut self, parent: &OwnedFd, name: &OsStr) -> Result<(), Fail> {
        match rfs::unlinkat(parent, name, AtFlags::empty()) {
            Ok(()) => self.invalidate(),
            Err(Errno::NOENT) => {}
            Err(Errno::ISDIR) | Err(Errno::PERM) => {
                match rfs::unlinkat(parent, name, AtFlags::REMOVEDIR) {
                    Ok(()) => self.invalidate(),
                    Err(Errno::NOTEMPTY) | Err(Errno::EXIST) => {
                        return Err(Fail::Unsafe(
                            "it would replace a directory that is not empty".into(),
                        ))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    fn owner(&mut self, r: Result<(), Errno>) -> Result<(), Fail> {
        match r {
            Ok(()) => Ok(()),
            Err(Errno::PERM) | Err(Errno::INVAL) if !self.host_root => {
                if !self.warned_owner {
                    tracing::warn!(
                        "not host root: file owners from the tarball that this user namespace does not map are not kept"
                    );
                    self.warned_owner = true;
                }
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn ids(m: &Meta) -> (Option<Uid>, Option<Gid>) {
        // -1 means "leave unchanged" to chown; an archive cannot ask for it.
        let uid = u32::try_from(m.uid)
            .ok()
            .filter(|u| *u != u32::MAX)
            .map(Uid::from_raw);
        let gid = u32::try_from(m.gid)
            .ok()
            .filter(|g| *g != u32::MAX)
            .map(Gid::from_raw);
        (uid, gid)
    }

    /// Owner, then mode (chown clears set-id bits), then xattrs (chown clears
    /// file capabilities too), then times.
    fn apply_fd(&mut self, fd: &OwnedFd, m: &Meta, times: bool) -> Result<(), Fail> {
        let (uid, gid) = Self::ids(m);
        let r = rfs::fchown(fd, uid, gid);
        self.owner(r)?;
        rfs::fchmod(fd, Mode::from_raw_mode(m.mode))?;
        for (k, v) in &m.xattrs {
            if let Err(e) = rfs::fsetxattr(fd, k.as_os_str(), v, rfs::XattrFlags::empty()) {
                tracing::warn!(xattr = ?k, error = %e, "could not set an extended attribute from the tarball");
            }
        }
        if times {
            rfs::futimens(
                fd,
                &Timestamps {
                    last_access: m.mtime,
                    last_modification: m.mtime,
                },
            )?;
        }
        Ok(())
    }

    fn member<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, name: &[u8]) -> Result<(), Fail> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let comps = components(name).map_err(|r| Fail::Unsafe(r.to_string()))?;
        let meta = meta_of(entry)?;
        let Some((last, parent_comps)) = comps.split_last() else {
            // The archive's "./": the root directory's own metadata.
            if kind != EntryType::Directory {
                return Err(Fail::Unsafe("it would replace the root directory".into()));
            }
            let fd = self.root.try_clone_to_owned()?;
            self.apply_fd(&fd, &meta, false)?;
            self.dir_times.push((OsString::from("."), meta.mtime));
            self.stats.entries += 1;
            return Ok(());
        };
        let last = *last;
        let parent = self.dir(parent_comps, true, "the member's directory")?;
        match kind {
            EntryType::Directory => {
                match rfs::mkdirat(&parent, last, Mode::from_raw_mode(0o700)) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        let st = rfs::statat(&parent, last, AtFlags::SYMLINK_NOFOLLOW)?;
                        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                            self.clear(&parent, last)?;
                            rfs::mkdirat(&parent, last, Mode::from_raw_mode(0o700))?;
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
                let fd = rfs::openat(
                    &parent,
                    last,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                self.apply_fd(&fd, &meta, false)?;
                self.dir_times.push((join(&comps), meta.mtime));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.clear(&parent, last)?;
                let fd = rfs::openat(
                    &parent,
                    last,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )?;
                let mut file = std::fs::File::from(fd);
                loop {
                    let n = match entry.read(&mut self.buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            return Err(Fail::Io(io::Error::new(io::ErrorKind::UnexpectedEof, e)))
                        }
                    };
                    file.write_all(&self.buf[..n])?;
                    self.stats.bytes += n as u64;
                }
                let fd = OwnedFd::from(file);
                self.apply_fd(&fd, &meta, true)?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| Fail::Unsafe("it is a symlink without a target".into()))?
                    .into_owned();
                self.clear(&parent, last)?;
                rfs::symlinkat(OsString::from_vec(target).as_os_str(), &parent, last)?;
                // A new symlink can change where a cached path leads.
                self.invalidate();
                let (uid, gid) = Self::ids(&meta);
                let r = rfs::chownat(&parent, last, uid, gid, AtFlags::SYMLINK_NOFOLLOW);
                self.owner(r)?;
                rfs::utimensat(
                    &parent,
                    last,
                    &Timestamps {
                        last_access: meta.mtime,
                        last_modification: meta.mtime,
                    },
                    AtFlags::SYMLINK_NOFOLLOW,
                )?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| Fail::Unsafe("it is a hard link without a target".into()))?
                    .into_owned();
                let tcomps = components(&target)
                    .map_err(|r| Fail::Unsafe(format!("its hard link target is unsafe: {r}")))?;
                let Some((tlast, tparent)) = tcomps.split_last() else {
                    return Err(Fail::Unsafe(
                        "it is a hard link to the root directory".into(),
                    ));
                };
                let tparent_fd = self
                    .dir(tparent, false, "its hard link target")
                    .map_err(|f| match f {
                        Fail::Io(e) if e.kind() == io::ErrorKind::NotFound => Fail::Unsafe(
                            "its hard link target is not in the archive before it".into(),
                        ),
                        f => f,
                    })?;
                let same =
                    |a: rfs::Stat, b: rfs::Stat| a.st_ino == b.st_ino && a.st_dev == b.st_dev;
                if let (Ok(a), Ok(b)) = (
                    rfs::statat(&tparent_fd, *tlast, AtFlags::SYMLINK_NOFOLLOW),
                    rfs::statat(&parent, last, AtFlags::SYMLINK_NOFOLLOW),
                ) {
                    if same(a, b) {
                        // A repeated link, or a link to itself: already done.
                        self.stats.entries += 1;
                        return Ok(());
                    }
                }
                self.clear(&parent, last)?;
                match rfs::linkat(&tparent_fd, *tlast, &parent, last, AtFlags::empty()) {
                    Ok(()) => {}
                    Err(Errno::NOENT) => {
                        return Err(Fail::Unsafe(
                            "its hard link target is not in the archive before it".into(),
                        ))
                    }
                    Err(Errno::PERM) => {
                        return Err(Fail::Unsafe("its hard link target is a directory".into()))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let ft = match kind {
                    EntryType::Char => FileType::CharacterDevice,
                    EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let h = entry.header();
                let bad = |e: io::Error| Fail::Io(io::Error::new(io::ErrorKind::InvalidData, e));
                let major = h.device_major().map_err(bad)?.unwrap_or(0);
                let minor = h.device_minor().map_err(bad)?.unwrap_or(0);
                self.clear(&parent, last)?;
                match rfs::mknodat(
                    &parent,
                    last,
                    ft,
                    Mode::from_raw_mode(0o600),
                    rfs::makedev(major, minor),
                ) {
                    Ok(()) => {}
                    Err(Errno::PERM) if !self.host_root => {
                        tracing::warn!(entry = %String::from_utf8_lossy(name), "not host root: device node skipped");
                        self.stats.skipped += 1;
                        return Ok(());
                    }
                    Err(e) => return Err(e.into()),
                }
                let (uid, gid) = Self::ids(&meta);
                let r = rfs::chownat(&parent, last, uid, gid, AtFlags::SYMLINK_NOFOLLOW);
                self.owner(r)?;
                // The node was just made by us in a directory only root can
                // write to, so following the last component is not a risk.
                rfs::chmodat(
                    &parent,
                    last,
                    Mode::from_raw_mode(meta.mode),
                    AtFlags::empty(),
                )?;
                rfs::utimensat(
                    &parent,
                    last,
                    &Timestamps {
                        last_access: meta.mtime,
                        last_modification: meta.mtime,
                    },
                    AtFlags::SYMLINK_NOFOLLOW,
                )?;
            }
            other => {
                tracing::warn!(entry = %String::from_utf8_lossy(name), kind = ?other, "unsupported tar member type skipped");
                self.stats.skipped += 1;
                return Ok(());
            }
        }
        self.stats.entries += 1;
        Ok(())
    }

    /// Sets directory times last, deepest first, since creating members
    /// inside a directory changes its mtime.
    fn finish(&mut self) -> io::Result<()> {
        self.invalidate();
        let times = std::mem::take(&mut self.dir_times);
        for (path, t) in times.iter().rev() {
            let fd = match rfs::openat2(
                self.root,
                path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                resolve_flags(),
            ) {
                Ok(fd) => fd,
                // Replaced by a later member: nothing to date.
                Err(Errno::NOENT) | Err(Errno::NOTDIR) | Err(Errno::XDEV) | Err(Errno::LOOP) => {
                    continue
                }
                Err(e) => return Err(e.into()),
            };
            rfs::futimens(
                &fd,
                &Timestamps {
                    last_access: *t,
                    last_modification: *t,
                },
            )?;
        }
        Ok(())
    }
}

/// The regular file `member` (`etc/wsl-distribution.conf`, say) of the
/// tarball at `path`, compressed or not, at most `limit` bytes; `None` when
/// it has none. Reads the tarball up to that member, extracting nothing.
pub fn read_tarball_member(
    path: &std::path::Path,
    member: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, DistroError> {
    let name = path.display().to_string();
    let corrupt = |reason: String| DistroError::CorruptTarball {
        source_name: name.clone(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| DistroError::io("open", path, e))?;
    let stream = open_tar_stream(Box::new(file), &name)?;
    let mut archive = tar::Archive::new(stream);
    let want = member.trim_start_matches('/');
    for entry in archive.entries().map_err(|e| corrupt(e.to_string()))? {
        let entry = entry.map_err(|e| corrupt(e.to_string()))?;
        let p = entry
            .path()
            .map_err(|e| corrupt(e.to_string()))?
            .into_owned();
        let p = p.to_string_lossy();
        let p = p.trim_start_matches("./").trim_start_matches('/');
        if p == want && entry.header().entry_type() == tar::EntryType::Regular {
            let mut buf = Vec::new();
            entry
                .take(limit)
                .read_to_end(&mut buf)
                .map_err(|e| corrupt(e.to_string()))?;
            return Ok(Some(buf));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_compression_by_magic() {
        assert_eq!(detect(&[0x1f, 0x8b, 8, 0]).unwrap(), Compression::Gzip);
        assert_eq!(detect(b"\xfd7zXZ\0").unwrap(), Compression::Xz);
        assert_eq!(
            detect(&[0x28, 0xb5, 0x2f, 0xfd]).unwrap(),
            Compression::Zstd
        );
        assert_eq!(detect(b"BZh91AY").unwrap_err(), "bzip2");
        assert_eq!(detect(b"etc/").unwrap(), Compression::None);
        assert_eq!(detect(b"").unwrap(), Compression::None);
    }

    #[test]
    fn member_names_are_checked() {
        assert_eq!(
            components(b"./etc/passwd").unwrap(),
            vec![OsStr::new("etc"), OsStr::new("passwd")]
        );
        assert_eq!(components(b"./").unwrap(), Vec::<&OsStr>::new());
        assert_eq!(components(b"a//b/./c/").unwrap().len(), 3);
        assert!(components(b"../x").is_err());
        assert!(components(b"a/../../x").is_err());
        assert!(components(b"/etc/passwd").is_err());
        assert!(components(b"").is_err());
    }

    #[test]
    fn pax_times_parse() {
        let t = parse_pax_time("1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1700000000, 500_000_000));
        assert_eq!(parse_pax_time("12").unwrap().tv_sec, 12);
        assert!(parse_pax_time("x").is_none());
        assert!(parse_pax_time("1.x").is_none());
    }

    #[test]
    fn tail_tracker_sees_the_end_marker() {
        let mut data = vec![7u8; 1024];
        data.extend_from_slice(&[0u8; 1024]);
        let mut t = TailTracker {
            inner: Cursor::new(data),
            total: 0,
            tail: [0xff; 512],
        };
        let mut sink = Vec::new();
        // Odd read sizes, to cross the ring's edges.
        let mut buf = [0u8; 333];
        loop {
            let n = t.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            sink.extend_from_slice(&buf[..n]);
        }
        assert!(t.ended_with_marker());
        let mut t = TailTracker {
            inner: Cursor::new(vec![1u8; 1024]),
            total: 0,
            tail: [0xff; 512],
        };
        io::copy(&mut t, &mut io::sink()).unwrap();
        assert!(!t.ended_with_marker());
    }
}
