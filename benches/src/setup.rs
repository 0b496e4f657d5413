//! What the suite needs before it measures: the binaries, a busybox rootfs, the
//! benchmark plugin built with gcc, temporary wslp roots, a crun bundle, and
//! the peers' command lines.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The plugin's source, built at run time with the flags of each use.
const PLUGIN_SRC: &str = include_str!("../plugin/bench_plugin.c");
/// The Linux WSL plugin header.
const INCLUDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../include");

pub struct Env {
    /// Everything the suite creates lives here and goes with it.
    pub tmp: tempfile::TempDir,
    /// target/release: wslp, wslpd and wslp-plugin-host beside this binary.
    pub bin_dir: PathBuf,
    /// A busybox rootfs tarball (the test distribution).
    pub tarball: PathBuf,
    /// The plugin whose hooks do nothing.
    pub plain_plugin: PathBuf,
    /// The `wslp` that releases ship (static, musl: `--static DIR`), when built.
    pub static_wslp: Option<PathBuf>,
}

impl Env {
    pub fn new() -> Result<Env> {
        if !nix::unistd::geteuid().is_root() {
            bail!("wslp-bench needs root (the VM uses namespaces and mounts; the peers too): run `sudo scripts/bench.sh`");
        }
        let exe = std::env::current_exe().context("cannot find the wslp-bench binary's path")?;
        let bin_dir = exe
            .parent()
            .context("the wslp-bench binary has no directory")?
            .to_path_buf();
        for b in ["wslp", "wslpd", "wslp-plugin-host"] {
            if !bin_dir.join(b).is_file() {
                bail!(
                    "{} is missing: build it first (`cargo build --release -p wslp-cli -p wslp-service -p wslp-host`), or run scripts/bench.sh, which does",
                    bin_dir.join(b).display()
                );
            }
        }
        for tool in ["bwrap", "unshare", "crun", "dd", "cat", "gcc", "tar"] {
            which(tool).with_context(|| {
                format!("{tool} is missing: run scripts/bench.sh, which installs the peers")
            })?;
        }
        // The plugin host beside this binary is the one wslpd would use.
        std::env::set_var(
            wslp_host::manager::PLUGIN_HOST_ENV,
            bin_dir.join("wslp-plugin-host"),
        );
        let tmp = tempfile::Builder::new()
            .prefix("wslp-bench")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let tarball = tmp.path().join("busybox.tar");
        wslp_testing::busybox_tarball(&tarball, "debian", "13")
            .map_err(|e| anyhow::anyhow!("cannot build the busybox rootfs: {e}"))?;
        let mut env = Env {
            tmp,
            bin_dir,
            tarball,
            plain_plugin: PathBuf::new(),
            static_wslp: None,
        };
        env.plain_plugin = env.compile_plugin("plain", &[])?;
        Ok(env)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Builds the benchmark plugin with `-D` flags into `lib<name>.so`.
    pub fn compile_plugin(&self, name: &str, defines: &[String]) -> Result<PathBuf> {
        let src = self.path("bench_plugin.c");
        std::fs::write(&src, PLUGIN_SRC).context("cannot write the plugin source")?;
        let out = self.path(&format!("lib{name}.so"));
        let o = Command::new("gcc")
            .args(["-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC"])
            .arg(format!("-I{INCLUDE}"))
            .args(defines.iter().map(|d| format!("-D{d}")))
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .output()
            .context("cannot run gcc (apt-get install gcc)")?;
        if !o.status.success() {
            bail!(
                "gcc failed to build the benchmark plugin:\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        Ok(out)
    }

    /// `count` copies of the plain plugin (the dynamic loader shares one object per
    /// file, so each plugin gets its own file).
    pub fn plugin_copies(&self, count: usize) -> Result<Vec<PathBuf>> {
        let dir = self.path(&format!("plugins-{count}"));
        std::fs::create_dir_all(&dir)?;
        (0..count)
            .map(|i| {
                let p = dir.join(format!("libplain{i}.so"));
                std::fs::copy(&self.plain_plugin, &p)
                    .with_context(|| format!("cannot copy the plugin to {}", p.display()))?;
                Ok(p)
            })
            .collect()
    }

    /// An OCI bundle whose process is `/bin/true` in the busybox rootfs.
    pub fn crun_bundle(&self) -> Result<PathBuf> {
        let b = self.path("crun-bundle");
        std::fs::create_dir_all(b.join("rootfs"))?;
        run(Command::new("tar")
            .arg("-C")
            .arg(b.join("rootfs"))
            .arg("-xf")
            .arg(&self.tarball))?;
        run(Command::new("crun").arg("spec").current_dir(&b))?;
        let path = b.join("config.json");
        let mut cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path)?).context("crun spec wrote bad JSON")?;
        cfg["process"]["terminal"] = false.into();
        cfg["process"]["args"] = serde_json::json!(["/bin/true"]);
        std::fs::write(&path, serde_json::to_vec_pretty(&cfg)?)?;
        Ok(b)
    }
}

/// A wslp root driven through the CLI, as a user drives it. Dropping it runs
/// `wslp --shutdown`.
pub struct CliRoot {
    pub root: PathBuf,
    pub wslp: PathBuf,
    /// The plugin host of the same build as `wslp`.
    plugin_host: PathBuf,
    pub distro: String,
    /// `wslp` runs as this host user (uid, gid), through setpriv; `None`:
    /// as we are (root). The system instance's root is driven through the
    /// same setpriv as uid 0 when compared with a user's ([`CliRoot::via_setpriv`]).
    pub user: Option<(u32, u32)>,
    /// Shuts its service down when dropped (a [`CliRoot::via_setpriv`]
    /// view of another root does not).
    owns: bool,
}

/// `wslp-bench`: the unprivileged user whose per-user instance the suite
/// measures (with the subordinate ids useradd gives it), made when missing.
pub fn bench_user() -> Result<(u32, u32)> {
    const NAME: &str = "wslp-bench";
    let id = |flag: &str| -> Option<u32> {
        let o = Command::new("id").args([flag, NAME]).output().ok()?;
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    };
    if id("-u").is_none() {
        run(Command::new("useradd").args(["-M", "-s", "/bin/sh", NAME]))
            .context("cannot create the benchmark's unprivileged user")?;
    }
    Ok((
        id("-u").context("no uid for wslp-bench")?,
        id("-g").context("no gid for wslp-bench")?,
    ))
}

impl CliRoot {
    pub fn new(env: &Env, name: &str, plugin: &Path) -> Result<CliRoot> {
        Self::with_binaries(env, name, plugin, &env.bin_dir)
    }

