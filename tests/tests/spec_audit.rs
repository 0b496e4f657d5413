//! An audit of SPEC.md through the real binaries: one small test per checkable
//! statement that the other end-to-end tests do not cover yet, named after the
//! SPEC section it checks. Tests marked `#[ignore = "SPEC §x: …"]` would document
//! where wslp does not (yet) do what SPEC says.

#[path = "spec_audit/fixture.rs"]
mod fixture;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use fixture::*;
use wslp_e2e::*;

// ---- §1 ABI ----------------------------------------------------------------

#[test]
fn s1_hooks_table_is_zeroed_api_table_full_and_wslc_calls_find_no_session_outside_one() {
    let env = Audit::new()
        .with_distros(&["D"])
        .with_plugin("C", "Wslc", &["WSLC_CALLS"]);
    env.run_true("D");
    let l = env.log();
    assert!(l.contains("C wslc hooks-zeroed=1 size=112"), "{l}");
    assert!(l.contains("C wslc pointers-set=1"), "{l}");
    // Session 1 does not exist (no WSLC session was created); a NULL
    // process handle is E_POINTER (SPEC §11).
    for (call, hr) in [
        ("MountFolder", "0x8004060f"),
        ("UnmountFolder", "0x8004060f"),
        ("CreateProcess", "0x8004060f"),
        ("ProcessGetFd", "0x80004003"),
        ("ProcessGetExitEvent", "0x80004003"),
        ("ProcessGetExitCode", "0x80004003"),
    ] {
        assert!(
            l.contains(&format!("C wslc {call} hr={hr}")),
            "WSLC{call} answers {hr}: {l}"
        );
    }
    assert!(l.contains("C wslc ReleaseProcess returned"), "{l}");
    assert!(l.contains("C OnVMStarted"), "{l}");
}

// ---- §2 Where things live -------------------------------------------------

#[test]
fn s2_two_roots_never_see_each_other() {
    let a = Env::new();
    let b = Env::new();
    a.import("OnlyInA");
    let so = build_plugin("e2e", &["LOG_PATH=\"/dev/null\""], &a.scratch());
    a.ok(&["plugin", "add", "OnlyInA", so.to_str().unwrap()]);
    let o = b.wslp(&["-d", "OnlyInA", "--", "true"]);
    assert!(!o.status.success(), "b runs a's distribution");
    assert!(
        !b.wslp(&["-l", "-q"]).status.success(),
        "b lists a's distribution"
    );
    assert!(!b.ok(&["plugin", "list"]).contains("OnlyInA"));
    assert_ne!(a.service_pid(), None);
    assert_ne!(a.service_pid(), b.service_pid());
}

#[test]
fn s2_plugins_load_and_hooks_run_in_file_order() {
    let env = Env::new();
    let log = env.scratch().join("plugins.log");
    let z = audit_plugin(&env, &log, "Z", &[]);
    let a = audit_plugin(&env, &log, "A", &[]);
    // Not alphabetical: the file's order counts.
    write_registry(&env, &(toml_entry("Zed", &z) + &toml_entry("Alpha", &a)));
    env.import("D");
    env.run_true("D");
    env.ok(&["--shutdown"]);
    let got = hook_lines(&log_of(&log));
    let want: Vec<String> = [
        "EntryPoint",
        "OnDistributionRegistered",
        "OnVMStarted",
        "OnDistributionStarted",
        "OnDistributionStopping",
        "OnVMStopping",
    ]
    .iter()
    .flat_map(|h| [format!("Z {h}"), format!("A {h}")])
    .collect();
    assert_eq!(got, want);
}

#[test]
fn s2_non_string_registry_value_is_skipped_with_a_warning() {
    let env = Env::new();
    let log = env.scratch().join("plugins.log");
    let good = audit_plugin(&env, &log, "G", &[]);
    write_registry(&env, &format!("Number = 5\n{}", toml_entry("Good", &good)));
    env.import("D");
    env.run_true("D");
    assert!(log_of(&log).contains("G OnVMStarted"), "{}", log_of(&log));
    assert!(
        env.service_log().contains("Number"),
        "a warning names the skipped value: {}",
        env.service_log()
    );
}

#[test]
fn s2_same_file_twice_is_skipped() {
    let env = Env::new();
    let log = env.scratch().join("plugins.log");
    let so = audit_plugin(&env, &log, "P", &[]);
    let link = env.scratch().join("link.so");
    std::os::unix::fs::symlink(&so, &link).unwrap();
    let other_spelling = so.parent().unwrap().join("..").join(
        so.strip_prefix(so.parent().unwrap().parent().unwrap())
            .unwrap(),
    );
    write_registry(
        &env,
        &(toml_entry("First", &so)
            + &toml_entry("Link", &link)
            + &toml_entry("Spelling", &other_spelling)),
    );
    env.import("D");
    env.run_true("D");
    let l = log_of(&log);
    assert_eq!(l.matches("P EntryPoint").count(), 1, "{l}");
    assert_eq!(l.matches("P OnVMStarted").count(), 1, "{l}");
}

