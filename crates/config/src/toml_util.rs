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
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfigError::io("read", path, e)),
    }
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
