//! The wire protocol between the service and a plugin-host process (SPEC §8).
//!
//! Two Unix stream socket pairs per plugin host, so each side reads with plain
//! blocking calls and never has to route replies:
//! - *control* (fd 3 in the host): the service sends `Load` and hook calls, the host
//!   answers each one. Only one request is in flight at a time.
//! - *api* (fd 4 in the host): the host forwards the plugin's API calls, from any of
//!   its threads, one at a time; the service answers each one.
//!
//! Fd 5 in the host is the trace flag (a read-only memfd, see `trace`): while it
//! is non-zero the host sends `Trace` frames.
//!
//! Frames are `wslp-ipc`'s (a length, then the bytes, descriptors as `SCM_RIGHTS`
//! with the first byte; the service socket uses the same codec). A frame's bytes
//! here are a tag byte, then fixed-width little-endian integers and
//! length-prefixed UTF-8 strings. Decoding never trusts the peer: a short or
//! malformed frame is an error, not a panic.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use wslp_abi::{WSLVersion, GUID};
use wslp_ipc::frame::{FrameError, Limits};

use crate::instance::{DistroInfo, HookCall, OfflineDistroInfo, Session, WslcSession};

/// A `Trace` frame for `event`, made to fit: an event larger than a frame (a
/// huge argv) loses its arguments, and says so.
pub(crate) fn encode_trace(event: &wslp_ipc::trace::TraceEvent) -> Vec<u8> {
    let frame = |e: &wslp_ipc::trace::TraceEvent| {
        let mut v = vec![T_TRACE];
        v.extend(wslp_ipc::protocol::encode(e));
        v
    };
    let f = frame(event);
    if f.len() <= MAX_FRAME {
        return f;
    }
    let mut small = event.clone();
    small.args = vec![(
        "arguments".into(),
        wslp_ipc::trace::TraceValue::Str(format!("{} bytes, too large to trace", f.len())),
    )];
    small.message = small.message.map(|m| m.chars().take(1024).collect());
    frame(&small)
}

/// Decodes the body of a `Trace` frame (after its tag).
pub(crate) fn decode_trace(body: &[u8]) -> R<wslp_ipc::trace::TraceEvent> {
    wslp_ipc::protocol::decode(body).map_err(|_| ProtoError::Malformed("bad trace event"))
}

/// Bumped whenever a frame changes, so a stale plugin-host binary is refused with a
/// clear message instead of misreading frames. 2: `Load` carries the API version.
/// 3: stream sockets and `wslp-ipc`'s length-prefixed frames instead of
/// `SOCK_SEQPACKET` packets. 4: `Trace` frames, the trace flag on fd 5, the
/// hooks set in `LoadDone`. 5: the WSLC hooks. 6: the WSLC calls.
pub(crate) const PROTOCOL_VERSION: u32 = 6;

/// The largest frame either side sends or accepts. An API call bigger than this
/// (a huge argv) is refused with `E_INVALIDARG`.
pub(crate) const MAX_FRAME: usize = 128 * 1024;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ProtoError {
    #[error("the peer closed the connection")]
    Closed,
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
    #[error("frame larger than {MAX_FRAME} bytes")]
    TooLarge,
    #[error(transparent)]
    Frame(FrameError),
}

impl From<FrameError> for ProtoError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Closed => ProtoError::Closed,
            FrameError::TooLarge { .. } => ProtoError::TooLarge,
            e => ProtoError::Frame(e),
        }
    }
}

