//! WSLC (SPEC §11, WSL 2.9): the session a WSLC hook runs for, the container
//! and image the hooks describe, and the calls that act on a session's VM.
//! Linux (wslp) only in this SDK.
//!
//! ```no_run
//! use wslp_sdk::{wslc::{Container, WslcSession}, Api, Error, Plugin, Result};
//!
//! struct Policy;
//! impl Plugin for Policy {
//!     fn new(_api: Api) -> Result<Self> {
//!         Ok(Policy)
//!     }
//!     fn on_container_started(&self, _s: &WslcSession<'_>, c: &Container) -> Result<()> {
//!         if c.label("example/deny") == Some("true") {
//!             return Err(Error::with_message(
//!                 wslp_sdk::hresult::E_ACCESSDENIED,
//!                 format!("container {} is denied", c.name()),
//!             ));
//!         }
//!         Ok(())
//!     }
//! }
//! ```

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::api::Api;
use crate::error::{Error, Result};
use crate::ffi::host::{RawProcess, RawWslcSession};
use crate::version::Version;
use crate::wide::to_wide;
use wslp_abi::hresult::{self, E_INVALIDARG, E_NOTIMPL};

/// The WSLC session a hook runs for (`WSLCSessionInformation`).
pub struct WslcSession<'a> {
    raw: RawWslcSession<'a>,
}

impl<'a> WslcSession<'a> {
    /// Wraps the host's struct.
    pub fn from_raw(raw: &'a wslp_abi::types::WSLCSessionInformation) -> Self {
        WslcSession {
            raw: RawWslcSession { raw },
        }
    }

    /// The session id (`WSLCSessionId`); the WSLC calls take it.
    pub fn id(&self) -> u32 {
        self.raw.raw.SessionId
    }

    /// The session's name (`DisplayName`).
    pub fn name(&self) -> String {
        self.raw.name().unwrap_or_default()
    }

    /// The pid of the client that created the session.
    pub fn application_pid(&self) -> u32 {
        self.raw.raw.ApplicationPid
    }
}

impl std::fmt::Debug for WslcSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WslcSession")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish()
    }
}

fn str_field<'v>(v: &'v serde_json::Value, path: &[&str]) -> &'v str {
    path.iter()
        .fold(v, |v, k| v.get(k).unwrap_or(&serde_json::Value::Null))
        .as_str()
        .unwrap_or("")
}

fn labels(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// A container as ContainerStarted describes it (wslc_schema's InspectContainer).
#[derive(Debug, Clone)]
pub struct Container {
    json: serde_json::Value,
    labels: BTreeMap<String, String>,
}

impl Container {
    /// Parses the host's JSON.
    pub fn parse(json: &str) -> Result<Container> {
        let json: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| Error::with_message(E_INVALIDARG, format!("InspectContainer: {e}")))?;
        let labels = labels(json.get("Labels").unwrap_or(&serde_json::Value::Null));
        Ok(Container { json, labels })
    }

    /// The container's full id.
    pub fn id(&self) -> &str {
        str_field(&self.json, &["Id"])
    }

    /// Its name, without Docker's leading `/`.
    pub fn name(&self) -> &str {
        str_field(&self.json, &["Name"])
    }

    /// The image it was created from, as given (`bb:1`).
    pub fn image(&self) -> &str {
        str_field(&self.json, &["Image"])
    }

    /// Whether it was running when the hook was called.
    pub fn running(&self) -> bool {
        self.json["State"]["Running"].as_bool().unwrap_or(false)
    }

    /// Its labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// One label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// The whole document, for fields without an accessor.
    pub fn json(&self) -> &serde_json::Value {
        &self.json
    }
}

/// An image as ImageCreated describes it (wslc_schema's InspectImage).
#[derive(Debug, Clone)]
pub struct Image {
    json: serde_json::Value,
}

impl Image {
    /// Parses the host's JSON.
    pub fn parse(json: &str) -> Result<Image> {
        let json = serde_json::from_str(json)
            .map_err(|e| Error::with_message(E_INVALIDARG, format!("InspectImage: {e}")))?;
        Ok(Image { json })
    }

    /// The image id (`sha256:…`).
    pub fn id(&self) -> &str {
        str_field(&self.json, &["Id"])
    }

    /// `name:tag` of each tag.
    pub fn repo_tags(&self) -> Vec<&str> {
        self.json["RepoTags"]
            .as_array()
            .map(|a| a.iter().filter_map(|t| t.as_str()).collect())
            .unwrap_or_default()
    }

    /// The labels of its configuration.
    pub fn labels(&self) -> BTreeMap<String, String> {
        labels(&self.json["Config"]["Labels"])
    }

    /// The whole document.
    pub fn json(&self) -> &serde_json::Value {
        &self.json
    }
}

/// A process WSLCCreateProcess started: its stdin, stdout and stderr (each
/// once), its exit event and exit code. Dropping it releases the handle;
/// the process goes on.
pub struct WslcProcess {
    raw: RawProcess,
}

impl std::fmt::Debug for WslcProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WslcProcess").finish_non_exhaustive()
    }
}

impl WslcProcess {
    fn stream(&self, fd: u32, name: &str) -> Result<UnixStream> {
        self.raw
            .take_fd(fd)
            .map(UnixStream::from)
            .map_err(|hr| Error::with_message(hr, format!("WSLCProcessGetFd({name})")))
    }

