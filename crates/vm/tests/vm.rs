//! The utility VM of the namespace backend, as root: start/stop, ExecuteBinary,
//! MountFolder, errors and their HRESULTs, leftovers.

mod common;

use std::path::Path;

use common::*;
use wslp_abi::hresult;

#[test]
fn start_and_stop() {
    let dir = tempfile::tempdir().unwrap();
    let vm = start_vm(dir.path(), "vm-start-stop");
    assert!(vm.is_running());
    let init = vm.init_pid();
    let me = std::process::id() as i32;
    for ns in ["mnt", "pid", "uts", "ipc", "net", "cgroup"] {
        assert_ne!(
            ns_inode(init, ns),
            ns_inode(me, ns),
            "{ns} namespace is not new"
        );
    }
    let out = vm_sh(&*vm, "cat /proc/sys/kernel/hostname; echo $$; readlink /proc/1/exe >/dev/null && echo init-visible");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "vm-start-stop");
    // The shell is not pid 1: the VM's init is.
    assert_ne!(lines[1], "1");
    assert_eq!(lines[2], "init-visible");
    vm.stop();
    assert!(!vm.is_running());
    assert!(
        !Path::new(&format!("/proc/{init}")).exists()
            || ns_inode(init, "mnt") != ns_inode(init, "mnt")
    );
    vm.stop(); // idempotent
}

#[test]
fn the_vm_has_a_minimal_read_only_system() {
    let dir = tempfile::tempdir().unwrap();
    let vm = start_vm(dir.path(), "vm-layout");
    let out = vm_sh(
        &*vm,
        "for d in /bin/sh /usr/bin/cat /usr/bin/readlink /bin/true /dev/null /dev/zero /dev/full \
         /dev/random /dev/urandom /dev/tty /dev/ptmx /dev/pts /dev/shm /tmp /run /proc/self /sys/class; \
         do test -e $d || echo missing $d; done; \
         touch /usr/x 2>/dev/null && echo usr-writable; \
         touch /sys/x 2>/dev/null && echo sys-writable; \
         echo ok > /tmp/t && cat /tmp/t; \
         cat /sys/class/net/lo/flags; ls /sys/class/net",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "ok", "{}", out.stdout);
    // The loopback interface is up (IFF_UP) and alone in the VM's network namespace.
    let flags = u32::from_str_radix(lines[1].trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "lo is down: {}", lines[1]);
    assert_eq!(lines[2], "lo");
    assert_eq!(lines.len(), 3, "{}", out.stdout);
}

#[test]
fn execute_binary_round_trips_through_the_socket_after_mount_folder() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("share");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("file"), "from the host\n").unwrap();
    let vm = start_vm(dir.path(), "vm-exec");
    vm.mount_folder(&host, "/mnt/x", false).unwrap();
    let sock = vm
        .execute_binary("/bin/sh", &strings(&["sh", "-c", "cat /mnt/x/file; cat"]))
        .unwrap();
    let out = talk(sock, b"ping \x00\xff binary\n");
    assert_eq!(out, b"from the host\nping \x00\xff binary\n");
    vm.stop();
}

#[test]
fn execute_binary_is_reparented_to_the_vm_init() {
    let dir = tempfile::tempdir().unwrap();
    let vm = start_vm(dir.path(), "vm-reparent");
    let sock = vm
        // The parent now, not $PPID (the parent when the shell started, which
        // may still be the helper that forked it).
        .execute_binary(
            "/bin/sh",
            &strings(&[
                "sh",
                "-c",
                "read x; read -r a b c ppid rest < /proc/$$/stat; echo $ppid",
            ]),
        )
        .unwrap();
    assert_eq!(talk(sock, b"go\n"), b"1\n");
    vm.stop();
}

#[test]
fn execute_binary_stderr_goes_to_the_vm_log() {
    let dir = tempfile::tempdir().unwrap();
    let vm = start_vm(dir.path(), "vm-log");
    let sock = vm
        .execute_binary(
            "/bin/sh",
            &strings(&["sh", "-c", "echo to-the-log-$((40+2)) >&2"]),
        )
        .unwrap();
    assert_eq!(talk(sock, b""), b"");
    let log = vm.log_path();
    assert!(eventually(|| std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("to-the-log-42")));
    vm.stop();
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("to-the-log-42"));
}

