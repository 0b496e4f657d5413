//! The set-up the SPEC audit repeats: an [`Env`] with the audit plugin (or the
//! crash plugin) registered, distributions imported, and the plugin's log at
//! hand; plus the small readers of that log and of the CLI's answers.

use std::ops::Deref;
use std::path::{Path, PathBuf};

use wslp_e2e::*;

/// An [`Env`] with its plugin log (`scratch/plugin.log`), built step by step
/// in the order the test needs: plugins registered before an import see its
/// OnDistributionRegistered, those registered after do not.
pub struct Audit {
    env: Env,
    log: PathBuf,
}

impl Deref for Audit {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.env
    }
}

impl Audit {
    /// A fresh root with test signing on.
    pub fn new() -> Audit {
        Audit::on(Env::new())
    }

    /// A fresh root with this `wslp.toml`.
    pub fn with_settings(settings: &str) -> Audit {
        Audit::on(Env::with_settings(settings))
    }

    fn on(env: Env) -> Audit {
        let log = env.scratch().join("plugin.log");
        Audit { env, log }
    }

    /// Imports the busybox distribution under each name.
    pub fn with_distros(self, names: &[&str]) -> Audit {
        for n in names {
            self.env.import(n);
        }
        self
    }

    /// The audit plugin logging as `tag`, built with `defines`, registered
    /// as `name`; the service restarts so it is loaded.
    pub fn with_plugin(self, tag: &str, name: &str, defines: &[&str]) -> Audit {
        let so = self.build(tag, defines);
        self.env.add_plugin(name, &so);
        self
    }

    /// `tests/plugins/crash.c` logging to the plugin log, registered as `name`.
    pub fn with_crash_plugin(self, name: &str, defines: &[&str]) -> Audit {
        let log_def = format!("LOG_PATH=\"{}\"", self.log.display());
        let mut all = vec![log_def.as_str()];
        all.extend_from_slice(defines);
        let so = build_plugin("crash", &all, &self.env.scratch());
        self.env.add_plugin(name, &so);
        self
    }

    /// The audit plugin logging as `tag` to the plugin log, not registered
    /// (to sign it or change its owner first).
    pub fn build(&self, tag: &str, defines: &[&str]) -> PathBuf {
        audit_plugin(&self.env, &self.log, tag, defines)
    }

    /// What the plugins wrote to the plugin log so far.
    pub fn log(&self) -> String {
        log_of(&self.log)
    }
}

pub const CREATE_VM: &str = "Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/";
pub const CREATE_INSTANCE: &str = "Error code: Wsl/Service/CreateInstance/Plugin/";

/// The audit plugin (tests/plugins/audit_plugin.c) logging to `log` as `name`.
pub fn audit_plugin(env: &Env, log: &Path, name: &str, defines: &[&str]) -> PathBuf {
    let dir = env.scratch().join(format!("build-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let log_def = format!("LOG_PATH=\"{}\"", log.display());
    let name_def = format!("NAME=\"{name}\"");
    let mut all = vec![log_def.as_str(), name_def.as_str()];
    all.extend_from_slice(defines);
    build_plugin("audit_plugin", &all, &dir)
}

/// Writes `plugins.toml` by hand (entries in this order) and restarts the
/// service so it is loaded.
pub fn write_registry(env: &Env, body: &str) {
    std::fs::write(env.root.join("plugins.toml"), format!("[plugins]\n{body}")).unwrap();
    env.ok(&["--shutdown"]);
}

pub fn toml_entry(name: &str, path: &Path) -> String {
    format!("{name} = \"{}\"\n", path.display())
}

/// `wslp ARGS` fails with exactly `expected` (plus a newline) on stderr.
pub fn fails_with(env: &Env, args: &[&str], expected: &str) {
    let o = env.wslp(args);
    assert!(!o.status.success(), "wslp {args:?} should fail");
    assert_eq!(
        stderr(&o),
        format!("{expected}\n"),
        "stderr of wslp {args:?}"
    );
}

/// The hook lines (`<NAME> <Hook>`) of a plugin log, in order.
pub fn hook_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (name, hook) = (w.next()?, w.next()?);
            (hook.starts_with("On") || hook == "EntryPoint").then(|| format!("{name} {hook}"))
        })
        .collect()
}

/// The `out=[…]` of the log line starting with `prefix`, and its `hr=`.
pub fn call(log: &str, prefix: &str) -> (String, String) {
    let line = log
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{log}"));
    let hr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("hr="))
        .unwrap_or("")
        .to_string();
    let out = line
        .split_once("out=[")
        .map(|(_, o)| o.trim_end_matches(']').to_string())
        .unwrap_or_default();
    (hr, out)
}

pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A key pair under the env's scratch dir, trusted by the env.
pub fn trusted_signer(env: &Env) -> (PathBuf, PathBuf) {
    let (key, cert) = env.new_certificate("CN=audit");
    env.ok(&["trust", "add", cert.to_str().unwrap()]);
    (key, cert)
}

pub fn where_line(log: &str) -> String {
    log.lines()
        .find_map(|l| l.strip_prefix("W where="))
        .unwrap_or_else(|| panic!("no where= line in {log}"))
        .to_string()
}

/// stderr is WSL's two-line form: a message, then `Error code: …`.
pub fn assert_two_line_error(env: &Env, args: &[&str]) {
    let o = env.wslp(args);
    assert!(!o.status.success(), "wslp {args:?} should fail");
    let e = stderr(&o);
    let lines: Vec<&str> = e.lines().collect();
    assert!(
        lines.len() == 2 && !lines[0].is_empty() && lines[1].starts_with("Error code: "),
        "wslp {args:?}: {e:?}"
    );
}
