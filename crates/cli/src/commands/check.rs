//! `wslp plugin check FILE` (SPEC §13): would this plugin load and run here?
//! Without registering it, in order:
//!
//! 1. the file: an ELF shared object of this machine's class and architecture;
//! 2. its `WSLPluginAPIV1_EntryPoint` export;
//! 3. the libraries it needs and the symbols and versions it binds to, found
//!    the way the dynamic loader finds them (`crate::ldso`), in the scope of
//!    the plugin host's own libraries;
//! 4. its signature against `$WSLP_ROOT/trust` (`wslp-trust`), and whether
//!    this instance requires one;
//! 5. its entry point, run against the real API table in a throw-away
//!    `wslp-plugin-host --check` process (with this instance's `api_version`
//!    and `hook_timeout_ms`): what it returned, the API calls it made, the
//!    hooks it set.
//!
//! Every step prints one line (problems in detail below it); the last line
//! is a summary for CI: `wslp plugin check: PASS FILE` or `wslp plugin check:
//! FAIL (<problem>, exit N) FILE`. The exit status is that of the first
//! problem ([`exit`]), 0 when there is none.
//!
//! Why a plugin host and not the service: the check needs no root and no
//! running service, touches no instance, and runs code nobody has vouched
//! for yet (no signature check gates it) in a process of its own, as the
//! invoking user, with no new privileges; and it is the very code the service
//! loads plugins with (`wslp-host`'s `ffi`), which `wslp` must not link.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::elf::{self, EntryPoint};
use crate::ldso;
use crate::session::paths;
use wslp_abi::hresult::{hresult_name, S_OK, WSL_E_PLUGIN_REQUIRES_UPDATE};
use wslp_abi::messages;
use wslp_trust::TrustError;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The plugin file (a .so).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The name it would be registered under, for the texts the user would see
    /// (default: the file's name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// How long the entry point may run (default: this instance's hook_timeout_ms, 30000).
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
}

/// Exit statuses of `wslp plugin check` (docs/plugin-diagnostics.md lists
/// them; scripts rely on them). Signature problems reuse `wslp verify`'s.
pub mod exit {
    /// The plugin would load and run.
    pub const OK: i32 = 0;
    /// The check itself could not be done (unreadable file, no plugin host).
    pub const OTHER: i32 = 1;
    pub use wslp_trust::exit::{BAD_DIGEST, EXPIRED, MALFORMED, UNSIGNED, UNTRUSTED, WRONG_USAGE};
    /// Not an ELF file.
    pub const NOT_ELF: i32 = 20;
    /// ELF, but not a shared object (an executable, an object file, a PIE).
    pub const NOT_SHARED_OBJECT: i32 = 21;
    /// Another class (32-bit) or architecture than this machine's.
    pub const WRONG_ARCHITECTURE: i32 = 22;
    /// `WSLPluginAPIV1_EntryPoint` is not exported.
    pub const NO_ENTRY_POINT: i32 = 23;
    /// A library, symbol or symbol version it needs does not resolve here.
    pub const UNRESOLVED: i32 = 24;
    /// The entry point returned a failure.
    pub const ENTRY_POINT_FAILED: i32 = 25;
    /// The entry point returned WSL_E_PLUGIN_REQUIRES_UPDATE.
    pub const REQUIRES_UPDATE: i32 = 26;
    /// The plugin crashed or exited while loading or in its entry point.
    pub const CRASHED: i32 = 27;
    /// The entry point did not return in time.
    pub const TIMEOUT: i32 = 28;
}

/// A problem: its token for the summary line and its exit status.
#[derive(Debug, Clone, Copy)]
struct Problem(&'static str, i32);

struct Report {
    problems: Vec<Problem>,
    color: bool,
}

impl Report {
    fn step(&self, label: &str, status: Status, text: &str) {
        let word = match status {
            Status::Ok => self.paint("32", "ok  "),
            Status::Fail => self.paint("1;31", "FAIL"),
            Status::Note => self.paint("33", "note"),
            Status::Skip => self.paint("2", "skip"),
            Status::Info => "    ".into(),
        };
        println!("  {label:<12}  {word}  {text}");
    }

    fn detail(&self, text: &str) {
        for line in text.lines() {
            println!("  {:<12}        {line}", "");
        }
    }

    fn fail(&mut self, label: &str, problem: Problem, text: &str) {
        self.step(label, Status::Fail, text);
        self.problems.push(problem);
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.into()
        }
    }
}

