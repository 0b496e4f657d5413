//! SPEC §13 at the plugin manager: every hook and API call of a real C plugin,
//! in process and in its plugin host, reaches a subscriber with its arguments,
//! its result and its duration, in call order; crashes and timeouts of plugin
//! hosts are events too; a subscriber that does not read loses events, never
//! slows a hook.
//!
//! Subscriptions are process-wide: each test traces plugin names of its own.

mod common;

use std::time::Duration;

use common::*;
use wslp_abi::hresult::{hresult_from_win32, win32, E_FAIL, E_ILLEGAL_METHOD_CALL, S_OK};
use wslp_host::trace::{self, TraceEvent, TraceItem, TraceValue};
use wslp_host::DistroInfo;

fn events(items: Vec<TraceItem>) -> Vec<TraceEvent> {
    items
        .into_iter()
        .map(|i| match i {
            TraceItem::Event(e) => e,
            TraceItem::Dropped(n) => panic!("{n} events dropped"),
        })
        .collect()
}

fn arg<'a>(e: &'a TraceEvent, name: &str) -> &'a TraceValue {
    &e.args
        .iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("{} has no argument {name}: {e:?}", e.call))
        .1
}

fn s(v: &str) -> TraceValue {
    TraceValue::Str(v.into())
}

/// ExecuteBinary, MountFolder (one found, one missing), PluginError on the
/// hook's thread and from another thread, then a failure: in call order.
fn api_calls_in_order(in_process: bool) {
    let root = Root::new();
    let name = if in_process { "TraceIn" } else { "TraceOut" };
    if in_process {
        root.settings(&format!(
            "require_signatures = false\nin_process_plugins = [\"{name}\"]\n"
        ));
    }
    let host_dir = root.path().join("shared");
    std::fs::create_dir(&host_dir).unwrap();
    let conf = format!(
        "OnVMStarted exec /bin/cat -u\n\
         OnVMStarted mount {} /mnt/x\n\
         OnVMStarted mount /nonexistent/dir /mnt/y\n\
         OnVMStarted error_thread elsewhere\n\
         OnVMStarted error it broke\n\
         OnVMStarted return 80004005\n",
        host_dir.display()
    );
    root.plugin(name, "recorder.c", "rec.so", &conf);
    let sub = trace::subscribe(&[name.to_string()]);
    let m = root.manager();
    assert!(m.load_failure().is_none(), "{:?}", m.load_failure());
    let s0 = m.open_session(0, HostServices::new());
    let err = m.on_vm_started(&s0, 3).unwrap_err();
    assert_eq!(err.code, E_FAIL);

    let mut got = events(sub.drain());
    // recorder.c's entry point tries PluginError, which is refused there; a
    // call is an event once it returned, so it comes before its entry point.
    let early = got.remove(0);
    assert_eq!(early.call, "PluginError");
    assert_eq!(early.result, E_ILLEGAL_METHOD_CALL);
    assert_eq!(early.plugin, name);
    let calls: Vec<&str> = got.iter().map(|e| e.call.as_str()).collect();
    assert_eq!(
        calls,
        [
            "WSLPluginAPIV1_EntryPoint",
            "ExecuteBinary",
            "MountFolder",
            "MountFolder",
            "PluginError",
            "PluginError",
            "OnVMStarted",
            "OnVMStopping"
        ],
        "{got:#?}"
    );
    for e in &got {
        assert_eq!(e.plugin, name, "{e:?}");
        assert!(e.time_us > 1_700_000_000_000_000, "{e:?}");
    }
    let [entry, exec, mount, missing, error_thread, error, hook, stopping] = &got[..] else {
        unreachable!()
    };
    assert_eq!(entry.result, S_OK);
    assert_eq!(*arg(entry, "api_version"), s("2.9.5"));

    assert_eq!(exec.result, S_OK);
    assert_eq!(*arg(exec, "session"), TraceValue::Int(s0.id.into()));
    assert_eq!(*arg(exec, "path"), s("/bin/cat"));
    assert_eq!(
        *arg(exec, "argv"),
        TraceValue::List(vec!["/bin/cat".into(), "-u".into()])
    );

    assert_eq!(mount.result, S_OK);
    assert_eq!(*arg(mount, "host_path"), s(host_dir.to_str().unwrap()));
    assert_eq!(*arg(mount, "vm_path"), s("/mnt/x"));
    assert_eq!(*arg(mount, "read_only"), TraceValue::Bool(true));
    assert_eq!(
        missing.result,
        hresult_from_win32(win32::ERROR_FILE_NOT_FOUND)
    );

    assert_eq!(error_thread.result, E_ILLEGAL_METHOD_CALL);
    assert_eq!(*arg(error_thread, "message"), s("elsewhere"));
    assert_eq!(error.result, S_OK);
    assert_eq!(*arg(error, "message"), s("it broke"));

    assert_eq!(hook.result, E_FAIL);
    assert_eq!(hook.message.as_deref(), Some("it broke"));
    assert_eq!(*arg(hook, "custom_configuration_flags"), TraceValue::Int(3));
    assert_eq!(*arg(hook, "uid"), TraceValue::Int(0));
    // The hook took at least as long as the calls it made.
    let inner: u64 = got[1..6].iter().map(|e| e.duration_us).sum();
    assert!(hook.duration_us >= inner, "{got:#?}");
    assert_eq!(stopping.result, S_OK);
    m.close_session(&s0);
}

