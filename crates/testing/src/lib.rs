//! An embedded wslp host for plugin tests: a real utility VM and real
//! distributions in a temporary root, driven from plain `cargo test`, with no
//! service running.
//!
//! It is the service's own state machine ([`wslp_service::instance::Instance`])
//! without the socket: plugins are loaded from a registry in the temporary
//! root, hooks run in WSL's order with WSL's error texts, and a plugin's API
//! calls act on the real VM. No root is needed: as an ordinary user, a
//! test binary that links this crate becomes, before `main`, root of user,
//! mount and pid namespaces of its own, as a per-user instance's `wslpd`
//! does (SPEC §10). Root there is the user on the host; the user's
//! `/etc/subuid` and `/etc/subgid` ranges (through `newuidmap`, package
//! `uidmap`) are the distribution's other users. Inside, files of the host
//! that belong to other users (root's included) show as `nobody`.
//!
//! ```no_run
//! let host = wslp_testing::TestHost::builder()
//!     .plugin("Sample", "target/debug/libwslp_sample_plugin.so")
//!     .busybox_distribution("Test")
//!     .build()
//!     .unwrap();
//! host.start_vm().unwrap();
//! let out = host.run("Test", &["cat", "/etc/os-release"]).unwrap();
//! assert!(out.stdout_text().contains("ID=debian"));
//! ```
//!
//! [`TestHost::trace`] shows what the plugins did, call by call, as `wslp
//! plugin trace` shows it for a real service (SPEC §13):
//!
//! ```no_run
//! # let host = wslp_testing::TestHost::builder().build().unwrap();
//! use wslp_testing::{TraceItem, TraceValue};
//! let trace = host.trace();
//! host.start_vm().unwrap();
//! for item in trace.drain() {
//!     if let TraceItem::Event(e) = item {
//!         println!("{} {} -> {:#x} in {} µs {:?}", e.plugin, e.call, e.result, e.duration_us, e.args);
//!     }
//! }
//! ```

#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod rootless;

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use wslp_config::Paths;
use wslp_distro::{DistroStore, ImportSource};
use wslp_service::failure::Failure;
use wslp_service::instance::Instance;
use wslp_vm::ProcessSpec;

/// What [`TestHost::trace`] gives: [`Subscription::next`], `next_timeout` and
/// `drain` hand out [`TraceItem`]s.
pub use wslp_host::trace::{Subscription, TraceEvent, TraceItem, TraceValue};

