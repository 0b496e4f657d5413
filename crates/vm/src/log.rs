//! The VM log, the counterpart of the utility VM's dmesg: what ExecuteBinary
//! processes (and the VM's init) write to stderr, kept in a size-capped file.
//!
//! Processes write into a pipe; a logger thread in the caller copies it to the
//! file and rotates to `<log>.1` when the next write would pass the cap, so the
//! log never takes more than twice the cap on disk.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::error::VmError;

/// A size-capped log file with one rotated generation.
pub struct CappedLog {
    path: PathBuf,
    cap: u64,
    file: File,
    size: u64,
}

impl CappedLog {
    /// Opens (appends to) `path`.
    pub fn open(path: &Path, cap: u64) -> std::io::Result<CappedLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(CappedLog {
            path: path.to_owned(),
            cap: cap.max(1),
            file,
            size,
        })
    }

    /// The path of the rotated generation.
    pub fn rotated_path(path: &Path) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(".1");
        PathBuf::from(name)
    }

    /// Appends `data`, rotating first when it would pass the cap.
    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.size > 0 && self.size + data.len() as u64 > self.cap {
            std::fs::rename(&self.path, Self::rotated_path(&self.path))?;
            self.file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&self.path)?;
            self.size = 0;
        }
        // A single write larger than the cap keeps only its tail.
        let data = if data.len() as u64 > self.cap {
            &data[data.len() - self.cap as usize..]
        } else {
            data
        };
        self.file.write_all(data)?;
        self.size += data.len() as u64;
        Ok(())
    }
}

/// The running logger: the write end processes get as stderr, and the thread.
pub(crate) struct VmLog {
    stop: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
}

impl VmLog {
    /// Opens the log and starts the logger thread; returns the pipe's write end.
    pub(crate) fn start(path: &Path, cap: u64) -> Result<(VmLog, OwnedFd), VmError> {
        let mut log = CappedLog::open(path, cap)
            .map_err(|e| VmError::io(format!("opening the VM log {}", path.display()), e))?;
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| VmError::io("creating the VM log pipe", e.into()))?;
        let stop = Arc::new(
            EventFd::from_flags(EfdFlags::EFD_CLOEXEC)
                .map_err(|e| VmError::io("creating the VM log eventfd", e.into()))?,
        );
        let stop_for_thread = stop.clone();
        let thread = std::thread::Builder::new()
            .name("wslp-vm-log".into())
            .spawn(move || pump(read, &stop_for_thread, &mut log))
            .map_err(|e| VmError::io("starting the VM log thread", e))?;
        Ok((
            VmLog {
                stop,
                thread: Some(thread),
            },
            write,
        ))
    }

    /// Copies what is left in the pipe and ends the thread. Call once every
    /// process that could write to the log is gone.
    pub(crate) fn stop(mut self) {
        let _ = self.stop.write(1);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn pump(read: OwnedFd, stop: &EventFd, log: &mut CappedLog) {
    let mut buf = vec![0u8; 64 * 1024];
    fn copy(log: &mut CappedLog, data: &[u8]) {
        if let Err(e) = log.write(data) {
            tracing::warn!(path = %log.path.display(), error = %e, "cannot write the VM log");
        }
    }
    loop {
        let mut fds = [
            PollFd::new(read.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
        let data = fds[0].revents().unwrap_or(PollFlags::empty());
        let stopping = fds[1]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        if stopping {
            // Drain what is buffered without waiting for writers that may linger.
            let _ = nix::fcntl::fcntl(
                read.as_raw_fd(),
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            );
        }
        if stopping || data.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
            loop {
                match nix::unistd::read(read.as_raw_fd(), &mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        copy(log, &buf[..n]);
                        if !stopping {
                            break;
                        }
                    }
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => {
                        if stopping {
                            return;
                        }
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_past_the_cap_and_keeps_one_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vm.log");
        let mut log = CappedLog::open(&path, 10).unwrap();
        log.write(b"12345").unwrap();
        log.write(b"67890").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"1234567890");
        log.write(b"abc").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        assert_eq!(
            std::fs::read(CappedLog::rotated_path(&path)).unwrap(),
            b"1234567890"
        );
        log.write(b"0123456789xyz").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"3456789xyz");
    }

    #[test]
    fn the_logger_copies_the_pipe_into_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/vm.log");
        let (log, write) = VmLog::start(&path, 1 << 20).unwrap();
        let mut w = File::from(write);
        w.write_all(b"hello from the vm\n").unwrap();
        drop(w);
        log.stop();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello from the vm\n");
    }
}
