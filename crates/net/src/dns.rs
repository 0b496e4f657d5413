//! Name resolution for the VM: what its resolv.conf says, and the small
//! forwarder at the gateway when the host's resolver is on loopback.
//!
//! A host whose `/etc/resolv.conf` names remote servers has them copied
//! (the VM reaches them through nat). One that names a loopback address
//! (systemd-resolved's 127.0.0.53, a local dnsmasq) cannot lend it: the
//! VM's loopback is its own. The forwarder then listens on the gateway
//! address, port 53, UDP and TCP, and passes each query verbatim to the
//! host's servers in order, and the answer back: a relay needs no DNS
//! parsing at all (nothing is cached or rewritten), so none is done.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::relay::{relay, Conns};

/// The host's resolver configuration, as far as the VM cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostResolv {
    pub nameservers: Vec<IpAddr>,
    /// `search`, `domain` and `options` lines, copied as they are.
    pub other: Vec<String>,
}

pub const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

impl HostResolv {
    pub fn parse(text: &str) -> HostResolv {
        let mut r = HostResolv::default();
        for line in text.lines() {
            let line = line.trim();
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    // `fe80::1%eth0` names a scope only the host has.
                    if let Some(addr) = words.next().and_then(|a| a.parse().ok()) {
                        r.nameservers.push(addr);
                    }
                }
                Some("search" | "domain" | "options") => r.other.push(line.to_owned()),
                _ => {}
            }
        }
        r
    }

    /// The host's file; none (or unreadable) means glibc's default, a
    /// server on the host's loopback.
    pub fn read() -> HostResolv {
        let r = HostResolv::parse(&std::fs::read_to_string(HOST_RESOLV_CONF).unwrap_or_default());
        if r.nameservers.is_empty() {
            return HostResolv {
                nameservers: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
                other: r.other,
            };
        }
        r
    }

    /// Whether the VM needs the forwarder: a loopback server, or no IPv4
    /// server (the VM has IPv4 only).
    pub fn needs_forwarder(&self) -> bool {
        self.nameservers.iter().any(|a| a.is_loopback())
            || !self.nameservers.iter().any(IpAddr::is_ipv4)
    }

    /// The body of a nat VM's resolv.conf: the gateway when the forwarder
    /// serves, the host's IPv4 servers otherwise.
    pub fn nat_body(&self, gateway: Ipv4Addr) -> String {
        let servers: Vec<IpAddr> = if self.needs_forwarder() {
            vec![IpAddr::V4(gateway)]
        } else {
            self.nameservers
                .iter()
                .copied()
                .filter(IpAddr::is_ipv4)
                .collect()
        };
        self.body(&servers)
    }

    /// The body when the VM shares the host's network: the host's servers,
    /// loopback ones included (they are the same loopback).
    pub fn mirrored_body(&self) -> String {
        self.body(&self.nameservers)
    }

    fn body(&self, servers: &[IpAddr]) -> String {
        let mut s = String::new();
        for a in servers {
            s.push_str(&format!("nameserver {a}\n"));
        }
        for l in &self.other {
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

/// How long one upstream server may take to answer.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);
/// Queries in flight at once; more are dropped (the client retries).
const MAX_IN_FLIGHT: usize = 256;

/// The forwarder: two threads (UDP, TCP accept) and one per query or
/// connection in flight.
pub struct Forwarder {
    /// Dropping it wakes both threads (POLLHUP on the read end).
    wake: Option<OwnedFd>,
    threads: Vec<JoinHandle<()>>,
    conns: Arc<Conns>,
    pub listen: SocketAddr,
}

impl Forwarder {
    /// Listens on `listen:53` (UDP and TCP) and relays to `upstreams`.
    pub fn start(listen: Ipv4Addr, upstreams: Vec<IpAddr>) -> io::Result<Forwarder> {
        let addr = SocketAddr::new(IpAddr::V4(listen), 53);
        let udp = UdpSocket::bind(addr)?;
        let tcp = TcpListener::bind(addr)?;
        let (wake_r, wake_w) = nix::unistd::pipe()?;
        let wake_r = Arc::new(wake_r);
        let upstreams = Arc::new(upstreams);
        let conns = Arc::new(Conns::default());
        let mut threads = Vec::new();
        {
            let (wake_r, upstreams) = (wake_r.clone(), upstreams.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("wslp-dns-udp".into())
                    .spawn(move || serve_udp(udp, &wake_r, upstreams))?,
            );
        }
        {
            let conns = conns.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("wslp-dns-tcp".into())
                    .spawn(move || serve_tcp(tcp, &wake_r, upstreams, conns))?,
            );
        }
        Ok(Forwarder {
            wake: Some(wake_w),
            threads,
            conns,
            listen: addr,
        })
    }

    /// Stops listening and ends the TCP connections in flight.
    pub fn stop(&mut self) {
        self.wake.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.conns.shutdown_all();
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `fd` is readable (true) or the wake pipe closes (false).
fn wait_readable(fd: impl AsFd, wake: &OwnedFd) -> bool {
    let mut fds = [
        PollFd::new(fd.as_fd(), PollFlags::POLLIN),
        PollFd::new(wake.as_fd(), PollFlags::POLLIN),
    ];
    loop {
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {
                if fds[1].any().unwrap_or(true) {
                    return false;
                }
                if fds[0].any().unwrap_or(false) {
                    return true;
                }
            }
            Err(nix::Error::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

fn serve_udp(sock: UdpSocket, wake: &OwnedFd, upstreams: Arc<Vec<IpAddr>>) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut buf = vec![0u8; 65536];
    let _ = sock.set_nonblocking(true);
    while wait_readable(&sock, wake) {
        let Ok((n, client)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
            continue;
        }
        let (Ok(reply_sock), query) = (sock.try_clone(), buf[..n].to_vec()) else {
            continue;
        };
        in_flight.fetch_add(1, Ordering::Relaxed);
        let (count, upstreams) = (in_flight.clone(), upstreams.clone());
        let spawned = std::thread::Builder::new()
            .name("wslp-dns-query".into())
            .spawn(move || {
                if let Some(answer) = ask_udp(&query, &upstreams) {
                    let _ = reply_sock.send_to(&answer, client);
                }
                count.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            // The closure never ran: take its count back.
            in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The first answer of the upstream servers, tried in order.
fn ask_udp(query: &[u8], upstreams: &[IpAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let local: SocketAddr = match up {
            IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let Ok(s) = UdpSocket::bind(local) else {
            continue;
        };
        if s.connect((*up, 53)).is_err() || s.send(query).is_err() {
            continue;
        }
        let _ = s.set_read_timeout(Some(UPSTREAM_TIMEOUT));
        let mut buf = vec![0u8; 65536];
        if let Ok(n) = s.recv(&mut buf) {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

fn serve_tcp(l: TcpListener, wake: &OwnedFd, upstreams: Arc<Vec<IpAddr>>, conns: Arc<Conns>) {
    let _ = l.set_nonblocking(true);
    while wait_readable(&l, wake) {
        let Ok((client, _)) = l.accept() else {
            continue;
        };
        let (upstreams, conns) = (upstreams.clone(), conns.clone());
        let _ = std::thread::Builder::new()
            .name("wslp-dns-tcp-conn".into())
            .spawn(move || {
                let _ = client.set_nonblocking(false);
                for up in upstreams.iter() {
                    if let Ok(server) =
                        TcpStream::connect_timeout(&SocketAddr::new(*up, 53), UPSTREAM_TIMEOUT)
                    {
                        relay(client, server, &conns);
                        return;
                    }
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_resolv_conf_is_read_as_glibc_would() {
        let r = HostResolv::parse(
            "# generated\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\nnameserver 192.0.2.53\n\
             options edns0 trust-ad\nsearch lan example.org\n",
        );
        assert_eq!(
            r.nameservers,
            vec![
                "127.0.0.53".parse::<IpAddr>().unwrap(),
                "192.0.2.53".parse().unwrap()
            ]
        );
        assert_eq!(
            r.other,
            vec!["options edns0 trust-ad", "search lan example.org"]
        );
        assert!(r.needs_forwarder());
        let gw = Ipv4Addr::new(172, 29, 4, 1);
        assert_eq!(
            r.nat_body(gw),
            "nameserver 172.29.4.1\noptions edns0 trust-ad\nsearch lan example.org\n"
        );
        assert!(r
            .mirrored_body()
            .starts_with("nameserver 127.0.0.53\nnameserver 192.0.2.53\n"));
    }

    #[test]
    fn remote_ipv4_servers_are_copied() {
        let r = HostResolv::parse(
            "nameserver 192.0.2.53\nnameserver 2001:db8::53\nnameserver 198.51.100.1\n",
        );
        assert!(!r.needs_forwarder());
        assert_eq!(
            r.nat_body(Ipv4Addr::new(10, 0, 0, 1)),
            "nameserver 192.0.2.53\nnameserver 198.51.100.1\n"
        );
        // IPv6 servers only: the VM cannot reach them, the forwarder can.
        assert!(HostResolv::parse("nameserver 2001:db8::53\n").needs_forwarder());
    }

    /// A resolver on loopback that answers every query with its own bytes
    /// reversed, to see the forwarder pass both ways verbatim.
    #[test]
    fn the_forwarder_relays_udp_and_tcp_verbatim() {
        use std::io::{Read, Write};
        // Port 53 on a loopback address of its own, so parallel tests do not meet.
        let up_addr = Ipv4Addr::new(127, 53, (std::process::id() % 250) as u8 + 1, 7);
        let up_udp = UdpSocket::bind((up_addr, 53)).unwrap();
        let up_tcp = TcpListener::bind((up_addr, 53)).unwrap();
        let server = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (n, from) = up_udp.recv_from(&mut buf).unwrap();
            let mut a = buf[..n].to_vec();
            a.reverse();
            up_udp.send_to(&a, from).unwrap();
            let (mut c, _) = up_tcp.accept().unwrap();
            let mut q = [0u8; 6];
            c.read_exact(&mut q).unwrap();
            q.reverse();
            c.write_all(&q).unwrap();
        });
        let listen = Ipv4Addr::new(127, 54, (std::process::id() % 250) as u8 + 1, 1);
        let mut fwd = Forwarder::start(listen, vec![IpAddr::V4(up_addr)]).unwrap();
        let c = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.send_to(b"query-1", (listen, 53)).unwrap();
        let mut buf = [0u8; 64];
        let n = c.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"1-yreuq");
        let mut t = TcpStream::connect((listen, 53)).unwrap();
        t.write_all(b"\x00\x04abcd").unwrap();
        let mut a = [0u8; 6];
        t.read_exact(&mut a).unwrap();
        assert_eq!(&a, b"dcba\x04\x00");
        server.join().unwrap();
        fwd.stop();
        // Nothing listens any more.
        assert!(TcpStream::connect((listen, 53)).is_err());
    }
}
