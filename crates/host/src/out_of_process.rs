//! The service side of a plugin running in its own plugin-host process (SPEC §8).
//!
//! [`OutOfProcessPlugin`] implements [`PluginInstance`], so the manager's dispatch
//! policy is the same as in process. Per plugin host:
//! - hook calls go over the control socket, one at a time (a mutex), and the caller
//!   waits with `poll` on the socket and the host's pidfd, so a crash, an exit or a
//!   timeout is seen at once, even when a child the plugin forked still holds the
//!   host's end of the socket;
//! - a server thread answers the plugin's API calls at any time, from any of its
//!   threads, with the same `api::serve_*` code the in-process table uses;
//! - a log thread copies the host's stdout/stderr into the service log.
//!
//! A host that is lost (crash, exit, timeout, garbage on the socket) is killed with
//! its whole process group and reaped; the next hook starts a new one and calls the
//! entry point again.

use std::io::BufRead;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::sys::socket::{shutdown, socketpair, AddressFamily, Shutdown, SockFlag, SockType};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use wslp_abi::hresult::{hresult_from_win32, win32, E_FAIL, E_UNEXPECTED, S_OK};
use wslp_abi::{messages, WSLVersion};

use crate::api;
use crate::ffi::LoadFailure;
use crate::instance::{HookCall, HookOutcome, PluginInstance};
use crate::protocol::{self, Dec, Enc, ProtoError};
use crate::sys;
use crate::trace::{self, PLUGIN_HOST_CRASHED, PLUGIN_HOST_TIMED_OUT};
use crate::wslc_api;
use wslp_ipc::frame::FrameError;

/// What the plugin host loads: the registry path (signatures off), or the verified
/// bytes, kept for every respawn so the host never re-opens the path when
/// signatures are required.
pub(crate) enum HostSource {
    Path(PathBuf),
    Verified(VerifiedSource),
}

/// The bytes a signature check accepted, for every start of a plugin host.
pub(crate) struct VerifiedSource {
    /// The root-only file they were read from: loaded through its descriptor
    /// (so the plugin's dladdr + realpath name it) while it still holds them.
    file: Option<OwnedFd>,
    /// A sealed memfd copy: what is loaded once the file no longer holds them.
    copy: OwnedFd,
    sha256: [u8; 32],
}

impl VerifiedSource {
    pub(crate) fn new(file: Option<OwnedFd>, copy: OwnedFd) -> VerifiedSource {
        let sha256 = match crate::loader::read_all_at(&copy) {
            Ok(bytes) => sha256(&bytes),
            // Unreadable copy: no digest can match, so the copy itself is loaded
            // (and fails to load with the kernel's error).
            Err(_) => [0; 32],
        };
        VerifiedSource { file, copy, sha256 }
    }