#[test]
fn api_calls_and_hooks_in_order_in_process() {
    api_calls_in_order(true);
}

#[test]
fn api_calls_and_hooks_in_order_in_a_plugin_host() {
    api_calls_in_order(false);
}

#[test]
fn distribution_hooks_carry_the_distribution() {
    let root = Root::new();
    root.plugin(
        "TraceDistro",
        "recorder.c",
        "rec.so",
        "OnDistributionStarted exec_distro self /bin/true\n",
    );
    let m = root.manager();
    let services = HostServices::new();
    let d = DistroInfo {
        id: guid(7),
        name: "Débian".into(),
        pid_namespace: 4026532000,
        init_pid: 4242,
        flavor: Some("debian".into()),
        version: None,
    };
    services.running_distros.lock().unwrap().push(d.id);
    let s0 = m.open_session(0, services);
    let sub = trace::subscribe(&["TraceDistro".to_string()]);
    m.on_distribution_started(&s0, &d).unwrap();
    let got = events(sub.drain());
    let calls: Vec<&str> = got.iter().map(|e| e.call.as_str()).collect();
    assert_eq!(
        calls,
        ["ExecuteBinaryInDistribution", "OnDistributionStarted"]
    );
    assert_eq!(got[0].result, S_OK);
    assert_eq!(*arg(&got[0], "distribution_id"), s(&d.id.to_string()));
    let hook = &got[1];
    assert_eq!(*arg(hook, "distribution"), s("Débian"));
    assert_eq!(*arg(hook, "id"), s(&d.id.to_string()));
    assert_eq!(*arg(hook, "init_pid"), TraceValue::Int(4242));
    assert_eq!(*arg(hook, "pid_namespace"), TraceValue::Int(4026532000));
    assert_eq!(*arg(hook, "flavor"), s("debian"));
    assert_eq!(*arg(hook, "version"), TraceValue::Null);
    m.close_session(&s0);
}

