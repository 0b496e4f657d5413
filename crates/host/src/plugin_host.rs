//! The plugin-host process (SPEC §8): one plugin, loaded with the same `ffi` code
//! the service uses in process, so the plugin sees the same API table, struct
//! layouts and PluginError rules. Its VM calls are forwarded to the service.
//!
//! Started by the service as `wslp-plugin-host --plugin NAME --service PID` with the control
//! socket on fd 3 and the api socket on fd 4 (see [`crate::protocol`]). It gives up
//! what it does not need before loading any plugin code: no new privileges, no
//! descriptors but 0–4, its own process group (set by the service at spawn).
//! When the service goes away (control socket closed, or the service process gone)
//! it kills its process group, so children the plugin forked do not outlive it.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use nix::sys::signal::{killpg, Signal};
use wslp_abi::hresult::{E_FAIL, E_INVALIDARG, E_UNEXPECTED, RPC_E_DISCONNECTED, S_OK};
use wslp_abi::GUID;

use crate::api::{self, ApiForwarder};
use crate::ffi::InProcessPlugin;
use crate::instance::PluginInstance;
use crate::protocol::{self, Dec, Enc, OwnedHook, ProtoError, MAX_FRAME};
use crate::sys;

/// Descriptor numbers the service maps the sockets to.
pub(crate) const CONTROL_FD: i32 = 3;
pub(crate) const API_FD: i32 = 4;
/// The trace flag (a read-only memfd), when the service passes one.
pub(crate) const TRACE_FD: i32 = 5;

