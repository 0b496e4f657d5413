//! SPEC §13's `wslp plugin trace` through the real `wslp`, `wslpd` and
//! `wslp-plugin-host`: a C plugin's hooks and API calls while distributions
//! start, with arguments, result names and durations; the crash line of a
//! plugin host; two tracers at once; a tracer that stops reading, which the
//! start never waits for; and who may trace.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use wslp_e2e::*;

/// Not a measurement: how long a test waits for a line before it fails
/// instead of hanging.
const PATIENCE: Duration = Duration::from_secs(120);

/// A running `wslp plugin trace ARGS`, subscribed once `start` returns.
struct Tracer {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Tracer {
    fn start(env: &Env, args: &[&str]) -> Tracer {
        let mut child = env
            .cmd()
            .args(["plugin", "trace"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The banner comes once the service has subscribed us.
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut banner = String::new();
        err.read_line(&mut banner).unwrap();
        assert!(
            banner.starts_with("Tracing"),
            "tracer did not start: {banner:?}"
        );
        let (tx, lines) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Tracer { child, lines }
    }

    /// Lines until one satisfies `last` (included).
    fn until(&self, last: impl Fn(&str) -> bool) -> Vec<String> {
        let mut got = Vec::new();
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(l) => {
                    let done = last(&l);
                    got.push(l);
                    if done {
                        return got;
                    }
                }
                Err(_) => panic!("the trace ended or stalled; so far:\n{}", got.join("\n")),
            }
        }
    }

    /// JSON events until one with `call` and an argument `distribution` =
    /// `distro` (included).
    fn json_until(&self, call: &str, distro: &str) -> Vec<Value> {
        self.until(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["call"] == call && v["args"]["distribution"] == distro
        })
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn calls(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["call"].as_str().unwrap()).collect()
}

fn one<'a>(events: &'a [Value], call: &str) -> &'a Value {
    let found: Vec<&Value> = events.iter().filter(|e| e["call"] == call).collect();
    assert_eq!(found.len(), 1, "one {call} in {events:#?}");
    found[0]
}

/// Every event has the documented keys and types.
fn well_formed(e: &Value) {
    let time = e["time"].as_str().unwrap();
    assert!(
        time.len() == 27 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "{e}"
    );
    assert_eq!(e["plugin"], "Traced", "{e}");
    assert!(e["args"].is_object(), "{e}");
    assert!(e["result"].is_string(), "{e}");
    assert!(e["duration_us"].is_u64(), "{e}");
    let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
    for k in &keys {
        assert!(
            [
                "time",
                "plugin",
                "call",
                "args",
                "result",
                "duration_us",
                "message"
            ]
            .contains(&k.as_str()),
            "unexpected key {k} in {e}"
        );
    }
}

fn traced_env(defines: &[&str]) -> Env {
    let env = Env::new();
    let so = build_plugin("traced", defines, &env.scratch());
    env.add_plugin("Traced", &so);
    env
}