#[derive(Clone, Copy)]
enum Status {
    Ok,
    Fail,
    Note,
    Skip,
    Info,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    use std::io::IsTerminal;
    let shown = args.file.display().to_string();
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            return Ok(crate::session::fail_code(
                &format!(
                "Cannot read {shown}: {e}\nwslp plugin check: FAIL (unreadable, exit 1) {shown}"
            ),
                "E_FAIL",
                exit::OTHER,
            ))
        }
    };
    let name = args.name.clone().unwrap_or_else(|| {
        args.file
            .file_name()
            .map_or_else(|| shown.clone(), |n| n.to_string_lossy().into_owned())
    });
    let root = paths().root;
    // This instance's settings, as the service would read them; defaults when
    // they cannot be read (the check says so).
    let (settings, settings_note) = match wslp_config::Settings::load(&root) {
        Ok(s) => (s, None),
        Err(e) => (wslp_config::Settings::default(), Some(e.to_string())),
    };
    let mut r = Report {
        problems: vec![],
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    println!(
        "Checking {shown} as plugin '{name}' for the wslp instance at {}",
        root.display()
    );
    if let Some(note) = settings_note {
        r.step(
            "settings",
            Status::Note,
            &format!("{note}; checking with the default settings"),
        );
    }
    let host = plugin_host();
    let loadable = check_file(
        &mut r,
        &args.file,
        &bytes,
        host.as_deref(),
        settings.require_signatures,
    );
    check_signature(&mut r, &bytes, &root, settings.require_signatures);
    if loadable {
        let timeout = args
            .timeout_ms
            .map(Duration::from_millis)
            .or(settings.hook_timeout())
            .unwrap_or(Duration::from_secs(30));
        run_entry_point(
            &mut r,
            &args.file,
            &name,
            host.as_deref(),
            settings.api_version,
            timeout,
            settings.require_signatures,
        );
    } else {
        r.step(
            "entry point",
            Status::Skip,
            "not run: the dynamic loader would refuse the file",
        );
    }
    Ok(summary(&r, &shown))
}

fn summary(r: &Report, shown: &str) -> i32 {
    match r.problems.first() {
        None => {
            println!("wslp plugin check: PASS {shown}");
            exit::OK
        }
        Some(Problem(token, code)) => {
            let more = match r.problems.len() {
                1 => String::new(),
                n => format!(", {} more problem{}", n - 1, if n == 2 { "" } else { "s" }),
            };
            println!("wslp plugin check: FAIL ({token}, exit {code}{more}) {shown}");
            *code
        }
    }
}

