//! The one error type of this crate. Every message is one line that says what
//! failed, where, and what the user can do about it.

use std::io;
use std::path::PathBuf;

use uuid::Uuid;

/// Errors of the distribution store, the importer and the rootfs readers.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum DistroError {
    /// The name breaks WSL's naming rules.
    #[error("invalid distribution name '{name}': {reason}; use letters, digits, '.', '_' and '-' (at most {max} characters)", max = crate::name::MAX_NAME_LEN)]
    InvalidName { name: String, reason: &'static str },

    /// A distribution with this name (compared case-insensitively) exists.
    #[error("a distribution named '{name}' already exists; choose another name or run `wslp --unregister {name}`")]
    AlreadyExists { name: String },

    /// No distribution with this name.
    #[error("there is no distribution with the supplied name '{name}'; run `wslp --list` to see registered distributions")]
    NotFound { name: String },

    /// No distribution with this GUID.
    #[error("there is no distribution with the id {{{id}}}; run `wslp --list --verbose` to see registered distributions")]
    IdNotFound { id: Uuid },

    /// The import target directory holds files.
    #[error("the directory '{}' is not empty; import into an empty or new directory", dir.display())]
    DirNotEmpty { dir: PathBuf },

    /// The import target exists and is not a directory.
    #[error("'{}' exists and is not a directory; import into an empty or new directory", dir.display())]
    NotADirectory { dir: PathBuf },

    /// The import target is already the home of a registered distribution.
    #[error("the directory '{}' belongs to the distribution '{owner}'; import into another directory or run `wslp --unregister {owner}` first", dir.display())]
    DirInUse { dir: PathBuf, owner: String },

    /// Another process is importing into the same directory right now.
    #[error("another import into '{}' is in progress; wait for it to finish or import into another directory", dir.display())]
    ImportInProgress { dir: PathBuf },

    /// The path cannot be stored in the registry (TOML strings are UTF-8).
    #[error("the path '{}' is not valid UTF-8; choose a directory whose name is UTF-8", path.display())]
    NonUtf8Path { path: PathBuf },

    /// The input is not a tar archive (after decompression, if compressed).
    #[error(
        "{source_name} is not a tarball: {reason}; pass a tar archive (plain, gzip, xz or zstd)"
    )]
    NotATarball { source_name: String, reason: String },

    /// A compression format that is recognised but not supported.
    #[error("{source_name} is compressed with {format}, which wslp does not read; recompress it with gzip, xz or zstd")]
    UnsupportedCompression {
        source_name: String,
        format: &'static str,
    },

    /// The archive is damaged or cut short.
    #[error(
        "{source_name} is damaged or truncated: {reason}; download or export the tarball again"
    )]
    CorruptTarball { source_name: String, reason: String },

    /// An archive member that would write outside the distribution's
    /// directory, or otherwise cannot be extracted safely.
    #[error("{source_name}: refusing entry '{entry}': {reason}; the tarball is unsafe to import")]
    UnsafeEntry {
        source_name: String,
        entry: String,
        reason: String,
    },

    /// Creating one member on disk failed.
    #[error("could not extract '{entry}' from {source_name}: {cause}")]
    Extract {
        source_name: String,
        entry: String,
        cause: io::Error,
    },

    /// A filesystem operation on one of our own files failed.
    #[error("could not {action} '{}': {cause}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: io::Error,
    },

    /// The registry file does not parse.
    #[error("the distribution registry '{}' is malformed at line {line}, column {column}: {message}; fix or remove that line", path.display())]
    RegistrySyntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    /// The registry file parses but its contents make no sense.
    #[error("the distribution registry '{}' is invalid at line {line}: {message}; fix or remove that entry", path.display())]
    RegistryInvalid {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// A user named on the command line is not in the distribution.
    #[error("user '{user}' was not found in {}/etc/passwd; create the user in the distribution or pass another with -u", rootfs.display())]
    UserNotFound { user: String, rootfs: PathBuf },

    /// A directory on the way to a distribution's files could be changed by
    /// someone other than root (see the `storage` module).
    #[error("the distribution's directory '{}' is not safe: '{}' {reason}; keep distributions under directories only root can change (for example /var/lib/wslp/distros), or give that directory to root with no write access for group and others", path.display(), dir.display())]
    UnsafeStorage {
        path: PathBuf,
        dir: PathBuf,
        reason: String,
    },

    /// The distribution was unregistered, but some of its files remain.
    #[error("the distribution '{name}' was unregistered, but its files could not all be removed from '{}': {cause}; delete that directory by hand", path.display())]
    RemoveFiles {
        name: String,
        path: PathBuf,
        cause: io::Error,
    },
}

impl DistroError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, cause: io::Error) -> Self {
        DistroError::Io {
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
        let e = DistroError::io("create", "/d/rootfs", io::Error::from_raw_os_error(28));
        assert_eq!(
            shown(&e),
            "could not create '/d/rootfs': No space left on device (os error 28)"
        );
        let e = DistroError::Extract {
            source_name: "x.tar".into(),
            entry: "etc/passwd".into(),
            cause: io::Error::from_raw_os_error(28),
        };
        assert_eq!(
            shown(&e),
            "could not extract 'etc/passwd' from x.tar: No space left on device (os error 28)"
        );
    }
}