#[test]
fn errors_carry_their_hresults() {
    let dir = tempfile::tempdir().unwrap();
    let vm = start_vm(dir.path(), "vm-errors");
    let hr = |r: Result<(), wslp_vm::VmError>| r.unwrap_err().hresult();
    let exec = |path: &str, argv: &[&str]| hr(vm.execute_binary(path, &strings(argv)).map(drop));
    assert_eq!(exec("/no/such/binary", &["x"]), hresult::E_FAIL);
    assert_eq!(exec("/etc", &["x"]), hresult::E_FAIL);
    assert_eq!(exec("", &["x"]), hresult::E_INVALIDARG);
    assert_eq!(exec("/bin/sh", &[]), hresult::E_INVALIDARG);
    assert_eq!(exec("/bin/sh", &["a\0b"]), hresult::E_INVALIDARG);
    let host = dir.path();
    let missing = hresult::hresult_from_win32(hresult::win32::ERROR_FILE_NOT_FOUND);
    assert_eq!(missing as u32, 0x8007_0002);
    assert_eq!(
        hr(vm.mount_folder(&host.join("absent"), "/mnt/a", false)),
        missing
    );
    assert_eq!(
        hr(vm.mount_folder(host, "mnt/relative", false)),
        hresult::E_INVALIDARG
    );
    assert_eq!(
        hr(vm.mount_folder(host, "/mnt/../etc", false)),
        hresult::E_INVALIDARG
    );
    assert_eq!(hr(vm.mount_folder(host, "", false)), hresult::E_INVALIDARG);
    assert_eq!(
        hr(vm.mount_folder(Path::new(""), "/mnt/e", false)),
        hresult::E_INVALIDARG
    );
    // The mount point cannot be created on the read-only /usr.
    assert_eq!(
        hr(vm.mount_folder(host, "/usr/share/wslp-x", false)),
        hresult::E_FAIL
    );
    let err = vm
        .execute_binary("/no/such/binary", &strings(&["x"]))
        .unwrap_err();
    assert!(err.to_string().contains("/no/such/binary"), "{err}");

    vm.stop();
    let invalid_state = hresult::WSL_E_VM_MODE_INVALID_STATE;
    assert_eq!(exec("/bin/sh", &["sh"]), invalid_state);
    assert_eq!(hr(vm.mount_folder(host, "/mnt/a", false)), invalid_state);
    let (spec, _, _) = spec(&["/bin/true"]);
    assert_eq!(vm.spawn(spec).unwrap_err().hresult(), invalid_state);
}

#[test]
fn read_only_mount_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    let rw = dir.path().join("rw");
    std::fs::create_dir(&ro).unwrap();
    std::fs::create_dir(&rw).unwrap();
    std::fs::write(ro.join("seen"), "yes").unwrap();
    let vm = start_vm(dir.path(), "vm-ro");
    vm.mount_folder(&ro, "/mnt/ro", true).unwrap();
    vm.mount_folder(&rw, "/deep/new/rw", false).unwrap();
    let out = vm_sh(&*vm, "cat /mnt/ro/seen; echo x > /mnt/ro/new");
    assert_ne!(out.code, 0);
    assert_eq!(out.stdout, "yes");
    assert!(out.stderr.contains("Read-only"), "{}", out.stderr);
    assert!(!ro.join("new").exists());
    let out = vm_sh(&*vm, "echo written > /deep/new/rw/new");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(rw.join("new")).unwrap(),
        "written\n"
    );
    vm.stop();
}

#[test]
fn a_file_can_be_mounted_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config");
    std::fs::write(&file, "setting=1\n").unwrap();
    let vm = start_vm(dir.path(), "vm-file");
    vm.mount_folder(&file, "/etc/plugin.conf", true).unwrap();
    let out = vm_sh(&*vm, "cat /etc/plugin.conf");
    assert_eq!(out.stdout, "setting=1\n");
    vm.stop();
}

