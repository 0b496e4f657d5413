//! The plugin's log: a `log` logger that writes one line per record to stderr.
//!
//! wslp captures each plugin's stderr into its own log (the service log, or
//! the plugin host's), so this is how a plugin's `log::info!` reaches it. The
//! level comes from `WSLP_PLUGIN_LOG` (`error`, `warn`, `info`, `debug`,
//! `trace`, `off`; default `info`). On Windows, wslservice does not capture
//! stderr: set [`Plugin::INSTALL_LOGGER`](crate::Plugin::INSTALL_LOGGER) to
//! `false` and install a logger that writes where you want (a file, ETW).

use log::{LevelFilter, Log, Metadata, Record};
use std::io::Write;

/// The environment variable that sets the level.
pub const LEVEL_ENV: &str = "WSLP_PLUGIN_LOG";

struct StderrLogger {
    name: &'static str,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // One write per line, so lines of concurrent hooks do not interleave.
        let line = format!("[{}] {} {}\n", self.name, record.level(), record.args());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Parses a level name as `WSLP_PLUGIN_LOG` takes it.
///
/// ```
/// use log::LevelFilter;
/// assert_eq!(wslp_sdk::logger::parse_level("Debug"), Some(LevelFilter::Debug));
/// assert_eq!(wslp_sdk::logger::parse_level("loud"), None);
/// ```
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    s.trim().parse().ok()
}

/// Installs the stderr logger for the plugin `name` unless the plugin already
/// installed a logger (a cdylib has its own copy of `log`, so the host's
/// logger, if any, is not seen here). Returns whether this call installed it.
pub fn install(name: &'static str) -> bool {
    let level = std::env::var(LEVEL_ENV)
        .ok()
        .and_then(|v| parse_level(&v))
        .unwrap_or(LevelFilter::Info);
    if log::set_boxed_logger(Box::new(StderrLogger { name })).is_ok() {
        log::set_max_level(level);
        true
    } else {
        false
    }
}
