//! The measurements, one function per part of the table. Each measures its
//! peers in the same run, interleaved where the samples are cheap, so that the
//! machine's noise falls on both sides of a ratio.

use crate::setup::{self, CliRoot, Env};
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wslp_bench::procfs;
use wslp_bench::stats::{ms, time_ms};
use wslp_bench::{Goal, Report, Row, Summary};

/// Iteration counts: the full run takes a few minutes on 2 cores.
#[derive(Debug, Clone, Copy)]
pub struct Iters {
    pub warm: usize,
    pub cold: usize,
    pub exec: usize,
    pub thr_runs: usize,
    pub thr_mib: usize,
    pub hook: usize,
    pub vm_start: usize,
    pub probe: usize,
    pub client_runs: usize,
}

impl Iters {
    pub fn full() -> Iters {
        Iters {
            warm: 400,
            cold: 30,
            exec: 500,
            thr_runs: 15,
            thr_mib: 256,
            hook: 50_000,
            vm_start: 20,
            probe: 10,
            client_runs: 100,
        }
    }
    pub fn quick() -> Iters {
        Iters {
            warm: 40,
            cold: 5,
            exec: 60,
            thr_runs: 3,
            thr_mib: 64,
            hook: 2_000,
            vm_start: 3,
            probe: 3,
            client_runs: 20,
        }
    }
}

pub(crate) fn summary(samples: &[f64]) -> Summary {
    Summary::of(samples).expect("every measurement takes at least one sample")
}

/// Runs a command to its exit with no I/O; the wall time in ms.
pub(crate) fn spawn_ms(cmd: &mut Command) -> Result<f64> {
    let t = Instant::now();
    let st = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let elapsed = ms(t.elapsed());
    let st = st.with_context(|| format!("cannot start {cmd:?}"))?;
    if !st.success() {
        // Once more with stderr, for the message.
        setup::run(cmd)?;
        bail!("{cmd:?} failed ({st}) once, then succeeded");
    }
    Ok(elapsed)
}

/// Spawn with stdout on a pipe, read to EOF: what ExecuteBinary's caller waits for.
fn spawn_to_eof_ms(cmd: &mut Command) -> Result<f64> {
    let t = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut sink = Vec::new();
    out.read_to_end(&mut sink)?;
    let elapsed = ms(t.elapsed());
    let st = child.wait()?;
    if !st.success() {
        bail!("{cmd:?} failed: {st}");
    }
    Ok(elapsed)
}

/// `n` crun runs of the bundle, in ms, measured by a helper in its own mount
/// namespace (see [`crun_peer_main`]).
fn crun_samples(bundle: &Path, n: usize) -> Result<Vec<f64>> {
    let exe = std::env::current_exe()?;
    let o = Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(exe)
        .arg("crun-peer")
        .arg(bundle)
        .arg(n.to_string())
        .stdin(Stdio::null())
        .output()
        .context("cannot start the crun helper")?;
    if !o.status.success() {
        bail!(
            "crun run failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            l.parse::<f64>()
                .with_context(|| format!("bad crun sample {l:?}"))
        })
        .collect()
}

/// The helper: crun 1.8 refuses the hybrid cgroup layout ("cgroups in hybrid mode
/// not supported"); with the cgroup2 mount at /sys/fs/cgroup/unified detached in
/// a private mount namespace it sees plain cgroup v1, and the host is unchanged.
pub fn crun_peer_main(bundle: &Path, n: usize) -> Result<()> {
    let unified = Path::new("/sys/fs/cgroup/unified");
    if unified.exists() {
        // Not a mount point (no hybrid layout) is fine too.
        let _ = nix::mount::umount2(unified, nix::mount::MntFlags::MNT_DETACH);
    }
    let mut out = std::io::stdout().lock();
    for i in 0..n {
        let id = format!("wslp-bench-{}-{i}", std::process::id());
        let t = spawn_ms(
            Command::new("crun")
                .arg("run")
                .arg("--bundle")
                .arg(bundle)
                .arg(&id),
        )?;
        writeln!(out, "{t}")?;
    }
    Ok(())
}

/// Warm `wslp -d D -- true` against its peers, interleaved in rounds.
pub fn warm(env: &Env, cli: &CliRoot, it: Iters, rep: &mut Report) -> Result<Row> {
    let bundle = env.crun_bundle()?;
    // Warm up: the service, VM and distribution run; caches are hot.
    for _ in 0..5 {
        spawn_ms(&mut cli.run_in(&["true"]))?;
        spawn_ms(&mut setup::bwrap(&["/bin/true"]))?;
    }
    crun_samples(&bundle, 3)?;
    let (mut w, mut b, mut u, mut c, mut p) = (vec![], vec![], vec![], vec![], vec![]);
    let mut st = vec![];
    let rounds = 4;
    for _ in 0..rounds {
        for _ in 0..it.warm / rounds {
            w.push(spawn_ms(&mut cli.run_in(&["true"]))?);
            if let Some(s) = &env.static_wslp {
                st.push(spawn_ms(&mut cli.run_in_with(s, &["true"]))?);
            }
            b.push(spawn_ms(&mut setup::bwrap(&["/bin/true"]))?);
            u.push(spawn_ms(&mut setup::unshare(&["/bin/true"]))?);
            p.push(spawn_ms(&mut setup::plain(&["/bin/true"]))?);
        }
        c.extend(crun_samples(&bundle, it.warm / rounds)?);
    }
    let s = "warm run of /bin/true";
    let plain = rep.add(Row::new(
        s,
        "plain spawn /bin/true (floor)",
        "ms",
        summary(&p),
    ));
    rep.add(
        Row::new(
            s,
            "unshare --fork --pid --mount … /bin/true",
            "ms",
            summary(&u),
        )
        .against(&plain),
    );
    let bw =
        rep.add(Row::new(s, "bwrap --unshare-all … /bin/true", "ms", summary(&b)).against(&plain));
    rep.add(Row::new(s, "crun run (busybox bundle, /bin/true)", "ms", summary(&c)).against(&plain));
    // The goals are on the client releases ship when it was built (static),
    // else on this build's.
    let goals = |r: Row, g: Goal, on: bool| if on { r.goal(g) } else { r };
    let dynamic_goals = env.static_wslp.is_none();
    let mut warm_rows = vec![("wslp -d D -- true (warm)", &w, dynamic_goals)];
    if env.static_wslp.is_some() {
        warm_rows.push((
            "wslp -d D -- true (warm), static client as released",
            &st,
            true,
        ));
    }
    for (name, samples, on) in warm_rows {
        let warm = Row::new(s, name, "ms", summary(samples));
        rep.add(goals(warm.clone().against(&bw), Goal::RatioAtMost(0.5), on));
        let vs_plain = Row {
            name: format!("{name} vs a plain spawn"),
            ..warm
        };
        rep.add(goals(vs_plain.against(&plain), Goal::RatioAtMost(3.0), on));
    }
    hyperfine_check(env, cli, it, rep)?;
    version(env, cli, it, rep)?;
    Ok(bw)
}

