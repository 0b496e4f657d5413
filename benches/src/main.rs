//! `wslp-bench`: the whole benchmark table, as text, JSON and a PNG chart.
//!
//! `scripts/bench.sh` builds everything in release mode and runs this. Options:
//! `--quick` (fewer iterations, for a smoke run), `--out DIR` (default
//! `target/wslp-bench`), `--baseline DIR` (release binaries of another
//! revision, with its name in `DIR/REVISION`: adds the rows of what changed
//! since, see `scripts/bench.sh --baseline REV`), `--static DIR` (the static
//! `wslp` that releases ship, built by bench.sh: the warm and `--version`
//! goals are on it).

#![deny(unsafe_code)]

mod distros;
mod idle;
mod network;
mod rootless;
mod setup;
mod suites;
mod wslc;

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::time::Instant;
use wslp_bench::Report;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Internal: the crun peer, run by the suite inside `unshare --mount`.
    if args.first().map(String::as_str) == Some("crun-peer") {
        let n = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1);
        if let Err(e) = suites::crun_peer_main(&PathBuf::from(&args[1]), n) {
            eprintln!("{e:#}");
            std::process::exit(1);
        }
        return;
    }
    match run(&args) {
        Ok(missed) => std::process::exit(if missed { 2 } else { 0 }),
        Err(e) => {
            eprintln!("wslp-bench: {e:#}");
            std::process::exit(1);
        }
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: wslp-bench [--quick] [--out DIR] [--baseline DIR] [--static DIR] [--only wslc]"
    );
    std::process::exit(64);
}

/// Runs the suite; true when a goal was missed.
fn run(args: &[String]) -> Result<bool> {
    let mut it = suites::Iters::full();
    let mut out: Option<PathBuf> = None;
    let mut baseline: Option<PathBuf> = None;
    let mut static_dir: Option<PathBuf> = None;
    let mut only: Option<String> = None;
    let mut a = args.iter();
    while let Some(arg) = a.next() {
        match arg.as_str() {
            "--quick" => it = suites::Iters::quick(),
            "--out" => out = Some(a.next().unwrap_or_else(|| usage()).into()),
            "--baseline" => baseline = Some(a.next().unwrap_or_else(|| usage()).into()),
            "--static" => static_dir = Some(a.next().unwrap_or_else(|| usage()).into()),
            "--only" => only = Some(a.next().unwrap_or_else(|| usage()).clone()),
            _ => usage(),
        }
    }
    let t0 = Instant::now();
    let mut env = setup::Env::new()?;
    env.static_wslp = static_dir.map(|d| d.join("wslp"));
    let out = out.unwrap_or_else(|| {
        env.bin_dir
            .parent()
            .unwrap_or(&env.bin_dir)
            .join("wslp-bench")
    });
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;

    let mut rep = Report {
        machine: machine(),
        started_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        ..Report::default()
    };
    let step = |name: &str| eprintln!("[{:>5.1}s] {name}", t0.elapsed().as_secs_f64());
    {
        step("setting up a wslp root (service, VM, distribution, one plugin)");
        let cli = setup::CliRoot::new(&env, "cli-root", &env.plain_plugin)?;
        if only.as_deref() == Some("wslc") {
            step("WSLC: session VM cold start, container run against docker, WSLC calls against ExecuteBinary");
            wslc::wslc(&env, &cli, it, &mut rep)?;
            step("wslp --shutdown");
            return finish(rep, t0, &out);
        }
        if let Some(o) = &only {
            anyhow::bail!("--only knows one suite, wslc, not '{o}'");
        }
        step("warm runs against bwrap, unshare, crun and a plain spawn");
        let bwrap = suites::warm(&env, &cli, it, &mut rep)?;
        step("cold starts");
        suites::cold(&env, &cli, &bwrap, it, &mut rep)?;
        if let Some(dir) = &baseline {
            let label = std::fs::read_to_string(dir.join("REVISION"))
                .map(|r| r.trim().to_string())
                .unwrap_or_else(|_| dir.display().to_string());
            step("what the user namespace adds, against the baseline binaries");
            suites::userns_cost(&env, &cli, dir, &label, it, &mut rep)?;
        }
        step("ExecuteBinary from a hook, and bytes through sockets and pipes");
        suites::exec_and_bytes(&env, &cli, it, &mut rep)?;
        step("hook dispatch");
        suites::hooks(&env, it, &mut rep)?;
        step("VM start with 0, 1, 10, 50 plugins");
        suites::scale_plugins(&env, &bwrap, it, &mut rep)?;
        step("1, 10, 100 running distributions");
        suites::scale_distros(&env, &bwrap, it, &mut rep)?;
        step("1, 10, 100 concurrent clients");
        suites::scale_clients(&cli, it, &mut rep)?;
        step("networking: nat and localhost forwarding throughput, nat's cold start");
        network::network(&env, it, &mut rep)?;
        step("idle wake-ups, and one idle pass at 100 and 5,000 host processes");
        idle::idle(&env, it, &mut rep)?;
        step("export against tar -c, and reading wsl.conf");
        distros::distros(&env, it, &mut rep)?;
        step("per-user instance against the system instance");
        rootless::rootless(&env, &cli, it, &mut rep)?;
        step("WSLC: session VM cold start, container run against docker, WSLC calls against ExecuteBinary");
        wslc::wslc(&env, &cli, it, &mut rep)?;
        step("idle memory");
        suites::idle_rss(&cli, &mut rep)?;
        step("wslp --shutdown");
    }
    finish(rep, t0, &out)
}

/// Prints the table, writes results.json and the chart; true when a goal was missed.
fn finish(mut rep: Report, t0: Instant, out: &std::path::Path) -> Result<bool> {
    rep.wall_seconds = t0.elapsed().as_secs_f64();

    println!("{}", rep.table());
    let json = out.join("results.json");
    std::fs::write(&json, serde_json::to_vec_pretty(&rep)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    let png = out.join("results.png");
    match wslp_bench::chart::draw(&rep, &png) {
        Ok(()) => println!("\nwrote {} and {}", json.display(), png.display()),
        Err(e) => println!("\nwrote {}; no chart: {e}", json.display()),
    }
    let missed = rep.missed();
    if missed.is_empty() {
        println!("every goal met ({:.0} s)", rep.wall_seconds);
    } else {
        println!(
            "{} goal(s) missed ({:.0} s):",
            missed.len(),
            rep.wall_seconds
        );
        for r in &missed {
            println!("  {}: {}", r.section, r.name);
        }
    }
    Ok(!missed.is_empty())
}

/// CPU model, core count and kernel: what the figures were measured on.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{cores} cores, {cpu}, Linux {kernel}")
}
