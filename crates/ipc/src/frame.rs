//! The one framing codec of wslp's Unix stream sockets, with descriptor passing.
//!
//! Both the service socket (`wslpd.sock`, [`crate::conn`]) and the plugin-host
//! sockets (`wslp-host`) carry frames: a little-endian `u32` length, then that
//! many bytes. Descriptors travel as `SCM_RIGHTS` with a frame's first byte,
//! and only there: the sender attaches them to the `sendmsg` that starts the
//! frame, and the kernel hands them out with the first `recvmsg` that reads
//! from it. A peer that sends descriptors anywhere else, more than the
//! receiver's limit, or more than fit the control buffer (`MSG_CTRUNC`) is
//! refused with an error and every descriptor of the frame is closed: a
//! connection cannot make the receiver hold descriptors it did not ask for.
//!
//! A receiver never trusts the length: above its limit the frame is refused
//! before anything is allocated. Every error leaves the stream out of step,
//! so the caller drops the connection.
//!
//! `sendmsg`/`recvmsg` are rustix's safe wrappers, which hand received
//! descriptors out as `OwnedFd`s: this module needs no `unsafe`.

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Instant;

/// The most descriptors any frame of wslp carries, and so the size of the
/// control buffer: a frame with more is truncated by the kernel (which closes
/// the excess) and refused here.
pub const FD_CAPACITY: usize = 4;

/// What a receiver accepts in one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes after the length prefix.
    pub max_len: usize,
    /// Descriptors (at most [`FD_CAPACITY`]).
    pub max_fds: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the peer closed the connection")]
    Closed,
    #[error("a frame of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("a frame carried more than {max} descriptors")]
    TooManyFds { max: usize },
    #[error("descriptors arrived after the first byte of a frame")]
    StrayFds,
    #[error("the peer sent part of a frame and then nothing in time")]
    TimedOut,
    #[error("socket error: {0}")]
    Io(io::Error),
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// Sends `body` as one frame with `fds` beside it. Never raises SIGPIPE: a
/// peer that went away is [`FrameError::Closed`].
pub fn send(sock: BorrowedFd<'_>, body: &[u8], fds: &[BorrowedFd<'_>]) -> Result<(), FrameError> {
    let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge {
        len: body.len(),
        max: u32::MAX as usize,
    })?;
    if fds.len() > FD_CAPACITY {
        return Err(FrameError::TooManyFds { max: FD_CAPACITY });
    }
    let header = len.to_le_bytes();
    let total = header.len() + body.len();
    let mut sent = 0;
    while sent < total {
        // The part of header and body not sent yet.
        let (h, b) = if sent < header.len() {
            (&header[sent..], body)
        } else {
            (&header[..0], &body[sent - header.len()..])
        };
        let iov = [IoSlice::new(h), IoSlice::new(b)];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(FD_CAPACITY))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if sent == 0 && !fds.is_empty() {
            // Cannot fail: the buffer is sized for FD_CAPACITY descriptors.
            control.push(SendAncillaryMessage::ScmRights(fds));
        }
        match rustix::net::sendmsg(sock, &iov, &mut control, SendFlags::NOSIGNAL) {
            Ok(n) => sent += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::PIPE | rustix::io::Errno::CONNRESET) => {
                return Err(FrameError::Closed)
            }
            Err(e) => return Err(io::Error::from(e).into()),
        }
    }
    Ok(())
}

/// Receives one frame into `buf` (resized to the body) and the descriptors
/// that came with it, waiting for the whole frame, until `deadline` if given.
pub fn recv(
    sock: BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    limits: Limits,
    deadline: Option<Instant>,
) -> Result<Vec<OwnedFd>, FrameError> {
    Reader::new(sock, limits, deadline).frame(buf, RecvFlags::empty())
}

