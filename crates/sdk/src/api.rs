//! The safe wrapper around the host's API table (`WSLPluginAPIV1`).

use crate::error::{Error, Result};
use crate::exec::{self, Output};
use crate::ffi::host::{RawApi, Started};
use crate::sys::{self, ProcessStream};
use crate::version::Version;
use crate::views::{uuid_to_guid, Session};
use crate::wide::to_wide;
use std::ffi::CString;
use std::io::Read;
use std::net::Shutdown;
use std::path::Path;
use uuid::Uuid;
use wslp_abi::hresult::{self, E_INVALIDARG, E_NOTIMPL};

/// A session id, as API calls take it. `&Session` converts into it, so
/// `api.execute_binary(session, ...)` works inside a hook; keep the id to make
/// calls for that session later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub u32);

impl From<&Session<'_>> for SessionId {
    fn from(s: &Session<'_>) -> Self {
        SessionId(s.id())
    }
}

impl From<u32> for SessionId {
    fn from(id: u32) -> Self {
        SessionId(id)
    }
}

/// The host's API: run programs in the VM or a distribution, mount host
/// folders, report an error message.
///
/// Handed to [`Plugin::new`](crate::Plugin::new); keep it in the plugin. It is
/// a copy of the host's function pointers (the host keeps them valid while the
/// plugin is loaded), so it is `Copy`, `Send` and `Sync`.
#[derive(Clone, Copy)]
pub struct Api {
    version: Version,
    table: RawApi,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// `Api::from_raw`, the unsafe way in, is in `ffi`: every raw pointer the
    /// host hands over is read there.
    pub(crate) fn new(version: Version, table: RawApi) -> Self {
        Api { version, table }
    }

    /// The host's WSLC calls, when its version has them.
    #[cfg(unix)]
    pub(crate) fn raw_wslc(&self) -> Option<crate::ffi::host::RawWslc> {
        self.table.wslc
    }

    /// The WSL API version the host implements (`Api->Version`).
    pub fn version(&self) -> Version {
        self.version
    }

    /// Mounts the host folder `host_path` at `vm_path` in the VM's root
    /// namespace (`MountFolder`). `name` labels the mount. On wslp the mount
    /// point is created when missing; a missing host folder gives
    /// `ERROR_FILE_NOT_FOUND`.
    ///
    /// On Windows `host_path` is a Windows path (`C:\data`); on wslp a Linux path.
    pub fn mount_folder(
        &self,
        session: impl Into<SessionId>,
        host_path: impl AsRef<Path>,
        vm_path: &str,
        read_only: bool,
        name: &str,
    ) -> Result<()> {
        let host_path = host_path.as_ref();
        let what = || format!("MountFolder('{}' -> '{vm_path}')", host_path.display());
        if self.table.mount_folder.is_none() {
            return Err(missing("MountFolder"));
        }
        let host_w = path_to_wide(host_path).ok_or_else(|| invalid(what(), "host path"))?;
        let vm_w = to_wide(vm_path).ok_or_else(|| invalid(what(), "VM path"))?;
        let name_w = to_wide(name).ok_or_else(|| invalid(what(), "name"))?;
        let hr = self
            .table
            .mount_folder(session.into().0, &host_w, &vm_w, read_only, &name_w)
            .ok_or_else(|| missing("MountFolder"))?;
        check(hr, what)
    }

    /// Starts `path` with `args` in the VM's root namespace (`ExecuteBinary`).
    ///
    /// The program's `argv[0]` is `path`; `args` follow. The returned stream is
    /// its stdin and stdout (stderr goes to the VM's log); close it (drop it)
    /// when done. Reading to the end waits until the program (and anything
    /// that inherited its stdout) has exited. WSL gives no exit status: use
    /// [`execute_binary_status`](Self::execute_binary_status) for that.
    pub fn execute_binary(
        &self,
        session: impl Into<SessionId>,
        path: &str,
        args: &[&str],
    ) -> Result<ProcessStream> {
        let what = || format!("ExecuteBinary('{path}')");
        if self.table.execute_binary.is_none() {
            return Err(missing("ExecuteBinary"));
        }
        let (c_path, c_args) = c_argv(path, args).ok_or_else(|| invalid(what(), "argument"))?;
        let started = self
            .table
            .execute_binary(session.into().0, &c_path, &c_args)
            .ok_or_else(|| missing("ExecuteBinary"))?;
        take_stream(started, what)
    }

    /// Starts `path` with `args` inside the running distribution `distribution`,
    /// as root (`ExecuteBinaryInDistribution`, WSL 2.1.2 and later).
    ///
    /// A distribution that is not running gives `WSL_E_VM_MODE_INVALID_STATE`.
    pub fn execute_binary_in_distribution(
        &self,
        session: impl Into<SessionId>,
        distribution: &Uuid,
        path: &str,
        args: &[&str],
    ) -> Result<ProcessStream> {
        let what = || format!("ExecuteBinaryInDistribution({{{distribution}}}, '{path}')");
        let not_there = || {
            Error::with_message(
                E_NOTIMPL,
                format!(
                    "ExecuteBinaryInDistribution needs WSL API {} or newer; the host implements {}",
                    Version::DISTRIBUTION_API,
                    self.version
                ),
            )
        };
        if self.table.execute_binary_in_distribution.is_none() {
            return Err(not_there());
        }
        let (c_path, c_args) = c_argv(path, args).ok_or_else(|| invalid(what(), "argument"))?;
        let guid = uuid_to_guid(distribution);
        let started = self
            .table
            .execute_binary_in_distribution(session.into().0, &guid, &c_path, &c_args)
            .ok_or_else(not_there)?;
        take_stream(started, what)
    }

