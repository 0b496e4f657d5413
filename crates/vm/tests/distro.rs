//! Distributions inside the namespace VM, as root, from a busybox root
//! filesystem built by the test.

mod common;

use std::sync::Arc;

use common::*;
use wslp_abi::hresult;
use wslp_vm::{DistroSpec, RunningDistro, Vm};

fn start(dir: &std::path::Path, name: &str) -> (Arc<dyn Vm>, Arc<dyn RunningDistro>) {
    let rootfs = busybox_rootfs(dir);
    let vm = start_vm(dir, &format!("vm-{name}"));
    let distro = vm
        .start_distribution(&DistroSpec {
            name: name.into(),
            rootfs,
            hostname: name.into(),
            stored_shifted: false,
        })
        .expect("start the distribution");
    (vm, distro)
}

fn sh(distro: &dyn RunningDistro, script: &str) -> Output {
    let (spec, out, err) = spec(&["sh", "-c", script]);
    collect(distro.spawn(spec), out, err)
}

#[test]
fn spawn_as_a_user_with_cwd_env_and_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let (vm, distro) = start(dir.path(), "user");
    let (mut s, out, err) = spec(&[
        "sh",
        "-c",
        "id -u; id -g; id -G; pwd; echo \"$GREETING\"; cat /etc/os-release | head -1; echo oops >&2; exit 7",
    ]);
    s.uid = 1000;
    s.gid = 1001;
    s.groups = vec![1001, 2000];
    s.cwd = Some("/tmp".into());
    s.env.push(("GREETING".into(), "hello distro".into()));
    let o = collect(distro.spawn(s), out, err);
    assert_eq!(o.code, 7);
    assert_eq!(
        o.stdout,
        "1000\n1001\n1001 2000\n/tmp\nhello distro\nID=tinybox\n"
    );
    assert_eq!(o.stderr, "oops\n");
    // The environment is exactly what was given.
    let (mut s, out, err) = spec(&["env"]);
    s.env = vec![
        ("PATH".into(), "/bin".into()),
        ("ONLY".into(), "this".into()),
    ];
    assert_eq!(
        collect(distro.spawn(s), out, err).stdout,
        "PATH=/bin\nONLY=this\n"
    );
    distro.stop();
    vm.stop();
}

#[test]
fn exit_codes_and_signals() {
    let dir = tempfile::tempdir().unwrap();
    let (vm, distro) = start(dir.path(), "signals");
    assert_eq!(sh(&*distro, "exit 0").code, 0);
    assert_eq!(sh(&*distro, "kill -TERM $$").code, 128 + 15);
    let (s, _, _) = spec(&["sleep", "1000"]);
    let p = distro.spawn(s).unwrap();
    assert!(!distro.is_idle());
    p.signal(libc::SIGKILL).unwrap();
    assert_eq!(p.wait().unwrap(), 128 + 9);
    assert_eq!(p.wait().unwrap(), 128 + 9);
    let (s, _, _) = spec(&["no-such-applet"]);
    assert_eq!(distro.spawn(s).unwrap_err().hresult(), hresult::E_FAIL);
    let (mut s, _, _) = spec(&["true"]);
    s.cwd = Some("/nowhere".into());
    assert_eq!(distro.spawn(s).unwrap_err().hresult(), hresult::E_FAIL);
    vm.stop();
}

#[test]
fn pid_namespace_and_init_pid_match_the_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let (vm, distro) = start(dir.path(), "pids");
    let host_pid = distro.host_init_pid();
    assert_eq!(Some(distro.pid_namespace()), ns_inode(host_pid, "pid"));
    assert_ne!(ns_inode(host_pid, "pid"), ns_inode(vm.init_pid(), "pid"));
    let status = std::fs::read_to_string(format!("/proc/{host_pid}/status")).unwrap();
    let nspid: Vec<u32> = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    // host, VM, distribution (where it is 1).
    assert_eq!(nspid.len(), 3, "{nspid:?}");
    assert_eq!(nspid[2], 1);
    assert_eq!(distro.init_pid(), nspid[1]);
    // Seen from inside the VM, that pid is the distribution's init.
    let inside = vm_sh(
        &*vm,
        &format!("readlink /proc/{}/ns/pid", distro.init_pid()),
    );
    assert_eq!(
        inside.stdout.trim(),
        format!("pid:[{}]", distro.pid_namespace())
    );
    // Inside the distribution its init is pid 1 and the shell's parent is the caller (0).
    assert_eq!(
        sh(&*distro, "readlink /proc/1/ns/pid").stdout.trim(),
        format!("pid:[{}]", distro.pid_namespace())
    );
    // A restart gives a new init.
    let first = distro.init_pid();
    distro.stop();
    let again = vm
        .start_distribution(&DistroSpec {
            name: "pids".into(),
            rootfs: dir.path().join("rootfs"),
            hostname: "pids".into(),
            stored_shifted: false,
        })
        .unwrap();
    assert_ne!(again.host_init_pid(), host_pid);
    assert_ne!(again.init_pid(), first);
    vm.stop();
    assert!(!again.is_running());
}

