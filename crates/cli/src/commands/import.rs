//! `wslp --import NAME DIR TARBALL [--version 2]`.
//!
//! The extraction runs here, in the root client, with a progress bar on a
//! terminal; the registry is locked and written atomically by wslp-distro, so a
//! running service sees the distribution only once it is complete. The service
//! is then told, to run OnDistributionRegistered.

use crate::session::{fail_code, paths, simple};
use std::io::IsTerminal;
use std::path::PathBuf;
use wslp_distro::{DistroStore, ImportSource};
use wslp_ipc::protocol::Request;

pub fn run(name: &str, dir: &str, tarball: &str, version: Option<u32>) -> i32 {
    if let Some(v) = version {
        if v != 2 {
            return fail_code(
                &format!(
                    "wslp runs every distribution as WSL 2 does; --version {v} is not supported."
                ),
                "Service/RegisterDistro/E_INVALIDARG",
                1,
            );
        }
    }
    if !nix::unistd::geteuid().is_root() {
        return fail_code(
            "Only root can import distributions. Run the command as root (for example with sudo).",
            "Service/RegisterDistro/E_ACCESSDENIED",
            1,
        );
    }
    let p = paths();
    if let Err(e) = std::fs::create_dir_all(&p.root) {
        return fail_code(
            &format!("Cannot create {}: {e}", p.root.display()),
            "Service/RegisterDistro/E_FAIL",
            1,
        );
    }
    let store = match DistroStore::open(&p.root) {
        Ok(s) => s,
        Err(e) => return fail_code(&e.to_string(), "Service/RegisterDistro/E_FAIL", 1),
    };
    let source = if tarball == "-" {
        ImportSource::Reader(Box::new(std::io::stdin()))
    } else {
        ImportSource::Path(absolute(tarball))
    };
    let progress = std::io::stderr().is_terminal();
    if let Err(e) = store.import(name, &absolute(dir), source, progress) {
        return fail_code(&e.to_string(), "Service/RegisterDistro/E_FAIL", 1);
    }
    simple(
        Request::Registered {
            name: name.to_string(),
        },
        |_| 0,
    )
}

/// Relative to our working directory: the service runs with `/` as its own.
fn absolute(p: &str) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| PathBuf::from(p))
}
