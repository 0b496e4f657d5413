//! Moving the bytes of a TCP connection between two sockets (localhost
//! forwarding, DNS over TCP), and the registry that lets a stop end every
//! relayed connection at once.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use nix::fcntl::{splice, SpliceFFlags};

/// A lock whose poisoning (a panic in a relay thread) is ignored: the map
/// only holds sockets, usable whatever happened.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The connections being relayed, to shut them all down at a stop.
#[derive(Default)]
pub struct Conns {
    next: AtomicU64,
    open: Mutex<HashMap<u64, TcpStream>>,
    closed: std::sync::atomic::AtomicBool,
}

impl Conns {
    /// Registers `s`; `None` once [`Conns::shutdown_all`] ran (the caller
    /// drops the connection).
    fn add(&self, s: &TcpStream) -> Option<u64> {
        let clone = s.try_clone().ok()?;
        let mut open = lock(&self.open);
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        open.insert(id, clone);
        Some(id)
    }

    fn remove(&self, id: u64) {
        lock(&self.open).remove(&id);
    }

    /// Shuts every registered connection down (their relay threads then
    /// end) and refuses new ones.
    pub fn shutdown_all(&self) {
        let mut open = lock(&self.open);
        self.closed.store(true, Ordering::SeqCst);
        for (_, s) in open.drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub fn len(&self) -> usize {
        lock(&self.open).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Size of one splice: what a pipe can hold after F_SETPIPE_SZ fails.
const CHUNK: usize = 1 << 16;

/// Copies `from` to `to` until EOF with splice(2) through a pipe (the bytes
/// never reach user space), then half-closes `to`.
fn pump(from: &TcpStream, to: &TcpStream) {
    let moved = match nix::unistd::pipe() {
        Ok((r, w)) => splice_all(from, to, &r, &w),
        Err(e) => Err(io::Error::from(e)),
    };
    if let Err(e) = moved {
        if e.raw_os_error() == Some(libc::EINVAL) {
            // A kernel or socket type without splice: copy instead.
            let _ = copy_all(from, to);
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn splice_all(from: &TcpStream, to: &TcpStream, r: &OwnedFd, w: &OwnedFd) -> io::Result<()> {
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_MORE;
    loop {
        let n = match splice(from.as_fd(), None, w.as_fd(), None, CHUNK, flags) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut left = n;
        while left > 0 {
            match splice(r.as_fd(), None, to.as_fd(), None, left, flags) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(m) => left -= m,
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn copy_all(mut from: &TcpStream, mut to: &TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buf[..n])?;
    }
}

/// Relays `a` ⇄ `b` until both directions ended; registered in `conns`
/// meanwhile. Blocks the calling thread (one more thread carries b → a).
pub fn relay(a: TcpStream, b: TcpStream, conns: &Arc<Conns>) {
    let Some(ida) = conns.add(&a) else { return };
    let Some(idb) = conns.add(&b) else {
        conns.remove(ida);
        return;
    };
    let _ = a.set_nodelay(true);
    let _ = b.set_nodelay(true);
    let back = match (a.try_clone(), b.try_clone()) {
        (Ok(a2), Ok(b2)) => std::thread::Builder::new()
            .name("wslp-relay".into())
            .spawn(move || pump(&b2, &a2))
            .ok(),
        _ => None,
    };
    if back.is_some() {
        pump(&a, &b);
        if let Some(t) = back {
            let _ = t.join();
        }
    }
    conns.remove(ida);
    conns.remove(idb);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        (c, l.accept().unwrap().0)
    }

    #[test]
    fn bytes_cross_both_ways_and_eof_follows() {
        let (client, relay_a) = pair();
        let (relay_b, mut server) = pair();
        let conns = Arc::new(Conns::default());
        let c2 = conns.clone();
        let t = std::thread::spawn(move || relay(relay_a, relay_b, &c2));
        let data: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
        let writer = {
            let mut client = client.try_clone().unwrap();
            let data = data.clone();
            std::thread::spawn(move || {
                client.write_all(&data).unwrap();
                client.shutdown(Shutdown::Write).unwrap();
            })
        };
        let mut got = Vec::new();
        server.read_to_end(&mut got).unwrap();
        writer.join().unwrap();
        assert!(got == data, "{} bytes of {}", got.len(), data.len());
        server.write_all(b"back").unwrap();
        server.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        (&client).read_to_end(&mut back).unwrap();
        assert_eq!(back, b"back");
        t.join().unwrap();
        assert!(conns.is_empty());
    }

    #[test]
    fn shutdown_all_ends_a_relay_in_progress() {
        let (client, relay_a) = pair();
        let (relay_b, _server) = pair();
        let conns = Arc::new(Conns::default());
        let c2 = conns.clone();
        let t = std::thread::spawn(move || relay(relay_a, relay_b, &c2));
        while conns.len() < 2 {
            std::thread::yield_now();
        }
        conns.shutdown_all();
        t.join().unwrap();
        let mut rest = Vec::new();
        (&client).read_to_end(&mut rest).unwrap();
        // New connections are refused after a shutdown.
        let (x, y) = pair();
        relay(x, y, &conns);
        assert!(conns.is_empty());
    }
}
