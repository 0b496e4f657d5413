//! `api_version` in wslp.toml (SPEC §1): what every plugin's entry point sees in
//! `Api->Version`, in process and in a plugin host, checked by a real C plugin
//! that requires 2.1.2 with `WSL_PLUGIN_REQUIRE_VERSION`, as plugins do.

mod common;

use std::path::{Path, PathBuf};

use common::{grep, guid, plugin_log, HostServices, Root};
use wslp_abi::hresult::*;
use wslp_abi::messages::{self, Stage};
use wslp_config::ConfigError;
use wslp_host::{DistroInfo, PluginManager};

/// Both ways a plugin runs: in a plugin host (the default) and in the service.
const MODES: [bool; 2] = [false, true];

/// A root with `requires_2_1_2.c` registered as "Needs212", with `api_version`
/// set when given, the plugin in process when asked.
fn setup(api_version: Option<&str>, in_process: bool) -> (Root, PathBuf, PluginManager) {
    let root = Root::new();
    let mut settings = "require_signatures = false\n".to_string();
    if let Some(v) = api_version {
        settings.push_str(&format!("api_version = \"{v}\"\n"));
    }
    if in_process {
        settings.push_str("in_process_plugins = [\"Needs212\"]\n");
    }
    root.settings(&settings);
    let so = root.plugin("Needs212", "requires_2_1_2.c", "needs212.so", "");
    let m = root.manager();
    (root, so, m)
}

/// `(version, pid)` of every "<what> version=X.Y.Z pid=N" line, in order.
fn seen(so: &Path, what: &str) -> Vec<(String, i32)> {
    grep(&plugin_log(so), &format!("{what} version="))
        .iter()
        .map(|l| {
            let field = |k: &str| {
                l.split(' ')
                    .find_map(|f| f.strip_prefix(k))
                    .unwrap_or_else(|| panic!("no {k} in {l}"))
                    .to_string()
            };
            (field("version="), field("pid=").parse().unwrap())
        })
        .collect()
}

/// The pid the plugin must have run in: the service's own, or another one.
fn assert_ran_where(pid: i32, in_process: bool) {
    let ours = std::process::id() as i32;
    if in_process {
        assert_eq!(pid, ours, "in process");
    } else {
        assert_ne!(pid, ours, "in a plugin host");
    }
}

#[test]
fn default_is_the_wsl_api_level_wslp_implements() {
    for in_process in MODES {
        let (_root, so, m) = setup(None, in_process);
        assert_eq!(m.load_failure(), None);
        let s = m.open_session(0, HostServices::new());
        m.on_vm_started(&s, 0).unwrap();
        let entry = seen(&so, "entry");
        assert_eq!(entry.len(), 1, "{entry:?}");
        assert_eq!(entry[0].0, "2.9.5");
        assert_ran_where(entry[0].1, in_process);
        assert_eq!(
            seen(&so, "OnVMStarted"),
            [("2.9.5".to_string(), entry[0].1)]
        );
    }
}

#[test]
fn an_older_api_version_fails_a_plugin_that_requires_a_newer_one() {
    for in_process in MODES {
        let (_root, so, m) = setup(Some("2.0.5"), in_process);
        // The entry point saw 2.0.5 and refused: SPEC §3's text at every VM start.
        let entry = seen(&so, "entry");
        assert_eq!(entry.len(), 1, "{entry:?}");
        assert_eq!(entry[0].0, "2.0.5");
        assert_ran_where(entry[0].1, in_process);
        assert_eq!(m.plugins()[0].2, Err(WSL_E_PLUGIN_REQUIRES_UPDATE));
        let s = m.open_session(0, HostServices::new());
        let err = m.on_vm_started(&s, 0).unwrap_err();
        assert_eq!(err.code, WSL_E_PLUGIN_REQUIRES_UPDATE);
        assert_eq!(
            err.to_string(),
            "The plugin 'Needs212' requires a newer version of wslp. Please update wslp.\n\
             Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/WSL_E_PLUGIN_REQUIRES_UPDATE"
        );
        assert!(seen(&so, "OnVMStarted").is_empty());
    }
}

#[test]
fn the_required_version_itself_loads_and_hooks_keep_seeing_it() {
    for in_process in MODES {
        let (_root, so, m) = setup(Some("2.1.2"), in_process);
        assert_eq!(m.load_failure(), None);
        let s = m.open_session(0, HostServices::new());
        m.on_vm_started(&s, 0).unwrap();
        let entry = seen(&so, "entry");
        assert_eq!(entry.len(), 1, "{entry:?}");
        assert_eq!(entry[0].0, "2.1.2");
        assert_ran_where(entry[0].1, in_process);
        // Read later through the pointer the entry point kept: the table stayed put.
        assert_eq!(
            seen(&so, "OnVMStarted"),
            [("2.1.2".to_string(), entry[0].1)]
        );
    }
}

#[test]
fn a_restarted_plugin_host_passes_the_same_api_version() {
    let (_root, so, m) = setup(Some("2.1.3"), false);
    let s = m.open_session(0, HostServices::new());
    m.on_vm_started(&s, 0).unwrap();
    let d = DistroInfo {
        id: guid(1),
        name: "d".into(),
        pid_namespace: 4026531836,
        init_pid: 4242,
        flavor: None,
        version: None,
    };
    // OnDistributionStarted aborts; the next hook runs in a new host.
    let err = m.on_distribution_started(&s, &d).unwrap_err();
    assert_eq!(
        err.to_string(),
        messages::fatal_plugin_error(
            "Needs212",
            Some(&messages::crashed_message("SIGABRT")),
            Stage::CreateInstance,
            hresult_from_win32(win32::ERROR_PROCESS_ABORTED)
        )
    );
    m.on_vm_started(&s, 0).unwrap();
    let entry = seen(&so, "entry");
    assert_eq!(entry.len(), 2, "{entry:?}");
    assert_ne!(entry[0].1, entry[1].1, "a new host: {entry:?}");
    assert!(entry.iter().all(|(v, _)| v == "2.1.3"), "{entry:?}");
    let hooks = seen(&so, "OnVMStarted");
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    assert!(hooks.iter().all(|(v, _)| v == "2.1.3"), "{hooks:?}");
}

#[test]
fn a_malformed_api_version_is_an_error_naming_file_and_line() {
    let root = Root::new();
    root.settings("require_signatures = false\n\napi_version = \"2.1\"\n");
    let path = root.path().join("wslp.toml");
    let err = wslp_config::Settings::load(root.path()).unwrap_err();
    match &err {
        ConfigError::Malformed { path: p, line, .. } => {
            assert_eq!((p.as_path(), *line), (path.as_path(), 3));
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string().starts_with(&format!(
            "{}:3: api_version must be a string \"MAJOR.MINOR.REVISION\"",
            path.display()
        )),
        "{err}"
    );
}
