//! Harness for the end-to-end tests: a temporary `WSLP_ROOT`, the real `wslp`
//! and `wslpd` binaries (of the test's profile, built on first use when
//! missing), C plugins
//! compiled from `tests/plugins/`, and a busybox distribution tarball.
//!
//! Each [`Env`] is an isolated instance; dropping it shuts its service down.

#![deny(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// The binaries the tests drive, and the packages that build them.
const BINARIES: &[&str] = &["wslp", "wslpd", "wslp-plugin-host"];
const BINARY_PACKAGES: &[&str] = &["wslp-cli", "wslp-service", "wslp-host"];

/// `target/<profile>` of this test binary: `cargo test` runs it from
/// `target/<profile>/deps/`, so `cargo test --release` uses release binaries.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let deps = exe.parent().expect("in a directory");
    match deps.file_name() {
        Some(n) if n == "deps" => deps.parent().expect("in target/<profile>").to_path_buf(),
        _ => target_dir().join("debug"),
    }
}

/// A built binary of the workspace, of this test binary's profile. On a fresh
/// clone (`cargo test` alone builds no other package's binaries) they are
/// built here, once: cargo's own lock makes parallel test processes wait for
/// one build.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let dir = profile_dir();
        if BINARIES.iter().any(|b| !dir.join(b).is_file()) {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut c = Command::new(cargo);
            c.arg("build").arg("--bins").current_dir(workspace());
            for p in BINARY_PACKAGES {
                c.args(["-p", p]);
            }
            if dir.file_name().is_some_and(|n| n == "release") {
                c.arg("--release");
            }
            let st = c.status().expect("cargo runs");
            assert!(st.success(), "building {BINARIES:?} for the tests failed");
        }
        dir
    });
    let p = dir.join(name);
    assert!(p.is_file(), "{} is missing after the build", p.display());
    p
}

/// The busybox distribution tarball, built once per test process.
pub fn rootfs_tarball() -> PathBuf {
    static T: OnceLock<PathBuf> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("wslp-e2e-rootfs")
            .tempdir()
            .unwrap()
            .keep();
        let out = dir.join("rootfs.tar.gz");
        let st = Command::new(workspace().join("scripts/make-rootfs.sh"))
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success(), "make-rootfs.sh failed");
        out
    })
    .clone()
}

