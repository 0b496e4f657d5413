//! SPEC §8 through `PluginManager`: plugins run in their own `wslp-plugin-host`
//! process (built by cargo for these tests and found next to `deps/`), and one that
//! crashes, exits or hangs fails its hook with the exact text while the caller, the
//! other plugins and the next hook go on.

mod common;

use std::path::{Path, PathBuf};

use common::{grep, guid, plugin_log, HostServices, Root};
use wslp_abi::hresult::*;
use wslp_abi::messages::{self, Stage};
use wslp_host::{DistroInfo, PluginManager};

fn distro() -> DistroInfo {
    DistroInfo {
        id: guid(1),
        name: "d".into(),
        pid_namespace: 4026531836,
        init_pid: 4242,
        flavor: None,
        version: None,
    }
}

fn aborted() -> i32 {
    hresult_from_win32(win32::ERROR_PROCESS_ABORTED)
}

fn fatal(name: &str, message: &str, stage: Stage, code: i32) -> String {
    messages::fatal_plugin_error(name, Some(message), stage, code)
}

/// The pids logged as "<where> called pid=N", in order.
fn pids(so: &Path, hook: &str) -> Vec<i32> {
    grep(&plugin_log(so), &format!("{hook} called pid="))
        .iter()
        .map(|l| l.rsplit('=').next().unwrap().parse().unwrap())
        .collect()
}

/// Whether `pid` is gone (or a zombie left to init: it runs no code any more).
fn gone(pid: i32) -> bool {
    for _ in 0..500 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(s) if s.rsplit(')').next().unwrap().trim_start().starts_with('Z') => return true,
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
    false
}

fn setup(conf: &str) -> (Root, PathBuf, PluginManager) {
    let root = Root::new();
    let so = root.plugin("Bad", "misbehave.c", "bad.so", conf);
    let m = root.manager();
    assert_eq!(m.load_failure(), None);
    (root, so, m)
}

