//! Issue 19's rows (SPEC §11): a session VM's cold start up to its engine
//! answering; `wslp container run --rm IMAGE true` in a warm session against
//! `docker run --rm` of the same image on the same engine, outside wslp; and
//! WSLCCreateProcess(/bin/true) to its exit, from WslcVmStarted, against
//! ExecuteBinary(/bin/true) to EOF from OnVMStarted, both in a plugin host.

use crate::setup::{which, CliRoot, Env};
use crate::suites::{summary, Iters};
use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wslp_bench::{Goal, Report, Row};

const SECTION_START: &str = "WSLC: a session VM's cold start, engine ready";
const SECTION_RUN: &str = "WSLC: container run --rm IMAGE /bin/true, warm session";
const SECTION_CALL: &str = "WSLC: WSLCCreateProcess(/bin/true) to exit, from a hook";

pub fn wslc(env: &Env, cli: &CliRoot, it: Iters, rep: &mut Report) -> Result<()> {
    for tool in ["dockerd", "containerd", "docker"] {
        if which(tool).is_none() {
            bail!("{tool} is missing: the WSLC rows need Debian's docker.io and containerd (scripts/setup.sh)");
        }
    }
    cold_start(env, it, rep)?;
    warm_run(env, cli, it, rep)?;
    from_a_hook(env, it, rep)
}

/// Session VM starts on one storage (the engine's state there after the
/// first), each up to the engine answering a ping; the first is left out.
fn cold_start(env: &Env, it: Iters, rep: &mut Report) -> Result<()> {
    let storage = env.path("wslc-cold");
    let n = it.cold.clamp(3, 15);
    let mut ms = Vec::new();
    for i in 0..=n {
        let cfg = wslp_wslc::SessionVmConfig::new(&storage, "wslc-bench");
        let t = Instant::now();
        let vm = wslp_wslc::SessionVm::start(&wslp_vm::NamespaceBackend, &cfg)
            .context("a session VM did not start")?;
        let took = t.elapsed().as_secs_f64() * 1e3;
        vm.stop(Duration::from_secs(5));
        if i > 0 {
            ms.push(took);
        }
    }
    rep.add(Row::new(
        SECTION_START,
        "session VM start to the engine's first answer",
        "ms",
        summary(&ms),
    ));
    Ok(())
}

fn timed(cmd: &mut Command) -> Result<f64> {
    let t = Instant::now();
    let o = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output()?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    if !o.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(ms)
}

/// The CLI against Docker's own CLI on the session's engine, interleaved.
fn warm_run(env: &Env, cli: &CliRoot, it: Iters, rep: &mut Report) -> Result<()> {
    let rootfs = env.path("wslc-bb.tar");
    wslp_testing::busybox_tarball(&rootfs, "busybox", "1")
        .map_err(|e| anyhow::anyhow!("busybox image: {e}"))?;
    crate::setup::run(
        cli.cmd()
            .args(["image", "import"])
            .arg(&rootfs)
            .arg("bench:1"),
    )?;
    let socket = cli.root.join("wslc/wslc-cli-root/engine/docker.sock");
    let host = format!("unix://{}", socket.display());
    let n = it.cold.max(5);
    let (mut ours, mut docker) = (Vec::new(), Vec::new());
    for i in 0..=n {
        let a = timed(
            cli.cmd()
                .args(["container", "run", "--rm", "bench:1", "/bin/true"]),
        )?;
        let b = timed(Command::new("docker").args([
            "-H",
            &host,
            "run",
            "--rm",
            "--network",
            "host",
            "bench:1",
            "/bin/true",
        ]))?;
        if i > 0 {
            ours.push(a);
            docker.push(b);
        }
    }
    let peer = rep.add(Row::new(
        SECTION_RUN,
        "docker run --rm on the same engine",
        "ms",
        summary(&docker),
    ));
    rep.add(
        Row::new(SECTION_RUN, "wslp container run --rm", "ms", summary(&ours))
            .against(&peer)
            .goal(Goal::RatioAtMost(1.2)),
    );
    crate::setup::run(cli.cmd().args(["session", "terminate", "wslc-cli-root"]))?;
    Ok(())
}

/// One plugin, in its plugin host, samples ExecuteBinary in OnVMStarted and
/// WSLCCreateProcess in WslcVmStarted, in the same embedded host.
fn from_a_hook(env: &Env, it: Iters, rep: &mut Report) -> Result<()> {
    let exec_out = env.path("wslc-exec.txt");
    let wslc_out = env.path("wslc-calls.txt");
    let n = (it.exec / 2).max(30);
    let so = env.compile_plugin(
        "wslcbench",
        &[
            format!("BENCH_OUT=\"{}\"", exec_out.display()),
            format!("EXEC_N={n}"),
            "THR_N=0".into(),
            format!("WSLC_OUT=\"{}\"", wslc_out.display()),
            format!("WSLC_N={n}"),
        ],
    )?;
    let host = wslp_testing::TestHost::builder()
        .plugin("WslcBench", &so)
        .setting("hook_timeout_ms = -1")
        .build()
        .map_err(|e| anyhow::anyhow!("embedded host: {e}"))?;
    host.start_vm()
        .map_err(|e| anyhow::anyhow!("the bench plugin's OnVMStarted failed: {e}"))?;
    let rootfs = env.path("wslc-bb.tar");
    host.wslc_import_image(&rootfs, "bench:1")
        .map_err(|e| anyhow::anyhow!("the session VM or its WslcVmStarted failed: {e}"))?;
    host.wslc_terminate()
        .map_err(|e| anyhow::anyhow!("ending the session: {e}"))?;
    host.shutdown();
    let samples = |path: &std::path::Path, tag: &str| -> Result<Vec<f64>> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("the bench plugin wrote no {}", path.display()))?;
        let v: Vec<f64> = text
            .lines()
            .filter_map(|l| l.strip_prefix(tag))
            .filter_map(|ns| ns.trim().parse::<f64>().ok())
            .map(|ns| ns / 1e6)
            .collect();
        if v.is_empty() {
            bail!("no '{tag}' samples in {}", path.display());
        }
        Ok(v)
    };
    let exec = samples(&exec_out, "exec ")?;
    let calls = samples(&wslc_out, "wslc ")?;
    let peer = rep.add(Row::new(
        SECTION_CALL,
        "ExecuteBinary(/bin/true) to EOF, from OnVMStarted",
        "ms",
        summary(&exec),
    ));
    rep.add(
        Row::new(
            SECTION_CALL,
            "WSLCCreateProcess(/bin/true) to its exit code, from WslcVmStarted",
            "ms",
            summary(&calls),
        )
        .against(&peer)
        .goal(Goal::RatioAtMost(1.5)),
    );
    Ok(())
}