    /// A root driven by the `wslp`, `wslpd` and `wslp-plugin-host` in
    /// `bin_dir` (another build, to compare with).
    pub fn with_binaries(env: &Env, name: &str, plugin: &Path, bin_dir: &Path) -> Result<CliRoot> {
        Self::with_settings(env, name, plugin, bin_dir, "")
    }

    /// A root whose `wslp.toml` has `extra` lines besides the suite's own.
    pub fn with_settings(
        env: &Env,
        name: &str,
        plugin: &Path,
        bin_dir: &Path,
        extra: &str,
    ) -> Result<CliRoot> {
        let root = env.path(name);
        std::fs::create_dir_all(&root)?;
        // Nothing stops on its own during the run (the idle timeouts are longer
        // than the run's longest gap between two commands), yet a run killed
        // half-way leaves no service and VM behind for long.
        // A key of `extra` replaces the suite's own.
        let key = |l: &str| l.split('=').next().unwrap_or("").trim().to_string();
        let mine = "require_signatures = false\nvm_idle_timeout_ms = 180000\ndistro_idle_timeout_ms = 180000\nservice_idle_timeout_ms = 5000\nlog_level = \"warn\"\n";
        let toml: String = mine
            .lines()
            .filter(|l| !extra.lines().any(|e| key(e) == key(l)))
            .chain(extra.lines())
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(root.join("wslp.toml"), toml)?;
        wslp_config::add_registry_entry(&root, "Bench", plugin)
            .context("cannot register the benchmark plugin")?;
        let r = CliRoot {
            root,
            wslp: bin_dir.join("wslp"),
            plugin_host: bin_dir.join("wslp-plugin-host"),
            distro: "Bench".into(),
            user: None,
            owns: true,
        };
        let dir = env.path(&format!("{name}-distro"));
        run(r
            .cmd()
            .arg("--import")
            .arg(&r.distro)
            .arg(&dir)
            .arg(&env.tarball))?;
        Ok(r)
    }