/// Steps 1–3; true when the loader would map the file and find its entry point.
/// `by_descriptor`: the service would load it through `/proc/self/fd/N`
/// (signatures required), where the loader expands `$ORIGIN` to `/proc/self/fd`.
fn check_file(
    r: &mut Report,
    path: &Path,
    bytes: &[u8],
    host: Option<&Path>,
    by_descriptor: bool,
) -> bool {
    let info = match elf::read(bytes) {
        Ok(i) => i,
        Err(elf::ElfError::NotElf) => {
            r.fail(
                "file",
                Problem("not-elf", exit::NOT_ELF),
                &format!(
                    "not an ELF file ({}): a plugin is a Linux shared object, built with `gcc -shared -fPIC`",
                    elf::sniff(bytes)
                ),
            );
            return false;
        }
        Err(e) => {
            r.fail("file", Problem("not-elf", exit::NOT_ELF), &format!("{e}"));
            return false;
        }
    };
    let (machine, is_64) = elf::host_machine();
    let this = format!(
        "{}-bit {}",
        if is_64 { 64 } else { 32 },
        elf::machine_name(machine)
    );
    if !info.matches_host() {
        r.fail(
            "file",
            Problem("wrong-architecture", exit::WRONG_ARCHITECTURE),
            &format!(
                "{}: this machine loads {this} plugins; build it for {} ({})",
                info.describe(),
                std::env::consts::ARCH,
                if info.is_64 != is_64 {
                    "another class"
                } else {
                    "another architecture"
                }
            ),
        );
        return false;
    }
    if info.e_type != object::elf::ET_DYN || info.pie {
        r.fail(
            "file",
            Problem("not-shared-object", exit::NOT_SHARED_OBJECT),
            &format!(
                "{}: a plugin is a shared object; link it with `-shared -fPIC`",
                info.describe()
            ),
        );
        return false;
    }
    r.step(
        "file",
        Status::Ok,
        &format!("{} (this machine's architecture)", info.describe()),
    );
    let entry = match &info.entry_point {
        EntryPoint::Exported => {
            r.step(
                "export",
                Status::Ok,
                &format!("{} is exported", elf::ENTRY_POINT),
            );
            true
        }
        EntryPoint::NotExported => {
            r.fail(
                "export",
                Problem("no-entry-point", exit::NO_ENTRY_POINT),
                &format!(
                    "{} is defined but not exported (hidden visibility or static): mark it \
                     `EXTERN_C __declspec(dllexport)` as WslPluginApi.h's samples do",
                    elf::ENTRY_POINT
                ),
            );
            false
        }
        EntryPoint::Mangled(m) => {
            r.fail(
                "export",
                Problem("no-entry-point", exit::NO_ENTRY_POINT),
                &format!(
                    "{} is exported only under the C++ name {m}: declare it `EXTERN_C` (extern \"C\")",
                    elf::ENTRY_POINT
                ),
            );
            false
        }
        EntryPoint::Missing => {
            r.fail(
                "export",
                Problem("no-entry-point", exit::NO_ENTRY_POINT),
                &format!(
                    "does not export {}: loading it would fail with {} (HRESULT_FROM_WIN32(ERROR_PROC_NOT_FOUND))",
                    elf::ENTRY_POINT,
                    hresult_name(wslp_abi::hresult::hresult_from_win32(
                        wslp_abi::hresult::win32::ERROR_PROC_NOT_FOUND
                    ))
                ),
            );
            false
        }
    };
    // The scope the plugin lands in: the plugin host's own libraries (or,
    // without one, this program's: the same C runtime).
    let scope_exe = host
        .map(Path::to_path_buf)
        .or_else(|| std::env::current_exe().ok());
    let scope_info = scope_exe
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|d| elf::read(&d).ok());
    let env = ldso::SearchEnv::from_system(
        scope_info
            .as_ref()
            .and_then(|i| i.interp.as_deref())
            .or(info.interp.as_deref()),
    );
    let preloaded = scope_exe
        .map(|p| ldso::preload(&p, &env))
        .unwrap_or_default();
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let uses_origin = info
        .rpath
        .iter()
        .chain(info.runpath.iter().flatten())
        .any(|d| d.contains("$ORIGIN") || d.contains("${ORIGIN}"));
    let loaded_as = by_descriptor.then(|| PathBuf::from("/proc/self/fd/N"));
    let res = ldso::resolve(&abs, loaded_as.as_deref(), info, preloaded, &env);
    let libs_ok = report_libraries(r, &res, &env);
    if !res.missing.is_empty() && uses_origin && by_descriptor {
        r.detail(
            "the plugin's DT_RUNPATH or DT_RPATH uses $ORIGIN: with signatures required, wslp loads the \
             verified file through /proc/self/fd/N, and the loader then reads $ORIGIN as /proc/self/fd; \
             install the libraries where the loader finds them without $ORIGIN (a system directory or \
             the ld.so cache), or link them in statically",
        );
    }
    entry && libs_ok
}

