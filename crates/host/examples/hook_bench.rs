//! Hook round trip through a plugin-host process against in process (SPEC §8), and
//! ExecuteBinary through the boundary.
//!
//! `cargo run --release -p wslp-host --example hook_bench [ITERATIONS]`
//!
//! A C plugin (compiled here with gcc) is loaded twice through `PluginManager`: once
//! in process (`in_process_plugins`), once in its own plugin host. Measured:
//! - an empty hook (OnVMStopping returns S_OK): the bare round trip;
//! - a hook that calls ExecuteBinary once and closes the socket. The services here
//!   answer with one end of a fresh socketpair, so what is measured is the API call
//!   crossing the boundary with its SCM_RIGHTS socket, not the VM starting a process.
//!
//! Each is measured without a tracer and with one `wslp plugin trace` attached
//! (SPEC §13): a subscriber whose thread encodes each event and writes it to a
//! socket that another thread reads, as the service and the CLI do.
//!
//! The goals are a p50 round trip of at most 50 µs out of process, and at most
//! 5 µs more with a tracer attached.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wslp_config::{add_registry_entry, Settings};
use wslp_host::{DistroInfo, HostConfig, PluginManager, PluginServices, GUID};

const PLUGIN: &str = r#"
#include <WslPluginApi.h>
static const struct WSLPluginAPIV1* g_api;
static HRESULT OnVMStopping(const struct WSLSessionInformation* s) { (void)s; return S_OK; }
static HRESULT OnDistributionStopping(const struct WSLSessionInformation* s, const struct WSLDistributionInformation* d)
{
    (void)d;
    LPCSTR argv[] = {"/bin/true", NULL};
    SOCKET sock = INVALID_SOCKET;
    HRESULT hr = g_api->ExecuteBinary(s->SessionId, argv[0], argv, &sock);
    if (SUCCEEDED(hr))
        closesocket(sock);
    return hr;
}
EXTERN_C __declspec(dllexport) HRESULT WSLPluginAPIV1_EntryPoint(const struct WSLPluginAPIV1* api, struct WSLPluginHooksV1* hooks)
{
    g_api = api;
    hooks->OnVMStopping = OnVMStopping;
    hooks->OnDistributionStopping = OnDistributionStopping;
    return S_OK;
}
"#;

/// Answers ExecuteBinary with a socket and nothing behind it: the boundary's cost only.
struct SocketOnly;

impl PluginServices for SocketOnly {
    fn execute_binary(&self, _path: &str, _argv: &[String]) -> Result<OwnedFd, i32> {
        let (a, _b) = UnixStream::pair().map_err(|_| wslp_abi::hresult::E_FAIL)?;
        Ok(a.into())
    }
    fn execute_binary_in_distribution(
        &self,
        _distro: GUID,
        path: &str,
        argv: &[String],
    ) -> Result<OwnedFd, i32> {
        self.execute_binary(path, argv)
    }
    fn mount_folder(&self, _: &Path, _: &str, _: bool, _: &str) -> Result<(), i32> {
        Ok(())
    }
}

fn compile(dir: &Path) -> PathBuf {
    let src = dir.join("bench.c");
    std::fs::write(&src, PLUGIN).unwrap();
    let out = dir.join("libbench.so");
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../include");
    let st = Command::new("gcc")
        .args(["-O2", "-shared", "-fPIC", "-Wall", "-Werror"])
        .arg(format!("-I{}", include.display()))
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("gcc is needed to build the benchmark plugin");
    assert!(st.success(), "gcc failed");
    out
}

/// `cargo run --example` does not build the crate's binaries: build the plugin host
/// when it is not found.
fn ensure_plugin_host() {
    if wslp_host::manager::find_plugin_host().is_some() {
        return;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let st = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "wslp-host",
            "--bin",
            "wslp-plugin-host",
        ])
        .status()
        .expect("run cargo to build wslp-plugin-host");
    assert!(st.success(), "building wslp-plugin-host failed");
    let exe = std::env::current_exe().unwrap();
    // target/release/examples/hook_bench → target/release/wslp-plugin-host
    let host = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("wslp-plugin-host");
    assert!(host.is_file(), "{} was not built", host.display());
    std::env::set_var(wslp_host::manager::PLUGIN_HOST_ENV, host);
}

