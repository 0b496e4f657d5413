//! nat through `pasta` (passt): the backend of per-user instances (SPEC
//! §10), which may not create interfaces or touch the host's ruleset.
//! pasta joins the VM's network namespace, creates `eth0` there (a tap
//! device whose other end is pasta itself), configures the address, the
//! default route and DNS forwarding at the gateway, and carries the VM's
//! traffic through ordinary sockets of the host. Connections to the
//! gateway reach the host's own loopback (pasta maps them).
//!
//! pasta runs in the foreground as a child of a thread of the service that
//! does nothing but wait for it, with a parent-death signal: a killed
//! service takes it along. It gets the namespace as its descriptor 3
//! (`--netns /proc/self/fd/3`): pasta started by root drops its
//! capabilities before it opens the namespace, and could not open another
//! root process's `/proc/PID/ns/net` by then. Readiness is its pid file,
//! which is a FIFO the service reads: pasta writes it once the namespace is
//! configured.

use std::io::Read;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};
use wslp_config::Ipv4Cidr;

use crate::error::NetError;
use crate::sys;

/// How long pasta may take to configure the namespace.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running pasta.
pub struct Pasta {
    pidfd: Option<OwnedFd>,
    pub pid: i32,
    keeper: Option<JoinHandle<()>>,
}

/// The arguments of a pasta that gives the namespace on descriptor 3 an
/// `eth0` at `vm` in `subnet`, with `gateway` as default route and DNS.
pub fn args(
    subnet: Ipv4Cidr,
    vm: Ipv4Addr,
    gateway: Ipv4Addr,
    ready: &Path,
    as_root: bool,
) -> Vec<String> {
    let mut a: Vec<String> = vec!["--foreground".into(), "--quiet".into()];
    if as_root {
        // Otherwise pasta switches to nobody, which cannot join a
        // namespace of root's.
        a.extend(["--runas".into(), "0:0".into()]);
    }
    a.extend([
        "--config-net".into(),
        "--ns-ifname".into(),
        "eth0".into(),
        "--address".into(),
        vm.to_string(),
        "--netmask".into(),
        subnet.prefix().to_string(),
        "--gateway".into(),
        gateway.to_string(),
        "--dns-forward".into(),
        gateway.to_string(),
        // No port forwarding by pasta: wslp forwards 127.0.0.1 itself
        // (pasta's `auto` would bind every host address), and the host's
        // ports do not show inside.
        "--tcp-ports".into(),
        "none".into(),
        "--udp-ports".into(),
        "none".into(),
        "--tcp-ns".into(),
        "none".into(),
        "--udp-ns".into(),
        "none".into(),
        "--pid".into(),
        ready.display().to_string(),
        "--netns".into(),
        "/proc/self/fd/3".into(),
    ]);
    a
}