/// Why the test host could not do what a test asked. Each message is the
/// whole text (causes included), as a user of wslp would read it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An ordinary user's test binary has no user namespace of its own: the
    /// kernel's refusal, naming the setting that forbids it.
    #[error("the wslp test host cannot run without root here: {0}")]
    NoUserNamespace(String),
    #[error("busybox is missing: install Debian's busybox-static")]
    NoBusybox,
    /// A file, pipe or process the test host itself needed.
    #[error("{what}: {cause}")]
    Io { what: String, cause: std::io::Error },
    /// Building a plugin crate ([`build_plugin`]) failed.
    #[error("{0}")]
    Build(String),
    /// The plugin registry or the settings refused.
    #[error(transparent)]
    Config(#[from] wslp_config::ConfigError),
    /// Importing or finding a distribution failed.
    #[error(transparent)]
    Distro(#[from] wslp_distro::DistroError),
    /// Starting a process in the VM or a distribution failed.
    #[error(transparent)]
    Vm(#[from] wslp_vm::VmError),
    /// What the service would have answered: WSL's text, exactly (a plugin's
    /// failure at VM start, for instance, in its two-line form).
    #[error("{0}")]
    Service(Failure),
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Self {
        Error::Service(f)
    }
}

/// `.map_err(io(..))`: an I/O error with what was being done.
fn io<E: Into<std::io::Error>>(what: impl std::fmt::Display) -> impl FnOnce(E) -> Error {
    move |cause| Error::Io {
        what: what.to_string(),
        cause: cause.into(),
    }
}

/// Builds the plugin crate at `manifest_dir` (its `cdylib`) and returns the
/// path of the shared object, for tests that load the plugin they belong to:
/// `wslp_testing::build_plugin(env!("CARGO_MANIFEST_DIR"))`.
///
/// `cargo test` builds a package's library only as an rlib for its tests and
/// holds the lock of its target directory while they run, so this runs
/// `cargo build --lib` into its own directory, `target/wslp-testing`
/// (`$WSLP_TESTING_TARGET_DIR` to choose another).
pub fn build_plugin(manifest_dir: impl AsRef<Path>) -> Result<PathBuf, Error> {
    let manifest = manifest_dir.as_ref().join("Cargo.toml");
    // Cargo names the manifest by its canonical path in its messages.
    let manifest = std::fs::canonicalize(&manifest).map_err(io(manifest.display()))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = match std::env::var_os("WSLP_TESTING_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let meta = std::process::Command::new(&cargo)
                .args([
                    "metadata",
                    "--format-version",
                    "1",
                    "--no-deps",
                    "--manifest-path",
                ])
                .arg(&manifest)
                .output()
                .map_err(io("cannot run cargo"))?;
            let v: serde_json::Value = serde_json::from_slice(&meta.stdout).map_err(|e| {
                Error::Build(format!("cargo metadata for {}: {e}", manifest.display()))
            })?;
            let dir = v["target_directory"].as_str().ok_or_else(|| {
                Error::Build(format!(
                    "cargo metadata for {} names no target directory",
                    manifest.display()
                ))
            })?;
            Path::new(dir).join("wslp-testing")
        }
    };
    let out = std::process::Command::new(&cargo)
        .args([
            "build",
            "--lib",
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target_dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(io("cannot run cargo"))?;
    if !out.status.success() {
        return Err(Error::Build(format!(
            "cargo build of {} failed",
            manifest.display()
        )));
    }
    let mut found = None;
    for line in out.stdout.split(|b| *b == b'\n') {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" {
            continue;
        }
        let is_cdylib = v["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|x| x == "cdylib"));
        if !is_cdylib || v["manifest_path"].as_str().map(Path::new) != Some(manifest.as_path()) {
            continue;
        }
        if let Some(files) = v["filenames"].as_array() {
            found = files
                .iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".so"))
                .map(PathBuf::from);
        }
    }
    found.ok_or_else(|| {
        Error::Build(format!(
            "{} builds no cdylib: add crate-type = [\"cdylib\"] to its [lib]",
            manifest.display()
        ))
    })
}

/// What a command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code, 128+N when killed by signal N.
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

enum Source {
    Busybox { id: String, version: String },
    Tarball(PathBuf),
}

/// Collects plugins, settings and distributions, then builds a [`TestHost`].
pub struct TestHostBuilder {
    plugins: Vec<(String, PathBuf)>,
    settings: Vec<String>,
    distros: Vec<(String, Source)>,
}

/// A wslp instance in a temporary root. Dropping it stops the VM (with the stop
/// hooks) and removes the root.
pub struct TestHost {
    instance: std::sync::Arc<Instance>,
    tmp: tempfile::TempDir,
    notices: std::sync::Mutex<Vec<String>>,
}

impl TestHost {
    pub fn builder() -> TestHostBuilder {
        TestHostBuilder {
            plugins: vec![],
            settings: vec![],
            distros: vec![],
        }
    }
}

impl TestHostBuilder {
    /// Registers a plugin (in order), as `wslp plugin add NAME PATH` does.
    pub fn plugin(mut self, name: &str, path: impl AsRef<Path>) -> Self {
        self.plugins
            .push((name.to_string(), path.as_ref().to_path_buf()));
        self
    }

    /// A line of `wslp.toml`, e.g. `hook_timeout_ms = 2000`. Signatures are not
    /// required unless a line says `require_signatures = true`.
    pub fn setting(mut self, line: &str) -> Self {
        self.settings.push(line.to_string());
        self
    }

    /// A small distribution made from the host's static busybox, whose
    /// os-release says `ID=debian` and `VERSION_ID="13"`; users root and
    /// `user` (1000).
    pub fn busybox_distribution(self, name: &str) -> Self {
        self.busybox_distribution_with(name, "debian", "13")
    }

    pub fn busybox_distribution_with(mut self, name: &str, id: &str, version: &str) -> Self {
        self.distros.push((
            name.to_string(),
            Source::Busybox {
                id: id.into(),
                version: version.into(),
            },
        ));
        self
    }

    /// A distribution imported from a rootfs tarball.
    pub fn distribution_tarball(mut self, name: &str, tarball: impl AsRef<Path>) -> Self {
        self.distros.push((
            name.to_string(),
            Source::Tarball(tarball.as_ref().to_path_buf()),
        ));
        self
    }

    pub fn build(self) -> Result<TestHost, Error> {
        if !wslp_config::is_host_root() {
            match rootless::entered() {
                Some(Ok(warning)) => {
                    if let Some(w) = warning {
                        static SAID: std::sync::Once = std::sync::Once::new();
                        SAID.call_once(|| eprintln!("{w}"));
                    }
                }
                Some(Err(e)) => return Err(Error::NoUserNamespace(e.clone())),
                None => {
                    return Err(Error::NoUserNamespace(
                        "this process neither is root nor entered a user namespace of its own before main".into(),
                    ))
                }
            }
        }
        let tmp = tempfile::Builder::new()
            .prefix("wslp-test-host")
            .tempdir()
            .map_err(io("cannot create a temporary directory"))?;
        let root = tmp.path().join("root");
        std::fs::create_dir(&root).map_err(io(root.display()))?;
        let mut settings = self.settings.clone();
        if !settings
            .iter()
            .any(|l| l.trim_start().starts_with("require_signatures"))
        {
            settings.push("require_signatures = false".into());
        }
        let settings_file = root.join("wslp.toml");
        std::fs::write(&settings_file, settings.join("\n") + "\n")
            .map_err(io(settings_file.display()))?;
        for (name, path) in &self.plugins {
            let abs = std::path::absolute(path).map_err(io(path.display()))?;
            wslp_config::add_registry_entry(&root, name, &abs)?;
        }
        let store = DistroStore::open(&root)?;
        let mut imported = Vec::new();
        for (name, source) in &self.distros {
            let tarball = match source {
                Source::Tarball(p) => p.clone(),
                Source::Busybox { id, version } => {
                    let t = tmp.path().join(format!("{name}.tar"));
                    busybox_tarball(&t, id, version)?;
                    t
                }
            };
            let dir = tmp.path().join("distros").join(name);
            store.import(name, &dir, ImportSource::Path(tarball), false)?;
            imported.push(name.clone());
        }
        let paths = Paths::new(&root);
        let settings = wslp_config::Settings::load(&root)?;
        let instance = std::sync::Arc::new(Instance::new(
            paths,
            settings,
            Box::new(wslp_vm::NamespaceBackend),
        )?);
        // Plugins' WSLC calls go to this host's sessions.
        #[cfg(feature = "wslc")]
        wslp_host::set_wslc_services(std::sync::Arc::new(wslp_service::wslc::Api::new(&instance)));
        for name in imported {
            let record = instance.store.get(&name)?;
            instance.prepare_storage(&record)?;
            let record = instance.store.get(&name)?;
            instance
                .plugins
                .on_distribution_registered(&instance.session, &instance.offline_info(&record));
        }
        Ok(TestHost {
            instance,
            tmp,
            notices: std::sync::Mutex::new(Vec::new()),
        })
    }
}

impl TestHost {
    /// The temporary `WSLP_ROOT`.
    pub fn root(&self) -> &Path {
        &self.instance.paths.root
    }

    /// A scratch directory inside the temporary root's parent, removed with the host.
    pub fn scratch(&self) -> PathBuf {
        let d = self.tmp.path().join("scratch");
        let _ = std::fs::create_dir_all(&d);
        d
    }

    /// The underlying service state, for what this wrapper does not cover.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// Starts the VM: OnVMStarted for every plugin. An error is exactly what
    /// `wslp` would print (e.g. `A fatal error was returned by plugin …`).
    pub fn start_vm(&self) -> Result<(), Error> {
        self.noting(|n| self.instance.ensure_vm(n))
            .map(|_| ())
            .map_err(Error::from)
    }

    /// Starts a distribution (and the VM): OnDistributionStarted for every plugin.
    pub fn start_distribution(&self, name: &str) -> Result<(), Error> {
        let record = self.instance.store.get(name)?;
        self.noting(|n| self.instance.ensure_distro(&record, n))
            .map(|_| ())
            .map_err(Error::from)
    }

    /// Runs `argv` as root in the distribution (starting it), stdin empty, and
    /// collects its output.
    pub fn run(&self, distro: &str, argv: &[&str]) -> Result<Output, Error> {
        let record = self.instance.store.get(distro)?;
        let _active =
            wslp_service::instance::CountGuard::new(&self.instance.active, &self.instance.wake);
        let running = self
            .noting(|n| self.instance.lease_distro(&record, n))
            .map_err(Error::from)?;
        capture(argv, |spec| running.distro.spawn(spec).map_err(Error::from))
    }

    /// Runs `argv` as root in the VM's root namespace.
    pub fn run_in_vm(&self, argv: &[&str]) -> Result<Output, Error> {
        let _active =
            wslp_service::instance::CountGuard::new(&self.instance.active, &self.instance.wake);
        let vm = self
            .noting(|n| self.instance.ensure_vm(n))
            .map_err(Error::from)?;
        capture(argv, |spec| vm.spawn(spec).map_err(Error::from))
    }

    /// Stops a distribution: OnDistributionStopping, then the stop.
    pub fn terminate(&self, name: &str) -> Result<(), Error> {
        let record = self.instance.store.get(name)?;
        self.instance.stop_distro(&record.id);
        Ok(())
    }

    /// Stops every distribution and the VM, with their stop hooks.
    pub fn shutdown(&self) {
        self.instance.stop_vm();
    }

    /// Whether the VM runs.
    pub fn vm_running(&self) -> bool {
        self.instance.vm().is_some()
    }

    /// What starting the VM told the user so far, as `wslp` prints it on
    /// stderr (SPEC §9's networking fallback warning).
    pub fn notices(&self) -> Vec<String> {
        self.notices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Runs `f` with a list for the notices of a VM start, and keeps them
    /// (printed on stderr too, as `wslp` would).
    fn noting<T>(&self, f: impl FnOnce(&mut Vec<String>) -> T) -> T {
        let mut new = Vec::new();
        let r = f(&mut new);
        for n in &new {
            eprintln!("{n}");
        }
        self.notices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(new);
        r
    }

    /// From now on, every hook call and API call of this host's plugins (their
    /// entry points when they restart, their plugin hosts' crashes and
    /// timeouts), each as a [`TraceEvent`] once it returned: what `wslp plugin
    /// trace` shows for a service. Events queue until read (up to 4096, then
    /// they are counted as dropped); dropping the subscription ends it.
    ///
    /// Subscriptions are per process and go by plugin name: two hosts of one
    /// test process with plugins of the same name see each other's events.
    pub fn trace(&self) -> Subscription {
        let mut names: Vec<String> = self
            .instance
            .plugins
            .plugins()
            .into_iter()
            .map(|(name, _, _)| name)
            .collect();
        if names.is_empty() {
            // No plugin: a name none can have, not "every plugin".
            names.push("\0".into());
        }
        wslp_host::trace::subscribe(&names)
    }

    #[cfg(feature = "wslc")]
    /// The caller as a client of this host's service.
    fn peer() -> wslp_ipc::conn::Peer {
        wslp_ipc::conn::Peer {
            pid: std::process::id() as i32,
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        }
    }

    #[cfg(feature = "wslc")]
    /// `wslp image import TARBALL REFERENCE` in the default WSLC session
    /// (created, and its VM with the container engine started, on first
    /// use): OnSessionCreated, WslcVmStarted, ImageCreated. The image's id.
    pub fn wslc_import_image(
        &self,
        tarball: impl AsRef<Path>,
        reference: &str,
    ) -> Result<String, Error> {
        let t = tarball.as_ref();
        let file = File::open(t).map_err(io(t.display()))?;
        wslp_service::wslc::import_image(&self.instance, Self::peer(), None, file, reference)
            .map_err(Error::from)
    }

    #[cfg(feature = "wslc")]
    /// `wslp container run --rm IMAGE ARGV…` with these labels in the default
    /// WSLC session: ContainerStarted (an error is exactly what `wslp`
    /// prints, and the container is stopped), then its output and exit code.
    pub fn wslc_run(
        &self,
        image: &str,
        argv: &[&str],
        labels: &[(&str, &str)],
    ) -> Result<Output, Error> {
        let (out_r, out_w) = nix::unistd::pipe().map_err(io("cannot make a pipe"))?;
        let (err_r, err_w) = nix::unistd::pipe().map_err(io("cannot make a pipe"))?;
        let stdin: OwnedFd = File::open("/dev/null")
            .map_err(io("cannot open /dev/null"))?
            .into();
        let (o, e) = (read_all(out_r), read_all(err_r));
        let run = wslp_wslc::ContainerRun {
            image: image.to_string(),
            cmd: argv.iter().map(|a| a.to_string()).collect(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        let ran = wslp_service::wslc::run_container(
            &self.instance,
            Self::peer(),
            None,
            run,
            false,
            true,
            [stdin, out_w, err_w],
        );
        let (stdout, stderr) = (o.join().unwrap_or_default(), e.join().unwrap_or_default());
        match ran.map_err(Error::from)? {
            wslp_service::wslc::Ran::Exited(code) => Ok(Output {
                code: code as i32,
                stdout,
                stderr,
            }),
            wslp_service::wslc::Ran::Detached(_) => unreachable!("not detached"),
        }
    }

    #[cfg(feature = "wslc")]
    /// Ends the default WSLC session: its VM stops (WslcVmStopping), then
    /// OnSessionStopping.
    pub fn wslc_terminate(&self) -> Result<(), Error> {
        let peer = Self::peer();
        let name = wslp_service::wslc::default_session_name(peer.uid);
        wslp_service::wslc::terminate_session(&self.instance, peer, &name).map_err(Error::from)
    }

    /// The VM log: stderr of processes started with ExecuteBinary.
    pub fn vm_log(&self) -> String {
        std::fs::read_to_string(self.instance.paths.vm_log()).unwrap_or_default()
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        self.instance.shutting_down.store(true, Ordering::SeqCst);
        wslp_service::wslc::terminate_all(&self.instance);
        self.instance.stop_vm();
    }
}

/// Everything `fd` gives until EOF, read on a thread of its own.
fn read_all(fd: OwnedFd) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = File::from(fd).read_to_end(&mut v);
        v
    })
}

fn capture(
    argv: &[&str],
    spawn: impl FnOnce(ProcessSpec) -> Result<wslp_vm::Process, Error>,
) -> Result<Output, Error> {
    let (out_r, out_w) = nix::unistd::pipe().map_err(io("cannot make a pipe"))?;
    let (err_r, err_w) = nix::unistd::pipe().map_err(io("cannot make a pipe"))?;
    let stdin: OwnedFd = File::open("/dev/null")
        .map_err(io("cannot open /dev/null"))?
        .into();
    let spec = ProcessSpec {
        program: None,
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: wslp_service::server::base_env("root", "/root", "/bin/sh", None, None),
        cwd: Some(PathBuf::from("/")),
        uid: 0,
        gid: 0,
        groups: vec![],
        stdin,
        stdout: out_w,
        stderr: err_w,
        controlling_tty: false,
        rlimits: Vec::new(),
        no_new_privs: false,
    };
    let process = spawn(spec)?;
    let (o, e) = (read_all(out_r), read_all(err_r));
    let code = process.wait()?;
    Ok(Output {
        code,
        stdout: o.join().unwrap_or_default(),
        stderr: e.join().unwrap_or_default(),
    })
}

/// Writes a busybox rootfs tarball: the host's static busybox with one link
/// per applet, /etc/passwd and /etc/group, and os-release.
pub fn busybox_tarball(out: &Path, id: &str, version: &str) -> Result<(), Error> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .ok_or(Error::NoBusybox)?;
    let staging = tempfile::tempdir().map_err(io("cannot create a temporary directory"))?;
    let r = staging.path();
    for d in [
        "bin",
        "sbin",
        "etc",
        "root",
        "tmp",
        "proc",
        "sys",
        "dev",
        "run",
        "home/user",
        "usr/bin",
        "usr/lib",
        "var/tmp",
    ] {
        std::fs::create_dir_all(r.join(d)).map_err(io(r.join(d).display()))?;
    }
    std::fs::copy(busybox, r.join("bin/busybox")).map_err(io(busybox.display()))?;
    let list = std::process::Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(io("cannot run busybox --list"))?;
    for app in String::from_utf8_lossy(&list.stdout).lines() {
        if app != "busybox" && !app.is_empty() {
            let _ = symlink("busybox", r.join("bin").join(app));
        }
    }
    let files = [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:A user:/home/user:/bin/sh\n"
                .to_string(),
        ),
        (
            "etc/group",
            "root:x:0:\nwheel:x:10:user\nuser:x:1000:\n".to_string(),
        ),
        ("etc/hostname", format!("{id}\n")),
        (
            "usr/lib/os-release",
            format!("ID={id}\nVERSION_ID=\"{version}\"\nNAME=\"wslp test\"\n"),
        ),
    ];
    for (p, text) in files {
        std::fs::write(r.join(p), text).map_err(io(r.join(p).display()))?;
    }
    symlink("../usr/lib/os-release", r.join("etc/os-release"))
        .map_err(io("cannot link etc/os-release"))?;
    let f = File::create(out).map_err(io(out.display()))?;
    let mut b = tar::Builder::new(f);
    b.follow_symlinks(false);
    b.append_dir_all(".", r).map_err(io(out.display()))?;
    b.finish().map_err(io(out.display()))
}
