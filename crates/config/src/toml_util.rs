//! Shared helpers for the two TOML files: line numbers for errors and warnings.

use std::path::Path;

use crate::ConfigError;

/// 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Parses `text` keeping spans, so values can be reported by line.
pub(crate) fn parse_spanned(
    text: &str,
    path: &Path,
) -> Result<toml_edit::ImDocument<String>, ConfigError> {
    toml_edit::ImDocument::parse(text.to_string()).map_err(|e| ConfigError::Malformed {
        path: path.to_path_buf(),
        line: e.span().map(|s| line_of(text, s.start)).unwrap_or(1),
        message: e.message().trim_end().to_string(),
    })
}

/// Line of an item, when the parser kept its span.
pub(crate) fn item_line(text: &str, item: &toml_edit::Item) -> Option<usize> {
    item.span().map(|s| line_of(text, s.start))
}

/// Line of a key, when the parser kept its span.
pub(crate) fn key_line(text: &str, key: &toml_edit::Key) -> Option<usize> {
    key.span().map(|s| line_of(text, s.start))
}

/// Reads a file, `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, ConfigError> {
    Ok(read_checked(path)?.map(|(text, _)| text))
}

/// Who owns a state file and its mode, from the descriptor it was read through.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner {
    pub uid: u32,
    pub mode: u32,
}

/// Reads a state file through one descriptor: opened without following a
/// symlink, checked to be a regular file with `fstat` on that descriptor, then
/// read from it, so what is checked (owner, mode) is what is read. `None` when
/// it does not exist.
pub(crate) fn read_checked(path: &Path) -> Result<Option<(String, Owner)>, ConfigError> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_o_nofollow())
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(ConfigError::NotARegularFile {
                path: path.to_path_buf(),
                what: "a symbolic link",
            })
        }
        Err(e) => return Err(ConfigError::io("read", path, e)),
    };
    let meta = f.metadata().map_err(|e| ConfigError::io("stat", path, e))?;
    if !meta.is_file() {
        return Err(ConfigError::NotARegularFile {
            path: path.to_path_buf(),
            what: "not a regular file",
        });
    }
    let mut text = String::new();
    f.read_to_string(&mut text)
        .map_err(|e| ConfigError::io("read", path, e))?;
    Ok(Some((
        text,
        Owner {
            uid: meta.uid(),
            mode: meta.mode(),
        },
    )))
}

fn libc_o_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// For the system instance (the service runs as root): a state file that
/// someone other than root owns, or that group or others may write, could
/// have been changed by anyone; it is refused, with the fix.
pub(crate) fn check_root_only(path: &Path, owner: Owner) -> Result<(), ConfigError> {
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    if owner.uid != 0 || owner.mode & 0o022 != 0 {
        return Err(ConfigError::NotRootOnly {
            path: path.to_path_buf(),
            uid: owner.uid,
            mode: owner.mode & 0o7777,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
        assert_eq!(line_of("a\nb\nc", 100), 3);
    }

    #[test]
    fn malformed_names_file_and_line() {
        let err = parse_spanned("[plugins]\nA = \"x\"\nB = \n", Path::new("/r/plugins.toml"))
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("/r/plugins.toml:3: "), "{text}");
    }
}