    /// Its stdin (once).
    pub fn stdin(&self) -> Result<UnixStream> {
        self.stream(0, "stdin")
    }

    /// Its stdout (once).
    pub fn stdout(&self) -> Result<UnixStream> {
        self.stream(1, "stdout")
    }

    /// Its stderr (once).
    pub fn stderr(&self) -> Result<UnixStream> {
        self.stream(2, "stderr")
    }

    /// A new descriptor that polls readable once the process exited.
    pub fn exit_event(&self) -> Result<OwnedFd> {
        self.raw
            .exit_event()
            .map_err(|hr| Error::with_message(hr, "WSLCProcessGetExitEvent"))
    }

    /// Its exit code (128 + the signal when one ended it, 137 when the VM
    /// went away), or `None` while it runs.
    pub fn exit_code(&self) -> Result<Option<i32>> {
        match self.raw.exit_code() {
            (hr, code) if hr >= 0 => Ok(Some(code)),
            (hr, _) if hr == hresult::hresult_from_win32(hresult::win32::ERROR_INVALID_STATE) => {
                Ok(None)
            }
            (hr, _) => Err(Error::with_message(hr, "WSLCProcessGetExitCode")),
        }
    }

    /// Waits up to `timeout` (`None`: for ever) for it to exit; its exit
    /// code, or `None` when the time ran out.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<Option<i32>> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let ev = self.exit_event()?;
        let ms = match timeout {
            None => PollTimeout::NONE,
            Some(t) => PollTimeout::try_from(t.as_millis().min(i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX),
        };
        loop {
            let mut fds = [PollFd::new(ev.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, ms) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    return Err(Error::with_message(
                        hresult::E_FAIL,
                        format!("waiting for the WSLC process: {e}"),
                    ))
                }
                Ok(0) => return Ok(None),
                Ok(_) => return self.exit_code(),
            }
        }
    }
}

fn not_there(api: &Api, call: &str) -> Error {
    Error::with_message(
        E_NOTIMPL,
        format!(
            "{call} needs WSL API {} or newer; the host implements {}",
            Version::WSLC_API,
            api.version()
        ),
    )
}

fn check(hr: i32, what: impl FnOnce() -> String) -> Result<()> {
    if hr < 0 {
        Err(Error::with_message(hr, what()))
    } else {
        Ok(())
    }
}

fn c(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::with_message(E_INVALIDARG, format!("{what} contains NUL")))
}

impl Api {
    /// Binds the host folder `host_path` at `mountpoint` in the session VM's
    /// root namespace (`WSLCMountFolder`); the mount goes with the VM.
    pub fn wslc_mount_folder(
        &self,
        session: u32,
        host_path: impl AsRef<Path>,
        mountpoint: &str,
        read_only: bool,
    ) -> Result<()> {
        let host = host_path.as_ref();
        let what = || format!("WSLCMountFolder('{}' -> '{mountpoint}')", host.display());
        let w = self
            .raw_wslc()
            .ok_or_else(|| not_there(self, "WSLCMountFolder"))?;
        let host_w = to_wide(&host.to_string_lossy())
            .ok_or_else(|| Error::with_message(E_INVALIDARG, what()))?;
        let hr = w
            .mount_folder(session, &host_w, &c(mountpoint, "mountpoint")?, read_only)
            .ok_or_else(|| not_there(self, "WSLCMountFolder"))?;
        check(hr, what)
    }

    /// Undoes a [`wslc_mount_folder`](Self::wslc_mount_folder) (`WSLCUnmountFolder`).
    pub fn wslc_unmount_folder(&self, session: u32, mountpoint: &str) -> Result<()> {
        let w = self
            .raw_wslc()
            .ok_or_else(|| not_there(self, "WSLCUnmountFolder"))?;
        let hr = w
            .unmount_folder(session, &c(mountpoint, "mountpoint")?)
            .ok_or_else(|| not_there(self, "WSLCUnmountFolder"))?;
        check(hr, || format!("WSLCUnmountFolder('{mountpoint}')"))
    }

    /// Starts `executable` as root in the session VM's root namespace, not
    /// in a container (`WSLCCreateProcess`): `args` are its whole argv,
    /// `env` its whole environment (`KEY=VALUE`). A program that cannot be
    /// started gives `E_FAIL` with the errno in the message.
    pub fn wslc_create_process(
        &self,
        session: u32,
        executable: &str,
        args: &[&str],
        env: &[&str],
    ) -> Result<WslcProcess> {
        let w = self
            .raw_wslc()
            .ok_or_else(|| not_there(self, "WSLCCreateProcess"))?;
        let argv = args
            .iter()
            .map(|a| c(a, "an argument"))
            .collect::<Result<Vec<_>>>()?;
        let envv = env
            .iter()
            .map(|e| c(e, "an environment entry"))
            .collect::<Result<Vec<_>>>()?;
        let (hr, errno, process) = w
            .create_process(session, &c(executable, "executable")?, &argv, &envv)
            .ok_or_else(|| not_there(self, "WSLCCreateProcess"))?;
        match process {
            Some(raw) if hr >= 0 => Ok(WslcProcess { raw }),
            _ => Err(Error::with_message(
                if hr < 0 { hr } else { hresult::E_UNEXPECTED },
                if errno > 0 {
                    format!(
                        "WSLCCreateProcess('{executable}'): {}",
                        std::io::Error::from_raw_os_error(errno)
                    )
                } else {
                    format!("WSLCCreateProcess('{executable}')")
                },
            )),
        }
    }
}
