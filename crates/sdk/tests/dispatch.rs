//! The export macro and the hook trampolines, driven the way a host drives
//! them: through `WSLPluginAPIV1_EntryPoint` and the filled hook table.

mod common;

use common::*;
use std::cell::RefCell;
use std::sync::OnceLock;
use wslp_abi::hresult::*;
use wslp_abi::types::{WSLPluginAPIV1, WSLPluginHooksV1, WSLVmCreationSettings, GUID};
use wslp_sdk::{
    export_plugin, Api, Distribution, Error, OfflineDistribution, Plugin, Session, VmSettings,
};

thread_local! {
    /// What the plugin saw, per thread (each test calls hooks on its own thread).
    static SEEN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn seen(s: String) {
    SEEN.with(|v| v.borrow_mut().push(s));
}

fn take_seen() -> Vec<String> {
    SEEN.with(|v| std::mem::take(&mut *v.borrow_mut()))
}

struct Probe {
    api: Api,
}

impl Plugin for Probe {
    const INSTALL_LOGGER: bool = false;

    fn new(api: Api) -> wslp_sdk::Result<Self> {
        Ok(Probe { api })
    }

    fn on_vm_started(&self, session: &Session<'_>, settings: &VmSettings) -> wslp_sdk::Result<()> {
        let out = self.api.execute_binary_status(
            session,
            "/bin/sh",
            &["-c", "printf 'a\\nb'; exit 3"],
        )?;
        seen(format!(
            "vm {} {} {:?} {}",
            session.id(),
            settings.bits(),
            String::from_utf8_lossy(&out.stdout),
            out.status
        ));
        Ok(())
    }

    fn on_vm_stopping(&self, _session: &Session<'_>) -> wslp_sdk::Result<()> {
        panic!("stopping panics");
    }

    fn on_distribution_started(
        &self,
        session: &Session<'_>,
        d: &Distribution<'_>,
    ) -> wslp_sdk::Result<()> {
        match d.name().as_str() {
            "fail" => Err(Error::with_message(
                E_ACCESSDENIED,
                "no access to the share",
            )),
            "fail-silently" => Err(Error::new(E_ABORT)),
            "panic" => panic!("boom {}", 42),
            "error-then-fail" => {
                self.api.plugin_error("said first")?;
                Err(Error::failed("said second"))
            }
            "error-then-ok" => self.api.plugin_error("but returns Ok"),
            "exec" => {
                let out = self.api.execute_binary_in_distribution_status(
                    session,
                    &d.id(),
                    "/bin/echo",
                    &["in", "distro"],
                )?;
                seen(format!("{:?} {}", out.stdout_text(), out.status));
                let mut stream = self.api.execute_binary(session, "/bin/cat", &[])?;
                use std::io::{Read, Write};
                stream.write_all(b"echoed")?;
                stream.shutdown(std::net::Shutdown::Write)?;
                let mut s = String::new();
                stream.read_to_string(&mut s)?;
                seen(s);
                Ok(())
            }
            "missing" => {
                let e = self
                    .api
                    .execute_binary(session, "/nonexistent/binary", &[])
                    .unwrap_err();
                seen(format!("{} {}", e.name(), e.message().unwrap()));
                let e = self.api.execute_binary(999, "/bin/true", &[]).unwrap_err();
                seen(e.name());
                let e = self
                    .api
                    .execute_binary(session, "/bin/true", &["a\0b"])
                    .unwrap_err();
                seen(e.name());
                let e = self
                    .api
                    .mount_folder(session, "/nonexistent/dir", "/mnt/x", true, "x")
                    .unwrap_err();
                seen(e.name());
                let out = self
                    .api
                    .execute_binary_status(session, "/nonexistent/binary", &[])?;
                seen(format!("status {}", out.status));
                Ok(())
            }
            _ => {
                seen(format!(
                    "started {} {} {} {:?} {:?} {:?} {:?} {}",
                    session.id(),
                    d.name(),
                    d.id(),
                    d.init_pid(),
                    d.flavor(),
                    d.version(),
                    d.package_family_name(),
                    d.pid_namespace()
                ));
                self.api
                    .mount_folder(session, "/", "/mnt/host", true, "root")?;
                Ok(())
            }
        }
    }

    fn on_distribution_stopping(
        &self,
        _session: &Session<'_>,
        d: &Distribution<'_>,
    ) -> wslp_sdk::Result<()> {
        Err(Error::failed(format!("{} cannot stop", d.name())))
    }

    fn on_distribution_registered(
        &self,
        _session: &Session<'_>,
        d: &OfflineDistribution<'_>,
    ) -> wslp_sdk::Result<()> {
        seen(format!("registered {} {:?}", d.name(), d.flavor()));
        Ok(())
    }
}

export_plugin!(Probe, min_version = (2, 1, 2));

extern "C" {
    fn WSLPluginAPIV1_EntryPoint(api: *const WSLPluginAPIV1, hooks: *mut WSLPluginHooksV1) -> i32;
}

/// Loads the plugin once for the whole test binary, as a host loads it once.
fn hooks() -> &'static WSLPluginHooksV1 {
    static HOOKS: OnceLock<WSLPluginHooksV1> = OnceLock::new();
    HOOKS.get_or_init(|| {
        let api: &'static WSLPluginAPIV1 = Box::leak(Box::new(api_table(2, 9, 5)));
        let mut hooks = WSLPluginHooksV1::default();
        // SAFETY: a valid table and a zeroed hooks struct, as a host passes them.
        let hr = unsafe { WSLPluginAPIV1_EntryPoint(api, &mut hooks) };
        assert_eq!(hr, S_OK);
        hooks
    })
}

