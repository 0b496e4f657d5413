//! The IPC protocol between `wslp` (and any other front end) and `wslpd`.
//!
//! One Unix stream socket per client. Every message is a [frame](crate::frame):
//! a little-endian `u32` length followed by that many bytes of a
//! postcard-encoded [`ClientMessage`] or [`ServerMessage`]. File descriptors (a
//! command's stdin, stdout and stderr) ride along the frame that needs them as
//! SCM_RIGHTS ancillary data, so the service never relays a byte of a command's
//! I/O.
//!
//! A connection starts with [`ClientMessage::Hello`] carrying [`PROTOCOL_VERSION`];
//! the service answers [`ServerMessage::Hello`] or an error when the versions differ.
//! Then the client sends one [`Request`]; the service answers with messages until
//! a final [`ServerMessage::Done`] or [`ServerMessage::Failed`].

use serde::{Deserialize, Serialize};

/// Bumped on every incompatible change of the types below.
pub const PROTOCOL_VERSION: u32 = 4;

/// Frames larger than this are refused: nothing legitimate comes near it.
pub const MAX_FRAME: usize = 1 << 20;

/// How many descriptors a frame may carry.
pub const MAX_FDS: usize = 4;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMessage {
    Hello {
        version: u32,
    },
    Request(Request),
    /// While a command runs: deliver this signal to it (SIGINT, SIGTERM, SIGHUP, …).
    Signal(i32),
}

/// Everything a front end can ask for: the CLI translates its flags into one of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Run a command in a distribution. Carries 3 fds: stdin, stdout, stderr.
    Run(RunRequest),
    /// An interactive shell in the VM's root namespace. Carries 3 fds.
    DebugShell {
        tty: bool,
        term: Option<String>,
    },
    /// A distribution was imported by the client (as root): run the registration hooks.
    Registered {
        name: String,
    },
    Unregister {
        name: String,
    },
    SetDefault {
        name: String,
    },
    List {
        running_only: bool,
    },
    Terminate {
        name: String,
    },
    /// Stop every distribution, the VM and the service.
    Shutdown,
    Status,
    /// Where the VM log is and whether the VM runs (for `wslp --status` and tests).
    VmLog,
    /// `wslp plugin trace`: stream the calls of these plugins (all when empty)
    /// until the client goes away (SPEC §13). Root, or the service's own user.
    Trace {
        plugins: Vec<String>,
    },
    /// `wslp --manage NAME --set-default-user USER` (SPEC §12): stored with
    /// the distribution; wsl.conf's `[user] default` wins over it. Root only.
    SetDefaultUser {
        name: String,
        user: String,
    },
    /// `wslp container|image|session …` (SPEC §11).
    Wslc(WslcRequest),
}

/// A WSLC operation. `session: None` is the caller's default session,
/// `wslc-cli-<user>`; a session is created on its first use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WslcRequest {
    SessionList,
    SessionTerminate {
        name: String,
    },
    /// `image import FILE NAME[:TAG]`: carries 1 fd, the tarball.
    ImageImport {
        session: Option<String>,
        reference: String,
    },
    /// `image load -i FILE`: carries 1 fd, the `docker save` archive.
    ImageLoad {
        session: Option<String>,
    },
    ImageList {
        session: Option<String>,
    },
    ImageRemove {
        session: Option<String>,
        name: String,
    },
    ImageInspect {
        session: Option<String>,
        name: String,
    },
    /// Carries 3 fds (stdin, stdout, stderr); without `detach` the
    /// container's output goes to them and its exit code is the client's.
    ContainerRun {
        session: Option<String>,
        image: String,
        command: Vec<String>,
        name: Option<String>,
        detach: bool,
        remove: bool,
        /// `-i`: the client's stdin goes to the container.
        interactive: bool,
        labels: Vec<(String, String)>,
    },
    ContainerList {
        session: Option<String>,
        all: bool,
    },
    /// `container exec`: carries 3 fds, as `ContainerRun` without `detach`.
    ContainerExec {
        session: Option<String>,
        name: String,
        command: Vec<String>,
        interactive: bool,
    },
    /// start, stop, kill, rm, inspect, logs of one container.
    Container {
        session: Option<String>,
        action: ContainerAction,
        name: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerAction {
    Start,
    Stop,
    Kill,
    Remove,
    Inspect,
    Logs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    pub distribution: Option<String>,
    pub user: Option<String>,
    pub cwd: Option<String>,
    pub command: RunCommand,
    /// Some of stdin, stdout, stderr are the slave of a pty the client made
    /// (those where it has a terminal): it becomes the controlling terminal.
    pub tty: bool,
    /// The client's TERM and LANG, passed into the command's environment.
    pub term: Option<String>,
    pub lang: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RunCommand {
    /// No command: the user's login shell.
    LoginShell,
    /// `-- CMD ARGS…` or `-e CMD ARGS…`: executed directly, no shell in between.
    Exec(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistroListing {
    pub name: String,
    pub state: DistroState,
    pub version: u32,
    pub is_default: bool,
    /// The default user's name when it is not root (`-l -v` shows it then).
    pub default_user: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DistroState {
    Stopped,
    Running,
}

impl std::fmt::Display for DistroState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DistroState::Stopped => "Stopped",
            DistroState::Running => "Running",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMessage {
    Hello {
        version: u32,
        service_pid: u32,
    },
    /// The command started; its exit follows as `Exited`.
    Started {
        pid: i32,
    },
    Exited {
        code: i32,
    },
    List(Vec<DistroListing>),
    /// Text for the client's stdout.
    Stdout(String),
    /// Text for the client's stderr.
    Stderr(String),
    /// A trace began: the registered plugins, in load order.
    TraceStarted {
        plugins: Vec<String>,
    },
    /// One call of a traced plugin.
    Trace(crate::trace::TraceEvent),
    /// This tracer did not keep up: `count` events were left out here.
    TraceDropped {
        count: u64,
    },
    /// The request succeeded; the client exits with 0.
    Done,
    /// The request failed: `text` is exactly what the user sees on stderr
    /// (WSL's two-line form for plugin failures), `exit_code` the client's status.
    Failed {
        text: String,
        exit_code: i32,
    },
}

/// The body of a frame carrying `msg` (the length prefix is the codec's).
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    postcard::to_stdvec(msg).expect("protocol messages always serialize")
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("malformed message: {0}")]
    Malformed(postcard::Error),
    #[error("connection closed")]
    Closed,
    #[error(transparent)]
    Frame(crate::frame::FrameError),
    #[error("protocol version mismatch: client {client}, service {service}; run `wslp --shutdown` so the service restarts at the new version")]
    Version { client: u32, service: u32 },
}

pub fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ProtocolError> {
    postcard::from_bytes(body).map_err(ProtocolError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let m = ClientMessage::Request(Request::Run(RunRequest {
            distribution: Some("d".into()),
            user: None,
            cwd: Some("/".into()),
            command: RunCommand::Exec(vec!["true".into()]),
            tty: false,
            term: None,
            lang: None,
        }));
        assert_eq!(decode::<ClientMessage>(&encode(&m)).unwrap(), m);
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<ClientMessage>(&bytes);
            let _ = decode::<ServerMessage>(&bytes);
        }
    }
}
