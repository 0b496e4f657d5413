//! Real C plugins, built with gcc from `tests/plugins/`, loaded with dlopen through
//! `PluginManager`: one test per rule of SPEC §3–§5 the host implements.

mod common;

use std::path::Path;

use common::{grep, guid, plugin_log, HostServices, Root};
use wslp_abi::hresult::*;
use wslp_abi::messages::{self, Stage};
use wslp_config::{read_registry, ConfigError};
use wslp_host::{DistroInfo, OfflineDistroInfo};

fn distro(n: u32) -> DistroInfo {
    DistroInfo {
        id: guid(n),
        name: format!("distro{n}"),
        pid_namespace: 4026531836,
        init_pid: 4242,
        flavor: Some("debian".into()),
        version: None,
    }
}

fn offline(n: u32) -> OfflineDistroInfo {
    OfflineDistroInfo {
        id: guid(n),
        name: format!("distro{n}"),
        flavor: None,
        version: Some("12".into()),
    }
}

#[test]
fn entry_point_gets_full_tables_and_the_wsl_api_version() {
    let root = Root::new();
    let so = root.plugin("Rec", "recorder.c", "rec.so", "tag rec\n");
    let m = root.manager();
    assert_eq!(m.plugins(), vec![("Rec".into(), so.clone(), Ok(()))]);
    let log = plugin_log(&so);
    // 11 API pointers set, hooks table zeroed, PluginError outside a hook refused.
    assert_eq!(
        grep(&log, "entry version="),
        ["rec entry version=2.9.5 api_set=11 hooks_nonzero=0 PluginError=0x8000000e"]
    );
}

#[test]
fn hooks_run_in_registry_order_across_three_plugins() {
    let root = Root::new();
    let log = root.shared_log();
    let conf = |tag: &str| format!("tag {tag}\nlog {}\n", log.display());
    // File order, not name order.
    root.plugin("Zed", "recorder.c", "z.so", &conf("Z"));
    root.plugin("Alpha", "recorder.c", "a.so", &conf("A"));
    root.plugin("Mid", "recorder.c", "m.so", &conf("M"));
    let m = root.manager();
    let s = m.open_session(0, HostServices::new());
    m.on_distribution_registered(&s, &offline(1));
    m.on_vm_started(&s, 0).unwrap();
    m.on_distribution_started(&s, &distro(1)).unwrap();
    m.on_distribution_stopping(&s, &distro(1));
    m.on_vm_stopping(&s);
    m.on_distribution_unregistered(&s, &offline(1));
    let called: Vec<String> = grep(&common::log_lines(&log), " called");
    let mut expected = Vec::new();
    for hook in [
        "OnDistributionRegistered",
        "OnVMStarted",
        "OnDistributionStarted",
        "OnDistributionStopping",
        "OnVMStopping",
        "OnDistributionUnregistered",
    ] {
        for tag in ["Z", "A", "M"] {
            expected.push(format!("{tag} {hook} called"));
        }
    }
    assert_eq!(called, expected);
}

#[test]
fn hooks_get_session_and_distribution_fields() {
    let root = Root::new();
    let so = root.plugin(
        "Rec",
        "recorder.c",
        "rec.so",
        "tag r\nOnVMStarted info\nOnDistributionStarted info\nOnDistributionRegistered info\n",
    );
    let m = root.manager();
    let s = m.open_session(1000, HostServices::new());
    // SessionId is stable for the manager's life.
    assert_eq!(m.open_session(1000, HostServices::new()), s);
    assert_eq!(m.session(1000), s);
    m.on_vm_started(&s, 3).unwrap();
    m.on_distribution_started(&s, &distro(7)).unwrap();
    m.on_distribution_registered(&s, &offline(8));
    let log = plugin_log(&so);
    let id = s.id;
    assert!(
        log.contains(&format!(
            "r OnVMStarted session id={id} token=set sid=set uid=1000"
        )),
        "{log:?}"
    );
    assert!(
        log.contains(&"r OnVMStarted flags=3".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&"r OnDistributionStarted distro id=00000007-abcd name=distro7 pfn=[ flavor=debian version=NULL".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&"r OnDistributionStarted pidns=4026531836 initpid=4242".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&"r OnDistributionRegistered distro id=00000008-abcd name=distro8 pfn=[ flavor=NULL version=12".to_string()),
        "{log:?}"
    );
}

