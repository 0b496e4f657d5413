//! The service as a whole: start on demand, many clients at once, a crash of
//! the service itself, and who may do what.

use wslp_e2e::*;

#[test]
fn fifty_clients_at_once_are_all_answered() {
    let env = Env::new();
    env.import("D");
    env.ok(&["-d", "D", "--", "true"]);
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let mut c = env.cmd();
            c.args(["-d", "D", "--", "sh", "-c", &format!("echo {i}")]);
            std::thread::spawn(move || c.output().unwrap())
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let o = h.join().unwrap();
        assert!(o.status.success(), "client {i}: {}", stderr(&o));
        assert_eq!(stdout(&o), format!("{i}\n"));
    }
}

#[test]
fn service_killed_mid_command_comes_back_and_loses_nothing() {
    let env = Env::new();
    env.import("D");
    let mut long = env
        .cmd()
        .args(["-d", "D", "--", "sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let pid = env.service_pid().expect("the service runs");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let st = long.wait().unwrap();
    assert!(!st.success(), "the command died with the service");
    // The next command starts a new service; the registration survived.
    assert_eq!(
        env.ok(&["-d", "D", "--", "cat", "/etc/hostname"]).trim(),
        "debian"
    );
    assert_ne!(env.service_pid(), Some(pid));
}

#[test]
fn unprivileged_user_runs_as_self_and_cannot_administer() {
    let user = test_user();
    let uid = user.uid;
    let env = Env::new();
    env.import("D");
    env.ok(&["-d", "D", "--", "true"]); // the service runs (only root can start it)
    env.open_to_users();
    let as_user = |args: &[&str]| env.cmd_as(&user).args(args).output().unwrap();
    let o = as_user(&["-d", "D", "--", "id", "-u"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), uid.to_string());
    let o = as_user(&["-d", "D", "-u", "root", "--", "id", "-u"]);
    assert!(!o.status.success(), "a user cannot run as root");
    assert!(stderr(&o).contains("E_ACCESSDENIED"), "{}", stderr(&o));
    for args in [
        vec!["--unregister", "D"],
        vec!["--shutdown"],
        vec!["-t", "D"],
        vec!["-s", "D"],
        vec!["plugin", "add", "X", "/tmp/x.so"],
        vec!["--import", "E", "/tmp/wslp-e2e-nope", "/tmp/nope.tar"],
        vec!["--debug-shell"],
    ] {
        let o = as_user(&args);
        assert!(!o.status.success(), "{args:?} must be refused for a user");
        assert!(stderr(&o).contains("root"), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(env.ok(&["-l", "-q"]), "D\n", "nothing changed");
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn idle_distribution_vm_and_service_stop_by_themselves_with_their_hooks() {
    let env = Env::with_settings(
        "require_signatures = false\ndistro_idle_timeout_ms = 200\nvm_idle_timeout_ms = 200\nservice_idle_timeout_ms = 200\n",
    );
    let log = env.scratch().join("plugin.log");
    let so = build_plugin(
        "e2e",
        &[
            &format!("LOG_PATH=\"{}\"", log.display()),
            "EXEC_IN_DISTRO",
            "EXEC_ON_VM_STOP",
        ],
        &env.scratch(),
    );
    env.add_plugin("Idle", &so);
    env.import("D");
    // A background process keeps the distribution up after the command returns.
    env.ok(&[
        "-d",
        "D",
        "--",
        "sh",
        "-c",
        "sleep 1 >/dev/null 2>&1 </dev/null &",
    ]);
    wait_for("the service to exit", || {
        !env.root.join("wslpd.sock").exists()
    });
    let l = read_log(&log);
    assert!(
        l.contains("OnDistributionStopping ExecuteBinaryInDistribution hr=0x00000000 out=debian"),
        "{l}"
    );
    assert!(
        l.contains("OnVMStopping ExecuteBinary hr=0x00000000 out=vm-still-up"),
        "{l}"
    );
    assert!(env.service_pid().is_none(), "the service exited");
}

/// Context switches of every thread of `pid`, by thread id.
fn switches(pid: i32) -> std::collections::HashMap<String, u64> {
    let mut out = std::collections::HashMap::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let Ok(status) = std::fs::read_to_string(t.path().join("status")) else {
            continue;
        };
        let n: u64 = status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        out.insert(t.file_name().to_string_lossy().into_owned(), n);
    }
    out
}

#[test]
fn an_idle_service_sleeps_until_something_happens() {
    // No timer is needed with every timeout off, and nothing else may wake
    // the service: not a poll of the distribution, not a scan of /proc.
    // (Localhost forwarding, which has no kernel event to wait on, is off.)
    let env = Env::with_settings(
        "require_signatures = false\nnetworking_mode = \"none\"\n\
         distro_idle_timeout_ms = -1\nvm_idle_timeout_ms = -1\nservice_idle_timeout_ms = -1\n",
    );
    env.import("D");
    env.ok(&[
        "-d",
        "D",
        "--",
        "sh",
        "-c",
        "sleep 600 >/dev/null 2>&1 </dev/null &",
    ]);
    env.ok(&["-d", "D", "--", "true"]);
    let pid = env.service_pid().expect("the service runs");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = switches(pid);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let after = switches(pid);
    let woke: u64 = after
        .iter()
        .map(|(tid, n)| n - before.get(tid).copied().unwrap_or(0))
        .sum();
    assert!(
        woke <= 2,
        "the idle service woke {woke} times in 2 s: {after:?} after {before:?}"
    );
    // Still served, and the distribution still runs its background process.
    let o = env.ok(&[
        "-d",
        "D",
        "--",
        "sh",
        "-c",
        "pgrep -c sleep || ps | grep -c 'sleep 600'",
    ]);
    assert_ne!(o.trim(), "0", "{o}");
}

#[test]
fn a_distribution_stops_after_its_last_background_process_ends() {
    // Nothing polls: the idle timer starts because the background process's
    // exit (its pidfd) wakes the policy.
    let env = Env::with_settings(
        "require_signatures = false\nnetworking_mode = \"none\"\n\
         distro_idle_timeout_ms = 100\nvm_idle_timeout_ms = -1\nservice_idle_timeout_ms = -1\n",
    );
    env.import("D");
    env.ok(&[
        "-d",
        "D",
        "--",
        "sh",
        "-c",
        "sleep 1 >/dev/null 2>&1 </dev/null &",
    ]);
    let running = || {
        let o = env.wslp(&["-l", "--running", "-q"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.trim() == "D")
    };
    assert!(running(), "the background sleep keeps it up");
    wait_for("the distribution to stop", || !running());
}

#[test]
fn a_second_service_for_the_same_root_does_not_start() {
    let env = Env::new();
    env.import("D");
    let first = env.service_pid().expect("running");
    let o = std::process::Command::new(bin("wslpd"))
        .env("WSLP_ROOT", &env.root)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(stderr(&o).contains("already runs"), "{}", stderr(&o));
    assert_eq!(env.service_pid(), Some(first));
}
