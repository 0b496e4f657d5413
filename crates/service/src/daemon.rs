//! Start-up of wslpd: one instance per root (an flock), the socket, the log.

use crate::instance::Instance;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use tracing::info;
use wslp_config::Paths;
use wslp_ipc::client::READY_MARKER;

/// Why wslpd could not start. Each message is the whole sentence wslpd
/// prints (causes included, see the error convention in README.md), and says
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("wslpd must run as root (it creates namespaces and mounts); start it with sudo")]
    NotRoot,
    /// A file or directory of the root could not be made or opened.
    #[error("{what}: {cause}")]
    Io { what: String, cause: std::io::Error },
    #[error("the settings file is not valid; fix it and run the command again: {0}")]
    Settings(wslp_config::ConfigError),
    #[error("another wslpd holds {} but does not answer on {}; stop it (or remove a hung one) and try again", .lock.display(), .socket.display())]
    Unresponsive {
        lock: std::path::PathBuf,
        socket: std::path::PathBuf,
    },
    #[error("cannot lock the service lock file: {0}")]
    Lock(nix::errno::Errno),
    #[error("{} is owned by uid {uid} with mode {mode:o}: only root may change the system instance's state (chown root:root {0}; chmod go-w {0})", .root.display())]
    RootNotRootOnly {
        root: std::path::PathBuf,
        uid: u32,
        mode: u32,
    },
    /// The service's state could not be set up (its text is the user's).
    #[error("{0}")]
    Instance(crate::failure::Failure),
}

/// `.map_err(io(..))`: an I/O error with what was being done.
fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> DaemonError {
    move |cause| DaemonError::Io {
        what: what.to_string(),
        cause,
    }
}

/// Options of `wslpd`.
#[derive(Debug, Default, Clone)]
pub struct DaemonOptions {
    /// Write the service's own log to stderr as well as to the log file.
    pub log_stderr: bool,
}

/// Runs the service for `paths` until it shuts down. Returns an error, with
/// what to do, when it cannot start; returns Ok(false) when another instance
/// already serves this root.
pub fn run(paths: Paths, opts: DaemonOptions) -> Result<bool, DaemonError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(DaemonError::NotRoot);
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&paths.root)
        .map_err(io(format_args!(
            "cannot create the wslp root {}",
            paths.root.display()
        )))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(paths.logs())
        .map_err(io(format_args!(
            "cannot create the log directory {}",
            paths.logs().display()
        )))?;

    // Registry, settings, trust store and distributions hang off the root: a
    // root others can write lets them swap any of those (SPEC §2).
    if nix::unistd::geteuid().is_root() {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(&paths.root).map_err(io(format_args!(
            "cannot inspect the wslp root {}",
            paths.root.display()
        )))?;
        if m.uid() != 0 || m.mode() & 0o022 != 0 {
            return Err(DaemonError::RootNotRootOnly {
                root: paths.root.clone(),
                uid: m.uid(),
                mode: m.mode() & 0o7777,
            });
        }
    }
    if !take_instance_lock(&paths)? {
        return Ok(false);
    }

    let settings = wslp_config::Settings::load(&paths.root).map_err(DaemonError::Settings)?;
    init_logging(&paths, &settings.log_level, opts.log_stderr)?;
    raise_nofile_limit();

    let listener = match crate::sys::systemd_listener() {
        Some(l) => l,
        None => {
            let sock = paths.socket();
            let _ = std::fs::remove_file(&sock);
            let l = UnixListener::bind(&sock)
                .map_err(io(format_args!("cannot listen on {}", sock.display())))?;
            // Any local user may connect; what each may do is checked per request.
            std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).map_err(io(
                format_args!("cannot make {} reachable by every user", sock.display()),
            ))?;
            l
        }
    };

    let backend = Box::new(wslp_vm::NamespaceBackend);
    let instance =
        Arc::new(Instance::new(paths.clone(), settings, backend).map_err(DaemonError::Instance)?);
    {
        // systemctl stop and kill send SIGTERM: stop distributions and the VM
        // with their stop hooks (SPEC §4: they still work during a service
        // stop), then exit, as --shutdown does.
        let inst = instance.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || loop {
                match stop_signals().wait() {
                    Ok(nix::sys::signal::Signal::SIGHUP) => continue,
                    Ok(sig) => {
                        info!(signal = %sig, "stopping on signal");
                        crate::server::finish(&inst, 0);
                    }
                    Err(_) => return,
                }
            })
            .map_err(io("cannot start the signal thread"))?;
    }
    info!(root = %paths.root.display(), pid = std::process::id(), "wslpd started");
    if !opts.log_stderr {
        ready();
    }
    crate::server::serve(instance, listener);
    Ok(true)
}