fn manager(dir: &Path, so: &Path, in_process: bool, tag: &str) -> PluginManager {
    let root = dir.join(if in_process { "in" } else { "out" }).join(tag);
    std::fs::create_dir_all(&root).unwrap();
    // Separate copies: the dynamic loader would share one object between two loads.
    let copy = root.join("libbench.so");
    std::fs::copy(so, &copy).unwrap();
    add_registry_entry(&root, "Bench", &copy).unwrap();
    let settings = Settings {
        require_signatures: false,
        in_process_plugins: if in_process {
            vec!["Bench".into()]
        } else {
            vec![]
        },
        ..Settings::default()
    };
    let m = PluginManager::load(HostConfig {
        wslp_root: root,
        settings,
    });
    assert!(m.load_failure().is_none(), "{:?}", m.load_failure());
    m
}

/// A tracer attached for as long as it lives: the service's tracer thread
/// (subscription → `ServerMessage::Trace` frames on a socket) and a client
/// that reads them, like `wslp plugin trace --json > file`.
struct Tracer {
    closer: wslp_host::trace::Closer,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl Tracer {
    fn attach() -> Tracer {
        use wslp_host::trace::TraceItem;
        use wslp_ipc::conn::Conn;
        use wslp_ipc::protocol::ServerMessage;
        let (a, b) = UnixStream::pair().unwrap();
        let (service, client) = (Conn::new(a), Conn::new(b));
        let sub = wslp_host::trace::subscribe(&[]);
        let closer = sub.closer();
        let writer = std::thread::spawn(move || {
            let mut n = 0;
            // As the service's tracer thread does (`wslp_service::tracer`).
            'stream: while let Some(batch) = sub.next_batch(Duration::from_millis(1)) {
                for item in batch {
                    let msg = match item {
                        TraceItem::Event(e) => ServerMessage::Trace(e),
                        TraceItem::Dropped(count) => ServerMessage::TraceDropped { count },
                    };
                    if service.send(&msg).is_err() {
                        break 'stream;
                    }
                    n += 1;
                }
            }
            n
        });
        let reader = std::thread::spawn(move || {
            let mut n = 0;
            while client.recv::<ServerMessage>().is_ok() {
                n += 1;
            }
            n
        });
        Tracer {
            closer,
            threads: vec![writer, reader],
        }
    }

    /// Detaches; how many events the client read.
    fn detach(self) -> u64 {
        self.closer.close();
        let mut it = self.threads.into_iter();
        let _ = it.next().unwrap().join();
        it.next().unwrap().join().unwrap()
    }
}

fn measure(n: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    for _ in 0..n / 10 {
        f();
    }
    let mut samples: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    (samples[n / 2], samples[n * 99 / 100])
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    ensure_plugin_host();
    let dir = tempfile::tempdir().unwrap();
    let so = compile(dir.path());
    let distro = DistroInfo {
        id: GUID::default(),
        name: "bench".into(),
        pid_namespace: 0,
        init_pid: 1,
        flavor: None,
        version: None,
    };
    println!("{n} iterations each (p50 / p99)");
    let mut rows = Vec::new();
    for (label, in_process, traced) in [
        ("in process", true, false),
        ("in process + tracer", true, true),
        ("plugin host", false, false),
        ("plugin host + tracer", false, true),
    ] {
        let m = manager(dir.path(), &so, in_process, &traced.to_string());
        let s = m.open_session(0, Arc::new(SocketOnly));
        let tracer = traced.then(Tracer::attach);
        let hook = measure(n, || m.on_vm_stopping(&s));
        let exec = measure(n / 4, || m.on_distribution_stopping(&s, &distro));
        let seen = tracer.map(Tracer::detach);
        println!(
            "{label:>21}: empty hook {:8.2} / {:8.2} µs   hook + ExecuteBinary {:8.2} / {:8.2} µs{}",
            us(hook.0),
            us(hook.1),
            us(exec.0),
            us(exec.1),
            seen.map_or(String::new(), |n| format!("   ({n} events traced)"))
        );
        rows.push((hook, exec));
        m.close_session(&s);
    }
    let (inp, out, traced) = (rows[0], rows[2], rows[3]);
    println!(
        "ratio (plugin host / in process, p50): empty hook {:.1}x, hook + ExecuteBinary {:.1}x",
        us(out.0 .0) / us(inp.0 .0).max(0.001),
        us(out.1 .0) / us(inp.1 .0).max(0.001)
    );
    let goal = if us(out.0 .0) <= 50.0 {
        "met"
    } else {
        "NOT met"
    };
    println!(
        "goal: round trip p50 <= 50 µs out of process: {goal} ({:.2} µs)",
        us(out.0 .0)
    );
    let extra = us(traced.0 .0) - us(out.0 .0);
    let goal = if extra <= 5.0 { "met" } else { "NOT met" };
    println!("goal: one tracer adds <= 5 µs p50 out of process: {goal} ({extra:+.2} µs)");
}
