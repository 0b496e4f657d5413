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
    #[error("{} belongs to uid {owner}: only its owner runs its service (root for the system instance). Unset WSLP_ROOT to run an instance of your own.", .root.display())]
    NotOwner {
        root: std::path::PathBuf,
        owner: u32,
    },
    #[error("{} is owned by uid {uid} with mode {mode:o}: a per-user instance must be its owner's alone (chmod go-w {0})", .root.display())]
    RootNotOwnerOnly {
        root: std::path::PathBuf,
        uid: u32,
        mode: u32,
    },
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
    /// A per-user instance's user namespace could not be made.
    #[error("{0}")]
    UserNamespace(String),
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
    /// What [`prepare_per_user`] warned about, for the service log.
    pub per_user_warning: Option<String>,
}

/// For a user other than root, before any thread exists: checks that
/// `paths` is an instance of their own, creates its root (theirs alone), and
/// makes this process root of a user namespace of its own (SPEC §10).
/// Returns the warning to log about missing subordinate ids or helpers.
pub fn prepare_per_user(paths: &Paths) -> Result<Option<String>, DaemonError> {
    if !paths.may_administer() {
        return Err(DaemonError::NotOwner {
            root: paths.root.clone(),
            owner: match paths.kind() {
                wslp_config::InstanceKind::PerUser { uid } => uid,
                wslp_config::InstanceKind::System => 0,
            },
        });
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&paths.root)
        .map_err(io(format_args!(
            "cannot create the wslp root {}",
            paths.root.display()
        )))?;
    // With the host's real ids, which the namespace will hide (see
    // wslp_distro::check_chain).
    wslp_distro::check_chain(&paths.root, nix::unistd::geteuid().as_raw())
        .map_err(|e| DaemonError::UserNamespace(e.to_string()))?;
    crate::ids::enter_per_user_namespace().map_err(|e| DaemonError::UserNamespace(e.to_string()))
}

/// Runs the service for `paths` until it shuts down. Returns an error, with
/// what to do, when it cannot start; returns Ok(false) when another instance
/// already serves this root.
pub fn run(paths: Paths, opts: DaemonOptions) -> Result<bool, DaemonError> {
    // A per-user instance runs in its own user namespace, where its owner
    // is root ([`prepare_per_user`]).
    let per_user = !wslp_vm::rootless::in_initial_user_namespace();
    if !per_user && !nix::unistd::geteuid().is_root() {
        return Err(DaemonError::NotOwner {
            root: paths.root.clone(),
            owner: 0,
        });
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(if per_user { 0o700 } else { 0o755 })
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
    {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(&paths.root).map_err(io(format_args!(
            "cannot inspect the wslp root {}",
            paths.root.display()
        )))?;
        if m.uid() != 0 || m.mode() & 0o022 != 0 {
            let (root, uid, mode) = (paths.root.clone(), m.uid(), m.mode() & 0o7777);
            return Err(if per_user {
                DaemonError::RootNotOwnerOnly { root, uid, mode }
            } else {
                DaemonError::RootNotRootOnly { root, uid, mode }
            });
        }
    }
    if !take_instance_lock(&paths)? {
        return Ok(false);
    }

    let settings = wslp_config::Settings::load(&paths.root).map_err(DaemonError::Settings)?;
    init_logging(&paths, &settings.log_level, opts.log_stderr)?;
    if let Some(w) = &opts.per_user_warning {
        tracing::warn!("{w}");
    }
    raise_nofile_limit();

    let listener = match crate::sys::systemd_listener() {
        Some(l) => l,
        None => {
            let sock = paths.socket();
            let _ = std::fs::remove_file(&sock);
            let l = UnixListener::bind(&sock)
                .map_err(io(format_args!("cannot listen on {}", sock.display())))?;
            // The system instance: any local user may connect, and what each
            // may do is checked per request. A per-user one: its owner only.
            let mode = if per_user { 0o600 } else { 0o666 };
            std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(mode)).map_err(io(
                format_args!("cannot set the mode of {}", sock.display()),
            ))?;
            l
        }
    };

    let backend = Box::new(wslp_vm::NamespaceBackend);
    let instance =
        Arc::new(Instance::new(paths.clone(), settings, backend).map_err(DaemonError::Instance)?);
    // Plugins' WSLC calls go to this instance's sessions.
    #[cfg(feature = "wslc")]
    wslp_host::set_wslc_services(Arc::new(crate::wslc::Api::new(&instance)));
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