#[test]
fn s2_plugin_add_appends_after_existing_entries() {
    let env = Env::new();
    let so = build_plugin("e2e", &["LOG_PATH=\"/dev/null\""], &env.scratch());
    std::fs::write(
        env.root.join("plugins.toml"),
        format!("[plugins]\n{}", toml_entry("Handwritten", &so)),
    )
    .unwrap();
    let other = env.scratch().join("other.so");
    std::fs::copy(&so, &other).unwrap();
    env.ok(&["plugin", "add", "Added", other.to_str().unwrap()]);
    let text = std::fs::read_to_string(env.root.join("plugins.toml")).unwrap();
    let first = text.find("Handwritten").expect("the old entry stays");
    let second = text.find("Added").expect("the new entry is there");
    assert!(first < second, "{text}");
    let list = env.ok(&["plugin", "list"]);
    assert!(
        list.find("Handwritten").unwrap() < list.find("Added").unwrap(),
        "{list}"
    );
}

#[test]
fn s2_socket_logs_state_and_trust_live_under_the_root() {
    let env = Env::new();
    env.import("D");
    env.run_true("D");
    assert!(env.root.join("wslpd.sock").exists());
    assert!(env.root.join("logs/wslpd.log").is_file());
    assert!(env.root.join("distributions.toml").is_file());
    trusted_signer(&env);
    let pems: Vec<PathBuf> = std::fs::read_dir(env.root.join("trust"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(pems.len(), 1, "{pems:?}");
    assert!(std::fs::read_to_string(&pems[0])
        .unwrap()
        .contains("-----BEGIN CERTIFICATE-----"));
}

#[test]
fn s2_registry_and_trust_store_are_writable_only_by_root() {
    let env = Env::new();
    let so = build_plugin("e2e", &["LOG_PATH=\"/dev/null\""], &env.scratch());
    env.ok(&["plugin", "add", "P", so.to_str().unwrap()]);
    trusted_signer(&env);
    let mut paths = vec![env.root.join("plugins.toml"), env.root.join("trust")];
    paths.extend(
        std::fs::read_dir(env.root.join("trust"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    for p in paths {
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(m.uid(), 0, "{} is owned by root", p.display());
        assert_eq!(
            m.permissions().mode() & 0o022,
            0,
            "{} is writable by others: {:o}",
            p.display(),
            m.permissions().mode()
        );
    }
}

#[test]
fn s2_minus_one_means_never_is_accepted_for_every_timeout() {
    let env = Env::with_settings(
        "require_signatures = false\nvm_idle_timeout_ms = -1\ndistro_idle_timeout_ms = -1\nservice_idle_timeout_ms = -1\nhook_timeout_ms = -1\n",
    );
    env.import("D");
    assert_eq!(env.ok(&["-d", "D", "--", "echo", "ok"]), "ok\n");
}

#[test]
fn s7_a_malformed_settings_file_is_a_two_line_error() {
    let env = Env::with_settings("vm_idle_timeout_ms = \"soon\"\n");
    assert_two_line_error(&env, &["--status"]);
}

// ---- §3 Loading plugins ---------------------------------------------------

#[test]
fn s3_a_plugin_added_while_the_service_runs_loads_at_the_next_service_start() {
    let env = Audit::new().with_distros(&["D"]);
    env.run_true("D");
    let so = env.build("L", &[]);
    env.ok(&["plugin", "add", "Late", so.to_str().unwrap()]);
    env.ok(&["--terminate", "D"]);
    env.run_true("D"); // a distribution start in the old service
    assert_eq!(env.log(), "", "not loaded by the running service");
    env.ok(&["--shutdown"]);
    env.run_true("D");
    let l = env.log();
    assert!(
        l.contains("L EntryPoint") && l.contains("L OnDistributionStarted"),
        "{l}"
    );
}

#[test]
fn s3_registration_hooks_of_loaded_plugins_run_despite_a_load_failure() {
    let env = Env::new();
    let log = env.scratch().join("plugins.log");
    let good = audit_plugin(&env, &log, "G", &[]);
    let missing = env.scratch().join("missing.so");
    write_registry(
        &env,
        &(toml_entry("Ghost", &missing) + &toml_entry("Good", &good)),
    );
    env.import("D");
    assert!(
        log_of(&log).contains("G OnDistributionRegistered name=D"),
        "{}",
        log_of(&log)
    );
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        &format!("A fatal error was returned by plugin 'Ghost'\n{CREATE_VM}ERROR_MOD_NOT_FOUND"),
    );
    env.ok(&["--unregister", "D"]);
    assert!(log_of(&log).contains("G OnDistributionUnregistered name=D"));
}

#[test]
fn s3_a_file_that_is_not_a_shared_object_is_mod_not_found() {
    let env = Env::new();
    env.import("D");
    let junk = env.scratch().join("junk.so");
    std::fs::write(&junk, b"not an ELF file\n").unwrap();
    env.add_plugin("Junk", &junk);
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        &format!("A fatal error was returned by plugin 'Junk'\n{CREATE_VM}ERROR_MOD_NOT_FOUND"),
    );
}

/// The WHERE_AM_I audit plugin, signed by a trusted key unless `signed` is
/// false, changed by `prepare` (its mode or owner), registered and run once:
/// its real path and what it logged.
fn where_am_i(signed: bool, prepare: impl FnOnce(&Path)) -> (PathBuf, String) {
    let settings = if signed {
        ""
    } else {
        "require_signatures = false\n"
    };
    let env = Audit::with_settings(settings).with_distros(&["D"]);
    let so = env.build("W", &["WHERE_AM_I"]);
    if signed {
        let (key, cert) = trusted_signer(&env);
        env.sign(&key, &cert, &so);
    }
    prepare(&so);
    env.add_plugin("Where", &so);
    env.run_true("D");
    (std::fs::canonicalize(&so).unwrap(), env.log())
}

/// The plugin was mapped from its own file, and knows its real path.
fn assert_loaded_from_its_path(real: &Path, l: &str) {
    assert_eq!(where_line(l), real.to_str().unwrap());
    assert!(
        l.contains(&format!("W mapped={}\n", real.display())),
        "/proc/self/maps names the real path: {l}"
    );
}

/// The plugin loaded, but from a sealed copy rather than its path.
fn assert_loaded_from_a_copy(real: &Path, l: &str, why: &str) {
    assert!(l.contains("W OnVMStarted"), "it loads: {l}");
    assert_ne!(where_line(l), real.to_str().unwrap(), "{why}");
    assert!(
        l.lines()
            .any(|x| x.starts_with("W mapped=/memfd:") && x.ends_with("(deleted)")),
        "mapped from a memfd: {l}"
    );
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn s3_a_root_owned_signed_plugin_loaded_through_its_descriptor_knows_its_path() {
    let (so, l) = where_am_i(true, |so| set_mode(so, 0o755));
    assert_loaded_from_its_path(&so, &l);
}

#[test]
fn s3_a_group_writable_signed_plugin_is_loaded_from_a_copy() {
    let (so, l) = where_am_i(true, |so| set_mode(so, 0o775));
    assert_loaded_from_a_copy(
        &so,
        &l,
        "a file others may change is not loaded from its path",
    );
}

#[test]
fn s3_a_signed_plugin_owned_by_another_user_is_loaded_from_a_copy() {
    let (so, l) = where_am_i(true, |so| {
        std::os::unix::fs::chown(so, Some(1000), Some(1000)).unwrap();
        set_mode(so, 0o755);
    });
    assert_loaded_from_a_copy(
        &so,
        &l,
        "a file its owner may change is not loaded from its path",
    );
}

#[test]
fn s3_with_signatures_off_the_plugin_is_loaded_from_its_path() {
    let (so, l) = where_am_i(false, |_| {});
    assert_loaded_from_its_path(&so, &l);
}

#[test]
fn s3_signatures_off_counts_only_in_a_root_only_settings_file() {
    let env = Audit::new(); // require_signatures = false …
    std::fs::set_permissions(
        env.root.join("wslp.toml"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap(); // … in a file anybody may write
    env.import("D");
    env.add_plugin("Unsigned", &env.build("U", &[]));
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        &format!("A fatal error was returned by plugin 'Unsigned'\n{CREATE_VM}TRUST_E_NOSIGNATURE"),
    );
}

#[test]
fn s3_signatures_off_does_not_count_in_a_settings_file_owned_by_a_user() {
    let env = Audit::new(); // require_signatures = false …
    std::os::unix::fs::chown(env.root.join("wslp.toml"), Some(1000), Some(1000)).unwrap(); // … owned by a user
    env.import("D");
    env.add_plugin("Unsigned", &env.build("U", &[]));
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        &format!("A fatal error was returned by plugin 'Unsigned'\n{CREATE_VM}TRUST_E_NOSIGNATURE"),
    );
}

// ---- §4 Hooks -------------------------------------------------------------

#[test]
fn s4_failed_vm_start_gives_every_loaded_plugin_vm_stopping() {
    let env = Env::new();
    let log = env.scratch().join("plugins.log");
    let a = audit_plugin(&env, &log, "A", &[]);
    let b = audit_plugin(&env, &log, "B", &["VM_STARTED_HR=0x80004005"]);
    let c = audit_plugin(&env, &log, "C", &[]);
    write_registry(
        &env,
        &(toml_entry("First", &a) + &toml_entry("Failing", &b) + &toml_entry("Last", &c)),
    );
    env.import("D");
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        &format!("A fatal error was returned by plugin 'Failing'\n{CREATE_VM}E_FAIL"),
    );
    let got: Vec<String> = hook_lines(&log_of(&log))
        .into_iter()
        .filter(|h| h.contains("OnVM"))
        .collect();
    assert_eq!(
        got,
        [
            "A OnVMStarted",
            "B OnVMStarted",
            "A OnVMStopping",
            "B OnVMStopping",
            "C OnVMStopping"
        ],
        "C never saw OnVMStarted but gets OnVMStopping"
    );
    assert!(
        env.ok(&["--status"]).contains("Utility VM: Stopped"),
        "the VM was torn down"
    );
}

#[test]
fn s4_hresult_names_follow_windows_and_unnamed_codes_print_as_hex() {
    let env = Env::new();
    env.import("D");
    for (hr, name) in [
        ("0x80070057", "E_INVALIDARG"),
        ("0x80004001", "E_NOTIMPL"),
        ("0x80070002", "ERROR_FILE_NOT_FOUND"),
        ("0x80010108", "RPC_E_DISCONNECTED"),
        ("0x8badf00d", "0x8badf00d"),
    ] {
        let log = env.scratch().join(format!("{hr}.log"));
        let so = audit_plugin(&env, &log, hr, &[&format!("VM_STARTED_HR={hr}")]);
        write_registry(&env, &toml_entry("Coded", &so));
        fails_with(
            &env,
            &["-d", "D", "--", "true"],
            &format!("A fatal error was returned by plugin 'Coded'\n{CREATE_VM}{name}"),
        );
    }
}

#[test]
fn s4_distribution_started_runs_before_the_users_command() {
    let env = Audit::new()
        .with_plugin("M", "Mark", &["DISTRO_MARK"])
        .with_distros(&["D"]);
    assert_eq!(
        env.ok(&["-d", "D", "--", "cat", "/tmp/audit-hook-ran"]),
        "hook-ran\n"
    );
}

#[test]
fn s4_registered_runs_after_import_and_unregistered_before_the_files_go() {
    let env = Audit::new();
    let dir = env.scratch().join("distro-R");
    let hostname = dir.join("rootfs/etc/hostname");
    let check = format!("CHECK_PATH=\"{}\"", hostname.display());
    let env = env.with_plugin("R", "Reg", &[&check]);
    env.ok(&[
        "--import",
        "R",
        dir.to_str().unwrap(),
        rootfs_tarball().to_str().unwrap(),
    ]);
    assert!(hostname.exists(), "the import puts the rootfs there");
    env.ok(&["--unregister", "R"]);
    assert!(!hostname.exists(), "unregister removes it");
    let l = env.log();
    assert!(l.contains("R registered path-exists=1"), "{l}");
    assert!(l.contains("R unregistered path-exists=1"), "{l}");
}

#[test]
fn s4_unregistered_hook_runs_while_the_vm_is_stopped() {
    let env = Audit::new()
        .with_plugin("U", "Unreg", &[])
        .with_distros(&["D"]);
    env.ok(&["--shutdown"]);
    env.ok(&["--unregister", "D"]);
    let l = env.log();
    assert!(l.contains("U OnDistributionUnregistered name=D"), "{l}");
    assert!(!l.contains("OnVMStarted"), "no VM was started for it: {l}");
}

/// A plugin whose stop hooks run commands in the distribution and the VM, and
/// a distribution running.
fn stop_hooks() -> Audit {
    let env = Audit::new()
        .with_plugin("S", "Stopper", &["EXEC_ON_STOP"])
        .with_distros(&["D"]);
    env.run_true("D");
    env
}

fn assert_stop_hooks_saw_everything_up(env: &Audit) {
    let l = env.log();
    assert_eq!(
        call(&l, "S distro-stopping"),
        ("0x00000000".into(), "debian|".into()),
        "{l}"
    );
    assert_eq!(
        call(&l, "S vm-stopping"),
        ("0x00000000".into(), "vm-up|".into()),
        "{l}"
    );
}

#[test]
fn s4_stop_hooks_execute_while_up_on_shutdown() {
    let env = stop_hooks();
    env.ok(&["--shutdown"]); // the distribution still runs: no --terminate first
    assert_stop_hooks_saw_everything_up(&env);
}

#[test]
fn s4_stop_hooks_execute_while_up_when_the_service_is_stopped() {
    let env = stop_hooks();
    let pid = env.service_pid().expect("the service runs");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_for("the service to exit", || env.service_pid().is_none());
    assert_stop_hooks_saw_everything_up(&env);
}

#[test]
fn s4_a_service_started_by_a_command_stops_on_sigterm() {
    let env = Env::new();
    env.import("D");
    env.ok(&["--shutdown"]);
    env.run_true("D"); // this command starts the service
    let pid = env.service_pid().expect("the service runs");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_for("the service to exit on SIGTERM", || {
        env.service_pid().is_none()
    });
}

#[test]
fn s4_session_id_is_stable_across_vm_restarts() {
    let env = Audit::with_settings(
        "require_signatures = false\ndistro_idle_timeout_ms = 100\nvm_idle_timeout_ms = 100\nservice_idle_timeout_ms = -1\n",
    )
        .with_plugin("S", "Session", &["VM_PROBE"]).with_distros(&["D"]);
    env.run_true("D");
    let service = env.service_pid();
    wait_for("the idle VM to stop", || {
        env.log().contains("S OnVMStopping")
    });
    env.run_true("D");
    assert_eq!(env.service_pid(), service, "the same service");
    let l = env.log();
    let sessions: Vec<&str> = l
        .lines()
        .filter_map(|x| x.strip_prefix("S OnVMStarted session="))
        .collect();
    assert_eq!(sessions.len(), 2, "{l}");
    assert_eq!(sessions[0], sessions[1], "{l}");
    let registered = l
        .lines()
        .find_map(|x| {
            x.split_once(" session=")
                .filter(|_| x.starts_with("S OnDistributionRegistered"))
        })
        .map(|(_, id)| id)
        .unwrap_or_else(|| panic!("{l}"));
    assert_eq!(
        registered, sessions[0],
        "the same session before the VM started: {l}"
    );
    assert_eq!(
        l.matches("S EntryPoint").count(),
        1,
        "loaded once per service: {l}"
    );
}

#[test]
fn s4_pid_namespace_and_init_pid_are_the_distributions() {
    let env = Audit::new()
        .with_plugin("N", "Ns", &["DISTRO_PROBE"])
        .with_distros(&["D"]);
    env.run_true("D");
    let l = env.log();
    let pidns: u64 = l
        .lines()
        .find_map(|x| x.split_whitespace().find_map(|w| w.strip_prefix("pidns=")))
        .unwrap()
        .parse()
        .unwrap();
    // InitPid, looked up in the VM's root namespace, is in PidNamespace.
    assert_eq!(
        call(&l, "N init-from-vm"),
        ("0x00000000".into(), format!("pid:[{pidns}]|")),
        "{l}"
    );
    // Inside the distribution: that pid namespace, and mount and pid
    // namespaces of its own (§6).
    let (hr, distro) = call(&l, "N distro-ns");
    assert_eq!(hr, "0x00000000");
    let (_, vm) = call(&l, "N vm-ns");
    let d: Vec<&str> = distro.split('|').collect();
    let v: Vec<&str> = vm.split('|').collect();
    assert_eq!(d[0], format!("pid:[{pidns}]"), "{l}");
    assert_ne!(d[0], v[0], "{l}");
    assert_ne!(d[1], v[1], "{l}");
}

/// The busybox tarball with its os-release files changed by `edit` (run in
/// the unpacked root).
fn tarball_with(env: &Env, tag: &str, edit: &str) -> PathBuf {
    let dir = env.scratch().join(format!("rootfs-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let out = env.scratch().join(format!("{tag}.tar"));
    let script = format!(
        "set -e; tar -C '{d}' -xzf '{src}'; cd '{d}'; {edit}; tar -C '{d}' --numeric-owner -cf '{out}' .",
        d = dir.display(),
        src = rootfs_tarball().display(),
        out = out.display()
    );
    let st = Command::new("sh").args(["-c", &script]).status().unwrap();
    assert!(st.success());
    out
}

/// The flavor and version the plugin "O" saw for a distribution imported
/// from `tarball`.
fn flavor_version(env: &Audit, tarball: &Path) -> (String, String) {
    let _ = std::fs::remove_file(env.scratch().join("plugin.log"));
    let dir = env.scratch().join("distro");
    env.ok(&[
        "--import",
        "OS",
        dir.to_str().unwrap(),
        tarball.to_str().unwrap(),
    ]);
    env.run_true("OS");
    let l = env.log();
    env.ok(&["--unregister", "OS"]);
    let line = l
        .lines()
        .find(|x| x.starts_with("O OnDistributionStarted"))
        .unwrap_or_else(|| panic!("{l}"))
        .to_string();
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .unwrap_or("")
            .to_string()
    };
    (field("flavor="), field("version="))
}

#[test]
fn s4_flavor_and_version_come_from_etc_os_release_first() {
    let env = Audit::new().with_plugin("O", "Os", &[]);
    let t = tarball_with(
        &env,
        "etc",
        "rm etc/os-release; printf 'ID=frometc\\nVERSION_ID=\"7.1\"\\n' > etc/os-release",
    );
    assert_eq!(flavor_version(&env, &t), ("frometc".into(), "7.1".into()));
}

#[test]
fn s4_flavor_and_version_fall_back_to_usr_lib_and_are_null_when_missing() {
    let env = Audit::new().with_plugin("O", "Os", &[]);
    let t = tarball_with(
        &env,
        "usrlib",
        "rm etc/os-release; printf 'NAME=x\\nID=fromusr\\n' > usr/lib/os-release",
    );
    assert_eq!(
        flavor_version(&env, &t),
        ("fromusr".into(), "(null)".into())
    );
}

// ---- §5 API calls ---------------------------------------------------------

#[test]
fn s5_mount_folder_creates_a_deep_mount_point_and_writes_reach_the_host() {
    let env = Audit::new();
    let shared = env.scratch().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("from-host"), "host-ok\n").unwrap();
    let mount = format!("MOUNT_RW=\"{}\"", shared.display());
    let env = env
        .with_plugin("M", "Mount", &[&mount])
        .with_distros(&["D"]);
    env.run_true("D");
    let l = env.log();
    assert!(l.contains("M mount-rw hr=0x00000000"), "{l}");
    assert_eq!(
        call(&l, "M write-through"),
        ("0x00000000".into(), "host-ok|".into())
    );
    assert_eq!(
        std::fs::read_to_string(shared.join("written")).unwrap(),
        "deep-ok\n"
    );
}

#[test]
fn s5_plugin_error_null_other_thread_and_second_call() {
    let env = Audit::new()
        .with_distros(&["D"])
        .with_plugin("E", "Errs", &["PLUGIN_ERROR_RULES"]);
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        &format!(
            "A fatal error was returned by plugin 'Errs'. Error message: 'first'\n{CREATE_VM}E_FAIL"
        ),
    );
    let l = env.log();
    assert!(
        l.contains("E PluginError null hr=0x80070057"),
        "E_INVALIDARG: {l}"
    );
    assert!(
        l.contains("E PluginError thread hr=0x8000000e"),
        "off the hook's thread: E_ILLEGAL_METHOD_CALL: {l}"
    );
    assert!(l.contains("E PluginError first hr=0x00000000"), "{l}");
    assert!(
        l.contains("E PluginError second hr=0x8000000d"),
        "E_ILLEGAL_STATE_CHANGE: {l}"
    );
}

#[test]
fn s5_plugin_error_outside_the_start_hooks_is_an_illegal_method_call() {
    let env = Audit::new()
        .with_plugin("O", "Outside", &["PLUGIN_ERROR_OUTSIDE"])
        .with_distros(&["D"]);
    env.run_true("D");
    env.ok(&["--shutdown"]);
    let l = env.log();
    for when in ["entry", "registered", "vm-stopping"] {
        assert!(
            l.contains(&format!("O PluginError {when} hr=0x8000000e")),
            "{when}: {l}"
        );
    }
}

#[test]
fn s5_execute_in_a_registered_but_stopped_distribution_is_invalid_state() {
    let env = Audit::new()
        .with_plugin("X", "Stopped", &["STOPPED_DISTRO"])
        .with_distros(&["Other", "D"]);
    // The plugin host remembers the Id of "D" from OnDistributionRegistered;
    // OnVMStarted (for "Other") runs before "D" ever started.
    env.ok(&["-d", "Other", "--", "true"]);
    let l = env.log();
    assert_eq!(call(&l, "X stopped-distro").0, "0x80040313", "{l}");
}

#[test]
fn s5_unknown_session_is_rpc_e_disconnected_for_every_call() {
    let env = Audit::new()
        .with_plugin("B", "Session", &["BAD_SESSION"])
        .with_distros(&["D"]);
    env.run_true("D");
    let l = env.log();
    assert!(l.contains("B bad-session MountFolder hr=0x80010108"), "{l}");
    assert!(
        l.contains("B bad-session InDistribution hr=0x80010108"),
        "{l}"
    );
}

#[test]
fn s5_execute_binary_works_from_a_plugin_thread_after_the_hook_returned() {
    let env = Audit::new()
        .with_plugin("T", "Later", &["BACKGROUND_EXEC"])
        .with_distros(&["D"]);
    env.run_true("D"); // the distribution, so the VM, stays up a while
    wait_for("the plugin's background ExecuteBinary", || {
        env.log().contains("T background")
    });
    assert_eq!(
        call(&env.log(), "T background"),
        ("0x00000000".into(), "later|".into())
    );
}

// ---- §6 The utility VM ----------------------------------------------------

#[test]
fn s6_vm_has_a_minimal_system_own_namespaces_and_forgets_writes() {
    let env = Audit::new()
        .with_plugin("V", "Probe", &["VM_PROBE"])
        .with_distros(&["D"]);
    env.run_true("D");
    env.ok(&["--shutdown"]);
    env.run_true("D");
    let l = env.log();
    let probes: Vec<&str> = l
        .lines()
        .filter_map(|x| x.strip_prefix("V vm-probe hr=0x00000000 out=["))
        .collect();
    assert_eq!(probes.len(), 2, "{l}");
    for p in probes {
        let items: Vec<&str> = p.trim_end_matches(']').split('|').collect();
        for want in [
            "has-/bin/sh",
            "has-cat",
            "has-readlink",
            "has-true",
            "proc",
            "dev",
            "tmp",
            "sbin",
            "lib",
            "root-fs=tmpfs",
            "marker-absent",
            "usr-read-only",
        ] {
            assert!(items.contains(&want), "{want} missing in {items:?}");
        }
        for ns in ["mnt", "pid", "uts", "ipc", "net", "cgroup"] {
            let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
            let vm = items
                .iter()
                .find_map(|i| i.strip_prefix(&format!("ns-{ns}=")))
                .unwrap_or_else(|| panic!("no {ns} in {items:?}"));
            assert_ne!(
                vm,
                host.to_str().unwrap(),
                "the VM has its own {ns} namespace"
            );
        }
    }
}

// ---- §7 The CLI -----------------------------------------------------------

#[test]
fn s7_long_flags_work_like_the_short_ones() {
    let env = Env::new();
    let dir = env.scratch().join("L");
    env.ok(&[
        "--import",
        "L",
        dir.to_str().unwrap(),
        rootfs_tarball().to_str().unwrap(),
        "--version",
        "2",
    ]);
    env.import("M");
    assert_eq!(
        env.ok(&[
            "--distribution",
            "L",
            "--user",
            "user",
            "--exec",
            "id",
            "-u"
        ]),
        "1000\n"
    );
    env.ok(&["--set-default", "M"]);
    assert_eq!(
        env.ok(&["--list", "--verbose"]),
        "  NAME    STATE           VERSION\n  L       Running         2\n* M       Stopped         2\n"
    );
    env.ok(&["--terminate", "L"]);
    assert!(env
        .ok(&["--list", "--verbose"])
        .contains("  L       Stopped"));
}

#[test]
fn s7_the_cli_starts_the_service_it_finds_next_to_itself() {
    let env = Env::new();
    env.import("D");
    env.ok(&["--shutdown"]);
    assert!(env.service_pid().is_none());
    let o = env
        .cmd()
        .env_remove("WSLPD")
        .args(["-d", "D", "--", "echo", "ok"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "ok\n");
    assert!(env.service_pid().is_some());
}

#[test]
fn s7_service_errors_use_the_two_line_form() {
    let env = Env::new();
    env.import("D");
    for args in [
        &["-d", "Nope", "--", "true"][..],
        &["--terminate", "Nope"],
        &["--unregister", "Nope"],
        &["--set-default", "Nope"],
        &["verify", "/bin/true"],
        &["trust", "remove", "00"],
        &["--import", "E", "/tmp/wslp-audit-none", "/nonexistent.tar"],
    ] {
        assert_two_line_error(&env, args);
    }
}

#[test]
fn s7_plugin_command_errors_use_the_two_line_form() {
    let env = Env::new();
    assert_two_line_error(&env, &["plugin", "remove", "Nope"]);
    assert_two_line_error(&env, &["plugin", "add", "X", "relative.so"]);
}

#[test]
fn s7_verify_trust_list_and_remove() {
    let env = Env::new();
    let (key, cert) = trusted_signer(&env);
    let so = build_plugin("e2e", &["LOG_PATH=\"/dev/null\""], &env.scratch());
    env.sign(&key, &cert, &so);
    let v = env.wslp(&["verify", so.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    let list = env.ok(&["trust", "list"]);
    let fp = list
        .split_whitespace()
        .find(|w| {
            w.replace(':', "").len() == 64
                && w.replace(':', "").chars().all(|c| c.is_ascii_hexdigit())
        })
        .unwrap_or_else(|| panic!("no SHA-256 fingerprint in {list:?}"))
        .to_string();
    env.ok(&["trust", "remove", &fp]);
    assert!(!env.wslp(&["verify", so.to_str().unwrap()]).status.success());
}

// ---- §8 Plugins that crash or hang ----------------------------------------

#[test]
fn s8_entry_point_that_hangs_times_out_and_its_host_is_killed() {
    let env = Audit::with_settings("require_signatures = false\nhook_timeout_ms = 1000\n")
        .with_distros(&["D"])
        .with_crash_plugin("Hangs", &["IN_ENTRY", "DO_HANG"]);
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        &format!(
            "A fatal error was returned by plugin 'Hangs'. Error message: 'The plugin did not answer within 1000 ms.'\n{CREATE_VM}ERROR_TIMEOUT"
        ),
    );
    let pid: i32 = env
        .log()
        .lines()
        .find_map(|l| l.strip_prefix("EntryPoint misbehaving pid="))
        .expect("the entry point ran")
        .parse()
        .unwrap();
    wait_for("the hung plugin host to be killed", || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true)
    });
}

#[test]
fn s8_hook_timeout_defaults_to_30000_ms() {
    let env = Audit::new()
        .with_distros(&["D"])
        .with_crash_plugin("Slow", &["IN_DISTRO_STARTED", "DO_HANG"]);
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        &format!(
            "A fatal error was returned by plugin 'Slow'. Error message: 'The plugin did not answer within 30000 ms.'\n{CREATE_INSTANCE}ERROR_TIMEOUT"
        ),
    );
}

#[test]
fn s8_crash_in_vm_started_uses_the_create_vm_path_and_everyone_gets_vm_stopping() {
    let env = Env::new();
    env.import("D");
    let log = env.scratch().join("plugins.log");
    let crash = audit_plugin(&env, &log, "C", &["CRASH_IN_VM_STARTED"]);
    let next = audit_plugin(&env, &log, "N", &[]);
    write_registry(
        &env,
        &(toml_entry("Crash", &crash) + &toml_entry("Next", &next)),
    );
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        &format!(
            "A fatal error was returned by plugin 'Crash'. Error message: 'The plugin crashed (SIGSEGV).'\n{CREATE_VM}ERROR_PROCESS_ABORTED"
        ),
    );
    let l = log_of(&log);
    assert!(l.contains("C OnVMStopping"), "a new host serves it: {l}");
    assert!(l.contains("N OnVMStopping"), "{l}");
    assert!(!l.contains("N OnVMStarted"), "{l}");
}

