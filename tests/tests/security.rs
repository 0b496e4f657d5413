//! A distribution is never a way into host root, nor into groups the caller
//! does not have (docs/security.md). Each test is one finding of a review
//! made as an unprivileged user against the release binaries; the user here
//! is a real one the harness creates (`test_user`).

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use wslp_e2e::*;
use wslp_ipc::protocol::{ClientMessage, Request, RunCommand, RunRequest, ServerMessage};

/// The host id that root of the VM is: the second field of the VM's uid_map.
fn range_base(env: &Env) -> u64 {
    let map = env.ok(&["-d", "D", "--", "cat", "/proc/self/uid_map"]);
    let f: Vec<u64> = map.split_whitespace().map(|v| v.parse().unwrap()).collect();
    assert_eq!((f[0], f[2]), (0, 65536), "{map}");
    f[1]
}

/// The static "setuid-root shell" of tests/images/rootme.c.
fn rootme(out: &Path) -> PathBuf {
    let bin = out.join("rootme");
    let o = Command::new("gcc")
        .args(["-static", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&bin)
        .arg(workspace().join("tests/images/rootme.c"))
        .output()
        .unwrap();
    assert!(o.status.success(), "gcc: {}", stderr(&o));
    bin
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_setuid_root_shell_in_an_imported_tarball_reads_nothing_of_the_host() {
    let env = Env::new();
    let user = test_user();
    let rootme = rootme(&env.scratch());
    let tarball = custom_tarball(&env.scratch(), "evil", |dir| {
        std::fs::copy(&rootme, dir.join("rootme")).unwrap();
        std::os::unix::fs::chown(dir.join("rootme"), Some(0), Some(0)).unwrap();
        chmod(&dir.join("rootme"), 0o4755);
    });
    let dir = env.import_tarball("Evil", &tarball);
    env.ok(&["-d", "Evil", "--", "true"]);
    env.open_to_users();
    let script = "id -u; cat /proc/self/fd/0/shadow >/dev/null 2>&1 && echo READ-SHADOW; echo end";
    // The user, with the host's /etc as stdin: the set-uid bit does nothing
    // for them (no new privileges).
    let o = env
        .cmd_as(&user)
        .args(["-d", "Evil", "--", "/rootme", "-c", script])
        .stdin(File::open("/etc").unwrap())
        .output()
        .unwrap();
    assert_eq!(stdout(&o), format!("{}\nend\n", user.uid), "{}", stderr(&o));
    // Root running it as a user of the distribution: root of the VM, which
    // is nobody to the host's files.
    let o = env
        .cmd()
        .args(["-d", "Evil", "-u", "user", "--", "/rootme", "-c", script])
        .stdin(File::open("/etc").unwrap())
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "0\nend\n", "{}", stderr(&o));
    // On the host the file is out of the user's reach: the distribution's
    // directory is root's and 0700.
    assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o7777, 0o700);
    let o = Command::new("setpriv")
        .args([
            &format!("--reuid={}", user.uid),
            &format!("--regid={}", user.gid),
            "--init-groups",
            "--",
            "sh",
            "-c",
            "exec \"$0\" -c 'id -u'",
        ])
        .arg(dir.join("rootfs/rootme"))
        .output()
        .unwrap();
    assert!(
        !o.status.success() && stdout(&o).is_empty() && stderr(&o).contains("Permission denied"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
}

#[test]
fn root_in_a_distribution_is_root_of_the_vm_not_of_the_host() {
    let env = Env::new();
    env.import("D");
    let base = range_base(&env);
    assert!(base >= 65536, "root inside is host uid {base}");
    let status = env.ok(&["--status"]);
    assert!(
        status.contains(&format!(
            "VM ids 0-65535 are host ids {base}-{}",
            base + 65535
        )),
        "{status}"
    );
    let o = env.ok(&[
        "-d",
        "D",
        "--",
        "sh",
        "-c",
        "grep CapEff /proc/self/status; \
         ( : >> /proc/sys/kernel/core_pattern ) 2>/dev/null && echo CORE-PATTERN; \
         mknod /tmp/sda b 8 0 2>/dev/null && echo MKNOD; echo end",
    ]);
    // Every capability, of a namespace the host does not trust.
    let lines: Vec<&str> = o.lines().collect();
    assert!(
        lines[0]
            .split_whitespace()
            .nth(1)
            .unwrap()
            .ends_with("fffffffff"),
        "{o}"
    );
    assert_eq!(lines[1..], ["end"], "{o}");
}

#[test]
fn groups_come_from_the_kernel_never_from_the_distribution() {
    let env = Env::new();
    let user = test_user();
    // The distribution lists the user's uid in wheel (gid 10) and root (0).
    let tarball = custom_tarball(&env.scratch(), "groups", |dir| {
        let passwd = std::fs::read_to_string(dir.join("etc/passwd")).unwrap();
        std::fs::write(
            dir.join("etc/passwd"),
            format!("{passwd}evil:x:{}:{}::/:/bin/sh\n", user.uid, user.uid),
        )
        .unwrap();
        let group = std::fs::read_to_string(dir.join("etc/group"))
            .unwrap()
            .replace("root:x:0:", "root:x:0:evil")
            .replace("wheel:x:10:user", "wheel:x:10:user,evil");
        std::fs::write(dir.join("etc/group"), group).unwrap();
    });
    env.import_tarball("G", &tarball);
    env.ok(&["-d", "G", "--", "true"]);
    env.open_to_users();
    // A host file that only root and group 10 may read.
    let host = env.scratch().join("host");
    std::fs::create_dir(&host).unwrap();
    chmod(&host, 0o755);
    std::fs::write(host.join("wheel-only"), "secret\n").unwrap();
    std::os::unix::fs::chown(host.join("wheel-only"), Some(0), Some(10)).unwrap();
    chmod(&host.join("wheel-only"), 0o640);
    let o = env
        .cmd_as(&user)
        .args([
            "-d",
            "G",
            "--",
            "sh",
            "-c",
            "id -un; id -G; cat /proc/self/fd/0/wheel-only 2>/dev/null; echo end",
        ])
        .stdin(File::open(&host).unwrap())
        .output()
        .unwrap();
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}{}", stderr(&o));
    // The name inside is the distribution's; the groups are the host's.
    assert_eq!(lines[0], "evil");
    let mut groups: Vec<u32> = lines[1]
        .split_whitespace()
        .map(|g| g.parse().unwrap())
        .collect();
    groups.sort();
    let mut want = vec![user.gid, user.extra_gid];
    want.sort();
    assert_eq!(groups, want);
    assert_eq!(lines[2], "end");
}

#[test]
fn a_user_owned_import_folder_is_refused_at_import_and_at_start() {
    let env = Env::new();
    let user = test_user();
    let theirs = env.scratch().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(user.uid), Some(user.gid)).unwrap();
    let target = theirs.join("E");
    let o = env.wslp(&[
        "--import",
        "E",
        target.to_str().unwrap(),
        rootfs_tarball().to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].contains(&format!(
            "'{}' is owned by uid {}",
            theirs.display(),
            user.uid
        )),
        "{err}"
    );
    assert!(lines[1].starts_with("Error code: Wsl/"), "{err}");
    assert!(!target.exists(), "nothing is left behind");
    assert!(!stdout(&env.wslp(&["-l", "-q"])).contains('E'));
    // Imported where only root could change it, then the folder given away:
    // the user could now swap the distribution's /etc, so it does not start.
    let later = env.scratch().join("later");
    std::fs::create_dir(&later).unwrap();
    env.ok(&[
        "--import",
        "F",
        later.join("F").to_str().unwrap(),
        rootfs_tarball().to_str().unwrap(),
    ]);
    env.ok(&["-d", "F", "--", "true"]);
    env.ok(&["-t", "F"]);
    std::os::unix::fs::chown(&later, Some(user.uid), Some(user.gid)).unwrap();
    let o = env.wslp(&["-d", "F", "--", "true"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("The distribution 'F' could not be started")
            && err.contains(&format!(
                "'{}' is owned by uid {}",
                later.display(),
                user.uid
            ))
            && err.ends_with("Error code: Wsl/Service/CreateInstance/E_ACCESSDENIED\n"),
        "{err}"
    );
}

/// `df -k` sizes (1K blocks) of `/tmp`, `/run` and `/dev/shm`.
fn tmpfs_sizes(df: &str) -> Vec<u64> {
    ["/tmp", "/run", "/dev/shm"]
        .iter()
        .map(|m| {
            df.lines()
                .find(|l| l.split_whitespace().last() == Some(*m))
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or_else(|| panic!("{m} in {df}"))
                .parse()
                .unwrap()
        })
        .collect()
}

#[test]
fn the_caller_s_limits_apply_and_tmpfs_have_a_size() {
    let env = Env::with_settings("require_signatures = false\ntmpfs_size = \"3m\"\n");
    let user = test_user();
    env.import("D");
    env.ok(&["-d", "D", "--", "true"]);
    env.open_to_users();
    let o = Command::new("setpriv")
        .args([
            &format!("--reuid={}", user.uid),
            &format!("--regid={}", user.gid),
            "--init-groups",
            "--",
            "prlimit",
            "--nofile=256:256",
            "--nproc=100:100",
        ])
        .arg(bin("wslp"))
        .args([
            "-d",
            "D",
            "--",
            "sh",
            "-c",
            "ulimit -n; ulimit -u; df -k /tmp /run /dev/shm",
        ])
        .env("WSLP_ROOT", &env.root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(out.starts_with("256\n100\n"), "{out}{}", stderr(&o));
    assert_eq!(tmpfs_sizes(&out), [3072; 3]);
    // By default a quarter of the host's memory, as in WSL (whose VM has half
    // of it, and a tmpfs half of that).
    let env = Env::new();
    env.import("D");
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    for size in tmpfs_sizes(&env.ok(&["-d", "D", "--", "df", "-k", "/tmp", "/run", "/dev/shm"])) {
        let quarter = mem_kb / 4;
        assert!(
            size.abs_diff(quarter) <= quarter / 50 + 4,
            "{size} KiB, a quarter is {quarter}"
        );
    }
}

/// Reads a pty master until every slave is closed (EIO).
fn drain(master: OwnedFd) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut f = File::from(master);
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&all).into_owned()
    })
}

