//! `wslpd`: the wslp service. Normally started on demand by `wslp`; also
//! runnable by hand or by systemd (socket activation, see contrib/systemd).

#![deny(unsafe_code)]

use std::process::ExitCode;
use wslp_config::Paths;
use wslp_service::daemon::{run, DaemonOptions};

fn main() -> ExitCode {
    let mut opts = DaemonOptions::default();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--log-stderr" => opts.log_stderr = true,
            "--version" | "-V" => {
                println!("wslpd {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            "--help" | "-h" => {
                println!("wslpd: the wslp service for $WSLP_ROOT (default /var/lib/wslp for root, ~/.local/share/wslp for anyone else: a per-user instance in user namespaces of its own).\n\nUsually started by `wslp` on demand. Options: --log-stderr, --version.");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("wslpd: unknown option '{other}' (see wslpd --help)");
                return ExitCode::from(2);
            }
        }
    }
    // Own session: the terminal of the `wslp` that started us must not hang us up.
    let _ = nix::unistd::setsid();
    // A `wslp` that forwards its signals blocks them, and we inherit its mask:
    // start from nothing blocked but what the service itself waits for
    // (SIGTERM, SIGINT: a graceful stop with the stop hooks; SIGHUP: ignored),
    // before any thread exists so every thread inherits it.
    let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
    let _ = wslp_service::daemon::stop_signals().thread_block();
    let paths = Paths::from_env();
    // Before any thread: the kernel gives a user namespace to a process
    // with one thread only.
    let mut warning = None;
    if !nix::unistd::geteuid().is_root() {
        match wslp_service::daemon::prepare_per_user(&paths) {
            Ok(w) => warning = w,
            Err(e) => {
                eprintln!("wslpd: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    opts.per_user_warning = warning;
    match run(paths.clone(), opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("wslpd: a service already runs for {}", paths.root.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wslpd: {e}");
            ExitCode::FAILURE
        }
    }
}