#[test]
fn the_distribution_has_its_own_root_and_the_vm_network() {
    let dir = tempfile::tempdir().unwrap();
    let (vm, distro) = start(dir.path(), "layout");
    let o = sh(
        &*distro,
        "hostname; ls /dev | sort | tr '\\n' ' '; echo; test -e /usr && echo has-usr; \
         readlink /proc/self/ns/net; echo > /tmp/x && echo tmp-ok; touch /sys/x 2>/dev/null && echo sys-rw; \
         echo data > /rootfs-file",
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "layout");
    for dev in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm",
    ] {
        assert!(
            lines[1].split(' ').any(|d| d == dev),
            "no /dev/{dev}: {}",
            lines[1]
        );
    }
    // The VM's /usr is not there: only the rootfs.
    assert!(!o.stdout.contains("has-usr"));
    let vm_net = vm_sh(&*vm, "readlink /proc/self/ns/net").stdout;
    assert_eq!(lines[2], vm_net.trim());
    assert_eq!(lines[3], "tmp-ok");
    assert_eq!(lines.len(), 4, "{}", o.stdout);
    // Writes to the root go to the rootfs on the host (it is the distribution's disk).
    assert_eq!(
        std::fs::read_to_string(dir.path().join("rootfs/rootfs-file")).unwrap(),
        "data\n"
    );
    // ... but /tmp is a tmpfs.
    assert!(!dir.path().join("rootfs/tmp/x").exists());
    vm.stop();
}

#[test]
fn execute_binary_in_the_distribution() {
    let dir = tempfile::tempdir().unwrap();
    let (vm, distro) = start(dir.path(), "exec");
    let sock = distro
        .execute_binary(
            "/bin/sh",
            &strings(&[
                "sh",
                "-c",
                "head -1 /etc/os-release; id -u; read x; read -r a b c ppid rest < /proc/$$/stat; echo $ppid; cat",
            ]),
        )
        .unwrap();
    let out = talk(sock, b"line\nround trip\n");
    assert_eq!(out, b"ID=tinybox\n0\n1\nround trip\n");
    assert_eq!(
        distro
            .execute_binary("/bin/missing", &strings(&["missing"]))
            .unwrap_err()
            .hresult(),
        hresult::E_FAIL
    );
    assert_eq!(
        distro
            .execute_binary("", &strings(&["x"]))
            .unwrap_err()
            .hresult(),
        hresult::E_INVALIDARG
    );
    distro.stop();
    assert_eq!(
        distro
            .execute_binary("/bin/sh", &strings(&["sh"]))
            .unwrap_err()
            .hresult(),
        hresult::WSL_E_VM_MODE_INVALID_STATE
    );
    let (s, _, _) = spec(&["true"]);
    assert_eq!(
        distro.spawn(s).unwrap_err().hresult(),
        hresult::WSL_E_VM_MODE_INVALID_STATE
    );
    vm.stop();
}

#[test]
fn idle_means_only_init_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let (vm, distro) = start(dir.path(), "idle");
    assert!(distro.is_idle());
    let sock = distro
        .execute_binary("/bin/cat", &strings(&["cat"]))
        .unwrap();
    assert!(!distro.is_idle());
    drop(sock); // cat sees EOF and exits; the distribution's init reaps it.
    assert!(eventually(|| distro.is_idle()));
    vm.stop();
}

/// Waits (up to a generous bound) until `fd` is readable; false if it never was.
fn readable(fd: &std::os::fd::OwnedFd) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::from(20_000u16)).unwrap() == 1
}

