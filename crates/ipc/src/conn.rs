//! A connection to or from the service: [`protocol`](crate::protocol) messages
//! in [`frame`](crate::frame)s, and who is on the other end.

use crate::frame::{self, FrameError, Limits};
use crate::protocol::{decode, encode, ProtocolError, MAX_FDS, MAX_FRAME};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use serde::{de::DeserializeOwned, Serialize};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Instant;

/// Who is on the other end of the socket, from the kernel (SO_PEERCRED), not from the client's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

pub fn peer(stream: &UnixStream) -> std::io::Result<Peer> {
    let c = getsockopt(stream, PeerCredentials).map_err(std::io::Error::from)?;
    Ok(Peer {
        pid: c.pid(),
        uid: c.uid(),
        gid: c.gid(),
    })
}

/// What a frame of the service protocol may be and carry.
const LIMITS: Limits = Limits {
    max_len: MAX_FRAME,
    max_fds: MAX_FDS,
};

/// A framed connection carrying service protocol messages.
pub struct Conn {
    stream: UnixStream,
}

impl Conn {
    pub fn new(stream: UnixStream) -> Self {
        Conn { stream }
    }

    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    pub fn send<T: Serialize>(&self, msg: &T) -> Result<(), ProtocolError> {
        self.send_with_fds(msg, &[])
    }

    pub fn send_with_fds<T: Serialize>(
        &self,
        msg: &T,
        fds: &[BorrowedFd<'_>],
    ) -> Result<(), ProtocolError> {
        Ok(frame::send(self.stream.as_fd(), &encode(msg), fds)?)
    }

    /// Receives one message and the descriptors that came with it.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<(T, Vec<OwnedFd>), ProtocolError> {
        self.recv_until(None)
    }

    /// [`Conn::recv`], giving up on a peer that sends part of a frame and
    /// then stalls past `deadline`.
    pub fn recv_until<T: DeserializeOwned>(
        &self,
        deadline: Option<Instant>,
    ) -> Result<(T, Vec<OwnedFd>), ProtocolError> {
        let mut body = Vec::new();
        let fds = frame::recv(self.stream.as_fd(), &mut body, LIMITS, deadline)?;
        Ok((decode(&body)?, fds))
    }

    pub fn try_clone(&self) -> std::io::Result<Conn> {
        Ok(Conn {
            stream: self.stream.try_clone()?,
        })
    }
}

impl From<FrameError> for ProtocolError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Closed => ProtocolError::Closed,
            e => ProtocolError::Frame(e),
        }
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ClientMessage, ServerMessage};

    #[test]
    fn messages_and_descriptors_round_trip() {
        let (a, b) = UnixStream::pair().unwrap();
        let (a, b) = (Conn::new(a), Conn::new(b));
        let stdin = std::io::stdin();
        a.send_with_fds(&ClientMessage::Signal(2), &[stdin.as_fd()])
            .unwrap();
        let (m, fds) = b.recv::<ClientMessage>().unwrap();
        assert_eq!((m, fds.len()), (ClientMessage::Signal(2), 1));
        b.send(&ServerMessage::Done).unwrap();
        assert_eq!(a.recv::<ServerMessage>().unwrap().0, ServerMessage::Done);
        assert_eq!(peer(a.stream()).unwrap().pid, std::process::id() as i32);
        drop(b);
        assert!(matches!(
            a.recv::<ServerMessage>(),
            Err(ProtocolError::Closed)
        ));
    }
}