#[test]
fn a_crash_and_a_timeout_are_lines_and_the_restart_is_traced() {
    let root = Root::new();
    root.settings("require_signatures = false\nhook_timeout_ms = 500\n");
    root.plugin(
        "TraceCrash",
        "misbehave.c",
        "bad.so",
        "OnVMStarted once:segv\nOnVMStopping once:hang\n",
    );
    let m = root.manager();
    let s0 = m.open_session(0, HostServices::new());
    let sub = trace::subscribe(&["TraceCrash".to_string()]);
    let err = m.on_vm_started(&s0, 0).unwrap_err();
    assert_eq!(
        err.message.as_deref(),
        Some("The plugin crashed (SIGSEGV).")
    );
    let got = events(sub.drain());
    let calls: Vec<&str> = got.iter().map(|e| e.call.as_str()).collect();
    // The crash, the hook it failed; then OnVMStopping (after a failed start)
    // in a new host, whose entry point is traced, and which hangs.
    assert_eq!(
        calls,
        [
            "PluginHostCrashed",
            "OnVMStarted",
            "WSLPluginAPIV1_EntryPoint",
            "PluginHostTimedOut",
            "OnVMStopping"
        ],
        "{got:#?}"
    );
    let aborted = hresult_from_win32(win32::ERROR_PROCESS_ABORTED);
    assert_eq!(got[0].result, aborted);
    assert_eq!(
        got[0].message.as_deref(),
        Some("The plugin crashed (SIGSEGV).")
    );
    assert_eq!(*arg(&got[0], "during"), s("OnVMStarted"));
    assert!(matches!(arg(&got[0], "pid"), TraceValue::Int(p) if *p > 0));
    assert_eq!(got[1].result, aborted);
    assert_eq!(got[2].result, S_OK);
    let timeout = hresult_from_win32(win32::ERROR_TIMEOUT);
    assert_eq!(got[3].result, timeout);
    assert_eq!(*arg(&got[3], "timeout_ms"), TraceValue::Int(500));
    assert_eq!(
        got[3].message.as_deref(),
        Some("The plugin did not answer within 500 ms.")
    );
    assert!(got[3].duration_us >= 500_000, "{:?}", got[3]);
    assert_eq!(got[4].result, timeout);
    m.close_session(&s0);
}

#[test]
fn a_subscriber_that_does_not_read_loses_events_not_hooks() {
    let root = Root::new();
    // 60 API calls per hook, into a queue of 8 nobody reads.
    let conf: String = (0..60)
        .map(|_| "OnVMStopping exec_bogus /bin/true\n")
        .collect();
    root.plugin("TraceFlood", "recorder.c", "rec.so", &conf);
    let m = root.manager();
    let s0 = m.open_session(0, HostServices::new());
    let slow = trace::subscribe_with_queue(&["TraceFlood".to_string()], 8);
    let fast = trace::subscribe(&["TraceFlood".to_string()]);
    for _ in 0..5 {
        m.on_vm_stopping(&s0);
    }
    // Every hook ran to its end: the fast subscriber saw all 5 × 61 events.
    let all = events(fast.drain());
    assert_eq!(all.len(), 5 * 61);
    assert_eq!(all.iter().filter(|e| e.call == "OnVMStopping").count(), 5);
    let kept = slow.drain();
    let (mut seen, mut dropped) = (0, 0);
    for i in &kept {
        match i {
            TraceItem::Event(_) => seen += 1,
            TraceItem::Dropped(n) => dropped += n,
        }
    }
    assert_eq!(seen, 8);
    assert_eq!(seen + dropped, 5 * 61);
    assert!(matches!(kept.last(), Some(TraceItem::Dropped(_))));
    m.close_session(&s0);
}

#[test]
fn nothing_is_traced_for_plugins_nobody_asked_for() {
    let root = Root::new();
    root.plugin(
        "TraceQuiet",
        "recorder.c",
        "rec.so",
        "OnVMStopping exec_bogus /bin/true\n",
    );
    let m = root.manager();
    let s0 = m.open_session(0, HostServices::new());
    let sub = trace::subscribe(&["TraceSomeoneElse".to_string()]);
    m.on_vm_stopping(&s0);
    assert!(sub.next_timeout(Duration::from_millis(50)).is_none());
    m.close_session(&s0);
}