#[test]
fn api_calls_reach_the_services_with_wsl_error_codes() {
    let root = Root::new();
    let dir = root.path().display().to_string();
    let so = root.plugin(
        "Rec",
        "recorder.c",
        "rec.so",
        &format!(
            "tag r\n\
             OnVMStarted exec /bin/cat\n\
             OnVMStarted exec /bin/echo hello world\n\
             OnVMStarted exec /nonexistent/binary\n\
             OnVMStarted exec_bogus /bin/cat\n\
             OnVMStarted mount {dir} /mnt/plugin\n\
             OnVMStarted mount {dir}/missing /mnt/nothing\n\
             OnVMStarted exec_distro null /bin/cat\n\
             OnVMStarted exec_distro zero /bin/cat\n\
             OnDistributionStarted exec_distro self /bin/cat\n\
             OnDistributionStopping exec_distro self /bin/echo stopping\n"
        ),
    );
    let m = root.manager();
    let services = HostServices::new();
    services.running_distros.lock().unwrap().push(guid(5));
    let s = m.open_session(0, services.clone());
    m.on_vm_started(&s, 0).unwrap();
    m.on_distribution_started(&s, &distro(5)).unwrap();
    m.on_distribution_stopping(&s, &distro(5));
    let log = plugin_log(&so);
    let exec = grep(&log, "OnVMStarted exec=");
    assert_eq!(
        exec,
        [
            "r OnVMStarted exec=0x00000000 out=ping|",
            "r OnVMStarted exec=0x00000000 out=hello world|",
            "r OnVMStarted exec=0x80004005",
        ]
    );
    assert_eq!(
        grep(&log, "exec_bogus="),
        ["r OnVMStarted exec_bogus=0x80010108"]
    );
    assert_eq!(
        grep(&log, "mount="),
        [
            "r OnVMStarted mount=0x00000000",
            "r OnVMStarted mount=0x80070002"
        ]
    );
    assert_eq!(
        *services.mounts.lock().unwrap(),
        vec![(
            root.path().to_path_buf(),
            "/mnt/plugin".to_string(),
            true,
            "r".to_string()
        )]
    );
    assert_eq!(
        grep(&log, "exec_distro="),
        [
            "r OnVMStarted exec_distro=0x80070057",
            "r OnVMStarted exec_distro=0x80040313",
            "r OnDistributionStarted exec_distro=0x00000000 out=ping|",
            "r OnDistributionStopping exec_distro=0x00000000 out=stopping|",
        ]
    );
}

/// Outside a WSLC session (no service serves them here) the calls find no
/// session; a NULL process handle is E_POINTER (SPEC §11).
#[test]
fn wslc_calls_without_a_session_find_none() {
    let root = Root::new();
    let so = root.plugin("Rec", "recorder.c", "rec.so", "tag r\nOnVMStarted wslc\n");
    let m = root.manager();
    let s = m.open_session(0, HostServices::new());
    m.on_vm_started(&s, 0).unwrap();
    assert_eq!(
        grep(&plugin_log(&so), " wslc "),
        ["r OnVMStarted wslc mount=0x8004060f unmount=0x8004060f create=0x8004060f getfd=0x80004003 exitevent=0x80004003 exitcode=0x80004003"]
    );
}

#[test]
fn plugin_error_rules_in_on_vm_started() {
    let root = Root::new();
    let so = root.plugin(
        "Rec",
        "recorder.c",
        "rec.so",
        "tag r\n\
         OnVMStarted error_null\n\
         OnVMStarted error_thread from another thread\n\
         OnVMStarted error the disk is full\n\
         OnVMStarted error a second message\n\
         OnVMStarted return 8000FFFF\n\
         OnVMStopping error too late\n",
    );
    let m = root.manager();
    let s = m.open_session(0, HostServices::new());
    let err = m.on_vm_started(&s, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "A fatal error was returned by plugin 'Rec'. Error message: 'the disk is full'\n\
         Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/E_UNEXPECTED"
    );
    assert_eq!(err.code, E_UNEXPECTED);
    assert_eq!(err.plugin, "Rec");
    assert_eq!(err.message.as_deref(), Some("the disk is full"));
    let log = plugin_log(&so);
    assert_eq!(
        grep(&log, "On")
            .into_iter()
            .filter(|l| l.contains("PluginError"))
            .collect::<Vec<_>>(),
        [
            "r OnVMStarted PluginError(NULL)=0x80070057",
            "r OnVMStarted PluginError(thread)=0x8000000e",
            "r OnVMStarted PluginError=0x00000000",
            "r OnVMStarted PluginError=0x8000000d",
            // OnVMStopping follows the failure; PluginError is not allowed there.
            "r OnVMStopping PluginError=0x8000000e",
        ]
    );
}

