//! The seven WSLC calls (SPEC §11): where they go and what a plugin's
//! `WSLCProcessHandle` holds.
//!
//! The service serves them ([`WslcServices`], set once it runs); a plugin in
//! the service calls it directly, a plugin in a plugin host over its api
//! socket (the descriptors cross it as ExecuteBinary's socket does). The
//! handle lives where the plugin runs: its three stdio sockets, each handed
//! out once, and its exit event (a pidfd, duplicated for each caller). Only
//! the exit code and the release go back to the service.

use std::os::fd::OwnedFd;
use std::sync::{Arc, LazyLock, Mutex, RwLock};

use wslp_abi::hresult::{
    hresult_from_win32, win32, E_INVALIDARG, E_POINTER, S_OK, WSLC_E_SESSION_NOT_FOUND,
};

use crate::trace;

/// A process WSLCCreateProcess started.
#[derive(Debug)]
pub struct WslcProcess {
    /// The service's name for it, for its exit code and its release.
    pub token: u64,
    /// The plugin's ends of the process's stdin, stdout and stderr sockets.
    pub stdio: [OwnedFd; 3],
    /// Polls readable once the process has exited.
    pub exit_event: OwnedFd,
}

/// What serves the WSLC calls: the service's sessions. Every error of
/// SPEC §11 after the NULL checks is its to return.
pub trait WslcServices: Send + Sync {
    fn mount_folder(&self, session: u32, host_path: &str, mountpoint: &str, read_only: bool)
        -> i32;
    fn unmount_folder(&self, session: u32, mountpoint: &str) -> i32;
    /// `Err((hr, errno))`: `errno` is what `*Errno` becomes.
    fn create_process(
        &self,
        session: u32,
        executable: &str,
        argv: &[String],
        env: &[String],
    ) -> Result<WslcProcess, (i32, i32)>;
    /// `None` while it runs.
    fn exit_code(&self, token: u64) -> Option<i32>;
    fn release(&self, token: u64);
}

static SERVICES: LazyLock<RwLock<Option<Arc<dyn WslcServices>>>> =
    LazyLock::new(|| RwLock::new(None));

/// Makes `s` serve the WSLC calls of this process's plugins (the service
/// calls it once it runs; the last one set wins).
pub fn set_wslc_services(s: Arc<dyn WslcServices>) {
    *crate::sync::write(&SERVICES) = Some(s);
}

fn services() -> Option<Arc<dyn WslcServices>> {
    crate::sync::read(&SERVICES).clone()
}

/// Where a plugin host's WSLC calls go: the service, over the api socket.
pub(crate) trait WslcForwarder: Send + Sync {
    fn mount_folder(
        &self,
        session: u32,
        host: &str,
        mountpoint: &str,
        ro: bool,
        traced: bool,
    ) -> i32;
    fn unmount_folder(&self, session: u32, mountpoint: &str, traced: bool) -> i32;
    fn create_process(
        &self,
        session: u32,
        executable: &str,
        argv: &[String],
        env: &[String],
        traced: bool,
    ) -> Result<WslcProcess, (i32, i32)>;
    fn exit_code(&self, token: u64) -> Option<i32>;
    fn release(&self, token: u64);
}

static FORWARDER: std::sync::OnceLock<Box<dyn WslcForwarder>> = std::sync::OnceLock::new();

pub(crate) fn set_forwarder(f: Box<dyn WslcForwarder>) {
    let _ = FORWARDER.set(f);
}

/// WSLCMountFolder after the NULL checks.
pub(crate) fn mount_folder(session: u32, host: &str, mountpoint: &str, ro: bool) -> i32 {
    let traced = trace::start().map(|t| (t, mount_args(session, host, mountpoint, ro)));
    if let Some(f) = FORWARDER.get() {
        return f.mount_folder(session, host, mountpoint, ro, traced.is_some());
    }
    let hr = serve_mount_folder(session, host, mountpoint, ro);
    if let Some((t, args)) = traced {
        trace::api_call(t, "WSLCMountFolder", args, hr);
    }
    hr
}

pub(crate) fn mount_args(
    session: u32,
    host: &str,
    mountpoint: &str,
    ro: bool,
) -> Vec<(String, trace::TraceValue)> {
    vec![
        trace::arg("wslc_session", session),
        trace::arg("windows_path", host),
        trace::arg("mountpoint", mountpoint),
        trace::arg("read_only", ro),
    ]
}

pub(crate) fn serve_mount_folder(session: u32, host: &str, mountpoint: &str, ro: bool) -> i32 {
    match services() {
        Some(s) => s.mount_folder(session, host, mountpoint, ro),
        None => WSLC_E_SESSION_NOT_FOUND,
    }
}

