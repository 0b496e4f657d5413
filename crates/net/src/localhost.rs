//! localhost forwarding (SPEC §9, WSL's localhostForwarding): a TCP port on
//! which a process of the VM or of a distribution listens is reachable on
//! the host at `127.0.0.1:<port>`, for as long as it listens.
//!
//! Finding listeners: the kernel has no event for "a socket started
//! listening" (sock_diag only broadcasts destructions), so one thread asks
//! it, once a second and only while the VM runs, for the listening TCP
//! sockets of the VM's network namespace: one sock_diag dump on a netlink
//! socket made inside that namespace, a few microseconds, no /proc scan.
//! New ports get a host listener on 127.0.0.1 (a port the host already
//! uses is logged once and skipped), gone ports lose theirs.
//!
//! Relaying: each accepted connection gets a thread that joins the VM's
//! network namespace and connects there to the listener (127.0.0.1 for a
//! wildcard or loopback listener, so listeners bound to the VM's loopback
//! work too), then bytes move with splice(2) (see [`crate::relay`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr as NlAddr};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::netns;
use crate::relay::{relay, Conns};

/// How often the VM's listeners are looked at: a new one shows on the host
/// within this (plus the bind).
pub const SCAN_INTERVAL: Duration = Duration::from_secs(1);
/// How long a connection into the VM may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A sock_diag socket inside the VM's network namespace.
struct Diag {
    sock: Socket,
    buf: Vec<u8>,
}

impl Diag {
    fn new() -> io::Result<Diag> {
        let mut sock = Socket::new(NETLINK_SOCK_DIAG)?;
        sock.bind_auto()?;
        sock.connect(&NlAddr::new(0, 0))?;
        Ok(Diag {
            sock,
            buf: vec![0; 64 * 1024],
        })
    }

    /// The listening TCP sockets: (address, port).
    fn listeners(&mut self) -> io::Result<Vec<(IpAddr, u16)>> {
        let mut out = Vec::new();
        for (family, id) in [
            (AF_INET, SocketId::new_v4()),
            (AF_INET6, SocketId::new_v6()),
        ] {
            let mut header = NetlinkHeader::default();
            header.flags = NLM_F_REQUEST | NLM_F_DUMP;
            let mut packet = NetlinkMessage::new(
                header,
                SockDiagMessage::InetRequest(InetRequest {
                    family,
                    protocol: IPPROTO_TCP,
                    extensions: ExtensionFlags::empty(),
                    states: StateFlags::LISTEN,
                    socket_id: id,
                })
                .into(),
            );
            packet.finalize();
            let mut req = vec![0; packet.buffer_len()];
            packet.serialize(&mut req);
            self.sock.send(&req, 0)?;
            'dump: loop {
                let n = self
                    .sock
                    .recv(&mut &mut self.buf[..], 0)?
                    .min(self.buf.len());
                let mut offset = 0;
                while offset < n {
                    let msg = NetlinkMessage::<SockDiagMessage>::deserialize(&self.buf[offset..n])
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                    let len = msg.header.length as usize;
                    match msg.payload {
                        NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                            out.push((
                                r.header.socket_id.source_address,
                                r.header.socket_id.source_port,
                            ))
                        }
                        NetlinkPayload::Done(_) => break 'dump,
                        NetlinkPayload::Error(e) => {
                            if let Some(code) = e.code {
                                return Err(io::Error::from_raw_os_error(
                                    code.get().unsigned_abs() as i32,
                                ));
                            }
                            break 'dump;
                        }
                        _ => {}
                    }
                    if len == 0 {
                        break 'dump;
                    }
                    offset += len;
                }
            }
        }
        Ok(out)
    }
}

/// Where, inside the VM, to connect for each listening port: the best of
/// the port's listeners (one on every address or on loopback first).
pub fn targets(listeners: &[(IpAddr, u16)]) -> BTreeMap<u16, SocketAddr> {
    let rank = |a: &IpAddr| match a {
        IpAddr::V4(a) if a.is_unspecified() => 0,
        IpAddr::V4(a) if a.is_loopback() => 1,
        IpAddr::V6(a) if a.is_unspecified() => 2,
        IpAddr::V6(a) if a.is_loopback() => 3,
        _ => 4,
    };
    let mut best: BTreeMap<u16, IpAddr> = BTreeMap::new();
    for (addr, port) in listeners {
        let better = best.get(port).map_or(true, |b| rank(addr) < rank(b));
        if better {
            best.insert(*port, *addr);
        }
    }
    best.into_iter()
        .map(|(port, addr)| {
            let to = match addr {
                IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                a => a,
            };
            (port, SocketAddr::new(to, port))
        })
        .collect()
}

/// The forwarding thread of one VM.
pub struct LocalhostForwarder {
    wake: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
    conns: Arc<Conns>,
}

