//! `wslp --install --from-file FILE.wsl [--name NAME] [--location DIR]`
//! (SPEC §12): a `.wsl` file is a rootfs tarball whose
//! `/etc/wsl-distribution.conf` names it (`[oobe] defaultName`), gives its
//! default user (`defaultUid`) and a first-run command (`command`). The
//! command runs as root right after the install, on the terminal when there
//! is one, with its exit status shown; if it fails it stays pending and runs
//! again before root's next command in that distribution, as WSL does.

use super::import::{absolute, import_as};
use super::run::{run as run_command, RunArgs};
use crate::session::{fail_code, paths};
use wslp_distro::DistroStore;
use wslp_ipc::protocol::RunCommand;

const CODE: &str = "Service/InstallDistro";

/// Where pending first-run commands wait: `$WSLP_ROOT/first-run/<id>`
/// (root's alone; by id, so a later distribution of the same name never
/// inherits one). Checking that the folder is empty is all a command pays.
fn pending_dir() -> std::path::PathBuf {
    paths().root.join("first-run")
}

pub fn run(file: &str, name: Option<&str>, location: Option<&str>) -> i32 {
    if !crate::session::paths().may_administer() {
        return fail_code(
            "Only root can install distributions. Run the command as root (for example with sudo).",
            &format!("{CODE}/E_ACCESSDENIED"),
            1,
        );
    }
    let path = absolute(file);
    let conf = match wslp_distro::read_tarball_member(&path, "etc/wsl-distribution.conf", 64 << 10)
    {
        Ok(Some(bytes)) => {
            let (conf, problems) =
                wslp_distro::parse_distribution_conf(&String::from_utf8_lossy(&bytes));
            for p in problems {
                eprintln!(
                    "wslp: {file}: {}:{}: {}; the line is ignored",
                    wslp_distro::DISTRIBUTION_CONF,
                    p.line,
                    p.message
                );
            }
            conf
        }
        Ok(None) => wslp_distro::DistributionConf::default(),
        Err(e) => return fail_code(&e.to_string(), &format!("{CODE}/E_FAIL"), 1),
    };
    let Some(name) = name.map(str::to_owned).or(conf.default_name.clone()) else {
        return fail_code(
            &format!(
                "{file} names no distribution ([oobe] defaultName in {}); give it one with --name NAME.",
                wslp_distro::DISTRIBUTION_CONF
            ),
            &format!("{CODE}/E_INVALIDARG"),
            1,
        );
    };
    let dir = match location {
        Some(l) => l.to_owned(),
        None => paths()
            .root
            .join("distros")
            .join(&name)
            .display()
            .to_string(),
    };
    let code = import_as(&name, &dir, file, None, CODE);
    if code != 0 {
        return code;
    }
    let store = match DistroStore::open(&paths().root) {
        Ok(s) => s,
        Err(e) => return fail_code(&e.to_string(), &format!("{CODE}/E_FAIL"), 1),
    };
    if let Some(uid) = conf.default_uid {
        if let Err(e) = store.set_default_uid(&name, uid) {
            return fail_code(&e.to_string(), &format!("{CODE}/E_FAIL"), 1);
        }
    }
    let Some(command) = conf.command else {
        return 0;
    };
    let record = match store.get(&name) {
        Ok(r) => r,
        Err(e) => return fail_code(&e.to_string(), &format!("{CODE}/E_FAIL"), 1),
    };
    let pending = pending_dir().join(record.id.to_string());
    let written = std::fs::create_dir_all(pending_dir())
        .and_then(|_| wslp_config::write_atomic(&pending, command.as_bytes()));
    if let Err(e) = written {
        return fail_code(
            &format!("Cannot record the first-run command of '{name}': {e}"),
            &format!("{CODE}/E_FAIL"),
            1,
        );
    }
    first_run(&name, &pending, &command)
}

/// Runs `command` as root in `name`; clears `pending` when it succeeds.
fn first_run(name: &str, pending: &std::path::Path, command: &str) -> i32 {
    eprintln!("wslp: running the first-run command of '{name}': {command}");
    let code = run_command(RunArgs {
        distribution: Some(name.to_owned()),
        user: Some("root".into()),
        cwd: Some("/".into()),
        command: RunCommand::Exec(vec!["/bin/sh".into(), "-c".into(), command.to_owned()]),
    });
    if code == 0 {
        let _ = std::fs::remove_file(pending);
        eprintln!("wslp: the first-run command of '{name}' succeeded.");
    } else {
        eprintln!("wslp: the first-run command of '{name}' exited with {code}; it runs again before the next command.");
    }
    code
}

/// Before root's command in a distribution whose first-run command failed:
/// runs it again. `Some(exit code)` when it ran.
pub fn first_run_pending(distribution: Option<&str>) -> Option<i32> {
    if !crate::session::paths().may_administer() {
        return None;
    }
    let pending: Vec<_> = std::fs::read_dir(pending_dir()).ok()?.flatten().collect();
    if pending.is_empty() {
        return None;
    }
    let store = DistroStore::open(&paths().root).ok()?;
    // Those of unregistered distributions go: else every command of root's
    // would pay for this registry read.
    let ids: Vec<String> = store
        .list()
        .ok()?
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    for e in &pending {
        if !ids.iter().any(|id| e.file_name() == id.as_str()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let record = match distribution {
        Some(n) => store.get(n).ok()?,
        None => store.default().ok()??,
    };
    let pending = pending_dir().join(record.id.to_string());
    let command = std::fs::read_to_string(&pending).ok()?;
    Some(first_run(&record.name, &pending, &command))
}
