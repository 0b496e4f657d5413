//! The CLI as a user drives it: distributions, commands, stdio, exit codes.

use std::io::Read;
use wslp_e2e::*;

#[test]
fn run_passes_stdio_exit_code_user_cwd_and_env() {
    let env = Env::new();
    env.import("D");
    // Exit codes pass through, 128+signal when killed.
    assert_eq!(
        env.wslp(&["-d", "D", "--", "sh", "-c", "exit 7"])
            .status
            .code(),
        Some(7)
    );
    assert_eq!(
        env.wslp(&["-d", "D", "--", "sh", "-c", "kill -TERM $$"])
            .status
            .code(),
        Some(128 + 15)
    );
    // stdout and stderr are the client's own.
    let o = env.wslp(&["-d", "D", "--", "sh", "-c", "echo out; echo err >&2"]);
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    // -u, --cd and a sane environment.
    let o = env.ok(&[
        "-d",
        "D",
        "-u",
        "user",
        "--cd",
        "/tmp",
        "--",
        "sh",
        "-c",
        "id -u; id -g; id -G; pwd; echo $HOME $USER $SHELL; echo $PATH",
    ]);
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines[0], "1000");
    assert_eq!(lines[1], "1000");
    assert!(
        lines[2].split_whitespace().any(|g| g == "10"),
        "supplementary groups: {o}"
    );
    assert_eq!(lines[3], "/tmp");
    assert_eq!(lines[4], "/home/user user /bin/sh");
    assert!(
        lines[5].contains("/usr/bin") && lines[5].contains("/bin"),
        "{o}"
    );
    // Root by default, home as the working directory; -e runs without a shell.
    assert_eq!(env.ok(&["-d", "D", "-e", "id", "-u"]).trim(), "0");
    assert_eq!(env.ok(&["-d", "D", "--", "pwd"]).trim(), "/root");
    // An unknown user is a clear error.
    let o = env.wslp(&["-d", "D", "-u", "nosuchuser", "--", "true"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nosuchuser"), "{}", stderr(&o));
}

#[test]
fn binary_data_round_trips_through_stdin_and_stdout() {
    let env = Env::new();
    env.import("D");
    let mut data = vec![0u8; 8 << 20];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut data)
        .unwrap();
    let o = env.wslp_input(&["-d", "D", "--", "cat"], &data);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        o.stdout == data,
        "8 MiB through cat came back different ({} bytes)",
        o.stdout.len()
    );
}