#[test]
fn a_start_shows_each_hook_and_call_with_arguments_result_and_duration() {
    let env = Env::new();
    let shared = env.scratch().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let so = build_plugin(
        "traced",
        &[
            &format!("HOST_DIR=\"{}\"", shared.display()),
            "FAIL_DISTRO=L\"Denied\"",
        ],
        &env.scratch(),
    );
    env.add_plugin("Traced", &so);
    env.import("Fine");
    env.import("Denied");
    let json = Tracer::start(&env, &["--json"]);
    let text = Tracer::start(&env, &["Traced"]);

    env.run_true("Fine");
    let o = env.wslp(&["-d", "Denied", "--", "true"]);
    assert_eq!(
        stderr(&o),
        "A fatal error was returned by plugin 'Traced'. Error message: 'no entry for Denied'\n\
         Error code: Wsl/Service/CreateInstance/Plugin/E_ACCESSDENIED\n"
    );

    let events = json.json_until("OnDistributionStarted", "Denied");
    assert_eq!(
        calls(&events),
        [
            "MountFolder",
            "ExecuteBinary",
            "OnVMStarted",
            "OnDistributionStarted",
            "PluginError",
            "OnDistributionStarted"
        ],
        "{events:#?}"
    );
    events.iter().for_each(well_formed);

    let mount = one(&events, "MountFolder");
    assert_eq!(mount["result"], "S_OK");
    assert_eq!(mount["args"]["host_path"], shared.to_str().unwrap());
    assert_eq!(mount["args"]["vm_path"], "/mnt/traced");
    assert_eq!(mount["args"]["read_only"], true);
    assert_eq!(mount["args"]["name"], "traced");
    let exec = one(&events, "ExecuteBinary");
    assert_eq!(exec["result"], "S_OK");
    assert_eq!(exec["args"]["path"], "/bin/echo");
    assert_eq!(
        exec["args"]["argv"],
        serde_json::json!(["/bin/echo", "traced"])
    );
    assert_eq!(exec["args"]["session"], mount["args"]["session"]);
    let vm = one(&events, "OnVMStarted");
    assert_eq!(vm["result"], "S_OK");
    assert_eq!(vm["args"]["session"], mount["args"]["session"]);
    // The hook waited for the calls it made.
    assert!(
        vm["duration_us"].as_u64().unwrap()
            >= exec["duration_us"].as_u64().unwrap() + mount["duration_us"].as_u64().unwrap()
    );

    let started: Vec<&Value> = events
        .iter()
        .filter(|e| e["call"] == "OnDistributionStarted")
        .collect();
    assert_eq!(started[0]["args"]["distribution"], "Fine");
    assert_eq!(started[0]["result"], "S_OK");
    assert!(started[0].get("message").is_none());
    let id = started[0]["args"]["id"].as_str().unwrap();
    assert!(
        id.len() == 38 && id.starts_with('{') && id.ends_with('}'),
        "{id}"
    );
    assert!(started[0]["args"]["init_pid"].as_u64().unwrap() > 0);
    assert!(started[0]["args"]["pid_namespace"].as_u64().unwrap() > 0);
    let error = one(&events, "PluginError");
    assert_eq!(error["result"], "S_OK");
    assert_eq!(error["args"]["message"], "no entry for Denied");
    let denied = started[1];
    assert_eq!(denied["args"]["distribution"], "Denied");
    assert_eq!(denied["result"], "E_ACCESSDENIED");
    assert_eq!(denied["message"], "no entry for Denied");
    assert_ne!(denied["args"]["id"], started[0]["args"]["id"]);

    // The same, as aligned text: the columns start at the same place.
    let lines = text.until(|l| l.contains("OnDistributionStarted") && l.contains("Denied"));
    assert_eq!(lines.len(), 6, "{lines:#?}");
    let denied = lines.last().unwrap();
    for part in [
        "Traced",
        "E_ACCESSDENIED",
        " µs",
        "distribution=Denied",
        "message=\"no entry for Denied\"",
    ] {
        assert!(denied.contains(part), "{part:?} in {denied}");
    }
    assert!(
        !denied.contains('\x1b'),
        "no colour into a pipe: {denied:?}"
    );
    let column = |l: &str, word: &str| l.find(word).unwrap();
    assert_eq!(
        column(&lines[0], "S_OK"),
        column(denied, "E_ACCESSDENIED"),
        "{lines:#?}"
    );
    assert!(
        lines[1].contains("argv=[/bin/echo, traced]"),
        "{}",
        lines[1]
    );
}

