//! What networking costs (SPEC §9, docs/networking.md): TCP throughput from
//! a distribution to a server on the host over nat (kernel parts, and pasta),
//! and through localhost forwarding, each against the same bytes over the
//! host's loopback with the same client and server; and what nat adds to a
//! cold start, against networking_mode none.
//!
//! Every byte moves between the suite and `tools/tcpbench.c` (256 KiB
//! writes and reads, built static so that the same binary runs on the host
//! for the peer and in the busybox distribution), so a ratio compares the
//! paths, not the tools (busybox's nc writes 1 KiB at a time: it would
//! measure itself).

use crate::setup::{CliRoot, Env};
use crate::suites::{spawn_ms, summary, throughput, Iters};
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wslp_bench::stats::{ms, time_ms};
use wslp_bench::{Goal, Report, Row};

const SECTION: &str = "networking (nat, localhost forwarding)";

/// The gateway of a running nat VM, from `wslp --status`.
fn gateway(root: &CliRoot) -> Result<Ipv4Addr> {
    let out = root.cmd().arg("--status").output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Networking: "))
        .and_then(|l| l.split("via ").nth(1))
        .and_then(|r| r.split([';', ' ', ')']).next())
        .and_then(|g| g.parse().ok())
        .with_context(|| format!("no nat gateway in `wslp --status`:\n{text}"))
}

/// Accepts one connection within a minute and drains it: (bytes, ms from
/// the accept to EOF).
fn drain_one(l: &TcpListener) -> Result<(u64, f64)> {
    l.set_nonblocking(true)?;
    let end = Instant::now() + Duration::from_secs(60);
    let mut c = loop {
        match l.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => bail!("no connection came: {e}"),
        }
    };
    c.set_nonblocking(false)?;
    let t = Instant::now();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => n += k as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok((n, ms(t.elapsed())))
}