/// The libraries and symbols lines; true when nothing is missing.
fn report_libraries(r: &mut Report, res: &ldso::Resolution, env: &ldso::SearchEnv) -> bool {
    let plugin_found: Vec<String> = res
        .found
        .iter()
        .map(|(name, by, i)| {
            let o = &res.objects[*i];
            let how = if o.preloaded {
                " (already in the plugin host)"
            } else {
                ""
            };
            format!("{name} => {}{how}  [needed by {by}]", o.path.display())
        })
        .collect();
    if res.missing.is_empty() {
        let n = res.found.len();
        r.step(
            "libraries",
            Status::Ok,
            &match n {
                0 => "none needed".to_string(),
                n => format!("{n} needed, all found:"),
            },
        );
        r.detail(&plugin_found.join("\n"));
    } else {
        let names: Vec<&str> = res.missing.iter().map(|m| m.name.as_str()).collect();
        r.fail(
            "libraries",
            Problem("unresolved", exit::UNRESOLVED),
            &format!("not found here: {}", names.join(", ")),
        );
        for m in &res.missing {
            let mut text = format!(
                "{} (needed by {}) is in none of: {}",
                m.name,
                m.needed_by,
                m.searched.join("; ")
            );
            if env.ld_library_path.is_empty() {
                text.push_str("; LD_LIBRARY_PATH is not set");
            }
            if !m.skipped.is_empty() {
                text.push_str(&format!(
                    "; skipped (wrong class or machine): {}",
                    m.skipped.join(", ")
                ));
            }
            r.detail(&text);
        }
        r.detail(&plugin_found.join("\n"));
    }
    if res.missing_versions.is_empty() && res.undefined.is_empty() {
        let n: usize = res
            .objects
            .iter()
            .filter(|o| !o.preloaded)
            .map(|o| o.info.imports.len())
            .sum();
        r.step(
            "symbols",
            Status::Ok,
            &format!("{n} imported symbols and every symbol version they need are defined"),
        );
        return res.missing.is_empty();
    }
    let mut lines = Vec::new();
    for (lib, version, by) in &res.missing_versions {
        lines.push(format!(
            "version {version} of {lib} is not defined by the {lib} found here (needed by {by}; built against a newer library?)"
        ));
    }
    const SHOWN: usize = 20;
    for (sym, by) in res.undefined.iter().take(SHOWN) {
        lines.push(format!(
            "undefined symbol: {sym} (needed by {by}; no loaded library defines it)"
        ));
    }
    if res.undefined.len() > SHOWN {
        lines.push(format!(
            "… and {} more undefined symbols",
            res.undefined.len() - SHOWN
        ));
    }
    if !res.missing.is_empty() {
        lines.push("(some may be defined by the libraries that were not found)".into());
    }
    r.fail(
        "symbols",
        Problem("unresolved", exit::UNRESOLVED),
        &format!(
            "{} undefined symbol{}, {} missing symbol version{}",
            res.undefined.len(),
            if res.undefined.len() == 1 { "" } else { "s" },
            res.missing_versions.len(),
            if res.missing_versions.len() == 1 {
                ""
            } else {
                "s"
            }
        ),
    );
    r.detail(&lines.join("\n"));
    false
}

/// Step 4.
fn check_signature(r: &mut Report, bytes: &[u8], root: &Path, required: bool) {
    let trust = wslp_trust::trust_dir(root);
    let verdict = wslp_trust::verify(bytes, &trust);
    let required_text = if required {
        "required"
    } else {
        "not required here (require_signatures = false)"
    };
    let (state, problem, subject) = match &verdict {
        Ok(s) => {
            r.step(
                "signature",
                Status::Ok,
                &format!(
                    "trusted: signed by '{}' (SHA-256 {}), valid until {}",
                    s.subject, s.fingerprint_sha256, s.not_after
                ),
            );
            return;
        }
        Err(TrustError::NoSignature) => ("unsigned", Problem("unsigned", exit::UNSIGNED), None),
        Err(TrustError::BadDigest) => (
            "tampered: the file changed after it was signed",
            Problem("tampered", exit::BAD_DIGEST),
            wslp_trust::claimed_signer(bytes)
                .ok()
                .flatten()
                .map(|s| s.subject),
        ),
        Err(TrustError::Untrusted { subject, .. }) => (
            "signed by an untrusted certificate",
            Problem("untrusted", exit::UNTRUSTED),
            Some(subject.clone()),
        ),
        Err(TrustError::Expired { subject, .. }) => (
            "signed by a certificate outside its validity period",
            Problem("expired", exit::EXPIRED),
            Some(subject.clone()),
        ),
        Err(TrustError::WrongUsage { subject, .. }) => (
            "signed by a certificate that is not for code signing",
            Problem("wrong-usage", exit::WRONG_USAGE),
            Some(subject.clone()),
        ),
        Err(TrustError::Malformed { .. }) => (
            "a malformed signature",
            Problem("malformed-signature", exit::MALFORMED),
            None,
        ),
        Err(_) => (
            "could not be checked",
            Problem("signature-unchecked", exit::OTHER),
            None,
        ),
    };
    let by = subject.map(|s| format!(" ('{s}')")).unwrap_or_default();
    let why = verdict
        .as_ref()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let text = format!("{state}{by}; signatures are {required_text}");
    if required {
        r.fail("signature", problem, &text);
        let hr = verdict.as_ref().err().map_or(S_OK, TrustError::hresult);
        r.detail(&format!(
            "{why}\nthe service would refuse it: Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/{}",
            hresult_name(hr)
        ));
    } else {
        r.step("signature", Status::Note, &text);
    }
}