#[test]
fn activity_names_a_process_whose_exit_is_the_next_thing_to_look_at() {
    use wslp_vm::Activity;
    let dir = tempfile::tempdir().unwrap();
    let (vm, distro) = start(dir.path(), "activity");
    assert!(matches!(distro.activity(), Activity::Idle));
    // A child of the init (ExecuteBinary orphans its program).
    let sock = distro
        .execute_binary("/bin/cat", &strings(&["cat"]))
        .unwrap();
    let Activity::Busy(Some(fd)) = distro.activity() else {
        panic!("cat runs: busy, with its pidfd to wait on")
    };
    assert!(!readable_now(&fd));
    drop(sock);
    assert!(readable(&fd), "the pidfd says when cat has exited");
    assert!(eventually(|| distro.is_idle()));
    // A process spawned by the caller (its child, not the init's).
    let (s, _out, _err) = spec(&["sleep", "0.3"]);
    let p = distro.spawn(s).unwrap();
    let Activity::Busy(Some(spawned)) = distro.activity() else {
        panic!("the spawned sleep runs")
    };
    assert!(readable(&spawned));
    assert_eq!(p.wait().unwrap(), 0);
    assert!(eventually(|| distro.is_idle()));
    // Its background child outlives it and is then the init's.
    let (s, _out, _err) = spec(&["sh", "-c", "sleep 1 </dev/null >/dev/null 2>&1 &"]);
    assert_eq!(distro.spawn(s).unwrap().wait().unwrap(), 0);
    let Activity::Busy(Some(orphan)) = distro.activity() else {
        panic!("the orphaned sleep runs")
    };
    assert!(readable(&orphan), "the sleep ends");
    assert!(eventually(|| distro.is_idle()));
    vm.stop();
}

fn readable_now(fd: &std::os::fd::OwnedFd) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::ZERO).unwrap() == 1
}

#[test]
fn stop_leaves_nothing_and_the_vm_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    let mountinfo = || std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let before = mountinfo();
    let (vm, distro) = start(dir.path(), "stop");
    let host_init = distro.host_init_pid();
    let ns = ["pid", "mnt", "uts"].map(|n| (n, ns_inode(host_init, n).unwrap()));
    let _sock = distro
        .execute_binary("/bin/cat", &strings(&["cat"]))
        .unwrap();
    let (s, _, _) = spec(&["sleep", "1000"]);
    let sleeper = distro.spawn(s).unwrap();
    let inside: Vec<(&str, u64, Vec<i32>)> =
        ns.iter().map(|(n, i)| (*n, *i, members(n, *i))).collect();
    assert_eq!(inside[0].2.len(), 3, "init, cat, sleep: {:?}", inside[0].2);
    distro.stop();
    distro.stop();
    assert!(!distro.is_running());
    assert_eq!(sleeper.wait().unwrap(), 137);
    for (n, ino, pids) in &inside {
        for pid in pids {
            assert_ne!(
                ns_inode(*pid, n),
                Some(*ino),
                "process {pid} left in the {n} namespace"
            );
        }
    }
    assert!(vm.is_running());
    assert_eq!(vm_sh(&*vm, "true").code, 0);
    vm.stop();
    assert_eq!(mountinfo(), before);
}

#[test]
fn mounts_inside_the_distribution_stay_inside() {
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (vm, distro) = start(dir.path(), "contained");
    let o = sh(
        &*distro,
        "mkdir -p /mnt/inner && mount -t tmpfs none /mnt/inner && echo x > /mnt/inner/f && echo ok; \
         test -e /proc/1/root/usr && echo vm-root-visible",
    );
    assert_eq!(o.stdout, "ok\n", "{}", o.stderr);
    // Not on the host's copy of the rootfs, and not in the host's mount table.
    assert!(dir.path().join("rootfs/mnt/inner").is_dir());
    assert!(!dir.path().join("rootfs/mnt/inner/f").exists());
    assert_eq!(
        std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
        before
    );
    vm.stop();
}

