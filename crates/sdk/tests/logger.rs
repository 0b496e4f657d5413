//! The SDK's logger, observed from outside: the test re-runs itself as a
//! child that installs the logger and logs, and reads the child's stderr.

use std::process::Command;

const CHILD_ENV: &str = "WSLP_SDK_LOGGER_TEST_CHILD";

/// In the child: install, log at every level, report what `install` said.
fn child() {
    let first = wslp_sdk::logger::install("probe");
    let second = wslp_sdk::logger::install("other");
    log::error!("e {first} {second}");
    log::warn!("w");
    log::info!("i");
    log::debug!("d");
    log::trace!("t");
}

fn run_child(level: Option<&str>) -> String {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "logs_one_line_per_record_at_the_chosen_level",
        "--nocapture",
    ])
    .env(CHILD_ENV, "1");
    match level {
        Some(l) => cmd.env(wslp_sdk::logger::LEVEL_ENV, l),
        None => cmd.env_remove(wslp_sdk::logger::LEVEL_ENV),
    };
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stderr)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('['))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn logs_one_line_per_record_at_the_chosen_level() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
        return;
    }
    // Installed once; a second install keeps the first logger.
    assert_eq!(
        run_child(None),
        "[probe] ERROR e true false\n[probe] WARN w\n[probe] INFO i\n"
    );
    assert_eq!(
        run_child(Some("warn")),
        "[probe] ERROR e true false\n[probe] WARN w\n"
    );
    assert_eq!(
        run_child(Some("TRACE")),
        "[probe] ERROR e true false\n[probe] WARN w\n[probe] INFO i\n[probe] DEBUG d\n[probe] TRACE t\n"
    );
    assert_eq!(run_child(Some("off")), "");
    // An unknown level falls back to info rather than silencing the plugin.
    assert_eq!(
        run_child(Some("loud")),
        "[probe] ERROR e true false\n[probe] WARN w\n[probe] INFO i\n"
    );
}