    /// The descriptor to load now: the file when its content is still the verified
    /// bytes, else the copy of them. Root can rewrite a root-only file in place (a
    /// `cp` keeps the inode) at any time after the check.
    fn current(&self, name: &str) -> BorrowedFd<'_> {
        let Some(file) = &self.file else {
            return self.copy.as_fd();
        };
        match crate::loader::read_all_at(file) {
            Ok(bytes) if sha256(&bytes) == self.sha256 => file.as_fd(),
            Ok(_) => {
                tracing::warn!(
                    plugin = name,
                    "the plugin's file changed after its signature was verified; its host loads the verified copy. \
                     To load the new file, restart the service (wslp --shutdown) so it is verified again"
                );
                self.copy.as_fd()
            }
            Err(e) => {
                tracing::warn!(plugin = name, error = %e, "cannot read the plugin's file again; its host loads the verified copy");
                self.copy.as_fd()
            }
        }
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// How long a host that closed its control socket gets to finish exiting before it
/// is killed: its exit status is what the user is told.
const EXIT_GRACE: Duration = Duration::from_secs(2);

pub(crate) struct OutOfProcessPlugin {
    name: String,
    exe: PathBuf,
    source: HostSource,
    /// `Api->Version` for every entry point call, the first and each restart.
    api_version: WSLVersion,
    /// `None` after a host was lost: the next hook starts a new one.
    host: Mutex<Option<HostProcess>>,
    /// The hooks its entry point set, from the last host's `LoadDone`.
    hooks: std::sync::atomic::AtomicU32,
    /// Whether anyone traces this plugin, shared with each of its hosts (SPEC §13).
    /// `None` if it could not be made: the host then never reports API calls.
    trace_flag: Option<Arc<trace::HostFlag>>,
}

impl OutOfProcessPlugin {
    /// Starts the plugin's host and calls the entry point there (SPEC §3 step 3),
    /// within `timeout`.
    pub(crate) fn load(
        name: &str,
        exe: &Path,
        source: HostSource,
        api_version: WSLVersion,
        timeout: Option<Duration>,
    ) -> Result<OutOfProcessPlugin, LoadFailure> {
        let trace_flag = trace::HostFlag::new(name)
            .inspect_err(|e| {
                tracing::warn!(plugin = name, error = %e, "no trace flag for the plugin host; `wslp plugin trace` will not show its API calls");
            })
            .ok();
        let plugin = OutOfProcessPlugin {
            name: name.to_string(),
            exe: exe.to_path_buf(),
            source,
            api_version,
            host: Mutex::new(None),
            hooks: std::sync::atomic::AtomicU32::new(u32::MAX),
            trace_flag,
        };
        let host = plugin.start(timeout)?;
        *crate::sync::lock(&plugin.host) = Some(host);
        Ok(plugin)
    }

    fn start(&self, timeout: Option<Duration>) -> Result<HostProcess, LoadFailure> {
        let started = trace::start();
        let r = self.start_host(timeout);
        if let Some(t) = started {
            let (hr, message) = match &r {
                Ok(_) => (S_OK, None),
                Err(f) => (
                    f.hr,
                    Some(f.message.clone().unwrap_or_else(|| f.detail.clone())),
                ),
            };
            trace::entry_point(t, &self.name, self.api_version, hr, message);
        }
        r
    }