#[test]
fn list_default_terminate_unregister() {
    let env = Env::new();
    let o = env.wslp(&["-l"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no installed distributions"),
        "{}",
        stderr(&o)
    );
    env.import("Alpha");
    env.import("Beta");
    assert_eq!(
        env.ok(&["-l"]),
        "wslp distributions:\nAlpha (Default)\nBeta\n"
    );
    env.ok(&["-d", "Beta", "--", "true"]);
    assert_eq!(
        env.ok(&["-l", "-v"]),
        "  NAME     STATE           VERSION\n* Alpha    Stopped         2\n  Beta     Running         2\n"
    );
    assert_eq!(env.ok(&["-l", "--running", "-q"]), "Beta\n");
    env.ok(&["-s", "Beta"]);
    assert_eq!(env.ok(&["--", "cat", "/etc/hostname"]).trim(), "debian");
    assert!(env.ok(&["-l"]).contains("Beta (Default)"));
    env.ok(&["-t", "Beta"]);
    assert!(env.ok(&["-l", "-v"]).contains("* Beta     Stopped"));
    let dir = env.root.parent().unwrap().join("distros/Alpha");
    assert!(dir.join("rootfs").is_dir());
    env.ok(&["--unregister", "Alpha"]);
    assert!(!dir.join("rootfs").exists(), "unregister removes the files");
    assert_eq!(env.ok(&["-l", "-q"]), "Beta\n");
    let o = env.wslp(&["-d", "Alpha", "--", "true"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("Alpha"), "{}", stderr(&o));
}

#[test]
fn import_rejects_bad_input_and_changes_nothing() {
    let env = Env::new();
    env.import("Good");
    let junk = env.scratch().join("junk.tar");
    std::fs::write(&junk, b"this is not a tarball at all").unwrap();
    let dir = env.scratch().join("bad");
    let o = env.wslp(&[
        "--import",
        "Bad",
        dir.to_str().unwrap(),
        junk.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(!stderr(&o).is_empty());
    // Same name again.
    let o = env.wslp(&[
        "--import",
        "Good",
        env.scratch().join("g2").to_str().unwrap(),
        rootfs_tarball().to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("Good"), "{}", stderr(&o));
    assert_eq!(env.ok(&["-l", "-q"]), "Good\n");
    // WSL 1 does not exist here.
    let o = env.wslp(&[
        "--import",
        "V1",
        env.scratch().join("v1").to_str().unwrap(),
        rootfs_tarball().to_str().unwrap(),
        "--version",
        "1",
    ]);
    assert!(!o.status.success());
    assert_eq!(env.ok(&["-l", "-q"]), "Good\n");
}

#[test]
fn import_from_stdin() {
    let env = Env::new();
    let data = std::fs::read(rootfs_tarball()).unwrap();
    let dir = env.scratch().join("piped");
    let o = env.wslp_input(&["--import", "Piped", dir.to_str().unwrap(), "-"], &data);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        env.ok(&["-d", "Piped", "--", "cat", "/etc/hostname"])
            .trim(),
        "debian"
    );
}

#[test]
fn version_and_status_and_help() {
    let env = Env::new();
    let v = env.ok(&["--version"]);
    assert!(v.contains("wslp version:") && v.contains("2.9.5"), "{v}");
    let s = env.ok(&["--status"]);
    assert!(s.contains("Default distribution: (none)"), "{s}");
    let h = env.ok(&["--help"]);
    for flag in [
        "--distribution",
        "--user",
        "--exec",
        "--cd",
        "--list",
        "--import",
        "--unregister",
        "--terminate",
        "--shutdown",
        "--set-default",
        "--status",
        "--debug-shell",
        "plugin",
    ] {
        assert!(h.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn signals_to_wslp_reach_the_command() {
    let env = Env::new();
    env.import("D");
    env.ok(&["-d", "D", "--", "true"]);
    let mut child = env
        .cmd()
        .args(["-d", "D", "--", "sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(
        st.code(),
        Some(128 + 15),
        "SIGTERM forwarded to sleep, its status passed back"
    );
}

#[test]
fn a_terminal_gets_a_pty() {
    let env = Env::new();
    env.import("D");
    // script(1) gives wslp a terminal as stdin.
    let cmdline = format!(
        "WSLP_ROOT={} WSLPD={} {} -d D -- sh -c 'test -t 0 && test -t 1 && echo tty-ok; stty size'",
        env.root.display(),
        bin("wslpd").display(),
        bin("wslp").display()
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .env("COLUMNS", "100")
        .env("LINES", "40")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out} {}", stderr(&o));
    assert!(
        out.contains("tty-ok"),
        "the command sees a terminal: {out:?}"
    );
}

#[test]
fn debug_shell_is_a_root_shell_in_the_vm_on_a_pty() {
    let env = Env::new();
    let cmdline = format!(
        "(sleep 0.5; printf 'echo MARK $(id -u) $(test -t 0 && echo tty)\\nexit 3\\n') | WSLP_ROOT={} WSLPD={} script -qec '{} --debug-shell' /dev/null",
        env.root.display(),
        bin("wslpd").display(),
        bin("wslp").display()
    );
    let o = std::process::Command::new("sh")
        .args(["-c", &cmdline])
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(
        out.contains("MARK 0 tty"),
        "a root shell in the VM's fresh root, on a terminal: {out:?}"
    );
    assert_eq!(
        o.status.code(),
        Some(3),
        "the shell's exit code passes through: {out:?}"
    );
}

#[test]
fn a_reader_that_goes_away_ends_wslp_quietly() {
    // `wslp completions bash | head -1`: the pipe's reader is gone before
    // wslp writes most of its output.
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    for args in [&["completions", "bash"][..], &["--version"][..]] {
        let o = std::process::Command::new(bin("wslp"))
            .args(args)
            .stdout(std::process::Stdio::from(w.try_clone().unwrap()))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "wslp {args:?}: {err}");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            o.status.signal(),
            Some(libc::SIGPIPE),
            "wslp {args:?}: {:?}",
            o.status
        );
    }
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_itself() {
    let env = Env::new();
    let bash = env.ok(&["completions", "bash"]);
    assert!(
        bash.contains("complete -F _wslp") && bash.contains("--distribution"),
        "{bash}"
    );
    let dir = env.scratch().join("man");
    env.ok(&["man", dir.to_str().unwrap()]);
    let page = std::fs::read_to_string(dir.join("wslp-plugin-trace.1")).unwrap();
    assert!(page.contains(".TH wslp-plugin-trace 1"), "{page}");
    assert!(dir.join("wslp.1").exists() && dir.join("wslp-trust-add.1").exists());
}
