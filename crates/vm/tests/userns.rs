//! The VM's user namespace (as root): root inside is an unprivileged range
//! of host ids, files keep their own ids on disk, and the flags that keep a
//! distribution's root filesystem nodev and a read-only MountFolder
//! read-only cannot be changed from inside.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use common::*;
use wslp_vm::{
    DistroSpec, NamespaceBackend, ResourceLimit, RunningDistro, Vm, VmBackend, VmConfig,
    DEFAULT_RANGE_BASE,
};

fn start_with(
    dir: &Path,
    name: &str,
    cfg: impl FnOnce(&mut VmConfig),
) -> (Arc<dyn Vm>, Arc<dyn RunningDistro>) {
    let rootfs = busybox_rootfs(dir);
    for applet in ["stat", "mknod", "df", "grep", "mkdir", "umount", "tr"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    let mut c = VmConfig::new(dir.join("vm"), format!("vm-{name}"));
    cfg(&mut c);
    let vm = NamespaceBackend.start(&c).expect("start the VM");
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

fn sh_as(distro: &dyn RunningDistro, uid: u32, script: &str) -> Output {
    let (mut s, out, err) = spec(&["sh", "-c", script]);
    s.uid = uid;
    s.gid = uid;
    collect(distro.spawn(s), out, err)
}

/// The host's view of a process: the `Uid:` line of /proc/PID/status.
fn host_uids(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn root_inside_is_an_unprivileged_range_of_host_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (vm, distro) = start_with(dir.path(), "range", |_| {});
    let map = format!("0 {DEFAULT_RANGE_BASE} 65536");
    for out in [
        vm_sh(
            &*vm,
            "cat /proc/self/uid_map /proc/self/gid_map; id -u; grep CapEff /proc/self/status",
        ),
        sh_as(
            &*distro,
            0,
            "cat /proc/self/uid_map /proc/self/gid_map; id -u; grep CapEff /proc/self/status",
        ),
    ] {
        assert_eq!(out.code, 0, "{}", out.stderr);
        let words: Vec<String> = out
            .stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        // Full capabilities, of a namespace whose root is host id BASE.
        assert_eq!(words[..3], [map.clone(), map.clone(), "0".into()]);
        assert!(words[3].starts_with("CapEff: 000001ff"), "{words:?}");
    }
    // What only host root may do fails for root inside.
    let out = sh_as(
        &*distro,
        0,
        "mknod /tmp/disk b 8 0 && echo mknod; \
         echo core > /proc/sys/kernel/core_pattern && echo core_pattern; \
         cat /proc/self/fd/0/shadow && echo shadow; echo done",
    );
    assert_eq!(out.stdout, "done\n", "{}", out.stderr);
    // The host sees the range's ids on the processes.
    for (uid, host) in [
        (0u32, DEFAULT_RANGE_BASE),
        (1000, DEFAULT_RANGE_BASE + 1000),
    ] {
        let (mut s, out, err) = spec(&["sleep", "30"]);
        s.uid = uid;
        s.gid = uid;
        drop((out, err));
        let p = distro.spawn(s).unwrap();
        assert_eq!(host_uids(p.pid()), vec![host.to_string(); 4].join(" "));
        p.signal(libc::SIGKILL).unwrap();
        p.wait().unwrap();
    }
    vm.stop();
}

#[test]
fn distribution_files_keep_their_own_ids_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    let (vm, distro) = start_with(dir.path(), "ids", |_| {
        std::fs::create_dir_all(rootfs.join("home/user")).unwrap();
        std::os::unix::fs::chown(rootfs.join("home/user"), Some(1000), Some(1000)).unwrap();
        std::fs::write(rootfs.join("etc/owned"), "x").unwrap();
        std::os::unix::fs::chown(rootfs.join("etc/owned"), Some(1000), Some(44)).unwrap();
    });
    let out = sh_as(
        &*distro,
        0,
        "stat -c '%u:%g' /etc/owned /bin/busybox /home/user; touch /made-by-root",
    );
    assert_eq!(out.stdout, "1000:44\n0:0\n1000:1000\n", "{}", out.stderr);
    let out = sh_as(&*distro, 1000, "touch /home/user/made-by-user && echo ok");
    assert_eq!(out.stdout, "ok\n", "{}", out.stderr);
    let m = std::fs::metadata(rootfs.join("home/user/made-by-user")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 1000));
    let m = std::fs::metadata(rootfs.join("made-by-root")).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 0));
    vm.stop();
}