#[test]
fn nothing_written_survives_a_stop() {
    let dir = tempfile::tempdir().unwrap();
    let vm = start_vm(dir.path(), "vm-ephemeral");
    assert_eq!(
        vm_sh(&*vm, "echo x > /tmp/x && echo y > /etc/y && mkdir /data").code,
        0
    );
    vm.stop();
    let vm = start_vm(dir.path(), "vm-ephemeral");
    let out = vm_sh(&*vm, "ls /tmp /etc; test -e /data && echo data");
    assert_eq!(out.stdout.trim(), "/etc:\n\n/tmp:", "{}", out.stdout);
    vm.stop();
    // The host directory the VM root was mounted on is still empty.
    assert_eq!(
        std::fs::read_dir(dir.path().join("vm/root"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn two_vms_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = start_vm(&dir.path().join("a"), "vm-a");
    let b = start_vm(&dir.path().join("b"), "vm-b");
    assert_ne!(ns_inode(a.init_pid(), "net"), ns_inode(b.init_pid(), "net"));
    assert_ne!(ns_inode(a.init_pid(), "mnt"), ns_inode(b.init_pid(), "mnt"));
    assert_eq!(
        vm_sh(&*a, "hostname 2>/dev/null || cat /proc/sys/kernel/hostname")
            .stdout
            .trim(),
        "vm-a"
    );
    assert_eq!(
        vm_sh(&*b, "cat /proc/sys/kernel/hostname").stdout.trim(),
        "vm-b"
    );
    assert_eq!(vm_sh(&*a, "echo a > /tmp/mine").code, 0);
    assert_eq!(vm_sh(&*b, "test -e /tmp/mine").code, 1);
    a.stop();
    assert!(!a.is_running());
    assert!(b.is_running());
    assert_eq!(vm_sh(&*b, "true").code, 0);
    b.stop();
}

#[test]
fn spawn_reports_exit_codes_signals_and_missing_programs() {
    let dir = tempfile::tempdir().unwrap();
    let vm = start_vm(dir.path(), "vm-spawn");
    assert_eq!(vm_sh(&*vm, "exit 3").code, 3);
    assert_eq!(vm_sh(&*vm, "kill -TERM $$").code, 128 + 15);
    // PATH lookup inside the VM.
    let (s, out, err) = spec(&["cat", "/proc/sys/kernel/hostname"]);
    assert_eq!(collect(vm.spawn(s), out, err).stdout, "vm-spawn\n");
    let (s, _, _) = spec(&["no-such-program"]);
    assert_eq!(vm.spawn(s).unwrap_err().hresult(), hresult::E_FAIL);
    let (mut s, _, _) = spec(&["/bin/true"]);
    s.cwd = Some("/no/such/dir".into());
    let err = vm.spawn(s).unwrap_err();
    assert!(
        matches!(err, wslp_vm::VmError::WorkingDirectory { .. }),
        "{err}"
    );
    // A process still running when the VM stops is killed.
    let (s, _, _) = spec(&["/bin/sleep", "1000"]);
    let p = vm.spawn(s).unwrap();
    vm.stop();
    assert_eq!(p.wait().unwrap(), 128 + 9);
}

#[test]
fn stop_leaves_no_mount_process_or_namespace() {
    let mountinfo = || std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let before = mountinfo();
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    std::fs::create_dir(&share).unwrap();
    let rootfs = busybox_rootfs(dir.path());
    let vm = start_vm(dir.path(), "vm-leftovers");
    vm.mount_folder(&share, "/mnt/share", true).unwrap();
    let distro = vm
        .start_distribution(&wslp_vm::DistroSpec {
            name: "leftovers".into(),
            rootfs,
            hostname: "leftovers".into(),
            stored_shifted: false,
        })
        .unwrap();
    let init = vm.init_pid();
    let namespaces: Vec<(&str, u64)> = ["mnt", "pid", "uts", "ipc", "net", "cgroup"]
        .iter()
        .map(|ns| (*ns, ns_inode(init, ns).unwrap()))
        .chain(
            ["mnt", "pid", "uts"]
                .iter()
                .map(|ns| (*ns, ns_inode(distro.host_init_pid(), ns).unwrap())),
        )
        .collect();
    // Something running in each: a detached program and a spawned one.
    let _sock = vm
        .execute_binary("/bin/sh", &strings(&["sh", "-c", "cat"]))
        .unwrap();
    let _dsock = distro
        .execute_binary("/bin/sh", &strings(&["sh", "-c", "cat"]))
        .unwrap();
    let (spec, _, _) = spec(&["/bin/sleep", "1000"]);
    let sleeper = vm.spawn(spec).unwrap();
    assert!(members("pid", namespaces[1].1).len() >= 3);
    // Namespace inode numbers are recycled (other tests start VMs in parallel),
    // so what is checked after the stop is the processes that were inside.
    let inside: Vec<(&str, u64, Vec<i32>)> = namespaces
        .iter()
        .map(|(ns, ino)| (*ns, *ino, members(ns, *ino)))
        .collect();
    // The host's mount table never changes: everything is in the VM's namespaces.
    assert_eq!(mountinfo(), before);

    vm.stop();
    assert!(!distro.is_running());
    assert_eq!(sleeper.wait().unwrap(), 137);
    for (ns, ino, pids) in &inside {
        for pid in pids {
            assert_ne!(
                ns_inode(*pid, ns),
                Some(*ino),
                "process {pid} is left in the {ns} namespace"
            );
        }
    }
    // No descriptor of ours pins a namespace either.
    for fd in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            let t = target.to_string_lossy();
            for (ns, ino) in &namespaces {
                assert_ne!(t, format!("{ns}:[{ino}]"));
            }
        }
    }
    assert_eq!(mountinfo(), before);
    assert!(!Path::new(&format!("/proc/{init}/ns")).exists());
}

#[test]
fn no_descriptor_of_the_caller_leaks_into_the_vm() {
    let dir = tempfile::tempdir().unwrap();
    let vm = start_vm(dir.path(), "vm-fds");
    // Something the caller holds open without close-on-exec.
    let (_keep_r, _keep_w) = nix::unistd::pipe().unwrap();
    // ls itself holds 0, 1, 2 and the directory it reads (3); a shell would
    // add descriptors of its own.
    let out = vm_sh(&*vm, "ls /proc/1/fd > /tmp/init; echo $(cat /tmp/init)");
    assert_eq!(out.stdout, "0 1 2\n", "init's descriptors");
    let (s, out, err) = spec(&["/usr/bin/ls", "/proc/self/fd"]);
    assert_eq!(collect(vm.spawn(s), out, err).stdout, "0\n1\n2\n3\n");
    let sock = vm
        .execute_binary("/usr/bin/ls", &strings(&["ls", "/proc/self/fd"]))
        .unwrap();
    assert_eq!(talk(sock, b""), b"0\n1\n2\n3\n");
    vm.stop();
}

#[test]
fn the_calling_thread_stays_in_its_own_pid_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let vm = start_vm(dir.path(), "vm-thread-ns");
    assert_eq!(vm_sh(&*vm, "true").code, 0);
    let mine = std::fs::read_link("/proc/thread-self/ns/pid_for_children").unwrap();
    assert_eq!(mine, std::fs::read_link("/proc/self/ns/pid").unwrap());
    let out = std::process::Command::new("readlink")
        .arg("/proc/self/ns/pid")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        mine.to_str().unwrap()
    );
    vm.stop();
}