/// Compiles `tests/plugins/<name>.c` with extra `-D` defines into `out_dir`.
pub fn build_plugin(name: &str, defines: &[&str], out_dir: &Path) -> PathBuf {
    let src = workspace().join("tests/plugins").join(format!("{name}.c"));
    let tag = defines.join("_").replace(['=', '"', ' ', '/'], "");
    let out = out_dir.join(format!("lib{name}{tag}.so"));
    let mut cmd = Command::new("gcc");
    cmd.args(["-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o"])
        .arg(&out)
        .arg(format!("-I{}", workspace().join("include").display()))
        .arg(&src);
    for d in defines {
        cmd.arg(format!("-D{d}"));
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "gcc failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// A rootfs tarball made from the busybox one: extracted as root (owners,
/// modes and set-id bits kept), changed by `edit` in its directory, packed
/// again into `out_dir/<name>.tar.gz`.
pub fn custom_tarball(out_dir: &Path, name: &str, edit: impl FnOnce(&Path)) -> PathBuf {
    let dir = out_dir.join(format!("{name}-rootfs"));
    std::fs::create_dir_all(&dir).unwrap();
    let st = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .args(["-xzpf"])
        .arg(rootfs_tarball())
        .status()
        .unwrap();
    assert!(st.success(), "extracting the busybox tarball");
    edit(&dir);
    let out = out_dir.join(format!("{name}.tar.gz"));
    let st = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .args(["--numeric-owner", "-czf"])
        .arg(&out)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success(), "packing {}", out.display());
    std::fs::remove_dir_all(&dir).unwrap();
    out
}

/// An unprivileged user of this host that tests run `wslp` as.
#[derive(Debug, Clone, Copy)]
pub struct TestUser {
    pub name: &'static str,
    pub uid: u32,
    pub gid: u32,
    /// A host group the user is in besides their own.
    pub extra_gid: u32,
}

/// The host ids of `name` (`id -u` / `id -g` / a group's gid).
fn host_id(args: &[&str]) -> Option<u32> {
    let o = Command::new(args[0]).args(&args[1..]).output().ok()?;
    if !o.status.success() {
        return None;
    }
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .split(':')
        .nth(if args[0] == "getent" { 2 } else { 0 })?
        .parse()
        .ok()
}

/// Held while test users are made: tests in parallel processes make them
/// once.
fn useradd_lock() -> nix::fcntl::Flock<std::fs::File> {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/tmp/wslp-e2e-useradd.lock")
        .unwrap();
    nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .unwrap()
}

/// `useradd ARGS NAME` unless `name` exists.
fn useradd(name: &str, args: &[&str]) {
    if host_id(&["id", "-u", name]).is_some() {
        return;
    }
    let o = Command::new("useradd")
        .args(args)
        .arg(name)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "useradd: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `wslp-e2e-user` (in the group `wslp-e2e-group`), created the first time
/// with useradd; tests in parallel processes take an flock so only one of
/// them creates it.
pub fn test_user() -> TestUser {
    const NAME: &str = "wslp-e2e-user";
    const GROUP: &str = "wslp-e2e-group";
    static USER: OnceLock<TestUser> = OnceLock::new();
    *USER.get_or_init(|| {
        let _held = useradd_lock();
        if host_id(&["getent", "group", GROUP]).is_none() {
            let o = Command::new("groupadd").arg(GROUP).output().unwrap();
            assert!(
                o.status.success(),
                "groupadd: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        useradd(NAME, &["-M", "-s", "/bin/sh", "-G", GROUP]);
        let groups = Command::new("id").args(["-G", NAME]).output().unwrap();
        if !String::from_utf8_lossy(&groups.stdout)
            .split_whitespace()
            .any(|g| Some(g.parse().unwrap_or(u32::MAX)) == host_id(&["getent", "group", GROUP]))
        {
            let o = Command::new("usermod")
                .args(["-aG", GROUP, NAME])
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "usermod: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        TestUser {
            name: NAME,
            uid: host_id(&["id", "-u", NAME]).expect("the test user exists"),
            gid: host_id(&["id", "-g", NAME]).expect("the test user exists"),
            extra_gid: host_id(&["getent", "group", GROUP]).expect("the test group exists"),
        }
    })
}

pub struct Env {
    pub root: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    /// A fresh root with test signing on (plugins need no signature) and short idle timeouts off.
    pub fn new() -> Env {
        Self::with_settings("require_signatures = false\n")
    }

    pub fn with_settings(settings: &str) -> Env {
        let tmp = tempfile::Builder::new()
            .prefix("wslp-e2e")
            .tempdir()
            .unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("wslp.toml"), settings).unwrap();
        Env { root, _tmp: tmp }
    }

    /// A scratch directory that goes away with the Env.
    pub fn scratch(&self) -> PathBuf {
        let d = self._tmp.path().join("scratch");
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin("wslp"));
        c.env("WSLP_ROOT", &self.root)
            .env("WSLPD", bin("wslpd"))
            .stdin(Stdio::null());
        c
    }

    pub fn wslp(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    pub fn wslp_input(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        out
    }

    /// `wslp ARGS` must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.wslp(args);
        assert!(
            o.status.success(),
            "wslp {args:?} failed ({:?})\nstdout: {}\nstderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `wslp -d DISTRO -- true` must succeed: starts the VM and the
    /// distribution, with their hooks.
    pub fn run_true(&self, distro: &str) {
        self.ok(&["-d", distro, "--", "true"]);
    }

    /// A new self-signed code-signing key and certificate (`wslp cert new`
    /// with `subject`) in the scratch directory, not trusted yet.
    pub fn new_certificate(&self, subject: &str) -> (PathBuf, PathBuf) {
        let (key, cert) = (self.scratch().join("k.pem"), self.scratch().join("c.pem"));
        self.ok(&[
            "cert",
            "new",
            "--subject",
            subject,
            "--key",
            key.to_str().unwrap(),
            "--cert",
            cert.to_str().unwrap(),
        ]);
        (key, cert)
    }

    /// `wslp sign` of `so` with `key` and `cert` must succeed.
    pub fn sign(&self, key: &Path, cert: &Path, so: &Path) {
        self.ok(&[
            "sign",
            "--key",
            key.to_str().unwrap(),
            "--cert",
            cert.to_str().unwrap(),
            so.to_str().unwrap(),
        ]);
    }

    /// Lets other users reach the service's socket: the temporary
    /// directory above the root becomes traversable (0711; the root itself
    /// is 0755, the socket 0666).
    pub fn open_to_users(&self) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self._tmp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    }

    /// `wslp ARGS` run as `user` (their own uid, gid and host groups, as a
    /// login would give them), stdin empty.
    pub fn cmd_as(&self, user: &TestUser) -> Command {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={}", user.uid),
            &format!("--regid={}", user.gid),
            "--init-groups",
            "--",
        ])
        .arg(bin("wslp"))
        .env("WSLP_ROOT", &self.root)
        .env("WSLPD", bin("wslpd"))
        .stdin(Stdio::null());
        c
    }

    /// Imports the tarball at `tarball` as `name`; returns its directory.
    pub fn import_tarball(&self, name: &str, tarball: &Path) -> PathBuf {
        let dir = self._tmp.path().join("distros").join(name);
        self.ok(&[
            "--import",
            name,
            dir.to_str().unwrap(),
            tarball.to_str().unwrap(),
        ]);
        dir
    }

    /// Imports the busybox distribution as `name`.
    pub fn import(&self, name: &str) -> PathBuf {
        let dir = self._tmp.path().join("distros").join(name);
        self.ok(&[
            "--import",
            name,
            dir.to_str().unwrap(),
            rootfs_tarball().to_str().unwrap(),
        ]);
        dir
    }

    /// Registers a plugin and restarts the service so it is loaded (SPEC §3:
    /// plugins load at service start).
    pub fn add_plugin(&self, name: &str, path: &Path) {
        self.ok(&["plugin", "add", name, path.to_str().unwrap()]);
        self.ok(&["--shutdown"]);
    }

    /// The pid of this root's wslpd: the process named wslpd with our
    /// WSLP_ROOT that lives in the host's pid namespace (the VM's and the
    /// distributions' inits are clones of it, with a nested NSpid).
    pub fn service_pid(&self) -> Option<i32> {
        let want = format!("WSLP_ROOT={}", self.root.display());
        for e in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let argv0 = cmd.split(|b| *b == 0).next().unwrap_or_default();
            if !String::from_utf8_lossy(argv0).ends_with("wslpd") {
                continue;
            }
            let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
                continue;
            };
            if !environ.split(|b| *b == 0).any(|kv| kv == want.as_bytes()) {
                continue;
            }
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let host_level = status
                .lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .is_some_and(|v| v.split_whitespace().count() == 1);
            if host_level {
                return Some(pid);
            }
        }
        None
    }

    pub fn service_log(&self) -> String {
        std::fs::read_to_string(self.root.join("logs/wslpd.log")).unwrap_or_default()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.cmd().arg("--shutdown").output();
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Reads a log a plugin wrote, waiting a moment for it to appear.
pub fn read_log(path: &Path) -> String {
    for _ in 0..200 {
        if let Ok(s) = std::fs::read_to_string(path) {
            if !s.is_empty() {
                return s;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    String::new()
}

/// `wslp-e2e-noids`: an unprivileged user with no `/etc/subuid` or
/// `/etc/subgid` ranges (a system account: useradd gives those none),
/// created the first time.
pub fn test_user_without_ranges() -> TestUser {
    const NAME: &str = "wslp-e2e-noids";
    static USER: OnceLock<TestUser> = OnceLock::new();
    *USER.get_or_init(|| {
        let _held = useradd_lock();
        useradd(NAME, &["-r", "-M", "-U", "-s", "/bin/sh"]);
        for f in ["/etc/subuid", "/etc/subgid"] {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            assert!(
                !text.lines().any(|l| l.starts_with(&format!("{NAME}:"))),
                "{NAME} must have no range in {f}"
            );
        }
        let gid = host_id(&["id", "-g", NAME]).expect("the test user exists");
        TestUser {
            name: NAME,
            uid: host_id(&["id", "-u", NAME]).expect("the test user exists"),
            gid,
            extra_gid: gid,
        }
    })
}

/// A user's own instance (SPEC §10): `wslp` run as `user` with a private
/// home and `$XDG_RUNTIME_DIR`, `WSLP_ROOT` unset, so the defaults pick
/// `~/.local/share/wslp` and the socket in the runtime directory.
pub struct UserInstance {
    pub user: TestUser,
    pub home: PathBuf,
    pub runtime: PathBuf,
    _tmp: tempfile::TempDir,
}

impl UserInstance {
    pub fn new(user: TestUser) -> UserInstance {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::Builder::new()
            .prefix("wslp-user")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let (home, runtime) = (tmp.path().join("home"), tmp.path().join("run"));
        for d in [&home, &runtime] {
            std::fs::create_dir(d).unwrap();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
            std::os::unix::fs::chown(d, Some(user.uid), Some(user.gid)).unwrap();
        }
        UserInstance {
            user,
            home,
            runtime,
            _tmp: tmp,
        }
    }

    /// Where the instance lives: `~/.local/share/wslp`.
    pub fn root(&self) -> PathBuf {
        self.home.join(".local/share/wslp")
    }

    /// The environment a login of the user would have, and nothing of ours.
    pub fn env_cmd(&self, program: &Path) -> Command {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={}", self.user.uid),
            &format!("--regid={}", self.user.gid),
            "--init-groups",
            "--",
        ])
        .arg(program)
        .env_clear()
        .env("HOME", &self.home)
        .env("XDG_RUNTIME_DIR", &self.runtime)
        .env("PATH", "/usr/bin:/bin")
        .env("WSLPD", bin("wslpd"))
        .env("WSLP_PLUGIN_HOST", bin("wslp-plugin-host"))
        .stdin(Stdio::null());
        c
    }

    pub fn cmd(&self) -> Command {
        self.env_cmd(&bin("wslp"))
    }

    pub fn wslp(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// `wslp ARGS` must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.wslp(args);
        assert!(
            o.status.success(),
            "wslp {args:?} as {} failed ({:?})\nstdout: {}\nstderr: {}",
            self.user.name,
            o.status,
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }

    /// A directory of the user's, in their home.
    pub fn dir(&self, name: &str) -> PathBuf {
        let d = self.home.join(name);
        std::fs::create_dir_all(&d).unwrap();
        self.give(&d);
        d
    }

    /// Gives `path` (and what it holds) to the user.
    pub fn give(&self, path: &Path) {
        let st = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", self.user.uid, self.user.gid))
            .arg(path)
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Writes the instance's settings file (the user's own).
    pub fn settings(&self, text: &str) {
        let root = self.root();
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("wslp.toml"), text).unwrap();
        self.give(&self.home);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).unwrap();
    }

    /// Every process of the instance: those whose environment has our HOME,
    /// and their descendants (the VM's and the distributions' processes).
    pub fn processes(&self) -> Vec<i32> {
        let want = format!("HOME={}", self.home.display());
        let mut all: Vec<(i32, i32)> = Vec::new();
        let mut found: Vec<i32> = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let ppid = status
                .lines()
                .find_map(|l| l.strip_prefix("PPid:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            all.push((pid, ppid));
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let is_ours =
                String::from_utf8_lossy(cmd.split(|b| *b == 0).next().unwrap_or_default())
                    .ends_with("wslpd");
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            if is_ours && environ.split(|b| *b == 0).any(|kv| kv == want.as_bytes()) {
                found.push(pid);
            }
        }
        let mut i = 0;
        while i < found.len() {
            let parent = found[i];
            for (pid, ppid) in &all {
                if *ppid == parent && !found.contains(pid) {
                    found.push(*pid);
                }
            }
            i += 1;
        }
        found
    }
}

impl Drop for UserInstance {
    fn drop(&mut self) {
        let _ = self.cmd().arg("--shutdown").output();
    }
}

/// The effective uid of `pid` on the host, if it still runs.
pub fn host_euid(pid: i32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