/// `wslp-plugin-host`: `$WSLP_PLUGIN_HOST`, next to `wslp` (where `wslpd` is
/// found too), one level up from cargo's `deps/`, or on PATH.
fn plugin_host() -> Option<PathBuf> {
    const BIN: &str = "wslp-plugin-host";
    if let Some(p) = std::env::var_os("WSLP_PLUGIN_HOST").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        if dir.ends_with("deps") {
            dirs.extend(dir.parent().map(Path::to_path_buf));
        }
        dirs.insert(0, dir);
    }
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    dirs.into_iter().map(|d| d.join(BIN)).find(|p| p.is_file())
}

/// What the check-mode plugin host reported.
#[derive(Debug, Default)]
struct HostReport {
    result: Option<i32>,
    detail: String,
    hooks: Vec<String>,
    calls: Vec<(String, i32, String)>,
}

fn parse_report(text: &str) -> Option<HostReport> {
    let mut lines = text.lines();
    if lines.next()? != "wslp-plugin-check\t1" {
        return None;
    }
    let mut rep = HostReport::default();
    for line in lines {
        let mut f = line.split('\t');
        match f.next() {
            Some("result") => rep.result = f.next().and_then(|v| v.parse().ok()),
            Some("detail") => rep.detail = f.collect::<Vec<_>>().join(" "),
            Some("hooks") => rep.hooks = f.map(str::to_string).collect(),
            Some("call") => {
                let call = f.next().unwrap_or_default().to_string();
                let hr = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                rep.calls.push((call, hr, f.collect::<Vec<_>>().join(" ")));
            }
            _ => {}
        }
    }
    Some(rep)
}