const ID: GUID = GUID {
    Data1: 0x01020304,
    Data2: 0x0506,
    Data3: 0x0708,
    Data4: [9, 10, 11, 12, 13, 14, 15, 16],
};

fn start(name: &str) -> i32 {
    let strings = DistroStrings::new(name);
    let info = strings.info(ID);
    let s = session();
    // SAFETY: valid structs that outlive the call.
    unsafe { hooks().OnDistributionStarted.unwrap()(&s, &info) }
}

/// At 2.9.5 every hook is there, the WSLC ones included (older hosts: see
/// the version tests).
#[test]
fn entry_point_fills_every_hook_of_a_2_9_5_host() {
    let h = hooks();
    assert!(h.OnVMStarted.is_some());
    assert!(h.OnVMStopping.is_some());
    assert!(h.OnDistributionStarted.is_some());
    assert!(h.OnDistributionStopping.is_some());
    assert!(h.OnDistributionRegistered.is_some());
    assert!(h.OnDistributionUnregistered.is_some());
    assert!(h.OnSessionCreated.is_some());
    assert!(h.OnSessionStopping.is_some());
    assert!(h.ContainerStarted.is_some());
    assert!(h.ContainerStopping.is_some());
    assert!(h.ImageCreated.is_some());
    assert!(h.ImageDeleted.is_some());
    assert!(h.WslcVmStarted.is_some());
    assert!(h.WslcVmStopping.is_some());
}

#[test]
fn vm_started_gets_typed_views_and_an_exit_status() {
    let s = session();
    let settings = WSLVmCreationSettings {
        CustomConfigurationFlags: 3,
    };
    // SAFETY: valid structs that outlive the call.
    let hr = unsafe { hooks().OnVMStarted.unwrap()(&s, &settings) };
    assert_eq!(hr, S_OK);
    assert_eq!(take_seen(), vec![format!("vm {SESSION} 3 \"a\\nb\" 3")]);
    assert!(take_plugin_errors().is_empty());
}

#[test]
fn distribution_fields_arrive_converted() {
    assert_eq!(start("Debian ✓"), S_OK);
    assert_eq!(
        take_seen(),
        vec![format!(
            "started {SESSION} Debian ✓ 01020304-0506-0708-090a-0b0c0d0e0f10 Some(321) \
             Some(\"debian\") Some(\"12\") None 4026532000"
        )]
    );
    MOUNTS.with(|m| {
        assert_eq!(
            m.borrow().as_slice(),
            &[(
                SESSION,
                "/".to_string(),
                "/mnt/host".to_string(),
                true,
                "root".to_string()
            )]
        )
    });
}

