//! How the manager talks to one loaded plugin, whatever runs it.
//!
//! The dispatch policy (order, fatal vs logged, PluginError rules, OnVMStopping
//! after a failed OnVMStarted) lives in [`crate::manager`] and sees plugins only
//! through [`PluginInstance`], implemented twice: in this process (`ffi`, WSL's way,
//! `in_process_plugins`) and in a plugin-host process (`out_of_process`, SPEC §8's
//! default).

use std::time::Duration;

use wslp_abi::GUID;

/// A plugin API session: what `WSLSessionInformation` describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `SessionId`: stable for the manager's life for a given uid.
    pub id: u32,
    /// The user behind `UserToken`/`UserSid` (opaque non-NULL handles to this uid).
    pub uid: u32,
}

/// A running distribution (`WSLDistributionInformation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistroInfo {
    pub id: GUID,
    pub name: String,
    pub pid_namespace: u64,
    pub init_pid: u32,
    /// `ID=` of os-release; `None` → NULL.
    pub flavor: Option<String>,
    /// `VERSION_ID=` of os-release; `None` → NULL.
    pub version: Option<String>,
}

/// A registered distribution that need not be running (`WslOfflineDistributionInformation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineDistroInfo {
    pub id: GUID,
    pub name: String,
    pub flavor: Option<String>,
    pub version: Option<String>,
}

/// A WSLC session (`WSLCSessionInformation`, SPEC §11). `UserToken` and
/// `UserSid` are NULL, as in WSL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WslcSession {
    /// `SessionId`: counts from 1 in each service run, apart from [`Session::id`].
    pub id: u32,
    /// `DisplayName`: the session's name.
    pub name: String,
    /// `ApplicationPid`: the client that created the session.
    pub application_pid: u32,
}

/// One hook invocation with its arguments.
#[derive(Debug, Clone, Copy)]
pub enum HookCall<'a> {
    VmStarted {
        session: &'a Session,
        custom_configuration_flags: u32,
    },
    VmStopping {
        session: &'a Session,
    },
    DistributionStarted {
        session: &'a Session,
        distro: &'a DistroInfo,
    },
    DistributionStopping {
        session: &'a Session,
        distro: &'a DistroInfo,
    },
    DistributionRegistered {
        session: &'a Session,
        distro: &'a OfflineDistroInfo,
    },
    DistributionUnregistered {
        session: &'a Session,
        distro: &'a OfflineDistroInfo,
    },
    SessionCreated {
        wslc: &'a WslcSession,
    },
    SessionStopping {
        wslc: &'a WslcSession,
    },
    /// `InspectContainer`: JSON in wslc_schema's shape.
    ContainerStarted {
        wslc: &'a WslcSession,
        inspect: &'a str,
    },
    ContainerStopping {
        wslc: &'a WslcSession,
        container_id: &'a str,
    },
    /// `InspectImage`: JSON in wslc_schema's shape.
    ImageCreated {
        wslc: &'a WslcSession,
        inspect: &'a str,
    },
    ImageDeleted {
        wslc: &'a WslcSession,
        image_id: &'a str,
    },
    WslcVmStarted {
        wslc: &'a WslcSession,
    },
    WslcVmStopping {
        wslc: &'a WslcSession,
    },
}

