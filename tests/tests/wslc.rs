//! WSLC (SPEC §11) through the real binaries: a session VM with Debian's
//! containerd and dockerd, a busybox image imported from the test rootfs,
//! and a C plugin that sees every WSLC hook, out of process and in process.
//! No registry, no network.

use std::path::Path;
use std::time::{Duration, Instant};

use wslp_e2e::*;

fn log_lines(path: &Path) -> Vec<String> {
    read_log(path).lines().map(String::from).collect()
}

/// Waits (up to 30 s) until the log has a line starting with `prefix`.
fn wait_for(path: &Path, prefix: &str) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = log_lines(path);
        if lines.iter().any(|l| l.starts_with(prefix)) {
            return lines;
        }
        assert!(
            Instant::now() < until,
            "no '{prefix}' line in:\n{}",
            lines.join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (up to 30 s) until the log has `n` lines starting with `prefix`:
/// ContainerStopping comes from the engine's events, after the command.
fn wait_count(path: &Path, prefix: &str, n: usize) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = log_lines(path);
        if lines.iter().filter(|l| l.starts_with(prefix)).count() >= n {
            return;
        }
        assert!(
            Instant::now() < until,
            "fewer than {n} '{prefix}' lines in:\n{}",
            lines.join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Builds `tests/plugins/wslc.c` with `defines`, registers it as `W` (the
/// service restarts to load it); the path of its log.
fn wslc_plugin(env: &Env, defines: &[&str]) -> std::path::PathBuf {
    let log = env.scratch().join("wslc.log");
    let log_path = format!("LOG_PATH=\"{}\"", log.display());
    let all: Vec<&str> = std::iter::once(log_path.as_str())
        .chain(defines.iter().copied())
        .collect();
    let so = build_plugin("wslc", &all, &env.scratch());
    env.add_plugin("W", &so);
    log
}

fn hook_names(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect()
}

/// Processes whose environment names this root: the service, the session
/// VMs' inits and everything under them carry it.
fn session_vm_processes(env: &Env) -> Vec<i32> {
    let want = format!("WSLP_ROOT={}", env.root.display());
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmdline);
        if (cmd.starts_with("dockerd") || cmd.contains("containerd"))
            && std::fs::read(format!("/proc/{pid}/environ"))
                .map(|e| String::from_utf8_lossy(&e).contains(&want))
                .unwrap_or(false)
        {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn every_hook_at_its_moment_across_a_vm_restart_in_and_out_of_process() {
    for in_process in [false, true] {
        let settings = format!(
            "require_signatures = false\nwslc_idle_timeout_ms = 1500\n{}",
            if in_process {
                "in_process_plugins = [\"W\"]\n"
            } else {
                ""
            }
        );
        let env = Env::with_settings(&settings);
        let log = wslc_plugin(&env, &[]);
        let rootfs = rootfs_tarball();

        let id = env.ok(&["image", "import", rootfs.to_str().unwrap(), "bb:1"]);
        assert!(id.starts_with("sha256:"), "{id}");
        assert!(env.ok(&["image", "ls"]).contains("bb "));
        // A container's output and exit code are the command's.
        let o = env.wslp(&[
            "container",
            "run",
            "--rm",
            "bb:1",
            "/bin/sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ]);
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        assert_eq!(stdout(&o), "out\n");
        assert_eq!(stderr(&o), "err\n");
        let o = env.wslp_input(
            &["container", "run", "-i", "--rm", "bb:1", "/bin/cat"],
            b"through stdin\n",
        );
        assert_eq!(stdout(&o), "through stdin\n", "{}", stderr(&o));
        wait_count(&log, "ContainerStopping", 2);
        // A detached container, a command run in it, its kill.
        let svc = env.ok(&[
            "container",
            "run",
            "-d",
            "--name",
            "svc",
            "bb:1",
            "sleep",
            "100",
        ]);
        assert_eq!(svc.trim().len(), 64, "{svc}");
        let o = env.wslp(&[
            "container",
            "exec",
            "svc",
            "sh",
            "-c",
            "echo in-exec; exit 4",
        ]);
        assert_eq!(
            (o.status.code(), stdout(&o).as_str()),
            (Some(4), "in-exec\n"),
            "{}",
            stderr(&o)
        );
        assert!(env.ok(&["container", "ls"]).contains(" svc"));
        env.ok(&["container", "kill", "svc"]);
        wait_count(&log, "ContainerStopping", 3);
        env.ok(&["container", "rm", "svc"]);

        // ContainerStarted refuses a labelled container: §4's fatal text,
        // the container stopped but kept.
        let o = env.wslp(&[
            "container",
            "run",
            "-d",
            "--name",
            "denied",
            "--label",
            "wslp.test/deny=true",
            "bb:1",
            "sleep",
            "100",
        ]);
        assert!(!o.status.success());
        assert_eq!(
            stderr(&o),
            "A fatal error was returned by plugin 'W'. Error message: 'container denied by policy'\n\
             Error code: Wsl/Service/Container/Plugin/E_ACCESSDENIED\n"
        );
        let all = env.ok(&["container", "ls", "-a"]);
        let denied = all
            .lines()
            .find(|l| l.ends_with("denied"))
            .unwrap_or_else(|| panic!("{all}"));
        assert!(denied.contains("Exited"), "{all}");
        assert!(!env.ok(&["container", "ls"]).contains("denied"));
        wait_count(&log, "ContainerStopping", 4);
        env.ok(&["container", "rm", "denied"]);
        // `image load` of a `docker save` archive made by Docker's own CLI
        // from the session's engine: one ImageCreated per image.
        let saved = env.scratch().join("bb.tar");
        let socket = env.root.join("wslc/wslc-cli-root/engine/docker.sock");
        let st = std::process::Command::new("docker")
            .args(["-H", &format!("unix://{}", socket.display()), "save", "-o"])
            .arg(&saved)
            .arg("bb:1")
            .status()
            .unwrap();
        assert!(st.success());
        let deleted = env.ok(&["image", "rm", "bb:1"]);
        assert!(deleted.contains(id.trim()), "{deleted}");
        assert_eq!(
            env.ok(&["image", "load", "-i", saved.to_str().unwrap()]),
            format!("Loaded image ID: {}\n", id.trim())
        );
        env.ok(&["image", "rm", "bb:1"]);

        // Idle: the VM stops by itself, and the next operation starts it again.
        wait_for(&log, "WslcVmStopping");
        assert!(env.ok(&["session", "list"]).contains("Stopped"));
        env.ok(&["image", "ls"]);
        env.ok(&["session", "terminate", "wslc-cli-root"]);
        let lines = log_lines(&log);
        assert_eq!(
            hook_names(&lines),
            [
                "OnSessionCreated",
                "WslcVmStarted",
                "ImageCreated",
                "ContainerStarted",
                "ContainerStopping",
                "ContainerStarted",
                "ContainerStopping",
                "ContainerStarted",
                "ContainerStopping",
                "ContainerStarted",
                "ContainerStopping",
                "ImageDeleted",
                "ImageCreated",
                "ImageDeleted",
                "WslcVmStopping",
                "WslcVmStarted",
                "WslcVmStopping",
                "OnSessionStopping",
            ],
            "in process: {in_process}\n{}",
            lines.join("\n")
        );
        assert!(
            lines[0].starts_with(
                "OnSessionCreated id=1 name=wslc-cli-root pid=set token=NULL sid=NULL"
            ),
            "{}",
            lines[0]
        );
        assert_eq!(lines[2], "ImageCreated session=1 tags=[\"bb:1\"]");
        // The long-lived containers were running when the hook saw them.
        assert!(lines[7].ends_with("running=true"), "{}", lines[7]);
        assert!(lines[9].ends_with("running=true"), "{}", lines[9]);
        assert!(lines[11].starts_with(&format!("ImageDeleted session=1 id={}", &id.trim()[..19])));
        assert_eq!(lines[12], "ImageCreated session=1 tags=[\"bb:1\"]");
        // Nothing of the session is left but its storage.
        assert_eq!(session_vm_processes(&env), Vec::<i32>::new());
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(env.root.to_str().unwrap()), "{mounts}");
        assert!(env.root.join("wslc/wslc-cli-root/engine/docker").is_dir());
        env.ok(&["--shutdown"]);
    }
}

#[test]
fn a_refused_session_never_exists_and_gets_no_other_hook() {
    let env = Env::new();
    let log = wslc_plugin(&env, &["DENY_SESSION=\"closed\""]);
    let o = env.wslp(&["image", "ls", "--session", "closed"]);
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o),
        "A fatal error was returned by plugin 'W'. Error message: 'sessions with this name are not allowed'\n\
         Error code: Wsl/Service/CreateSession/Plugin/E_ACCESSDENIED\n"
    );
    assert!(!env.ok(&["session", "list"]).contains("closed"));
    let o = env.wslp(&["session", "terminate", "closed"]);
    assert!(
        stderr(&o).contains("WSLC_E_SESSION_NOT_FOUND"),
        "{}",
        stderr(&o)
    );
    env.ok(&["--shutdown"]);
    assert_eq!(hook_names(&log_lines(&log)), ["OnSessionCreated"]);
}

#[test]
fn a_crash_in_wslc_vm_started_is_only_logged_and_the_plugin_host_comes_back() {
    let env = Env::new();
    let log = wslc_plugin(&env, &["CRASH_IN_VM_STARTED"]);
    // The operation goes on: WslcVmStarted's errors are only logged.
    env.ok(&["image", "ls"]);
    env.ok(&["session", "terminate", "wslc-cli-root"]);
    let names = hook_names(&log_lines(&log)).join(" ");
    assert_eq!(
        names,
        "OnSessionCreated WslcVmStarted WslcVmStopping OnSessionStopping"
    );
    assert!(
        env.service_log().contains("The plugin crashed (SIGSEGV)"),
        "{}",
        env.service_log()
    );
    env.ok(&["--shutdown"]);
}

#[test]
fn sessions_belong_to_their_user() {
    let env = Env::new();
    env.open_to_users();
    let user = test_user();
    env.ok(&["session", "list"]);
    env.ok(&["image", "ls", "--session", "roots"]);
    let o = env
        .cmd_as(&user)
        .args(["image", "ls", "--session", "roots"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("E_ACCESSDENIED"), "{}", stderr(&o));
    let o = env
        .cmd_as(&user)
        .args(["session", "terminate", "roots"])
        .output()
        .unwrap();
    assert!(stderr(&o).contains("E_ACCESSDENIED"), "{}", stderr(&o));
    // A user's list shows only their own sessions; root's, every one.
    let o = env
        .cmd_as(&user)
        .args(["session", "list"])
        .output()
        .unwrap();
    assert!(!stdout(&o).contains("roots"), "{}", stdout(&o));
    assert!(env.ok(&["session", "list"]).contains("roots"));
    env.ok(&["--shutdown"]);
}

/// Every WSLC call with its errors (SPEC §11), from the hooks of a C plugin
/// in a plugin host and in the service: no VM yet in OnSessionCreated, a
/// read-only mount and a process with its three sockets and exit event in
/// WslcVmStarted, a call inside WslcVmStopping, and 137 for a process the
/// VM's stop ended.
#[test]
fn every_wslc_call_with_its_errors_in_and_out_of_process() {
    for in_process in [false, true] {
        let env = Env::with_settings(&format!(
            "require_signatures = false\n{}",
            if in_process {
                "in_process_plugins = [\"W\"]\n"
            } else {
                ""
            }
        ));
        let share = env.scratch().join("share");
        std::fs::create_dir_all(&share).unwrap();
        std::fs::write(share.join("file"), "from the host\n").unwrap();
        let log = wslc_plugin(&env, &[&format!("SHARE=\"{}\"", share.display())]);
        env.ok(&["image", "ls"]);
        env.ok(&["session", "terminate", "wslc-cli-root"]);
        let calls: Vec<String> = log_lines(&log)
            .into_iter()
            .filter_map(|l| l.strip_prefix("call ").map(String::from))
            .collect();
        assert_eq!(
            calls,
            [
                "create_no_vm=0x80040610 errno=-1",
                "mount_no_vm=0x80040610",
                "mount_null=0x80004003",
                "mount_bad_session=0x8004060f",
                "mount_relative=0x80070057",
                "mount_missing=0x80070003",
                "mount_bad_point=0x80070057",
                "mount=0x00000000",
                "mount_again=0x800700b7",
                "unmount_unknown=0x80070490",
                "unmount_null=0x80004003",
                "create_missing=0x80004005 errno=2",
                "create_not_executable=0x80004005 errno=13",
                "create_bad_session=0x8004060f errno=0",
                "create_null=0x80004003",
                "create=0x00000000 errno=-1",
                "exitcode_running=0x8007139f code=-1",
                "getfd3=0x80070057",
                "getfd_again=0x8007139f",
                "exitevent=0x00000000",
                "wait_running=258",
                "stdout=from the host|read-only|ro-after-remount|stdin=hello env=yes cwd=/ uid=0|",
                "stderr=to-stderr|",
                "wait=0",
                "exitcode=0x00000000 code=5",
                "unmount=0x00000000",
                "unmount_again=0x80070490",
                "create_sleeper=0x00000000",
                "create_in_stopping=0x00000000",
                "sleeper_wait=0",
                "sleeper_exitcode=0x00000000 code=137",
            ],
            "in process: {in_process}"
        );
        // Nothing was written through the read-only mount.
        assert!(!share.join("new").exists() && !share.join("new2").exists());
        env.ok(&["--shutdown"]);
    }
}

/// Containers still running when their session ends get ContainerStopping
/// before WslcVmStopping, once each, and the next service run finds them
/// stopped.
#[test]
fn running_containers_stop_with_their_session() {
    let env = Env::new();
    let log = wslc_plugin(&env, &[]);
    env.ok(&[
        "image",
        "import",
        rootfs_tarball().to_str().unwrap(),
        "bb:1",
    ]);
    env.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "first",
        "bb:1",
        "sleep",
        "100",
    ]);
    env.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "second",
        "bb:1",
        "sleep",
        "100",
    ]);
    env.ok(&["--shutdown"]);
    let lines = log_lines(&log);
    assert_eq!(
        hook_names(&lines),
        [
            "OnSessionCreated",
            "WslcVmStarted",
            "ImageCreated",
            "ContainerStarted",
            "ContainerStarted",
            "ContainerStopping",
            "ContainerStopping",
            "WslcVmStopping",
            "OnSessionStopping",
        ],
        "{}",
        lines.join("\n")
    );
    assert_eq!(session_vm_processes(&env), Vec::<i32>::new());
    let all = env.ok(&["container", "ls", "-a"]);
    assert_eq!(
        all.lines().filter(|l| l.contains("Exited")).count(),
        2,
        "{all}"
    );
    assert_eq!(env.ok(&["container", "ls"]).lines().count(), 1);
    env.ok(&["--shutdown"]);
}

