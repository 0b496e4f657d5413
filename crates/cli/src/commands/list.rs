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
        // wsl.exe's three columns; a fourth, DEFAULT USER, only when some
        // distribution does not start as root, so the common listing stays
        // exactly wsl.exe's.
        let users = list.iter().any(|d| d.default_user.is_some());
        let w = list.iter().map(|d| d.name.len()).max().unwrap_or(0).max(4) + 4;
        let header = format!("  {:<w$}{:<16}{}", "NAME", "STATE", "VERSION");
        let row = |d: &DistroListing| {
            let mark = if d.is_default { '*' } else { ' ' };
            format!(
                "{mark} {:<w$}{:<16}{}",
                d.name,
                d.state.to_string(),
                d.version
            )
        };
        if users {
            out.push_str(&format!(
                "{header:<w2$}DEFAULT USER\n",
                w2 = w + 2 + 16 + 11
            ));
            for d in list {
                let user = d.default_user.as_deref().unwrap_or("root");
                out.push_str(&format!("{:<w2$}{user}\n", row(d), w2 = w + 2 + 16 + 11));
            }
        } else {
            out.push_str(&format!("{header}\n"));
            for d in list {
                out.push_str(&format!("{}\n", row(d)));
            }
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
                default_user: None,
            },
            DistroListing {
                name: "a".into(),
                state: DistroState::Stopped,
                version: 2,
                is_default: false,
                default_user: None,
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

    #[test]
    fn verbose_shows_default_users_only_when_one_is_not_root() {
        let mut l = vec![
            DistroListing {
                name: "Debian".into(),
                state: DistroState::Running,
                version: 2,
                is_default: true,
                default_user: Some("dev".into()),
            },
            DistroListing {
                name: "a".into(),
                state: DistroState::Stopped,
                version: 2,
                is_default: false,
                default_user: None,
            },
        ];
        assert_eq!(
            format(&l, true, false),
            "  NAME      STATE           VERSION    DEFAULT USER\n\
             * Debian    Running         2          dev\n\
             \x20 a         Stopped         2          root\n"
        );
        l[0].default_user = None;
        assert!(!format(&l, true, false).contains("DEFAULT USER"));
    }
}
