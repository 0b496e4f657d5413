//! Helpers shared by the VM integration tests (they run as root).
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wslp_vm::{NamespaceBackend, Process, ProcessSpec, Vm, VmBackend, VmConfig, VmError};

pub fn start_vm(dir: &Path, hostname: &str) -> Arc<dyn Vm> {
    NamespaceBackend
        .start(&VmConfig::new(dir.join("vm"), hostname))
        .expect("start the VM")
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn strings(argv: &[&str]) -> Vec<String> {
    argv.iter().map(|s| s.to_string()).collect()
}

pub fn default_env() -> Vec<(String, String)> {
    vec![("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into())]
}

/// A spec with stdin from /dev/null and stdout/stderr into pipes.
pub fn spec(argv: &[&str]) -> (ProcessSpec, File, File) {
    let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    let null = std::fs::File::open("/dev/null").unwrap();
    let spec = ProcessSpec {
        program: None,
        argv: strings(argv),
        env: default_env(),
        cwd: None,
        uid: 0,
        gid: 0,
        groups: vec![],
        stdin: OwnedFd::from(null),
        stdout: out_w,
        stderr: err_w,
        controlling_tty: false,
        rlimits: Vec::new(),
        no_new_privs: false,
    };
    (spec, File::from(out_r), File::from(err_r))
}

/// Runs a spawned process to its end and collects its output.
pub fn collect(started: Result<Process, VmError>, mut out: File, mut err: File) -> Output {
    let p = started.expect("spawn");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let mut stdout = String::new();
    out.read_to_string(&mut stdout).unwrap();
    let code = p.wait().unwrap();
    Output {
        code,
        stdout,
        stderr: err_thread.join().unwrap(),
    }
}

/// Runs `sh -c script` in the VM.
pub fn vm_sh(vm: &dyn Vm, script: &str) -> Output {
    let (spec, out, err) = spec(&["/bin/sh", "-c", script]);
    collect(vm.spawn(spec), out, err)
}

/// Writes `input` to an ExecuteBinary socket, half-closes it and reads to EOF.
pub fn talk(sock: OwnedFd, input: &[u8]) -> Vec<u8> {
    let mut s = UnixStream::from(sock);
    s.write_all(input).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

pub fn ns_inode(pid: i32, ns: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/{ns}"))
        .ok()
        .map(|m| m.ino())
}

/// Host pids of every process whose `ns` namespace has inode `ino`.
pub fn members(ns: &str, ino: u64) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| ns_inode(*pid, ns) == Some(ino))
        .collect()
}

/// Waits (up to 20 s, polling) for `cond`; for effects of background threads.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..400 {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// A tiny distribution: busybox-static with applet symlinks and an os-release.
pub fn busybox_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static installed");
    for applet in [
        "sh", "cat", "sleep", "id", "ls", "pwd", "echo", "readlink", "env", "kill", "touch",
        "hostname", "true", "false", "mount",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(
        root.join("etc/os-release"),
        "ID=tinybox\nVERSION_ID=1.0\nPRETTY_NAME=\"Tiny Box\"\n",
    )
    .unwrap();
    root
}