/// Entry point of the `wslp-plugin-host` binary. Never returns.
pub fn main() -> ! {
    let args: Vec<String> = std::env::args().collect();
    let (name, service_pid) = match args.as_slice() {
        [_, p, name, s, pid] if p == "--plugin" && s == "--service" => {
            (name.clone(), pid.parse::<i32>().unwrap_or(0))
        }
        [_, c, path, v, version, rest @ ..]
            if c == "--check"
                && v == "--api-version"
                && (rest.is_empty() || rest == ["--by-descriptor"]) =>
        {
            crate::check::run(path, version, !rest.is_empty())
        }
        _ => {
            eprintln!(
                "wslp-plugin-host: runs one WSL plugin for wslpd, which starts it; \
                 it is not meant to be run by hand"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = run(service_pid) {
        eprintln!("wslp-plugin-host ({name}): {e}");
    }
    // Whatever ended us, take the plugin's children along.
    let _ = killpg(nix::unistd::getpgrp(), Signal::SIGKILL);
    std::process::exit(1)
}

fn run(service_pid: i32) -> Result<(), String> {
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("PR_SET_NO_NEW_PRIVS: {e}"))?;
    sys::close_from((TRACE_FD + 1) as u32);
    let [control, api_sock] = sys::take_inherited([CONTROL_FD, API_FD])?;
    // Absent or unusable: API calls are never reported, the host still works.
    let trace_flag = sys::take_optional(TRACE_FD)
        .and_then(|fd| crate::sys::SharedU32::map_read_only(fd.as_fd()).ok());
    for fd in [&control, &api_sock] {
        // Keep the plugin's children (fork + exec) from inheriting the sockets.
        nix::fcntl::fcntl(
            fd.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .map_err(|e| format!("cannot set close-on-exec: {e}"))?;
    }
    let remote = Arc::new(RemoteApi {
        sock: Mutex::new((api_sock, Vec::new())),
    });
    api::set_forwarder(Box::new(remote.clone()));
    crate::wslc_api::set_forwarder(Box::new(remote.clone()));
    crate::trace::set_remote(
        trace_flag,
        Box::new(move |event| remote.notify(protocol::encode_trace(&event))),
    );

    // The service's end of the control socket could outlive the service in a
    // process it forked and that has not exec'd yet; its pidfd cannot. Checked
    // against our parent after opening, so a pid reused meanwhile is not watched.
    let service = sys::pidfd_open(service_pid).ok();
    if nix::unistd::getppid().as_raw() != service_pid {
        return Err(format!(
            "started by pid {service_pid}, which has already exited"
        ));
    }
    let mut plugin: Option<InProcessPlugin> = None;
    // The verified file stays open so /proc/self/fd/N (and the plugin's own
    // dladdr + realpath) keeps naming it.
    let mut _loaded_from: Option<OwnedFd> = None;
    let mut buf = Vec::new();
    loop {
        if let Some(service) = &service {
            if !wait_for_request(&control, service)? {
                return Ok(());
            }
        }
        let fd = match protocol::recv(control.as_fd(), &mut buf) {
            Ok(fd) => fd,
            Err(ProtoError::Closed) => return Ok(()),
            Err(e) => return Err(format!("control socket: {e}")),
        };
        let (tag, mut d) = Dec::new(&buf).map_err(|e| e.to_string())?;
        let reply = match tag {
            protocol::T_LOAD => {
                let (hr, detail) = load(&mut d, fd, &mut plugin, &mut _loaded_from)
                    .unwrap_or_else(|e| (E_FAIL, format!("bad Load frame: {e}")));
                let hooks = plugin.as_ref().map_or(0, InProcessPlugin::hook_mask);
                Enc::new(protocol::T_LOAD_DONE)
                    .i32(hr)
                    .str(&detail)
                    .u32(hooks)
            }
            protocol::T_HOOK => {
                let hook = OwnedHook::decode(&mut d).map_err(|e| format!("bad hook frame: {e}"))?;
                let out = match &plugin {
                    Some(p) => p.call(&hook.call(), None),
                    None => crate::instance::HookOutcome {
                        hr: E_UNEXPECTED,
                        message: None,
                    },
                };
                Enc::new(protocol::T_HOOK_DONE)
                    .i32(out.hr)
                    .opt_str(out.message.as_deref())
            }
            t => return Err(format!("unknown request {t} on the control socket")),
        };
        match protocol::send(control.as_fd(), &reply.finish(), None) {
            Ok(()) => {}
            Err(ProtoError::Closed) => return Ok(()),
            Err(e) => return Err(format!("control socket: {e}")),
        }
    }
}

/// Waits until a request arrives (true) or the service has exited (false).
fn wait_for_request(control: &OwnedFd, service: &OwnedFd) -> Result<bool, String> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        let mut fds = [
            PollFd::new(control.as_fd(), PollFlags::POLLIN),
            PollFd::new(service.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("poll: {e}")),
            Ok(_) => {}
        }
        if fds[0].revents().is_some_and(|r| !r.is_empty()) {
            return Ok(true);
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            return Ok(false);
        }
    }
}

/// `T_LOAD`: protocol version, the API version the entry point sees, then the path
/// to load, or none when the verified file's descriptor came with the frame
/// (signatures on: never re-open the path).
fn load(
    d: &mut Dec<'_>,
    fd: Option<OwnedFd>,
    plugin: &mut Option<InProcessPlugin>,
    loaded_from: &mut Option<OwnedFd>,
) -> Result<(i32, String), ProtoError> {
    let version = d.u32()?;
    // Checked before reading on: another version's fields may not decode at all.
    if version != protocol::PROTOCOL_VERSION {
        return Ok((
            E_FAIL,
            format!(
                "wslpd speaks plugin-host protocol {version}, this wslp-plugin-host {}; \
                 install matching wslpd and wslp-plugin-host binaries",
                protocol::PROTOCOL_VERSION
            ),
        ));
    }
    let api_version = d.version()?;
    let by_path = d.opt_str()?;
    if plugin.is_some() {
        return Ok((E_UNEXPECTED, "the plugin is already loaded".into()));
    }
    let path = match (by_path, &fd) {
        (Some(p), _) => PathBuf::from(p),
        (None, Some(fd)) => PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
        (None, None) => return Ok((E_FAIL, "Load without a path or descriptor".into())),
    };
    *loaded_from = fd;
    // The name is only for the trace, which the service labels itself.
    match InProcessPlugin::load("", &path, api_version) {
        Ok(p) => {
            *plugin = Some(p);
            Ok((S_OK, String::new()))
        }
        Err(f) => Ok((f.hr, f.detail)),
    }
}

/// The plugin's VM calls, sent to the service one at a time: each holds the socket
/// for its request and reply, so threads of the plugin may call concurrently.
struct RemoteApi {
    sock: Mutex<(OwnedFd, Vec<u8>)>,
}

impl RemoteApi {
    /// One call: the HRESULT, the reply's tail after it, the descriptors.
    fn call_full(&self, frame: Vec<u8>) -> Result<(i32, Vec<u8>, Vec<OwnedFd>), i32> {
        if frame.len() > MAX_FRAME {
            return Err(E_INVALIDARG);
        }
        let mut guard = crate::sync::lock(&self.sock);
        let (sock, buf) = &mut *guard;
        // A service that went away answers as a closed session would.
        protocol::send(sock.as_fd(), &frame, None).map_err(|_| RPC_E_DISCONNECTED)?;
        let fds = protocol::recv_soon_fds(sock.as_fd(), buf).map_err(|_| RPC_E_DISCONNECTED)?;
        match buf.split_first() {
            Some((&protocol::T_API_DONE, rest)) if rest.len() >= 4 => {
                let hr = i32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
                Ok((hr, rest[4..].to_vec(), fds))
            }
            _ => Err(E_UNEXPECTED),
        }
    }

    /// One call whose failure is its HRESULT; the descriptor it returned, if any.
    fn call(&self, frame: Vec<u8>) -> Result<Option<OwnedFd>, i32> {
        let (hr, _, fds) = self.call_full(frame)?;
        if hr < 0 {
            return Err(hr);
        }
        Ok(fds.into_iter().next())
    }

    fn socket(&self, frame: Vec<u8>) -> Result<OwnedFd, i32> {
        self.call(frame)?.ok_or(E_UNEXPECTED)
    }

    /// A `Trace` frame, returning once the service has published it.
    fn notify(&self, frame: Vec<u8>) {
        let _ = self.call(frame);
    }
}

impl crate::wslc_api::WslcForwarder for Arc<RemoteApi> {
    fn mount_folder(
        &self,
        session: u32,
        host: &str,
        mountpoint: &str,
        ro: bool,
        traced: bool,
    ) -> i32 {
        let frame = Enc::new(protocol::T_WSLC_MOUNT)
            .u32(session)
            .str(host)
            .str(mountpoint)
            .u8(ro as u8)
            .u8(traced as u8)
            .finish();
        self.call_full(frame).map_or_else(|hr| hr, |(hr, _, _)| hr)
    }

    fn unmount_folder(&self, session: u32, mountpoint: &str, traced: bool) -> i32 {
        let frame = Enc::new(protocol::T_WSLC_UNMOUNT)
            .u32(session)
            .str(mountpoint)
            .u8(traced as u8)
            .finish();
        self.call_full(frame).map_or_else(|hr| hr, |(hr, _, _)| hr)
    }

    fn create_process(
        &self,
        session: u32,
        executable: &str,
        argv: &[String],
        env: &[String],
        traced: bool,
    ) -> Result<crate::wslc_api::WslcProcess, (i32, i32)> {
        let frame = Enc::new(protocol::T_WSLC_CREATE)
            .u32(session)
            .str(executable)
            .strs(argv)
            .strs(env)
            .u8(traced as u8)
            .finish();
        let (hr, tail, fds) = self.call_full(frame).map_err(|hr| (hr, 0))?;
        let mut d = Dec::body(&tail);
        let errno = d.i32().map_err(|_| (E_UNEXPECTED, 0))?;
        let token = d.u64().map_err(|_| (E_UNEXPECTED, errno))?;
        if hr < 0 {
            return Err((hr, errno));
        }
        let [stdin, stdout, stderr, exit_event] =
            <[OwnedFd; 4]>::try_from(fds).map_err(|_| (E_UNEXPECTED, errno))?;
        Ok(crate::wslc_api::WslcProcess {
            token,
            stdio: [stdin, stdout, stderr],
            exit_event,
        })
    }

    fn exit_code(&self, token: u64) -> Option<i32> {
        let frame = Enc::new(protocol::T_WSLC_EXIT_CODE).u64(token).finish();
        let (_, tail, _) = self.call_full(frame).ok()?;
        let mut d = Dec::body(&tail);
        match (d.u8().ok()?, d.i32().ok()?) {
            (1, code) => Some(code),
            _ => None,
        }
    }

    fn release(&self, token: u64) {
        let _ = self.call_full(Enc::new(protocol::T_WSLC_RELEASE).u64(token).finish());
    }
}

impl ApiForwarder for Arc<RemoteApi> {
    fn mount_folder(
        &self,
        session: u32,
        host_path: Option<String>,
        vm_path: Option<String>,
        read_only: bool,
        name: Option<String>,
        traced: bool,
    ) -> i32 {
        let frame = Enc::new(protocol::T_MOUNT)
            .u32(session)
            .opt_str(host_path.as_deref())
            .opt_str(vm_path.as_deref())
            .u8(read_only as u8)
            .opt_str(name.as_deref())
            .u8(traced as u8)
            .finish();
        self.call(frame).err().unwrap_or(S_OK)
    }

    fn execute_binary(
        &self,
        session: u32,
        path: Option<String>,
        argv: Vec<String>,
        traced: bool,
    ) -> Result<OwnedFd, i32> {
        self.socket(
            Enc::new(protocol::T_EXEC)
                .u32(session)
                .opt_str(path.as_deref())
                .strs(&argv)
                .u8(traced as u8)
                .finish(),
        )
    }

    fn execute_binary_in_distribution(
        &self,
        session: u32,
        distro: Option<GUID>,
        path: Option<String>,
        argv: Vec<String>,
        traced: bool,
    ) -> Result<OwnedFd, i32> {
        self.socket(
            Enc::new(protocol::T_EXEC_DISTRO)
                .u32(session)
                .opt_guid(distro.as_ref())
                .opt_str(path.as_deref())
                .strs(&argv)
                .u8(traced as u8)
                .finish(),
        )
    }
}
