//! `wslp-plugin-host --check FILE --api-version M.m.r [--by-descriptor]`: the last step of
//! `wslp plugin check` (SPEC §13). Loads FILE with the code the service uses
//! (`ffi`: `dlopen` with `RTLD_NOW`, the entry point called once with the real
//! API table and a zeroed hooks table) in this throw-away process, and writes
//! what happened to its stdout for `wslp` to print; whatever the plugin itself
//! prints goes to stderr. No service, no session: an API call the entry point
//! makes gets what it would get there before any VM runs
//! (`RPC_E_DISCONNECTED`), and is reported.
//!
//! Stdout receives lines of fields separated by tabs (shown here as
//! `→`; what `wslp` and this binary, installed together, agree on):
//!
//! ```text
//! wslp-plugin-check→1
//! result→<HRESULT as a signed decimal>
//! detail→<why loading failed, one line; empty on success>
//! hooks→<name>→<name>…
//! call→<API call>→<HRESULT>→<its arguments, one line>
//! ```
//!
//! A plugin that crashes or exits in its constructors or entry point never
//! writes `result`: `wslp` reports how this process ended instead.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::{Arc, Mutex};

use wslp_ipc::trace::{TraceEvent, TraceValue};

use crate::ffi::InProcessPlugin;

/// The first line's tag and version.
pub const CHECK_FORMAT: &str = "wslp-plugin-check\t1";

/// Runs the check and exits: 0 when a report was written, 2 on bad arguments.
/// With `by_descriptor`, the file is opened and loaded through
/// `/proc/self/fd/N`, as the service loads a plugin whose signature it checked.
pub(crate) fn run(path: &str, version: &str, by_descriptor: bool) -> ! {
    let Some(version) = wslp_config::settings::parse_version(version) else {
        eprintln!("wslp-plugin-host: --api-version takes MAJOR.MINOR.REVISION, not {version:?}");
        std::process::exit(2);
    };
    let _ = nix::sys::prctl::set_no_new_privs();
    crate::sys::close_from(3);
    // The report keeps the real stdout; the plugin's prints go to stderr.
    let report = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .and_then(|fd| nix::unistd::dup2(2, 1).map(|_| fd).map_err(Into::into));
    let mut out = match report {
        Ok(fd) => std::fs::File::from(fd),
        Err(e) => {
            eprintln!("wslp-plugin-host --check: cannot set up its output: {e}");
            std::process::exit(2);
        }
    };
    // Trace everything the entry point does: this process's own flag, set.
    let calls: Arc<Mutex<Vec<TraceEvent>>> = Arc::default();
    let flag = crate::sys::SharedU32::create("wslp-check").map(|(flag, _)| {
        flag.get().store(1, std::sync::atomic::Ordering::Relaxed);
        flag
    });
    let sink_calls = calls.clone();
    crate::trace::set_remote(
        flag.ok(),
        Box::new(move |e| crate::sync::lock(&sink_calls).push(e)),
    );
    let opened = match by_descriptor {
        true => std::fs::File::open(path).map(Some),
        false => Ok(None),
    };
    let loaded = match &opened {
        Ok(Some(f)) => {
            use std::os::fd::AsRawFd;
            let through = format!("/proc/self/fd/{}", f.as_raw_fd());
            InProcessPlugin::load("", Path::new(&through), version)
        }
        Ok(None) => InProcessPlugin::load("", Path::new(path), version),
        Err(e) => Err(crate::ffi::LoadFailure {
            hr: wslp_abi::hresult::hresult_from_win32(
                wslp_abi::hresult::win32::ERROR_MOD_NOT_FOUND,
            ),
            detail: format!("{path}: {e}"),
            message: None,
        }),
    };
    let mut report = vec![CHECK_FORMAT.to_string()];
    match &loaded {
        Ok(p) => {
            report.push("result\t0".into());
            report.push("detail\t".into());
            report.push(
                std::iter::once("hooks")
                    .chain(p.hooks_set())
                    .collect::<Vec<_>>()
                    .join("\t"),
            );
        }
        Err(f) => {
            report.push(format!("result\t{}", f.hr));
            report.push(format!("detail\t{}", one_line(&f.detail)));
            report.push("hooks".into());
        }
    }
    for e in crate::sync::lock(&calls).iter() {
        report.push(format!(
            "call\t{}\t{}\t{}",
            e.call,
            e.result,
            one_line(&args_text(&e.args))
        ));
    }
    let text = report.join("\n") + "\n";
    if out.write_all(text.as_bytes()).is_err() {
        std::process::exit(1);
    }
    std::process::exit(0)
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r', '\t'], " ")
}

fn args_text(args: &[(String, TraceValue)]) -> String {
    args.iter()
        .map(|(k, v)| match v {
            TraceValue::Null => format!("{k}=NULL"),
            TraceValue::Bool(b) => format!("{k}={b}"),
            TraceValue::Int(i) => format!("{k}={i}"),
            TraceValue::Str(s) => format!("{k}={s:?}"),
            TraceValue::List(l) => format!("{k}={l:?}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
