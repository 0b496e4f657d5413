//! A plugin loaded by hosts older or newer than it needs: the version check
//! of the entry point, and the fields and calls an older WSL does not have.

mod common;

use common::*;
use wslp_abi::hresult::*;
use wslp_abi::types::{WSLPluginAPIV1, WSLPluginHooksV1, GUID};
use wslp_sdk::{export_plugin, Api, Distribution, Plugin, Session};

struct Old {
    api: Api,
}

impl Plugin for Old {
    const INSTALL_LOGGER: bool = false;

    fn new(api: Api) -> wslp_sdk::Result<Self> {
        Ok(Old { api })
    }

    fn on_distribution_started(
        &self,
        session: &Session<'_>,
        d: &Distribution<'_>,
    ) -> wslp_sdk::Result<()> {
        assert_eq!(d.init_pid(), Some(321), "2.0.5 has InitPid");
        assert_eq!(d.flavor(), None, "2.0.5 has no Flavor");
        assert_eq!(d.version(), None);
        let e = self
            .api
            .execute_binary_in_distribution(session, &d.id(), "/bin/true", &[])
            .unwrap_err();
        assert_eq!(e.code(), E_NOTIMPL);
        assert!(e.message().unwrap().contains("2.1.2"), "{e}");
        Ok(())
    }
}

export_plugin!(Old, min_version = (2, 0, 5));

extern "C" {
    fn WSLPluginAPIV1_EntryPoint(api: *const WSLPluginAPIV1, hooks: *mut WSLPluginHooksV1) -> i32;
}

fn load(major: u32, minor: u32, revision: u32) -> (i32, WSLPluginHooksV1) {
    let api: &'static WSLPluginAPIV1 = Box::leak(Box::new(api_table(major, minor, revision)));
    let mut hooks = WSLPluginHooksV1::default();
    // SAFETY: a valid table and a zeroed hooks struct, as a host passes them.
    let hr = unsafe { WSLPluginAPIV1_EntryPoint(api, &mut hooks) };
    (hr, hooks)
}

/// One test: the entry point is per process, so the cases run in order.
#[test]
fn version_gating() {
    for (v, expect) in [
        ((1, 9, 9), false),
        ((2, 0, 4), false),
        ((2, 0, 5), true),
        ((2, 9, 5), true),
        ((3, 0, 0), true),
    ] {
        let (hr, hooks) = load(v.0, v.1, v.2);
        if expect {
            assert_eq!(hr, S_OK, "{v:?}");
            assert!(hooks.OnVMStarted.is_some());
        } else {
            assert_eq!(hr, WSL_E_PLUGIN_REQUIRES_UPDATE, "{v:?}");
            assert!(
                hooks.OnVMStarted.is_none(),
                "no hook is set when the load fails"
            );
        }
    }

    // A 2.0.5 host's tables end before the registration hooks: not written.
    let (hr, hooks) = load(2, 0, 5);
    assert_eq!(hr, S_OK);
    assert!(hooks.OnDistributionStarted.is_some());
    assert!(hooks.OnDistributionRegistered.is_none());
    assert!(hooks.OnDistributionUnregistered.is_none());

    let strings = DistroStrings::new("Ubuntu");
    let info = strings.info(GUID::default());
    let s = session();
    // SAFETY: valid structs that outlive the call.
    let hr = unsafe { hooks.OnDistributionStarted.unwrap()(&s, &info) };
    assert_eq!(hr, S_OK, "the assertions inside the hook held");
}