/// The signals wslpd waits for on its own thread (blocked everywhere else).
pub fn stop_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

/// Takes the single-instance lock of the root, held for the life of the
/// process (the kernel drops it however we exit). Returns false when another
/// service is serving the root. A service that is shutting down still holds
/// the lock for a moment after its socket is gone; we wait for it rather than
/// leave the client that started us with nobody to talk to.
fn take_instance_lock(paths: &Paths) -> Result<bool, DaemonError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(paths.lock())
            .map_err(io(format_args!("cannot open {}", paths.lock().display())))?;
        match Flock::lock(lock, FlockArg::LockExclusiveNonblock) {
            Ok(held) => {
                std::mem::forget(held);
                return Ok(true);
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                if std::os::unix::net::UnixStream::connect(paths.socket()).is_ok() {
                    return Ok(false);
                }
                if std::time::Instant::now() >= deadline {
                    return Err(DaemonError::Unresponsive {
                        lock: paths.lock(),
                        socket: paths.socket(),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err((_, e)) => return Err(DaemonError::Lock(e)),
        }
    }
}

fn init_logging(paths: &Paths, level: &str, to_stderr: bool) -> Result<(), DaemonError> {
    use tracing_subscriber::{fmt, prelude::*, EnvFilter};
    let file: File = OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.service_log())
        .map_err(io(format_args!(
            "cannot open the log {}",
            paths.service_log().display()
        )))?;
    let filter = EnvFilter::try_from_env("WSLP_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let file_layer = fmt::layer()
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file));
    let stderr_layer = to_stderr.then(|| fmt::layer().with_writer(std::io::stderr));
    tracing_subscriber::registry()
        .with(filter)
        .with(file_layer)
        .with(stderr_layer)
        .try_init()
        .ok();
    Ok(())
}

/// Raises the soft descriptor limit to the hard one: each connection holds a
/// few descriptors (its socket, a command's stdio, a pty), and the admission
/// caps (`admission`) assume room for all of them.
fn raise_nofile_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::debug!(from = soft, to = hard, "descriptor limit raised"),
            Err(e) => tracing::warn!(error = %e, soft, hard, "cannot raise the descriptor limit"),
        },
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the descriptor limit"),
    }
}

/// Tells the `wslp` that started us that we are listening: the marker, then
/// stdout and stderr pointed elsewhere (which gives the client its EOF). What
/// is written there later, by in-process plugins above all, goes to the
/// service log, as the SDK documents; /dev/null only if no pipe can be made.
fn ready() {
    use std::io::Write;
    let _ = std::io::stderr().write_all(READY_MARKER.as_bytes());
    match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok((r, w)) => {
            let _ = nix::unistd::dup2(w.as_raw_fd(), 1);
            let _ = nix::unistd::dup2(w.as_raw_fd(), 2);
            drop(w);
            let spawned = std::thread::Builder::new()
                .name("wslpd-stderr".into())
                .spawn(move || wslp_host::forward_log(r, "(in process)"));
            if spawned.is_ok() {
                return;
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "no pipe for the service's stderr; in-process plugins' output is lost")
        }
    }
    if let Ok(null) = OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
        let _ = nix::unistd::dup2(null.as_raw_fd(), 2);
    }
}
