//! The registry file `$WSLP_ROOT/distributions.toml`: parsing (input that a
//! person may have edited, so every error names a line) and rendering.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use uuid::Uuid;

use crate::name::{same_name, validate_name};
use crate::DistroError;

/// The registry format this code writes. A file with a higher number was
/// written by a newer wslp and is refused rather than half-understood.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// WSL's only registered state we ever persist: an import is atomic, so a
/// distribution is either fully installed or absent.
pub(crate) const STATE_INSTALLED: &str = "Installed";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub id: Uuid,
    pub name: String,
    pub base_path: PathBuf,
    pub default_uid: u32,
    pub version: u32,
    /// `(uid_base, gid_base)` when the files are stored shifted (see `shift`).
    pub shifted: Option<(u32, u32)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Registry {
    pub entries: Vec<Entry>,
    pub default: Option<Uuid>,
}

#[derive(Deserialize)]
struct RawRegistry {
    format: Option<Spanned<i64>>,
    default: Option<Spanned<String>>,
    #[serde(default)]
    distribution: Vec<Spanned<RawEntry>>,
}

#[derive(Deserialize)]
struct RawEntry {
    id: Spanned<String>,
    name: Spanned<String>,
    base_path: Spanned<String>,
    default_uid: Option<Spanned<i64>>,
    version: Option<Spanned<i64>>,
    state: Option<Spanned<String>>,
    stored_uid_base: Option<Spanned<i64>>,
    stored_gid_base: Option<Spanned<i64>>,
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, col)
}

