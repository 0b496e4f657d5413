//! `$WSLP_ROOT/plugins.toml`: the plugin registry, WSL's `…\Lxss\Plugins` key (SPEC §2).
//!
//! WSL enumerates the key's values in order, skips a value that is not REG_SZ and
//! skips a second value naming an already loaded module. We do the same with
//! `[plugins]` entries in file order; "the same module" is the same device and
//! inode, so another spelling of the path or a symlink cannot load a plugin twice.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::toml_util::{
    check_root_only, item_line, key_line, parse_spanned, read_checked, read_optional,
};
use crate::ConfigError;

pub const REGISTRY_FILE: &str = "plugins.toml";
const TABLE: &str = "plugins";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    pub name: String,
    pub path: PathBuf,
}

pub fn registry_path(wslp_root: &Path) -> PathBuf {
    wslp_root.join(REGISTRY_FILE)
}

/// Parses registry text in file order. Non-string values are skipped with a warning.
/// Does not look at the filesystem (see [`read_registry`] for duplicate files).
pub fn parse_registry(
    text: &str,
    path: &Path,
) -> Result<(Vec<RegistryEntry>, Vec<String>), ConfigError> {
    let doc = parse_spanned(text, path)?;
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    let where_ = |line: Option<usize>| match line {
        Some(l) => format!("{}:{l}", path.display()),
        None => path.display().to_string(),
    };
    for (key, _) in doc.as_table().iter() {
        if key == TABLE {
            continue;
        }
        let line = doc.as_table().key(key).and_then(|k| key_line(text, k));
        warnings.push(format!(
            "{}: unknown key '{key}' outside [{TABLE}], ignored",
            where_(line)
        ));
    }
    let Some(item) = doc.get(TABLE) else {
        return Ok((entries, warnings));
    };
    let Some(table) = item.as_table_like() else {
        return Err(ConfigError::Malformed {
            path: path.to_path_buf(),
            line: item_line(text, item).unwrap_or(1),
            message: format!("'{TABLE}' must be a table of NAME = \"/path/to/plugin.so\""),
        });
    };
    for (name, value) in table.iter() {
        let line = table
            .get_key_value(name)
            .and_then(|(k, _)| key_line(text, k))
            .or_else(|| item_line(text, value));
        match value.as_str() {
            Some(p) => entries.push(RegistryEntry {
                name: name.to_string(),
                path: PathBuf::from(p),
            }),
            None => warnings.push(format!(
                "{}: plugin '{name}' has a value of type {}, not a string path; skipping it",
                where_(line),
                value.type_name()
            )),
        }
    }
    Ok((entries, warnings))
}

/// Reads `$WSLP_ROOT/plugins.toml` (missing → empty). Returns the entries to load, in
/// file order, and warnings for skipped values and duplicate files.
pub fn read_registry(wslp_root: &Path) -> Result<(Vec<RegistryEntry>, Vec<String>), ConfigError> {
    let path = registry_path(wslp_root);
    let Some((text, owner)) = read_checked(&path)? else {
        return Ok((Vec::new(), Vec::new()));
    };
    // Which plugins root's service loads is root's to say (SPEC §2).
    check_root_only(&path, owner)?;
    let (entries, mut warnings) = parse_registry(&text, &path)?;
    let (entries, dup_warnings) = skip_duplicate_files(entries);
    warnings.extend(dup_warnings);
    Ok((entries, warnings))
}

/// Identity of the file an entry names: device and inode, or the literal path when
/// it cannot be stat'ed (it will then fail to load, but only once).
#[derive(PartialEq, Eq, Hash)]
enum FileId {
    Inode(u64, u64),
    Path(PathBuf),
}

fn file_id(path: &Path) -> FileId {
    match std::fs::metadata(path) {
        Ok(m) => FileId::Inode(m.dev(), m.ino()),
        Err(_) => FileId::Path(path.to_path_buf()),
    }
}

fn skip_duplicate_files(entries: Vec<RegistryEntry>) -> (Vec<RegistryEntry>, Vec<String>) {
    let mut seen: HashMap<FileId, String> = HashMap::new();
    let mut kept = Vec::new();
    let mut warnings = Vec::new();
    for e in entries {
        match seen.get(&file_id(&e.path)) {
            Some(first) => warnings.push(format!(
                "plugin '{}': {} is the same file as plugin '{first}', already loaded; skipping it",
                e.name,
                e.path.display()
            )),
            None => {
                seen.insert(file_id(&e.path), e.name.clone());
                kept.push(e);
            }
        }
    }
    (kept, warnings)
}