impl HookCall<'_> {
    /// The hook's name in `WSLPluginHooksV1`, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            HookCall::VmStarted { .. } => "OnVMStarted",
            HookCall::VmStopping { .. } => "OnVMStopping",
            HookCall::DistributionStarted { .. } => "OnDistributionStarted",
            HookCall::DistributionStopping { .. } => "OnDistributionStopping",
            HookCall::DistributionRegistered { .. } => "OnDistributionRegistered",
            HookCall::DistributionUnregistered { .. } => "OnDistributionUnregistered",
            HookCall::SessionCreated { .. } => "OnSessionCreated",
            HookCall::SessionStopping { .. } => "OnSessionStopping",
            HookCall::ContainerStarted { .. } => "ContainerStarted",
            HookCall::ContainerStopping { .. } => "ContainerStopping",
            HookCall::ImageCreated { .. } => "ImageCreated",
            HookCall::ImageDeleted { .. } => "ImageDeleted",
            HookCall::WslcVmStarted { .. } => "WslcVmStarted",
            HookCall::WslcVmStopping { .. } => "WslcVmStopping",
        }
    }

    /// The WSL session of a V1 hook; `None` for a WSLC hook.
    pub fn session(&self) -> Option<&Session> {
        match *self {
            HookCall::VmStarted { session, .. }
            | HookCall::VmStopping { session }
            | HookCall::DistributionStarted { session, .. }
            | HookCall::DistributionStopping { session, .. }
            | HookCall::DistributionRegistered { session, .. }
            | HookCall::DistributionUnregistered { session, .. } => Some(session),
            _ => None,
        }
    }

    /// The WSLC session of a WSLC hook; `None` for a V1 hook.
    pub fn wslc_session(&self) -> Option<&WslcSession> {
        match *self {
            HookCall::SessionCreated { wslc }
            | HookCall::SessionStopping { wslc }
            | HookCall::ContainerStarted { wslc, .. }
            | HookCall::ContainerStopping { wslc, .. }
            | HookCall::ImageCreated { wslc, .. }
            | HookCall::ImageDeleted { wslc, .. }
            | HookCall::WslcVmStarted { wslc }
            | HookCall::WslcVmStopping { wslc } => Some(wslc),
            _ => None,
        }
    }

    /// This hook's bit in a mask of the hooks a plugin set ([`PluginInstance::hooks`]).
    pub fn bit(&self) -> u32 {
        1 << match self {
            HookCall::VmStarted { .. } => 0,
            HookCall::VmStopping { .. } => 1,
            HookCall::DistributionStarted { .. } => 2,
            HookCall::DistributionStopping { .. } => 3,
            HookCall::DistributionRegistered { .. } => 4,
            HookCall::DistributionUnregistered { .. } => 5,
            // The WSLC tail of WSLPluginHooksV1, in its order.
            HookCall::SessionCreated { .. } => 6,
            HookCall::SessionStopping { .. } => 7,
            HookCall::ContainerStarted { .. } => 8,
            HookCall::ContainerStopping { .. } => 9,
            HookCall::ImageCreated { .. } => 10,
            HookCall::ImageDeleted { .. } => 11,
            HookCall::WslcVmStarted { .. } => 12,
            HookCall::WslcVmStopping { .. } => 13,
        }
    }

    /// SPEC §5, §11: PluginError is legal only during the hooks whose failure
    /// is fatal and shown to the user: OnVMStarted, OnDistributionStarted,
    /// OnSessionCreated and ContainerStarted.
    pub fn accepts_plugin_error(&self) -> bool {
        matches!(
            self,
            HookCall::VmStarted { .. }
                | HookCall::DistributionStarted { .. }
                | HookCall::SessionCreated { .. }
                | HookCall::ContainerStarted { .. }
        )
    }
}

/// What one hook call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookOutcome {
    /// The hook's HRESULT (`S_OK` when the plugin did not set the hook). An
    /// implementation that loses the plugin (crash, timeout) reports it here, e.g.
    /// `HRESULT_FROM_WIN32(ERROR_PROCESS_ABORTED)`.
    pub hr: i32,
    /// The message the plugin passed to PluginError during the hook, or the
    /// implementation's own message for a crash or timeout (SPEC §8).
    pub message: Option<String>,
}

impl HookOutcome {
    pub fn ok() -> Self {
        HookOutcome {
            hr: wslp_abi::hresult::S_OK,
            message: None,
        }
    }
}

/// One loaded plugin (its entry point already succeeded).
///
/// Contract:
/// - `call` runs the hook synchronously and returns only when it returned (or was
///   given up on); the manager calls plugins one at a time per hook, in registry order.
/// - The PluginError rules (on the hook's thread, once per hook, only in
///   OnVMStarted/OnDistributionStarted) are the implementation's to enforce where
///   the plugin runs; the message set is returned in [`HookOutcome::message`].
/// - `timeout` (from `hook_timeout_ms`, `None` = never): an implementation that can
///   stop a plugin (a plugin-host process) fails a hook that runs longer with
///   `HRESULT_FROM_WIN32(ERROR_TIMEOUT)` and `messages::timeout_message`. The
///   in-process implementation cannot interrupt a plugin and ignores it.
pub trait PluginInstance: Send + Sync {
    fn call(&self, hook: &HookCall<'_>, timeout: Option<Duration>) -> HookOutcome;

    /// The hooks the plugin's entry point set, as [`HookCall::bit`]s. A hook it
    /// did not set is not called (WSL's `PluginManager` checks each pointer
    /// the same way): no round trip, no trace line.
    fn hooks(&self) -> u32 {
        u32::MAX
    }
}
