//! Where glibc's dynamic loader would find each library a plugin needs, and
//! what it would then miss, for `wslp plugin check`.
//!
//! The search follows ld.so(8) for a `dlopen` with `RTLD_NOW`, as the plugin
//! host does:
//! - a name with a slash is a path;
//! - else, when the object that needs it has no DT_RUNPATH: the DT_RPATH of
//!   that object, then of the object that loaded it, and on up;
//! - `LD_LIBRARY_PATH` (this process's: the service's own may differ);
//! - the DT_RUNPATH of the object that needs it (only its own);
//! - `/etc/ld.so.cache` (as `ldconfig -p` lists it);
//! - the loader's system directories (as `ld.so --help` lists them), unless
//!   the object was linked with `-z nodeflib`.
//!
//! `$ORIGIN` (the directory of the object whose path list it is), `$LIB` and
//! `$PLATFORM` are expanded, braced or not. A candidate of another class or
//! machine is skipped, as the loader skips it. A library already loaded in
//! the plugin host (the host's own dependencies: libc, libm, libgcc_s…) is
//! reused by its soname, as the loader reuses it.
//!
//! Then, as `RTLD_NOW` binds everything at once: every symbol a newly loaded
//! object needs (weak ones excepted) must be defined by an object in scope,
//! and every symbol version it needs (`GLIBC_2.34`…) by the library that
//! version names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::elf::{self, ElfInfo};

/// Where libraries are looked for besides the objects' own path lists.
#[derive(Debug, Clone, Default)]
pub struct SearchEnv {
    /// `LD_LIBRARY_PATH`, split at `:` and `;` (empty entries are `.`).
    pub ld_library_path: Vec<String>,
    /// `/etc/ld.so.cache`: library name → paths, in the cache's order.
    pub cache: HashMap<String, Vec<PathBuf>>,
    /// The loader's default directories.
    pub system_dirs: Vec<PathBuf>,
    /// What `$LIB` and `$PLATFORM` expand to.
    pub lib: String,
    pub platform: String,
}

impl SearchEnv {
    /// This machine's: `LD_LIBRARY_PATH`, `ldconfig -p`, and `interp --help`
    /// (`interp` is the dynamic loader; `None`: Debian's defaults).
    pub fn from_system(interp: Option<&str>) -> SearchEnv {
        let ld_library_path = std::env::var("LD_LIBRARY_PATH")
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| split_list(&v))
            .unwrap_or_default();
        let system_dirs = interp
            .and_then(|i| Command::new(i).arg("--help").output().ok())
            .map(|o| parse_system_dirs(&String::from_utf8_lossy(&o.stdout)))
            .filter(|d| !d.is_empty())
            .unwrap_or_else(default_system_dirs);
        let cache = ["/sbin/ldconfig", "/usr/sbin/ldconfig"]
            .iter()
            .find(|p| Path::new(p).is_file())
            .and_then(|p| Command::new(p).arg("-p").output().ok())
            .map(|o| parse_ldconfig(&String::from_utf8_lossy(&o.stdout)))
            .unwrap_or_default();
        // Debian's loader expands $LIB to its multiarch directory.
        let triplet = format!("lib/{}-linux-gnu", std::env::consts::ARCH);
        let lib = if system_dirs.iter().any(|d| d.ends_with(&triplet)) {
            triplet
        } else if cfg!(target_pointer_width = "64") {
            "lib64".into()
        } else {
            "lib".into()
        };
        SearchEnv {
            ld_library_path,
            cache,
            system_dirs,
            lib,
            platform: std::env::consts::ARCH.into(),
        }
    }
}

fn split_list(v: &str) -> Vec<String> {
    v.split([':', ';']).map(str::to_string).collect()
}

/// The `… (system search path)` lines of `ld.so --help`.
pub fn parse_system_dirs(help: &str) -> Vec<PathBuf> {
    help.lines()
        .filter_map(|l| l.trim().strip_suffix("(system search path)"))
        .map(|d| PathBuf::from(d.trim()))
        .collect()
}