// Frame tags.
/// `Load`: protocol version (u32), `Api->Version` (major, minor, revision: u32 each),
/// then the path to load, or none when the verified file's descriptor travels beside.
pub(crate) const T_LOAD: u8 = 1;
/// `LoadDone`: the entry point's HRESULT, a detail for the log, the hooks it
/// set (`HookCall::bit`s).
pub(crate) const T_LOAD_DONE: u8 = 2;
pub(crate) const T_HOOK: u8 = 3;
pub(crate) const T_HOOK_DONE: u8 = 4;
/// `Mount`, `Exec`, `ExecDistro`: the call's arguments, then whether it is
/// traced (u8).
pub(crate) const T_MOUNT: u8 = 10;
pub(crate) const T_EXEC: u8 = 11;
pub(crate) const T_EXEC_DISTRO: u8 = 12;
pub(crate) const T_API_DONE: u8 = 13;
/// `Trace`, host to service on the api socket: a postcard-encoded
/// [`wslp_ipc::trace::TraceEvent`] of a call the host answered itself
/// (PluginError, a NULL out-pointer), sent only while the trace flag is set,
/// answered with `ApiDone` once published. (A forwarded call says in its last
/// byte whether it is traced; the service then records it as it serves it.)
/// Either way the event is out before the call returns to the plugin, so the
/// trace keeps the plugin's order and a hook's calls come before its reply.
pub(crate) const T_TRACE: u8 = 14;
/// The WSLC calls (SPEC §11). `WslcCreate`'s reply carries, after the
/// HRESULT, `*Errno` (i32) and the process's token (u64), with four
/// descriptors on success: stdin, stdout, stderr, the exit event.
/// `WslcExitCode`'s carries whether it exited (u8) and the code (i32).
pub(crate) const T_WSLC_MOUNT: u8 = 15;
pub(crate) const T_WSLC_UNMOUNT: u8 = 16;
pub(crate) const T_WSLC_CREATE: u8 = 17;
pub(crate) const T_WSLC_EXIT_CODE: u8 = 18;
pub(crate) const T_WSLC_RELEASE: u8 = 19;

/// Builds one frame.
pub(crate) struct Enc(Vec<u8>);

