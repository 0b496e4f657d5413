//! Microsoft's WSL plugin sample (`microsoft/wsl-plugin-sample`, plugin.cpp),
//! ported to Rust on `wslp-sdk`: it logs every hook with its fields, and when
//! the VM starts it runs `/bin/cat /proc/version` through ExecuteBinary and
//! logs the kernel's version.
//!
//! Like the original it writes its lines to a log file (the C++ sample uses
//! `C:\wsl-plugin-demo.txt`): the file named by `WSL_PLUGIN_DEMO_LOG`, or
//! `wsl-plugin-demo.txt` beside the plugin. Every line also goes to the host's
//! log through `log`.
//!
//! Differences from the C++ sample, all on purpose: the hooks log their
//! `Flavor`, `Version` and `Id` too, the registration hooks are logged, and a
//! log file that cannot be opened beside the plugin is a warning rather than
//! `E_ABORT` (only an explicitly named one that cannot be opened is fatal, as
//! in the sample).

#![deny(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use wslp_sdk::hresult::E_ABORT;
use wslp_sdk::{
    export_plugin, Api, Distribution, Error, OfflineDistribution, Plugin, Result, Session,
    VmSettings,
};

/// The environment variable naming the log file.
pub const LOG_ENV: &str = "WSL_PLUGIN_DEMO_LOG";
/// The log file's name beside the plugin when `WSL_PLUGIN_DEMO_LOG` is not set.
pub const LOG_NAME: &str = "wsl-plugin-demo.txt";

/// The sample plugin.
pub struct Sample {
    api: Api,
    logfile: Option<Mutex<File>>,
}

fn open_log(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Sample {
    fn log(&self, line: String) {
        log::info!("{line}");
        if let Some(f) = &self.logfile {
            let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = writeln!(f, "{line}") {
                log::warn!("writing the demo log failed: {e}");
            }
        }
    }

    fn distribution_line(what: &str, session: &Session<'_>, d: &Distribution<'_>) -> String {
        format!(
            "{what}. SessionId={}, Name={}, Package={}, PidNs={}, InitPid={}, Flavor={}, Version={}, Id={{{}}}",
            session.id(),
            d.name(),
            d.package_family_name().unwrap_or_default(),
            d.pid_namespace(),
            d.init_pid().map(|p| p.to_string()).unwrap_or_default(),
            d.flavor().unwrap_or_default(),
            d.version().unwrap_or_default(),
            d.id()
        )
    }

    fn offline_line(what: &str, session: &Session<'_>, d: &OfflineDistribution<'_>) -> String {
        format!(
            "{what}. SessionId={}, Name={}, Package={}, Flavor={}, Version={}, Id={{{}}}",
            session.id(),
            d.name(),
            d.package_family_name().unwrap_or_default(),
            d.flavor().unwrap_or_default(),
            d.version().unwrap_or_default(),
            d.id()
        )
    }
}

impl Plugin for Sample {
    fn new(api: Api) -> Result<Self> {
        let logfile = match std::env::var_os(LOG_ENV) {
            Some(p) => {
                let p = PathBuf::from(p);
                // As the sample: a log file that cannot be opened fails the load.
                let f = open_log(&p).map_err(|e| {
                    Error::with_message(
                        E_ABORT,
                        format!("cannot open the demo log {} ({LOG_ENV}): {e}", p.display()),
                    )
                })?;
                Some(f)
            }
            None => match wslp_sdk::plugin_file().and_then(|f| Some(f.parent()?.join(LOG_NAME))) {
                Some(p) => match open_log(&p) {
                    Ok(f) => Some(f),
                    Err(e) => {
                        log::warn!("no demo log: cannot open {}: {e}", p.display());
                        None
                    }
                },
                None => None,
            },
        };
        let plugin = Sample {
            api,
            logfile: logfile.map(Mutex::new),
        };
        plugin.log(format!("Plugin loaded. WSL version: {}", api.version()));
        Ok(plugin)
    }

    fn on_vm_started(&self, session: &Session<'_>, settings: &VmSettings) -> Result<()> {
        self.log(format!(
            "VM created. SessionId={} CustomConfigurationFlags={}",
            session.id(),
            settings.bits()
        ));
        // Launch cat /proc/version to get the VM's kernel version.
        let mut socket = self
            .api
            .execute_binary(session, "/bin/cat", &["/proc/version"])
            .inspect_err(|e| self.log(format!("Failed to create process, {e}")))?;
        let mut output = Vec::new();
        socket
            .read_to_end(&mut output)
            .map_err(|e| Error::io("reading the output of /bin/cat /proc/version", &e))?;
        drop(socket);
        if output.is_empty() {
            self.log("cat /proc/version returned no output".to_string());
            return Ok(());
        }
        let text = String::from_utf8_lossy(&output);
        self.log(format!(
            "Kernel version info: {}",
            text.trim_end_matches('\n')
        ));
        Ok(())
    }

    fn on_vm_stopping(&self, session: &Session<'_>) -> Result<()> {
        self.log(format!("VM Stopping. SessionId={}", session.id()));
        Ok(())
    }

    fn on_distribution_started(&self, session: &Session<'_>, d: &Distribution<'_>) -> Result<()> {
        self.log(Self::distribution_line("Distribution started", session, d));
        Ok(())
    }

    fn on_distribution_stopping(&self, session: &Session<'_>, d: &Distribution<'_>) -> Result<()> {
        self.log(Self::distribution_line("Distribution Stopping", session, d));
        Ok(())
    }

    fn on_distribution_registered(
        &self,
        session: &Session<'_>,
        d: &OfflineDistribution<'_>,
    ) -> Result<()> {
        self.log(Self::offline_line("Distribution registered", session, d));
        Ok(())
    }

    fn on_distribution_unregistered(
        &self,
        session: &Session<'_>,
        d: &OfflineDistribution<'_>,
    ) -> Result<()> {
        self.log(Self::offline_line("Distribution unregistered", session, d));
        Ok(())
    }
}

// WSL 2.0.5 added InitPid, which the hooks log (as the C++ sample requires).
export_plugin!(Sample, min_version = (2, 0, 5));