fn load_doc(path: &Path) -> Result<(String, toml_edit::DocumentMut), ConfigError> {
    let text = read_optional(path)?.unwrap_or_default();
    // Parse spanned first: its errors carry the line.
    parse_spanned(&text, path)?;
    let doc = text
        .parse::<toml_edit::DocumentMut>()
        .map_err(|e| ConfigError::Malformed {
            path: path.to_path_buf(),
            line: 1,
            message: e.message().to_string(),
        })?;
    Ok((text, doc))
}

/// Appends `name = "path"` to `[plugins]` (atomic rewrite; comments and order kept).
/// The path must be absolute. A missing file or one already registered under another
/// name is a warning, not a refusal (the user may install the file later).
pub fn add_registry_entry(
    wslp_root: &Path,
    name: &str,
    path: &Path,
) -> Result<Vec<String>, ConfigError> {
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(ConfigError::InvalidName(name.to_string()));
    }
    if !path.is_absolute() {
        return Err(ConfigError::RelativePath(path.to_path_buf()));
    }
    let reg = registry_path(wslp_root);
    let _held = lock(&reg)?;
    let (text, mut doc) = load_doc(&reg)?;
    let (existing, _) = parse_registry(&text, &reg)?;
    let table = doc
        .entry(TABLE)
        .or_insert_with(toml_edit::table)
        .as_table_like_mut()
        .ok_or_else(|| ConfigError::Malformed {
            path: reg.clone(),
            line: 1,
            message: format!("'{TABLE}' must be a table"),
        })?;
    if table.contains_key(name) {
        return Err(ConfigError::DuplicateName {
            name: name.to_string(),
            registry: reg,
        });
    }
    let mut warnings = Vec::new();
    if !path.exists() {
        warnings.push(format!(
            "{} does not exist; plugin '{name}' will fail to load until it does",
            path.display()
        ));
    } else {
        let id = file_id(path);
        if let Some(other) = existing.iter().find(|e| file_id(&e.path) == id) {
            warnings.push(format!(
                "{} is the same file as plugin '{}'; plugin '{name}' will be skipped at load",
                path.display(),
                other.name
            ));
        }
    }
    let path_str = path.to_str().ok_or_else(|| {
        ConfigError::RelativePath(path.to_path_buf()) // unreachable in practice: non-UTF-8 path
    })?;
    table.insert(name, toml_edit::value(path_str));
    write(&reg, &doc.to_string())?;
    Ok(warnings)
}

/// Removes the entry called `name` (atomic rewrite).
pub fn remove_registry_entry(wslp_root: &Path, name: &str) -> Result<(), ConfigError> {
    let reg = registry_path(wslp_root);
    let _held = lock(&reg)?;
    let (_, mut doc) = load_doc(&reg)?;
    let removed = doc
        .get_mut(TABLE)
        .and_then(|t| t.as_table_like_mut())
        .and_then(|t| t.remove(name));
    if removed.is_none() {
        return Err(ConfigError::NoSuchPlugin {
            name: name.to_string(),
            registry: reg,
        });
    }
    write(&reg, &doc.to_string())
}

/// Held around each read-modify-write of the registry: two `wslp plugin add`
/// at once would otherwise each write the file without the other's entry.
fn lock(reg: &Path) -> Result<std::fs::File, ConfigError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = reg.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| ConfigError::io("create directory", dir, e))?;
    let path = dir.join(".plugins.toml.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&path)
        .map_err(|e| ConfigError::io("open", &path, e))?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| ConfigError::io("lock", &path, e.into()))?;
    Ok(f)
}