impl Enc {
    pub(crate) fn new(tag: u8) -> Enc {
        let mut v = Vec::with_capacity(64);
        v.push(tag);
        Enc(v)
    }
    pub(crate) fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    pub(crate) fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn i32(self, v: i32) -> Self {
        self.u32(v as u32)
    }
    pub(crate) fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn str(self, s: &str) -> Self {
        let mut e = self.u32(s.len() as u32);
        e.0.extend_from_slice(s.as_bytes());
        e
    }
    pub(crate) fn opt_str(self, s: Option<&str>) -> Self {
        match s {
            Some(s) => self.u8(1).str(s),
            None => self.u8(0),
        }
    }
    pub(crate) fn strs(self, v: &[String]) -> Self {
        v.iter().fold(self.u32(v.len() as u32), |e, s| e.str(s))
    }
    /// Bytes already encoded (a reply's tail).
    pub(crate) fn raw(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
    pub(crate) fn guid(self, g: &GUID) -> Self {
        let mut e = self
            .u32(g.Data1)
            .u32(u32::from(g.Data2) | u32::from(g.Data3) << 16);
        e.0.extend_from_slice(&g.Data4);
        e
    }
    pub(crate) fn opt_guid(self, g: Option<&GUID>) -> Self {
        match g {
            Some(g) => self.u8(1).guid(g),
            None => self.u8(0),
        }
    }
    pub(crate) fn version(self, v: WSLVersion) -> Self {
        self.u32(v.Major).u32(v.Minor).u32(v.Revision)
    }
    pub(crate) fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Reads one frame.
pub(crate) struct Dec<'a>(&'a [u8]);

type R<T> = Result<T, ProtoError>;

impl<'a> Dec<'a> {
    /// A decoder positioned after the tag, which is returned beside it.
    pub(crate) fn new(frame: &'a [u8]) -> R<(u8, Dec<'a>)> {
        match frame.split_first() {
            Some((tag, rest)) => Ok((*tag, Dec(rest))),
            None => Err(ProtoError::Malformed("empty frame")),
        }
    }
    /// A decoder of bytes with no tag (a reply's tail).
    pub(crate) fn body(bytes: &'a [u8]) -> Dec<'a> {
        Dec(bytes)
    }
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if self.0.len() < n {
            return Err(ProtoError::Malformed("truncated frame"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    pub(crate) fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    pub(crate) fn i32(&mut self) -> R<i32> {
        Ok(self.u32()? as i32)
    }
    pub(crate) fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    pub(crate) fn bool(&mut self) -> R<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(ProtoError::Malformed("bad flag")),
        }
    }
    pub(crate) fn str(&mut self) -> R<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| ProtoError::Malformed("bad UTF-8"))
    }
    pub(crate) fn opt_str(&mut self) -> R<Option<String>> {
        self.bool()?.then(|| self.str()).transpose()
    }
    pub(crate) fn strs(&mut self) -> R<Vec<String>> {
        let n = self.u32()? as usize;
        // Each string takes at least its 4-byte length: bound the allocation by the frame.
        if n > self.0.len() / 4 {
            return Err(ProtoError::Malformed("bad list length"));
        }
        (0..n).map(|_| self.str()).collect()
    }
    pub(crate) fn guid(&mut self) -> R<GUID> {
        let d1 = self.u32()?;
        let d23 = self.u32()?;
        let mut d4 = [0u8; 8];
        d4.copy_from_slice(self.take(8)?);
        Ok(GUID {
            Data1: d1,
            Data2: d23 as u16,
            Data3: (d23 >> 16) as u16,
            Data4: d4,
        })
    }
    pub(crate) fn opt_guid(&mut self) -> R<Option<GUID>> {
        self.bool()?.then(|| self.guid()).transpose()
    }
    pub(crate) fn version(&mut self) -> R<WSLVersion> {
        Ok(WSLVersion {
            Major: self.u32()?,
            Minor: self.u32()?,
            Revision: self.u32()?,
        })
    }
}

/// What either side accepts in one frame: one descriptor at most.
const LIMITS: Limits = Limits {
    max_len: MAX_FRAME,
    // WSLCCreateProcess's reply: three stdio sockets and an exit event.
    max_fds: 4,
};

/// Sends one frame, with `fd` beside it when given. Never raises SIGPIPE.
pub(crate) fn send(sock: BorrowedFd<'_>, frame: &[u8], fd: Option<BorrowedFd<'_>>) -> R<()> {
    send_fds(sock, frame, fd.as_slice())
}

/// [`send`] with several descriptors.
pub(crate) fn send_fds(sock: BorrowedFd<'_>, frame: &[u8], fds: &[BorrowedFd<'_>]) -> R<()> {
    if frame.len() > MAX_FRAME {
        return Err(ProtoError::TooLarge);
    }
    Ok(wslp_ipc::frame::send(sock, frame, fds)?)
}

/// Receives one frame into `buf` (resized to the frame) and the descriptor sent
/// beside it, if any. Descriptors arrive close-on-exec.
pub(crate) fn recv(sock: BorrowedFd<'_>, buf: &mut Vec<u8>) -> R<Option<OwnedFd>> {
    recv_until(sock, buf, None)
}

/// [`recv`], giving up with [`FrameError::TimedOut`] when the peer stops in the
/// middle of a frame past `deadline`.
pub(crate) fn recv_until(
    sock: BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    deadline: Option<Instant>,
) -> R<Option<OwnedFd>> {
    let fds = wslp_ipc::frame::recv(sock, buf, LIMITS, deadline)?;
    Ok(fds.into_iter().next())
}

/// [`recv_until`] without waiting for a frame to begin: `Ok(None)` when none has.
pub(crate) fn try_recv(
    sock: BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    deadline: Option<Instant>,
) -> R<Option<Option<OwnedFd>>> {
    let fds = wslp_ipc::frame::try_recv(sock, buf, LIMITS, deadline)?;
    Ok(fds.map(|fds| fds.into_iter().next()))
}

