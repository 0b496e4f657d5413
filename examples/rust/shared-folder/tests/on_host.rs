//! The shared-folder plugin loaded by the real plugin manager: its mount is a
//! real bind mount on this machine (undone at the end), its setup script runs
//! with the real /bin/sh, and its failures reach the user in WSL's words.

#[path = "../../testing/host.rs"]
mod host;

use host::*;
use std::path::Path;
use wslp_host::DistroInfo;

const SO: &str = "libwslp_shared_folder_plugin.so";

fn distro(n: u8, name: &str) -> DistroInfo {
    DistroInfo {
        id: guid(n),
        name: name.to_string(),
        pid_namespace: 4026532200 + n as u64,
        init_pid: 100 + n as u32,
        flavor: Some("debian".to_string()),
        version: Some("12".to_string()),
    }
}

/// A root with the plugin and a configuration beside it; paths live in the root.
fn setup(extra: &str) -> Root {
    let root = Root::new(&built_plugin(SO), "SharedFolder");
    let p = root.path();
    std::fs::create_dir(p.join("host")).unwrap();
    std::fs::write(p.join("host/readme.txt"), "shared from the host\n").unwrap();
    let config = format!(
        "host_path = {:?}\nname = \"team\"\nvm_path = {:?}\ndistro_path = {:?}\n\
         profile_script = {:?}\nrequired = true\n{extra}",
        p.join("host").display().to_string(),
        p.join("vm/team").display().to_string(),
        p.join("distro/mnt/team").display().to_string(),
        p.join("distro/etc/profile.d/wslp-team.sh")
            .display()
            .to_string(),
    );
    std::fs::write(
        root.plugin.parent().unwrap().join("shared-folder.toml"),
        config,
    )
    .unwrap();
    root
}

#[test]
fn mounts_at_vm_start_and_sets_up_each_distribution() {
    let root = setup("read_only = true\n");
    let p = root.path();
    let manager = root.load();
    let services = HostServices::new();
    let session = manager.open_session(0, services.clone());

    manager.on_vm_started(&session, 0).expect("OnVMStarted");
    // A real, read-only bind mount.
    let vm = p.join("vm/team");
    assert_eq!(
        std::fs::read_to_string(vm.join("readme.txt")).unwrap(),
        "shared from the host\n"
    );
    let err = std::fs::write(vm.join("new"), "x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");

    for (n, name) in [(1, "Debian"), (2, "Ubuntu")] {
        let d = distro(n, name);
        services.running.lock().unwrap().push(d.id);
        manager
            .on_distribution_started(&session, &d)
            .expect("OnDistributionStarted");
    }
    let link = p.join("distro/mnt/team");
    assert_eq!(std::fs::read_link(&link).unwrap(), vm);
    assert_eq!(
        std::fs::read_to_string(link.join("readme.txt")).unwrap(),
        "shared from the host\n"
    );
    assert_eq!(
        std::fs::read_to_string(p.join("distro/etc/profile.d/wslp-team.sh")).unwrap(),
        format!("export WSLP_SHARED_FOLDER='{}'\n", link.display())
    );

    let calls = services.calls();
    assert_eq!(
        calls[0],
        Call::Mount {
            host: p.join("host"),
            vm: vm.display().to_string(),
            read_only: true,
            name: "team".to_string(),
        }
    );
    let in_distro: Vec<_> = calls[1..]
        .iter()
        .map(|c| match c {
            Call::ExecuteIn { distro, path, .. } => (*distro, path.clone()),
            other => panic!("unexpected call {other:?}"),
        })
        .collect();
    assert_eq!(
        in_distro,
        vec![
            (guid(1), "/bin/sh".to_string()),
            (guid(2), "/bin/sh".to_string())
        ]
    );

    manager.on_vm_stopping(&session);
    manager.close_session(&session);
    services.unmount_all();
    assert!(!vm.join("readme.txt").exists(), "the bind mount is gone");
}

#[test]
fn a_failing_setup_script_fails_the_distribution_start_with_its_output() {
    let root = setup("setup_script = \"echo no space left for $3; exit 9\"\n");
    let manager = root.load();
    let services = HostServices::new();
    let session = manager.open_session(0, services.clone());
    manager.on_vm_started(&session, 0).expect("OnVMStarted");
    let d = distro(3, "Fedora");
    services.running.lock().unwrap().push(d.id);
    let failure = manager.on_distribution_started(&session, &d).unwrap_err();
    assert_eq!(
        failure.to_string(),
        "A fatal error was returned by plugin 'SharedFolder'. Error message: \
         'setting up the shared folder 'team' in Fedora failed (exit status 9): \
         no space left for team'\n\
         Error code: Wsl/Service/CreateInstance/Plugin/E_FAIL"
    );
    manager.close_session(&session);
}

#[test]
fn a_missing_host_folder_fails_the_vm_start_when_required() {
    let root = setup("");
    std::fs::remove_dir_all(root.path().join("host")).unwrap();
    let manager = root.load();
    let services = HostServices::new();
    let session = manager.open_session(0, services.clone());
    let failure = manager.on_vm_started(&session, 0).unwrap_err();
    let host = root.path().join("host");
    assert_eq!(
        failure.to_string(),
        format!(
            "A fatal error was returned by plugin 'SharedFolder'. Error message: \
             'the shared folder {} could not be mounted at {}: MountFolder('{}' -> '{}') failed; \
             check host_path'\n\
             Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/ERROR_FILE_NOT_FOUND",
            host.display(),
            root.path().join("vm/team").display(),
            host.display(),
            root.path().join("vm/team").display(),
        )
    );
    manager.close_session(&session);
}

#[test]
fn a_missing_configuration_is_reported_at_vm_start() {
    let root = Root::new(&built_plugin(SO), "SharedFolder");
    let manager = root.load();
    let services = HostServices::new();
    let session = manager.open_session(0, services.clone());
    let failure = manager.on_vm_started(&session, 0).unwrap_err();
    let config = root.plugin.parent().unwrap().join("shared-folder.toml");
    let text = failure.to_string();
    assert!(
        text.starts_with(&format!(
            "A fatal error was returned by plugin 'SharedFolder'. Error message: \
             'cannot read the configuration {}: ",
            config.display()
        )),
        "{text}"
    );
    assert!(
        text.ends_with(
            "Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/ERROR_FILE_NOT_FOUND"
        ),
        "{text}"
    );
    assert!(
        services.calls().is_empty(),
        "nothing is mounted without a configuration"
    );
    assert!(!Path::new(&root.path().join("vm")).exists());
    manager.close_session(&session);
}
