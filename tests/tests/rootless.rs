//! Per-user instances (SPEC §10), driven as real unprivileged users: one
//! with `/etc/subuid` and `/etc/subgid` ranges, one without. No process of
//! their instances runs as host root, and the instances never meet.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Command;

use wslp_e2e::{
    build_plugin, host_euid, read_log, rootfs_tarball, stderr, stdout, test_user,
    test_user_without_ranges, workspace, TestUser, UserInstance,
};

/// The busybox tarball, where the user can read it.
fn tarball_for(u: &UserInstance) -> PathBuf {
    let t = u.dir("images").join("rootfs.tar.gz");
    std::fs::copy(rootfs_tarball(), &t).unwrap();
    u.give(&t);
    t
}

fn import(u: &UserInstance, name: &str) -> String {
    let t = tarball_for(u);
    let dir = u.home.join("distros").join(name);
    let o = u.wslp(&["--import", name, dir.to_str().unwrap(), t.to_str().unwrap()]);
    assert!(o.status.success(), "import: {}", stderr(&o));
    stderr(&o)
}

/// A C plugin built into a directory the user can read.
fn plugin_for(u: &UserInstance, name: &str, defines: &[&str]) -> PathBuf {
    let dir = u.dir("plugins");
    let so = build_plugin(name, defines, &dir);
    u.give(&dir);
    so
}

fn assert_no_host_root(u: &UserInstance) {
    let procs = u.processes();
    assert!(!procs.is_empty(), "the instance's service runs");
    for pid in procs {
        if let Some(euid) = host_euid(pid) {
            assert_ne!(
                euid, 0,
                "process {pid} of {}'s instance runs as host root",
                u.user.name
            );
        }
    }
}

fn shutdown_leaves_nothing(u: &UserInstance) {
    u.ok(&["--shutdown"]);
    assert!(!u.runtime.join("wslpd.sock").exists(), "the socket is gone");
    for _ in 0..200 {
        if u.processes().is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("processes left after --shutdown: {:?}", u.processes());
}

/// What every per-user instance does, whether the user has ranges or not.
fn the_basics(user: TestUser) -> UserInstance {
    let u = UserInstance::new(user);
    import(&u, "Mine");
    // XDG paths: the root in the home, the socket in the runtime directory.
    let status = u.ok(&["--status"]);
    assert!(
        status.contains(&format!("Instance: per-user (uid {}", user.uid)),
        "{status}"
    );
    assert!(
        status.contains(&format!("Root: {}", u.root().display())),
        "{status}"
    );
    let sock = u.runtime.join("wslpd.sock");
    assert!(
        status.contains(&format!("Socket: {}", sock.display())),
        "{status}"
    );
    let m = std::fs::metadata(&sock).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o777), (user.uid, 0o600));
    let m = std::fs::metadata(u.root()).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o077), (user.uid, 0));

    // Root of the distribution is the user on the host.
    assert_eq!(u.ok(&["-d", "Mine", "--", "id", "-u"]), "0\n");
    let host_side = u.ok(&[
        "-d",
        "Mine",
        "--",
        "sh",
        "-c",
        "echo hi > /root/made; echo ok",
    ]);
    assert_eq!(host_side, "ok\n");
    let made = u.home.join("distros/Mine/rootfs/root/made");
    assert_eq!(std::fs::metadata(&made).unwrap().uid(), user.uid);
    assert_no_host_root(&u);
    u
}

#[test]
fn a_user_with_ranges_runs_distributions_and_their_users() {
    let user = test_user();
    let u = the_basics(user);
    // uid 1000 of the distribution exists, and owns its home, as imported.
    assert_eq!(
        u.ok(&["-d", "Mine", "-u", "user", "--", "id", "-u"]),
        "1000\n"
    );
    assert_eq!(
        u.ok(&["-d", "Mine", "--", "stat", "-c", "%u:%g", "/home/user"]),
        "1000:1000\n"
    );
    // On the host it is an id of the user's subordinate range.
    let sub: u32 = std::fs::read_to_string("/etc/subuid")
        .unwrap()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[0] == user.name).then(|| f[1].parse().unwrap())
        })
        .unwrap();
    let home = std::fs::metadata(u.home.join("distros/Mine/rootfs/home/user")).unwrap();
    assert_eq!(
        home.uid(),
        sub + 999,
        "inside uid 1000 is the range's 1000th id"
    );
    // An export has the distribution's own ids again.
    let out = u.home.join("mine.tar");
    u.ok(&["--export", "Mine", out.to_str().unwrap()]);
    let list = Command::new("tar")
        .args(["--numeric-owner", "-tvf"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        stdout(&list)
            .lines()
            .any(|l| l.contains("1000/1000") && l.trim_end_matches('/').ends_with("home/user")),
        "{}",
        stdout(&list)
    );
    shutdown_leaves_nothing(&u);
}