#[test]
fn plugin_runs_in_its_own_restricted_process() {
    let (_root, so, m) = setup("OnVMStarted self\n");
    let s = m.open_session(0, HostServices::new());
    m.on_vm_started(&s, 0).unwrap();
    let line = grep(&plugin_log(&so), "OnVMStarted pid=").pop().unwrap();
    let field = |k: &str| -> i32 {
        line.split(' ')
            .find_map(|f| f.strip_prefix(&format!("{k}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_ne!(field("pid"), std::process::id() as i32, "{line}");
    assert_eq!(field("pgid"), field("pid"), "its own process group: {line}");
    assert_eq!(field("nnp"), 1, "PR_SET_NO_NEW_PRIVS: {line}");
    // stdin/stdout/stderr, the two sockets and a pidfd watching the service;
    // nothing leaked from this process.
    assert_eq!(field("fds"), 6, "{line}");
}

#[test]
fn in_process_plugins_run_in_the_service() {
    let root = Root::new();
    root.settings("require_signatures = false\nin_process_plugins = [\"Bad\"]\n");
    let so = root.plugin("Bad", "misbehave.c", "bad.so", "");
    let m = root.manager();
    m.on_vm_started(&m.open_session(0, HostServices::new()), 0)
        .unwrap();
    assert_eq!(pids(&so, "OnVMStarted"), [std::process::id() as i32]);
}

#[test]
fn segfault_in_distribution_start_then_a_new_host_serves_the_next_hook() {
    let (_root, so, m) = setup("OnDistributionStarted once:segv\n");
    let s = m.open_session(0, HostServices::new());
    m.on_vm_started(&s, 0).unwrap();
    let err = m.on_distribution_started(&s, &distro()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "A fatal error was returned by plugin 'Bad'. Error message: 'The plugin crashed (SIGSEGV).'\n\
         Error code: Wsl/Service/CreateInstance/Plugin/ERROR_PROCESS_ABORTED"
    );
    assert_eq!(err.code, aborted());
    let crashed = pids(&so, "OnDistributionStarted")[0];
    assert!(gone(crashed), "the crashed host is reaped");
    // The next hook: a new host, the entry point called again.
    m.on_distribution_started(&s, &distro()).unwrap();
    let after = pids(&so, "OnDistributionStarted");
    assert_eq!(after.len(), 2);
    assert_ne!(after[1], crashed);
    assert_eq!(pids(&so, "entry").len(), 2);
}

#[test]
fn abort_and_exit_name_the_signal_and_the_status() {
    for (action, message) in [
        ("abort", "The plugin crashed (SIGABRT)."),
        ("exit 0", "The plugin exited with status 0."),
        ("exit 3", "The plugin exited with status 3."),
    ] {
        let (_root, _so, m) = setup(&format!("OnVMStarted once:{action}\n"));
        let s = m.open_session(0, HostServices::new());
        let err = m.on_vm_started(&s, 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            fatal("Bad", message, Stage::CreateVm, aborted()),
            "{action}"
        );
        m.on_vm_started(&s, 0).unwrap();
    }
}

#[test]
fn crash_at_vm_start_still_gives_vm_stopping_to_a_new_host() {
    let (_root, so, m) = setup("OnVMStarted once:segv\n");
    let s = m.open_session(0, HostServices::new());
    let err = m.on_vm_started(&s, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        fatal(
            "Bad",
            "The plugin crashed (SIGSEGV).",
            Stage::CreateVm,
            aborted()
        )
    );
    assert_eq!(pids(&so, "OnVMStopping").len(), 1);
}

#[test]
fn hook_that_hangs_times_out_and_its_host_is_killed() {
    let root = Root::new();
    root.settings("require_signatures = false\nhook_timeout_ms = 300\n");
    let so = root.plugin(
        "Slow",
        "misbehave.c",
        "slow.so",
        "OnDistributionStarted once:hang\n",
    );
    let m = root.manager();
    let s = m.open_session(0, HostServices::new());
    let err = m.on_distribution_started(&s, &distro()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "A fatal error was returned by plugin 'Slow'. Error message: 'The plugin did not answer within 300 ms.'\n\
         Error code: Wsl/Service/CreateInstance/Plugin/ERROR_TIMEOUT"
    );
    assert!(gone(pids(&so, "OnDistributionStarted")[0]));
    m.on_distribution_started(&s, &distro()).unwrap();
}

#[test]
fn failures_in_stop_and_registration_hooks_are_only_logged() {
    let (_root, so, m) = setup(
        "OnVMStopping once:segv\nOnDistributionStopping once:exit 1\nOnDistributionRegistered once:abort\n",
    );
    let s = m.open_session(0, HostServices::new());
    let offline = wslp_host::OfflineDistroInfo {
        id: guid(1),
        name: "d".into(),
        flavor: None,
        version: None,
    };
    m.on_distribution_registered(&s, &offline);
    m.on_vm_started(&s, 0).unwrap();
    m.on_distribution_stopping(&s, &distro());
    m.on_vm_stopping(&s);
    m.on_vm_started(&s, 0).unwrap();
    // Registered, VMStarted, DistributionStopping and VMStopping each began in a new host.
    assert_eq!(pids(&so, "entry").len(), 4);
}

#[test]
fn entry_point_that_crashes_or_hangs_is_a_load_failure() {
    let (_root, _so, m) = setup_load_failure("entry segv\n", "");
    assert_eq!(
        m.load_failure().unwrap().to_string(),
        fatal(
            "Bad",
            "The plugin crashed (SIGSEGV).",
            Stage::CreateVm,
            aborted()
        )
    );
    let (_root, _so, m) = setup_load_failure("entry hang\n", "hook_timeout_ms = 200\n");
    assert_eq!(
        m.load_failure().unwrap().to_string(),
        fatal(
            "Bad",
            "The plugin did not answer within 200 ms.",
            Stage::CreateVm,
            hresult_from_win32(win32::ERROR_TIMEOUT)
        )
    );
    let err = m
        .on_vm_started(&m.open_session(0, HostServices::new()), 0)
        .unwrap_err();
    assert_eq!(err.code, hresult_from_win32(win32::ERROR_TIMEOUT));
}

fn setup_load_failure(conf: &str, settings: &str) -> (Root, PathBuf, PluginManager) {
    let root = Root::new();
    root.settings(&format!("require_signatures = false\n{settings}"));
    let so = root.plugin("Bad", "misbehave.c", "bad.so", conf);
    let m = root.manager();
    (root, so, m)
}

#[test]
fn forked_children_do_not_keep_a_crashed_host_alive() {
    // The child holds the host's sockets: the crash is still seen at once, and the
    // child dies with the host's process group.
    let (_root, so, m) = setup("OnVMStarted fork\nOnVMStarted once:segv\n");
    let s = m.open_session(0, HostServices::new());
    let err = m.on_vm_started(&s, 0).unwrap_err();
    assert_eq!(
        err.message.as_deref(),
        Some("The plugin crashed (SIGSEGV).")
    );
    let child: i32 = grep(&plugin_log(&so), "child=")[0]
        .rsplit('=')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(gone(child), "the plugin's child {child} outlived its host");
    // A new host forks a new child; dropping the manager takes both away.
    m.on_vm_started(&s, 0).unwrap();
    let children = grep(&plugin_log(&so), "child=");
    let child2: i32 = children[1].rsplit('=').next().unwrap().parse().unwrap();
    let host2 = *pids(&so, "OnVMStarted").last().unwrap();
    drop(m);
    assert!(gone(child2));
    assert!(gone(host2));
}

#[test]
fn leaked_descriptors_go_away_with_the_host() {
    let (_root, so, m) =
        setup("OnVMStarted leak_fds 300\nOnVMStarted once:segv\nOnVMStarted self\n");
    let s = m.open_session(0, HostServices::new());
    assert!(m.on_vm_started(&s, 0).is_err());
    m.on_vm_started(&s, 0).unwrap();
    let line = grep(&plugin_log(&so), "OnVMStarted pid=").pop().unwrap();
    // The 300 of the crashed host are gone: 6 of its own and 300 of this hook.
    assert!(line.ends_with("fds=306"), "{line}");
}

#[test]
fn api_calls_work_from_any_thread_and_plugin_error_keeps_its_rules() {
    let (_root, so, m) = setup(
        "OnVMStarted exec_thread /bin/echo\n\
         OnVMStarted error_thread\n\
         OnVMStarted error first\n\
         OnVMStarted error second\n\
         OnVMStarted return 80004005\n\
         OnVMStopping exec_later /bin/echo\n",
    );
    let s = m.open_session(0, HostServices::new());
    let err = m.on_vm_started(&s, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        fatal("Bad", "first", Stage::CreateVm, E_FAIL)
    );
    let log = plugin_log(&so);
    assert_eq!(
        grep(&log, "OnVMStarted thread exec"),
        ["OnVMStarted thread exec hr=0x00000000 out=from-thread"]
    );
    assert_eq!(
        grep(&log, "error_thread hr="),
        [format!(
            "OnVMStarted error_thread hr=0x{:08x}",
            E_ILLEGAL_METHOD_CALL as u32
        )]
    );
    assert_eq!(
        grep(&log, "OnVMStarted error hr="),
        [
            "OnVMStarted error hr=0x00000000".to_string(),
            format!(
                "OnVMStarted error hr=0x{:08x}",
                E_ILLEGAL_STATE_CHANGE as u32
            )
        ]
    );
    // OnVMStopping ran (the failed start) and its thread calls after the hook returned.
    let mut later = Vec::new();
    for _ in 0..500 {
        later = grep(&plugin_log(&so), "OnVMStopping thread exec");
        if !later.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        later,
        ["OnVMStopping thread exec hr=0x00000000 out=from-thread"]
    );
}

#[test]
fn other_plugins_keep_their_host_when_one_crashes() {
    let root = Root::new();
    let bad = root.plugin("Bad", "misbehave.c", "bad.so", "OnVMStarted once:segv\n");
    let good = root.plugin("Good", "misbehave.c", "good.so", "");
    let m = root.manager();
    let s = m.open_session(0, HostServices::new());
    assert!(m.on_vm_started(&s, 0).is_err());
    m.on_vm_started(&s, 0).unwrap();
    assert_eq!(pids(&bad, "entry").len(), 2);
    assert_eq!(
        pids(&good, "entry").len(),
        1,
        "the other plugin was not restarted"
    );
    let good_pids = pids(&good, "OnVMStarted");
    assert_eq!(
        good_pids.len(),
        1,
        "Good ran once (the loop stopped at Bad first)"
    );
}

#[test]
fn a_restarted_host_loads_the_verified_bytes_not_the_path() {
    let root = Root::new();
    root.settings("require_signatures = true\n");
    let key = root.path().join("key.pem");
    let cert = root.path().join("cert.pem");
    wslp_trust::new_certificate(
        &wslp_trust::CertOptions {
            subject: "CN=wslp plugin-host tests".into(),
            days: 1,
            is_ca: false,
            issuer: None,
            code_signing: true,
        },
        &key,
        &cert,
    )
    .unwrap();
    wslp_trust::TrustStore::open(&root.path().join("trust"))
        .add(&cert)
        .unwrap();
    let so = root.plugin(
        "Signed",
        "misbehave.c",
        "signed.so",
        "OnVMStarted once:segv\n",
    );
    wslp_trust::sign_file(&so, &key, &cert).unwrap();
    // Root-owned and not writable by others: loaded through the verified descriptor.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&so, std::fs::Permissions::from_mode(0o644)).unwrap();
    let m = root.manager();
    assert_eq!(m.load_failure(), None);
    let s = m.open_session(0, HostServices::new());
    // The file at the path is replaced by something unloadable; the host restarted
    // after the crash must still load the bytes that were verified.
    let garbage = root.path().join("garbage");
    std::fs::write(&garbage, b"not an ELF file").unwrap();
    std::fs::rename(&garbage, &so).unwrap();
    let err = m.on_vm_started(&s, 0).unwrap_err();
    assert_eq!(
        err.message.as_deref(),
        Some("The plugin crashed (SIGSEGV).")
    );
    m.on_vm_started(&s, 0).unwrap();
    assert_eq!(pids(&so, "entry").len(), 2);
}

#[test]
fn a_host_that_died_between_hooks_is_replaced_without_failing_the_next_hook() {
    let (_root, so, m) = setup("OnVMStarted once:exit_later 4\n");
    let s = m.open_session(0, HostServices::new());
    m.on_vm_started(&s, 0).unwrap();
    let first = pids(&so, "OnVMStarted")[0];
    assert!(gone(first), "the plugin's thread ended its host");
    m.on_vm_started(&s, 0).unwrap();
    assert_eq!(pids(&so, "entry").len(), 2);
}