    /// Runs `path args...` in the VM's root namespace to completion and
    /// returns its stdout and exit status.
    ///
    /// The program runs under `/bin/sh`, which reports the status after the
    /// output (see [`exec`] for how, and what it costs). Its stdin
    /// is closed at once.
    pub fn execute_binary_status(
        &self,
        session: impl Into<SessionId>,
        path: &str,
        args: &[&str],
    ) -> Result<Output> {
        let (sh, sh_args) = status_command(path, args);
        let sh_args: Vec<&str> = sh_args.iter().map(String::as_str).collect();
        let stream = self.execute_binary(session, &sh, &sh_args)?;
        collect(stream, path)
    }

    /// As [`execute_binary_status`](Self::execute_binary_status), inside a
    /// running distribution (which must have `/bin/sh`).
    pub fn execute_binary_in_distribution_status(
        &self,
        session: impl Into<SessionId>,
        distribution: &Uuid,
        path: &str,
        args: &[&str],
    ) -> Result<Output> {
        let (sh, sh_args) = status_command(path, args);
        let sh_args: Vec<&str> = sh_args.iter().map(String::as_str).collect();
        let stream = self.execute_binary_in_distribution(session, distribution, &sh, &sh_args)?;
        collect(stream, path)
    }

    /// Sets the message the user sees when the current start hook fails
    /// (`PluginError`).
    ///
    /// Only from the thread running `on_vm_started` or
    /// `on_distribution_started` (else `E_ILLEGAL_METHOD_CALL`), at most once
    /// per hook (else `E_ILLEGAL_STATE_CHANGE`), and the hook must then return
    /// an error: a hook that sets a message and returns `Ok` fails the start
    /// with `E_ILLEGAL_STATE_CHANGE`. Returning
    /// [`Error::with_message`](crate::Error::with_message) from the hook does
    /// all of this for you.
    pub fn plugin_error(&self, message: &str) -> Result<()> {
        let what = || "PluginError".to_string();
        if self.table.plugin_error.is_none() {
            return Err(missing("PluginError"));
        }
        let w = to_wide(message).ok_or_else(|| invalid(what(), "message"))?;
        let hr = self
            .table
            .plugin_error(&w)
            .ok_or_else(|| missing("PluginError"))?;
        check(hr, what)?;
        crate::ffi::note_plugin_error();
        Ok(())
    }
}

fn status_command(path: &str, args: &[&str]) -> (String, Vec<String>) {
    let mut argv = exec::status_argv(path, args);
    let sh = argv.remove(0);
    (sh, argv)
}

/// Reads the stream to its end and cuts off the status trailer.
fn collect(mut stream: ProcessStream, path: &str) -> Result<Output> {
    // The program gets EOF on stdin, so `cat`-like programs do not wait forever.
    if let Err(e) = stream.shutdown(Shutdown::Write) {
        log::debug!("closing the stdin of '{path}' failed: {e}");
    }
    let mut bytes = Vec::new();
    stream
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(format!("reading the output of '{path}'"), &e))?;
    let (stdout, status) = exec::split_status(&bytes).ok_or_else(|| {
        Error::failed(format!(
            "'{path}' ran, but the exit status trailer of /bin/sh is missing from its output \
             (is there a /bin/sh where it runs? was the shell killed?)"
        ))
    })?;
    Ok(Output {
        stdout: stdout.to_vec(),
        status,
    })
}

fn c_argv(path: &str, args: &[&str]) -> Option<(CString, Vec<CString>)> {
    let c_path = CString::new(path).ok()?;
    let mut v = Vec::with_capacity(args.len() + 1);
    v.push(c_path.clone());
    for a in args {
        v.push(CString::new(*a).ok()?);
    }
    Some((c_path, v))
}

/// The stream of a call that succeeded.
fn take_stream(started: Started, what: impl Fn() -> String) -> Result<ProcessStream> {
    check(started.hr, &what)?;
    started
        .stream
        .ok_or_else(|| Error::failed(format!("{} returned success but no socket", what())))
}

fn check(hr: i32, what: impl FnOnce() -> String) -> Result<()> {
    if hresult::succeeded(hr) {
        Ok(())
    } else {
        Err(Error::with_message(hr, format!("{} failed", what())))
    }
}

fn missing(call: &str) -> Error {
    Error::with_message(E_NOTIMPL, format!("the host's API table has no {call}"))
}

fn invalid(what: String, field: &str) -> Error {
    Error::with_message(
        E_INVALIDARG,
        format!("{what}: the {field} contains a NUL character or is not valid Unicode"),
    )
}

#[cfg(unix)]
fn path_to_wide(p: &Path) -> Option<Vec<sys::WCHAR>> {
    // wchar_t holds characters, not bytes: a non-UTF-8 path cannot be passed.
    to_wide(p.to_str()?)
}

#[cfg(windows)]
fn path_to_wide(p: &Path) -> Option<Vec<sys::WCHAR>> {
    use std::os::windows::ffi::OsStrExt;
    let mut w: Vec<u16> = p.as_os_str().encode_wide().collect();
    if w.contains(&0) {
        return None;
    }
    w.push(0);
    Some(w)
}