fn default_system_dirs() -> Vec<PathBuf> {
    let t = format!("{}-linux-gnu", std::env::consts::ARCH);
    [
        format!("/lib/{t}"),
        format!("/usr/lib/{t}"),
        "/lib".into(),
        "/usr/lib".into(),
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect()
}

/// `ldconfig -p`'s `\tNAME (FLAGS) => PATH` lines.
pub fn parse_ldconfig(text: &str) -> HashMap<String, Vec<PathBuf>> {
    let mut map: HashMap<String, Vec<PathBuf>> = HashMap::new();
    for line in text.lines() {
        let Some((left, path)) = line.split_once(" => ") else {
            continue;
        };
        let Some(name) = left.split_whitespace().next() else {
            continue;
        };
        map.entry(name.to_string())
            .or_default()
            .push(PathBuf::from(path.trim()));
    }
    map
}

/// One object in the plugin host once the plugin is loaded.
#[derive(Debug, Clone)]
pub struct Object {
    /// What it was asked for as (DT_NEEDED), or its path for the first one.
    pub name: String,
    pub path: PathBuf,
    pub info: ElfInfo,
    /// Which object needed it (index into the list); `None` for a root.
    pub loader: Option<usize>,
    /// The path the loader knows it by, whose directory is its `$ORIGIN`.
    pub loaded_as: PathBuf,
    /// Loaded with the plugin host before the plugin (already checked).
    pub preloaded: bool,
}

/// A library that could not be found.
#[derive(Debug, Clone, PartialEq)]
pub struct Missing {
    pub name: String,
    pub needed_by: String,
    /// Where it was looked for, in order, as `what: directory`.
    pub searched: Vec<String>,
    /// Files of that name that were skipped (another class or machine).
    pub skipped: Vec<String>,
}

/// What loading the plugin would do.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// Everything in scope: the host's own objects, then the plugin and what
    /// it brought in, in load (breadth-first) order.
    pub objects: Vec<Object>,
    /// `(needed name, needed by, index into objects)` for each DT_NEEDED found.
    pub found: Vec<(String, String, usize)>,
    pub missing: Vec<Missing>,
    /// `(library, version, needed by)`.
    pub missing_versions: Vec<(String, String, String)>,
    /// `(symbol, needed by)`.
    pub undefined: Vec<(String, String)>,
}

impl Resolution {
    #[cfg(test)]
    pub fn is_ok(&self) -> bool {
        self.missing.is_empty() && self.missing_versions.is_empty() && self.undefined.is_empty()
    }
}

/// The objects `exe` loads at start (itself first), for the scope a plugin
/// is loaded into.
pub fn preload(exe: &Path, env: &SearchEnv) -> Vec<Object> {
    let Ok(info) = std::fs::read(exe)
        .map_err(|_| ())
        .and_then(|d| elf::read(&d).map_err(|_| ()))
    else {
        return vec![];
    };
    let mut r = Resolution::default();
    r.objects.push(Object {
        name: exe.display().to_string(),
        path: exe.to_path_buf(),
        info,
        loader: None,
        loaded_as: exe.to_path_buf(),
        preloaded: true,
    });
    load_needed(&mut r, 0, env);
    for o in &mut r.objects {
        o.preloaded = true;
    }
    r.objects
}

/// Resolves what `plugin` (read from `path`, loaded as `loaded_as` when the
/// loader is given another path for it) needs, in the scope of `preloaded`.
pub fn resolve(
    path: &Path,
    loaded_as: Option<&Path>,
    plugin: ElfInfo,
    preloaded: Vec<Object>,
    env: &SearchEnv,
) -> Resolution {
    let mut r = Resolution {
        objects: preloaded,
        ..Resolution::default()
    };
    let first = r.objects.len();
    r.objects.push(Object {
        name: path.display().to_string(),
        path: path.to_path_buf(),
        info: plugin,
        loader: None,
        loaded_as: loaded_as.unwrap_or(path).to_path_buf(),
        preloaded: false,
    });
    load_needed(&mut r, first, env);
    check_bindings(&mut r, first);
    r
}