impl LocalhostForwarder {
    /// Starts forwarding for the VM whose network namespace is `netns`.
    pub fn start(netns: OwnedFd) -> io::Result<LocalhostForwarder> {
        let diag = netns::run_in(netns.as_fd(), Diag::new)?;
        let (wake_r, wake_w) = nix::unistd::pipe()?;
        let conns = Arc::new(Conns::default());
        let c = conns.clone();
        let thread = std::thread::Builder::new()
            .name("wslp-localhost".into())
            .spawn(move || forward(diag, Arc::new(netns), &wake_r, c))?;
        Ok(LocalhostForwarder {
            wake: Some(wake_w),
            thread: Some(thread),
            conns,
        })
    }

    /// Closes every host listener and relayed connection.
    pub fn stop(&mut self) {
        self.wake.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.conns.shutdown_all();
    }
}

impl Drop for LocalhostForwarder {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Forwarded {
    listener: TcpListener,
    target: SocketAddr,
}

fn forward(mut diag: Diag, netns: Arc<OwnedFd>, wake: &OwnedFd, conns: Arc<Conns>) {
    let mut open: BTreeMap<u16, Forwarded> = BTreeMap::new();
    // Ports the host already uses: logged once while the VM listens on them.
    let mut skipped: BTreeSet<u16> = BTreeSet::new();
    let mut next_scan = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next_scan {
            match diag.listeners() {
                Ok(l) => update(&mut open, &mut skipped, targets(&l)),
                Err(e) => tracing::warn!(error = %e, "cannot list the VM's listening sockets"),
            }
            next_scan = now + SCAN_INTERVAL;
        }
        let ready: Vec<u16> = {
            let mut fds = vec![PollFd::new(wake.as_fd(), PollFlags::POLLIN)];
            let ports: Vec<u16> = open.keys().copied().collect();
            fds.extend(
                open.values()
                    .map(|f| PollFd::new(f.listener.as_fd(), PollFlags::POLLIN)),
            );
            let wait = next_scan.saturating_duration_since(Instant::now());
            let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "localhost forwarding stopped");
                    return;
                }
            }
            if fds[0].any().unwrap_or(true) {
                return;
            }
            ports
                .into_iter()
                .zip(&fds[1..])
                .filter(|(_, fd)| fd.any().unwrap_or(false))
                .map(|(p, _)| p)
                .collect()
        };
        for port in ready {
            let Some(f) = open.get(&port) else { continue };
            while let Ok((client, _)) = f.listener.accept() {
                let (netns, conns, target) = (netns.clone(), conns.clone(), f.target);
                let spawned = std::thread::Builder::new()
                    .name("wslp-localhost-conn".into())
                    .spawn(move || {
                        let _ = client.set_nonblocking(false);
                        let inside = netns::enter(netns.as_fd())
                            .and_then(|()| TcpStream::connect_timeout(&target, CONNECT_TIMEOUT));
                        match inside {
                            Ok(server) => relay(client, server, &conns),
                            Err(e) => {
                                tracing::debug!(%target, error = %e, "cannot connect into the VM")
                            }
                        }
                    });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "cannot start a thread for a forwarded connection");
                }
            }
        }
    }
}

fn update(
    open: &mut BTreeMap<u16, Forwarded>,
    skipped: &mut BTreeSet<u16>,
    wanted: BTreeMap<u16, SocketAddr>,
) {
    open.retain(|port, f| match wanted.get(port) {
        Some(t) => {
            f.target = *t;
            true
        }
        None => {
            tracing::info!(port, "localhost forwarding: port closed in the VM");
            false
        }
    });
    skipped.retain(|p| wanted.contains_key(p));
    for (port, target) in wanted {
        if open.contains_key(&port) {
            continue;
        }
        match TcpListener::bind((Ipv4Addr::LOCALHOST, port)).and_then(|l| {
            l.set_nonblocking(true)?;
            Ok(l)
        }) {
            Ok(listener) => {
                if skipped.remove(&port) {
                    tracing::info!(port, "localhost forwarding: the host port is free now");
                }
                tracing::info!(port, %target, "localhost forwarding: 127.0.0.1:{port} → the VM");
                open.insert(port, Forwarded { listener, target });
            }
            Err(e) => {
                if skipped.insert(port) {
                    tracing::warn!(
                        port,
                        error = %e,
                        "localhost forwarding: 127.0.0.1:{port} is taken on the host; not forwarded"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_listener_of_each_port_is_the_target() {
        let l = |a: &str, p| (a.parse::<IpAddr>().unwrap(), p);
        let t = targets(&[
            l("10.0.0.2", 80),
            l("0.0.0.0", 80),
            l("::", 8080),
            l("::1", 8080),
            l("127.0.0.1", 9000),
            l("::", 9000),
            l("172.29.4.2", 7000),
        ]);
        assert_eq!(t[&80], "127.0.0.1:80".parse().unwrap());
        assert_eq!(t[&8080], "[::1]:8080".parse().unwrap());
        assert_eq!(t[&9000], "127.0.0.1:9000".parse().unwrap());
        assert_eq!(t[&7000], "172.29.4.2:7000".parse().unwrap());
        assert_eq!(t.len(), 4);
    }
}