#[test]
fn a_user_without_ranges_has_only_root_and_is_told_so() {
    let user = test_user_without_ranges();
    let u = the_basics(user);
    u.ok(&["--unregister", "Mine"]);
    let said = import(&u, "Mine");
    let lines: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("only root exists"))
        .collect();
    assert_eq!(lines.len(), 1, "one line says so: {said}");
    assert!(
        lines[0].contains(&format!("'{}' has no subordinate ids", user.name)),
        "{said}"
    );
    assert_eq!(u.ok(&["-d", "Mine", "--", "id", "-u"]), "0\n");
    // Files of other owners became root's.
    assert_eq!(
        u.ok(&["-d", "Mine", "--", "stat", "-c", "%u", "/home/user"]),
        "0\n"
    );
    let o = u.wslp(&["-d", "Mine", "-u", "user", "--", "true"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("has uid 1000, which the utility VM does not have"),
        "{}",
        stderr(&o)
    );
    assert_no_host_root(&u);
    shutdown_leaves_nothing(&u);
}

#[test]
fn a_c_plugin_mounts_and_executes_in_a_user_s_vm() {
    for user in [test_user(), test_user_without_ranges()] {
        let u = UserInstance::new(user);
        import(&u, "Mine");
        let share = u.dir("share");
        std::fs::write(share.join("file"), "shared").unwrap();
        u.give(&share);
        let logs = u.dir("logs");
        let log = logs.join("api.log");
        let so = plugin_for(
            &u,
            "api",
            &[
                &format!("LOG_PATH=\"{}\"", log.display()),
                &format!("HOST_DIR=\"{}\"", share.display()),
            ],
        );
        u.settings("require_signatures = false\n");
        u.ok(&["plugin", "add", "Api", so.to_str().unwrap()]);
        u.ok(&["--shutdown"]);
        u.ok(&["-d", "Mine", "--", "true"]);
        let l = read_log(&log);
        let line = |p: &str| {
            l.lines()
                .find(|x| x.starts_with(&format!("{p} hr=")))
                .unwrap_or("")
        };
        assert_eq!(
            line("MountFolder"),
            "MountFolder hr=0x00000000 out=[]",
            "{l}"
        );
        assert_eq!(
            line("ExecuteBinary"),
            "ExecuteBinary hr=0x00000000 out=[sharedping]",
            "{l}"
        );
        assert_eq!(
            line("ReadOnly"),
            "ReadOnly hr=0x00000000 out=[refused|]",
            "{l}"
        );
        assert_no_host_root(&u);
        shutdown_leaves_nothing(&u);
    }
}

#[test]
fn a_user_s_instance_refuses_unsigned_plugins_and_trusts_its_own_store() {
    for user in [test_user(), test_user_without_ranges()] {
        signatures_for(user);
    }
}

