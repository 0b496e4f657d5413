//! SPEC §3 and §4 through the CLI: every plugin failure prints exactly WSL's
//! two-line text on stderr and wslp exits non-zero.

use wslp_e2e::*;

fn log_define(env: &Env) -> (std::path::PathBuf, String) {
    let log = env.scratch().join("plugin.log");
    let def = format!("LOG_PATH=\"{}\"", log.display());
    (log, def)
}

fn fails_with(env: &Env, args: &[&str], expected: &str) {
    let o = env.wslp(args);
    assert!(
        !o.status.success(),
        "wslp {args:?} should fail; stdout: {}",
        stdout(&o)
    );
    assert_eq!(
        stderr(&o),
        format!("{expected}\n"),
        "stderr of wslp {args:?}"
    );
}

#[test]
fn vm_started_failure_prints_exact_text() {
    let env = Env::new();
    env.import("D");
    let (log, def) = log_define(&env);
    let so = build_plugin("e2e", &[&def, "VM_STARTED_HR=0x8000FFFF"], &env.scratch());
    env.add_plugin("Failing", &so);
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        "A fatal error was returned by plugin 'Failing'\nError code: Wsl/Service/CreateInstance/CreateVm/Plugin/E_UNEXPECTED",
    );
    // The failing plugin got OnVMStopping, as WSL does.
    let l = read_log(&log);
    let started = l.find("OnVMStarted").expect("OnVMStarted logged");
    let stopping = l
        .find("OnVMStopping")
        .expect("OnVMStopping after a failed start");
    assert!(started < stopping, "{l}");
}

#[test]
fn vm_started_failure_with_message() {
    let env = Env::new();
    env.import("D");
    let (_log, def) = log_define(&env);
    let so = build_plugin(
        "e2e",
        &[
            &def,
            "VM_STARTED_HR=0x8000FFFF",
            "VM_ERROR_MSG=L\"Something went wrong\"",
        ],
        &env.scratch(),
    );
    env.add_plugin("Failing", &so);
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        "A fatal error was returned by plugin 'Failing'. Error message: 'Something went wrong'\nError code: Wsl/Service/CreateInstance/CreateVm/Plugin/E_UNEXPECTED",
    );
}

#[test]
fn error_message_then_success_is_illegal_state_change() {
    let env = Env::new();
    env.import("D");
    let (_log, def) = log_define(&env);
    let so = build_plugin("e2e", &[&def, "VM_ERROR_MSG=L\"oops\""], &env.scratch());
    env.add_plugin("Sloppy", &so);
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        "Plugin 'Sloppy' emitted an error message but returned success\nError code: Wsl/Service/CreateInstance/CreateVm/Plugin/E_ILLEGAL_STATE_CHANGE",
    );
}

#[test]
fn distribution_started_failure_uses_create_instance_path() {
    let env = Env::new();
    env.import("D");
    let (log, def) = log_define(&env);
    let so = build_plugin(
        "e2e",
        &[
            &def,
            "DISTRO_STARTED_HR=0x80004005",
            "DISTRO_ERROR_MSG=L\"no entry\"",
        ],
        &env.scratch(),
    );
    env.add_plugin("Gate", &so);
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        "A fatal error was returned by plugin 'Gate'. Error message: 'no entry'\nError code: Wsl/Service/CreateInstance/Plugin/E_FAIL",
    );
    // The distribution did not start, and gets no OnDistributionStopping.
    let listing = env.ok(&["-l", "-v"]);
    assert!(listing.contains("Stopped"), "{listing}");
    assert!(!read_log(&log).contains("OnDistributionStopping"));
}

#[test]
fn distribution_error_then_success() {
    let env = Env::new();
    env.import("D");
    let (_log, def) = log_define(&env);
    let so = build_plugin("e2e", &[&def, "DISTRO_ERROR_MSG=L\"hmm\""], &env.scratch());
    env.add_plugin("Sloppy", &so);
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        "Plugin 'Sloppy' emitted an error message but returned success\nError code: Wsl/Service/CreateInstance/Plugin/E_ILLEGAL_STATE_CHANGE",
    );
}

#[test]
fn missing_plugin_file_is_mod_not_found() {
    let env = Env::new();
    env.import("D");
    let missing = env.scratch().join("nope.so");
    let o = env.wslp(&["plugin", "add", "Ghost", missing.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "plugin add registers any absolute path: {}",
        stderr(&o)
    );
    env.ok(&["--shutdown"]);
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        "A fatal error was returned by plugin 'Ghost'\nError code: Wsl/Service/CreateInstance/CreateVm/Plugin/ERROR_MOD_NOT_FOUND",
    );
}

#[test]
fn missing_entry_point_prints_hex_code() {
    let env = Env::new();
    env.import("D");
    let (_log, def) = log_define(&env);
    let so = build_plugin("e2e", &[&def, "NO_ENTRY"], &env.scratch());
    env.add_plugin("NoEntry", &so);
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        "A fatal error was returned by plugin 'NoEntry'\nError code: Wsl/Service/CreateInstance/CreateVm/Plugin/0x8007007f",
    );
}

#[test]
fn requires_update_message() {
    let env = Env::new();
    env.import("D");
    let (_log, def) = log_define(&env);
    let so = build_plugin("e2e", &[&def, "REQUIRE_MAJOR=9999"], &env.scratch());
    env.add_plugin("Future", &so);
    let o = env.wslp(&["-d", "D", "--", "true"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).starts_with(
            "The plugin 'Future' requires a newer version of wslp. Please update wslp.\n"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn entry_point_failure_is_reported_at_every_vm_start() {
    let env = Env::new();
    env.import("D");
    let (log, def) = log_define(&env);
    let so = build_plugin("e2e", &[&def, "ENTRY_HR=0x80070005"], &env.scratch());
    env.add_plugin("Denied", &so);
    let expected = "A fatal error was returned by plugin 'Denied'\nError code: Wsl/Service/CreateInstance/CreateVm/Plugin/E_ACCESSDENIED";
    fails_with(&env, &["-d", "D", "--", "true"], expected);
    fails_with(&env, &["-d", "D", "--", "true"], expected);
    // Loaded once, at service start, as WSL does.
    assert_eq!(read_log(&log).matches("EntryPoint").count(), 1);
}
