use std::path::PathBuf;

/// Errors of the registry and settings files. Each names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}:{line}: {message} (fix or remove that line)")]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cannot {action} {path}: {cause}")]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("plugin path '{0}' is not absolute; give the full path to the .so file")]
    RelativePath(PathBuf),
    #[error("a plugin named '{name}' is already registered in {registry}; remove it first")]
    DuplicateName { name: String, registry: PathBuf },
    #[error("no plugin named '{name}' is registered in {registry}")]
    NoSuchPlugin { name: String, registry: PathBuf },
    #[error("invalid plugin name {0:?}: it must be non-empty and without control characters")]
    InvalidName(String),
    #[error("{path} is {what}; wslp reads its state files only as regular files (put the file itself there)")]
    NotARegularFile { path: PathBuf, what: &'static str },
    #[error("{path} is owned by uid {uid} with mode {mode:o}: only root may change the system instance's state (chown root:root {path}; chmod go-w {path})", path = path.display())]
    NotRootOnly { path: PathBuf, uid: u32, mode: u32 },
}

impl ConfigError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        cause: std::io::Error,
    ) -> Self {
        ConfigError::Io {
            action,
            path: path.into(),
            cause,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_printed_once() {
        // A chain printer (anyhow's `{:#}`) adds nothing to the message.
        let shown =
            |e: &dyn std::error::Error| e.source().map_or(e.to_string(), |c| format!("{e}: {c}"));
        let e = ConfigError::io(
            "write",
            "/r/plugins.toml",
            std::io::Error::from_raw_os_error(13),
        );
        assert_eq!(
            shown(&e),
            "cannot write /r/plugins.toml: Permission denied (os error 13)"
        );
    }
}
