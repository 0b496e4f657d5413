//! Running a command in a distribution (and `--debug-shell` in the VM).
//!
//! stdin, stdout and stderr go to the service as descriptors, so the command
//! reads and writes them directly: nothing is relayed and binary data passes
//! untouched. Terminals are the exception, as with `ssh -t` and `docker exec
//! -t`: each of the three that is a terminal is replaced by the slave of a
//! pty made here (the command's controlling terminal), and wslp copies
//! between the pty and its own terminal, in raw mode when stdin is the
//! terminal; window size changes follow. So `wslp -- cmd > out.txt` typed at
//! a terminal writes the file untouched and keeps stderr on the terminal, and
//! the caller's own terminal never reaches the command: `sudo wslp -u alice
//! -- cmd < file` gives alice a pty, not root's terminal. SIGINT, SIGTERM,
//! SIGHUP, SIGQUIT, SIGTSTP and SIGCONT sent to wslp are forwarded to the
//! command (the service delivers no other).

use crate::session::{fail, send};
use nix::pty::openpty;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use std::io::{IsTerminal, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::mpsc;
use std::time::Duration;
use wslp_ipc::protocol::{ClientMessage, Request, RunCommand, RunRequest, ServerMessage};

/// Signals wslp catches: all but SIGWINCH (a resize of the pty here) are
/// forwarded.
const CAUGHT: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGTSTP,
    Signal::SIGCONT,
    Signal::SIGWINCH,
];

pub struct RunArgs {
    pub distribution: Option<String>,
    pub user: Option<String>,
    pub cwd: Option<String>,
    pub command: RunCommand,
}

pub fn run(args: RunArgs) -> i32 {
    execute(|tty| {
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
    execute(|tty| Request::DebugShell {
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

/// The descriptors the command gets: the pty slave where `ours` (stdin,
/// stdout, stderr) has a terminal, ours elsewhere.
pub fn command_fds<'a>(
    ttys: [bool; 3],
    slave: BorrowedFd<'a>,
    ours: [BorrowedFd<'a>; 3],
) -> [BorrowedFd<'a>; 3] {
    [0, 1, 2].map(|i| if ttys[i] { slave } else { ours[i] })
}

/// Which of ours the pty's output goes to: stdout when it is the terminal,
/// else stderr, else the terminal on stdin (a shell opens it for writing too).
pub fn pty_output(ttys: [bool; 3]) -> usize {
    if ttys[1] {
        1
    } else if ttys[2] {
        2
    } else {
        0
    }
}

fn execute(make: impl FnOnce(bool) -> Request) -> i32 {
    // Block the signals we catch before any thread exists, so only the
    // forwarding thread receives them (sigwait).
    let mut set = SigSet::empty();
    for s in CAUGHT {
        set.add(s);
    }
    let _ = set.thread_block();

    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let ours = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
    let ttys = [
        stdin.is_terminal(),
        stdout.is_terminal(),
        stderr.is_terminal(),
    ];
    // The terminal whose size and modes the pty takes.
    let term = ttys.iter().position(|t| *t).map(|i| ours[i]);
    let mut pty_master: Option<OwnedFd> = None;
    let mut _raw = None;
    let conn = if let Some(term) = term {
        let modes = tcgetattr(term).ok();
        let pty = match openpty(None, modes.as_ref()) {
            Ok(p) => p,
            Err(e) => {
                return crate::session::fail_code(
                    &format!("Cannot allocate a pseudo-terminal: {e}"),
                    "E_FAIL",
                    1,
                )
            }
        };
        copy_winsize(term, pty.master.as_fd());
        let slave = pty.slave;
        let conn = match send(make(true), &command_fds(ttys, slave.as_fd(), ours)) {
            Ok(c) => c,
            Err(code) => return code,
        };
        drop(slave);
        if ttys[0] {
            if let Some(t) = modes {
                let mut raw = t.clone();
                cfmakeraw(&mut raw);
                let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
                _raw = Some(RawMode(t));
            }
        }
        pty_master = Some(pty.master);
        conn
    } else {
        match send(make(false), &ours) {
            Ok(c) => c,
            Err(code) => return code,
        }
    };

    // Output of the pty, until its last slave closes.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    if let Some(master) = &pty_master {
        let mut out_master = std::fs::File::from(master.try_clone().expect("dup pty master"));
        let mut out = std::fs::File::from(
            ours[pty_output(ttys)]
                .try_clone_to_owned()
                .expect("dup our terminal"),
        );
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            while let Ok(n) = out_master.read(&mut buf) {
                if n == 0 || out.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = done_tx.send(());
        });
        if ttys[0] {
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
    }

    if let Ok(sender) = conn.try_clone() {
        let master = pty_master.as_ref().and_then(|m| m.try_clone().ok());
        let term = term.and_then(|t| t.try_clone_to_owned().ok());
        let raw_stdin = _raw.is_some();
        std::thread::spawn(move || {
            while let Ok(sig) = set.wait() {
                if sig == Signal::SIGWINCH {
                    if let (Some(m), Some(t)) = (&master, &term) {
                        copy_winsize(t.as_fd(), m.as_fd());
                    }
                    continue;
                }
                if sender.send(&ClientMessage::Signal(sig as i32)).is_err() {
                    break;
                }
                // Suspended from our own terminal (not raw: there Ctrl-Z goes
                // to the pty as a byte) or by `kill -TSTP`: the command
                // stops, and so do we, until the shell's `fg` (SIGCONT).
                if sig == Signal::SIGTSTP && !raw_stdin {
                    let _ = nix::sys::signal::raise(Signal::SIGSTOP);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn only_terminals_are_replaced_by_the_pty() {
        let f: Vec<std::fs::File> = (0..4)
            .map(|_| std::fs::File::open("/dev/null").unwrap())
            .collect();
        let ours = [f[0].as_fd(), f[1].as_fd(), f[2].as_fd()];
        let slave = f[3].as_fd();
        let raw = |ttys| command_fds(ttys, slave, ours).map(|fd| fd.as_raw_fd());
        let (s, o) = (slave.as_raw_fd(), ours.map(|fd| fd.as_raw_fd()));
        assert_eq!(raw([true, true, true]), [s, s, s]);
        // `wslp -- cmd > out.txt` at a terminal: the file is passed as it is.
        assert_eq!(raw([true, false, true]), [s, o[1], s]);
        // `sudo wslp -u alice -- cmd < file` on root's terminal.
        assert_eq!(raw([false, true, true]), [o[0], s, s]);
        assert_eq!(pty_output([true, false, true]), 2);
        assert_eq!(pty_output([true, true, false]), 1);
        assert_eq!(pty_output([true, false, false]), 0);
    }
}
