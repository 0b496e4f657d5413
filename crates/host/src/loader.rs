//! SPEC §3 steps 1–3 for one registry entry: open the file, verify its signature on
//! the bytes that will be loaded, and hand `ffi` something to `dlopen`.
//!
//! The file is opened once. With signatures required, the verified bytes are what
//! gets loaded: through the same descriptor (`/proc/self/fd/N`) when only root could
//! have changed the file since (owned by root, not group/world-writable), else from a
//! sealed memfd copy, so a writer racing the check (the TOCTOU of loading by path
//! after verifying) cannot swap the code. With signatures off, we load by path.
//!
//! A plugin host is started again after a crash or a hang, long after the check.
//! Root may have rewritten the file in place by then (`cp` keeps the inode, so the
//! descriptor sees the new bytes). So a sealed copy of the verified bytes is kept
//! with their SHA-256, and each start hashes the file through its descriptor: the
//! file is loaded only while it still holds the verified bytes, the copy otherwise.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use wslp_abi::hresult::{hresult_from_win32, win32, E_FAIL, S_OK};

use crate::api;
use crate::ffi::{InProcessPlugin, LoadFailure};
use crate::instance::PluginInstance;
use crate::out_of_process::{HostSource, OutOfProcessPlugin, VerifiedSource};
use crate::trace;

/// Checks the bytes that will be loaded against the trust store: `Err((hresult, detail))`
/// when the plugin must not load.
fn trust_verify(bytes: &[u8], trust_dir: &Path) -> Result<(), (i32, String)> {
    match wslp_trust::verify(bytes, trust_dir) {
        Ok(signer) => {
            tracing::info!(subject = %signer.subject, fingerprint = %signer.fingerprint_sha256, "plugin signature verified");
            Ok(())
        }
        Err(e) => Err((e.hresult(), e.to_string())),
    }
}

/// How a plugin is to be loaded.
pub(crate) struct LoadOptions<'a> {
    pub require_signatures: bool,
    pub trust_dir: &'a Path,
    /// How long the entry point may run in a plugin host (SPEC §8).
    pub hook_timeout: Option<std::time::Duration>,
    /// What the entry point sees in `Api->Version` (`api_version` in wslp.toml).
    pub api_version: wslp_abi::WSLVersion,
}

fn mod_not_found(path: &Path, what: impl std::fmt::Display) -> LoadFailure {
    LoadFailure {
        hr: hresult_from_win32(win32::ERROR_MOD_NOT_FOUND),
        detail: format!("{}: {what}", path.display()),
        message: None,
    }
}

/// What `dlopen` should open, with whatever must stay open for that path to resolve.
enum Source {
    Path(PathBuf),
    /// `/proc/self/fd/N` of the verified file: kept open for the plugin's life so that
    /// `dladdr` + `realpath` keep answering its real path.
    VerifiedFile(OwnedFd),
    /// A sealed copy of the verified bytes; only needed until `dlopen` has mapped it.
    SealedCopy(OwnedFd),
}

/// The verified bytes for a plugin host, which may be started many times: the
/// root-only file (for its path) when there is one, and always a sealed copy.
fn verified_for_host(path: &Path, source: Source) -> Result<HostSource, LoadFailure> {
    let copy_failed = |e: nix::Error| LoadFailure {
        hr: E_FAIL,
        detail: format!("{}: cannot make a sealed copy to load: {e}", path.display()),
        message: None,
    };
    Ok(match source {
        Source::Path(p) => HostSource::Path(p),
        Source::SealedCopy(copy) => HostSource::Verified(VerifiedSource::new(None, copy)),
        Source::VerifiedFile(file) => {
            let bytes = read_all_at(&file).map_err(|e| mod_not_found(path, e))?;
            let copy = sealed_copy(&bytes).map_err(copy_failed)?;
            HostSource::Verified(VerifiedSource::new(Some(file), copy))
        }
    })
}

