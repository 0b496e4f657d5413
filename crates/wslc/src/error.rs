//! What can go wrong starting a session VM or speaking to its engine.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum WslcError {
    #[error("the session VM could not start: {0}")]
    Vm(#[from] wslp_vm::VmError),
    #[error(
        "the container engine is not installed: {program} was not found in /usr/bin or /usr/sbin. \
         Install Debian's docker.io and containerd packages (scripts/setup.sh does)."
    )]
    EngineMissing { program: &'static str },
    #[error("the container engine of the session exited with status {status} before it was ready; the last lines of the session VM log ({log}):\n{tail}")]
    EngineExited {
        status: i32,
        log: PathBuf,
        tail: String,
    },
    #[error("the container engine of the session did not answer within {ms} ms; see the session VM log {log}")]
    EngineTimeout { ms: u64, log: PathBuf },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the container engine refused: {0}")]
    Engine(String),
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    #[error("no such image: {0}")]
    NoSuchImage(String),
}

impl WslcError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        WslcError::Io {
            what: what.into(),
            source,
        }
    }
}

impl From<bollard::errors::Error> for WslcError {
    fn from(e: bollard::errors::Error) -> Self {
        match &e {
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                message,
            } if message.contains("No such container") => {
                WslcError::NoSuchContainer(message.clone())
            }
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                message,
            } if message.contains("No such image") => WslcError::NoSuchImage(message.clone()),
            bollard::errors::Error::DockerResponseServerError { message, .. } => {
                WslcError::Engine(message.clone())
            }
            _ => WslcError::Engine(e.to_string()),
        }
    }
}