#[test]
fn error_message_of_a_start_hook_reaches_plugin_error() {
    assert_eq!(start("fail"), E_ACCESSDENIED);
    assert_eq!(
        take_plugin_errors(),
        vec!["no access to the share".to_string()]
    );
}

#[test]
fn error_without_message_sends_nothing() {
    assert_eq!(start("fail-silently"), E_ABORT);
    assert!(take_plugin_errors().is_empty());
}

#[test]
fn panic_becomes_e_unexpected_with_its_text() {
    assert_eq!(start("panic"), E_UNEXPECTED);
    assert_eq!(
        take_plugin_errors(),
        vec!["the plugin panicked: boom 42".to_string()]
    );
}

#[test]
fn plugin_error_is_sent_once_when_the_hook_already_sent_it() {
    assert_eq!(start("error-then-fail"), E_FAIL);
    assert_eq!(take_plugin_errors(), vec!["said first".to_string()]);
}

#[test]
fn error_then_ok_returns_ok_for_the_host_to_judge() {
    assert_eq!(start("error-then-ok"), S_OK);
    assert_eq!(take_plugin_errors(), vec!["but returns Ok".to_string()]);
}

#[test]
fn execute_in_distribution_and_raw_streams() {
    assert_eq!(start("exec"), S_OK);
    assert_eq!(
        take_seen(),
        vec!["\"in distro\" 0".to_string(), "echoed".to_string()]
    );
    IN_DISTRO.with(|v| {
        let v = v.borrow();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, ID);
        assert_eq!(v[0].1[0], "/bin/sh");
        assert_eq!(&v[0].1[3..], ["/bin/echo", "in", "distro"]);
    });
}

#[test]
fn api_errors_carry_the_hresult_and_its_name() {
    assert_eq!(start("missing"), S_OK);
    assert_eq!(
        take_seen(),
        vec![
            "E_FAIL ExecuteBinary('/nonexistent/binary') failed".to_string(),
            "RPC_E_DISCONNECTED".to_string(),
            "E_INVALIDARG".to_string(),
            "ERROR_FILE_NOT_FOUND".to_string(),
            "status 127".to_string(),
        ]
    );
}

#[test]
fn stop_hooks_never_call_plugin_error() {
    let s = session();
    // SAFETY: a valid struct that outlives the call.
    assert_eq!(unsafe { hooks().OnVMStopping.unwrap()(&s) }, E_UNEXPECTED);
    let strings = DistroStrings::new("Ubuntu");
    let info = strings.info(ID);
    // SAFETY: as above.
    let hr = unsafe { hooks().OnDistributionStopping.unwrap()(&s, &info) };
    assert_eq!(hr, E_FAIL);
    assert!(take_plugin_errors().is_empty());
}

#[test]
fn registration_hooks() {
    let s = session();
    let strings = DistroStrings::new("Alpine");
    let info = strings.offline(ID);
    // SAFETY: valid structs that outlive the call.
    let hr = unsafe { hooks().OnDistributionRegistered.unwrap()(&s, &info) };
    assert_eq!(hr, S_OK);
    // SAFETY: as above. (The default no-op.)
    let hr = unsafe { hooks().OnDistributionUnregistered.unwrap()(&s, &info) };
    assert_eq!(hr, S_OK);
    assert_eq!(
        take_seen(),
        vec!["registered Alpine Some(\"debian\")".to_string()]
    );
}

#[test]
fn null_arguments_are_refused_not_dereferenced() {
    // SAFETY: NULL is what is being tested; the trampoline must check it.
    let hr = unsafe { hooks().OnVMStarted.unwrap()(std::ptr::null(), std::ptr::null()) };
    assert_eq!(hr, E_INVALIDARG);
    // SAFETY: as above.
    let hr = unsafe { WSLPluginAPIV1_EntryPoint(std::ptr::null(), std::ptr::null_mut()) };
    assert_eq!(hr, E_INVALIDARG);
}
