//! Issue 18's rows: `wslp --export` against `tar -c` of the same tree, per
//! format, and what reading /etc/wsl.conf adds to a distribution start.

use crate::setup::{CliRoot, Env};
use crate::suites::{samples_us, summary, Iters};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;
use wslp_bench::{Goal, Report, Row};

/// Fills `dir` with about `mib` MiB of the host's own binaries, copied
/// over and over: data that compresses as a real distribution does.
fn fill(dir: &Path, mib: usize) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let sources: Vec<_> = std::fs::read_dir("/usr/bin")?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.len() > 64 << 10)
        })
        .collect();
    if sources.is_empty() {
        bail!("no binaries in /usr/bin to fill the distribution with");
    }
    let (mut total, mut i) = (0u64, 0usize);
    while total < (mib as u64) << 20 {
        let src = &sources[i % sources.len()];
        total += std::fs::copy(src, dir.join(format!("f{i}")))?;
        i += 1;
    }
    Ok(())
}

/// Times `cmd` from a quiet disk: what an earlier run left to write back
/// would otherwise land on this one's fsync.
fn timed(cmd: &mut Command) -> Result<f64> {
    Command::new("sync").status()?;
    let t = Instant::now();
    let st = cmd.stdin(Stdio::null()).stdout(Stdio::null()).status()?;
    if !st.success() {
        bail!("{cmd:?} failed: {st}");
    }
    Ok(t.elapsed().as_secs_f64())
}

pub fn distros(env: &Env, it: Iters, rep: &mut Report) -> Result<()> {
    let s = "distributions: export and wsl.conf";
    let mib = if it.thr_mib >= 256 { 200 } else { 20 };
    let cli = CliRoot::new(env, "export-root", &env.plain_plugin)?;
    let store = wslp_distro::DistroStore::open(&cli.root)?;
    let rootfs = store.get(&cli.distro)?.rootfs;
    fill(&rootfs.join("payload"), mib)?;
    let bytes = (mib as f64) * 1048576.0;
    // Runs alternate (peer, ours), so writeback and cache state fall on both;
    // the slow compressors get one run each.
    for (ending, tar_flag, runs) in [
        ("tar", None, 5),
        ("tar.gz", Some("-z"), 1),
        ("tar.xz", Some("-J"), 1),
        ("tar.zst", Some("--zstd"), 3),
    ] {
        let ours = env.path(&format!("export.{ending}"));
        let theirs = env.path(&format!("gnu.{ending}"));
        let (mut t_tar, mut t_ours) = (vec![], vec![]);
        for _ in 0..runs {
            // wslp syncs the file before giving it its name (a crash never
            // leaves a truncated FILE); so does the peer, with sync(1).
            let mut tar = Command::new("sh");
            tar.arg("-c")
                .arg(format!(
                    "tar -c {} -f \"$1\" -C \"$2\" . && sync \"$1\"",
                    tar_flag.unwrap_or("")
                ))
                .arg("sh")
                .arg(&theirs)
                .arg(&rootfs);
            let t = timed(&mut tar).context("tar -c (apt-get install tar zstd xz-utils)")?;
            t_tar.push(bytes / t / 1e6);
            let t = timed(cli.cmd().arg("--export").arg(&cli.distro).arg(&ours))?;
            t_ours.push(bytes / t / 1e6);
            let _ = std::fs::remove_file(&ours);
            let _ = std::fs::remove_file(&theirs);
        }
        let peer = rep.add(Row::new(
            s,
            &format!("tar -c && sync, {ending}, {mib} MiB tree"),
            "MB/s",
            summary(&t_tar),
        ));
        rep.add(
            Row::new(
                s,
                &format!("wslp --export, {ending}, {mib} MiB tree"),
                "MB/s",
                summary(&t_ours),
            )
            .against(&peer)
            .goal(Goal::RatioAtLeast(0.9)),
        );
    }
    // What a start pays for wsl.conf: reading and parsing a typical one.
    std::fs::write(
        rootfs.join("etc/wsl.conf"),
        "[boot]\nsystemd=false\ncommand=service ssh start\n[user]\ndefault=root\n[network]\nhostname=bench\ngenerateResolvConf=true\n[automount]\nenabled=false\n",
    )?;
    let read = samples_us(it.hook.clamp(100, 2_000), || {
        std::hint::black_box(wslp_distro::read_wsl_conf(&rootfs));
    });
    rep.add(
        Row::new(
            s,
            "reading /etc/wsl.conf at a distribution start",
            "µs",
            summary(&read),
        )
        .goal(Goal::ValueAtMost(200.0)),
    );
    Ok(())
}