/// How long [`recv_soon_fds`] keeps its CPU busy before sleeping.
pub(crate) const SPIN: Duration = Duration::from_micros(50);

/// [`recv`] of a reply expected within microseconds, with every descriptor
/// that came. Waiting that long without sleeping (yielding to any runnable
/// thread) keeps this CPU from going idle, and waking an idle CPU costs tens
/// of microseconds in a VM; then it sleeps in `recv`.
pub(crate) fn recv_soon_fds(sock: BorrowedFd<'_>, buf: &mut Vec<u8>) -> R<Vec<OwnedFd>> {
    let until = Instant::now() + SPIN;
    while Instant::now() < until {
        if let Some(fds) = wslp_ipc::frame::try_recv(sock, buf, LIMITS, None)? {
            return Ok(fds);
        }
        std::thread::yield_now();
    }
    Ok(wslp_ipc::frame::recv(sock, buf, LIMITS, None)?)
}

const HOOK_VM_STARTED: u8 = 1;
const HOOK_VM_STOPPING: u8 = 2;
const HOOK_DISTRO_STARTED: u8 = 3;
const HOOK_DISTRO_STOPPING: u8 = 4;
const HOOK_DISTRO_REGISTERED: u8 = 5;
const HOOK_DISTRO_UNREGISTERED: u8 = 6;
const HOOK_SESSION_CREATED: u8 = 7;
const HOOK_SESSION_STOPPING: u8 = 8;
const HOOK_CONTAINER_STARTED: u8 = 9;
const HOOK_CONTAINER_STOPPING: u8 = 10;
const HOOK_IMAGE_CREATED: u8 = 11;
const HOOK_IMAGE_DELETED: u8 = 12;
const HOOK_WSLC_VM_STARTED: u8 = 13;
const HOOK_WSLC_VM_STOPPING: u8 = 14;

/// `T_HOOK` frame for one hook call.
pub(crate) fn encode_hook(hook: &HookCall<'_>) -> Vec<u8> {
    if let Some(w) = hook.wslc_session() {
        return encode_wslc_hook(hook, w);
    }
    let s = hook.session().expect("a V1 hook has a WSL session");
    let e = |kind: u8| Enc::new(T_HOOK).u8(kind).u32(s.id).u32(s.uid);
    let online = |e: Enc, d: &DistroInfo| {
        e.guid(&d.id)
            .str(&d.name)
            .u64(d.pid_namespace)
            .u32(d.init_pid)
            .opt_str(d.flavor.as_deref())
            .opt_str(d.version.as_deref())
    };
    let offline = |e: Enc, d: &OfflineDistroInfo| {
        e.guid(&d.id)
            .str(&d.name)
            .opt_str(d.flavor.as_deref())
            .opt_str(d.version.as_deref())
    };
    match *hook {
        HookCall::VmStarted {
            custom_configuration_flags,
            ..
        } => e(HOOK_VM_STARTED).u32(custom_configuration_flags),
        HookCall::VmStopping { .. } => e(HOOK_VM_STOPPING),
        HookCall::DistributionStarted { distro, .. } => online(e(HOOK_DISTRO_STARTED), distro),
        HookCall::DistributionStopping { distro, .. } => online(e(HOOK_DISTRO_STOPPING), distro),
        HookCall::DistributionRegistered { distro, .. } => {
            offline(e(HOOK_DISTRO_REGISTERED), distro)
        }
        HookCall::DistributionUnregistered { distro, .. } => {
            offline(e(HOOK_DISTRO_UNREGISTERED), distro)
        }
        _ => unreachable!("WSLC hooks return above"),
    }
    .finish()
}

