//! `wslp -l [-v] [--running] [-q]`, formatted like `wsl -l -v`.

use crate::session::{fail, simple};
use wslp_ipc::protocol::{DistroListing, Request};

pub fn run(verbose: bool, running: bool, quiet: bool) -> i32 {
    simple(
        Request::List {
            running_only: running,
        },
        |list| {
            if list.is_empty() {
                return if running {
                    println!("There are no running distributions.");
                    0
                } else {
                    fail(
                    "wslp has no installed distributions. Import one with `wslp --import NAME DIR TARBALL`.\nError code: Wsl/Service/WSL_E_DEFAULT_DISTRO_NOT_FOUND",
                    1,
                )
                };
            }
            print!("{}", format(&list, verbose, quiet));
            0
        },
    )
}

pub fn format(list: &[DistroListing], verbose: bool, quiet: bool) -> String {
    let mut out = String::new();
    if quiet {
        for d in list {
            out.push_str(&format!("{}\n", d.name));
        }
    } else if verbose {
        let w = list.iter().map(|d| d.name.len()).max().unwrap_or(0).max(4) + 4;
        out.push_str(&format!("  {:<w$}{:<16}{}\n", "NAME", "STATE", "VERSION"));
        for d in list {
            let mark = if d.is_default { '*' } else { ' ' };
            out.push_str(&format!(
                "{mark} {:<w$}{:<16}{}\n",
                d.name,
                d.state.to_string(),
                d.version
            ));
        }
    } else {
        out.push_str("wslp distributions:\n");
        for d in list {
            let suffix = if d.is_default { " (Default)" } else { "" };
            out.push_str(&format!("{}{suffix}\n", d.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wslp_ipc::protocol::DistroState;

    #[test]
    fn verbose_like_wsl() {
        let l = vec![
            DistroListing {
                name: "Debian".into(),
                state: DistroState::Running,
                version: 2,
                is_default: true,
            },
            DistroListing {
                name: "a".into(),
                state: DistroState::Stopped,
                version: 2,
                is_default: false,
            },
        ];
        assert_eq!(
            format(&l, true, false),
            "  NAME      STATE           VERSION\n* Debian    Running         2\n  a         Stopped         2\n"
        );
        assert_eq!(
            format(&l, false, false),
            "wslp distributions:\nDebian (Default)\na\n"
        );
        assert_eq!(format(&l, false, true), "Debian\na\n");
    }
}