/// [`recv`] without waiting for a frame to begin: `Ok(None)` when no byte of
/// one is there yet. Once one is, the rest is waited for as [`recv`] does.
pub fn try_recv(
    sock: BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    limits: Limits,
    deadline: Option<Instant>,
) -> Result<Option<Vec<OwnedFd>>, FrameError> {
    match Reader::new(sock, limits, deadline).frame(buf, RecvFlags::DONTWAIT) {
        Ok(fds) => Ok(Some(fds)),
        Err(FrameError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// One frame being read.
struct Reader<'a> {
    sock: BorrowedFd<'a>,
    limits: Limits,
    deadline: Option<Instant>,
    fds: Vec<OwnedFd>,
    /// Whether a `recvmsg` of this frame has returned bytes yet.
    started: bool,
}

impl<'a> Reader<'a> {
    fn new(sock: BorrowedFd<'a>, limits: Limits, deadline: Option<Instant>) -> Self {
        Reader {
            sock,
            limits,
            deadline,
            fds: Vec::new(),
            started: false,
        }
    }

    /// `first_flags` apply to the frame's first `recvmsg` only.
    fn frame(
        mut self,
        buf: &mut Vec<u8>,
        first_flags: RecvFlags,
    ) -> Result<Vec<OwnedFd>, FrameError> {
        let mut header = [0u8; 4];
        self.fill(&mut header, first_flags)?;
        let len = u32::from_le_bytes(header) as usize;
        if len > self.limits.max_len {
            return Err(FrameError::TooLarge {
                len,
                max: self.limits.max_len,
            });
        }
        buf.clear();
        buf.resize(len, 0);
        self.fill(buf, RecvFlags::empty())?;
        Ok(self.fds)
    }

    fn fill(&mut self, dst: &mut [u8], mut flags: RecvFlags) -> Result<(), FrameError> {
        let mut got = 0;
        while got < dst.len() {
            if self.started {
                self.wait_readable()?;
            }
            got += self.read_some(&mut dst[got..], flags)?;
            flags = RecvFlags::empty();
        }
        Ok(())
    }

    /// Blocks until the socket is readable or the deadline passes. Between
    /// the chunks of one frame only: a peer that stops mid-frame cannot hold
    /// the reader past its deadline.
    fn wait_readable(&self) -> Result<(), FrameError> {
        let Some(deadline) = self.deadline else {
            return Ok(());
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(FrameError::TimedOut);
            }
            let timeout =
                rustix::event::Timespec::try_from(left).unwrap_or(rustix::event::Timespec {
                    tv_sec: i64::MAX,
                    tv_nsec: 0,
                });
            let mut fds = [rustix::event::PollFd::new(
                &self.sock,
                rustix::event::PollFlags::IN,
            )];
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                Ok(0) => continue,
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(io::Error::from(e).into()),
            }
        }
    }

    fn read_some(&mut self, dst: &mut [u8], flags: RecvFlags) -> Result<usize, FrameError> {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(FD_CAPACITY))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let msg = loop {
            let mut iov = [IoSliceMut::new(dst)];
            match rustix::net::recvmsg(
                self.sock,
                &mut iov,
                &mut control,
                RecvFlags::CMSG_CLOEXEC | flags,
            ) {
                Ok(m) => break m,
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::CONNRESET) => return Err(FrameError::Closed),
                Err(e) => return Err(io::Error::from(e).into()),
            }
        };
        let mut arrived = 0;
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = m {
                for fd in fds {
                    arrived += 1;
                    // Owned from here: closed with the frame if it is refused.
                    self.fds.push(fd);
                }
            }
        }
        if arrived > 0 && self.started {
            return Err(FrameError::StrayFds);
        }
        if msg.flags.contains(ReturnFlags::CTRUNC) || self.fds.len() > self.limits.max_fds {
            return Err(FrameError::TooManyFds {
                max: self.limits.max_fds,
            });
        }
        if msg.bytes == 0 {
            return Err(FrameError::Closed);
        }
        self.started = true;
        Ok(msg.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, AsRawFd};
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    const LIMITS: Limits = Limits {
        max_len: 1024,
        max_fds: 3,
    };

    fn pair() -> (UnixStream, UnixStream) {
        UnixStream::pair().unwrap()
    }

    /// Sends raw bytes with descriptors in one `sendmsg`, bypassing the framing.
    fn raw_send(sock: &UnixStream, bytes: &[u8], fds: &[BorrowedFd<'_>]) {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() {
            assert!(control.push(SendAncillaryMessage::ScmRights(fds)));
        }
        let n = rustix::net::sendmsg(
            sock,
            &[IoSlice::new(bytes)],
            &mut control,
            SendFlags::empty(),
        )
        .unwrap();
        assert_eq!(n, bytes.len());
    }

    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }

    #[test]
    fn frames_round_trip_with_their_descriptors() {
        let (a, b) = pair();
        let (x, _y) = pair();
        send(a.as_fd(), b"hello", &[x.as_fd(), x.as_fd()]).unwrap();
        send(a.as_fd(), b"", &[]).unwrap();
        let mut buf = Vec::new();
        let fds = recv(b.as_fd(), &mut buf, LIMITS, None).unwrap();
        assert_eq!(buf, b"hello");
        assert_eq!(fds.len(), 2);
        assert_ne!(fds[0].as_raw_fd(), x.as_raw_fd());
        assert!(recv(b.as_fd(), &mut buf, LIMITS, None).unwrap().is_empty());
        assert!(buf.is_empty());
        drop(a);
        assert!(matches!(
            recv(b.as_fd(), &mut buf, LIMITS, None),
            Err(FrameError::Closed)
        ));
    }

    #[test]
    fn a_frame_sent_in_pieces_is_reassembled() {
        let (a, b) = pair();
        let (x, _y) = pair();
        let mut bytes = 3u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        raw_send(&a, &bytes[..1], &[x.as_fd()]);
        for i in 1..bytes.len() {
            raw_send(&a, &bytes[i..i + 1], &[]);
        }
        let mut buf = Vec::new();
        let fds = recv(b.as_fd(), &mut buf, LIMITS, None).unwrap();
        assert_eq!((buf.as_slice(), fds.len()), (&b"abc"[..], 1));
    }

    #[test]
    fn descriptors_after_the_first_byte_are_refused_and_closed() {
        let (a, b) = pair();
        let (x, _y) = pair();
        let before = open_fds();
        raw_send(&a, &[5], &[x.as_fd()]);
        for _ in 0..4 {
            raw_send(&a, &[0], &[x.as_fd(), x.as_fd(), x.as_fd()]);
        }
        let mut buf = Vec::new();
        assert!(matches!(
            recv(b.as_fd(), &mut buf, LIMITS, None),
            Err(FrameError::StrayFds)
        ));
        assert_eq!(open_fds(), before, "every received descriptor closed");
    }

    #[test]
    fn too_many_descriptors_are_refused_and_closed() {
        let (a, b) = pair();
        let (x, _y) = pair();
        let before = open_fds();
        // Over the receiver's limit, and over the control buffer's capacity.
        for n in [4, 8] {
            let mut frame = 1u32.to_le_bytes().to_vec();
            frame.push(0);
            raw_send(&a, &frame, &vec![x.as_fd(); n]);
            let mut buf = Vec::new();
            assert!(matches!(
                recv(b.as_fd(), &mut buf, LIMITS, None),
                Err(FrameError::TooManyFds { max: 3 })
            ));
            // The frame's byte is still there: the stream is out of step.
            let mut rest = [0u8; 1];
            std::io::Read::read_exact(&mut &b, &mut rest).unwrap();
        }
        assert_eq!(open_fds(), before);
        assert!(matches!(
            send(a.as_fd(), b"x", &[x.as_fd(); FD_CAPACITY + 1]),
            Err(FrameError::TooManyFds { .. })
        ));
    }

    #[test]
    fn a_length_over_the_limit_is_refused_before_reading_the_body() {
        let (a, b) = pair();
        raw_send(&a, &u32::MAX.to_le_bytes(), &[]);
        let mut buf = Vec::new();
        match recv(b.as_fd(), &mut buf, LIMITS, None) {
            Err(FrameError::TooLarge { len, max: 1024 }) => assert_eq!(len, u32::MAX as usize),
            other => panic!("{other:?}"),
        }
        assert!(buf.capacity() < 1024 * 1024);
    }

    #[test]
    fn a_peer_that_stops_mid_frame_is_given_up_at_the_deadline() {
        let (a, b) = pair();
        raw_send(&a, &10u32.to_le_bytes(), &[]);
        raw_send(&a, b"abc", &[]);
        let mut buf = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(20);
        assert!(matches!(
            recv(b.as_fd(), &mut buf, LIMITS, Some(deadline)),
            Err(FrameError::TimedOut)
        ));
    }

    #[test]
    fn try_recv_returns_none_until_a_frame_begins() {
        let (a, b) = pair();
        let mut buf = Vec::new();
        assert!(try_recv(b.as_fd(), &mut buf, LIMITS, None)
            .unwrap()
            .is_none());
        send(a.as_fd(), b"later", &[]).unwrap();
        let fds = try_recv(b.as_fd(), &mut buf, LIMITS, None).unwrap();
        assert_eq!(
            (buf.as_slice(), fds.map(|f| f.len())),
            (&b"later"[..], Some(0))
        );
    }

    #[test]
    fn sending_to_a_closed_peer_is_closed_not_sigpipe() {
        let (a, b) = pair();
        drop(b);
        assert!(matches!(
            send(a.as_fd(), b"x", &[]),
            Err(FrameError::Closed)
        ));
    }

    #[test]
    fn a_large_frame_crosses_the_socket_buffer() {
        let (a, b) = pair();
        let body: Vec<u8> = (0..4 << 20).map(|i| i as u8).collect();
        let expected = body.clone();
        let t = std::thread::spawn(move || send(a.as_fd(), &body, &[]).unwrap());
        let mut buf = Vec::new();
        let limits = Limits {
            max_len: 8 << 20,
            max_fds: 0,
        };
        recv(b.as_fd(), &mut buf, limits, None).unwrap();
        t.join().unwrap();
        assert!(buf == expected);
    }

    proptest::proptest! {
        /// Whatever bytes a peer sends, the reader answers with a frame or an
        /// error, never a panic or an allocation beyond its limit.
        #[test]
        fn any_bytes_are_a_frame_or_an_error(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let (a, b) = pair();
            if !bytes.is_empty() {
                raw_send(&a, &bytes, &[]);
            }
            drop(a);
            let mut buf = Vec::new();
            let limits = Limits { max_len: 16, max_fds: 0 };
            match recv(b.as_fd(), &mut buf, limits, None) {
                Ok(_) => proptest::prop_assert!(buf.len() <= 16 && bytes.len() >= 4 + buf.len()),
                Err(FrameError::Closed | FrameError::TooLarge { .. }) => {}
                Err(e) => proptest::prop_assert!(false, "{e}"),
            }
        }
    }
}