/// The session VM has the instance's networking (nat here, a subnet of its
/// own): a container reaches a server the test runs on the host at the
/// session VM's gateway, and the VM's resolv.conf is wslp's.
#[test]
fn containers_reach_the_host_through_the_session_vms_nat() {
    use std::io::BufRead;
    let env = Env::new();
    env.ok(&[
        "image",
        "import",
        rootfs_tarball().to_str().unwrap(),
        "bb:1",
    ]);
    let routes = env.ok(&["container", "run", "--rm", "bb:1", "ip", "route"]);
    let gateway: std::net::Ipv4Addr = routes
        .lines()
        .find_map(|l| l.strip_prefix("default via "))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no default route in the session VM:\n{routes}"))
        .parse()
        .unwrap();
    let listener = std::net::TcpListener::bind((gateway, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(conn).read_line(&mut line).unwrap();
        line
    });
    let o = env.wslp(&[
        "container",
        "run",
        "--rm",
        "bb:1",
        "sh",
        "-c",
        &format!("echo from-container | nc -w 10 {gateway} {port}"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(server.join().unwrap(), "from-container\n");
    let resolv = env.ok(&[
        "container",
        "run",
        "--rm",
        "bb:1",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(resolv.contains("nameserver"), "{resolv}");
    env.ok(&["--shutdown"]);
}
