//! What `wslp plugin trace` receives (SPEC §13): one [`TraceEvent`] per hook
//! call, API call, entry point call or plugin-host loss of a plugin.
//!
//! The same value travels twice: from a plugin-host process to the service
//! (the plugin's API calls happen there), and from the service to each
//! tracer, inside [`ServerMessage::Trace`](crate::protocol::ServerMessage::Trace).
//! Both sides encode it with postcard, like every message of the service
//! protocol. Formatting (text or JSON) is the front end's business.

use serde::{Deserialize, Serialize};

/// One call of a plugin, or one thing that happened to it, once it is over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// When the call started: microseconds since the Unix epoch (UTC).
    pub time_us: u64,
    /// The plugin's name in the registry.
    pub plugin: String,
    /// What was called: a hook (`OnVMStarted`, …), an API call (`ExecuteBinary`,
    /// …), `WSLPluginAPIV1_EntryPoint`, or a plugin-host loss
    /// ([`PLUGIN_HOST_CRASHED`], [`PLUGIN_HOST_TIMED_OUT`]).
    pub call: String,
    /// The call's arguments, in the order of its C signature.
    pub args: Vec<(String, TraceValue)>,
    /// The HRESULT it returned (or the one the loss made the hook fail with).
    pub result: i32,
    /// How long it took, in microseconds.
    pub duration_us: u64,
    /// What the plugin passed to PluginError during a hook, or the text of a
    /// crash, exit or timeout (SPEC §8), or why an entry point failed.
    pub message: Option<String>,
}

/// One argument's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TraceValue {
    /// A NULL pointer where one was allowed, or a field the plugin saw as NULL.
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    /// An `argv`.
    List(Vec<String>),
}

/// `call` of the line that says a plugin host died during (or between) hooks.
pub const PLUGIN_HOST_CRASHED: &str = "PluginHostCrashed";
/// `call` of the line that says a plugin host did not answer in time and was killed.
pub const PLUGIN_HOST_TIMED_OUT: &str = "PluginHostTimedOut";

impl From<&str> for TraceValue {
    fn from(s: &str) -> Self {
        TraceValue::Str(s.to_string())
    }
}

impl From<String> for TraceValue {
    fn from(s: String) -> Self {
        TraceValue::Str(s)
    }
}

impl<T: Into<TraceValue>> From<Option<T>> for TraceValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(TraceValue::Null, Into::into)
    }
}

impl From<bool> for TraceValue {
    fn from(b: bool) -> Self {
        TraceValue::Bool(b)
    }
}

impl From<u32> for TraceValue {
    fn from(v: u32) -> Self {
        TraceValue::Int(v.into())
    }
}

impl From<u64> for TraceValue {
    fn from(v: u64) -> Self {
        TraceValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<i32> for TraceValue {
    fn from(v: i32) -> Self {
        TraceValue::Int(v.into())
    }
}

impl From<Vec<String>> for TraceValue {
    fn from(v: Vec<String>) -> Self {
        TraceValue::List(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{decode, encode};

    #[test]
    fn events_round_trip() {
        let e = TraceEvent {
            time_us: 1_790_000_000_123_456,
            plugin: "Sample".into(),
            call: "ExecuteBinary".into(),
            args: vec![
                ("session".into(), 1u32.into()),
                ("path".into(), "/bin/cat".into()),
                (
                    "argv".into(),
                    vec!["/bin/cat".to_string(), "x".into()].into(),
                ),
                ("name".into(), Option::<String>::None.into()),
                ("read_only".into(), true.into()),
            ],
            result: -2147024894,
            duration_us: 180,
            message: Some("no".into()),
        };
        assert_eq!(decode::<TraceEvent>(&encode(&e)).unwrap(), e);
    }

    proptest::proptest! {
        /// Events from a plugin host are untrusted: any bytes decode to a value
        /// or an error, never a panic.
        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = decode::<TraceEvent>(&bytes);
        }
    }
}