impl Pasta {
    /// Starts pasta for `netns` and waits until it has configured it.
    pub fn start(
        netns: BorrowedFd<'_>,
        subnet: Ipv4Cidr,
        run_dir: &Path,
    ) -> Result<Pasta, NetError> {
        let vm = subnet.host(2);
        let gateway = subnet.host(1);
        std::fs::create_dir_all(run_dir)
            .map_err(|e| NetError::io(format!("cannot create {}", run_dir.display()), e))?;
        let ready = FifoPath(run_dir.join("pasta.ready"));
        let _ = std::fs::remove_file(&ready.0);
        nix::unistd::mkfifo(&ready.0, nix::sys::stat::Mode::from_bits_truncate(0o600)).map_err(
            |e| {
                NetError::io(
                    format!("cannot create the FIFO {}", ready.0.display()),
                    e.into(),
                )
            },
        )?;
        // Opened first, without blocking, so pasta's open for writing
        // succeeds at once.
        let fifo: OwnedFd = rustix::fs::open(
            &ready.0,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| NetError::io(format!("cannot open {}", ready.0.display()), e.into()))?;
        let as_root = rustix::process::geteuid().is_root();
        let mut cmd = Command::new("pasta");
        cmd.args(args(subnet, vm, gateway, &ready.0, as_root))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let ns = netns.try_clone_to_owned().map_err(|e| {
            NetError::io("cannot duplicate the VM's network namespace descriptor", e)
        })?;
        sys::die_with_parent_thread_and_pass_fd(&mut cmd, ns.as_raw_fd());
        let (tx, rx) = mpsc::channel();
        let keeper = std::thread::Builder::new()
            .name("wslp-pasta".into())
            .spawn(move || {
                let child = cmd.spawn();
                drop(ns);
                match child {
                    Ok(mut child) => {
                        let stderr = child.stderr.take();
                        let _ = tx.send(Ok((child.id() as i32, stderr)));
                        let _ = child.wait();
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| NetError::io("cannot start a thread for pasta", e))?;
        let spawned = rx
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("the pasta thread died")));
        let (pid, stderr) = match spawned {
            Ok(v) => v,
            Err(e) => {
                let _ = keeper.join();
                return Err(match e.kind() {
                    std::io::ErrorKind::NotFound => NetError::Missing {
                        program: "pasta",
                        package: "passt",
                    },
                    _ => NetError::io("cannot run pasta", e),
                });
            }
        };
        let pidfd = Pid::from_raw(pid).and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok());
        let mut pasta = Pasta {
            pidfd,
            pid,
            keeper: Some(keeper),
        };
        match wait_ready(&fifo, pasta.pidfd.as_ref()) {
            Ok(()) => Ok(pasta),
            Err(why) => {
                pasta.stop();
                let mut said = String::new();
                if let Some(mut s) = stderr {
                    let _ = s.read_to_string(&mut said);
                }
                let said: Vec<&str> = said
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with("Failed to send"))
                    .collect();
                Err(NetError::Helper {
                    what: "pasta".into(),
                    output: if said.is_empty() {
                        why
                    } else {
                        said.join("; ")
                    },
                })
            }
        }
    }

    /// Kills pasta and waits for it.
    pub fn stop(&mut self) {
        if let Some(fd) = &self.pidfd {
            let _ = pidfd_send_signal(fd, Signal::KILL);
        }
        if let Some(k) = self.keeper.take() {
            let _ = k.join();
        }
        self.pidfd = None;
    }
}

impl Drop for Pasta {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Removes the FIFO however start ends.
struct FifoPath(PathBuf);

impl Drop for FifoPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Until pasta writes its pid (ready) or exits (not).
fn wait_ready(fifo: &OwnedFd, pidfd: Option<&OwnedFd>) -> Result<(), String> {
    let mut fds = vec![PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
    if let Some(p) = pidfd {
        fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
    }
    let ms = u16::try_from(READY_TIMEOUT.as_millis()).unwrap_or(u16::MAX);
    match poll(&mut fds, PollTimeout::from(ms)) {
        Ok(0) => Err(format!("not ready after {} s", READY_TIMEOUT.as_secs())),
        Ok(_) if fds[0].any().unwrap_or(false) => Ok(()),
        Ok(_) => Err("it exited before the namespace was configured".into()),
        Err(e) => Err(format!("waiting for it: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasta_is_told_the_subnet_and_forwards_no_port_itself() {
        let a = args(
            "172.29.4.0/24".parse().unwrap(),
            Ipv4Addr::new(172, 29, 4, 2),
            Ipv4Addr::new(172, 29, 4, 1),
            Path::new("/r/vm/pasta.ready"),
            true,
        );
        let s = a.join(" ");
        assert!(s.contains("--runas 0:0"), "{s}");
        assert!(
            s.contains(
                "--address 172.29.4.2 --netmask 24 --gateway 172.29.4.1 --dns-forward 172.29.4.1"
            ),
            "{s}"
        );
        assert!(
            s.contains("--tcp-ports none --udp-ports none --tcp-ns none --udp-ns none"),
            "{s}"
        );
        assert!(
            s.ends_with("--pid /r/vm/pasta.ready --netns /proc/self/fd/3"),
            "{s}"
        );
        let user = args(
            "10.0.0.0/30".parse().unwrap(),
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 0, 0, 1),
            Path::new("/x"),
            false,
        );
        assert!(!user.contains(&"--runas".to_string()));
    }
}
