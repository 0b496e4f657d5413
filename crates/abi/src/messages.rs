//! The user-facing error texts of SPEC §3, §4 and §8, spelled exactly.
//!
//! Every plugin failure the user sees is one of these two-line texts: a first
//! line saying what happened and a second `Error code: <path>/<NAME>` line.

use crate::hresult::{hresult_name, HResult, WSL_E_PLUGIN_REQUIRES_UPDATE};

/// Where in the start sequence a failure happened; it selects the code path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Loading plugins or OnVMStarted: `Wsl/Service/CreateInstance/CreateVm/Plugin`.
    CreateVm,
    /// OnDistributionStarted: `Wsl/Service/CreateInstance/Plugin`.
    CreateInstance,
    /// OnSessionCreated (SPEC §11): `Wsl/Service/CreateSession/Plugin`.
    CreateSession,
    /// ContainerStarted (SPEC §11): `Wsl/Service/Container/Plugin`.
    Container,
}

impl Stage {
    pub fn code_prefix(self) -> &'static str {
        match self {
            Stage::CreateVm => "Wsl/Service/CreateInstance/CreateVm/Plugin",
            Stage::CreateInstance => "Wsl/Service/CreateInstance/Plugin",
            Stage::CreateSession => "Wsl/Service/CreateSession/Plugin",
            Stage::Container => "Wsl/Service/Container/Plugin",
        }
    }
}

/// `Error code: Wsl/Service/CreateInstance/CreateVm/Plugin/E_UNEXPECTED`
pub fn error_code_line(stage: Stage, code: HResult) -> String {
    format!("Error code: {}/{}", stage.code_prefix(), hresult_name(code))
}

/// A hook (or the entry point) returned a failure; `message` is what the plugin
/// passed to PluginError, if anything.
pub fn fatal_plugin_error(
    plugin: &str,
    message: Option<&str>,
    stage: Stage,
    code: HResult,
) -> String {
    let first = match message {
        Some(m) => format!("A fatal error was returned by plugin '{plugin}'. Error message: '{m}'"),
        None => format!("A fatal error was returned by plugin '{plugin}'"),
    };
    format!("{first}\n{}", error_code_line(stage, code))
}

/// A hook called PluginError and then returned success.
pub fn error_then_success(plugin: &str, stage: Stage) -> String {
    format!(
        "Plugin '{plugin}' emitted an error message but returned success\n{}",
        error_code_line(stage, crate::hresult::E_ILLEGAL_STATE_CHANGE)
    )
}

/// The entry point returned WSL_E_PLUGIN_REQUIRES_UPDATE.
pub fn requires_update(plugin: &str) -> String {
    format!(
        "The plugin '{plugin}' requires a newer version of wslp. Please update wslp.\n{}",
        error_code_line(Stage::CreateVm, WSL_E_PLUGIN_REQUIRES_UPDATE)
    )
}

/// A load failure (missing file, bad signature, failing entry point) as shown at VM start.
pub fn load_failure(plugin: &str, code: HResult) -> String {
    if code == WSL_E_PLUGIN_REQUIRES_UPDATE {
        requires_update(plugin)
    } else {
        fatal_plugin_error(plugin, None, Stage::CreateVm, code)
    }
}

/// SPEC §8: the message of a plugin host that died during a hook.
pub fn crashed_message(signal_name: &str) -> String {
    format!("The plugin crashed ({signal_name}).")
}

/// SPEC §8: the message of a plugin host that exited during a hook.
pub fn exited_message(status: i32) -> String {
    format!("The plugin exited with status {status}.")
}

/// SPEC §8: the message of a hook that did not return in time.
pub fn timeout_message(ms: u64) -> String {
    format!("The plugin did not answer within {ms} ms.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hresult::*;

    #[test]
    fn exact_texts() {
        assert_eq!(
            fatal_plugin_error("P", None, Stage::CreateVm, E_UNEXPECTED),
            "A fatal error was returned by plugin 'P'\nError code: Wsl/Service/CreateInstance/CreateVm/Plugin/E_UNEXPECTED"
        );
        assert_eq!(
            fatal_plugin_error("P", Some("boom"), Stage::CreateInstance, E_FAIL),
            "A fatal error was returned by plugin 'P'. Error message: 'boom'\nError code: Wsl/Service/CreateInstance/Plugin/E_FAIL"
        );
        assert_eq!(
            error_then_success("P", Stage::CreateVm),
            "Plugin 'P' emitted an error message but returned success\nError code: Wsl/Service/CreateInstance/CreateVm/Plugin/E_ILLEGAL_STATE_CHANGE"
        );
        assert_eq!(
            requires_update("P"),
            "The plugin 'P' requires a newer version of wslp. Please update wslp.\nError code: Wsl/Service/CreateInstance/CreateVm/Plugin/WSL_E_PLUGIN_REQUIRES_UPDATE"
        );
        assert_eq!(
            load_failure("P", hresult_from_win32(win32::ERROR_PROC_NOT_FOUND)),
            "A fatal error was returned by plugin 'P'\nError code: Wsl/Service/CreateInstance/CreateVm/Plugin/0x8007007f"
        );
        assert_eq!(crashed_message("SIGSEGV"), "The plugin crashed (SIGSEGV).");
        assert_eq!(exited_message(3), "The plugin exited with status 3.");
        assert_eq!(
            timeout_message(500),
            "The plugin did not answer within 500 ms."
        );
    }
}
