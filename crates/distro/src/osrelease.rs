//! `os-release(5)`: the distribution's `ID` and `VERSION_ID`, which WSL hands
//! plugins as the distribution's Flavor and Version.

use std::path::Path;

use crate::fsutil::read_in_root;

/// The two os-release fields plugins see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `ID=`, e.g. `debian`; `None` when the line is missing.
    pub id: Option<String>,
    /// `VERSION_ID=`, e.g. `13`; `None` when the line is missing.
    pub version_id: Option<String>,
}

/// A real os-release is a few hundred bytes; more than this is not one.
const MAX_OS_RELEASE: u64 = 64 * 1024;

/// Reads `<rootfs>/etc/os-release`, falling back to
/// `<rootfs>/usr/lib/os-release` as os-release(5) says. Symlinks (the file is
/// usually `../usr/lib/os-release`, sometimes absolute) are resolved as if
/// `rootfs` were `/`, so they never reach the host's files. A missing or
/// unreadable file gives both fields `None`.
pub fn read_os_release(rootfs: &Path) -> OsRelease {
    for rel in ["etc/os-release", "usr/lib/os-release"] {
        match read_in_root(rootfs, rel, MAX_OS_RELEASE) {
            Ok(Some(bytes)) => return parse_os_release(&String::from_utf8_lossy(&bytes)),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(rootfs = %rootfs.display(), file = rel, error = %e, "os-release not readable");
            }
        }
    }
    OsRelease::default()
}

/// Parses os-release text. The last assignment of a key wins, as when the
/// file is sourced by a shell.
pub fn parse_os_release(text: &str) -> OsRelease {
    let mut out = OsRelease::default();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let Some(value) = unquote(value.trim_end()) else {
            continue;
        };
        match key.trim_end() {
            "ID" => out.id = Some(value),
            "VERSION_ID" => out.version_id = Some(value),
            _ => {}
        }
    }
    out
}

/// Undoes shell quoting as os-release(5) allows it: single quotes (literal),
/// double quotes (where `\` escapes `$`, `"`, `\` and `` ` ``), backslash
/// escapes outside quotes, and adjacent pieces concatenated. `None` for a
/// value with an unterminated quote.
fn unquote(value: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => loop {
                match chars.next()? {
                    '\'' => break,
                    c => out.push(c),
                }
            },
            '"' => loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        c @ ('$' | '"' | '\\' | '`') => out.push(c),
                        '\n' => {}
                        c => {
                            out.push('\\');
                            out.push(c);
                        }
                    },
                    c => out.push(c),
                }
            },
            '\\' => {
                if let Some(c) = chars.next() {
                    out.push(c);
                }
            }
            // An unquoted blank ends the value; the rest would be a command.
            c if c.is_whitespace() => break,
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_debian_style() {
        let r = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"13\"\nID=debian\n",
        );
        assert_eq!(r.id.as_deref(), Some("debian"));
        assert_eq!(r.version_id.as_deref(), Some("13"));
    }

    #[test]
    fn unquotes_per_os_release_5() {
        assert_eq!(unquote("'a b'").as_deref(), Some("a b"));
        assert_eq!(
            unquote(r#""say \"hi\" \$x \\ \`""#).as_deref(),
            Some(r#"say "hi" $x \ `"#)
        );
        assert_eq!(unquote(r#""keep \n""#).as_deref(), Some(r"keep \n"));
        assert_eq!(unquote("plain").as_deref(), Some("plain"));
        assert_eq!(unquote("a'b c'\"d\"").as_deref(), Some("ab cd"));
        assert_eq!(unquote("\"open"), None);
        assert_eq!(unquote("").as_deref(), Some(""));
    }

    #[test]
    fn missing_lines_are_none_and_comments_ignored() {
        let r = parse_os_release(
            "# ID=fake\nNAME=x\n  ID='alpine'\nbroken\nVERSION_ID=\"unterminated\n",
        );
        assert_eq!(r.id.as_deref(), Some("alpine"));
        assert_eq!(r.version_id, None);
    }

    #[test]
    fn falls_back_to_usr_lib_and_stays_inside_the_rootfs() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        assert_eq!(read_os_release(root), OsRelease::default());
        std::fs::write(
            root.join("usr/lib/os-release"),
            "ID=debian\nVERSION_ID=\"13\"\n",
        )
        .unwrap();
        assert_eq!(read_os_release(root).id.as_deref(), Some("debian"));
        // Absolute symlink: must resolve to <root>/usr/lib/os-release, not the host's.
        std::os::unix::fs::symlink("/usr/lib/os-release", root.join("etc/os-release")).unwrap();
        assert_eq!(read_os_release(root).version_id.as_deref(), Some("13"));
        std::fs::remove_file(root.join("etc/os-release")).unwrap();
        std::os::unix::fs::symlink(
            "../../../../../../../../etc/os-release",
            root.join("etc/os-release"),
        )
        .unwrap();
        // Clamped at the rootfs: a self-loop, so the fallback is read, never the host's.
        assert_eq!(read_os_release(root).id.as_deref(), Some("debian"));
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC*") {
            let _ = parse_os_release(&text);
        }
    }
}