/// Ends a sender (ours): it may wait for a close it already had.
fn finish(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Builds tools/tcpbench.c statically into the suite's directory.
fn build_tcpbench(env: &Env) -> Result<PathBuf> {
    let out = env.path("tcpbench");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/tcpbench.c");
    let o = Command::new("gcc")
        .args(["-O2", "-static", "-o"])
        .arg(&out)
        .arg(src)
        .output()
        .context("cannot run gcc")?;
    if !o.status.success() {
        bail!(
            "gcc -static failed for {src} (the static C library is in libc6-dev):\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(out)
}

/// Puts tcpbench in the distribution of the root named `root_name` as
/// /bin/tcpbench.
fn install_tcpbench(env: &Env, root_name: &str, tcpbench: &Path) -> Result<()> {
    let to = env
        .path(&format!("{root_name}-distro"))
        .join("rootfs/bin/tcpbench");
    std::fs::copy(tcpbench, &to)
        .with_context(|| format!("cannot copy tcpbench to {}", to.display()))?;
    Ok(())
}

fn quiet(mut cmd: Command) -> Result<Child> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start tcpbench")
}

/// One run of bytes from `send` (`tcpbench`, here or in a distribution,
/// without its arguments) to a reader here on `listen`, sent to `connect`.
fn upload(
    mut send: Command,
    mib: usize,
    listen: Ipv4Addr,
    connect: Ipv4Addr,
) -> Result<(u64, f64)> {
    let l = TcpListener::bind((listen, 0))?;
    let port = l.local_addr()?.port();
    send.args([
        "send",
        &connect.to_string(),
        &port.to_string(),
        &mib.to_string(),
    ]);
    let child = quiet(send)?;
    let r = drain_one(&l);
    finish(child);
    let r = r?;
    if r.0 != (mib as u64) << 20 {
        bail!("{} of {} bytes arrived", r.0, (mib as u64) << 20);
    }
    Ok(r)
}

/// A free port of the host's loopback (free when asked).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Bytes from here to `tcpbench recv` (`recv` without its arguments) at
/// 127.0.0.1:`port`: (bytes, ms from the connect to the server's close).
fn download(mut recv: Command, port: u16, mib: usize) -> Result<(u64, f64)> {
    recv.args(["recv", &port.to_string()]);
    let child = quiet(recv)?;
    let end = Instant::now() + Duration::from_secs(30);
    let r = (|| {
        let mut c = loop {
            match TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
                Ok(c) => break c,
                Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => bail!("127.0.0.1:{port} never opened: {e}"),
            }
        };
        let chunk = vec![0u8; 256 * 1024];
        let total = (mib as u64) << 20;
        let t = Instant::now();
        let mut sent = 0u64;
        while sent < total {
            c.write_all(&chunk)?;
            sent += chunk.len() as u64;
        }
        c.shutdown(Shutdown::Write)?;
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        Ok((sent, ms(t.elapsed())))
    })();
    finish(child);
    r
}

pub fn network(env: &Env, it: Iters, rep: &mut Report) -> Result<()> {
    let tcpbench = build_tcpbench(env)?;
    let root = |name: &str, extra: &str| {
        CliRoot::with_settings(env, name, &env.plain_plugin, &env.bin_dir, extra)
    };
    let nat = root(
        "net-nat",
        "networking_mode = \"nat\"\nnat_backend = \"kernel\"\n",
    )?;
    let none = root("net-none", "networking_mode = \"none\"\n")?;
    let pasta = root(
        "net-pasta",
        "networking_mode = \"nat\"\nnat_backend = \"pasta\"\n",
    )?;
    for name in ["net-nat", "net-pasta"] {
        install_tcpbench(env, name, &tcpbench)?;
    }
    let host = || Command::new(&tcpbench);
    let inside = |root: &CliRoot| root.run_in(&["/bin/tcpbench"]);

    // What nat adds to a cold start, interleaved with none.
    let (mut c_none, mut c_nat) = (vec![], vec![]);
    for _ in 0..it.cold {
        none.shutdown()?;
        c_none.push(spawn_ms(&mut none.run_in(&["true"]))?);
        nat.shutdown()?;
        c_nat.push(spawn_ms(&mut nat.run_in(&["true"]))?);
    }
    let r_none = rep.add(Row::new(
        SECTION,
        "cold wslp -d D -- true, networking_mode none",
        "ms",
        summary(&c_none),
    ));
    rep.add(
        Row::new(SECTION, "cold wslp -d D -- true, nat", "ms", summary(&c_nat))
            .against(&r_none)
            .goal(Goal::AddsAtMost(3.0))
            .note("veth, addresses, route, nftables table (netlink), DNS files, localhost forwarding; the host side while the VM starts"),
    );
    // The same in the embedded host: no service start around it.
    let embedded = |mode: &str| -> Result<Vec<f64>> {
        let host = wslp_testing::TestHost::builder()
            .setting(&format!("networking_mode = \"{mode}\""))
            .setting("nat_backend = \"kernel\"")
            .distribution_tarball("D", &env.tarball)
            .build()
            .map_err(|e| anyhow::anyhow!("embedded host: {e}"))?;
        let mut v = vec![];
        for i in 0..=it.cold {
            let (t, r) = time_ms(|| host.start_vm());
            r.map_err(|e| anyhow::anyhow!("embedded VM start: {e}"))?;
            host.shutdown();
            if i > 0 {
                v.push(t);
            }
        }
        Ok(v)
    };
    let e_none = rep.add(Row::new(
        SECTION,
        "embedded host: VM start, networking_mode none",
        "ms",
        summary(&embedded("none")?),
    ));
    rep.add(
        Row::new(
            SECTION,
            "embedded host: VM start, nat",
            "ms",
            summary(&embedded("nat")?),
        )
        .against(&e_none)
        .note("wslp_testing::TestHost, no plugin: the VM and its network only"),
    );

    // Throughput, interleaved: host loopback, nat (kernel), nat (pasta).
    let mib = it.thr_mib;
    let _ = spawn_ms(&mut nat.run_in(&["true"]))?;
    let _ = spawn_ms(&mut pasta.run_in(&["true"]))?;
    let (gw_nat, gw_pasta) = (gateway(&nat)?, gateway(&pasta)?);
    let (mut lo, mut kn, mut pa) = (vec![], vec![], vec![]);
    let mut pasta_lost = 0;
    for _ in 0..it.thr_runs {
        lo.push(upload(
            host(),
            mib,
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::LOCALHOST,
        )?);
        kn.push(upload(inside(&nat), mib, gw_nat, gw_nat).context("nat (kernel)")?);
        // pasta takes connections to the gateway to the host's loopback.
        // An eighth of the bytes: Debian 12's pasta moves some 30 MB/s.
        // Debian 12's pasta now and then ends a connection early: such a
        // run is reported and left out, not the end of the whole suite.
        match upload(
            inside(&pasta),
            mib.div_ceil(8),
            Ipv4Addr::LOCALHOST,
            gw_pasta,
        ) {
            Ok(r) => pa.push(r),
            Err(e) => {
                eprintln!("wslp-bench: nat (pasta), a run left out: {e:#}");
                pasta_lost += 1;
            }
        }
    }
    let loopback = rep.add(throughput(
        SECTION,
        "host loopback TCP (tcpbench send → reader)",
        &lo,
    ));
    rep.add(
        throughput(SECTION, "distribution → host server over nat (kernel)", &kn)
            .against(&loopback)
            .goal(Goal::RatioAtLeast(0.6))
            .note("tcpbench in the distribution to a reader on the gateway address"),
    );
    let lost = match pasta_lost {
        0 => String::new(),
        n => format!("; {n} of {} runs ended early and are left out", it.thr_runs),
    };
    if !pa.is_empty() {
        rep.add(
            throughput(SECTION, "distribution → host server over nat (pasta)", &pa)
                .against(&loopback)
                .note(format!("the per-user backend: Debian 12's passt (2023), the gateway mapped to the host's loopback; an eighth of the bytes{lost}")),
        );
    }

    // localhost forwarding: a writer here, tcpbench recv in the distribution.
    let (mut lo, mut fw) = (vec![], vec![]);
    for _ in 0..it.thr_runs {
        let port = free_port()?;
        lo.push(download(host(), port, mib)?);
        let port = free_port()?;
        fw.push(download(inside(&nat), port, mib)?);
    }
    let loopback = rep.add(throughput(
        SECTION,
        "host loopback TCP (writer → tcpbench recv)",
        &lo,
    ));
    rep.add(
        throughput(
            SECTION,
            "127.0.0.1 forwarding → tcpbench recv in the distribution",
            &fw,
        )
        .against(&loopback)
        .goal(Goal::RatioAtLeast(0.4))
        .note(
            "wslpd relays with splice(2) into the VM's namespace; the same for every nat backend",
        ),
    );
    Ok(())
}