/// `major:minor` in hex, as `stat -c %t:%T` prints a device.
fn rdev_of(fd: &impl AsRawFd) -> String {
    let st = nix::sys::stat::fstat(fd.as_raw_fd()).unwrap();
    format!(
        "{:x}:{:x}",
        nix::sys::stat::major(st.st_rdev),
        nix::sys::stat::minor(st.st_rdev)
    )
}

#[test]
fn the_caller_s_terminal_is_never_handed_to_the_command() {
    let env = Env::new();
    env.import("D");
    env.ok(&["-d", "D", "--", "true"]);
    // `sudo wslp -u user -- cmd < file` with stdout on root's terminal.
    let pty = nix::pty::openpty(None, None).unwrap();
    let ours = rdev_of(&pty.slave);
    let input = env.scratch().join("input");
    std::fs::write(&input, "from the file\n").unwrap();
    let mut c = env.cmd();
    c.args([
        "-d",
        "D",
        "-u",
        "user",
        "--",
        "sh",
        "-c",
        "stat -L -c %t:%T /proc/self/fd/1 /proc/self/fd/2; cat; test -t 0 || echo stdin-is-the-file",
    ])
    .stdin(File::open(&input).unwrap())
    .stdout(pty.slave.try_clone().unwrap())
    .stderr(pty.slave);
    let out = drain(pty.master);
    let st = c.spawn().unwrap().wait().unwrap();
    drop(c);
    let out = out.join().unwrap();
    assert!(st.success(), "{out}");
    let lines: Vec<&str> = out.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert_eq!(lines.len(), 4, "{out:?}");
    assert_eq!(lines[0], lines[1], "stdout and stderr are one new pty");
    assert_ne!(lines[0], ours, "the command got the caller's own terminal");
    assert_eq!(lines[2..], ["from the file", "stdin-is-the-file"]);

    // `wslp -- cmd > out.txt` typed at a terminal: the file gets the bytes
    // as written, stderr stays on the terminal.
    let pty = nix::pty::openpty(None, None).unwrap();
    let file = env.scratch().join("out.txt");
    let mut c = env.cmd();
    c.args([
        "-d",
        "D",
        "--",
        "sh",
        "-c",
        "printf 'a\\nb\\n'; echo to-stderr >&2",
    ])
    .stdin(pty.slave.try_clone().unwrap())
    .stdout(File::create(&file).unwrap())
    .stderr(pty.slave);
    let out = drain(pty.master);
    let st = c.spawn().unwrap().wait().unwrap();
    drop(c);
    let out = out.join().unwrap();
    assert!(st.success(), "{out}");
    assert_eq!(std::fs::read(&file).unwrap(), b"a\nb\n");
    assert!(out.contains("to-stderr"), "{out:?}");
}