#[test]
fn many_threads_execute_binaries_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let vm = start_vm(dir.path(), "vm-threads");
    std::thread::scope(|scope| {
        for t in 0..6 {
            let vm = &vm;
            scope.spawn(move || {
                for i in 0..10 {
                    let sock = vm.execute_binary("/bin/cat", &strings(&["cat"])).unwrap();
                    let msg = format!("thread {t} round {i}\n");
                    assert_eq!(talk(sock, msg.as_bytes()), msg.as_bytes());
                }
            });
        }
    });
    // Every one of them was reaped by the VM's init.
    let vm_pid_ns = ns_inode(vm.init_pid(), "pid").unwrap();
    let left = || {
        members("pid", vm_pid_ns)
            .into_iter()
            .map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default())
            .collect::<Vec<_>>()
    };
    // Only the VM's init is left: `true` was reaped.
    assert!(eventually(|| left().len() == 1), "{:?}", left());
    vm.stop();
}

#[test]
fn controlling_terminal_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let vm = start_vm(dir.path(), "vm-tty");
    let tty_nr = |ctty: bool, on_stderr: bool| {
        let pty = nix::pty::openpty(None, None).unwrap();
        let (mut s, out, err) = spec(&[
            "/bin/sh",
            "-c",
            "read -r a b c d e f g rest < /proc/self/stat; echo $g",
        ]);
        // The terminal is whichever of the three the client made a pty.
        let _err_reader;
        if on_stderr {
            s.stderr = pty.slave;
            _err_reader = pty.master;
        } else {
            s.stdin = pty.slave;
            _err_reader = pty.master;
        }
        s.controlling_tty = ctty;
        let o = collect(vm.spawn(s), out, err);
        assert_eq!(o.code, 0, "{}", o.stderr);
        o.stdout.trim().parse::<u64>().unwrap()
    };
    assert_ne!(tty_nr(true, false), 0);
    assert_ne!(tty_nr(true, true), 0);
    // Without it the process has its own session and no terminal.
    assert_eq!(tty_nr(false, false), 0);
    vm.stop();
}