    fn start_host(&self, timeout: Option<Duration>) -> Result<HostProcess, LoadFailure> {
        let flag = self.trace_flag.as_deref().map(trace::HostFlag::fd);
        let mut host =
            HostProcess::spawn(&self.exe, &self.name, flag).map_err(|e| LoadFailure {
                hr: E_FAIL,
                detail: format!(
                "cannot start the plugin host {}: {e} (set in_process_plugins or WSLP_PLUGIN_HOST)",
                self.exe.display()
            ),
                message: None,
            })?;
        let frame = Enc::new(protocol::T_LOAD)
            .u32(protocol::PROTOCOL_VERSION)
            .version(self.api_version);
        let (frame, fd) = match &self.source {
            HostSource::Path(p) => (frame.opt_str(Some(&p.to_string_lossy())), None),
            HostSource::Verified(v) => (frame.opt_str(None), Some(v.current(&self.name))),
        };
        let started = trace::start();
        let lost = match host.request(&frame.finish(), fd, timeout) {
            Ok(()) => match decode_load_done(&host.buf) {
                Ok((hr, _, hooks)) if hr >= 0 => {
                    self.hooks
                        .store(hooks, std::sync::atomic::Ordering::Relaxed);
                    return Ok(host);
                }
                Ok((hr, detail, _)) => {
                    host.terminate();
                    return Err(LoadFailure {
                        hr,
                        detail,
                        message: None,
                    });
                }
                Err(e) => Lost::Broken(e.to_string()),
            },
            Err(lost) => lost,
        };
        let (hr, message) = host.lose(
            lost,
            &self.name,
            timeout,
            started,
            "WSLPluginAPIV1_EntryPoint",
        );
        Err(LoadFailure {
            hr,
            detail: format!("the plugin host failed in WSLPluginAPIV1_EntryPoint: {message}"),
            message: Some(message),
        })
    }
}

pub(crate) fn decode_load_done(frame: &[u8]) -> Result<(i32, String, u32), ProtoError> {
    match Dec::new(frame)? {
        (protocol::T_LOAD_DONE, mut d) => Ok((d.i32()?, d.str()?, d.u32()?)),
        _ => Err(ProtoError::Malformed("expected LoadDone")),
    }
}

pub(crate) fn decode_hook_done(frame: &[u8]) -> Result<HookOutcome, ProtoError> {
    match Dec::new(frame)? {
        (protocol::T_HOOK_DONE, mut d) => Ok(HookOutcome {
            hr: d.i32()?,
            message: d.opt_str()?,
        }),
        _ => Err(ProtoError::Malformed("expected HookDone")),
    }
}

impl PluginInstance for OutOfProcessPlugin {
    fn hooks(&self) -> u32 {
        self.hooks.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn call(&self, hook: &HookCall<'_>, timeout: Option<Duration>) -> HookOutcome {
        let mut guard = crate::sync::lock(&self.host);
        if let Some(host) = guard.as_mut() {
            let started = trace::start();
            if let Some(status) = host.exited_already() {
                // It died between hooks (a thread of the plugin crashed or called
                // exit): not this hook's failure; a new host serves it.
                tracing::error!(plugin = %self.name, ?status, "plugin host died between hooks; starting a new one");
                if let Some(t) = started {
                    let (hr, message) = died(status, &self.name);
                    trace::host_lost(
                        t,
                        &self.name,
                        PLUGIN_HOST_CRASHED,
                        host.pid.as_raw(),
                        None,
                        None,
                        hr,
                        message,
                    );
                }
                *guard = None;
            }
        }
        if guard.is_none() {
            tracing::info!(plugin = %self.name, hook = hook.name(), "starting a new plugin host for the plugin");
            match self.start(timeout) {
                Ok(h) => *guard = Some(h),
                Err(f) => {
                    tracing::error!(plugin = %self.name, code = %wslp_abi::hresult_name(f.hr), detail = %f.detail, "the plugin could not be loaded again");
                    return HookOutcome {
                        hr: f.hr,
                        message: f.message,
                    };
                }
            }
        }
        let host = guard.as_mut().expect("started above");
        let started = trace::start();
        let lost = match host.request(&protocol::encode_hook(hook), None, timeout) {
            Ok(()) => match decode_hook_done(&host.buf) {
                Ok(out) => return out,
                Err(e) => Lost::Broken(e.to_string()),
            },
            Err(lost) => lost,
        };
        let host = guard.take().expect("present");
        let (hr, message) = host.lose(lost, &self.name, timeout, started, hook.name());
        tracing::error!(plugin = %self.name, hook = hook.name(), %message, "plugin host lost; the next hook starts a new one");
        HookOutcome {
            hr,
            message: Some(message),
        }
    }
}

/// Why a plugin host is given up on.
enum Lost {
    Timeout,
    /// The host process ended (or is ending): its status says how.
    Died,
    /// It broke the protocol or closed its socket and lived on.
    Broken(String),
}

struct HostProcess {
    pid: Pid,
    pidfd: OwnedFd,
    control: OwnedFd,
    /// Shared with the API server thread; shut down when the host is lost so the
    /// thread ends even if an escaped child of the plugin holds the other end.
    api: Arc<OwnedFd>,
    buf: Vec<u8>,
    reaped: Option<WaitStatus>,
}

impl HostProcess {
    fn spawn(
        exe: &Path,
        name: &str,
        trace_flag: Option<BorrowedFd<'_>>,
    ) -> std::io::Result<HostProcess> {
        let pair = || {
            socketpair(
                AddressFamily::Unix,
                SockType::Stream,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
        };
        let (control, control_host) = pair()?;
        let (api_sock, api_host) = pair()?;
        let (log_r, log_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let mut fds = vec![sys::dup_high(&control_host)?, sys::dup_high(&api_host)?];
        if let Some(flag) = trace_flag {
            fds.push(sys::dup_high(&flag.try_clone_to_owned()?)?);
        }
        let mut cmd = Command::new(exe);
        cmd.arg("--plugin")
            .arg(name)
            .arg("--service")
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            // Never the service's own stdout/stderr: `wslp` waits for EOF on the
            // service's stderr to know it is ready.
            .stdout(Stdio::from(log_w.try_clone()?))
            .stderr(Stdio::from(log_w))
            .current_dir("/")
            .process_group(0);
        sys::map_fds(&mut cmd, fds.iter().map(|f| f.as_raw_fd()).collect());
        let child = cmd.spawn()?;
        // The parent's copies of the host's ends (and the log pipe's write end, held
        // by `cmd`) must go, or EOF would never be seen.
        drop((cmd, fds, control_host, api_host));
        let pid = Pid::from_raw(child.id() as i32);
        // Not reaped by `Child`: we wait on the pid ourselves.
        drop(child);
        let pidfd = match sys::pidfd_open(pid.as_raw()) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = killpg(pid, Signal::SIGKILL);
                let _ = waitpid(pid, None);
                return Err(e);
            }
        };
        let api = Arc::new(api_sock);
        let mut host = HostProcess {
            pid,
            pidfd,
            control,
            api: api.clone(),
            buf: Vec::new(),
            reaped: None,
        };
        let log_name = name.to_string();
        let log = std::thread::Builder::new()
            .name(format!("plugin-log {name}"))
            .spawn(move || forward_log(log_r, &log_name));
        let server_name = name.to_string();
        let server = std::thread::Builder::new()
            .name(format!("plugin-api {name}"))
            .spawn(move || serve_api(&api, &server_name));
        if let Err(e) = log.and(server) {
            host.terminate();
            return Err(e);
        }
        tracing::debug!(plugin = name, pid = pid.as_raw(), "plugin host started");
        Ok(host)
    }