fn signatures_for(user: TestUser) {
    let u = UserInstance::new(user);
    import(&u, "Mine");
    let logs = u.dir("logs");
    let so = plugin_for(
        &u,
        "e2e",
        &[&format!("LOG_PATH=\"{}/e2e.log\"", logs.display())],
    );
    u.settings("require_signatures = true\n");
    u.ok(&["plugin", "add", "Signed", so.to_str().unwrap()]);
    u.ok(&["--shutdown"]);
    let o = u.wslp(&["-d", "Mine", "--", "true"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).ends_with(
            "Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/TRUST_E_NOSIGNATURE\n"
        ),
        "{}",
        stderr(&o)
    );
    let keys = u.dir("keys");
    let (key, cert) = (keys.join("k.pem"), keys.join("c.pem"));
    u.ok(&[
        "cert",
        "new",
        "--subject",
        "CN=Mine",
        "--key",
        key.to_str().unwrap(),
        "--cert",
        cert.to_str().unwrap(),
    ]);
    u.ok(&[
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--cert",
        cert.to_str().unwrap(),
        so.to_str().unwrap(),
    ]);
    u.ok(&["trust", "add", cert.to_str().unwrap()]);
    // The store is the user's own, not root's.
    assert_eq!(
        std::fs::metadata(u.root().join("trust")).unwrap().uid(),
        u.user.uid
    );
    u.ok(&["--shutdown"]);
    u.ok(&["-d", "Mine", "--", "true"]);
    // Root's store stays root's.
    let o = u
        .cmd()
        .env("WSLP_ROOT", "/var/lib/wslp")
        .args(["trust", "add", cert.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("needs root"), "{}", stderr(&o));
    shutdown_leaves_nothing(&u);
}

#[test]
fn a_crashing_plugin_leaves_a_user_s_service_running() {
    for user in [test_user(), test_user_without_ranges()] {
        crash_for(user);
    }
}

fn crash_for(user: TestUser) {
    let u = UserInstance::new(user);
    import(&u, "Mine");
    let logs = u.dir("logs");
    let so = plugin_for(
        &u,
        "crash",
        &[
            &format!("LOG_PATH=\"{}/crash.log\"", logs.display()),
            "IN_DISTRO_STARTED",
            "DO_SEGV",
            &format!("ONCE_MARKER=\"{}/once\"", logs.display()),
        ],
    );
    // Only the plugin's failure on stderr (after the VM start's one-line
    // warning for a user without ranges): no network to set up.
    u.settings("require_signatures = false\nnetworking_mode = \"none\"\n");
    u.ok(&["plugin", "add", "Crashy", so.to_str().unwrap()]);
    u.ok(&["--shutdown"]);
    let o = u.wslp(&["-d", "Mine", "--", "true"]);
    let err = stderr(&o);
    let err = match err.split_once('\n') {
        Some((first, rest)) if first.contains("only root exists") => rest.to_owned(),
        _ => err,
    };
    assert_eq!(
        err,
        "A fatal error was returned by plugin 'Crashy'. Error message: 'The plugin crashed (SIGSEGV).'\n\
         Error code: Wsl/Service/CreateInstance/Plugin/ERROR_PROCESS_ABORTED\n"
    );
    let before = u.processes()[0];
    assert_eq!(u.ok(&["-d", "Mine", "--", "echo", "ok"]), "ok\n");
    assert_eq!(u.processes()[0], before, "the same service");
    assert_no_host_root(&u);
    shutdown_leaves_nothing(&u);
}

#[test]
fn a_user_s_vm_gets_nat_through_pasta_and_reaches_the_host_loopback() {
    use std::io::{BufRead, BufReader, Write};
    let u = UserInstance::new(test_user());
    import(&u, "Mine");
    u.ok(&["-d", "Mine", "--", "true"]);
    let status = u.ok(&["--status"]);
    let net = status
        .lines()
        .find(|l| l.starts_with("Networking:"))
        .unwrap_or_default()
        .to_owned();
    assert!(net.contains("pasta pid "), "{status}");
    let gw = net
        .split("via ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .unwrap_or_else(|| panic!("{net}"))
        .to_owned();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let mut line = String::new();
        BufReader::new(&c).read_line(&mut line).unwrap();
        (&c).write_all(format!("ok {line}").as_bytes()).unwrap();
    });
    // As in network.rs: Debian 12's pasta may hold the server's close back,
    // so the reply is read and nc stopped.
    let out = u.ok(&[
        "-d",
        "Mine",
        "--",
        "sh",
        "-c",
        &format!(
            "echo mine | nc {gw} {port} > /tmp/reply & p=$!; i=0; \
             while [ $i -lt 600 ] && ! grep -q . /tmp/reply; do sleep 0.1; i=$((i+1)); done; \
             kill $p; cat /tmp/reply"
        ),
    ]);
    assert!(
        !out.is_empty() && out.lines().all(|l| l == "ok mine"),
        "{out:?}"
    );
    server.join().unwrap();
    assert_no_host_root(&u);
    shutdown_leaves_nothing(&u);
}