/// Rewrites the registry atomically, creating `$WSLP_ROOT` when missing.
fn write(reg: &Path, text: &str) -> Result<(), ConfigError> {
    let dir = reg.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| ConfigError::io("create directory", dir, e))?;
    crate::fs::write_atomic(reg, text.as_bytes()).map_err(|e| ConfigError::io("write", reg, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(e: &[RegistryEntry]) -> Vec<&str> {
        e.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn file_order_kept() {
        let (e, w) = parse_registry(
            "[plugins]\nZeta = \"/z.so\"\nAlpha = \"/a.so\"\nMid = \"/m.so\"\n",
            Path::new("/r/plugins.toml"),
        )
        .unwrap();
        assert_eq!(names(&e), ["Zeta", "Alpha", "Mid"]);
        assert_eq!(e[1].path, Path::new("/a.so"));
        assert!(w.is_empty());
    }

    #[test]
    fn non_string_skipped_with_warning_naming_it() {
        let (e, w) = parse_registry(
            "[plugins]\nA = \"/a.so\"\nNum = 3\nB = \"/b.so\"\n[plugins.Sub]\nx = 1\n",
            Path::new("/r/plugins.toml"),
        )
        .unwrap();
        assert_eq!(names(&e), ["A", "B"]);
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(
            w[0],
            "/r/plugins.toml:3: plugin 'Num' has a value of type integer, not a string path; skipping it"
        );
        assert!(w[1].contains("plugin 'Sub'"), "{w:?}");
    }

    #[test]
    fn malformed_names_file_and_line() {
        let err = parse_registry(
            "[plugins]\nA = \"/a.so\"\nB = /b.so\n",
            Path::new("/r/plugins.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("/r/plugins.toml:3: "), "{err}");
        // A duplicate name is a TOML error too, on the second one.
        let err = parse_registry(
            "[plugins]\nA = \"/a.so\"\nA = \"/b.so\"\n",
            Path::new("/r/p.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("/r/p.toml:3: "), "{err}");
        let err = parse_registry("plugins = 3\n", Path::new("/r/p.toml")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/r/p.toml:1: 'plugins' must be a table"),
            "{err}"
        );
    }

    #[test]
    fn empty_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_registry(dir.path()).unwrap(), (vec![], vec![]));
        let (e, w) = parse_registry("", Path::new("/x")).unwrap();
        assert!(e.is_empty() && w.is_empty());
    }

    #[test]
    fn duplicate_file_through_symlink_and_spelling_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let so = dir.path().join("p.so");
        std::fs::write(&so, b"x").unwrap();
        std::os::unix::fs::symlink(&so, dir.path().join("link.so")).unwrap();
        let odd = format!("{}/./p.so", dir.path().display());
        std::fs::write(
            dir.path().join(REGISTRY_FILE),
            format!(
                "[plugins]\nFirst = \"{}\"\nLink = \"{}\"\nOdd = \"{odd}\"\nMissing = \"/nonexistent/x.so\"\nMissing2 = \"/nonexistent/x.so\"\n",
                so.display(),
                dir.path().join("link.so").display()
            ),
        )
        .unwrap();
        let (e, w) = read_registry(dir.path()).unwrap();
        assert_eq!(names(&e), ["First", "Missing"]);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w[0].starts_with("plugin 'Link':") && w[0].contains("plugin 'First'"),
            "{w:?}"
        );
    }

    #[test]
    fn add_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let so = dir.path().join("a.so");
        std::fs::write(&so, b"x").unwrap();
        assert!(add_registry_entry(&root, "A", &so).unwrap().is_empty());
        let w = add_registry_entry(&root, "B \"quoted\"", Path::new("/nope/b.so")).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("does not exist"), "{w:?}");
        let w = add_registry_entry(&root, "C", &so).unwrap();
        assert!(w[0].contains("same file as plugin 'A'"), "{w:?}");
        assert!(matches!(
            add_registry_entry(&root, "A", &so),
            Err(ConfigError::DuplicateName { .. })
        ));
        assert!(matches!(
            add_registry_entry(&root, "D", Path::new("rel/d.so")),
            Err(ConfigError::RelativePath(_))
        ));
        assert!(matches!(
            add_registry_entry(&root, "", &so),
            Err(ConfigError::InvalidName(_))
        ));
        let (e, _) = parse_registry(
            &std::fs::read_to_string(registry_path(&root)).unwrap(),
            Path::new("/x"),
        )
        .unwrap();
        assert_eq!(names(&e), ["A", "B \"quoted\"", "C"]);
        remove_registry_entry(&root, "B \"quoted\"").unwrap();
        assert!(matches!(
            remove_registry_entry(&root, "B \"quoted\""),
            Err(ConfigError::NoSuchPlugin { .. })
        ));
        let (e, _) = read_registry(&root).unwrap();
        assert_eq!(names(&e), ["A"]);
        let mode = std::fs::metadata(registry_path(&root)).unwrap().mode();
        assert_eq!(mode & 0o777, 0o644);
        // No temp file left behind: the registry and the edits' lock file.
        let mut left: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, [".plugins.toml.lock", "plugins.toml"]);
    }

    #[test]
    fn add_keeps_comments_and_other_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(REGISTRY_FILE),
            "# my plugins\n[plugins]\nA = \"/a.so\" # first\n",
        )
        .unwrap();
        add_registry_entry(dir.path(), "B", Path::new("/b.so")).unwrap();
        let text = std::fs::read_to_string(dir.path().join(REGISTRY_FILE)).unwrap();
        assert!(
            text.starts_with("# my plugins\n[plugins]\nA = \"/a.so\" # first\n"),
            "{text}"
        );
        assert!(text.contains("B = \"/b.so\""), "{text}");
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The parser answers every input with entries or an error, never a panic.
        #[test]
        fn parse_never_panics(text in "\\PC{0,200}") {
            let _ = parse_registry(&text, Path::new("/r/plugins.toml"));
        }

        /// Whatever names and paths `add` accepts come back from the file in order.
        #[test]
        fn add_then_read_keeps_order(
            names in proptest::collection::vec("[^\\p{Cc}]{1,12}", 1..6),
            tail in "[a-z0-9 ._-]{1,12}",
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut expected = Vec::new();
            for (i, n) in names.iter().enumerate() {
                if expected.iter().any(|e: &RegistryEntry| &e.name == n) {
                    continue;
                }
                let path = PathBuf::from(format!("/nonexistent/{i}/{tail}"));
                add_registry_entry(dir.path(), n, &path).unwrap();
                expected.push(RegistryEntry { name: n.clone(), path });
            }
            let text = std::fs::read_to_string(registry_path(dir.path())).unwrap();
            let (entries, warnings) = parse_registry(&text, Path::new("/x")).unwrap();
            prop_assert_eq!(entries, expected);
            prop_assert!(warnings.is_empty());
        }
    }
}

