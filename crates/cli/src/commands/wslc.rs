//! `wslp container …`, `wslp image …`, `wslp session …` (SPEC §11): WSLC
//! sessions, each with a VM of its own running a real container engine.
//! Every command takes `--session NAME` (default `wslc-cli-<user>`); a
//! session is created on its first use.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::path::PathBuf;

use clap::Subcommand;
use wslp_ipc::protocol::{ContainerAction, Request, ServerMessage, WslcRequest};

use crate::session::{fail, fail_code, send, simple};

#[derive(clap::Args, Debug)]
pub struct ContainerArgs {
    /// The WSLC session (default: wslc-cli-<user>).
    #[arg(long, global = true, value_name = "NAME")]
    pub session: Option<String>,
    #[command(subcommand)]
    pub cmd: ContainerCmd,
}

#[derive(Subcommand, Debug)]
pub enum ContainerCmd {
    /// Run a container: `wslp container run --rm bb:1 echo hi`; its output and
    /// exit code are the command's (with -d: start it and print its id).
    Run {
        #[arg(long)]
        name: Option<String>,
        /// Start it in the background and print its id.
        #[arg(short = 'd', long)]
        detach: bool,
        /// Remove it once it exited.
        #[arg(long)]
        rm: bool,
        /// Pass this command's stdin to the container.
        #[arg(short = 'i', long)]
        interactive: bool,
        /// A label, KEY=VALUE (repeatable): `--label wslp.example/deny=true`.
        #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        image: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Run a command in a running container: `wslp container exec web cat /etc/hostname`.
    Exec {
        /// Pass this command's stdin to it.
        #[arg(short = 'i', long)]
        interactive: bool,
        container: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// Start a stopped container.
    Start { container: String },
    /// Stop a running container (SIGTERM, SIGKILL after 10 s).
    Stop { container: String },
    /// Kill a running container (SIGKILL).
    Kill { container: String },
    /// Remove a stopped container.
    Rm { container: String },
    /// A container as ContainerStarted sees it (wslc_schema JSON).
    Inspect { container: String },
    /// What a container wrote.
    Logs { container: String },
    /// List running containers (-a: all).
    Ls {
        #[arg(short = 'a', long)]
        all: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    /// The WSLC session (default: wslc-cli-<user>).
    #[arg(long, global = true, value_name = "NAME")]
    pub session: Option<String>,
    #[command(subcommand)]
    pub cmd: ImageCmd,
}

#[derive(Subcommand, Debug)]
pub enum ImageCmd {
    /// Load images from a `docker save` archive: `wslp image load -i busybox.tar`.
    Load {
        #[arg(short = 'i', long = "input", value_name = "FILE")]
        input: PathBuf,
    },
    /// Make an image from a rootfs tarball: `wslp image import rootfs.tar.gz bb:1`.
    Import {
        file: PathBuf,
        #[arg(value_name = "NAME[:TAG]")]
        reference: String,
    },
    /// Remove an image.
    Rm { image: String },
    /// List images.
    Ls,
    /// An image as ImageCreated sees it (wslc_schema JSON).
    Inspect { image: String },
}

#[derive(clap::Args, Debug)]
pub struct SessionArgs {
    #[command(subcommand)]
    pub cmd: SessionCmd,
}

#[derive(Subcommand, Debug)]
pub enum SessionCmd {
    /// Sessions of this service run (root sees every user's).
    List,
    /// Stop a session's VM and end the session (OnSessionStopping).
    Terminate { name: String },
}

fn wslc(r: WslcRequest) -> i32 {
    simple(Request::Wslc(r), |_| 0)
}

pub fn container(a: ContainerArgs) -> i32 {
    let session = a.session;
    let one = |action, name: String| {
        wslc(WslcRequest::Container {
            session: session.clone(),
            action,
            name,
        })
    };
    match a.cmd {
        ContainerCmd::Run {
            name,
            detach,
            rm,
            interactive,
            labels,
            image,
            command,
        } => {
            let mut parsed = Vec::new();
            for l in labels {
                match l.split_once('=') {
                    Some((k, v)) => parsed.push((k.to_string(), v.to_string())),
                    None => parsed.push((l, String::new())),
                }
            }
            run(WslcRequest::ContainerRun {
                session,
                image,
                command,
                name,
                detach,
                remove: rm,
                interactive,
                labels: parsed,
            })
        }
        ContainerCmd::Exec {
            interactive,
            container,
            command,
        } => run(WslcRequest::ContainerExec {
            session,
            name: container,
            command,
            interactive,
        }),
        ContainerCmd::Start { container } => one(ContainerAction::Start, container),
        ContainerCmd::Stop { container } => one(ContainerAction::Stop, container),
        ContainerCmd::Kill { container } => one(ContainerAction::Kill, container),
        ContainerCmd::Rm { container } => one(ContainerAction::Remove, container),
        ContainerCmd::Inspect { container } => one(ContainerAction::Inspect, container),
        ContainerCmd::Logs { container } => one(ContainerAction::Logs, container),
        ContainerCmd::Ls { all } => wslc(WslcRequest::ContainerList { session, all }),
    }
}

/// `container run` and `exec`: the client's stdin, stdout and stderr go to
/// the service, which passes the container's stdio through them.
fn run(req: WslcRequest) -> i32 {
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let fds = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
    let conn = match send(Request::Wslc(req), &fds) {
        Ok(c) => c,
        Err(code) => return code,
    };
    answers(&conn, None)
}

/// The service's answers to a WSLC request: text, then the command's exit
/// code or a failure. `progress` is cleared at the first answer.
fn answers(conn: &wslp_ipc::conn::Conn, progress: Option<&indicatif::ProgressBar>) -> i32 {
    let mut exit = None;
    loop {
        let msg = conn.recv::<ServerMessage>();
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        match msg {
            Ok((ServerMessage::Exited { code }, _)) => exit = Some(code),
            Ok((ServerMessage::Stdout(s), _)) => print!("{s}"),
            Ok((ServerMessage::Stderr(s), _)) => eprint!("{s}"),
            Ok((ServerMessage::Done, _)) => return exit.unwrap_or(0),
            Ok((ServerMessage::Failed { text, exit_code }, _)) => return fail(&text, exit_code),
            Ok(_) => {}
            Err(e) => {
                return fail_code(
                    &format!("Lost the connection to the wslp service: {e}"),
                    "Service/RPC_E_DISCONNECTED",
                    1,
                )
            }
        }
    }
}

pub fn image(a: ImageArgs) -> i32 {
    let session = a.session;
    match a.cmd {
        ImageCmd::Load { input } => with_file(&input, WslcRequest::ImageLoad { session }),
        ImageCmd::Import { file, reference } => {
            with_file(&file, WslcRequest::ImageImport { session, reference })
        }
        ImageCmd::Rm { image } => wslc(WslcRequest::ImageRemove {
            session,
            name: image,
        }),
        ImageCmd::Ls => wslc(WslcRequest::ImageList { session }),
        ImageCmd::Inspect { image } => wslc(WslcRequest::ImageInspect {
            session,
            name: image,
        }),
    }
}

/// Opens FILE as the caller (the service never opens a client's path) and
/// sends it with the request, with a progress line on a terminal.
fn with_file(path: &std::path::Path, req: WslcRequest) -> i32 {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            return fail_code(
                &format!("Cannot open {}: {e}", path.display()),
                "ERROR_FILE_NOT_FOUND",
                1,
            )
        }
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner().with_message(format!(
            "Sending {} ({:.1} MB) to the session's engine",
            path.display(),
            size as f64 / 1e6
        ));
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let conn = match send(Request::Wslc(req), &[file.as_fd()]) {
        Ok(c) => c,
        Err(code) => return code,
    };
    drop(file);
    answers(&conn, progress.as_ref())
}

pub fn session(a: SessionArgs) -> i32 {
    match a.cmd {
        SessionCmd::List => wslc(WslcRequest::SessionList),
        SessionCmd::Terminate { name } => wslc(WslcRequest::SessionTerminate { name }),
    }
}