#[test]
fn only_terminal_signals_reach_the_command_and_only_its_own_group() {
    let env = Env::new();
    env.import("D");
    env.ok(&["-d", "D", "--", "true"]);
    let conn = wslp_ipc::client::connect(&wslp_config::Paths::new(&env.root)).unwrap();
    let (out_r, out_w) = nix::unistd::pipe().unwrap();
    let null = File::open("/dev/null").unwrap();
    conn.send_with_fds(
        &ClientMessage::Request(Request::Run(RunRequest {
            distribution: Some("D".into()),
            user: None,
            cwd: None,
            command: RunCommand::Exec(
                [
                    "sh",
                    "-c",
                    "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 1; done",
                ]
                .map(String::from)
                .to_vec(),
            ),
            tty: false,
            term: None,
            lang: None,
        })),
        &[null.as_fd(), out_w.as_fd(), out_w.as_fd()],
    )
    .unwrap();
    drop(out_w);
    let mut out = File::from(out_r);
    let mut ready = [0u8; 6];
    out.read_exact(&mut ready).unwrap();
    assert_eq!(&ready, b"ready\n");
    // Not a terminal's signals: dropped. Had SIGKILL or SIGUSR1 arrived, the
    // shell would have died of it before its TERM trap could run.
    for sig in [libc::SIGKILL, libc::SIGUSR1, libc::SIGSTOP, 0, -1, 64, 1000] {
        conn.send(&ClientMessage::Signal(sig)).unwrap();
    }
    conn.send(&ClientMessage::Signal(libc::SIGTERM)).unwrap();
    let code = loop {
        match conn.recv::<ServerMessage>().unwrap().0 {
            ServerMessage::Exited { code } => break code,
            ServerMessage::Started { .. } => {}
            other => panic!("{other:?}"),
        }
    };
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    // The shell's `sleep` got the TERM too (dash reports it "Terminated").
    assert_eq!(code, 3, "{rest}");
    assert!(rest.ends_with("got-term\n"), "{rest}");
}

