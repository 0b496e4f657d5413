//! `wslp --import NAME DIR TARBALL [--version 2]` and its inverse,
//! `wslp --export NAME FILE [--format F]`.
//!
//! The extraction runs here, in the root client, with a progress bar on a
//! terminal; the registry is locked and written atomically by wslp-distro, so a
//! running service sees the distribution only once it is complete. The service
//! is then told, to run OnDistributionRegistered.

use crate::session::{fail_code, paths, simple};
use std::io::IsTerminal;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use wslp_distro::{DistroStore, ImportSource};
use wslp_ipc::protocol::Request;

pub fn run(name: &str, dir: &str, tarball: &str, version: Option<u32>) -> i32 {
    import_as(name, dir, tarball, version, "Service/RegisterDistro")
}

/// An import whose error codes start with `code_base` (--import's, or --install's).
pub fn import_as(
    name: &str,
    dir: &str,
    tarball: &str,
    version: Option<u32>,
    code_base: &str,
) -> i32 {
    let code = |tail: &str| format!("{code_base}/{tail}");
    if let Some(v) = version {
        if v != 2 {
            return fail_code(
                &format!(
                    "wslp runs every distribution as WSL 2 does; --version {v} is not supported."
                ),
                &code("E_INVALIDARG"),
                1,
            );
        }
    }
    if !crate::session::paths().may_administer() {
        return fail_code(
            "Only root can import distributions. Run the command as root (for example with sudo).",
            &code("E_ACCESSDENIED"),
            1,
        );
    }
    let p = paths();
    let made = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(if is_root() { 0o755 } else { 0o700 })
        .create(&p.root);
    if let Err(e) = made {
        return fail_code(
            &format!("Cannot create {}: {e}", p.root.display()),
            &code("E_FAIL"),
            1,
        );
    }
    let (dir, tarball) = (absolute(dir), tarball.to_owned());
    let extract = move || {
        let store = match DistroStore::open(&p.root) {
            Ok(s) => s,
            Err(e) => return fail_code(&e.to_string(), &code("E_FAIL"), 1),
        };
        let source = if tarball == "-" {
            ImportSource::Reader(Box::new(std::io::stdin()))
        } else {
            ImportSource::Path(absolute(&tarball))
        };
        let progress = std::io::stderr().is_terminal();
        if let Err(e) = store.import(name, &dir, source, progress) {
            return fail_code(&e.to_string(), &code("E_FAIL"), 1);
        }
        0
    };
    let code_of_import = as_instance_root(extract, code_base);
    if code_of_import != 0 {
        return code_of_import;
    }
    simple(
        Request::Registered {
            name: name.to_string(),
        },
        |_| 0,
    )
}

/// `wslp --export NAME FILE [--format F]` (SPEC §12): the service stops the
/// distribution (its OnDistributionStopping hooks run, as for `-t`), then the
/// files are written here, as root, like an import.
pub fn export(name: &str, file: &str, format: Option<&str>) -> i32 {
    const CODE: &str = "Service/ExportDistro/E_FAIL";
    let format = match format {
        Some(f) => match wslp_distro::ExportFormat::from_name(f) {
            Some(f) => f,
            None => {
                return fail_code(
                    &format!("Unknown export format '{f}'; use tar, tar.gz, tar.xz or tar.zst."),
                    "Service/ExportDistro/E_INVALIDARG",
                    1,
                )
            }
        },
        None if file == "-" => wslp_distro::ExportFormat::Tar,
        None => wslp_distro::ExportFormat::from_path(std::path::Path::new(file)),
    };
    if !crate::session::paths().may_administer() {
        return fail_code(
            "Only root can export distributions. Run the command as root (for example with sudo).",
            "Service/ExportDistro/E_ACCESSDENIED",
            1,
        );
    }
    let store = match DistroStore::open(&paths().root) {
        Ok(s) => s,
        Err(e) => return fail_code(&e.to_string(), CODE, 1),
    };
    if let Err(e) = store.get(name) {
        return fail_code(&e.to_string(), "Service/WSL_E_DISTRO_NOT_FOUND", 1);
    }
    if std::os::unix::net::UnixStream::connect(paths().socket()).is_ok() {
        let code = simple(
            Request::Terminate {
                name: name.to_string(),
            },
            |_| 0,
        );
        if code != 0 {
            return code;
        }
    }
    let dest = if file == "-" {
        wslp_distro::ExportDest::Stdout
    } else {
        wslp_distro::ExportDest::Path(absolute(file))
    };
    let progress = file != "-" && std::io::stderr().is_terminal();
    let write = move || match store.export(name, dest, format, progress) {
        Ok(_) => 0,
        Err(e) => {
            let left = if file == "-" {
                ""
            } else {
                " Nothing was written."
            };
            fail_code(
                &format!("The distribution '{name}' could not be exported: {e}.{left}"),
                CODE,
                1,
            )
        }
    };
    as_instance_root(write, "Service/ExportDistro")
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Runs `work` (an import's extraction, an export's reading) as root of the
/// instance: root itself for the system instance; for a user's own instance,
/// root of a user namespace with their ids (SPEC §10), so a distribution's
/// files get and keep their owners. Says in one line when only root exists
/// there.
fn as_instance_root(work: impl FnOnce() -> i32, code_base: &str) -> i32 {
    if is_root() {
        return work();
    }
    let ran = wslp_vm::rootless::run_as_instance_root(|entered| match entered {
        Ok(ids) => {
            if let Some(w) = ids.warning {
                eprintln!("{w}");
            }
            work()
        }
        Err(e) => fail_code(&e.to_string(), &format!("{code_base}/E_ACCESSDENIED"), 1),
    });
    ran.unwrap_or_else(|e| fail_code(&e.to_string(), &format!("{code_base}/E_FAIL"), 1))
}

/// Relative to our working directory: the service runs with `/` as its own.
pub fn absolute(p: &str) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| PathBuf::from(p))
}