#[test]
fn fatal_error_without_message_and_message_cleared_between_hooks() {
    let root = Root::new();
    root.plugin(
        "Plain",
        "recorder.c",
        "p.so",
        "OnVMStarted return 80004005\n",
    );
    let m = root.manager();
    let s = m.open_session(0, HostServices::new());
    for _ in 0..2 {
        assert_eq!(
            m.on_vm_started(&s, 0).unwrap_err().to_string(),
            "A fatal error was returned by plugin 'Plain'\n\
             Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/E_FAIL"
        );
    }
}

#[test]
fn error_then_success_is_illegal_state_change() {
    let root = Root::new();
    root.plugin(
        "Sneaky",
        "recorder.c",
        "s.so",
        "OnVMStarted error oops\nOnDistributionStarted error oops again\n",
    );
    let m = root.manager();
    let s = m.open_session(0, HostServices::new());
    let err = m.on_vm_started(&s, 0).unwrap_err();
    assert_eq!(err.code, E_ILLEGAL_STATE_CHANGE);
    assert_eq!(
        err.to_string(),
        "Plugin 'Sneaky' emitted an error message but returned success\n\
         Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/E_ILLEGAL_STATE_CHANGE"
    );
    let err = m.on_distribution_started(&s, &distro(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Plugin 'Sneaky' emitted an error message but returned success\n\
         Error code: Wsl/Service/CreateInstance/Plugin/E_ILLEGAL_STATE_CHANGE"
    );
}

#[test]
fn distribution_start_failure_uses_the_create_instance_path_and_stops_the_loop() {
    let root = Root::new();
    let log = root.shared_log();
    let conf = |tag: &str, extra: &str| format!("tag {tag}\nlog {}\n{extra}", log.display());
    root.plugin("A", "recorder.c", "a.so", &conf("A", ""));
    root.plugin(
        "B",
        "recorder.c",
        "b.so",
        &conf(
            "B",
            "OnDistributionStarted error no network\nOnDistributionStarted return 80070005\n",
        ),
    );
    root.plugin("C", "recorder.c", "c.so", &conf("C", ""));
    let m = root.manager();
    let s = m.open_session(0, HostServices::new());
    let err = m.on_distribution_started(&s, &distro(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "A fatal error was returned by plugin 'B'. Error message: 'no network'\n\
         Error code: Wsl/Service/CreateInstance/Plugin/E_ACCESSDENIED"
    );
    assert_eq!(
        grep(&common::log_lines(&log), " called"),
        [
            "A OnDistributionStarted called",
            "B OnDistributionStarted called"
        ]
    );
}

#[test]
fn vm_started_failure_gives_every_loaded_plugin_vm_stopping() {
    let root = Root::new();
    let log = root.shared_log();
    let conf = |tag: &str, extra: &str| format!("tag {tag}\nlog {}\n{extra}", log.display());
    root.plugin("A", "recorder.c", "a.so", &conf("A", ""));
    root.plugin(
        "B",
        "recorder.c",
        "b.so",
        &conf("B", "OnVMStarted return 80004005\n"),
    );
    root.plugin("C", "recorder.c", "c.so", &conf("C", ""));
    let m = root.manager();
    let s = m.open_session(0, HostServices::new());
    let err = m.on_vm_started(&s, 0).unwrap_err();
    assert_eq!(err.plugin, "B");
    assert_eq!(
        grep(&common::log_lines(&log), " called"),
        [
            "A OnVMStarted called",
            "B OnVMStarted called",
            "A OnVMStopping called",
            "B OnVMStopping called",
            "C OnVMStopping called",
        ]
    );
}

#[test]
fn calls_after_close_session_get_rpc_e_disconnected() {
    let root = Root::new();
    let so = root.plugin(
        "Rec",
        "recorder.c",
        "rec.so",
        "tag r\nOnVMStopping exec /bin/cat\n",
    );
    let m = root.manager();
    let s = m.open_session(0, HostServices::new());
    m.on_vm_stopping(&s);
    m.close_session(&s);
    m.on_vm_stopping(&s);
    assert_eq!(
        grep(&plugin_log(&so), "exec="),
        [
            "r OnVMStopping exec=0x00000000 out=ping|",
            "r OnVMStopping exec=0x80010108"
        ]
    );
    // Reopening binds again, under the same id.
    let s2 = m.open_session(0, HostServices::new());
    assert_eq!(s2.id, s.id);
    m.on_vm_stopping(&s2);
    assert_eq!(grep(&plugin_log(&so), "exec=").len(), 3);
    assert!(grep(&plugin_log(&so), "exec=")[2].ends_with("out=ping|"));
}

#[test]
fn logged_only_hooks_do_not_fail() {
    let root = Root::new();
    let log = root.shared_log();
    let conf = |tag: &str, extra: &str| format!("tag {tag}\nlog {}\n{extra}", log.display());
    root.plugin(
        "A",
        "recorder.c",
        "a.so",
        &conf(
            "A",
            "OnVMStopping return 80004005\nOnDistributionStopping return 80004005\n\
             OnDistributionRegistered return 80004005\nOnDistributionUnregistered return 80004005\n",
        ),
    );
    root.plugin("B", "recorder.c", "b.so", &conf("B", ""));
    let m = root.manager();
    let s = m.session(0);
    m.on_vm_stopping(&s);
    m.on_distribution_stopping(&s, &distro(1));
    m.on_distribution_registered(&s, &offline(1));
    m.on_distribution_unregistered(&s, &offline(1));
    // B still ran after each of A's failures.
    assert_eq!(
        grep(&grep(&common::log_lines(&log), "B "), " called").len(),
        4
    );
}

#[test]
fn requires_update_has_its_own_text_and_other_plugins_still_register() {
    let root = Root::new();
    root.plugin("Old", "requires_update.c", "old.so", "");
    let so = root.plugin("Rec", "recorder.c", "rec.so", "tag r\n");
    let m = root.manager();
    let s = m.open_session(0, HostServices::new());
    for _ in 0..2 {
        let err = m.on_vm_started(&s, 0).unwrap_err();
        assert_eq!(err.code, WSL_E_PLUGIN_REQUIRES_UPDATE);
        assert_eq!(
            err.to_string(),
            "The plugin 'Old' requires a newer version of wslp. Please update wslp.\n\
             Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/WSL_E_PLUGIN_REQUIRES_UPDATE"
        );
    }
    assert!(grep(&plugin_log(&so), "OnVMStarted").is_empty());
    m.on_distribution_registered(&s, &offline(1));
    assert_eq!(
        grep(&plugin_log(&so), "OnDistributionRegistered called").len(),
        1
    );
    assert_eq!(m.plugins()[0].2, Err(WSL_E_PLUGIN_REQUIRES_UPDATE));
}

#[test]
fn missing_file_is_mod_not_found() {
    let root = Root::new();
    let missing = root.path().join("gone.so");
    let warnings = wslp_config::add_registry_entry(root.path(), "Gone", &missing).unwrap();
    assert_eq!(warnings.len(), 1);
    let m = root.manager();
    let err = m.on_vm_started(&m.session(0), 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "A fatal error was returned by plugin 'Gone'\n\
         Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/ERROR_MOD_NOT_FOUND"
    );
    assert_eq!(
        m.plugins(),
        vec![(
            "Gone".into(),
            missing,
            Err(hresult_from_win32(win32::ERROR_MOD_NOT_FOUND))
        )]
    );
}

#[test]
fn no_entry_point_is_proc_not_found_in_hex() {
    let root = Root::new();
    root.plugin("NotAPlugin", "no_entry.c", "lib.so", "");
    let m = root.manager();
    let err = m.on_vm_started(&m.session(0), 0).unwrap_err();
    assert_eq!(err.code, hresult_from_win32(win32::ERROR_PROC_NOT_FOUND));
    assert_eq!(
        err.to_string(),
        "A fatal error was returned by plugin 'NotAPlugin'\n\
         Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/0x8007007f"
    );
}

#[test]
fn entry_point_failure_fails_every_vm_start_without_running_hooks() {
    let root = Root::new();
    let log = root.shared_log();
    root.plugin(
        "Good",
        "recorder.c",
        "good.so",
        &format!("tag G\nlog {}\n", log.display()),
    );
    root.plugin(
        "Bad",
        "recorder.c",
        "bad.so",
        &format!("tag B\nlog {}\nentry 80070005\n", log.display()),
    );
    let m = root.manager();
    let s = m.open_session(0, HostServices::new());
    for _ in 0..2 {
        assert_eq!(
            m.on_vm_started(&s, 0).unwrap_err().to_string(),
            messages::fatal_plugin_error("Bad", None, Stage::CreateVm, E_ACCESSDENIED)
        );
    }
    assert!(grep(&common::log_lines(&log), "OnVMStarted").is_empty());
    // The failed plugin gets no hooks; the good one still gets stop hooks.
    m.on_vm_stopping(&s);
    assert_eq!(
        grep(&common::log_lines(&log), " called"),
        ["G OnVMStopping called"]
    );
}

#[test]
fn non_string_registry_value_is_skipped_with_a_warning() {
    let root = Root::new();
    let so = root.plugin("Good", "recorder.c", "good.so", "tag g\n");
    let text = std::fs::read_to_string(root.path().join("plugins.toml")).unwrap();
    std::fs::write(
        root.path().join("plugins.toml"),
        text.replace("[plugins]\n", "[plugins]\nNumber = 42\n"),
    )
    .unwrap();
    let m = root.manager();
    assert_eq!(m.plugins(), vec![("Good".into(), so, Ok(()))]);
    assert_eq!(m.warnings().len(), 1);
    assert!(
        m.warnings()[0].contains("plugin 'Number'"),
        "{:?}",
        m.warnings()
    );
    m.on_vm_started(&m.open_session(0, HostServices::new()), 0)
        .unwrap();
}

#[test]
fn duplicate_path_through_a_symlink_is_loaded_once() {
    let root = Root::new();
    let so = root.plugin("First", "recorder.c", "p.so", "tag p\n");
    let link = root.path().join("link.so");
    std::os::unix::fs::symlink(&so, &link).unwrap();
    root.register("Second", &link);
    let m = root.manager();
    assert_eq!(m.plugins(), vec![("First".into(), so.clone(), Ok(()))]);
    assert!(
        m.warnings()[0].contains("plugin 'Second'"),
        "{:?}",
        m.warnings()
    );
    assert_eq!(grep(&plugin_log(&so), "entry version=").len(), 1);
}

#[test]
fn malformed_registry_names_file_and_line_and_fails_vm_start() {
    let root = Root::new();
    std::fs::write(
        root.path().join("plugins.toml"),
        "[plugins]\nA = \"/a.so\"\nB = /b.so\n",
    )
    .unwrap();
    let reg = root.path().join("plugins.toml");
    match read_registry(root.path()) {
        Err(ConfigError::Malformed { path, line, .. }) => {
            assert_eq!(path, reg);
            assert_eq!(line, 3);
        }
        other => panic!("{other:?}"),
    }
    let m = root.manager();
    let err = m.on_vm_started(&m.session(0), 0).unwrap_err();
    assert!(
        err.text.starts_with(&format!("{}:3: ", reg.display())),
        "{}",
        err.text
    );
    assert!(
        err.text.ends_with(
            "\nError code: Wsl/Service/CreateInstance/CreateVm/Plugin/ERROR_INVALID_DATA"
        ),
        "{}",
        err.text
    );
}

#[test]
fn cpp_plugin_written_the_windows_way_builds_and_runs() {
    let root = Root::new();
    root.plugin("Cpp", "windows_style.cpp", "cpp.so", "");
    let m = root.manager();
    let s = m.open_session(0, HostServices::new());
    assert_eq!(
        m.on_vm_started(&s, 0).unwrap_err().to_string(),
        "A fatal error was returned by plugin 'Cpp'. Error message: 'C++ plugin saw: got:hello'\n\
         Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/E_ABORT"
    );
}

/// A WSLC plugin written as Microsoft's test plugin calls the API (released
/// WSLCMountFolder signature, OnWslcVm* typedefs, CloseHandle/WaitForSingleObject)
/// builds against the header and loads; outside a session its calls find none
/// (WSLC_E_SESSION_NOT_FOUND), and a NULL process handle is E_POINTER.
#[test]
fn wslc_plugin_written_as_microsofts_builds_loads_and_calls() {
    let root = Root::new();
    root.plugin("Wslc", "wslc_windows_style.cpp", "wslc.so", "");
    let m = root.manager();
    let s = m.open_session(0, HostServices::new());
    assert_eq!(
        m.on_vm_started(&s, 0).unwrap_err().to_string(),
        "A fatal error was returned by plugin 'Wslc'. Error message: 'WSLC calls: create=0x8004060f \
         getfd(999)=0x80004003 exitcode=0x80004003 mount-rw=0x8004060f mount-ro=0x8004060f \
         unmount=0x8004060f relative=0x8004060f'\n\
         Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/E_ABORT"
    );
}

/// A trust store holding one self-signed code-signing certificate; returns (key, cert).
fn trust(root: &Root) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = root.path().join("key.pem");
    let cert = root.path().join("cert.pem");
    wslp_trust::new_certificate(
        &wslp_trust::CertOptions {
            subject: "CN=wslp host tests".into(),
            days: 1,
            is_ca: false,
            issuer: None,
            code_signing: true,
        },
        &key,
        &cert,
    )
    .unwrap();
    wslp_trust::TrustStore::open(&root.path().join("trust"))
        .add(&cert)
        .unwrap();
    (key, cert)
}

fn signed_root() -> Root {
    let root = Root::new();
    root.settings("require_signatures = true\n");
    root
}

fn where_loaded(root: &Root) -> Result<String, wslp_host::PluginFailure> {
    let m = root.manager();
    let err = m
        .on_vm_started(&m.open_session(0, HostServices::new()), 0)
        .unwrap_err();
    if err.code == E_FAIL {
        Ok(err.message.unwrap())
    } else {
        Err(err)
    }
}

#[test]
fn unsigned_plugin_is_refused_when_signatures_are_required() {
    let root = signed_root();
    trust(&root);
    root.plugin("Unsigned", "whereami.c", "u.so", "");
    let err = where_loaded(&root).unwrap_err();
    assert_eq!(
        err.to_string(),
        "A fatal error was returned by plugin 'Unsigned'\n\
         Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/TRUST_E_NOSIGNATURE"
    );
}

#[test]
fn signed_root_owned_plugin_loads_through_its_descriptor_and_knows_its_path() {
    let root = signed_root();
    let (key, cert) = trust(&root);
    let so = root.plugin("Signed", "whereami.c", "s.so", "");
    wslp_trust::sign_file(&so, &key, &cert).unwrap();
    set_mode(&so, 0o644);
    assert_eq!(
        where_loaded(&root).unwrap(),
        so.canonicalize().unwrap().display().to_string()
    );
}

#[test]
fn signed_but_writable_plugin_loads_from_a_sealed_copy() {
    let root = signed_root();
    let (key, cert) = trust(&root);
    let so = root.plugin("Writable", "whereami.c", "w.so", "");
    wslp_trust::sign_file(&so, &key, &cert).unwrap();
    set_mode(&so, 0o666);
    // Loaded, but not from the path anyone may rewrite.
    let place = where_loaded(&root).unwrap();
    assert_ne!(place, so.canonicalize().unwrap().display().to_string());
}

#[test]
fn tampered_signed_plugin_is_bad_digest() {
    let root = signed_root();
    let (key, cert) = trust(&root);
    let so = root.plugin("Tampered", "whereami.c", "t.so", "");
    wslp_trust::sign_file(&so, &key, &cert).unwrap();
    let mut bytes = std::fs::read(&so).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&so, bytes).unwrap();
    assert_eq!(
        where_loaded(&root).unwrap_err().to_string(),
        "A fatal error was returned by plugin 'Tampered'\n\
         Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/TRUST_E_BAD_DIGEST"
    );
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The WSLC hooks (SPEC §11), in process and in a plugin host: every one
/// reaches the plugin with its WSLCSessionInformation (UserToken and UserSid
/// NULL) and its string; OnSessionCreated and ContainerStarted are fatal with
/// their own error-code paths, the others only logged.
#[test]
fn wslc_hooks_reach_plugins_with_their_session_and_policies() {
    use wslp_host::WslcSession;
    for in_process in [false, true] {
        let root = Root::new();
        if in_process {
            root.settings("require_signatures = false\nin_process_plugins = [\"W\", \"V\"]\n");
        }
        let log = root.shared_log();
        root.plugin(
            "W",
            "recorder.c",
            "w.so",
            &format!(
                "tag W\nlog {}\nOnSessionCreated info\nContainerStarted info\nImageDeleted info\n\
                 ImageCreated return 80004005\nContainerStopping error not allowed here\n",
                log.display()
            ),
        );
        root.plugin(
            "V",
            "recorder.c",
            "v.so",
            &format!("tag V\nlog {}\n", log.display()),
        );
        let m = root.manager();
        let w = WslcSession {
            id: 1,
            name: "wslc-cli-root".into(),
            application_pid: 4242,
        };
        m.on_session_created(&w).unwrap();
        m.on_wslc_vm_started(&w);
        m.on_image_created(&w, "{\"Id\":\"sha256:1\"}");
        m.on_container_started(&w, "{\"Id\":\"c1\"}").unwrap();
        m.on_container_stopping(&w, "c1");
        m.on_image_deleted(&w, "sha256:1");
        m.on_wslc_vm_stopping(&w);
        m.on_session_stopping(&w);
        let lines = common::log_lines(&log);
        let called = grep(&lines, " called");
        let mut expected = Vec::new();
        for hook in [
            "OnSessionCreated",
            "WslcVmStarted",
            "ImageCreated",
            "ContainerStarted",
            "ContainerStopping",
            "ImageDeleted",
            "WslcVmStopping",
            "OnSessionStopping",
        ] {
            for tag in ["W", "V"] {
                expected.push(format!("{tag} {hook} called"));
            }
        }
        assert_eq!(called, expected, "in process: {in_process}");
        assert_eq!(
            grep(&lines, "W OnSessionCreated wslc"),
            ["W OnSessionCreated wslc session id=1 name=wslc-cli-root pid=4242 token=NULL sid=NULL"]
        );
        assert_eq!(
            grep(&lines, "text="),
            [
                "W ContainerStarted text={\"Id\":\"c1\"}",
                "W ImageDeleted text=sha256:1"
            ]
        );
        // PluginError outside the two fatal hooks is refused.
        assert_eq!(
            grep(&lines, "W ContainerStopping PluginError"),
            ["W ContainerStopping PluginError=0x8000000e"]
        );
    }
}

#[test]
fn a_failing_session_or_container_hook_is_fatal_with_its_own_error_code() {
    use wslp_host::WslcSession;
    let root = Root::new();
    let log = root.shared_log();
    root.plugin(
        "Deny",
        "recorder.c",
        "d.so",
        &format!(
            "tag D\nlog {}\nOnSessionCreated error no sessions today\nOnSessionCreated return 80070005\n\
             ContainerStarted error image not allowed\n",
            log.display()
        ),
    );
    root.plugin(
        "After",
        "recorder.c",
        "a.so",
        &format!("tag A\nlog {}\n", log.display()),
    );
    let m = root.manager();
    let w = WslcSession {
        id: 3,
        name: "s".into(),
        application_pid: 1,
    };
    let f = m.on_session_created(&w).unwrap_err();
    assert_eq!(f.plugin, "Deny");
    assert_eq!(
        f.text,
        "A fatal error was returned by plugin 'Deny'. Error message: 'no sessions today'\n\
         Error code: Wsl/Service/CreateSession/Plugin/E_ACCESSDENIED"
    );
    // Error then success: E_ILLEGAL_STATE_CHANGE on the container path.
    let f = m.on_container_started(&w, "{}").unwrap_err();
    assert_eq!(f.code, E_ILLEGAL_STATE_CHANGE);
    assert_eq!(
        f.text,
        messages::error_then_success("Deny", Stage::Container)
    );
    // The first failure stops the loop: the plugin after it was never called.
    assert!(grep(&common::log_lines(&log), " called")
        .iter()
        .all(|l| l.starts_with("D ")));
}
