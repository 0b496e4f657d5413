//! The sample plugin loaded by the real plugin manager, its API calls served
//! by processes on this machine: what it logs for every hook, and how a failed
//! ExecuteBinary reaches the user.

#[path = "../../testing/host.rs"]
mod host;

use host::*;
use wslp_host::{DistroInfo, OfflineDistroInfo};

const SO: &str = "libwslp_sample_plugin.so";

fn log_lines(root: &Root) -> Vec<String> {
    let log = root.plugin.parent().unwrap().join("wsl-plugin-demo.txt");
    std::fs::read_to_string(&log)
        .unwrap_or_else(|e| panic!("reading {}: {e}", log.display()))
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn logs_every_hook_and_the_kernel_version() {
    let root = Root::new(&built_plugin(SO), "Sample");
    let manager = root.load();
    let services = HostServices::new();
    let session = manager.open_session(0, services.clone());
    let sid = session.id;

    manager.on_vm_started(&session, 1).expect("OnVMStarted");
    let distro = DistroInfo {
        id: guid(1),
        name: "Debian".to_string(),
        pid_namespace: 4026532100,
        init_pid: 4321,
        flavor: Some("debian".to_string()),
        version: Some("12".to_string()),
    };
    services.running.lock().unwrap().push(distro.id);
    manager
        .on_distribution_started(&session, &distro)
        .expect("OnDistributionStarted");
    manager.on_distribution_stopping(&session, &distro);
    let offline = OfflineDistroInfo {
        id: guid(2),
        name: "Alpine".to_string(),
        flavor: None,
        version: None,
    };
    manager.on_distribution_registered(&session, &offline);
    manager.on_distribution_unregistered(&session, &offline);
    manager.on_vm_stopping(&session);

    let kernel = std::fs::read_to_string("/proc/version").unwrap();
    let id = "5eed0001-abcd-4ef0-8001-020304050601";
    assert_eq!(
        log_lines(&root),
        vec![
            "Plugin loaded. WSL version: 2.9.5".to_string(),
            format!("VM created. SessionId={sid} CustomConfigurationFlags=1"),
            format!("Kernel version info: {}", kernel.trim_end_matches('\n')),
            format!(
                "Distribution started. SessionId={sid}, Name=Debian, Package=, PidNs=4026532100, \
                 InitPid=4321, Flavor=debian, Version=12, Id={{{id}}}"
            ),
            format!(
                "Distribution Stopping. SessionId={sid}, Name=Debian, Package=, PidNs=4026532100, \
                 InitPid=4321, Flavor=debian, Version=12, Id={{{id}}}"
            ),
            format!(
                "Distribution registered. SessionId={sid}, Name=Alpine, Package=, Flavor=, \
                 Version=, Id={{5eed0002-abcd-4ef0-8001-020304050602}}"
            ),
            format!(
                "Distribution unregistered. SessionId={sid}, Name=Alpine, Package=, Flavor=, \
                 Version=, Id={{5eed0002-abcd-4ef0-8001-020304050602}}"
            ),
            format!("VM Stopping. SessionId={sid}"),
        ]
    );
    assert_eq!(
        services.calls(),
        vec![Call::Execute {
            path: "/bin/cat".to_string(),
            argv: vec!["/bin/cat".to_string(), "/proc/version".to_string()],
        }]
    );
    manager.close_session(&session);
}

/// Services whose ExecuteBinary always fails, as a VM without /bin/cat would.
struct NoExec(HostServices);

impl wslp_host::PluginServices for NoExec {
    fn execute_binary(&self, _path: &str, _argv: &[String]) -> Result<std::os::fd::OwnedFd, i32> {
        Err(wslp_abi::hresult::E_FAIL)
    }
    fn execute_binary_in_distribution(
        &self,
        distro: wslp_abi::GUID,
        path: &str,
        argv: &[String],
    ) -> Result<std::os::fd::OwnedFd, i32> {
        self.0.execute_binary_in_distribution(distro, path, argv)
    }
    fn mount_folder(
        &self,
        host_path: &std::path::Path,
        vm_path: &str,
        read_only: bool,
        name: &str,
    ) -> Result<(), i32> {
        self.0.mount_folder(host_path, vm_path, read_only, name)
    }
}

#[test]
fn a_failed_execute_binary_fails_the_vm_start_with_the_sdk_message() {
    let root = Root::new(&built_plugin(SO), "Sample");
    let manager = root.load();
    let session = manager.open_session(0, std::sync::Arc::new(NoExec(HostServices::default())));
    let failure = manager.on_vm_started(&session, 0).unwrap_err();
    assert_eq!(
        failure.to_string(),
        "A fatal error was returned by plugin 'Sample'. Error message: \
         'ExecuteBinary('/bin/cat') failed'\n\
         Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/E_FAIL"
    );
    let lines = log_lines(&root);
    assert!(
        lines.iter().any(|l| l
            .starts_with("Failed to create process, ExecuteBinary('/bin/cat') failed (E_FAIL)")),
        "{lines:#?}"
    );
    // WSL tears the VM down after a failed OnVMStarted: the plugin hears of it.
    assert_eq!(
        lines.last().unwrap(),
        &format!("VM Stopping. SessionId={}", session.id)
    );
    manager.close_session(&session);
}
