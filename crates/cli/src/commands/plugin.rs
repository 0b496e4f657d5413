//! `wslp plugin add NAME PATH | remove NAME | list`: the plugin registry
//! (`$WSLP_ROOT/plugins.toml`), which only root may change. The service reads
//! it when it starts, as WSL does; `wslp --shutdown` makes the next command
//! pick a change up.

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
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let p = paths();
    match args.cmd {
        Cmd::Add { name, path } => {
            if !nix::unistd::geteuid().is_root() {
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
            if !nix::unistd::geteuid().is_root() {
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