    /// Sends one request and waits for its reply (left in `self.buf`).
    fn request(
        &mut self,
        frame: &[u8],
        fd: Option<BorrowedFd<'_>>,
        timeout: Option<Duration>,
    ) -> Result<(), Lost> {
        match protocol::send(self.control.as_fd(), frame, fd) {
            Ok(()) => {}
            Err(ProtoError::Closed) => return Err(self.closed()),
            Err(e) => return Err(Lost::Broken(e.to_string())),
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        // Most hooks answer within microseconds: see `protocol::recv_soon_fds`.
        let spin_until = Instant::now() + protocol::SPIN;
        loop {
            match protocol::try_recv(self.control.as_fd(), &mut self.buf, deadline) {
                Ok(Some(_)) => return Ok(()),
                Ok(None) => {}
                Err(e) => return Err(self.lost(e)),
            }
            if Instant::now() >= spin_until {
                break;
            }
            std::thread::yield_now();
        }
        loop {
            let wait = match deadline {
                None => PollTimeout::NONE,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    // Rounded up, so a deadline is never polled as "now" too early.
                    let ms = left.as_micros().div_ceil(1000);
                    PollTimeout::try_from(ms.min(i32::MAX as u128) as i32)
                        .unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = [
                PollFd::new(self.control.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN),
            ];
            let n = match poll(&mut fds, wait) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Lost::Broken(format!("poll: {e}"))),
            };
            if n == 0 {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(Lost::Timeout);
                }
                continue;
            }
            let control = fds[0].revents().unwrap_or(PollFlags::empty());
            let exited = fds[1].revents().is_some_and(|r| !r.is_empty());
            // A reply already sent wins over an exit that followed it.
            if !control.is_empty() {
                return match protocol::recv_until(self.control.as_fd(), &mut self.buf, deadline) {
                    // The host has no business sending descriptors here; dropped.
                    Ok(_) => Ok(()),
                    Err(e) => Err(self.lost(e)),
                };
            }
            if exited {
                return Err(Lost::Died);
            }
        }
    }

