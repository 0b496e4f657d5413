//! What a front end uses to reach the service of a root, starting it when it
//! does not run (no systemd needed).

use crate::conn::Conn;
use crate::frame::FrameError;
use crate::protocol::{ClientMessage, ProtocolError, ServerMessage, PROTOCOL_VERSION};
use std::io::{ErrorKind, Read};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wslp_config::Paths;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("The wslp service is not running and only root can start it. Run `sudo wslp --status` once to start it, or unset WSLP_ROOT to use an instance of your own.")]
    NotRunningNotRoot,
    #[error("The wslp service could not be started: {0}")]
    StartFailed(String),
    #[error("Cannot find the wslpd binary next to {0}; install wslp and wslpd together or put wslpd on PATH.")]
    NoDaemon(PathBuf),
    #[error("The wslp service at {path} is unreachable: {err}. Check that it runs (`wslp --status`) or remove a stale socket.")]
    Unreachable { path: PathBuf, err: std::io::Error },
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

/// Connects to the service of `paths`, starting `wslpd` when nothing listens.
///
/// A service that exits (idle, or `--shutdown` from another client) just as we
/// connect closes the connection during the handshake; that is retried with a
/// fresh service rather than reported.
pub fn connect(paths: &Paths) -> Result<Conn, ClientError> {
    let mut attempts = 0;
    loop {
        match connect_once(paths) {
            Err(ClientError::Protocol(e)) if attempts < 3 && went_away(&e) => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20 * attempts));
            }
            other => return other,
        }
    }
}

fn went_away(e: &ProtocolError) -> bool {
    match e {
        ProtocolError::Closed => true,
        ProtocolError::Frame(FrameError::Io(io)) => {
            matches!(
                io.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            )
        }
        _ => false,
    }
}

fn connect_once(paths: &Paths) -> Result<Conn, ClientError> {
    match UnixStream::connect(paths.socket()) {
        Ok(s) => return handshake(s),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {}
        Err(err) => {
            return Err(ClientError::Unreachable {
                path: paths.socket(),
                err,
            })
        }
    }
    // Root starts the system instance; a user starts only an instance of
    // their own (SPEC §10), never root's.
    if !paths.may_administer() {
        return Err(ClientError::NotRunningNotRoot);
    }
    start_daemon(paths)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match UnixStream::connect(paths.socket()) {
            Ok(s) => return handshake(s),
            Err(err) if Instant::now() >= deadline => {
                return Err(ClientError::Unreachable {
                    path: paths.socket(),
                    err,
                })
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn handshake(s: UnixStream) -> Result<Conn, ClientError> {
    let conn = Conn::new(s);
    // A service that refuses the connection (too many from this user) writes
    // why and closes at once, maybe before our Hello arrives: its answer is
    // read even when sending failed.
    let sent = conn.send(&ClientMessage::Hello {
        version: PROTOCOL_VERSION,
    });
    let answer = match (conn.recv::<ServerMessage>(), sent) {
        (Ok((m, _)), _) => m,
        (Err(_), Err(e)) => return Err(e.into()),
        (Err(e), Ok(())) => return Err(e.into()),
    };
    match answer {
        ServerMessage::Hello { .. } => Ok(conn),
        ServerMessage::Failed { text, .. } => Err(ClientError::StartFailed(text)),
        other => Err(ClientError::StartFailed(format!(
            "unexpected answer {other:?}"
        ))),
    }
}

/// Where `wslpd` is: `$WSLPD`, next to the running binary, or on PATH.
pub fn daemon_path() -> Result<PathBuf, ClientError> {
    if let Some(p) = std::env::var_os("WSLPD") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().unwrap_or_default();
    if let Some(dir) = exe.parent() {
        let p = dir.join("wslpd");
        if p.is_file() {
            return Ok(p);
        }
        // `cargo test` puts test binaries in target/<profile>/deps.
        if let Some(up) = dir.parent() {
            let p = up.join("wslpd");
            if dir.ends_with("deps") && p.is_file() {
                return Ok(p);
            }
        }
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let p = dir.join("wslpd");
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(ClientError::NoDaemon(exe))
}

/// Starts wslpd and waits until it listens (it closes its stderr) or fails
/// (its stderr says why).
fn start_daemon(paths: &Paths) -> Result<(), ClientError> {
    let bin = daemon_path()?;
    let mut child = Command::new(&bin)
        .env("WSLP_ROOT", &paths.root)
        .env("WSLP_SOCKET", paths.socket())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .current_dir(Path::new("/"))
        .spawn()
        .map_err(|e| ClientError::StartFailed(format!("{}: {e}", bin.display())))?;
    let mut err = String::new();
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    // EOF: the service is ready when the marker ends its output; otherwise it
    // exited, with its reason on stderr (or status 0: another one serves the root).
    if err.ends_with(READY_MARKER) {
        // Reap it later without blocking: it is our child until we exit.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        return Ok(());
    }
    match child.wait() {
        Ok(status) if status.success() => Ok(()),
        _ => Err(ClientError::StartFailed(
            err.trim().trim_start_matches("wslpd: ").to_string(),
        )),
    }
}

/// The last thing wslpd writes on its stderr once it listens. The `wslp` that
/// started it reads stderr to EOF: with this marker at the end the service is
/// ready; without it the text is why it could not start.
pub const READY_MARKER: &str = "wslpd: ready\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_socket_error_prints_its_cause_once() {
        let e = ClientError::Protocol(ProtocolError::Frame(FrameError::Io(
            std::io::Error::from_raw_os_error(104),
        )));
        let mut text = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            text = format!("{text}: {c}");
            cause = c.source();
        }
        assert_eq!(
            text,
            "socket error: Connection reset by peer (os error 104)"
        );
    }
}
