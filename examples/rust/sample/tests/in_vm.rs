//! The sample plugin in a real wslp VM and distribution (`wslp_testing`):
//! what it logs comes from the VM, not from a stand-in.

use wslp_testing::TestHost;

#[path = "../../testing/host.rs"]
#[allow(unused)]
mod host;

#[test]
fn logs_the_real_vm_and_distribution() {
    let plugin_dir = tempfile::tempdir().unwrap();
    let plugin = plugin_dir.path().join("libwslp_sample_plugin.so");
    std::fs::copy(host::built_plugin("libwslp_sample_plugin.so"), &plugin).unwrap();
    let t = TestHost::builder()
        .plugin("Sample", &plugin)
        .busybox_distribution("T")
        .build()
        .unwrap();
    let out = t.run("T", &["true"]).unwrap();
    assert_eq!(out.code, 0);
    t.terminate("T").unwrap();
    t.shutdown();

    let log = std::fs::read_to_string(plugin_dir.path().join("wsl-plugin-demo.txt")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let kernel = std::fs::read_to_string("/proc/version").unwrap();
    assert_eq!(lines[0], "Plugin loaded. WSL version: 2.9.5", "{log}");
    assert!(
        lines[1].starts_with("Distribution registered. SessionId="),
        "{log}"
    );
    assert!(
        lines[1].contains(", Name=T, Package=, Flavor=debian, Version=13, Id={"),
        "{log}"
    );
    assert!(lines[2].starts_with("VM created. SessionId="), "{log}");
    // The VM shares the machine's kernel.
    assert_eq!(
        lines[3],
        format!("Kernel version info: {}", kernel.trim_end()),
        "{log}"
    );
    let started = lines[4];
    assert!(
        started.starts_with("Distribution started. SessionId="),
        "{log}"
    );
    assert!(started.contains(", Name=T, Package=, PidNs="), "{log}");
    assert!(
        started.contains(", Flavor=debian, Version=13, Id={"),
        "{log}"
    );
    let field = |name: &str| -> u64 {
        let rest = &started[started.find(&format!(", {name}=")).unwrap() + name.len() + 3..];
        rest[..rest.find(',').unwrap()].parse().unwrap()
    };
    assert!(field("PidNs") > 0 && field("InitPid") > 0, "{started}");
    let stopping = lines[5];
    assert_eq!(
        stopping.strip_prefix("Distribution Stopping"),
        started.strip_prefix("Distribution started"),
        "the same distribution, the same fields"
    );
    assert!(lines[6].starts_with("VM Stopping. SessionId="), "{log}");
    assert_eq!(lines.len(), 7, "{log}");
}

/// `TestHost::trace`: the sample's calls, as `wslp plugin trace` shows them.
#[test]
fn the_trace_shows_its_execute_binary_inside_on_vm_started() {
    use wslp_testing::{TraceItem, TraceValue};
    let plugin_dir = tempfile::tempdir().unwrap();
    let plugin = plugin_dir.path().join("libwslp_sample_plugin.so");
    std::fs::copy(host::built_plugin("libwslp_sample_plugin.so"), &plugin).unwrap();
    // A name no other test of this process uses: traces go by plugin name.
    let t = TestHost::builder()
        .plugin("SampleTraced", &plugin)
        .build()
        .unwrap();
    let trace = t.trace();
    t.start_vm().unwrap();
    let events: Vec<_> = trace
        .drain()
        .into_iter()
        .map(|i| match i {
            TraceItem::Event(e) => e,
            TraceItem::Dropped(n) => panic!("{n} events dropped"),
        })
        .collect();
    let calls: Vec<&str> = events.iter().map(|e| e.call.as_str()).collect();
    assert_eq!(calls, ["ExecuteBinary", "OnVMStarted"]);
    let exec = &events[0];
    assert_eq!(exec.plugin, "SampleTraced");
    assert_eq!(exec.result, 0);
    assert!(exec
        .args
        .contains(&("path".into(), TraceValue::Str("/bin/cat".into()))));
    assert!(exec.args.contains(&(
        "argv".into(),
        TraceValue::List(vec!["/bin/cat".into(), "/proc/version".into()])
    )));
    // The hook includes the call it made.
    assert!(events[1].duration_us >= exec.duration_us);
}