/// Breadth-first from `start`, as the loader maps dependencies.
fn load_needed(r: &mut Resolution, start: usize, env: &SearchEnv) {
    let mut i = start;
    while i < r.objects.len() {
        let needed = r.objects[i].info.needed.clone();
        let by = short(&r.objects[i].path);
        for name in needed {
            if let Some(j) = already_loaded(r, &name) {
                r.found.push((name, by.clone(), j));
                continue;
            }
            match search(r, i, &name, env) {
                Ok((path, info)) => {
                    r.objects.push(Object {
                        name: name.clone(),
                        loaded_as: path.clone(),
                        path,
                        info,
                        loader: Some(i),
                        preloaded: false,
                    });
                    r.found.push((name, by.clone(), r.objects.len() - 1));
                }
                Err((searched, skipped)) => r.missing.push(Missing {
                    name,
                    needed_by: by.clone(),
                    searched,
                    skipped,
                }),
            }
        }
        i += 1;
    }
}

fn short(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// A loaded object that answers to `name`: by soname, or by the name it was
/// loaded as.
fn already_loaded(r: &Resolution, name: &str) -> Option<usize> {
    r.objects
        .iter()
        .position(|o| o.info.soname.as_deref() == Some(name) || o.name == name)
}

type SearchFailure = (Vec<String>, Vec<String>);

fn search(
    r: &Resolution,
    requester: usize,
    name: &str,
    env: &SearchEnv,
) -> Result<(PathBuf, ElfInfo), SearchFailure> {
    let want = &r.objects[requester].info;
    let mut searched = Vec::new();
    let mut skipped = Vec::new();
    let mut try_file =
        |what: &str, path: PathBuf, searched: &mut Vec<String>| -> Option<(PathBuf, ElfInfo)> {
            searched.push(format!("{what}: {}", path.display()));
            let data = std::fs::read(&path).ok()?;
            match elf::read(&data) {
                Ok(info)
                    if info.is_64 == want.is_64
                        && info.machine == want.machine
                        && info.big_endian == want.big_endian =>
                {
                    Some((path, info))
                }
                Ok(info) => {
                    skipped.push(format!("{} ({})", path.display(), info.describe()));
                    None
                }
                Err(_) => None,
            }
        };
    if name.contains('/') {
        return try_file("path", PathBuf::from(name), &mut searched).ok_or((searched, skipped));
    }
    let in_dir = |dir: &str| {
        let d = if dir.is_empty() { "." } else { dir };
        Path::new(d).join(name)
    };
    if want.runpath.is_none() {
        let mut at = Some(requester);
        while let Some(k) = at {
            let o = &r.objects[k];
            for dir in &o.info.rpath {
                let dir = expand(dir, &o.loaded_as, env);
                if let Some(hit) = try_file("DT_RPATH", in_dir(&dir), &mut searched) {
                    return Ok(hit);
                }
            }
            at = o.loader;
        }
    }
    for dir in &env.ld_library_path {
        let dir = expand(dir, Path::new("."), env);
        if let Some(hit) = try_file("LD_LIBRARY_PATH", in_dir(&dir), &mut searched) {
            return Ok(hit);
        }
    }
    if let Some(runpath) = &want.runpath {
        for dir in runpath {
            let dir = expand(dir, &r.objects[requester].loaded_as, env);
            if let Some(hit) = try_file("DT_RUNPATH", in_dir(&dir), &mut searched) {
                return Ok(hit);
            }
        }
    }
    for path in env.cache.get(name).into_iter().flatten() {
        if let Some(hit) = try_file("ld.so.cache", path.clone(), &mut searched) {
            return Ok(hit);
        }
    }
    if env.cache.contains_key(name) {
        // Listed, but every entry was skipped or unreadable.
    } else {
        searched.push("ld.so.cache: no entry".into());
    }
    if !want.nodeflib {
        for dir in &env.system_dirs {
            if let Some(hit) = try_file("system", dir.join(name), &mut searched) {
                return Ok(hit);
            }
        }
    }
    Err((searched, skipped))
}

/// `$ORIGIN` (the directory of `object`), `$LIB`, `$PLATFORM`, with or without braces.
pub fn expand(dir: &str, object: &Path, env: &SearchEnv) -> String {
    let origin = object
        .parent()
        .map_or_else(|| ".".to_string(), |p| p.display().to_string());
    let origin = if origin.is_empty() {
        ".".into()
    } else {
        origin
    };
    let mut out = dir.to_string();
    for (token, value) in [
        ("ORIGIN", origin.as_str()),
        ("LIB", &env.lib),
        ("PLATFORM", &env.platform),
    ] {
        out = out
            .replace(&format!("${{{token}}}"), value)
            .replace(&format!("${token}"), value);
    }
    out
}

/// Symbols and versions every newly loaded object needs, against the scope.
fn check_bindings(r: &mut Resolution, first: usize) {
    for i in first..r.objects.len() {
        let o = &r.objects[i];
        let by = short(&o.path);
        for (sym, weak) in &o.info.imports {
            if *weak {
                continue;
            }
            if !r.objects.iter().any(|d| d.info.exports.contains(sym)) {
                r.undefined.push((sym.clone(), by.clone()));
            }
        }
        for (file, version, weak) in &o.info.version_needs {
            if *weak {
                continue;
            }
            let Some(lib) = already_loaded(r, file) else {
                // The library itself is missing: reported as such.
                continue;
            };
            if !r.objects[lib].info.version_defs.contains(version) {
                r.missing_versions
                    .push((file.clone(), version.clone(), by.clone()));
            }
        }
    }
    r.undefined.sort();
    r.undefined.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldso_help_and_ldconfig_parse() {
        let help = "Shared library search path:\n  (libraries located via /etc/ld.so.cache)\n  /lib/x86_64-linux-gnu (system search path)\n  /usr/lib (system search path)\n";
        assert_eq!(
            parse_system_dirs(help),
            [
                PathBuf::from("/lib/x86_64-linux-gnu"),
                PathBuf::from("/usr/lib")
            ]
        );
        let p = "2 libs found in cache `/etc/ld.so.cache'\n\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1\n\tlibz.so.1 (libc6) => /lib/i386-linux-gnu/libz.so.1\n\tlibm.so.6 (libc6,x86-64, OS ABI: Linux 3.2.0) => /lib/x86_64-linux-gnu/libm.so.6\n";
        let m = parse_ldconfig(p);
        assert_eq!(m["libz.so.1"].len(), 2);
        assert_eq!(
            m["libm.so.6"],
            [PathBuf::from("/lib/x86_64-linux-gnu/libm.so.6")]
        );
    }

    #[test]
    fn dynamic_string_tokens_expand() {
        let env = SearchEnv {
            lib: "lib/x86_64-linux-gnu".into(),
            platform: "x86_64".into(),
            ..SearchEnv::default()
        };
        let obj = Path::new("/opt/p/libp.so");
        assert_eq!(expand("$ORIGIN/lib", obj, &env), "/opt/p/lib");
        assert_eq!(
            expand("${ORIGIN}/../$LIB", obj, &env),
            "/opt/p/../lib/x86_64-linux-gnu"
        );
        assert_eq!(expand("/x/${PLATFORM}", obj, &env), "/x/x86_64");
    }

    #[test]
    fn this_program_resolves_completely() {
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let info = elf::read(&std::fs::read(&exe).unwrap()).unwrap();
        let env = SearchEnv::from_system(info.interp.as_deref());
        let r = resolve(&exe, None, info, vec![], &env);
        assert!(r.is_ok(), "{r:#?}");
        assert!(r.found.iter().any(|(n, _, _)| n.starts_with("libc.so")));
    }
}