/// A WSLC hook: kind, the WSLC session, then its string (inspect JSON or an id) when it has one.
fn encode_wslc_hook(hook: &HookCall<'_>, w: &WslcSession) -> Vec<u8> {
    let (kind, text) = match *hook {
        HookCall::SessionCreated { .. } => (HOOK_SESSION_CREATED, None),
        HookCall::SessionStopping { .. } => (HOOK_SESSION_STOPPING, None),
        HookCall::WslcVmStarted { .. } => (HOOK_WSLC_VM_STARTED, None),
        HookCall::WslcVmStopping { .. } => (HOOK_WSLC_VM_STOPPING, None),
        HookCall::ContainerStarted { inspect, .. } => (HOOK_CONTAINER_STARTED, Some(inspect)),
        HookCall::ContainerStopping { container_id, .. } => {
            (HOOK_CONTAINER_STOPPING, Some(container_id))
        }
        HookCall::ImageCreated { inspect, .. } => (HOOK_IMAGE_CREATED, Some(inspect)),
        HookCall::ImageDeleted { image_id, .. } => (HOOK_IMAGE_DELETED, Some(image_id)),
        _ => unreachable!("only WSLC hooks have a WSLC session"),
    };
    Enc::new(T_HOOK)
        .u8(kind)
        .u32(w.id)
        .str(&w.name)
        .u32(w.application_pid)
        .opt_str(text)
        .finish()
}

/// A decoded hook call, owning what [`HookCall`] borrows.
pub(crate) struct OwnedHook {
    kind: u8,
    session: Session,
    flags: u32,
    online: Option<DistroInfo>,
    offline: Option<OfflineDistroInfo>,
    wslc: Option<WslcSession>,
    text: String,
}

impl OwnedHook {
    /// Decodes the body of a `T_HOOK` frame.
    pub(crate) fn decode(d: &mut Dec<'_>) -> R<OwnedHook> {
        let kind = d.u8()?;
        if (HOOK_SESSION_CREATED..=HOOK_WSLC_VM_STOPPING).contains(&kind) {
            let wslc = WslcSession {
                id: d.u32()?,
                name: d.str()?,
                application_pid: d.u32()?,
            };
            let text = d.opt_str()?;
            let with_text = matches!(
                kind,
                HOOK_CONTAINER_STARTED
                    | HOOK_CONTAINER_STOPPING
                    | HOOK_IMAGE_CREATED
                    | HOOK_IMAGE_DELETED
            );
            if with_text != text.is_some() {
                return Err(ProtoError::Malformed("a WSLC hook's string"));
            }
            return Ok(OwnedHook {
                kind,
                session: Session { id: 0, uid: 0 },
                flags: 0,
                online: None,
                offline: None,
                wslc: Some(wslc),
                text: text.unwrap_or_default(),
            });
        }
        let session = Session {
            id: d.u32()?,
            uid: d.u32()?,
        };
        let mut h = OwnedHook {
            kind,
            session,
            flags: 0,
            online: None,
            offline: None,
            wslc: None,
            text: String::new(),
        };
        match kind {
            HOOK_VM_STARTED => h.flags = d.u32()?,
            HOOK_VM_STOPPING => {}
            HOOK_DISTRO_STARTED | HOOK_DISTRO_STOPPING => {
                h.online = Some(DistroInfo {
                    id: d.guid()?,
                    name: d.str()?,
                    pid_namespace: d.u64()?,
                    init_pid: d.u32()?,
                    flavor: d.opt_str()?,
                    version: d.opt_str()?,
                })
            }
            HOOK_DISTRO_REGISTERED | HOOK_DISTRO_UNREGISTERED => {
                h.offline = Some(OfflineDistroInfo {
                    id: d.guid()?,
                    name: d.str()?,
                    flavor: d.opt_str()?,
                    version: d.opt_str()?,
                })
            }
            _ => return Err(ProtoError::Malformed("unknown hook")),
        }
        Ok(h)
    }

