//! Verbs that are one request and a yes or no: --unregister, --set-default,
//! --manage --set-default-user,
//! --terminate, --shutdown, --status, --version.

use crate::session::{paths, simple};
use wslp_ipc::protocol::Request;

pub fn unregister(name: String) -> i32 {
    simple(Request::Unregister { name }, |_| 0)
}

pub fn set_default(name: String) -> i32 {
    simple(Request::SetDefault { name }, |_| 0)
}

pub fn set_default_user(name: String, user: String) -> i32 {
    simple(Request::SetDefaultUser { name, user }, |_| 0)
}

pub fn terminate(name: String) -> i32 {
    simple(Request::Terminate { name }, |_| 0)
}

pub fn status() -> i32 {
    simple(Request::Status, |_| 0)
}

/// Does not start a service only to stop it.
pub fn shutdown() -> i32 {
    if std::os::unix::net::UnixStream::connect(paths().socket()).is_err() {
        return 0;
    }
    let code = simple(Request::Shutdown, |_| 0);
    // The service exits right after answering; wait until it is gone (its
    // instance lock is free) so the next command surely starts a fresh one.
    if code == 0 {
        wait_until_gone(std::time::Duration::from_secs(10));
    }
    code
}

/// Waits, without polling, until no wslpd holds the root's instance lock:
/// a blocking shared lock on it, taken in a thread so the wait can end.
fn wait_until_gone(at_most: std::time::Duration) {
    use nix::fcntl::{Flock, FlockArg};
    let Ok(f) = std::fs::File::open(paths().lock()) else {
        return;
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let _ = std::thread::Builder::new().spawn(move || {
        let _ = tx.send(Flock::lock(f, FlockArg::LockShared).is_ok());
    });
    let _ = rx.recv_timeout(at_most);
}

/// The VM log, oldest first: the rotated part, then the current file. Read
/// from disk, so it works while the service is stopped too.
pub fn vm_log() -> i32 {
    let log = paths().vm_log();
    let mut rotated = log.clone().into_os_string();
    rotated.push(".1");
    let mut found = false;
    for p in [std::path::PathBuf::from(rotated), log.clone()] {
        match std::fs::read(&p) {
            Ok(bytes) => {
                found = true;
                use std::io::Write;
                let _ = std::io::stdout().write_all(&bytes);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return crate::session::fail_code(
                    &format!("Cannot read {}: {e}", p.display()),
                    "E_FAIL",
                    1,
                )
            }
        }
    }
    if !found {
        return crate::session::fail(
            &format!(
                "There is no VM log at {} yet: the utility VM has not run.",
                log.display()
            ),
            1,
        );
    }
    0
}

pub fn version() -> i32 {
    let v = wslp_abi::WSL_API_VERSION;
    println!("wslp version: {}", env!("CARGO_PKG_VERSION"));
    println!(
        "WSL plugin API version: {}.{}.{}",
        v.Major, v.Minor, v.Revision
    );
    println!("Kernel version: {}", kernel_release());
    0
}

fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}
