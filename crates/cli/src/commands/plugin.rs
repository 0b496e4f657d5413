//! `wslp plugin add NAME PATH | remove NAME | list`: the plugin registry
//! (`$WSLP_ROOT/plugins.toml`), which only root may change. The service reads
//! it when it starts, as WSL does; `wslp --shutdown` makes the next command
//! pick a change up. `wslp plugin trace` and `wslp plugin check` (SPEC §13)
//! are in their own files.

use crate::session::{fail_code, paths};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Register the plugin file PATH (absolute) under NAME.
    Add { name: String, path: PathBuf },
    /// Remove the plugin NAME from the registry.
    Remove { name: String },
    /// List registered plugins in load order.
    List,
    /// Show every hook and API call of plugins as it happens (until Ctrl-C).
    #[command(
        long_about = "Show every hook call and API call of the named plugins (all when none is named), as it happens, in the wslp service of $WSLP_ROOT, until interrupted: time (UTC), plugin, call, result (S_OK, E_ACCESSDENIED, 0x8007007f…), duration in µs, the arguments (session, distribution name and id, ExecuteBinary's path and argv, MountFolder's paths…) and the PluginError message. Entry point calls and plugin-host crashes and timeouts are lines too.\n\nTracing costs nothing while no one traces. Root (or the user the service runs as) only. A tracer that stops reading is never waited for: it is told how many events it missed.",
        after_help = "Examples:\n  sudo wslp plugin trace                       every plugin, aligned columns\n  sudo wslp plugin trace Demo Other            only these two\n  sudo wslp plugin trace --json > trace.jsonl  one JSON object per line, for scripts and CI logs\n  (in another terminal) wslp -d Debian -- true start a distribution: its hooks show up"
    )]
    Trace(crate::commands::trace::Args),
    /// Check whether a plugin file would load and run, without registering it.
    #[command(
        long_about = "Inspect a plugin without registering it: is FILE a shared object of this machine's architecture, does it export WSLPluginAPIV1_EntryPoint, which libraries or symbols it needs do not resolve here (found the way the dynamic loader finds them), its signature (unsigned, untrusted, tampered or trusted, with the signer) against $WSLP_ROOT/trust, and then what its entry point returns and which hooks it sets, run in a throw-away wslp-plugin-host process (the plugin's code runs, as you).\n\nExit status 0 when the plugin would load and run; otherwise the code of the first problem (docs/plugin-diagnostics.md lists them). The last line is a summary a CI job can grep: `wslp plugin check: PASS <file>` or `wslp plugin check: FAIL (<problem>, exit N) <file>`.",
        after_help = "Examples:\n  wslp plugin check build/libdemo.so                 before `wslp plugin add`\n  wslp plugin check build/libdemo.so | tail -n1      the summary line only\n  wslp plugin check --timeout-ms 5000 libdemo.so     give up on an entry point after 5 s"
    )]
    Check(crate::commands::check::Args),
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let p = paths();
    match args.cmd {
        Cmd::Trace(a) => crate::commands::trace::run(a),
        Cmd::Check(a) => crate::commands::check::run(a),
        Cmd::Add { name, path } => {
            if !crate::session::paths().may_administer() {
                return Ok(fail_code(
                    "Only root can register plugins. Run the command as root (for example with sudo).",
                    "E_ACCESSDENIED",
                    1,
                ));
            }
            std::fs::create_dir_all(&p.root)?;
            match wslp_config::add_registry_entry(&p.root, &name, &path) {
                Ok(warnings) => {
                    for w in warnings {
                        eprintln!("warning: {w}");
                    }
                    println!("Plugin '{name}' registered. It is loaded when the service starts: run `wslp --shutdown` to apply.");
                    Ok(0)
                }
                Err(e) => Ok(registry_failure(e)),
            }
        }
        Cmd::Remove { name } => {
            if !crate::session::paths().may_administer() {
                return Ok(fail_code(
                    "Only root can remove plugins. Run the command as root (for example with sudo).",
                    "E_ACCESSDENIED",
                    1,
                ));
            }
            match wslp_config::remove_registry_entry(&p.root, &name) {
                Ok(()) => {
                    println!("Plugin '{name}' removed. Run `wslp --shutdown` to unload it.");
                    Ok(0)
                }
                Err(e) => Ok(registry_failure(e)),
            }
        }
        Cmd::List => match wslp_config::read_registry(&p.root) {
            Ok((entries, warnings)) => {
                for w in warnings {
                    eprintln!("warning: {w}");
                }
                if entries.is_empty() {
                    println!("No plugins are registered.");
                }
                for e in entries {
                    println!("{}\t{}", e.name, e.path.display());
                }
                Ok(0)
            }
            Err(e) => Ok(registry_failure(e)),
        },
    }
}

/// A registry error in WSL's two-line form, with the Windows name of its cause.
fn registry_failure(e: wslp_config::ConfigError) -> i32 {
    use wslp_config::ConfigError as E;
    let code = match &e {
        E::RelativePath(_) | E::InvalidName(_) => "E_INVALIDARG",
        E::DuplicateName { .. } => "ERROR_ALREADY_EXISTS",
        E::NoSuchPlugin { .. } => "ERROR_NOT_FOUND",
        E::Malformed { .. } => "ERROR_INVALID_DATA",
        _ => "E_FAIL",
    };
    fail_code(&e.to_string(), code, 1)
}