/// `wslp --version` against the smallest Rust program, built in release here.
fn version(env: &Env, cli: &CliRoot, it: Iters, rep: &mut Report) -> Result<()> {
    let src = env.path("minimal.rs");
    let exe = env.path("minimal");
    std::fs::write(&src, "fn main() {\n    println!(\"minimal 1.0\");\n}\n")?;
    setup::run(
        Command::new("rustc")
            .args(["--edition", "2021", "-C", "opt-level=3", "-o"])
            .arg(&exe)
            .arg(&src),
    )
    .context("cannot build the minimal Rust binary (rustc)")?;
    let static_version = || {
        env.static_wslp.as_ref().map(|p| {
            let mut c = Command::new(p);
            c.arg("--version").stdin(Stdio::null());
            c
        })
    };
    let (mut m, mut v, mut sv) = (vec![], vec![], vec![]);
    for _ in 0..5 {
        spawn_ms(&mut Command::new(&exe))?;
        spawn_ms(cli.cmd().arg("--version"))?;
    }
    for _ in 0..it.warm {
        m.push(spawn_ms(&mut Command::new(&exe))?);
        v.push(spawn_ms(cli.cmd().arg("--version"))?);
        if let Some(mut c) = static_version() {
            sv.push(spawn_ms(&mut c)?);
        }
    }
    let s = "warm run of /bin/true";
    let min = rep.add(Row::new(
        s,
        "a minimal Rust binary (release)",
        "ms",
        summary(&m),
    ));
    let row = Row::new(s, "wslp --version", "ms", summary(&v)).against(&min);
    if sv.is_empty() {
        rep.add(row.goal(Goal::RatioAtMost(1.3)));
    } else {
        rep.add(row);
        rep.add(
            Row::new(s, "wslp --version, static as released", "ms", summary(&sv))
                .against(&min)
                .goal(Goal::RatioAtMost(1.3))
                .note("musl, statically linked: no dynamic loader at start"),
        );
    }
    Ok(())
}

