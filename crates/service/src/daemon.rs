//! Start-up of wslpd: one instance per root (an flock), the socket, the log.

use crate::instance::Instance;
use anyhow::{bail, Context};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use tracing::info;
use wslp_config::Paths;
use wslp_ipc::client::READY_MARKER;

/// Options of `wslpd`.
#[derive(Debug, Default, Clone)]
pub struct DaemonOptions {
    /// Write the service's own log to stderr as well as to the log file.
    pub log_stderr: bool,
}

/// Runs the service for `paths` until it shuts down. Returns an error, with
/// what to do, when it cannot start; returns Ok(false) when another instance
/// already serves this root.
pub fn run(paths: Paths, opts: DaemonOptions) -> anyhow::Result<bool> {
    if !nix::unistd::geteuid().is_root() {
        bail!("wslpd must run as root (it creates namespaces and mounts); start it with sudo");
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&paths.root)
        .with_context(|| format!("cannot create the wslp root {}", paths.root.display()))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(paths.logs())?;

    if !take_instance_lock(&paths)? {
        return Ok(false);
    }

    let settings = wslp_config::Settings::load(&paths.root)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("the settings file is not valid; fix it and run the command again")?;
    init_logging(&paths, &settings.log_level, opts.log_stderr)?;

    let listener = match crate::sys::systemd_listener() {
        Some(l) => l,
        None => {
            let sock = paths.socket();
            let _ = std::fs::remove_file(&sock);
            let l = UnixListener::bind(&sock)
                .with_context(|| format!("cannot listen on {}", sock.display()))?;
            // Any local user may connect; what each may do is checked per request.
            std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666))?;
            l
        }
    };

    let backend = Box::new(wslp_vm::NamespaceBackend);
    let instance = Arc::new(
        Instance::new(paths.clone(), settings, backend)
            .map_err(|f| anyhow::anyhow!("{}", f.text))?,
    );
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
            .context("cannot start the signal thread")?;
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
fn take_instance_lock(paths: &Paths) -> anyhow::Result<bool> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(paths.lock())
            .with_context(|| format!("cannot open {}", paths.lock().display()))?;
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
                    bail!(
                        "another wslpd holds {} but does not answer on {}; stop it (or remove a hung one) and try again",
                        paths.lock().display(),
                        paths.socket().display()
                    );
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err((_, e)) => return Err(e).context("cannot lock the service lock file"),
        }
    }
}

fn init_logging(paths: &Paths, level: &str, to_stderr: bool) -> anyhow::Result<()> {
    use tracing_subscriber::{fmt, prelude::*, EnvFilter};
    let file: File = OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.service_log())
        .with_context(|| format!("cannot open the log {}", paths.service_log().display()))?;
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

/// Tells the `wslp` that started us that we are listening: the marker, then
/// stdout and stderr pointed at /dev/null (which gives the client its EOF).
fn ready() {
    use std::io::Write;
    let _ = std::io::stderr().write_all(READY_MARKER.as_bytes());
    if let Ok(null) = OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
        let _ = nix::unistd::dup2(null.as_raw_fd(), 2);
    }
}
