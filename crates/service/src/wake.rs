//! The idle policy's alarm clock: its thread sleeps until something that can
//! make the service idle happens (a command or request ends, a client leaves,
//! a process in a distribution exits) or until a timer it actually needs runs
//! out. Nothing wakes it on a fixed interval.

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

pub struct Wake(EventFd);

impl Wake {
    pub fn new() -> std::io::Result<Wake> {
        EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map(Wake)
            .map_err(std::io::Error::from)
    }

    /// Makes the sleeping (or next) [`Wake::sleep`] return.
    pub fn wake(&self) {
        // Fails only when the counter is full, which wakes the sleeper all the same.
        let _ = self.0.write(1);
    }

    /// Sleeps until [`Wake::wake`], until one of `watch` becomes readable (a
    /// pidfd whose process exited), or until `until`; whichever comes first.
    pub fn sleep(&self, until: Option<Instant>, watch: &[OwnedFd]) {
        let timeout = match until {
            None => PollTimeout::NONE,
            Some(t) => {
                // Rounded up: waking a little early would only mean a second sleep.
                let left = t.saturating_duration_since(Instant::now());
                let ms = left.as_micros().div_ceil(1000);
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds: Vec<PollFd<'_>> = std::iter::once(self.0.as_fd())
            .chain(watch.iter().map(|f| f.as_fd()))
            .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
            .collect();
        let _ = poll(&mut fds, timeout);
        // EAGAIN when it was not us that woke: fine.
        let _ = self.0.read();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_wake_before_the_sleep_is_not_lost() {
        let w = Wake::new().unwrap();
        w.wake();
        let t = Instant::now();
        w.sleep(None, &[]);
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_sleep_ends_at_its_deadline_and_when_a_watched_descriptor_is_ready() {
        let w = Wake::new().unwrap();
        let until = Instant::now() + Duration::from_millis(30);
        w.sleep(Some(until), &[]);
        assert!(Instant::now() >= until);
        let (r, wr) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&wr, b"x").unwrap();
        w.sleep(None, &[r]);
    }
}
