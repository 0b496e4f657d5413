//! How often an idle wslpd wakes, and what one look at idleness costs as the
//! host's process count grows (issue 15's idle rows).

use crate::setup::{CliRoot, Env};
use crate::suites::{samples_us, summary};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use wslp_bench::{Goal, Report, Row};

/// Context switches (voluntary and not) of each thread of `pid`.
fn switches(pid: i32) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in dir.flatten() {
        let Ok(status) = std::fs::read_to_string(t.path().join("status")) else {
            continue;
        };
        let n = status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        out.insert(t.file_name().to_string_lossy().into_owned(), n);
    }
    out
}

/// Context switches summed over all of wslpd's threads during `window`
/// (threads that come and go count what they did in it).
fn switches_during(pid: i32, window: Duration) -> u64 {
    let before = switches(pid);
    std::thread::sleep(window);
    switches(pid)
        .iter()
        .map(|(tid, n)| n.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum()
}

/// Sleeping processes that bring the host to `total` processes; killed on drop.
struct Crowd(Vec<Child>);

impl Crowd {
    fn to(total: usize) -> Result<Crowd> {
        let now = host_processes();
        let mut v = Vec::new();
        for _ in now..total {
            v.push(
                Command::new("sleep")
                    .arg("3600")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .context("cannot start a sleep for the process crowd")?,
            );
        }
        Ok(Crowd(v))
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

fn host_processes() -> usize {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.parse::<u32>().is_ok())
                })
                .count()
        })
        .unwrap_or(0)
}

/// Wave 1's look at a distribution: every host process's pid namespace.
fn proc_scan(pid_ns: u64) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/pid")).is_ok_and(|m| m.ino() == pid_ns)
        })
        .count()
}

pub fn idle(env: &Env, it: crate::suites::Iters, rep: &mut Report) -> Result<()> {
    let s = "idle wslpd (VM and a distribution up, no command running)";
    let window = Duration::from_secs(10);
    let off =
        "vm_idle_timeout_ms = -1\ndistro_idle_timeout_ms = -1\nservice_idle_timeout_ms = -1\n";
    // Timeouts off, nothing to forward: nothing may wake it.
    {
        let cli = CliRoot::with_settings(
            env,
            "idle-off",
            &env.plain_plugin,
            &env.bin_dir,
            &format!("{off}localhost_forwarding = false\n"),
        )?;
        crate::setup::run(&mut cli.run_in(&["true"]))?;
        let pid = cli.service_pid()?;
        std::thread::sleep(Duration::from_millis(500));
        let n = switches_during(pid, window) as f64;
        rep.add(
            Row::single(
                s,
                "context switches in 10 s, timeouts -1, localhost forwarding off",
                "",
                n,
            )
            .goal(Goal::ValueAtMost(2.0)),
        );
    }
    {
        let cli = CliRoot::with_settings(env, "idle-nat", &env.plain_plugin, &env.bin_dir, off)?;
        crate::setup::run(&mut cli.run_in(&["true"]))?;
        let pid = cli.service_pid()?;
        std::thread::sleep(Duration::from_millis(500));
        let n = switches_during(pid, window) as f64;
        rep.add(
            Row::single(s, "context switches in 10 s, timeouts -1, default networking", "", n).note(
                "localhost forwarding looks for new listening sockets once a second: the kernel has no event for them",
            ),
        );
    }
    // The default timeouts: the distribution's timer runs during the window
    // (it is idle, its 15 s are not up), at 100 and at 5,000 host processes.
    let d = wslp_config::Settings::default();
    let defaults = format!(
        "vm_idle_timeout_ms = {}\ndistro_idle_timeout_ms = {}\nservice_idle_timeout_ms = {}\n",
        d.vm_idle_timeout_ms, d.distro_idle_timeout_ms, d.service_idle_timeout_ms
    );
    let cli = CliRoot::with_settings(
        env,
        "idle-default",
        &env.plain_plugin,
        &env.bin_dir,
        &defaults,
    )?;
    // The look itself, in an embedded host with the same defaults.
    let host = wslp_testing::TestHost::builder()
        .busybox_distribution("Idle")
        .build()
        .context("cannot set up the embedded host")?;
    host.start_distribution("Idle")?;
    let inst = host.instance();
    let running = inst
        .running(&inst.store.get("Idle")?.id)
        .context("the distribution does not run")?;
    let pid_ns = running.distro.pid_namespace();
    let mut base: Option<(Row, Row)> = None;
    for total in [100usize, 5_000] {
        let _crowd = Crowd::to(total)?;
        let have = host_processes();
        crate::setup::run(&mut cli.run_in(&["true"]))?;
        let pid = cli.service_pid()?;
        std::thread::sleep(Duration::from_millis(500));
        let per_s = switches_during(pid, window) as f64 / window.as_secs_f64();
        rep.add(
            Row::single(
                s,
                &format!("wake-ups/s, default timeouts, {have} host processes"),
                "/s",
                per_s,
            )
            .goal(Goal::ValueAtMost(2.0)),
        );
        let n = it.hook.clamp(50, 2_000);
        let tick = samples_us(n, || {
            let mut st = wslp_service::instance::IdleState::default();
            std::hint::black_box(inst.idle_tick(&mut st));
        });
        let scan = samples_us(n.min(200), || {
            std::hint::black_box(proc_scan(pid_ns));
        });
        let tick = Row::new(
            s,
            &format!("one idle pass, {have} host processes"),
            "µs",
            summary(&tick),
        );
        let scan = Row::new(
            s,
            &format!("wave 1's /proc scan for one distribution, {have} host processes"),
            "µs",
            summary(&scan),
        );
        match &base {
            None => {
                rep.add(scan.clone());
                rep.add(tick.clone());
                base = Some((tick, scan));
            }
            Some((t0, s0)) => {
                rep.add(scan.against(s0));
                rep.add(tick.against(t0).goal(Goal::RatioAtMost(1.5)).note(
                    "against the same pass at 100 host processes: it must not grow with them",
                ));
            }
        }
    }
    Ok(())
}
