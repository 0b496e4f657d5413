//! Running a command in a distribution (and `--debug-shell` in the VM).
//!
//! stdin, stdout and stderr go to the service as descriptors, so the command
//! reads and writes them directly: nothing is relayed and binary data passes
//! untouched. On a terminal, wslp makes a pty here (the command gets its slave
//! as controlling terminal), puts the terminal in raw mode and copies between
//! them, as ssh does; window size changes follow. SIGINT, SIGTERM, SIGHUP and
//! SIGQUIT sent to wslp are forwarded to the command.

use crate::session::{fail, send};
use nix::pty::openpty;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use std::io::{IsTerminal, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::mpsc;
use std::time::Duration;
use wslp_ipc::protocol::{ClientMessage, Request, RunCommand, RunRequest, ServerMessage};

const FORWARDED: [Signal; 5] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGWINCH,
];

pub struct RunArgs {
    pub distribution: Option<String>,
    pub user: Option<String>,
    pub cwd: Option<String>,
    pub command: RunCommand,
}

pub fn run(args: RunArgs) -> i32 {
    let tty = std::io::stdin().is_terminal();
    execute(tty, |tty| {
        Request::Run(RunRequest {
            distribution: args.distribution,
            user: args.user,
            cwd: args.cwd,
            command: args.command,
            tty,
            term: std::env::var("TERM").ok(),
            lang: std::env::var("LANG").ok(),
        })
    })
}

pub fn debug_shell() -> i32 {
    let tty = std::io::stdin().is_terminal();
    execute(tty, |tty| Request::DebugShell {
        tty,
        term: std::env::var("TERM").ok(),
    })
}

/// Restores the terminal when dropped, whatever way we leave.
struct RawMode(Termios);

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.0);
    }
}

/// Gives the pty `to` the window size of the terminal `from`; nothing when
/// `from` has none.
fn copy_winsize(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    if let Ok(ws) = rustix::termios::tcgetwinsize(from) {
        let _ = rustix::termios::tcsetwinsize(to, ws);
    }
}

fn execute(tty: bool, make: impl FnOnce(bool) -> Request) -> i32 {
    // Block the signals we forward before any thread exists, so only the
    // forwarding thread receives them (sigwait).
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    let _ = set.thread_block();

    let mut pty_master: Option<OwnedFd> = None;
    let mut _raw = None;
    let conn = if tty {
        let pty = match openpty(None, None) {
            Ok(p) => p,
            Err(e) => {
                return crate::session::fail_code(
                    &format!("Cannot allocate a pseudo-terminal: {e}"),
                    "E_FAIL",
                    1,
                )
            }
        };
        copy_winsize(std::io::stdin().as_fd(), pty.master.as_fd());
        let slave = pty.slave;
        let fds = [slave.as_fd(); 3];
        let conn = match send(make(true), &fds) {
            Ok(c) => c,
            Err(code) => return code,
        };
        drop(slave);
        if let Ok(t) = tcgetattr(std::io::stdin().as_fd()) {
            let mut raw = t.clone();
            cfmakeraw(&mut raw);
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &raw);
            _raw = Some(RawMode(t));
        }
        pty_master = Some(pty.master);
        conn
    } else {
        let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
        match send(
            make(false),
            &[stdin.as_fd(), stdout.as_fd(), stderr.as_fd()],
        ) {
            Ok(c) => c,
            Err(code) => return code,
        }
    };

    // Output of the pty, until its last slave closes.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    if let Some(master) = &pty_master {
        let mut out_master = std::fs::File::from(master.try_clone().expect("dup pty master"));
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            let mut out = std::io::stdout();
            while let Ok(n) = out_master.read(&mut buf) {
                if n == 0 || out.write_all(&buf[..n]).and_then(|_| out.flush()).is_err() {
                    break;
                }
            }
            let _ = done_tx.send(());
        });
        let mut in_master = std::fs::File::from(master.try_clone().expect("dup pty master"));
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            let mut input = std::io::stdin();
            while let Ok(n) = input.read(&mut buf) {
                if n == 0 || in_master.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }

    if let Ok(sender) = conn.try_clone() {
        let master = pty_master.as_ref().and_then(|m| m.try_clone().ok());
        std::thread::spawn(move || {
            while let Ok(sig) = set.wait() {
                if sig == Signal::SIGWINCH {
                    if let Some(m) = &master {
                        copy_winsize(std::io::stdin().as_fd(), m.as_fd());
                    }
                    continue;
                }
                if sender.send(&ClientMessage::Signal(sig as i32)).is_err() {
                    break;
                }
            }
        });
    }

    let mut exit = None;
    loop {
        match conn.recv::<ServerMessage>() {
            Ok((ServerMessage::Started { .. }, _)) => {}
            Ok((ServerMessage::Exited { code }, _)) => exit = Some(code),
            Ok((ServerMessage::Stderr(s), _)) => eprint!("{s}"),
            Ok((ServerMessage::Stdout(s), _)) => print!("{s}"),
            Ok((ServerMessage::Done, _)) => break,
            Ok((ServerMessage::Failed { text, exit_code }, _)) => {
                drop(_raw);
                return fail(&text, exit_code);
            }
            Ok(_) => {}
            Err(e) => {
                if exit.is_some() {
                    break;
                }
                drop(_raw);
                return crate::session::fail_code(
                    &format!("Lost the connection to the wslp service: {e}"),
                    "Service/RPC_E_DISCONNECTED",
                    1,
                );
            }
        }
    }
    if pty_master.is_some() {
        // Let the last output through; a background process may keep the pty open.
        let _ = done_rx.recv_timeout(Duration::from_millis(500));
    }
    drop(_raw);
    exit.unwrap_or(1)
}