#[test]
fn two_tracers_at_once_both_see_the_events() {
    let env = traced_env(&[]);
    env.import("D");
    let all = Tracer::start(&env, &["--json"]);
    let named = Tracer::start(&env, &["--json", "Traced"]);
    env.run_true("D");
    for t in [&all, &named] {
        let events = t.json_until("OnDistributionStarted", "D");
        assert_eq!(
            calls(&events),
            ["ExecuteBinary", "OnVMStarted", "OnDistributionStarted"]
        );
    }
    // Naming a plugin that is not registered is an error, not an empty trace.
    let o = env.wslp(&["plugin", "trace", "Nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("There is no plugin named 'Nope'")
            && stderr(&o).contains("registered: Traced")
            && stderr(&o).ends_with("Error code: Wsl/Service/ERROR_NOT_FOUND\n"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_crashing_plugin_shows_the_crash_line() {
    let env = traced_env(&["SEGV_DISTRO=L\"Victim\""]);
    env.import("Victim");
    env.import("Other");
    let t = Tracer::start(&env, &["--json"]);
    let o = env.wslp(&["-d", "Victim", "--", "true"]);
    assert!(
        stderr(&o).contains("The plugin crashed (SIGSEGV)."),
        "{}",
        stderr(&o)
    );
    let events = t.json_until("OnDistributionStarted", "Victim");
    assert_eq!(
        calls(&events),
        [
            "ExecuteBinary",
            "OnVMStarted",
            "PluginHostCrashed",
            "OnDistributionStarted"
        ]
    );
    let crash = one(&events, "PluginHostCrashed");
    assert_eq!(crash["result"], "ERROR_PROCESS_ABORTED");
    assert_eq!(crash["message"], "The plugin crashed (SIGSEGV).");
    assert_eq!(crash["args"]["during"], "OnDistributionStarted");
    assert!(crash["args"]["pid"].as_u64().unwrap() > 0);
    let hook = events.last().unwrap();
    assert_eq!(hook["result"], "ERROR_PROCESS_ABORTED");
    assert_eq!(hook["message"], "The plugin crashed (SIGSEGV).");
    // The next hook's new plugin host: its entry point is a line too.
    env.run_true("Other");
    let more = t.json_until("OnDistributionStarted", "Other");
    assert_eq!(
        calls(&more),
        ["WSLPluginAPIV1_EntryPoint", "OnDistributionStarted"]
    );
    assert_eq!(more[1]["result"], "S_OK");
}

#[test]
fn a_tracer_that_stops_reading_never_holds_up_a_start() {
    // 10 000 calls of ~1 KiB each in OnDistributionStarted: far more than a
    // tracer's queue, socket buffers and pipe hold together.
    let env = traced_env(&["FLOOD=10000"]);
    env.import("D");
    let mut stuck = env
        .cmd()
        .args(["plugin", "trace", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(stuck.stderr.take().unwrap());
    let mut banner = String::new();
    err.read_line(&mut banner).unwrap();
    assert!(banner.starts_with("Tracing"), "{banner}");
    // Nobody reads its stdout: once the pipe is full it stops reading its
    // socket, the service's writes to it block, and its queue fills.
    let o = env.wslp(&["-d", "D", "--", "true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The start completed with the tracer stuck; now it is read, and told
    // what it missed.
    let mut out = BufReader::new(stuck.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while out.read_line(&mut line).is_ok_and(|n| n > 0) {
            if line.contains("\"dropped\"") {
                let _ = tx.send(line.clone());
                break;
            }
            line.clear();
        }
        let mut rest = Vec::new();
        let _ = out.read_to_end(&mut rest);
    });
    let dropped = rx.recv_timeout(PATIENCE).expect("a dropped line");
    let v: Value = serde_json::from_str(&dropped).unwrap();
    assert!(v["dropped"].as_u64().unwrap() > 0, "{dropped}");
    assert!(v["time"].as_str().unwrap().ends_with('Z'));
    let _ = stuck.kill();
    let _ = stuck.wait();
}

#[test]
fn only_root_may_trace_the_system_instance() {
    let env = traced_env(&[]);
    env.import("D");
    env.open_to_users();
    env.run_true("D");
    let user = test_user();
    let o = env
        .cmd_as(&user)
        .args(["plugin", "trace"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "Only root can trace the plugins of this wslp instance. Run the command as root (for example with sudo).\n\
         Error code: Wsl/Service/E_ACCESSDENIED\n"
    );
    assert!(stdout(&o).is_empty());
    // The user can still run commands: only tracing is refused.
    let o = env
        .cmd_as(&user)
        .args(["-d", "D", "--", "true"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}
