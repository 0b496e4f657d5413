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
        }
    }

    pub fn session(&self) -> &Session {
        match *self {
            HookCall::VmStarted { session, .. }
            | HookCall::VmStopping { session }
            | HookCall::DistributionStarted { session, .. }
            | HookCall::DistributionStopping { session, .. }
            | HookCall::DistributionRegistered { session, .. }
            | HookCall::DistributionUnregistered { session, .. } => session,
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
        }
    }

    /// SPEC §5: PluginError is legal only during OnVMStarted and OnDistributionStarted,
    /// the two hooks whose failure is fatal and shown to the user.
    pub fn accepts_plugin_error(&self) -> bool {
        matches!(
            self,
            HookCall::VmStarted { .. } | HookCall::DistributionStarted { .. }
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