#[test]
fn s8_a_plugin_host_killed_between_hooks_is_replaced_for_the_next_hook() {
    let env = Audit::new()
        .with_distros(&["D", "E"])
        .with_plugin("K", "Killed", &["DLL_MAIN_PID"]);
    env.run_true("D");
    let pid: i32 = env
        .log()
        .lines()
        .find_map(|l| l.strip_prefix("K EntryPoint pid="))
        .unwrap()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert_eq!(env.ok(&["-d", "E", "--", "echo", "ok"]), "ok\n");
    let l = env.log();
    assert_eq!(l.matches("K EntryPoint").count(), 2, "{l}");
    assert!(l.contains("K OnDistributionStarted name=E"), "{l}");
}

#[test]
fn s8_plugin_host_exiting_with_a_status_names_it() {
    let env = Audit::new()
        .with_distros(&["D"])
        .with_plugin("X", "Exits", &["EXIT_IN_DISTRO=3"]);
    fails_with(
        &env,
        &["-d", "D", "--", "true"],
        &format!(
            "A fatal error was returned by plugin 'Exits'. Error message: 'The plugin exited with status 3.'\n{CREATE_INSTANCE}ERROR_PROCESS_ABORTED"
        ),
    );
}

#[test]
fn s8_a_stop_hook_that_hangs_is_only_logged() {
    let env = Audit::with_settings("require_signatures = false\nhook_timeout_ms = 1000\n")
        .with_distros(&["D"])
        .with_crash_plugin("Hangs", &["IN_DISTRO_STOPPING", "DO_HANG"]);
    assert_eq!(env.ok(&["-d", "D", "--", "echo", "ok"]), "ok\n");
    let o = env.wslp(&["--terminate", "D"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "the user sees nothing");
    assert!(env.log().contains("OnDistributionStopping misbehaving"));
    assert!(
        env.service_log().contains("Hangs"),
        "it is logged: {}",
        env.service_log()
    );
    assert_eq!(env.ok(&["-d", "D", "--", "echo", "again"]), "again\n");
}

#[test]
fn s8_a_vm_stopping_hook_that_hangs_does_not_hold_up_the_shutdown() {
    let env = Audit::with_settings("require_signatures = false\nhook_timeout_ms = 1000\n")
        .with_distros(&["D"])
        .with_plugin("H", "Hangs", &["HANG_IN_VM_STOPPING"]);
    env.run_true("D");
    let o = env.wslp(&["--shutdown"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "the user sees nothing");
    assert!(env.log().contains("H OnVMStopping"));
    assert!(env.service_pid().is_none(), "the service is gone");
    assert_eq!(env.ok(&["-d", "D", "--", "echo", "ok"]), "ok\n");
}

#[test]
fn s8_a_registration_hook_that_crashes_is_only_logged() {
    let env = Audit::new().with_plugin("R", "Crashes", &["CRASH_IN_REGISTERED"]);
    let dir = env.scratch().join("D");
    let o = env.wslp(&[
        "--import",
        "D",
        dir.to_str().unwrap(),
        rootfs_tarball().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "the user sees nothing");
    assert!(env.log().contains("R OnDistributionRegistered name=D"));
    assert_eq!(env.ok(&["-d", "D", "--", "echo", "ok"]), "ok\n");
}