#[test]
fn a_user_s_instance_stops_when_idle_with_its_hooks_and_has_a_debug_shell() {
    for user in [test_user(), test_user_without_ranges()] {
        let u = UserInstance::new(user);
        import(&u, "Mine");
        // The VM's root namespace, as root of the instance, on a terminal.
        let script = format!(
            "(sleep 0.5; printf 'echo MARK $(id -u) $(test -t 0 && echo tty)\\nexit 3\\n') | \
             script -qec '{} --debug-shell' /dev/null",
            wslp_e2e::bin("wslp").display()
        );
        let o = u
            .env_cmd(std::path::Path::new("/bin/sh"))
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            stdout(&o).contains("MARK 0 tty"),
            "{}{}",
            stdout(&o),
            stderr(&o)
        );
        u.ok(&["--shutdown"]);

        let logs = u.dir("logs");
        let log = logs.join("idle.log");
        let so = plugin_for(
            &u,
            "e2e",
            &[
                &format!("LOG_PATH=\"{}\"", log.display()),
                "EXEC_IN_DISTRO",
                "EXEC_ON_VM_STOP",
            ],
        );
        u.settings(
            "require_signatures = false\ndistro_idle_timeout_ms = 200\nvm_idle_timeout_ms = 200\nservice_idle_timeout_ms = 200\n",
        );
        u.ok(&["plugin", "add", "Idle", so.to_str().unwrap()]);
        u.ok(&["--shutdown"]);
        u.ok(&["-d", "Mine", "--", "true"]);
        let sock = u.runtime.join("wslpd.sock");
        let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while sock.exists() || !u.processes().is_empty() {
            assert!(
                std::time::Instant::now() < end,
                "the instance did not stop by itself"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let l = read_log(&log);
        assert!(
            l.contains(
                "OnDistributionStopping ExecuteBinaryInDistribution hr=0x00000000 out=debian"
            ),
            "{l}"
        );
        assert!(
            l.contains("OnVMStopping ExecuteBinary hr=0x00000000 out=vm-still-up"),
            "{l}"
        );
    }
}

#[test]
fn two_users_instances_never_meet() {
    let a = UserInstance::new(test_user());
    let b = UserInstance::new(test_user_without_ranges());
    import(&a, "OfA");
    import(&b, "OfB");
    assert!(stdout(&a.wslp(&["-l", "-q"])).contains("OfA"));
    let listed = a.ok(&["-l", "-q"]);
    assert!(!listed.contains("OfB"), "{listed}");
    let listed = b.ok(&["-l", "-q"]);
    assert!(!listed.contains("OfA"), "{listed}");
    // B pointing at A's instance gets nothing: not its files, not its socket.
    let o = b
        .cmd()
        .env("WSLP_ROOT", a.root())
        .env("WSLP_SOCKET", a.runtime.join("wslpd.sock"))
        .args(["-d", "OfA", "--", "true"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", stdout(&o));
    // Even with the socket in reach, A's service serves A alone.
    std::fs::set_permissions(&a.runtime, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(
        a.runtime.join("wslpd.sock"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let o = b
        .cmd()
        .env("WSLP_ROOT", a.root())
        .env("WSLP_SOCKET", a.runtime.join("wslpd.sock"))
        .args(["-l"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("only its owner may use it"),
        "{}",
        stderr(&o)
    );
    shutdown_leaves_nothing(&a);
    shutdown_leaves_nothing(&b);
}

#[test]
fn without_user_namespaces_the_error_names_the_setting() {
    let u = UserInstance::new(test_user());
    let t = tarball_for(&u);
    let user = u.user;
    // A throw-away user namespace where the user exists and creating user
    // namespaces is switched off (user.max_user_namespaces is per namespace).
    // Its shell re-executes once the maps are written: a program started
    // before that has no capabilities there.
    // Root's files, beside the home: root of the namespace still owns them.
    let beside = u.home.parent().unwrap();
    let (fifo, inner) = (beside.join("go"), beside.join("inner.sh"));
    std::fs::write(
        &inner,
        format!(
            "echo 0 > /proc/sys/user/max_user_namespaces || exit 99\n\
             exec setpriv --reuid={uid} --regid={gid} --clear-groups env -i HOME={home} PATH=/usr/bin:/bin \
             WSLPD={wslpd} {wslp} --import X {home}/x {t}\n",
            uid = user.uid,
            gid = user.gid,
            home = u.home.display(),
            wslpd = wslp_e2e::bin("wslpd").display(),
            wslp = wslp_e2e::bin("wslp").display(),
            t = t.display(),
        ),
    )
    .unwrap();
    let script = format!(
        "mkfifo {fifo}; \
         unshare -U sh -c 'read _ < {fifo}; exec sh {inner}' & \
         pid=$!; sleep 0.2; \
         printf '0 0 1\\n{uid} {uid} 1\\n' > /proc/$pid/uid_map; \
         printf '0 0 1\\n{gid} {gid} 1\\n' > /proc/$pid/gid_map; \
         echo go > {fifo}; wait $pid",
        fifo = fifo.display(),
        inner = inner.display(),
        uid = user.uid,
        gid = user.gid,
    );
    let o = Command::new("timeout")
        .args(["60", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(
            "the kernel forbids unprivileged user namespaces here (user.max_user_namespaces = 0)"
        ),
        "{}",
        stderr(&o)
    );
}

/// README's recipe for a plugin crate, then the example plugins' tests in a
/// real VM, `cargo test` as an ordinary user: the toolchain and the crates
/// are root's (read-only in a private mount namespace), the crate, the
/// target directory and cargo's home the user's.
#[test]
fn the_readme_plugin_crate_and_the_examples_pass_cargo_test_without_root() {
    let u = UserInstance::new(test_user());
    let krate = u.dir("hello");
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let section = &readme[readme.find("## Writing a plugin in Rust").unwrap()..];
    let blocks = code_blocks(section);
    let toml = blocks
        .iter()
        .find(|(l, _)| l == "toml")
        .unwrap()
        .1
        .replace("/path/to/wslp", workspace().to_str().unwrap());
    let rust: Vec<&String> = blocks
        .iter()
        .filter(|(l, _)| l == "rust")
        .map(|(_, b)| b)
        .collect();
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::create_dir_all(krate.join("tests")).unwrap();
    std::fs::write(krate.join("Cargo.toml"), toml).unwrap();
    std::fs::write(krate.join("src/lib.rs"), rust[0]).unwrap();
    std::fs::write(krate.join("tests/vm.rs"), rust[1]).unwrap();
    // The versions our own build downloaded: cargo runs offline.
    std::fs::copy(workspace().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let cargo_home = u.dir(".cargo");
    let (toolchain, registry) = (u.dir("toolchain"), u.dir("registry"));
    u.give(&u.home);
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(workspace())
        .output()
        .unwrap();
    let sysroot = stdout(&sysroot).trim().to_owned();
    let root_cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"));
    std::os::unix::fs::symlink(&registry, cargo_home.join("registry")).unwrap();
    let user = u.user;
    // How this run builds (CI's clean-build settings), for the user's builds too.
    let build_env: String = ["CARGO_INCREMENTAL", "CARGO_PROFILE_DEV_DEBUG"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v} ")))
        .collect();
    let script = format!(
        "mount --bind {sysroot} {toolchain} && mount --bind -o ro {reg} {registry} && \
         exec setpriv --reuid={uid} --regid={gid} --init-groups env -i HOME={home} CARGO_HOME={cargo_home} \
           {build_env}CARGO_TARGET_DIR={target} PATH={toolchain}/bin:{bins}:/usr/bin:/bin sh -c \
           'cd {krate} && cargo test --offline 2>&1 && \
            cd {examples}/sample && cargo test --offline --locked --test in_vm 2>&1 && \
            cd {examples}/shared-folder && cargo test --offline --locked --test in_vm 2>&1'",
        toolchain = toolchain.display(),
        reg = root_cargo_home.join("registry").display(),
        registry = registry.display(),
        uid = user.uid,
        gid = user.gid,
        home = u.home.display(),
        cargo_home = cargo_home.display(),
        bins = wslp_e2e::bin("wslp").parent().unwrap().display(),
        krate = krate.display(),
        target = u.home.join("target").display(),
        examples = workspace().join("examples/rust").display(),
    );
    let o = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains("test hooks_run_in_a_real_vm ... ok"), "{out}");
    // The example plugins' own tests in a real VM, as the same user.
    assert!(
        out.contains("test logs_the_real_vm_and_distribution ... ok"),
        "{out}"
    );
    assert!(!out.contains("FAILED"), "{out}");
}

fn code_blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("```") {
        let after = &rest[i + 3..];
        let nl = after.find('\n').unwrap();
        let lang = after[..nl].trim().to_string();
        let body_start = &after[nl + 1..];
        let end = body_start.find("```").unwrap();
        out.push((lang, body_start[..end].to_string()));
        rest = &body_start[end + 3..];
    }
    out
}

/// WSLC in a per-user instance: the session VM and its engine run in the
/// user's own namespaces, no process with host euid 0, and nothing is left
/// after the shutdown.
#[test]
fn a_user_s_wslc_session_runs_containers_without_host_root() {
    let u = UserInstance::new(test_user());
    let t = tarball_for(&u);
    let id = u.ok(&["image", "import", t.to_str().unwrap(), "bb:1"]);
    assert!(id.starts_with("sha256:"), "{id}");
    let o = u.wslp(&[
        "container",
        "run",
        "--rm",
        "bb:1",
        "sh",
        "-c",
        "echo in-a-user-container; exit 6",
    ]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert_eq!(stdout(&o), "in-a-user-container\n");
    u.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "bg",
        "bb:1",
        "sleep",
        "100",
    ]);
    assert_no_host_root(&u);
    assert!(u.ok(&["session", "list"]).contains("Running"));
    shutdown_leaves_nothing(&u);
}