/// WSLCUnmountFolder after the NULL check.
pub(crate) fn unmount_folder(session: u32, mountpoint: &str) -> i32 {
    let traced = trace::start().map(|t| (t, unmount_args(session, mountpoint)));
    if let Some(f) = FORWARDER.get() {
        return f.unmount_folder(session, mountpoint, traced.is_some());
    }
    let hr = serve_unmount_folder(session, mountpoint);
    if let Some((t, args)) = traced {
        trace::api_call(t, "WSLCUnmountFolder", args, hr);
    }
    hr
}

pub(crate) fn unmount_args(session: u32, mountpoint: &str) -> Vec<(String, trace::TraceValue)> {
    vec![
        trace::arg("wslc_session", session),
        trace::arg("mountpoint", mountpoint),
    ]
}

pub(crate) fn serve_unmount_folder(session: u32, mountpoint: &str) -> i32 {
    match services() {
        Some(s) => s.unmount_folder(session, mountpoint),
        None => WSLC_E_SESSION_NOT_FOUND,
    }
}

/// WSLCCreateProcess after the NULL checks.
pub(crate) fn create_process(
    session: u32,
    executable: &str,
    argv: &[String],
    env: &[String],
) -> Result<WslcProcess, (i32, i32)> {
    let traced = trace::start().map(|t| (t, create_args(session, executable, argv, env)));
    if let Some(f) = FORWARDER.get() {
        return f.create_process(session, executable, argv, env, traced.is_some());
    }
    let r = serve_create_process(session, executable, argv, env);
    if let Some((t, args)) = traced {
        trace::api_call(
            t,
            "WSLCCreateProcess",
            args,
            r.as_ref().err().map_or(S_OK, |e| e.0),
        );
    }
    r
}

pub(crate) fn create_args(
    session: u32,
    executable: &str,
    argv: &[String],
    env: &[String],
) -> Vec<(String, trace::TraceValue)> {
    vec![
        trace::arg("wslc_session", session),
        trace::arg("executable", executable),
        trace::arg("argv", argv.to_vec()),
        trace::arg("env", env.to_vec()),
    ]
}

pub(crate) fn serve_create_process(
    session: u32,
    executable: &str,
    argv: &[String],
    env: &[String],
) -> Result<WslcProcess, (i32, i32)> {
    match services() {
        Some(s) => s.create_process(session, executable, argv, env),
        None => Err((WSLC_E_SESSION_NOT_FOUND, 0)),
    }
}

pub(crate) fn serve_exit_code(token: u64) -> Option<i32> {
    services().and_then(|s| s.exit_code(token))
}

pub(crate) fn serve_release(token: u64) {
    if let Some(s) = services() {
        s.release(token)
    }
}

/// What a `WSLCProcessHandle` points to, in the process the plugin runs in.
pub(crate) struct ProcessHandle {
    token: u64,
    stdio: Mutex<[Option<OwnedFd>; 3]>,
    exit_event: OwnedFd,
}

impl ProcessHandle {
    pub(crate) fn new(p: WslcProcess) -> ProcessHandle {
        let [a, b, c] = p.stdio;
        ProcessHandle {
            token: p.token,
            stdio: Mutex::new([Some(a), Some(b), Some(c)]),
            exit_event: p.exit_event,
        }
    }

    /// WSLCProcessGetFd: each descriptor once.
    pub(crate) fn take_fd(&self, fd: u32) -> Result<OwnedFd, i32> {
        let mut stdio = crate::sync::lock(&self.stdio);
        let slot = stdio.get_mut(fd as usize).ok_or(E_INVALIDARG)?;
        slot.take()
            .ok_or(hresult_from_win32(win32::ERROR_INVALID_STATE))
    }

    /// WSLCProcessGetExitEvent: a new descriptor each call.
    pub(crate) fn exit_event(&self) -> Result<OwnedFd, i32> {
        self.exit_event
            .try_clone()
            .map_err(|_| hresult_from_win32(win32::ERROR_TOO_MANY_OPEN_FILES))
    }

    /// WSLCProcessGetExitCode: -1 and ERROR_INVALID_STATE while it runs.
    pub(crate) fn exit_code(&self) -> (i32, i32) {
        let code = match FORWARDER.get() {
            Some(f) => f.exit_code(self.token),
            None => serve_exit_code(self.token),
        };
        match code {
            Some(c) => (S_OK, c),
            None => (hresult_from_win32(win32::ERROR_INVALID_STATE), -1),
        }
    }

    /// WSLCReleaseProcess: the service forgets it; it is not killed.
    pub(crate) fn release(self) {
        match FORWARDER.get() {
            Some(f) => f.release(self.token),
            None => serve_release(self.token),
        }
    }
}

/// `E_POINTER` for a NULL argument, as every WSLC call checks first.
pub(crate) const NULL_ARGUMENT: i32 = E_POINTER;