#[test]
fn the_vm_log_rotates_at_its_cap() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = wslp_vm::VmConfig::new(dir.path().join("vm"), "vm-rotate");
    cfg.log_cap_bytes = 64;
    let vm = wslp_vm::VmBackend::start(&wslp_vm::NamespaceBackend, &cfg).unwrap();
    for i in 0..4 {
        let script =
            format!("echo line-{i}-0123456789012345678901234567890123456789 >&2; echo done");
        let sock = vm
            .execute_binary("/bin/sh", &strings(&["sh", "-c", &script]))
            .unwrap();
        let out = talk(sock, b"");
        assert_eq!(String::from_utf8_lossy(&out), "done\n", "run {i}");
    }
    vm.stop();
    let log = std::fs::read_to_string(&cfg.log_path).unwrap();
    let rotated =
        std::fs::read_to_string(wslp_vm::log::CappedLog::rotated_path(&cfg.log_path)).unwrap();
    assert!(
        log.len() <= 64 && rotated.len() <= 64,
        "{log:?} {rotated:?}"
    );
    assert!(log.contains("line-3-"), "{log:?} {rotated:?}");
    assert!(rotated.contains("line-2-"), "{log:?} {rotated:?}");
}

#[test]
fn the_host_is_out_of_reach() {
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let vm = start_vm(dir.path(), "vm-escape");
    let out = vm_sh(
        &*vm,
        "ls / | tr '\\n' ' '; echo; cat /etc/shadow 2>/dev/null && echo shadow-readable; \
         test -e /work && echo host-root-visible; test -e /proc/1/root/work && echo via-proc; \
         mount -t tmpfs none /mnt && echo mounted",
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    let mut expected = vec![
        "dev", "etc", "mnt", "proc", "root", "run", "sys", "tmp", "usr", "var",
    ];
    for system in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        if Path::new("/").join(system).exists() {
            expected.push(system);
        }
    }
    expected.sort();
    assert_eq!(lines[0].trim(), expected.join(" "));
    assert_eq!(&lines[1..], ["mounted"], "{}", out.stdout);
    // A mount made inside the VM does not show on the host.
    assert_eq!(
        std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
        before
    );
    vm.stop();
}

fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn inits_do_not_keep_a_copy_of_the_caller() {
    // 128 MiB the caller has touched: a plain fork would share (and later copy) all of it.
    let big = std::hint::black_box(vec![1u8; 128 << 20]);
    let dir = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(dir.path());
    let vm = start_vm(dir.path(), "vm-memory");
    let distro = vm
        .start_distribution(&wslp_vm::DistroSpec {
            name: "memory".into(),
            rootfs,
            hostname: "memory".into(),
            stored_shifted: false,
        })
        .unwrap();
    assert!(rss_kib(std::process::id() as i32) > 128 * 1024);
    for pid in [vm.init_pid(), distro.host_init_pid()] {
        assert!(
            rss_kib(pid) < 32 * 1024,
            "init {pid} holds {} KiB",
            rss_kib(pid)
        );
    }
    // They still do their job.
    let sock = distro
        .execute_binary("/bin/cat", &strings(&["cat"]))
        .unwrap();
    assert_eq!(talk(sock, b"still reaping\n"), b"still reaping\n");
    assert!(eventually(|| distro.is_idle()));
    assert_eq!(vm_sh(&*vm, "true").code, 0);
    let sock = vm.execute_binary("/bin/true", &strings(&["true"])).unwrap();
    talk(sock, b"");
    let vm_pid_ns = ns_inode(vm.init_pid(), "pid").unwrap();
    let left = || {
        members("pid", vm_pid_ns)
            .into_iter()
            .map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default())
            .collect::<Vec<_>>()
    };
    // Only the VM's init is left: `true` was reaped.
    assert!(eventually(|| left().len() == 1), "{:?}", left());
    vm.stop();
    std::hint::black_box(&big);
}
