//! Hooks in order with real fields, and the plugin API against the real VM,
//! driven through the CLI (SPEC §4, §5).

use wslp_e2e::*;

#[test]
fn hooks_see_real_fields_and_api_calls_work() {
    let env = Env::new();
    let (log, def) = {
        let log = env.scratch().join("plugin.log");
        let def = format!("LOG_PATH=\"{}\"", log.display());
        (log, def)
    };
    let so = build_plugin(
        "e2e",
        &[
            &def,
            "EXEC_ON_VM_START",
            "EXEC_IN_DISTRO",
            "EXEC_ON_VM_STOP",
        ],
        &env.scratch(),
    );
    env.add_plugin("Watcher", &so);
    env.import("D");
    let out = env.ok(&["-d", "D", "--", "cat", "/etc/hostname"]);
    assert_eq!(out.trim(), "debian");
    env.ok(&["--terminate", "D"]);
    env.ok(&["--shutdown"]);
    let l = read_log(&log);
    let order: Vec<&str> = l
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter(|w| w.starts_with("On") || *w == "EntryPoint")
        .collect();
    assert_eq!(
        order,
        vec![
            "EntryPoint",
            "OnDistributionRegistered",
            "OnVMStarted",
            "OnVMStarted", // its ExecuteBinary line
            "OnDistributionStarted",
            "OnDistributionStarted", // ExecuteBinaryInDistribution
            "OnDistributionStopping",
            "OnDistributionStopping", // ExecuteBinaryInDistribution while stopping
            "OnVMStopping",
            "OnVMStopping", // ExecuteBinary while stopping
        ],
        "{l}"
    );
    assert!(
        l.contains("OnVMStarted ExecuteBinary hr=0x00000000 out=Linux version"),
        "{l}"
    );
    assert!(
        l.contains("OnDistributionStarted ExecuteBinaryInDistribution hr=0x00000000 out=debian"),
        "{l}"
    );
    assert!(
        l.contains("OnDistributionStopping ExecuteBinaryInDistribution hr=0x00000000 out=debian"),
        "{l}"
    );
    assert!(
        l.contains("OnVMStopping ExecuteBinary hr=0x00000000 out=vm-still-up"),
        "{l}"
    );
    assert!(l.contains("flavor=debian version=13 pfn=[]"), "{l}");
    assert!(l.contains("token=1 sid=1"), "{l}");
    assert!(l.contains("PluginError outside start hr=0x8000000e"), "{l}");
    assert!(l.contains("EntryPoint version=2.9.5"), "{l}");
}

#[test]
fn distribution_id_stable_init_pid_changes() {
    let env = Env::new();
    let log = env.scratch().join("plugin.log");
    let so = build_plugin(
        "e2e",
        &[&format!("LOG_PATH=\"{}\"", log.display())],
        &env.scratch(),
    );
    env.add_plugin("Watcher", &so);
    env.import("D");
    env.ok(&["-d", "D", "--", "true"]);
    env.ok(&["--terminate", "D"]);
    env.ok(&["-d", "D", "--", "true"]);
    env.ok(&["--shutdown"]); // a new service: the Id must survive it
    env.ok(&["-d", "D", "--", "true"]);
    let l = read_log(&log);
    let starts: Vec<(String, String)> = l
        .lines()
        .filter(|x| x.contains("OnDistributionStarted"))
        .map(|x| {
            let field = |k: &str| {
                x.split_whitespace()
                    .find_map(|w| w.strip_prefix(k))
                    .unwrap_or("")
                    .to_string()
            };
            (field("id="), field("init="))
        })
        .collect();
    assert_eq!(starts.len(), 3, "{l}");
    assert!(
        starts
            .iter()
            .all(|(id, _)| *id == starts[0].0 && id.len() == 38),
        "{starts:?}"
    );
    assert_ne!(
        starts[0].1, starts[1].1,
        "InitPid is new on every start: {starts:?}"
    );
}