#[test]
fn device_nodes_of_a_rootfs_never_open_not_even_for_root_inside() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    let (vm, distro) = start_with(dir.path(), "nodev", |_| {
        use nix::sys::stat::{makedev, mknod, Mode, SFlag};
        mknod(
            &rootfs.join("zero2"),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(1, 5),
        )
        .expect("mknod");
    });
    let out = sh_as(
        &*distro,
        0,
        "head -c 1 /zero2 >/dev/null 2>&1 && echo opened; \
         mount -o remount,dev / 2>/dev/null && echo remounted; \
         mount -o remount,bind,dev / 2>/dev/null && echo remounted-bind; \
         head -c 1 /zero2 >/dev/null 2>&1 && echo opened-after; \
         head -c 1 /dev/zero | wc -c",
    );
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["1"],
        "{}",
        out.stderr
    );
    vm.stop();
}

#[test]
fn mount_folder_shows_owners_and_read_only_stays_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let (vm, distro) = start_with(dir.path(), "folders", |_| {});
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::write(ro.join("theirs"), "x").unwrap();
    std::os::unix::fs::chown(ro.join("theirs"), Some(4321), Some(4322)).unwrap();
    std::fs::write(ro.join("roots"), "x").unwrap();
    let rw = dir.path().join("rw");
    std::fs::create_dir(&rw).unwrap();
    vm.mount_folder(&ro, "/mnt/wsl/ro", true).unwrap();
    vm.mount_folder(&rw, "/mnt/wsl/rw", false).unwrap();
    let script = "stat -c '%u:%g' /mnt/wsl/ro/theirs /mnt/wsl/ro/roots; \
                  mount -o remount,rw /mnt/wsl/ro 2>/dev/null && echo remounted; \
                  mount -o remount,bind,rw /mnt/wsl/ro 2>/dev/null && echo remounted-bind; \
                  touch /mnt/wsl/ro/new 2>/dev/null && echo wrote; echo end";
    for out in [vm_sh(&*vm, script), sh_as(&*distro, 0, script)] {
        assert_eq!(out.stdout, "4321:4322\n0:0\nend\n", "{}", out.stderr);
    }
    assert!(!ro.join("new").exists());
    let out = sh_as(&*distro, 0, "touch /mnt/wsl/rw/by-root && echo ok");
    assert_eq!(out.stdout, "ok\n", "{}", out.stderr);
    let m = std::fs::metadata(rw.join("by-root")).unwrap();
    assert_eq!(
        (m.uid(), m.gid()),
        (0, 0),
        "stored as the host's root, as before"
    );
    vm.stop();
}

#[test]
fn limits_no_new_privs_and_tmpfs_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let (vm, distro) = start_with(dir.path(), "limits", |c| c.tmpfs_size = Some("2m".into()));
    let (mut s, out, err) = spec(&[
        "sh",
        "-c",
        "ulimit -n; ulimit -u; grep NoNewPrivs /proc/self/status | tr -d '\\t '; \
         df -k /tmp /run /dev/shm | grep -c ' 2048 '",
    ]);
    s.rlimits = vec![
        ResourceLimit {
            resource: libc::RLIMIT_NOFILE,
            soft: 256,
            hard: 512,
        },
        ResourceLimit {
            resource: libc::RLIMIT_NPROC,
            soft: 100,
            hard: 100,
        },
    ];
    s.no_new_privs = true;
    let o = collect(distro.spawn(s), out, err);
    assert_eq!(o.stdout, "256\n100\nNoNewPrivs:1\n3\n", "{}", o.stderr);
    // Without them: the caller's limits, privileges as usual.
    let o = sh_as(
        &*distro,
        0,
        "grep NoNewPrivs /proc/self/status | tr -d '\\t '",
    );
    assert_eq!(o.stdout, "NoNewPrivs:0\n");
    vm.stop();
}

#[test]
fn a_group_signal_reaches_the_command_and_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let (vm, distro) = start_with(dir.path(), "group", |_| {});
    let (s, out, err) = spec(&["sh", "-c", "sleep 60 & sleep 60; echo not-reached"]);
    let p = distro.spawn(s).unwrap();
    assert!(eventually(|| !distro.is_idle()));
    p.signal_group(libc::SIGTERM).unwrap();
    let o = collect(Ok(p), out, err);
    assert_eq!(o.code, 128 + libc::SIGTERM);
    // The background sleep got it too: only the init is left.
    assert!(eventually(|| distro.is_idle()));
    vm.stop();
}

#[test]
fn the_vm_s_system_files_belong_to_nobody_inside() {
    let dir = tempfile::tempdir().unwrap();
    let vm = start_vm(dir.path(), "vm-usr");
    // The host's root has no id inside: its files cannot be written whatever
    // root inside does to the mount flags.
    let out = vm_sh(
        &*vm,
        "stat -c %u /usr/bin/env; mount -o remount,bind,rw /usr 2>/dev/null; \
         touch /usr/bin/planted 2>/dev/null && echo planted; echo end",
    );
    assert_eq!(out.stdout, "65534\nend\n", "{}", out.stderr);
    assert!(!Path::new("/usr/bin/planted").exists());
    vm.stop();
}