    /// The host's status if it has already ended (reaped now), without waiting.
    fn exited_already(&mut self) -> Option<WaitStatus> {
        let mut fds = [PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(1) => Some(self.terminate()),
            _ => None,
        }
    }

    /// What a failed read of a reply means.
    fn lost(&self, e: ProtoError) -> Lost {
        match e {
            ProtoError::Closed => self.closed(),
            // Part of a reply, then nothing: as hung as no reply at all.
            ProtoError::Frame(FrameError::TimedOut) => Lost::Timeout,
            e => Lost::Broken(e.to_string()),
        }
    }

    /// The control socket closed: the host is exiting; give it a moment to finish so
    /// its real status is reported.
    fn closed(&self) -> Lost {
        let mut fds = [PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
        let ms = EXIT_GRACE.as_millis() as i32;
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(1) => Lost::Died,
            _ => Lost::Broken("closed its control socket but kept running".into()),
        }
    }

    /// Kills the host's process group (the host and whatever the plugin forked) and
    /// reaps the host. Idempotent.
    fn terminate(&mut self) -> WaitStatus {
        if let Some(s) = self.reaped {
            return s;
        }
        let _ = shutdown(self.api.as_raw_fd(), Shutdown::Both);
        // Before waitpid: the group id cannot have been reused while the host is our
        // unreaped child.
        let _ = killpg(self.pid, Signal::SIGKILL);
        let status = loop {
            match waitpid(self.pid, None) {
                Err(nix::errno::Errno::EINTR) => continue,
                Ok(s) => break s,
                Err(_) => break WaitStatus::StillAlive,
            }
        };
        self.reaped = Some(status);
        status
    }

    /// Ends a host given up on; the HRESULT and message the hook fails with (SPEC §8).
    /// With `started` (someone traces), the loss is a line of the trace too.
    fn lose(
        mut self,
        lost: Lost,
        name: &str,
        timeout: Option<Duration>,
        started: Option<trace::Started>,
        during: &str,
    ) -> (i32, String) {
        let timed_out = matches!(lost, Lost::Timeout);
        let (hr, message) = self.lost_status(lost, name, timeout);
        if let Some(t) = started {
            let (call, timeout_ms) = match timed_out {
                true => (PLUGIN_HOST_TIMED_OUT, timeout.map(|t| t.as_millis() as u64)),
                false => (PLUGIN_HOST_CRASHED, None),
            };
            trace::host_lost(
                t,
                name,
                call,
                self.pid.as_raw(),
                Some(during),
                timeout_ms,
                hr,
                message.clone(),
            );
        }
        (hr, message)
    }