    pub(crate) fn call(&self) -> HookCall<'_> {
        if let Some(wslc) = &self.wslc {
            let text = self.text.as_str();
            // `decode` checked that the kinds with a string have one.
            return match self.kind {
                HOOK_SESSION_CREATED => HookCall::SessionCreated { wslc },
                HOOK_SESSION_STOPPING => HookCall::SessionStopping { wslc },
                HOOK_CONTAINER_STARTED => HookCall::ContainerStarted {
                    wslc,
                    inspect: text,
                },
                HOOK_CONTAINER_STOPPING => HookCall::ContainerStopping {
                    wslc,
                    container_id: text,
                },
                HOOK_IMAGE_CREATED => HookCall::ImageCreated {
                    wslc,
                    inspect: text,
                },
                HOOK_IMAGE_DELETED => HookCall::ImageDeleted {
                    wslc,
                    image_id: text,
                },
                HOOK_WSLC_VM_STARTED => HookCall::WslcVmStarted { wslc },
                _ => HookCall::WslcVmStopping { wslc },
            };
        }
        let session = &self.session;
        // `decode` filled the field each kind needs.
        match self.kind {
            HOOK_VM_STARTED => HookCall::VmStarted {
                session,
                custom_configuration_flags: self.flags,
            },
            HOOK_DISTRO_STARTED => HookCall::DistributionStarted {
                session,
                distro: self.online.as_ref().expect("decoded"),
            },
            HOOK_DISTRO_STOPPING => HookCall::DistributionStopping {
                session,
                distro: self.online.as_ref().expect("decoded"),
            },
            HOOK_DISTRO_REGISTERED => HookCall::DistributionRegistered {
                session,
                distro: self.offline.as_ref().expect("decoded"),
            },
            HOOK_DISTRO_UNREGISTERED => HookCall::DistributionUnregistered {
                session,
                distro: self.offline.as_ref().expect("decoded"),
            },
            _ => HookCall::VmStopping { session },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    fn pair() -> (OwnedFd, OwnedFd) {
        let (a, b) = UnixStream::pair().unwrap();
        (a.into(), b.into())
    }

    #[test]
    fn every_hook_round_trips() {
        let s = Session { id: 7, uid: 1000 };
        let g = GUID {
            Data1: 0x1234_5678,
            Data2: 0x9abc,
            Data3: 0xdef0,
            Data4: [1, 2, 3, 4, 5, 6, 7, 8],
        };
        let d = DistroInfo {
            id: g,
            name: "Débian".into(),
            pid_namespace: 4026531836,
            init_pid: 42,
            flavor: Some("debian".into()),
            version: None,
        };
        let o = OfflineDistroInfo {
            id: g,
            name: "x".into(),
            flavor: None,
            version: Some("12".into()),
        };
        let w = WslcSession {
            id: 1,
            name: "wslc-cli-root".into(),
            application_pid: 4242,
        };
        let hooks = [
            HookCall::VmStarted {
                session: &s,
                custom_configuration_flags: 3,
            },
            HookCall::VmStopping { session: &s },
            HookCall::DistributionStarted {
                session: &s,
                distro: &d,
            },
            HookCall::DistributionStopping {
                session: &s,
                distro: &d,
            },
            HookCall::DistributionRegistered {
                session: &s,
                distro: &o,
            },
            HookCall::DistributionUnregistered {
                session: &s,
                distro: &o,
            },
            HookCall::SessionCreated { wslc: &w },
            HookCall::SessionStopping { wslc: &w },
            HookCall::ContainerStarted {
                wslc: &w,
                inspect: "{\"Id\":\"abc\"}",
            },
            HookCall::ContainerStopping {
                wslc: &w,
                container_id: "abc",
            },
            HookCall::ImageCreated {
                wslc: &w,
                inspect: "{}",
            },
            HookCall::ImageDeleted {
                wslc: &w,
                image_id: "sha256:0",
            },
            HookCall::WslcVmStarted { wslc: &w },
            HookCall::WslcVmStopping { wslc: &w },
        ];
        for h in hooks {
            let frame = encode_hook(&h);
            let (tag, mut dec) = Dec::new(&frame).unwrap();
            assert_eq!(tag, T_HOOK);
            let back = OwnedHook::decode(&mut dec).unwrap();
            assert_eq!(format!("{:?}", back.call()), format!("{h:?}"));
        }
    }

    #[test]
    fn truncated_frames_are_errors_not_panics() {
        let frame = Enc::new(T_EXEC)
            .u32(1)
            .opt_str(Some("/bin/true"))
            .strs(&["a".into(), "b".into()])
            .finish();
        for cut in 0..frame.len() {
            let Ok((_, mut d)) = Dec::new(&frame[..cut]) else {
                continue;
            };
            let r = (|| -> R<()> {
                d.u32()?;
                d.opt_str()?;
                d.strs()?;
                Ok(())
            })();
            assert!(r.is_err(), "cut at {cut}");
        }
    }

    proptest::proptest! {
        /// Frames from a plugin host are untrusted: any bytes decode to a value or
        /// an error, never a panic or a huge allocation.
        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            if let Ok((_, mut d)) = Dec::new(&bytes) {
                let _ = OwnedHook::decode(&mut d).map(|h| format!("{:?}", h.call()));
            }
            if let Ok((_, mut d)) = Dec::new(&bytes) {
                let _ = (|| -> R<()> {
                    d.u32()?;
                    d.opt_guid()?;
                    d.opt_str()?;
                    d.strs()?;
                    d.bool()?;
                    Ok(())
                })();
            }
        }

        #[test]
        fn api_frames_round_trip(
            session in proptest::prelude::any::<u32>(),
            path in proptest::option::of(".*"),
            argv in proptest::collection::vec(".*", 0..8),
            d1 in proptest::prelude::any::<u32>(),
        ) {
            let g = GUID { Data1: d1, Data2: 1, Data3: 2, Data4: [3; 8] };
            let frame = Enc::new(T_EXEC_DISTRO)
                .u32(session)
                .opt_guid(Some(&g))
                .opt_str(path.as_deref())
                .strs(&argv)
                .finish();
            let (tag, mut d) = Dec::new(&frame).unwrap();
            proptest::prop_assert_eq!(tag, T_EXEC_DISTRO);
            proptest::prop_assert_eq!(d.u32().unwrap(), session);
            proptest::prop_assert_eq!(d.opt_guid().unwrap(), Some(g));
            proptest::prop_assert_eq!(d.opt_str().unwrap(), path);
            proptest::prop_assert_eq!(d.strs().unwrap(), argv);
        }
    }