/// The warm row again, timed by hyperfine (no shell, its own warm-up), as a check
/// on this harness.
fn hyperfine_check(env: &Env, cli: &CliRoot, it: Iters, rep: &mut Report) -> Result<()> {
    let json = env.path("hyperfine.json");
    let line = |c: &Command| {
        std::iter::once(c.get_program())
            .chain(c.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    // The client releases ship, when it was built.
    let client = match &env.static_wslp {
        Some(s) => cli.run_in_with(s, &["true"]),
        None => cli.run_in(&["true"]),
    };
    let (wslp, bwrap) = (line(&client), line(&setup::bwrap(&["/bin/true"])));
    let o = Command::new("hyperfine")
        .args(["-N", "--style", "none", "--warmup", "5", "--runs"])
        .arg((it.warm / 2).max(10).to_string())
        .arg("--export-json")
        .arg(&json)
        .args([&bwrap, &wslp])
        .env("WSLP_ROOT", &cli.root)
        .stdin(Stdio::null())
        .output()
        .context("cannot run hyperfine (apt-get install hyperfine)")?;
    if !o.status.success() {
        bail!(
            "hyperfine failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json)?).context("hyperfine wrote bad JSON")?;
    let times = |i: usize| -> Result<Vec<f64>> {
        v["results"][i]["times"]
            .as_array()
            .context("hyperfine's JSON has no times")?
            .iter()
            .map(|t| {
                t.as_f64()
                    .map(|s| s * 1e3)
                    .context("a time that is not a number")
            })
            .collect()
    };
    let s = "warm run of /bin/true";
    let bw = rep.add(Row::new(
        s,
        "hyperfine: bwrap --unshare-all … /bin/true",
        "ms",
        summary(&times(0)?),
    ));
    rep.add(
        Row::new(
            s,
            if env.static_wslp.is_some() {
                "hyperfine: wslp -d D -- true (warm), static client"
            } else {
                "hyperfine: wslp -d D -- true (warm)"
            },
            "ms",
            summary(&times(1)?),
        )
        .against(&bw)
        .goal(Goal::RatioAtMost(0.5)),
    );
    Ok(())
}

/// Cold start: from nothing running to `true` done in a distribution, with one
/// plugin's hooks: through the CLI (service start, plugin load, plugin host,
/// VM, distribution) and through the embedded host (no service process).
pub fn cold(env: &Env, cli: &CliRoot, bwrap: &Row, it: Iters, rep: &mut Report) -> Result<()> {
    let s = "cold start (VM + distribution + plugin hooks)";
    let mut cold = vec![];
    for _ in 0..it.cold {
        cli.shutdown()?;
        cold.push(spawn_ms(&mut cli.run_in(&["true"]))?);
    }
    let (mut b, mut service) = (vec![], vec![]);
    for _ in 0..it.cold {
        b.push(spawn_ms(&mut setup::bwrap(&["/bin/true"]))?);
        cli.shutdown()?;
        service.push(spawn_ms(cli.cmd().arg("--status"))?);
    }
    let bw = rep.add(
        Row::new(
            s,
            "bwrap --unshare-all … /bin/true (again, here)",
            "ms",
            summary(&b),
        )
        .against(bwrap),
    );
    rep.add(
        Row::new(s, "wslp -d D -- true after --shutdown", "ms", summary(&cold))
            .against(&bw)
            .goal(Goal::RatioAtMost(1.5))
            .note("starts wslpd, loads the plugin into its plugin host, starts the VM and the distribution"),
    );
    rep.add(
        Row::new(
            s,
            "part of it: wslp --status after --shutdown",
            "ms",
            summary(&service),
        )
        .against(&bw)
        .note("starting wslpd and loading the plugin, no VM: where the CLI's cold start goes"),
    );

    let host = wslp_testing::TestHost::builder()
        .plugin("Bench", &env.plain_plugin)
        .distribution_tarball("D", &env.tarball)
        .build()
        .map_err(|e| anyhow::anyhow!("embedded host: {e}"))?;
    let (mut emb, mut killed, mut warmed) = (vec![], 0, false);
    for i in 0..(it.cold + 1) * 3 {
        if emb.len() == it.cold {
            break;
        }
        let (t, r) = time_ms(|| -> Result<i32, wslp_testing::Error> {
            host.start_vm()?;
            host.start_distribution("D")?;
            Ok(host.run("D", &["true"])?.code)
        });
        let code = match r {
            Ok(c) => c,
            // The distribution's init died under it: the same bug, one step earlier.
            Err(e) if init_died(&e) => 137,
            Err(e) => bail!("embedded cold start (run {i}): {e}"),
        };
        host.shutdown();
        match code {
            0 if warmed => emb.push(t),
            0 => warmed = true,
            // Seen here: the first command in a fresh distribution is sometimes
            // SIGKILLed; such a sample is no cold start and is counted, not timed.
            137 => killed += 1,
            c => bail!("embedded cold start (run {i}): true exited with {c}"),
        }
    }
    if emb.is_empty() {
        bail!("embedded cold start: every first command in the distribution was killed (exit 137)");
    }
    rep.add(
        Row::new(s, "embedded host: VM + distribution + true", "ms", summary(&emb))
            .against(&bw)
            .goal(Goal::RatioAtMost(3.0))
            .note(format!(
                "wslp_testing::TestHost: the service's state machine in process, plugin in its plugin host; {killed} of {} first commands (or their distribution) were SIGKILLed, not timed",
                killed + emb.len() + 1
            )),
    );
    Ok(())
}

/// What the user namespace and its idmapped mounts add: warm and cold
/// `wslp -d D -- true` of this build against the binaries of `baseline`
/// (built by `scripts/bench.sh --baseline REV` from a revision before them),
/// interleaved sample by sample, each with its own root.
pub fn userns_cost(
    env: &Env,
    cli: &CliRoot,
    baseline: &Path,
    label: &str,
    it: Iters,
    rep: &mut Report,
) -> Result<()> {
    let before = CliRoot::with_binaries(env, "baseline-root", &env.plain_plugin, baseline)
        .with_context(|| {
            format!(
                "setting up a root with the baseline binaries of {}",
                baseline.display()
            )
        })?;
    for _ in 0..5 {
        spawn_ms(&mut cli.run_in(&["true"]))?;
        spawn_ms(&mut before.run_in(&["true"]))?;
    }
    let (mut now, mut was) = (vec![], vec![]);
    for _ in 0..it.warm {
        now.push(spawn_ms(&mut cli.run_in(&["true"]))?);
        was.push(spawn_ms(&mut before.run_in(&["true"]))?);
    }
    let (mut cold_now, mut cold_was) = (vec![], vec![]);
    for _ in 0..it.cold {
        cli.shutdown()?;
        cold_now.push(spawn_ms(&mut cli.run_in(&["true"]))?);
        before.shutdown()?;
        cold_was.push(spawn_ms(&mut before.run_in(&["true"]))?);
    }
    let s = "what the user namespace adds";
    let w = rep.add(Row::new(
        s,
        &format!("warm wslp -d D -- true, {label}"),
        "ms",
        summary(&was),
    ));
    rep.add(
        Row::new(s, "warm wslp -d D -- true, this build", "ms", summary(&now))
            .against(&w)
            .goal(Goal::AddsAtMost(0.5))
            .note("joining the user namespace and becoming root in it, on every command"),
    );
    let c = rep.add(Row::new(
        s,
        &format!("cold wslp -d D -- true, {label}"),
        "ms",
        summary(&cold_was),
    ));
    rep.add(
        Row::new(
            s,
            "cold wslp -d D -- true, this build",
            "ms",
            summary(&cold_now),
        )
        .against(&c)
        .goal(Goal::AddsAtMost(2.0))
        .note("the maps, the subuid lookup, the idmapped and locked rootfs, the storage check"),
    );
    Ok(())
}

/// What the exec plugin measured inside its OnVMStarted.
struct PluginSamples {
    exec_ms: Vec<f64>,
    /// (bytes, ms)
    thr: Vec<(u64, f64)>,
}

fn plugin_samples(env: &Env, it: Iters, in_process: bool) -> Result<PluginSamples> {
    let tag = if in_process { "in" } else { "out" };
    let out = env.path(&format!("exec-{tag}.txt"));
    let so = env.compile_plugin(
        &format!("exec{tag}"),
        &[
            format!("BENCH_OUT=\"{}\"", out.display()),
            format!("EXEC_N={}", it.exec),
            format!("THR_N={}", it.thr_runs),
            format!("THR_MIB={}", it.thr_mib),
        ],
    )?;
    let mut b = wslp_testing::TestHost::builder()
        .plugin("Exec", &so)
        .setting("hook_timeout_ms = -1");
    if in_process {
        b = b.setting("in_process_plugins = [\"Exec\"]");
    }
    let host = b
        .build()
        .map_err(|e| anyhow::anyhow!("embedded host: {e}"))?;
    host.start_vm()
        .map_err(|e| anyhow::anyhow!("the exec plugin's OnVMStarted failed: {e}"))?;
    host.shutdown();
    let text = std::fs::read_to_string(&out)
        .with_context(|| format!("the exec plugin wrote no {}", out.display()))?;
    let mut s = PluginSamples {
        exec_ms: vec![],
        thr: vec![],
    };
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        match f.as_slice() {
            ["exec", ns] => s.exec_ms.push(ns.parse::<f64>()? / 1e6),
            ["thr", bytes, ns] => s.thr.push((bytes.parse()?, ns.parse::<f64>()? / 1e6)),
            _ => bail!("bad line from the exec plugin: {l:?}"),
        }
    }
    if s.exec_ms.is_empty() || s.thr.is_empty() {
        bail!("the exec plugin wrote no samples to {}", out.display());
    }
    if let Some((bytes, _)) = s.thr.iter().find(|(b, _)| *b != (it.thr_mib as u64) << 20) {
        bail!(
            "ExecuteBinary of dd gave {bytes} bytes, not {} MiB",
            it.thr_mib
        );
    }
    Ok(s)
}

/// ExecuteBinary from a hook, spawn to EOF, and bytes through its socket.
pub fn exec_and_bytes(env: &Env, cli: &CliRoot, it: Iters, rep: &mut Report) -> Result<()> {
    let out_of_process = plugin_samples(env, it, false)?;
    let in_process = plugin_samples(env, it, true)?;
    let (mut p, mut u) = (vec![], vec![]);
    for _ in 0..it.exec {
        p.push(spawn_to_eof_ms(&mut setup::plain(&["/bin/true"]))?);
        u.push(spawn_to_eof_ms(&mut setup::unshare(&["/bin/true"]))?);
    }
    let s = "ExecuteBinary(/bin/true) from a hook, spawn to EOF";
    let plain = rep.add(Row::new(
        s,
        "plain host spawn, stdout to EOF",
        "ms",
        summary(&p),
    ));
    let un = rep
        .add(Row::new(s, "unshare … /bin/true, stdout to EOF", "ms", summary(&u)).against(&plain));
    let eb = Row::new(
        s,
        "ExecuteBinary (plugin host)",
        "ms",
        summary(&out_of_process.exec_ms),
    );
    rep.add(eb.clone().against(&un).goal(Goal::RatioAtMost(1.0)));
    rep.add(
        Row {
            name: "ExecuteBinary (plugin host) vs plain".into(),
            ..eb
        }
        .against(&plain)
        .goal(Goal::RatioAtMost(1.5)),
    );
    rep.add(
        Row::new(
            s,
            "ExecuteBinary (in process)",
            "ms",
            summary(&in_process.exec_ms),
        )
        .against(&un),
    );

    bytes(cli, it, &out_of_process, &in_process, rep)
}

/// Throughput rows from (bytes, ms) runs: p50 from the median time, p99 from the
/// slow tail (the 99th percentile time).
pub(crate) fn throughput(section: &str, name: &str, runs: &[(u64, f64)]) -> Row {
    let bytes = runs[0].0 as f64;
    let t = summary(&runs.iter().map(|r| r.1).collect::<Vec<_>>());
    let mbps = |ms: f64| bytes / 1e6 / (ms / 1e3);
    Row {
        p99: Some(mbps(t.p99)),
        ..Row::new(
            section,
            name,
            "MB/s",
            Summary {
                p50: mbps(t.p50),
                p99: mbps(t.p99),
                n: t.n,
            },
        )
    }
}

fn dd(mib: usize) -> Command {
    let mut c = Command::new("dd");
    c.args([
        "if=/dev/zero",
        "bs=1M",
        &format!("count={mib}"),
        "status=none",
    ]);
    c
}

/// Reads to EOF with the plugin's buffer size; the byte count.
fn drain(mut r: impl Read) -> Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => n += k as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// dd writing into `writer` (its stdout), read here to EOF.
fn through(mut dd: Command, writer: OwnedFd, reader: impl Read) -> Result<(u64, f64)> {
    let t = Instant::now();
    let mut child = dd
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .spawn()
        .context("cannot start dd")?;
    // Only dd holds the write end now (Command dropped ours), so EOF comes when it exits.
    drop(dd);
    let n = drain(reader)?;
    let elapsed = ms(t.elapsed());
    child.wait()?;
    Ok((n, elapsed))
}

fn bytes(
    cli: &CliRoot,
    it: Iters,
    out_of_process: &PluginSamples,
    in_process: &PluginSamples,
    rep: &mut Report,
) -> Result<()> {
    let total = (it.thr_mib as u64) << 20;
    // The service may have gone idle since the cold starts: start it again.
    spawn_ms(&mut cli.run_in(&["true"]))?;
    // The same ExecuteBinary socket, read here, so that it interleaves with its peers.
    let host = wslp_testing::TestHost::builder()
        .build()
        .map_err(|e| anyhow::anyhow!("embedded host: {e}"))?;
    host.start_vm()
        .map_err(|e| anyhow::anyhow!("VM start: {e}"))?;
    let vm = host.instance().vm().context("the VM stopped")?;
    let dd_argv: Vec<String> = [
        "dd",
        "if=/dev/zero",
        "bs=1M",
        &format!("count={}", it.thr_mib),
        "status=none",
    ]
    .map(String::from)
    .to_vec();
    let (mut sp, mut pipe, mut eb, mut cat, mut wcat) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..it.thr_runs {
        let (a, b) = UnixStream::pair()?;
        sp.push(through(dd(it.thr_mib), OwnedFd::from(b), a)?);
        let (r, w) = nix::unistd::pipe()?;
        pipe.push(through(dd(it.thr_mib), w, File::from(r))?);
        let t = Instant::now();
        let sock = vm
            .execute_binary("/bin/dd", &dd_argv)
            .context("ExecuteBinary of dd")?;
        eb.push((drain(File::from(sock))?, ms(t.elapsed())));
        for (out, cmd) in [
            (&mut cat, setup::plain(&["cat"])),
            (&mut wcat, cli.run_in(&["cat"])),
        ] {
            let mut cmd = cmd;
            let t = Instant::now();
            let mut gen = dd(it.thr_mib)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()?;
            let mut c = cmd
                .stdin(gen.stdout.take().expect("piped"))
                .stdout(Stdio::piped())
                .spawn()?;
            let n = drain(c.stdout.take().expect("piped"))?;
            let elapsed = ms(t.elapsed());
            gen.wait()?;
            let st = c.wait()?;
            if !st.success() || n != total {
                bail!("{cmd:?} passed {n} of {total} bytes and ended with {st}");
            }
            out.push((n, elapsed));
        }
    }
    drop(vm);
    host.shutdown();
    for (name, v) in [
        ("socketpair", &sp),
        ("pipe", &pipe),
        ("ExecuteBinary socket", &eb),
    ] {
        if let Some((n, _)) = v.iter().find(|(n, _)| *n != total) {
            bail!("dd through a {name} passed {n} of {total} bytes");
        }
    }
    let s = "bytes through (dd bs=1M of /dev/zero, read with 256 KiB)";
    let sock = rep.add(throughput(s, "raw socketpair", &sp));
    let pipe = rep.add(throughput(s, "pipe", &pipe));
    rep.add(
        throughput(s, "ExecuteBinary socket", &eb)
            .against(&sock)
            .goal(Goal::RatioAtLeast(0.9))
            .note("Vm::execute_binary's socket read by the suite, interleaved with its peers"),
    );
    rep.add(
        throughput(s, "ExecuteBinary socket, read in a hook (plugin host)", &out_of_process.thr)
            .against(&sock)
            .note("measured by the plugin inside OnVMStarted, before the peers: same socket, not interleaved"),
    );
    rep.add(
        throughput(
            s,
            "ExecuteBinary socket, read in a hook (in process)",
            &in_process.thr,
        )
        .against(&sock),
    );
    rep.add(throughput(s, "host cat between two pipes", &cat).against(&pipe));
    rep.add(
        throughput(s, "wslp -d D -- cat between two pipes", &wcat)
            .against(&pipe)
            .goal(Goal::RatioAtLeast(0.9))
            .note("busybox cat in the distribution; wslp passes its own descriptors, nothing is relayed"),
    );
    Ok(())
}

/// Hooks here call nothing back.
struct NoServices;

impl wslp_host::PluginServices for NoServices {
    fn execute_binary(&self, _: &str, _: &[String]) -> Result<OwnedFd, i32> {
        Err(wslp_abi::hresult::E_NOTIMPL)
    }
    fn execute_binary_in_distribution(
        &self,
        _: wslp_host::GUID,
        _: &str,
        _: &[String],
    ) -> Result<OwnedFd, i32> {
        Err(wslp_abi::hresult::E_NOTIMPL)
    }
    fn mount_folder(&self, _: &Path, _: &str, _: bool, _: &str) -> Result<(), i32> {
        Err(wslp_abi::hresult::E_NOTIMPL)
    }
}

fn per_call_us(n: usize, mut f: impl FnMut()) -> Summary {
    for _ in 0..n / 10 {
        f();
    }
    let v: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    summary(&v)
}

pub(crate) fn samples_us(n: usize, mut f: impl FnMut()) -> Vec<f64> {
    for _ in 0..n / 10 {
        f();
    }
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect()
}

/// A `wslp plugin trace` attached for as long as it lives: a subscription
/// written out as the service's tracer thread does it (batches, one
/// `ServerMessage` frame per event on a socket) and a client reading them.
struct Tracer {
    closer: wslp_host::trace::Closer,
    threads: [std::thread::JoinHandle<()>; 2],
}

impl Tracer {
    fn attach() -> Result<Tracer> {
        use wslp_host::trace::TraceItem;
        use wslp_ipc::conn::Conn;
        use wslp_ipc::protocol::ServerMessage;
        let (a, b) = UnixStream::pair()?;
        let (service, client) = (Conn::new(a), Conn::new(b));
        let sub = wslp_host::trace::subscribe(&[]);
        let closer = sub.closer();
        let writer = std::thread::spawn(move || {
            'stream: while let Some(batch) = sub.next_batch(Duration::from_millis(1)) {
                for item in batch {
                    let msg = match item {
                        TraceItem::Event(e) => ServerMessage::Trace(e),
                        TraceItem::Dropped(count) => ServerMessage::TraceDropped { count },
                    };
                    if service.send(&msg).is_err() {
                        break 'stream;
                    }
                }
            }
        });
        let reader = std::thread::spawn(move || while client.recv::<ServerMessage>().is_ok() {});
        Ok(Tracer {
            closer,
            threads: [writer, reader],
        })
    }

    fn detach(self) {
        self.closer.close();
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// One empty hook (OnVMStopping returns S_OK) through the plugin manager, in
/// process and through the plugin host; the peer is a one-byte round trip on a
/// socketpair to another thread, the least any out-of-process call costs.
/// Through the plugin host also with one tracer attached (SPEC §13), in
/// rounds alternating with the untraced samples.
pub fn hooks(env: &Env, it: Iters, rep: &mut Report) -> Result<()> {
    let (a, mut b) = UnixStream::pair()?;
    let echo = std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        while b.read_exact(&mut byte).is_ok() && b.write_all(&byte).is_ok() {}
    });
    let mut a2 = &a;
    let rt = per_call_us(it.hook, || {
        let mut byte = [1u8; 1];
        a2.write_all(&byte).expect("echo thread");
        a2.read_exact(&mut byte).expect("echo thread");
    });
    drop(a);
    let _ = echo.join();

    let mut managers = vec![];
    for in_process in [true, false] {
        let root = env.path(if in_process { "hooks-in" } else { "hooks-out" });
        std::fs::create_dir_all(&root)?;
        let copy = root.join("libbench.so");
        std::fs::copy(&env.plain_plugin, &copy)?;
        wslp_config::add_registry_entry(&root, "Bench", &copy)?;
        let settings = wslp_config::Settings {
            require_signatures: false,
            in_process_plugins: if in_process {
                vec!["Bench".into()]
            } else {
                vec![]
            },
            ..wslp_config::Settings::default()
        };
        let m = wslp_host::PluginManager::load(wslp_host::HostConfig {
            wslp_root: root,
            settings,
        });
        if let Some(f) = m.load_failure() {
            bail!("loading the benchmark plugin failed: {f:?}");
        }
        let session = m.open_session(0, Arc::new(NoServices));
        managers.push((m, session));
    }
    let inproc = per_call_us(it.hook, || managers[0].0.on_vm_stopping(&managers[0].1));
    let (m, session) = &managers[1];
    let rounds = 4;
    let (mut plain, mut traced) = (vec![], vec![]);
    for _ in 0..rounds {
        plain.extend(samples_us(it.hook / rounds, || m.on_vm_stopping(session)));
        let tracer = Tracer::attach()?;
        traced.extend(samples_us(it.hook / rounds, || m.on_vm_stopping(session)));
        tracer.detach();
    }
    for (m, session) in &managers {
        m.close_session(session);
    }
    let s = "hook dispatch, one empty hook per call";
    let peer = rep.add(Row::new(
        s,
        "socketpair 1-byte round trip (threads)",
        "µs",
        rt,
    ));
    rep.add(Row::new(s, "hook in process", "µs", inproc).against(&peer));
    let out = rep.add(
        Row::new(
            s,
            "hook out of process (plugin host)",
            "µs",
            summary(&plain),
        )
        .against(&peer)
        .goal(Goal::ValueAtMost(50.0)),
    );
    rep.add(
        Row::new(
            s,
            "hook out of process, one tracer attached",
            "µs",
            summary(&traced),
        )
        .against(&out)
        .goal(Goal::AddsAtMost(5.0))
        .note("wslp plugin trace: every hook an event, written to a socket a reader drains"),
    );
    Ok(())
}

/// VM start with 0, 1, 10 and 50 plugins (OnVMStarted of each).
pub fn scale_plugins(env: &Env, bwrap: &Row, it: Iters, rep: &mut Report) -> Result<()> {
    let s = "scaling: VM start with N plugins (embedded host)";
    let mut base: Option<Row> = None;
    let (mut p50, mut loads) = (vec![], vec![]);
    for n in [0usize, 1, 10, 50] {
        let mut b = wslp_testing::TestHost::builder();
        for (i, p) in env.plugin_copies(n)?.iter().enumerate() {
            b = b.plugin(&format!("Plain{i}"), p);
        }
        let (load, host) = time_ms(|| b.build());
        let host = host.map_err(|e| anyhow::anyhow!("embedded host with {n} plugins: {e}"))?;
        let mut v = vec![];
        for i in 0..it.vm_start + 1 {
            let (t, r) = time_ms(|| host.start_vm());
            r.map_err(|e| anyhow::anyhow!("VM start with {n} plugins: {e}"))?;
            host.shutdown();
            if i > 0 {
                v.push(t);
            }
        }
        let row = Row::new(s, &format!("VM start, {n} plugins"), "ms", summary(&v));
        let row = match &base {
            None => rep.add(row.against(bwrap)),
            Some(b) => rep.add(row.against(b)),
        };
        if n > 0 {
            rep.add(Row::single(
                s,
                &format!("load {n} plugins (one run)"),
                "ms",
                load,
            ));
        }
        p50.push((n, row.p50));
        loads.push((n, load));
        base.get_or_insert(row);
    }
    let per = |a: (usize, f64), b: (usize, f64)| (b.1 - a.1) / (b.0 - a.0) as f64;
    rep.growth.push(format!(
        "VM start grows linearly with plugins: {:.2} ms per plugin from 1 to 10, {:.2} ms per plugin from 10 to 50 (OnVMStarted is one round trip per plugin; the VM itself is {:.1} ms); loading at service start grows linearly too, {:.1} ms per plugin from 10 to 50 (a plugin-host process each)",
        per(p50[1], p50[2]),
        per(p50[2], p50[3]),
        p50[0].1,
        per(loads[2], loads[3])
    ));
    Ok(())
}

/// 1, 10 and 100 running distributions: memory per distribution and the start
/// time of the next one.
pub fn scale_distros(env: &Env, bwrap: &Row, it: Iters, rep: &mut Report) -> Result<()> {
    let s = "scaling: running distributions";
    let levels = [1usize, 10, 100];
    let max = levels[levels.len() - 1];
    let mut b = wslp_testing::TestHost::builder().plugin("Bench", &env.plain_plugin);
    for i in 0..max {
        b = b.distribution_tarball(&format!("D{i:03}"), &env.tarball);
    }
    b = b.distribution_tarball("Probe", &env.tarball);
    let (t, host) = time_ms(|| b.build());
    let host = host.map_err(|e| anyhow::anyhow!("embedded host with {max} distributions: {e}"))?;
    eprintln!(
        "        imported {} distributions in {:.1} s",
        max + 1,
        t / 1e3
    );
    host.start_vm()
        .map_err(|e| anyhow::anyhow!("VM start: {e}"))?;
    let kernel_before = procfs::kernel_kib().unwrap_or(0);

    // The peer: a bubblewrap sandbox that stays up, as a distribution does.
    let mut sandbox = setup::bwrap(&["--die-with-parent", "/bin/sleep", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(300));
    let sandbox_tree = procfs::tree(sandbox.id() as i32);
    let bw_pss = sandbox_tree
        .iter()
        .filter_map(|p| procfs::pss_kib(*p))
        .sum::<u64>() as f64
        / 1024.0;
    for p in sandbox_tree.iter().rev() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = sandbox.wait();
    let bw_mem = rep.add(Row::single(
        s,
        "bwrap sandbox running sleep: PSS",
        "MiB",
        bw_pss,
    ));

    let (mut started, mut died) = (0, 0);
    let mut first_start: Option<Row> = None;
    let mut first_mem: Option<Row> = None;
    let mut summary_lines = vec![];
    for k in levels {
        while started < k {
            start_retrying(&host, &format!("D{started:03}"), &mut died)?;
            started += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
        // Seen here: a distribution's init sometimes dies right after its start.
        // Restart those (ensure_distro does) until all k run, and count them.
        for _ in 0..20 {
            let dead: Vec<String> = (0..k)
                .map(|i| format!("D{i:03}"))
                .filter(|n| !is_running(&host, n))
                .collect();
            if dead.is_empty() {
                break;
            }
            died += dead.len();
            for n in dead {
                start_retrying(&host, &n, &mut died)?;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let inst = host.instance();
        let (mut pss, mut alive) = (0u64, 0usize);
        for i in 0..k {
            let rec = inst.store.get(&format!("D{i:03}"))?;
            if let Some(running) = inst.running(&rec.id) {
                pss += procfs::tree_pss_kib(running.distro.host_init_pid());
                alive += 1;
            }
        }
        if alive == 0 {
            bail!("none of the {k} started distributions runs");
        }
        let pss_each = pss as f64 / 1024.0 / alive as f64;
        let kernel_each = procfs::kernel_kib()
            .unwrap_or(0)
            .saturating_sub(kernel_before) as f64
            / 1024.0
            / k as f64;
        let mut v = vec![];
        for _ in 0..it.probe * 3 {
            if v.len() == it.probe {
                break;
            }
            let (t, r) = time_ms(|| host.start_distribution("Probe"));
            match r {
                Ok(()) => {}
                Err(e) if init_died(&e) => {
                    died += 1;
                    continue;
                }
                Err(e) => bail!("probe distribution: {e}"),
            }
            std::thread::sleep(Duration::from_millis(20));
            if is_running(&host, "Probe") {
                v.push(t);
            } else {
                died += 1;
            }
            host.terminate("Probe")
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if v.is_empty() {
            bail!("the probe distribution died after each of its starts");
        }
        let start = Row::new(
            s,
            &format!("start of the next distribution, {k} running"),
            "ms",
            summary(&v),
        );
        let start = match &first_start {
            None => rep.add(start.against(bwrap)),
            Some(f) => rep.add(start.against(f)),
        };
        let mem = Row::single(
            s,
            &format!("PSS per distribution, {k} running"),
            "MiB",
            pss_each,
        );
        let mem = match &first_mem {
            None => rep.add(mem.against(&bw_mem)),
            Some(f) => rep.add(mem.against(f)),
        };
        if k == max {
            rep.add(
                Row::single(s, &format!("kernel memory per distribution, {k} running"), "MiB", kernel_each)
                    .against(&bw_mem)
                    .note("growth of Slab + KernelStack + PageTables of the whole machine: namespaces, mounts, tasks; other processes add noise"),
            );
        }
        summary_lines.push((k, start.p50, mem.p50, kernel_each));
        first_start.get_or_insert(start);
        first_mem.get_or_insert(mem);
    }
    host.shutdown();
    if died > 0 {
        rep.growth.push(format!("distributions: {died} distribution inits died during or right after their start and were started again (they should not: see crates/vm/tests/main_thread.rs; such starts are not timed)"));
    }
    let (a, z) = (summary_lines[0], summary_lines[summary_lines.len() - 1]);
    rep.growth.push(format!(
        "distributions: the next one starts in {:.1} ms with {} running and {:.1} ms with {} running ({:.2}x, {:.3} ms more per running distribution); PSS per distribution {:.2} → {:.2} MiB (an idle distribution is one small init whose pages the others share, so it falls as they are split); kernel memory {:.2} MiB each with {} running",
        a.1, a.0, z.1, z.0, z.1 / a.1, (z.1 - a.1) / (z.0 - a.0) as f64, a.2, z.2, z.3, z.0
    ));
    Ok(())
}

/// Starts a distribution, again when its init dies during the start (the wslp-vm
/// bug counted in `died`).
fn start_retrying(host: &wslp_testing::TestHost, name: &str, died: &mut usize) -> Result<()> {
    for _ in 0..5 {
        match host.start_distribution(name) {
            Ok(()) => return Ok(()),
            Err(e) if init_died(&e) => *died += 1,
            Err(e) => bail!("starting {name}: {e}"),
        }
    }
    bail!("starting {name}: its init died during 5 starts in a row")
}

/// The distribution's init died under a start or a command.
fn init_died(e: &wslp_testing::Error) -> bool {
    let text = e.to_string();
    text.contains("init died") || text.contains("is not running")
}

fn is_running(host: &wslp_testing::TestHost, name: &str) -> bool {
    let inst = host.instance();
    inst.store
        .get(name)
        .ok()
        .and_then(|r| inst.running(&r.id))
        .is_some()
}

/// k clients each running `wslp -d D -- true` at the same time, against bwrap at
/// the same concurrency.
pub fn scale_clients(cli: &CliRoot, it: Iters, rep: &mut Report) -> Result<()> {
    let s = "scaling: concurrent clients";
    let mut lines = vec![];
    spawn_ms(&mut cli.run_in(&["true"]))?;
    for k in [1usize, 10, 100] {
        let per_client = (it.client_runs / k).max(2);
        let mut measured = vec![];
        for which in ["bwrap", "wslp"] {
            let t = Instant::now();
            let threads: Vec<_> = (0..k)
                .map(|_| {
                    let mk = move || {
                        if which == "wslp" {
                            cli.run_in(&["true"])
                        } else {
                            setup::bwrap(&["/bin/true"])
                        }
                    };
                    let cmds: Vec<Command> = (0..per_client).map(|_| mk()).collect();
                    std::thread::spawn(move || -> Result<Vec<f64>> {
                        cmds.into_iter().map(|mut c| spawn_ms(&mut c)).collect()
                    })
                })
                .collect();
            let mut lat = vec![];
            for th in threads {
                lat.extend(
                    th.join()
                        .map_err(|_| anyhow::anyhow!("a client thread panicked"))??,
                );
            }
            let wall = t.elapsed().as_secs_f64();
            measured.push((lat.len() as f64 / wall, summary(&lat)));
        }
        let (bt, bl) = measured[0];
        let (wt, wl) = measured[1];
        let peer_t = rep.add(Row::single(
            s,
            &format!("bwrap runs/s, {k} at once"),
            "runs/s",
            bt,
        ));
        let wt_row = rep.add(
            Row::single(s, &format!("wslp runs/s, {k} clients"), "runs/s", wt).against(&peer_t),
        );
        let peer_l = rep.add(Row::new(
            s,
            &format!("bwrap latency, {k} at once"),
            "ms",
            bl,
        ));
        rep.add(Row::new(s, &format!("wslp latency, {k} clients"), "ms", wl).against(&peer_l));
        lines.push((k, wt_row.p50, wl.p99));
    }
    rep.growth.push(format!(
        "clients: throughput {} runs/s with 1, {} with 10, {} with 100 clients (2 cores: it saturates once both are busy); p99 latency {} → {} → {} ms, growing with the queue (about k/throughput)",
        lines[0].1.round(), lines[1].1.round(), lines[2].1.round(),
        wslp_bench::report::num(lines[0].2), wslp_bench::report::num(lines[1].2), wslp_bench::report::num(lines[2].2)
    ));
    Ok(())
}

/// Idle RSS of wslpd and of each plugin host, against a sleeping `sleep`.
pub fn idle_rss(cli: &CliRoot, rep: &mut Report) -> Result<()> {
    let s = "idle memory";
    cli.run_in(&["true"]).status()?;
    std::thread::sleep(Duration::from_millis(500));
    let pid = cli.service_pid()?;
    let mut sleeper = Command::new("sleep").arg("30").spawn()?;
    std::thread::sleep(Duration::from_millis(100));
    let floor = procfs::rss_kib(sleeper.id() as i32).unwrap_or(0) as f64 / 1024.0;
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let floor = rep.add(Row::single(
        s,
        "sleep (a minimal process): RSS",
        "MiB",
        floor,
    ));
    let rss = procfs::rss_kib(pid).context("wslpd has no VmRSS")? as f64 / 1024.0;
    rep.add(Row::single(s, "wslpd idle RSS (VM and distribution up)", "MiB", rss).against(&floor));
    let hosts: Vec<i32> = procfs::processes()
        .into_iter()
        .filter(|(_, ppid, comm)| *ppid == pid && comm.starts_with("wslp-plugin-h"))
        .map(|(p, _, _)| p)
        .collect();
    let Some(&host) = hosts.first() else {
        bail!("wslpd (pid {pid}) has no wslp-plugin-host child: plugins are not out of process");
    };
    let rss = procfs::rss_kib(host).context("the plugin host has no VmRSS")? as f64 / 1024.0;
    rep.add(Row::single(s, "wslp-plugin-host idle RSS (per plugin)", "MiB", rss).against(&floor));
    Ok(())
}
