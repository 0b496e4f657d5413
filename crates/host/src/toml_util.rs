//! Shared helpers for the two TOML files: line numbers for errors and warnings,
//! and the atomic rewrite that registry edits use.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::HostError;

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
) -> Result<toml_edit::ImDocument<String>, HostError> {
    toml_edit::ImDocument::parse(text.to_string()).map_err(|e| HostError::Malformed {
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
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, HostError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(HostError::io("read", path, e)),
    }
}

/// Replaces `path` with `contents` so that a reader sees the old or the new file,
/// never a half-written one, even across a crash: temp file, fsync, rename, fsync dir.
pub(crate) fn write_atomic(path: &Path, contents: &str) -> Result<(), HostError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| HostError::io("create directory", dir, e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp.{}", std::process::id()));
    let result = (|| {
        // 0644: the registry is root's to write and everyone's to read, as HKLM is.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(|e| HostError::io("create", &tmp, e))?;
        f.write_all(contents.as_bytes())
            .map_err(|e| HostError::io("write", &tmp, e))?;
        f.sync_all().map_err(|e| HostError::io("fsync", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| HostError::io("rename into place", path, e))?;
        if let Ok(d) = std::fs::File::open(dir) {
            // Makes the rename itself durable; a failure here leaves a correct file.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
