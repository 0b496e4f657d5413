//! Per-user instances (SPEC §10) against the system instance, in one run:
//! warm and cold `wslp -d D -- true`, and ExecuteBinary from a hook. Both
//! sides are driven through the same `setpriv` wrapper (as `wslp-bench` and
//! as uid 0), and their samples interleave.

use anyhow::{Context, Result};

use crate::setup::{self, CliRoot, Env};
use crate::suites::{spawn_ms, summary, Iters};
use wslp_bench::report::{Goal, Report, Row};

pub fn rootless(env: &Env, cli: &CliRoot, it: Iters, rep: &mut Report) -> Result<()> {
    let user = setup::bench_user()?;
    let mine = CliRoot::for_user(env, "user-root", &env.plain_plugin, "", user)
        .context("setting up the benchmark user's own instance")?;
    let system = cli.via_setpriv();
    for _ in 0..5 {
        spawn_ms(&mut system.run_in(&["true"]))?;
        spawn_ms(&mut mine.run_in(&["true"]))?;
    }
    let (mut sys_warm, mut user_warm) = (vec![], vec![]);
    for _ in 0..it.warm {
        sys_warm.push(spawn_ms(&mut system.run_in(&["true"]))?);
        user_warm.push(spawn_ms(&mut mine.run_in(&["true"]))?);
    }
    let (sys_cold, user_cold) = cold_pair(&system, &mine, it)?;
    let s = "per-user instance against the system instance (SPEC §10)";
    let w = rep.add(Row::new(
        s,
        "warm wslp -d D -- true, system instance (via setpriv)",
        "ms",
        summary(&sys_warm),
    ));
    rep.add(
        Row::new(s, "warm wslp -d D -- true, per-user instance", "ms", summary(&user_warm))
            .against(&w)
            .goal(Goal::RatioAtMost(1.1))
            .note("the same setpriv wrapper on both sides; the user's wslpd is pid 1 of its own namespaces"),
    );
    let c = rep.add(Row::new(
        s,
        "cold wslp -d D -- true, system instance (via setpriv)",
        "ms",
        summary(&sys_cold),
    ));
    rep.add(
        Row::new(
            s,
            "cold wslp -d D -- true, per-user instance",
            "ms",
            summary(&user_cold),
        )
        .against(&c)
        .goal(Goal::RatioAtMost(1.1))
        .note("the system instance's nat is the kernel's (netlink, no process); the user's is pasta, whose own start is most of the difference (rows below)"),
    );
    drop(mine);

    // Where the cold start's difference goes: the same network on both sides.
    for (what, sys_extra, user_extra) in [
        ("both with pasta for nat", "nat_backend = \"pasta\"\n", ""),
        (
            "both with networking_mode none",
            "networking_mode = \"none\"\n",
            "networking_mode = \"none\"\n",
        ),
    ] {
        let tag = if user_extra.is_empty() {
            "pasta"
        } else {
            "none"
        };
        let system = CliRoot::with_settings(
            env,
            &format!("cold-system-{tag}"),
            &env.plain_plugin,
            &env.bin_dir,
            sys_extra,
        )?
        .via_setpriv_owned();
        let mine = CliRoot::for_user(
            env,
            &format!("cold-user-{tag}"),
            &env.plain_plugin,
            user_extra,
            user,
        )?;
        let (a, b) = cold_pair(&system, &mine, it)?;
        let c = rep.add(Row::new(
            s,
            &format!("cold wslp -d D -- true, system instance, {what}"),
            "ms",
            summary(&a),
        ));
        rep.add(
            Row::new(
                s,
                &format!("cold wslp -d D -- true, per-user instance, {what}"),
                "ms",
                summary(&b),
            )
            .against(&c)
            .note("what the per-user instance itself adds: its namespaces and their maps"),
        );
    }

    let (sys_exec, user_exec) = exec_samples(env, cli, user, it)?;
    let e = rep.add(Row::new(
        s,
        "ExecuteBinary(/bin/true) spawn to EOF, system instance",
        "ms",
        summary(&sys_exec),
    ));
    rep.add(
        Row::new(
            s,
            "ExecuteBinary(/bin/true) spawn to EOF, per-user instance",
            "ms",
            summary(&user_exec),
        )
        .against(&e)
        .goal(Goal::RatioAtMost(1.1))
        .note("measured inside OnVMStarted by the plugin, out of process"),
    );
    Ok(())
}

/// Cold `wslp -d D -- true` of both roots, sample by sample.
fn cold_pair(system: &CliRoot, mine: &CliRoot, it: Iters) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut a, mut b) = (vec![], vec![]);
    for _ in 0..it.cold {
        system.shutdown()?;
        a.push(spawn_ms(&mut system.run_in(&["true"]))?);
        mine.shutdown()?;
        b.push(spawn_ms(&mut mine.run_in(&["true"]))?);
    }
    Ok((a, b))
}

/// ExecuteBinary samples of the exec plugin in OnVMStarted, through a
/// system root and through the user's own, alternately VM start by VM start.
fn exec_samples(
    env: &Env,
    cli: &CliRoot,
    user: (u32, u32),
    it: Iters,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let out_dir = env.path("exec-user-out");
    std::fs::create_dir_all(&out_dir)?;
    std::process::Command::new("chown")
        .arg(format!("{}:{}", user.0, user.1))
        .arg(&out_dir)
        .status()?;
    let per_start = (it.exec / 5).max(10);
    let plugin = |tag: &str| {
        env.compile_plugin(
            &format!("execuser{tag}"),
            &[
                format!("BENCH_OUT=\"{}/{tag}.txt\"", out_dir.display()),
                format!("EXEC_N={per_start}"),
                "THR_N=0".into(),
                "THR_MIB=1".into(),
            ],
        )
    };
    let sys_root = CliRoot::with_settings(
        env,
        "exec-system-root",
        &plugin("system")?,
        cli.wslp.parent().unwrap_or(&env.bin_dir),
        "hook_timeout_ms = -1\n",
    )?;
    let mine = CliRoot::for_user(
        env,
        "exec-user-root",
        &plugin("user")?,
        "hook_timeout_ms = -1\n",
        user,
    )?;
    let read = |tag: &str| -> Result<Vec<f64>> {
        let path = out_dir.join(format!("{tag}.txt"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("the exec plugin wrote no {}", path.display()))?;
        Ok(text
            .lines()
            .filter_map(|l| l.strip_prefix("exec "))
            .filter_map(|ns| ns.trim().parse::<f64>().ok())
            .map(|ns| ns / 1e6)
            .collect())
    };
    let (mut a, mut b) = (vec![], vec![]);
    for _ in 0..5 {
        for (root, tag, into) in [(&sys_root, "system", &mut a), (&mine, "user", &mut b)] {
            root.shutdown()?;
            setup::run(&mut root.run_in(&["true"]))?;
            into.extend(read(tag)?);
        }
    }
    Ok((a, b))
}