    fn lost_status(&mut self, lost: Lost, name: &str, timeout: Option<Duration>) -> (i32, String) {
        let status = self.terminate();
        match lost {
            Lost::Timeout => {
                let ms = timeout.map_or(0, |t| t.as_millis() as u64);
                (
                    hresult_from_win32(win32::ERROR_TIMEOUT),
                    messages::timeout_message(ms),
                )
            }
            Lost::Died => died(status, name),
            Lost::Broken(why) => {
                tracing::error!(plugin = name, %why, "the plugin host broke the protocol; killed");
                (
                    hresult_from_win32(win32::ERROR_PROCESS_ABORTED),
                    messages::crashed_message("protocol error"),
                )
            }
        }
    }
}

/// What a host that ended with `status` makes a hook fail with (SPEC §8).
fn died(status: WaitStatus, name: &str) -> (i32, String) {
    let aborted = hresult_from_win32(win32::ERROR_PROCESS_ABORTED);
    match status {
        WaitStatus::Signaled(_, sig, _) => (aborted, messages::crashed_message(sig.as_str())),
        WaitStatus::Exited(_, code) => (aborted, messages::exited_message(code)),
        other => {
            tracing::error!(plugin = name, status = ?other, "unexpected plugin host status");
            (aborted, messages::crashed_message("unknown"))
        }
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Lines of plugin output logged per second and plugin host; the rest are counted.
const LOG_LINES_PER_SECOND: u32 = 100;

/// Copies the host's stdout/stderr into the service log, rate-limited: a plugin
/// printing in a loop must not fill the disk with the service's log.
/// Logs each line read from `pipe` as the output of plugin `name`, at most
/// `LOG_LINES_PER_SECOND` a second (the rest are counted), until EOF.
pub fn forward_log(pipe: OwnedFd, name: &str) {
    let reader = std::io::BufReader::new(std::fs::File::from(pipe));
    let mut window = Instant::now();
    let (mut logged, mut dropped) = (0u32, 0u64);
    for line in reader.split(b'\n') {
        let Ok(line) = line else { break };
        if window.elapsed() >= Duration::from_secs(1) {
            if dropped > 0 {
                tracing::warn!(
                    plugin = name,
                    dropped,
                    "plugin output rate-limited: lines not logged"
                );
            }
            (window, logged, dropped) = (Instant::now(), 0, 0);
        }
        if logged < LOG_LINES_PER_SECOND {
            logged += 1;
            tracing::info!(
                plugin = name,
                "plugin output: {}",
                String::from_utf8_lossy(&line)
            );
        } else {
            dropped += 1;
        }
    }
    if dropped > 0 {
        tracing::warn!(
            plugin = name,
            dropped,
            "plugin output rate-limited: lines not logged"
        );
    }
}

/// Answers the plugin's API calls until the host goes away.
fn serve_api(sock: &OwnedFd, name: &str) {
    let mut buf = Vec::new();
    loop {
        match protocol::recv(sock.as_fd(), &mut buf) {
            Ok(_) => {}
            Err(ProtoError::Closed) => return,
            Err(e) => {
                tracing::warn!(plugin = name, error = %e, "plugin host API socket failed; no more API calls from it");
                return;
            }
        }
        if let Some((&protocol::T_TRACE, body)) = buf.split_first() {
            match protocol::decode_trace(body) {
                Ok(mut event) => {
                    event.plugin = name.to_string();
                    trace::publish(event);
                    // Answered once published: the plugin's call returns after
                    // its event is out, so the trace keeps the plugin's order.
                    let reply = Enc::new(protocol::T_API_DONE).i32(S_OK).finish();
                    if protocol::send(sock.as_fd(), &reply, None).is_err() {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(plugin = name, error = %e, "malformed trace event from the plugin host; no more API calls from it");
                    let _ = shutdown(sock.as_raw_fd(), Shutdown::Both);
                    return;
                }
            }
        }
        let (hr, fds, tail) = match serve_one(&buf, name) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(plugin = name, error = %e, "malformed API call from the plugin host; no more API calls from it");
                let _ = shutdown(sock.as_raw_fd(), Shutdown::Both);
                return;
            }
        };
        let reply = Enc::new(protocol::T_API_DONE).i32(hr).raw(&tail).finish();
        // `fds` (the plugin's sockets) are closed here once sent: the plugin owns its copies.
        let borrowed: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
        if protocol::send_fds(sock.as_fd(), &reply, &borrowed).is_err() {
            return;
        }
    }
}

/// One API call of the plugin host's, served; traced here when its frame says
/// someone traces the plugin (`name`).
pub(crate) fn serve_one(
    frame: &[u8],
    name: &str,
) -> Result<(i32, Vec<OwnedFd>, Vec<u8>), ProtoError> {
    let socket = |r: Result<OwnedFd, i32>| match r {
        Ok(fd) => (S_OK, vec![fd], Vec::new()),
        Err(hr) => (hr, Vec::new(), Vec::new()),
    };
    let traced = |call: &str, args, hr| {
        if let Some(t) = args {
            let (started, args) = t;
            trace::publish(trace::event(started, name, call, args, hr, None));
        }
    };
    let (tag, mut d) = Dec::new(frame)?;
    Ok(match tag {
        protocol::T_MOUNT => {
            let session = d.u32()?;
            let host = d.opt_str()?;
            let vm = d.opt_str()?;
            let ro = d.bool()?;
            let mount_name = d.opt_str()?;
            let t = d.bool()?.then(|| {
                let args = api::mount_args(session, &host, &vm, ro, &mount_name);
                (trace::Started::now(), args)
            });
            let hr = api::serve_mount_folder(session, host, vm, ro, mount_name);
            traced("MountFolder", t, hr);
            (hr, Vec::new(), Vec::new())
        }
        protocol::T_EXEC => {
            let session = d.u32()?;
            let path = d.opt_str()?;
            let argv = d.strs()?;
            let t = d.bool()?.then(|| {
                (
                    trace::Started::now(),
                    api::exec_args(session, None, &path, &argv),
                )
            });
            let r = api::serve_execute_binary(session, path, argv);
            traced("ExecuteBinary", t, api::result_hr(&r));
            socket(r)
        }
        protocol::T_EXEC_DISTRO => {
            let session = d.u32()?;
            let distro = d.opt_guid()?;
            let path = d.opt_str()?;
            let argv = d.strs()?;
            let t = d.bool()?.then(|| {
                let args = api::exec_args(session, Some(distro), &path, &argv);
                (trace::Started::now(), args)
            });
            let r = api::serve_execute_binary_in_distribution(session, distro, path, argv);
            traced("ExecuteBinaryInDistribution", t, api::result_hr(&r));
            socket(r)
        }
        protocol::T_WSLC_MOUNT => {
            let session = d.u32()?;
            let host = d.str()?;
            let mp = d.str()?;
            let ro = d.bool()?;
            let t = d.bool()?.then(|| {
                let args = wslc_api::mount_args(session, &host, &mp, ro);
                (trace::Started::now(), args)
            });
            let hr = wslc_api::serve_mount_folder(session, &host, &mp, ro);
            traced("WSLCMountFolder", t, hr);
            (hr, Vec::new(), Vec::new())
        }
        protocol::T_WSLC_UNMOUNT => {
            let session = d.u32()?;
            let mp = d.str()?;
            let t = d
                .bool()?
                .then(|| (trace::Started::now(), wslc_api::unmount_args(session, &mp)));
            let hr = wslc_api::serve_unmount_folder(session, &mp);
            traced("WSLCUnmountFolder", t, hr);
            (hr, Vec::new(), Vec::new())
        }
        protocol::T_WSLC_CREATE => {
            let session = d.u32()?;
            let exe = d.str()?;
            let argv = d.strs()?;
            let env = d.strs()?;
            let t = d.bool()?.then(|| {
                let args = wslc_api::create_args(session, &exe, &argv, &env);
                (trace::Started::now(), args)
            });
            match wslc_api::serve_create_process(session, &exe, &argv, &env) {
                Ok(p) => {
                    traced("WSLCCreateProcess", t, S_OK);
                    let [a, b, c] = p.stdio;
                    let tail = Enc::new(0).i32(-1).u64(p.token).finish();
                    (S_OK, vec![a, b, c, p.exit_event], tail[1..].to_vec())
                }
                Err((hr, errno)) => {
                    traced("WSLCCreateProcess", t, hr);
                    let tail = Enc::new(0).i32(errno).u64(0).finish();
                    (hr, Vec::new(), tail[1..].to_vec())
                }
            }
        }
        protocol::T_WSLC_EXIT_CODE => {
            let token = d.u64()?;
            let tail = match wslc_api::serve_exit_code(token) {
                Some(code) => Enc::new(0).u8(1).i32(code).finish(),
                None => Enc::new(0).u8(0).i32(-1).finish(),
            };
            (S_OK, Vec::new(), tail[1..].to_vec())
        }
        protocol::T_WSLC_RELEASE => {
            wslc_api::serve_release(d.u64()?);
            (S_OK, Vec::new(), Vec::new())
        }
        _ => (E_UNEXPECTED, Vec::new(), Vec::new()),
    })
}