#[test]
fn su_with_the_root_password_gives_root_of_the_distribution_only() {
    let env = Env::new();
    let user = test_user();
    let hash = Command::new("busybox")
        .args(["mkpasswd", "-m", "sha512", "wslp"])
        .output()
        .unwrap();
    let hash = stdout(&hash).trim().to_string();
    assert!(hash.starts_with("$6$"), "{hash}");
    let tarball = custom_tarball(&env.scratch(), "su", |dir| {
        std::fs::write(
            dir.join("etc/shadow"),
            format!("root:{hash}:19000:0:99999:7:::\nuser:!:19000:0:99999:7:::\n"),
        )
        .unwrap();
        chmod(&dir.join("etc/shadow"), 0o640);
        // busybox's su needs the binary set-uid root, as on a real system.
        chmod(&dir.join("bin/busybox"), 0o4755);
    });
    env.import_tarball("S", &tarball);
    env.ok(&["-d", "S", "--", "true"]);
    let script = "echo wslp | su -c 'id -u; ( : >> /proc/sys/kernel/core_pattern ) 2>/dev/null && echo CORE-PATTERN; \
                  mknod /tmp/sda b 8 0 2>/dev/null && echo MKNOD; echo end' root; echo rc=$?";
    // Host root runs it as a user of the distribution: su works, and gives
    // root of the VM.
    let o = env.ok(&["-d", "S", "-u", "user", "--", "sh", "-c", script]);
    assert_eq!(o.trim_start_matches("Password: \n"), "0\nend\nrc=0\n");
    // An unprivileged caller's su cannot raise anything.
    env.open_to_users();
    let o = env
        .cmd_as(&user)
        .args(["-d", "S", "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "rc=1\n", "{}", stderr(&o));
}

#[test]
fn uid_1000_runs_as_the_range_and_its_files_are_stored_as_uid_1000() {
    let env = Env::new();
    let dir = env.import("D");
    let base = range_base(&env);
    let mut c = env.cmd();
    c.args([
        "-d",
        "D",
        "-u",
        "user",
        "--",
        "sh",
        "-c",
        "touch /home/user/made-inside && exec sleep 31.25",
    ]);
    let mut client = c.spawn().unwrap();
    // The host's view of the command: uid base+1000, not 1000.
    let uids = (0..400)
        .find_map(|_| {
            let found = std::fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
                let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
                (cmd == b"sleep\x0031.25\x00").then(|| {
                    std::fs::read_to_string(e.path().join("status"))
                        .unwrap_or_default()
                        .lines()
                        .find_map(|l| l.strip_prefix("Uid:"))
                        .map(|v| v.split_whitespace().map(String::from).collect::<Vec<_>>())
                })?
            });
            if found.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            found
        })
        .expect("the command runs");
    assert_eq!(uids, vec![(base + 1000).to_string(); 4]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(client.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    client.wait().unwrap();
    let m = std::fs::metadata(dir.join("rootfs/home/user/made-inside")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 1000));
}

#[test]
fn a_filesystem_that_cannot_be_idmapped_gets_its_files_shifted_at_import() {
    let env = Env::new();
    let ram = env.scratch().join("ram");
    std::fs::create_dir(&ram).unwrap();
    // The import, and the service it starts, live in a mount namespace where
    // a ramfs (which has no idmapped mounts) is mounted on `ram`.
    let o = Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            "mount -t ramfs -o mode=755 none \"$1\" && shift && exec \"$@\"",
            "sh",
        ])
        .arg(&ram)
        .arg(bin("wslp"))
        .args(["--import", "R"])
        .arg(ram.join("R"))
        .arg(rootfs_tarball())
        .env("WSLP_ROOT", &env.root)
        .env("WSLPD", bin("wslpd"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot show files through an idmapped mount"),
        "{}",
        stderr(&o)
    );
    // Inside, nothing shows: uid 1000 owns its home and its new files.
    let out = env.ok(&[
        "-d",
        "R",
        "-u",
        "user",
        "--",
        "sh",
        "-c",
        "stat -c %u:%g /home/user; touch /home/user/new && stat -c %u /home/user/new; \
         cat /proc/self/uid_map /proc/self/gid_map",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["1000:1000", "1000"], "{out}");
    let base = |l: &str| -> u64 { l.split_whitespace().nth(1).unwrap().parse().unwrap() };
    let (ubase, gbase) = (base(lines[2]), base(lines[3]));
    // On disk (seen from the service's mount namespace): the range's ids.
    let pid = env.service_pid().expect("the service runs");
    let o = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-m", "--", "stat", "-c", "%u:%g"])
        .arg(ram.join("R/rootfs/home/user/new"))
        .arg(ram.join("R/rootfs/bin/busybox"))
        .output()
        .unwrap();
    assert_eq!(
        stdout(&o),
        format!("{}:{}\n{ubase}:{gbase}\n", ubase + 1000, gbase + 1000),
        "{}",
        stderr(&o)
    );
}

/// `tests/tools/flood.c`, built once per test into `dir`, runnable by anyone.
fn flood_tool(dir: &Path) -> PathBuf {
    let out = dir.join("flood");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/flood.c");
    let o = Command::new("gcc")
        .args(["-O1", "-Wall", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    chmod(dir, 0o755);
    chmod(&out, 0o755);
    out
}

fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// `flood` run as the test user; returns it with the line it printed once ready.
fn flood_as_user(tool: &Path, env: &Env, args: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let user = test_user();
    let mut child = Command::new("setpriv")
        .args([
            &format!("--reuid={}", user.uid),
            &format!("--regid={}", user.gid),
            "--init-groups",
            "--",
        ])
        .arg(tool)
        .arg(env.root.join("wslpd.sock"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

/// Issue 14 item 1: an unprivileged client that announces a 1 MiB frame and
/// sends 5,000 one-byte messages with four descriptors each is dropped at its
/// first stray descriptor; the service keeps its descriptors and serves root.
#[test]
fn a_descriptor_flood_from_a_user_costs_the_service_nothing() {
    let env = Env::new();
    env.open_to_users();
    env.ok(&["--status"]);
    let pid = env.service_pid().expect("the service runs");
    let before = fd_count(pid);
    let tool = flood_tool(&env.scratch());
    let (mut flood, line) = flood_as_user(&tool, &env, &["fds"]);
    let sent: usize = line
        .trim()
        .strip_prefix("sent ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(sent < 5000, "the service never dropped the connection");
    // While the flooding connection stays open (on the client's side).
    let during = fd_count(pid);
    assert!(
        during <= before + 8,
        "the service holds {during} descriptors, {before} before the flood"
    );
    env.ok(&["--status"]);
    drop(flood.stdin.take());
    flood.wait().unwrap();
}

/// Issue 14 item 1: one user's idle connections are capped, with a clear
/// refusal to that user, while root is still served; connections that never
/// say anything are dropped after the handshake timeout.
#[test]
fn one_user_s_connections_are_capped_and_root_is_still_served() {
    let env = Env::new();
    env.open_to_users();
    env.ok(&["--status"]);
    let pid = env.service_pid().expect("the service runs");
    let tool = flood_tool(&env.scratch());
    let (mut flood, line) = flood_as_user(&tool, &env, &["conns", "300"]);
    assert_eq!(line, "open 300\n");
    let o = env.cmd_as(&test_user()).arg("--status").output().unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("already holds 128 connections, the most one user may"),
        "{err}"
    );
    env.ok(&["--status"]);
    assert!(
        fd_count(pid) < 300,
        "refused connections are closed: {} descriptors",
        fd_count(pid)
    );
    drop(flood.stdin.take());
    flood.wait().unwrap();
}

/// Issue 14 item 6: the system instance's service refuses a root that others
/// can write, saying which and how to fix it.
#[test]
fn a_root_others_can_write_is_refused() {
    let env = Env::new();
    chmod(&env.root, 0o777);
    let o = env.wslp(&["--status"]);
    assert!(!o.status.success());
    let root = env.root.display();
    assert!(
        stderr(&o).contains(&format!(
            "{root} is owned by uid 0 with mode 777: only root may change the system instance's state \
             (chown root:root {root}; chmod go-w {root})"
        )),
        "{}",
        stderr(&o)
    );
    chmod(&env.root, 0o755);
    env.ok(&["--status"]);
}
