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