/// The whole content of `fd` read from offset 0, whatever its file offset.
pub(crate) fn read_all_at(fd: &OwnedFd) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let file = File::from(fd.try_clone()?);
    let mut bytes = Vec::with_capacity(file.metadata()?.len() as usize);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match file.read_at(&mut buf, bytes.len() as u64) {
            Ok(0) => return Ok(bytes),
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn proc_fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Loads the plugin at `path` in this process (SPEC §3).
pub(crate) fn load_in_process(
    name: &str,
    path: &Path,
    opts: &LoadOptions<'_>,
) -> Result<Box<dyn PluginInstance>, LoadFailure> {
    let source = open_source(path, opts)?;
    let dlopen_path = match &source {
        Source::Path(p) => p.clone(),
        Source::VerifiedFile(fd) | Source::SealedCopy(fd) => proc_fd_path(fd),
    };
    tracing::debug!(plugin = name, path = %path.display(), dlopen = %dlopen_path.display(), "loading plugin");
    // Leaked with the plugin, which is never unloaded.
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    let started = trace::start();
    let plugin = InProcessPlugin::load(leaked, &dlopen_path, opts.api_version);
    if let Some(t) = started {
        let (hr, message) = match &plugin {
            Ok(_) => (S_OK, None),
            Err(f) => (f.hr, Some(f.detail.clone())),
        };
        trace::entry_point(t, name, opts.api_version, hr, message);
    }
    if plugin.is_ok() {
        api::register_in_process(leaked);
    }
    match source {
        // Leaked with the plugin, which is never unloaded either.
        Source::VerifiedFile(fd) => std::mem::forget(fd),
        // Mapped now; the descriptor is no longer needed.
        Source::SealedCopy(fd) => drop(fd),
        Source::Path(_) => {}
    }
    Ok(Box::new(plugin?))
}

/// Loads the plugin at `path` in a new `exe` plugin-host process (SPEC §8). The file
/// is opened and verified here, exactly as for in-process loading; the host gets the
/// verified bytes' descriptor and never re-opens the path when signatures are on.
pub(crate) fn load_out_of_process(
    name: &str,
    path: &Path,
    opts: &LoadOptions<'_>,
    exe: &Path,
) -> Result<Box<dyn PluginInstance>, LoadFailure> {
    let source = verified_for_host(path, open_source(path, opts)?)?;
    tracing::debug!(plugin = name, path = %path.display(), host = %exe.display(), "loading plugin in a plugin host");
    let plugin = OutOfProcessPlugin::load(name, exe, source, opts.api_version, opts.hook_timeout)?;
    Ok(Box::new(plugin))
}

/// Steps 1 and 2 of SPEC §3: what to load, verified when signatures are required.
fn open_source(path: &Path, opts: &LoadOptions<'_>) -> Result<Source, LoadFailure> {
    if !path.is_absolute() {
        return Err(mod_not_found(
            path,
            "registry paths must be absolute (re-add it with `wslp plugin add NAME /full/path`)",
        ));
    }
    if opts.require_signatures {
        open_verified(path, opts)
    } else {
        std::fs::metadata(path).map_err(|e| mod_not_found(path, e))?;
        Ok(Source::Path(path.to_path_buf()))
    }
}

fn open_verified(path: &Path, opts: &LoadOptions<'_>) -> Result<Source, LoadFailure> {
    let mut file = File::open(path).map_err(|e| mod_not_found(path, e))?;
    let meta = file.metadata().map_err(|e| mod_not_found(path, e))?;
    if !meta.is_file() {
        return Err(mod_not_found(path, "not a regular file"));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes)
        .map_err(|e| mod_not_found(path, e))?;
    trust_verify(&bytes, opts.trust_dir).map_err(|(hr, detail)| LoadFailure {
        hr,
        detail: format!("{}: {detail}", path.display()),
        message: None,
    })?;
    if only_root_can_write(&meta) {
        Ok(Source::VerifiedFile(OwnedFd::from(file)))
    } else {
        sealed_copy(&bytes)
            .map(Source::SealedCopy)
            .map_err(|e| LoadFailure {
                hr: E_FAIL,
                detail: format!("{}: cannot make a sealed copy to load: {e}", path.display()),
                message: None,
            })
    }
}

fn only_root_can_write(meta: &std::fs::Metadata) -> bool {
    meta.uid() == 0 && meta.mode() & 0o022 == 0
}

/// An anonymous file holding `bytes` that nobody can change any more.
pub(crate) fn sealed_copy(bytes: &[u8]) -> nix::Result<OwnedFd> {
    let name = CString::new("wslp-plugin").expect("no NUL in literal");
    let fd = memfd_create(
        &name,
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )?;
    let mut f = File::from(fd);
    f.write_all(bytes)
        .map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let fd = OwnedFd::from(f);
    fcntl(
        fd.as_raw_fd(),
        FcntlArg::F_ADD_SEALS(
            SealFlag::F_SEAL_WRITE
                | SealFlag::F_SEAL_SHRINK
                | SealFlag::F_SEAL_GROW
                | SealFlag::F_SEAL_SEAL,
        ),
    )?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wslp_abi::hresult::TRUST_E_NOSIGNATURE;

    #[test]
    fn sealed_copy_cannot_be_changed() {
        let fd = sealed_copy(b"hello").unwrap();
        let mut f = File::from(fd);
        assert!(f.write_all(b"x").is_err());
        assert!(f.set_len(1).is_err());
        let mut back = String::new();
        let mut r = File::open(format!("/proc/self/fd/{}", f.as_raw_fd())).unwrap();
        r.read_to_string(&mut back).unwrap();
        assert_eq!(back, "hello");
    }

    #[test]
    fn unsigned_bytes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (hr, _) = trust_verify(b"\x7fELF not signed", dir.path()).unwrap_err();
        assert_eq!(hr, TRUST_E_NOSIGNATURE);
    }
}