/// Step 5.
fn run_entry_point(
    r: &mut Report,
    file: &Path,
    name: &str,
    host: Option<&Path>,
    api_version: wslp_abi::WSLVersion,
    timeout: Duration,
    by_descriptor: bool,
) {
    let Some(host) = host else {
        r.fail(
            "entry point",
            Problem("no-plugin-host", exit::OTHER),
            "not run: wslp-plugin-host was found neither in $WSLP_PLUGIN_HOST, next to wslp, nor on PATH \
             (install it beside wslp and wslpd)",
        );
        return;
    };
    let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let version = wslp_config::settings::version_string(api_version);
    let spawned = Command::new(host)
        .arg("--check")
        .arg(&abs)
        .args(["--api-version", &version])
        .args(by_descriptor.then_some("--by-descriptor"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .current_dir("/")
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            r.fail(
                "entry point",
                Problem("no-plugin-host", exit::OTHER),
                &format!("not run: cannot start {}: {e}", host.display()),
            );
            return;
        }
    };
    let pid = child.id() as i32;
    let read_all = |s: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut s) = s {
                let _ = s.read_to_end(&mut v);
            }
            v
        })
    };
    let out = read_all(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = read_all(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let waited = rx.recv_timeout(timeout);
    // Throw-away: whatever the plugin started goes with it.
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let status = match waited {
        Ok(s) => Some(s),
        Err(_) => {
            let _ = rx.recv();
            None
        }
    };
    let out = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
    let err = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
    let report = parse_report(&out);
    let api = format!("Api->Version {version}");
    match (report, status) {
        (Some(rep), _) if rep.result.is_some() => {
            let hr = rep.result.unwrap_or(S_OK);
            for (call, chr, args) in &rep.calls {
                r.step(
                    "api call",
                    Status::Info,
                    &format!(
                        "{call}({args}) returned {} during the entry point",
                        hresult_name(*chr)
                    ),
                );
            }
            if hr >= 0 {
                r.step(
                    "entry point",
                    Status::Ok,
                    &format!(
                        "returned {} ({api}) in a throw-away plugin host",
                        hresult_name(hr)
                    ),
                );
                let hooks = if rep.hooks.is_empty() {
                    "none".into()
                } else {
                    rep.hooks.join(", ")
                };
                r.step("hooks", Status::Info, &format!("set: {hooks}"));
            } else {
                let problem = if hr == WSL_E_PLUGIN_REQUIRES_UPDATE {
                    Problem("requires-update", exit::REQUIRES_UPDATE)
                } else if rep.detail.starts_with("WSLPluginAPIV1_EntryPoint returned") {
                    Problem("entry-point-failed", exit::ENTRY_POINT_FAILED)
                } else {
                    // dlopen or dlsym refused it: something the checks above missed.
                    Problem("unresolved", exit::UNRESOLVED)
                };
                r.fail(
                    "entry point",
                    problem,
                    &format!("{} ({api}): the service would say:", hresult_name(hr)),
                );
                r.detail(&messages::load_failure(name, hr));
                if !rep.detail.is_empty() {
                    r.detail(&format!("({})", rep.detail));
                }
            }
        }
        (_, None) => {
            r.fail(
                "entry point",
                Problem("timeout", exit::TIMEOUT),
                &format!(
                    "did not return within {} ms; the plugin host was killed",
                    timeout.as_millis()
                ),
            );
            r.detail(&messages::fatal_plugin_error(
                name,
                Some(&messages::timeout_message(timeout.as_millis() as u64)),
                messages::Stage::CreateVm,
                wslp_abi::hresult::hresult_from_win32(wslp_abi::hresult::win32::ERROR_TIMEOUT),
            ));
        }
        (_, Some(status)) => {
            use std::os::unix::process::ExitStatusExt;
            let message = match status.as_ref().ok().and_then(|s| s.signal()) {
                Some(sig) => messages::crashed_message(
                    nix::sys::signal::Signal::try_from(sig).map_or("unknown", |s| s.as_str()),
                ),
                None => messages::exited_message(
                    status.as_ref().ok().and_then(|s| s.code()).unwrap_or(-1),
                ),
            };
            r.fail(
                "entry point",
                Problem("crashed", exit::CRASHED),
                &format!("the plugin host died while loading the plugin: {message}"),
            );
            r.detail(&messages::fatal_plugin_error(
                name,
                Some(&message),
                messages::Stage::CreateVm,
                wslp_abi::hresult::hresult_from_win32(
                    wslp_abi::hresult::win32::ERROR_PROCESS_ABORTED,
                ),
            ));
        }
    }
    let err = err.trim_end();
    if !err.is_empty() {
        r.step("output", Status::Info, "what the plugin printed:");
        r.detail(err);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_reports_parse() {
        let rep = parse_report(
            "wslp-plugin-check\t1\nresult\t-2147220694\ndetail\tWSLPluginAPIV1_EntryPoint returned x\nhooks\tOnVMStarted\tOnVMStopping\ncall\tPluginError\t-2147483634\tmessage=\"x\"\n",
        )
        .unwrap();
        assert_eq!(rep.result, Some(-2147220694));
        assert_eq!(rep.hooks, ["OnVMStarted", "OnVMStopping"]);
        assert_eq!(rep.calls.len(), 1);
        assert!(parse_report("garbage\n").is_none());
        assert_eq!(parse_report("wslp-plugin-check\t1\n").unwrap().result, None);
    }
}
