//! Framed messages with file descriptors over a Unix stream socket.
//!
//! The only place that touches SCM_RIGHTS and SO_PEERCRED.

use crate::protocol::{decode, encode, ProtocolError, MAX_FDS, MAX_FRAME};
use nix::sys::socket::{
    getsockopt, recvmsg, sendmsg, sockopt::PeerCredentials, ControlMessage, ControlMessageOwned,
    MsgFlags,
};
use serde::{de::DeserializeOwned, Serialize};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

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

/// A framed connection. Reads buffer whole frames; descriptors received with a
/// frame are handed out with it.
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

    pub fn send_with_fds<T: Serialize>(&self, msg: &T, fds: &[RawFd]) -> Result<(), ProtocolError> {
        let frame = encode(msg);
        let mut sent = 0;
        while sent < frame.len() {
            let iov = [IoSlice::new(&frame[sent..])];
            let cmsgs: Vec<ControlMessage> = if sent == 0 && !fds.is_empty() {
                vec![ControlMessage::ScmRights(fds)]
            } else {
                Vec::new()
            };
            let n = match sendmsg::<()>(
                self.stream.as_raw_fd(),
                &iov,
                &cmsgs,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(std::io::Error::from(e).into()),
            };
            sent += n;
        }
        Ok(())
    }

    /// Receives one frame and the descriptors that came with it.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<(T, Vec<OwnedFd>), ProtocolError> {
        let mut fds = Vec::new();
        let mut len = [0u8; 4];
        self.read_exact(&mut len, &mut fds)?;
        let n = u32::from_le_bytes(len) as usize;
        if n > MAX_FRAME {
            return Err(ProtocolError::TooLarge(n));
        }
        let mut body = vec![0u8; n];
        self.read_exact(&mut body, &mut fds)?;
        Ok((decode(&body)?, fds))
    }

    fn read_exact(&self, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> Result<(), ProtocolError> {
        let mut got = 0;
        while got < buf.len() {
            let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS]);
            let mut iov = [IoSliceMut::new(&mut buf[got..])];
            let msg = match recvmsg::<()>(
                self.stream.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(m) => m,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(std::io::Error::from(e).into()),
            };
            let n = msg.bytes;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::ScmRights(rs) = c {
                        for r in rs {
                            // SAFETY: the kernel just installed `r` in our table for us; nobody else owns it.
                            fds.push(unsafe { OwnedFd::from_raw_fd(r) });
                        }
                    }
                }
            }
            if n == 0 {
                return Err(ProtocolError::Closed);
            }
            got += n;
        }
        Ok(())
    }

    pub fn try_clone(&self) -> std::io::Result<Conn> {
        Ok(Conn {
            stream: self.stream.try_clone()?,
        })
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.stream.as_fd()
    }
}