#[test]
fn mnt_wsl_is_shared_between_the_vm_and_distributions() {
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (vm, a) = start(dir.path(), "share-a");
    let b = vm
        .start_distribution(&DistroSpec {
            name: "share-b".into(),
            rootfs: dir.path().join("rootfs"),
            hostname: "share-b".into(),
            stored_shifted: false,
        })
        .unwrap();
    let team = dir.path().join("team");
    std::fs::create_dir(&team).unwrap();
    std::fs::write(team.join("notes"), "from the host\n").unwrap();
    // Mounted in the VM after both distributions started: both see it.
    vm.mount_folder(&team, "/mnt/wsl/team", false).unwrap();
    assert_eq!(sh(&*a, "cat /mnt/wsl/team/notes").stdout, "from the host\n");
    assert_eq!(sh(&*b, "cat /mnt/wsl/team/notes").stdout, "from the host\n");
    // A mount made in one distribution shows in the VM and the other one.
    let o = sh(&*a, "mkdir /mnt/wsl/from-a && mount -t tmpfs none /mnt/wsl/from-a && echo hi > /mnt/wsl/from-a/f");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(sh(&*b, "cat /mnt/wsl/from-a/f").stdout, "hi\n");
    assert_eq!(vm_sh(&*vm, "cat /mnt/wsl/from-a/f").stdout, "hi\n");
    // A distribution stopping takes none of it away.
    a.stop();
    assert_eq!(
        sh(&*b, "cat /mnt/wsl/team/notes /mnt/wsl/from-a/f").stdout,
        "from the host\nhi\n"
    );
    assert_eq!(
        vm_sh(&*vm, "cat /mnt/wsl/team/notes").stdout,
        "from the host\n"
    );
    // And a distribution started later sees what is there.
    let c = vm
        .start_distribution(&DistroSpec {
            name: "share-c".into(),
            rootfs: dir.path().join("rootfs"),
            hostname: "share-c".into(),
            stored_shifted: false,
        })
        .unwrap();
    assert_eq!(sh(&*c, "cat /mnt/wsl/team/notes").stdout, "from the host\n");
    vm.stop();
    assert_eq!(
        std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
        before
    );
}

/// Many distributions started back to back all stay up: none of their inits
/// dies during or right after its start (a bug the benchmark suite found).
#[test]
fn many_distributions_started_back_to_back_stay_up() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(dir.path());
    let vm = start_vm(dir.path(), "many");
    let distros: Vec<_> = (0..12)
        .map(|i| {
            vm.start_distribution(&DistroSpec {
                name: format!("d{i}"),
                rootfs: rootfs.clone(),
                hostname: format!("d{i}"),
                stored_shifted: false,
            })
            .expect("start")
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let dead: Vec<usize> = distros
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.is_running())
        .map(|(i, _)| i)
        .collect();
    assert!(dead.is_empty(), "distributions whose init died: {dead:?}");
    for d in &distros {
        let out = sh(d.as_ref(), "echo up");
        assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
    }
    vm.stop();
}

/// A distribution stopped and started again, many times over, comes up every
/// time and stays up.
#[test]
fn restarted_distribution_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(dir.path());
    let vm = start_vm(dir.path(), "restart");
    let mut dead = vec![];
    for i in 0..30 {
        let d = vm
            .start_distribution(&DistroSpec {
                name: "again".into(),
                rootfs: rootfs.clone(),
                hostname: "again".into(),
                stored_shifted: false,
            })
            .expect("start");
        std::thread::sleep(std::time::Duration::from_millis(20));
        if !d.is_running() {
            dead.push(i);
        }
        d.stop();
    }
    assert!(dead.is_empty(), "starts whose init died: {dead:?}");
    vm.stop();
}

#[test]
fn a_vm_in_the_host_network_namespace_shares_it_with_its_distributions() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(dir.path());
    let mut cfg = wslp_vm::VmConfig::new(dir.path().join("vm"), "vm-hostnet");
    cfg.host_network = true;
    let vm = wslp_vm::VmBackend::start(&wslp_vm::NamespaceBackend, &cfg).expect("start the VM");
    let me = std::process::id() as i32;
    assert_eq!(ns_inode(vm.init_pid(), "net"), ns_inode(me, "net"));
    assert_ne!(ns_inode(vm.init_pid(), "mnt"), ns_inode(me, "mnt"));
    let distro = vm
        .start_distribution(&DistroSpec {
            name: "hostnet".into(),
            rootfs,
            hostname: "hostnet".into(),
            stored_shifted: false,
        })
        .expect("start the distribution");
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let (spec, out, err) = spec(&["/bin/readlink", "/proc/self/ns/net"]);
    let o = collect(distro.spawn(spec), out, err);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout.trim(), host_ns.to_str().unwrap());
    // The host's interfaces show under /sys as well.
    let o = vm_sh(&*vm, "ls /sys/class/net");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.lines().count() > 1, "{}", o.stdout);
    vm.stop();
}