/// Issue 14 item 6: state files are read through one descriptor, never
/// through a symlink, and root's registry must be root's alone.
#[cfg(test)]
mod checks {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_symlinked_registry_or_settings_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere.toml");
        std::fs::write(&elsewhere, "[plugins]\nA = \"/a.so\"\n").unwrap();
        std::os::unix::fs::symlink(&elsewhere, registry_path(dir.path())).unwrap();
        let e = read_registry(dir.path()).expect_err("refused");
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
        std::os::unix::fs::symlink(&elsewhere, dir.path().join("wslp.toml")).unwrap();
        let e = crate::Settings::load(dir.path()).expect_err("refused");
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
    }

    #[test]
    fn root_refuses_a_registry_others_could_have_written() {
        if !rustix::process::geteuid().is_root() {
            return; // the check is the system instance's
        }
        let dir = tempfile::tempdir().unwrap();
        let reg = registry_path(dir.path());
        std::fs::write(&reg, "[plugins]\nA = \"/a.so\"\n").unwrap();
        std::fs::set_permissions(&reg, std::fs::Permissions::from_mode(0o664)).unwrap();
        let e = read_registry(dir.path()).expect_err("refused");
        assert_eq!(
            e.to_string(),
            format!(
                "{0} is owned by uid 0 with mode 664: only root may change the system instance's state \
                 (chown root:root {0}; chmod go-w {0})",
                reg.display()
            )
        );
        std::fs::set_permissions(&reg, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::chown(&reg, Some(65534), None).unwrap();
        assert!(read_registry(dir.path()).is_err());
        std::os::unix::fs::chown(&reg, Some(0), None).unwrap();
        assert_eq!(read_registry(dir.path()).unwrap().0.len(), 1);
    }

    #[test]
    fn concurrent_registrations_lose_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        std::thread::scope(|s| {
            for i in 0..16 {
                let root = dir.path();
                s.spawn(move || {
                    add_registry_entry(root, &format!("P{i}"), Path::new(&format!("/p{i}.so")))
                        .unwrap();
                });
            }
        });
        let (entries, _) = read_registry(dir.path()).unwrap();
        assert_eq!(entries.len(), 16, "{:?}", names(&entries));
    }

    fn names(e: &[RegistryEntry]) -> Vec<&str> {
        e.iter().map(|e| e.name.as_str()).collect()
    }
}