    #[test]
    fn load_frame_carries_the_api_version() {
        let v = WSLVersion {
            Major: 2,
            Minor: 0,
            Revision: u32::MAX,
        };
        let frame = Enc::new(T_LOAD)
            .u32(PROTOCOL_VERSION)
            .version(v)
            .opt_str(None)
            .finish();
        let (tag, mut d) = Dec::new(&frame).unwrap();
        assert_eq!(tag, T_LOAD);
        assert_eq!(d.u32().unwrap(), PROTOCOL_VERSION);
        assert_eq!(d.version().unwrap(), v);
        assert_eq!(d.opt_str().unwrap(), None);
        assert!(Dec::new(&frame[..frame.len() - 2])
            .unwrap()
            .1
            .version()
            .is_ok());
        assert!(Dec::new(&frame[..8]).unwrap().1.version().is_err());
    }

    #[test]
    fn frames_carry_a_descriptor() {
        let (a, b) = pair();
        let (x, _y) = pair();
        send(a.as_fd(), b"\x07hello", Some(x.as_fd())).unwrap();
        let mut buf = Vec::new();
        let fd = recv(b.as_fd(), &mut buf).unwrap();
        assert_eq!(buf, b"\x07hello");
        assert!(fd.is_some());
        drop(a);
        assert!(matches!(recv(b.as_fd(), &mut buf), Err(ProtoError::Closed)));
    }
}