    /// A user's own instance (SPEC §10) with `plugin` and `extra` settings:
    /// its root is the user's, the distribution is imported by the user.
    pub fn for_user(
        env: &Env,
        name: &str,
        plugin: &Path,
        extra: &str,
        user: (u32, u32),
    ) -> Result<CliRoot> {
        use std::os::unix::fs::PermissionsExt;
        // The user passes through the suite's directory to their root.
        std::fs::set_permissions(env.tmp.path(), std::fs::Permissions::from_mode(0o755))?;
        let root = env.path(name);
        std::fs::create_dir_all(&root)?;
        let toml = format!(
            "require_signatures = false\nvm_idle_timeout_ms = 180000\ndistro_idle_timeout_ms = 180000\nservice_idle_timeout_ms = 5000\nlog_level = \"warn\"\n{extra}"
        );
        std::fs::write(root.join("wslp.toml"), toml)?;
        wslp_config::add_registry_entry(&root, "Bench", plugin)
            .context("cannot register the benchmark plugin")?;
        run(Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", user.0, user.1))
            .arg(&root))?;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))?;
        let tarball = root.join("busybox.tar");
        std::fs::copy(&env.tarball, &tarball)?;
        let r = CliRoot {
            root: root.clone(),
            wslp: env.bin_dir.join("wslp"),
            plugin_host: env.bin_dir.join("wslp-plugin-host"),
            distro: "Bench".into(),
            user: Some(user),
            owns: true,
        };
        run(r
            .cmd()
            .arg("--import")
            .arg(&r.distro)
            .arg(root.join("distro"))
            .arg(&tarball))?;
        Ok(r)
    }

    /// This root driven through setpriv as uid 0, as a user's is driven as
    /// the user: the same wrapper on both sides of a comparison.
    pub fn via_setpriv(&self) -> CliRoot {
        CliRoot {
            root: self.root.clone(),
            wslp: self.wslp.clone(),
            plugin_host: self.plugin_host.clone(),
            distro: self.distro.clone(),
            user: Some(self.user.unwrap_or((0, 0))),
            owns: false,
        }
    }

    /// This root, driven through setpriv as uid 0 from now on.
    pub fn via_setpriv_owned(mut self) -> CliRoot {
        self.user = Some(self.user.unwrap_or((0, 0)));
        self
    }

    pub fn cmd(&self) -> Command {
        let mut c = match self.user {
            None => Command::new(&self.wslp),
            Some((uid, gid)) => {
                let mut c = Command::new("setpriv");
                c.args([
                    &format!("--reuid={uid}"),
                    &format!("--regid={gid}"),
                    "--init-groups",
                    "--",
                ])
                .arg(&self.wslp)
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("HOME", &self.root);
                c
            }
        };
        c.env("WSLP_ROOT", &self.root)
            .env(wslp_host::manager::PLUGIN_HOST_ENV, &self.plugin_host)
            .stdin(Stdio::null());
        c
    }

    /// `wslp -d D -- ARGS…` with another `wslp` binary (the static one).
    pub fn run_in_with(&self, wslp: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(wslp);
        c.env("WSLP_ROOT", &self.root)
            .stdin(Stdio::null())
            .arg("-d")
            .arg(&self.distro)
            .arg("--")
            .args(args);
        c
    }

    /// `wslp -d D -- ARGS…`
    pub fn run_in(&self, args: &[&str]) -> Command {
        let mut c = self.cmd();
        c.arg("-d").arg(&self.distro).arg("--").args(args);
        c
    }

    pub fn shutdown(&self) -> Result<()> {
        run(self.cmd().arg("--shutdown"))
    }

    /// The service's pid, from its greeting.
    pub fn service_pid(&self) -> Result<i32> {
        use wslp_ipc::protocol::{ClientMessage, ServerMessage, PROTOCOL_VERSION};
        let sock = wslp_config::Paths::new(&self.root).socket();
        let s = std::os::unix::net::UnixStream::connect(&sock)
            .with_context(|| format!("cannot reach wslpd at {}", sock.display()))?;
        let conn = wslp_ipc::conn::Conn::new(s);
        conn.send(&ClientMessage::Hello {
            version: PROTOCOL_VERSION,
        })?;
        match conn.recv::<ServerMessage>()?.0 {
            ServerMessage::Hello { service_pid, .. } => Ok(service_pid as i32),
            other => bail!("wslpd answered {other:?} to a greeting"),
        }
    }
}

impl Drop for CliRoot {
    fn drop(&mut self) {
        if !self.owns {
            return;
        }
        if let Err(e) = self.shutdown() {
            eprintln!(
                "wslp-bench: `wslp --shutdown` for {} failed: {e:#}",
                self.root.display()
            );
        }
    }
}

/// Runs to completion; an error carries the command and its stderr.
pub fn run(cmd: &mut Command) -> Result<()> {
    let o = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !o.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(())
}

pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// `/bin/true` with no isolation: the floor of any spawn.
pub fn plain(args: &[&str]) -> Command {
    let mut c = Command::new(args[0]);
    c.args(&args[1..]);
    c
}

/// util-linux unshare with the namespaces the VM gets (mount, pid, uts, ipc, net, cgroup).
pub fn unshare(args: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.args([
        "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--cgroup",
    ])
    .args(args);
    c
}

/// bubblewrap with every namespace and a minimal read-only root: the host's /usr
/// with the usrmerge links, /proc and /dev, as the VM has.
pub fn bwrap(args: &[&str]) -> Command {
    let mut c = Command::new("bwrap");
    c.args(["--unshare-all", "--ro-bind", "/usr", "/usr"]);
    for (link, target) in [
        ("/bin", "usr/bin"),
        ("/sbin", "usr/sbin"),
        ("/lib", "usr/lib"),
        ("/lib64", "usr/lib64"),
    ] {
        c.args(["--symlink", target, link]);
    }
    c.args(["--proc", "/proc", "--dev", "/dev"]).args(args);
    c
}
