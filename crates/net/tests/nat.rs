//! The VM's networking against real namespaces, interfaces and nftables
//! (as root, as CI runs): a process in a fresh network namespace stands for
//! the VM's init. Every check looks only at what the test's own instance
//! created (its key names the interface and the table): other tests run on
//! this host at the same time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wslp_net::{netns, NatBackend, NetConfig, NetworkingMode};

/// A process in a new network namespace with `lo` up.
struct FakeVm {
    child: Child,
}

impl FakeVm {
    fn start() -> FakeVm {
        let mut child = Command::new("unshare")
            .args([
                "--net",
                "sh",
                "-c",
                "ip link set lo up && echo ready && exec sleep 600",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) and ip (iproute2)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n");
        FakeVm { child }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Output of `ip ARGS` inside.
    fn ip(&self, args: &str) -> String {
        let out = Command::new("nsenter")
            .arg("-t")
            .arg(self.pid().to_string())
            .arg("-n")
            .arg("ip")
            .args(args.split_whitespace())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for FakeVm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(mode: NetworkingMode, backend: NatBackend, root: &std::path::Path) -> NetConfig {
    NetConfig {
        mode,
        nat_subnet: None,
        localhost_forwarding: true,
        backend,
        key: wslp_net::subnet::instance_key(root),
        run_dir: root.join("run"),
    }
}

fn host(cmd: &str) -> (bool, String) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Waits (bounded, generously: never a timing assertion) for `cond`.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < end, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the host shows of the instance with key `key` and subnet `subnet`.
fn host_traces(key: &str, subnet: &str) -> Vec<String> {
    let net = subnet
        .rsplit_once('.')
        .map(|(a, _)| a.to_string())
        .unwrap_or_default();
    let mut traces = Vec::new();
    for cmd in ["ip -d link", "ip route show table all", "ip addr"] {
        let (_, out) = host(cmd);
        traces.extend(
            out.lines()
                .filter(|l| {
                    l.contains(&format!("wslp{key}"))
                        || (!net.is_empty() && l.contains(&format!("{net}.")))
                })
                .map(|l| format!("{cmd}: {l}")),
        );
    }
    let (exists, _) = host(&format!("nft list table ip wslp_{key}"));
    if exists {
        traces.push(format!("nftables table ip wslp_{key}"));
    }
    traces
}

#[test]
fn kernel_nat_connects_the_vm_forwards_localhost_and_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(NetworkingMode::Nat, NatBackend::Kernel, root.path());
    let vm = FakeVm::start();
    let starting = wslp_net::prepare(&cfg);
    assert!(!cfg.shares_host_network());
    let mut net = starting.attach(vm.pid());
    assert_eq!(net.warning(), None);
    assert_eq!(net.mode(), NetworkingMode::Nat);
    let subnet = net.subnet().unwrap();
    let (gw, addr) = (subnet.host(1), subnet.host(2));

    // Inside: eth0 with its address, a default route through the host end.
    assert!(vm
        .ip("-4 addr show dev eth0")
        .contains(&format!("inet {addr}/{}", subnet.prefix())));
    assert!(vm
        .ip("route")
        .contains(&format!("default via {gw} dev eth0")));
    // Outside: the host end, and the table as `nft` reads it back.
    let (ok, table) = host(&format!("nft list table ip wslp_{}", cfg.key));
    assert!(ok, "{table}");
    let ifname = format!("wslp{}", cfg.key);
    for rule in [
        format!("ip saddr {subnet} oifname != \"{ifname}\" masquerade"),
        format!("oifname \"{ifname}\" ct state established,related accept"),
        format!("oifname \"{ifname}\" drop"),
    ] {
        assert!(table.contains(&rule), "{rule} missing from\n{table}");
    }
    assert!(net.describe().contains(&ifname), "{}", net.describe());

    // The VM reaches a server the test runs on the host at the gateway.
    let server = TcpListener::bind((gw, 0)).unwrap();
    let port = server.local_addr().unwrap().port();
    let ns = netns::open(vm.pid()).unwrap();
    let client = netns::run_in(ns.as_fd(), || {
        let mut s =
            TcpStream::connect_timeout(&SocketAddr::from((gw, port)), Duration::from_secs(10))?;
        s.write_all(b"hello from the VM")?;
        Ok(s)
    })
    .unwrap();
    let (mut conn, peer) = server.accept().unwrap();
    assert_eq!(peer.ip(), std::net::IpAddr::V4(addr));
    let mut got = [0u8; 17];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello from the VM");
    drop((client, conn));

    // A listener inside, on the VM's own loopback, shows on the host's 127.0.0.1.
    let inside = netns::run_in(ns.as_fd(), || TcpListener::bind((Ipv4Addr::LOCALHOST, 0))).unwrap();
    let port = inside.local_addr().unwrap().port();
    let served = std::thread::spawn(move || {
        let (mut c, _) = inside.accept().unwrap();
        let mut q = [0u8; 4];
        c.read_exact(&mut q).unwrap();
        c.write_all(b"pong").unwrap();
        drop(inside);
    });
    let mut outside = None;
    eventually("the forwarded port opening", || {
        outside = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok();
        outside.is_some()
    });
    let mut outside = outside.unwrap();
    outside.write_all(b"ping").unwrap();
    let mut a = [0u8; 4];
    outside.read_exact(&mut a).unwrap();
    assert_eq!(&a, b"pong");
    served.join().unwrap();
    drop(outside);
    eventually("the forwarded port closing", || {
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err()
    });
    drop(ns);

    assert!(!host_traces(&cfg.key, &subnet.to_string()).is_empty());
    net.stop();
    assert_eq!(
        host_traces(&cfg.key, &subnet.to_string()),
        Vec::<String>::new()
    );
    // Nothing listens on the gateway's DNS port or the forwarded port.
    assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());
}

#[test]
fn two_instances_at_once_get_different_subnets_and_both_work() {
    let (r1, r2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (c1, c2) = (
        config(NetworkingMode::Nat, NatBackend::Kernel, r1.path()),
        config(NetworkingMode::Nat, NatBackend::Kernel, r2.path()),
    );
    let (vm1, vm2) = (FakeVm::start(), FakeVm::start());
    // Both at once, as two services would.
    let (mut n1, mut n2) = std::thread::scope(|s| {
        let a = s.spawn(|| wslp_net::prepare(&c1).attach(vm1.pid()));
        let b = s.spawn(|| wslp_net::prepare(&c2).attach(vm2.pid()));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((n1.warning(), n2.warning()), (None, None));
    let (a, b) = (n1.subnet().unwrap(), n2.subnet().unwrap());
    assert!(!a.overlaps(b), "{a} and {b}");
    for (vm, subnet) in [(&vm1, a), (&vm2, b)] {
        let gw = subnet.host(1);
        let server = TcpListener::bind((gw, 0)).unwrap();
        let port = server.local_addr().unwrap().port();
        let ns = netns::open(vm.pid()).unwrap();
        netns::run_in(ns.as_fd(), || {
            TcpStream::connect_timeout(&SocketAddr::from((gw, port)), Duration::from_secs(10))
        })
        .unwrap();
        assert_eq!(
            server.accept().unwrap().1.ip(),
            std::net::IpAddr::V4(subnet.host(2))
        );
    }
    n1.stop();
    n2.stop();
    assert!(host_traces(&c1.key, &a.to_string()).is_empty());
    assert!(host_traces(&c2.key, &b.to_string()).is_empty());
}

#[test]
fn a_subnet_that_clashes_falls_back_to_loopback_with_the_spec_warning() {
    let root = tempfile::tempdir().unwrap();
    let mut cfg = config(NetworkingMode::Nat, NatBackend::Kernel, root.path());
    // The host's loopback route covers it.
    cfg.nat_subnet = Some("127.0.0.0/24".parse().unwrap());
    let vm = FakeVm::start();
    let mut net = wslp_net::prepare(&cfg).attach(vm.pid());
    assert_eq!(net.mode(), NetworkingMode::None);
    let w = net.warning().unwrap();
    assert!(
        w.starts_with("wslp: Failed to configure network (networking_mode nat): nat_subnet 127.0.0.0/24 overlaps the host's network 127.0.0.0/8"),
        "{w}"
    );
    assert!(
        w.ends_with(". Falling back to networking_mode none."),
        "{w}"
    );
    assert!(!vm.ip("link").contains("eth0"));
    net.stop();
    assert!(host_traces(&cfg.key, "").is_empty());
}

#[test]
fn pasta_connects_the_vm_and_goes_away_at_stop() {
    if Command::new("pasta").arg("--version").output().is_err() {
        panic!("pasta is missing: scripts/setup.sh installs passt");
    }
    let root = tempfile::tempdir().unwrap();
    let cfg = config(NetworkingMode::Nat, NatBackend::Pasta, root.path());
    let vm = FakeVm::start();
    let mut net = wslp_net::prepare(&cfg).attach(vm.pid());
    assert_eq!(net.warning(), None);
    let subnet = net.subnet().unwrap();
    let (gw, addr) = (subnet.host(1), subnet.host(2));
    assert!(vm
        .ip("-4 addr show dev eth0")
        .contains(&format!("inet {addr}/")));
    assert!(vm.ip("route").contains(&format!("default via {gw}")));
    let describe = net.describe();
    let pid: i32 = describe
        .split("pasta pid ")
        .nth(1)
        .and_then(|s| s.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("{describe}"));
    // The gateway is the host's loopback through pasta.
    let server = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = server.local_addr().unwrap().port();
    let ns = netns::open(vm.pid()).unwrap();
    let mut c = netns::run_in(ns.as_fd(), || {
        TcpStream::connect_timeout(&SocketAddr::from((gw, port)), Duration::from_secs(10))
    })
    .unwrap();
    c.write_all(b"via pasta").unwrap();
    let (mut conn, _) = server.accept().unwrap();
    let mut got = [0u8; 9];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"via pasta");
    drop((c, conn, ns));
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    net.stop();
    // Reaped: no process, not even a zombie, is left.
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(!root.path().join("run/pasta.ready").exists());
}

#[test]
fn none_and_mirrored_create_nothing() {
    let root = tempfile::tempdir().unwrap();
    for mode in [NetworkingMode::None, NetworkingMode::Mirrored] {
        let cfg = config(mode, NatBackend::Kernel, root.path());
        let vm = FakeVm::start();
        let starting = wslp_net::prepare(&cfg);
        assert_eq!(cfg.shares_host_network(), mode == NetworkingMode::Mirrored);
        let mut net = starting.attach(vm.pid());
        assert_eq!((net.mode(), net.warning()), (mode, None));
        assert!(host_traces(&cfg.key, "").is_empty());
        net.stop();
    }
}