impl Registry {
    pub fn find(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| same_name(&e.name, name))
    }

    /// Parses the registry text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Registry, DistroError> {
        let invalid =
            |span: std::ops::Range<usize>, message: String| DistroError::RegistryInvalid {
                path: path.to_path_buf(),
                line: line_col(text, span.start).0,
                message,
            };
        let raw: RawRegistry = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            DistroError::RegistrySyntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().replace('\n', " "),
            }
        })?;
        if let Some(f) = &raw.format {
            if *f.get_ref() < 1 || *f.get_ref() > i64::from(FORMAT_VERSION) {
                return Err(invalid(
                    f.span(),
                    format!(
                        "format {} is not understood by this wslp (it writes format {FORMAT_VERSION}); update wslp",
                        f.get_ref()
                    ),
                ));
            }
        }
        let mut reg = Registry::default();
        for item in &raw.distribution {
            let e = item.get_ref();
            let id = Uuid::parse_str(e.id.get_ref()).map_err(|err| {
                invalid(
                    e.id.span(),
                    format!("id '{}' is not a GUID ({err})", e.id.get_ref()),
                )
            })?;
            let name = e.name.get_ref().clone();
            validate_name(&name).map_err(|err| invalid(e.name.span(), err.to_string()))?;
            let base_path = PathBuf::from(e.base_path.get_ref());
            if !base_path.is_absolute() {
                return Err(invalid(
                    e.base_path.span(),
                    format!(
                        "base_path '{}' is not an absolute path",
                        base_path.display()
                    ),
                ));
            }
            let default_uid = match &e.default_uid {
                None => 0,
                Some(v) => u32::try_from(*v.get_ref()).map_err(|_| {
                    invalid(
                        v.span(),
                        format!("default_uid {} is not a uid", v.get_ref()),
                    )
                })?,
            };
            let version = match &e.version {
                None => 2,
                Some(v) if *v.get_ref() == 2 => 2,
                Some(v) => {
                    return Err(invalid(
                        v.span(),
                        format!(
                            "version {} is not supported (only WSL 2 style distributions are)",
                            v.get_ref()
                        ),
                    ))
                }
            };
            if let Some(s) = &e.state {
                if s.get_ref() != STATE_INSTALLED {
                    return Err(invalid(
                        s.span(),
                        format!("unknown state '{}'", s.get_ref()),
                    ));
                }
            }
            let base = |v: &Option<Spanned<i64>>, what: &str| {
                v.as_ref()
                    .map(|v| {
                        u32::try_from(*v.get_ref()).map_err(|_| {
                            invalid(v.span(), format!("{what} {} is not an id", v.get_ref()))
                        })
                    })
                    .transpose()
            };
            let shifted = match (
                base(&e.stored_uid_base, "stored_uid_base")?,
                base(&e.stored_gid_base, "stored_gid_base")?,
            ) {
                (Some(u), Some(g)) => Some((u, g)),
                (None, None) => None,
                _ => {
                    return Err(invalid(
                        e.name.span(),
                        "stored_uid_base and stored_gid_base go together".into(),
                    ))
                }
            };
            if reg.entries.iter().any(|o| o.id == id) {
                return Err(invalid(e.id.span(), format!("id {id} is used twice")));
            }
            if reg.find(&name).is_some() {
                return Err(invalid(
                    e.name.span(),
                    format!("name '{name}' is used twice"),
                ));
            }
            reg.entries.push(Entry {
                id,
                name,
                base_path,
                default_uid,
                version,
                shifted,
            });
        }
        if let Some(d) = &raw.default {
            let id = Uuid::parse_str(d.get_ref()).map_err(|err| {
                invalid(
                    d.span(),
                    format!("default '{}' is not a GUID ({err})", d.get_ref()),
                )
            })?;
            if !reg.entries.iter().any(|e| e.id == id) {
                return Err(invalid(
                    d.span(),
                    format!("default {id} names no registered distribution"),
                ));
            }
            reg.default = Some(id);
        }
        Ok(reg)
    }

    /// Renders the registry in the documented format.
    pub fn render(&self) -> String {
        fn q(s: &str) -> String {
            toml::Value::String(s.to_string()).to_string()
        }
        let mut out = String::from(
            "# wslp distribution registry. Written by wslp; edit only while no wslp command runs.\n",
        );
        out.push_str(&format!("format = {FORMAT_VERSION}\n"));
        if let Some(d) = self.default {
            out.push_str(&format!("default = {}\n", q(&d.to_string())));
        }
        for e in &self.entries {
            out.push_str("\n[[distribution]]\n");
            out.push_str(&format!("id = {}\n", q(&e.id.to_string())));
            out.push_str(&format!("name = {}\n", q(&e.name)));
            // Import refuses non-UTF-8 directories, so this is lossless.
            out.push_str(&format!(
                "base_path = {}\n",
                q(&e.base_path.to_string_lossy())
            ));
            out.push_str(&format!("default_uid = {}\n", e.default_uid));
            out.push_str(&format!("version = {}\n", e.version));
            if let Some((u, g)) = e.shifted {
                out.push_str(&format!("stored_uid_base = {u}\nstored_gid_base = {g}\n"));
            }
            out.push_str(&format!("state = {}\n", q(STATE_INSTALLED)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Registry {
        let a = Entry {
            id: Uuid::new_v4(),
            name: "Debian".into(),
            base_path: "/srv/wsl/debian \"quoted\"".into(),
            default_uid: 1000,
            version: 2,
            shifted: None,
        };
        let b = Entry {
            id: Uuid::new_v4(),
            name: "alpine".into(),
            base_path: "/srv/alpine".into(),
            default_uid: 0,
            version: 2,
            shifted: Some((1879048192, 231072)),
        };
        Registry {
            default: Some(b.id),
            entries: vec![a, b],
        }
    }

    #[test]
    fn render_then_parse_round_trips() {
        let r = sample();
        let text = r.render();
        assert_eq!(Registry::parse(&text, Path::new("x")).unwrap(), r);
    }

    #[test]
    fn empty_file_is_an_empty_registry() {
        assert_eq!(
            Registry::parse("", Path::new("x")).unwrap(),
            Registry::default()
        );
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let text = "format = 1\n\n[[distribution]]\nid = \"oops\n";
        let e = Registry::parse(text, Path::new("/r/distributions.toml")).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, DistroError::RegistrySyntax { line: 4, .. }),
            "{msg}"
        );
        assert!(
            msg.contains("/r/distributions.toml") && msg.contains("line 4"),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "one line: {msg}");
    }

    #[test]
    fn semantic_errors_name_the_line() {
        let id = Uuid::new_v4();
        let cases = [
            (format!("[[distribution]]\nid = \"{id}\"\nname = \"bad name\"\nbase_path = \"/x\"\n"), 3),
            (format!("[[distribution]]\nid = \"{id}\"\nname = \"ok\"\nbase_path = \"rel\"\n"), 4),
            ("[[distribution]]\nid = \"nope\"\nname = \"ok\"\nbase_path = \"/x\"\n".to_string(), 2),
            (format!("default = \"{id}\"\n"), 1),
            ("format = 7\n".to_string(), 1),
            (
                format!(
                    "[[distribution]]\nid = \"{id}\"\nname = \"a\"\nbase_path = \"/x\"\n\
                     [[distribution]]\nid = \"{}\"\nname = \"A\"\nbase_path = \"/y\"\n",
                    Uuid::new_v4()
                ),
                7,
            ),
            (
                format!("[[distribution]]\nid = \"{id}\"\nname = \"a\"\nbase_path = \"/x\"\ndefault_uid = -1\n"),
                5,
            ),
        ];
        for (text, line) in cases {
            let e = Registry::parse(&text, Path::new("/r/d.toml")).unwrap_err();
            match &e {
                DistroError::RegistryInvalid { line: l, .. } => {
                    assert_eq!(*l, line, "{e} in\n{text}")
                }
                other => panic!("unexpected {other}"),
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC*") {
            let _ = Registry::parse(&text, Path::new("x"));
        }

        #[test]
        fn mutated_registry_never_panics(cut in 0usize..400, junk in "[\\[\\]=\"a-z0-9\n -]{0,20}") {
            let text = sample().render();
            let mut cut = cut.min(text.len());
            while !text.is_char_boundary(cut) { cut -= 1; }
            let mutated = format!("{}{}{}", &text[..cut], junk, &text[cut..]);
            let _ = Registry::parse(&mutated, Path::new("x"));
        }
    }
}
