//! Which host ids the VM's ids are (the system instance's subordinate range),
//! and which ids, groups and limits a client's command runs with.
//!
//! The VM maps its ids 0–65535 to 65536 host ids that belong to nobody on the
//! host: the subordinate range of the `wslp` account in `/etc/subuid` and
//! `/etc/subgid` (`scripts/setup.sh` creates both), or, without one, the
//! documented default range [`wslp_vm::DEFAULT_RANGE_BASE`] with a warning.
//! A range that another account's subordinate ids, or a host user or group,
//! share is refused: its owner could signal and trace every process of the
//! VM.

use std::path::Path;

use wslp_vm::subid::{self, SubIdEntry};
use wslp_vm::{UserNamespace, DEFAULT_RANGE_BASE, RANGE_SIZE};

use crate::failure::Failure;

/// The account whose subordinate ids the system instance uses.
pub const ACCOUNT: &str = "wslp";

/// The VM's user namespace, and why it is what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmIds {
    pub user_namespace: UserNamespace,
    /// `/etc/subuid`-style text for `--status`: where the range comes from.
    pub source: String,
    /// Set when the default range is used: what to do about it.
    pub warning: Option<String>,
}

/// What the host's files say, for [`resolve`] (read once per VM start).
#[derive(Debug, Default)]
pub struct HostIds {
    pub subuid: Vec<SubIdEntry>,
    pub subgid: Vec<SubIdEntry>,
    /// `(name, uid)` of /etc/passwd, `(name, gid)` of /etc/group.
    pub users: Vec<(String, u64)>,
    pub groups: Vec<(String, u64)>,
}

fn name_id_lines(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
        })
        .collect()
}

impl HostIds {
    /// Reads `/etc/subuid`, `/etc/subgid`, `/etc/passwd` and `/etc/group`.
    pub fn read() -> Result<HostIds, Failure> {
        let sub = |p: &str| {
            subid::read(Path::new(p)).map_err(|e| {
                Failure::service(
                    format!("Cannot read {p}: {e}. Check that root can read it."),
                    "CreateInstance/CreateVm/E_FAIL",
                )
            })
        };
        let db = |p: &str| name_id_lines(&std::fs::read_to_string(p).unwrap_or_default());
        Ok(HostIds {
            subuid: sub(subid::SUBUID)?,
            subgid: sub(subid::SUBGID)?,
            users: db("/etc/passwd"),
            groups: db("/etc/group"),
        })
    }
}

fn range_failure(message: String) -> Failure {
    Failure::service(message, "CreateInstance/CreateVm/E_ACCESSDENIED")
}

/// The VM's ids from the host's files (see the module documentation).
pub fn resolve(host: &HostIds) -> Result<VmIds, Failure> {
    let count = RANGE_SIZE as u64;
    let account_uid = host
        .users
        .iter()
        .find(|(n, _)| n == ACCOUNT)
        .and_then(|(_, u)| u32::try_from(*u).ok());
    let uids = subid::range_of(&host.subuid, ACCOUNT, account_uid, count);
    let gids = subid::range_of(&host.subgid, ACCOUNT, account_uid, count);
    let (uid_base, gid_base, source, warning) = match (uids, gids) {
        (Some((u, _)), Some((g, _))) => (
            u,
            g,
            format!(
                "{ACCOUNT}:{u}:{count} in {}, {ACCOUNT}:{g}:{count} in {}",
                subid::SUBUID,
                subid::SUBGID
            ),
            None,
        ),
        _ => {
            let base = DEFAULT_RANGE_BASE as u64;
            (
                base,
                base,
                format!("the default range {base}:{count} (no range of {count} ids for '{ACCOUNT}' in {} and {})", subid::SUBUID, subid::SUBGID),
                Some(format!(
                    "{} and {} give the account '{ACCOUNT}' no range of {count} ids, so the VM uses host ids \
                     {base}-{} (the default range). Run scripts/setup.sh as root to give wslp a range of its own.",
                    subid::SUBUID,
                    subid::SUBGID,
                    base + count - 1
                )),
            )
        }
    };
    for (what, base, entries, db, file) in [
        ("uid", uid_base, &host.subuid, &host.users, subid::SUBUID),
        ("gid", gid_base, &host.subgid, &host.groups, subid::SUBGID),
    ] {
        if base + count > u32::MAX as u64 {
            return Err(range_failure(format!(
                "The {what} range {base}:{count} for '{ACCOUNT}' in {file} ends past the largest id. \
                 Give '{ACCOUNT}' a range below 4294901760 (scripts/setup.sh picks one)."
            )));
        }
        if let Some(other) = entries.iter().find(|e| {
            e.owner != ACCOUNT
                && Some(e.owner.as_str()) != account_uid.map(|u| u.to_string()).as_deref()
                && e.overlaps(base, count)
        }) {
            return Err(range_failure(format!(
                "The VM's host {what}s {base}-{} overlap the range {}:{}:{} in {file}, so '{}' could control every process of the VM. \
                 Give '{ACCOUNT}' a range of its own in {file} (scripts/setup.sh picks a free one).",
                base + count - 1,
                other.owner,
                other.start,
                other.count,
                other.owner
            )));
        }
        if let Some((name, id)) = db.iter().find(|(_, id)| (base..base + count).contains(id)) {
            return Err(range_failure(format!(
                "The VM's host {what}s {base}-{} include {what} {id} ('{name}') of this host, who could control every process of the VM. \
                 Give '{ACCOUNT}' a range no host {what} uses in {file} (scripts/setup.sh picks a free one).",
                base + count - 1
            )));
        }
    }
    let mut ns = UserNamespace::mapped(uid_base as u32, RANGE_SIZE);
    ns.gid_map[0].outside = gid_base as u32;
    Ok(VmIds {
        user_namespace: ns,
        source,
        warning,
    })
}

/// What [`enter_per_user_namespace`] made: the host's view of this
/// process's ids, for `--status` and the warning a VM start repeats.
static ENTERED: std::sync::OnceLock<VmIds> = std::sync::OnceLock::new();

/// The host's view of a per-user instance's ids, once entered.
pub fn entered() -> Option<&'static VmIds> {
    ENTERED.get()
}

/// For a per-user instance's service (or an unprivileged test host), before
/// any thread exists: makes this process root of a user namespace with the
/// owner's ids ([`wslp_vm::rootless::resolve_per_user`]) and of mount and pid
/// namespaces of its own
/// (SPEC §10). Returns the warning about missing ranges or helpers, if any.
pub fn enter_per_user_namespace() -> Result<Option<String>, wslp_vm::VmError> {
    let ids = wslp_vm::rootless::enter_as_current_user(true)?;
    let warning = ids.warning.clone();
    let _ = ENTERED.set(VmIds {
        user_namespace: ids.user_namespace,
        source: ids.source,
        warning: ids.warning,
    });
    Ok(warning)
}

/// The VM ids of the instance this process serves: the system instance's
/// range as host root; in a per-user instance's own user namespace, every id
/// that namespace has (up to [`RANGE_SIZE`]), mapped to itself.
pub fn for_this_service() -> Result<VmIds, Failure> {
    if wslp_vm::rootless::in_initial_user_namespace() {
        if !nix::unistd::geteuid().is_root() {
            return Err(Failure::service(
                "This process is neither root nor in a user namespace of its own, so it cannot run a VM. \
                 Start wslp's per-user service with `wslp` (it makes one).",
                "CreateInstance/CreateVm/E_ACCESSDENIED",
            ));
        }
        return resolve(&HostIds::read()?);
    }
    let (uids, gids, setgroups) = wslp_vm::rootless::own_maps().map_err(|e| {
        Failure::service(
            format!("Cannot read this instance's user namespace: {e}"),
            "CreateInstance/CreateVm/E_FAIL",
        )
    })?;
    let identity = |lines: Vec<wslp_vm::IdRange>| {
        lines
            .into_iter()
            .filter(|l| l.inside < RANGE_SIZE)
            .map(|l| wslp_vm::IdRange {
                inside: l.inside,
                outside: l.inside,
                count: l.count.min(RANGE_SIZE - l.inside),
            })
            .collect::<Vec<_>>()
    };
    let entered = ENTERED.get();
    Ok(VmIds {
        user_namespace: UserNamespace {
            uid_map: identity(uids),
            gid_map: identity(gids),
            writer: wslp_vm::MapWriter::Direct,
            setgroups,
            idmapped_storage: false,
        },
        source: entered.map_or_else(
            || "this process's own user namespace".to_owned(),
            |e| e.source.clone(),
        ),
        warning: entered.and_then(|e| e.warning.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(subuid: &str, subgid: &str, passwd: &str) -> HostIds {
        HostIds {
            subuid: subid::parse(subuid),
            subgid: subid::parse(subgid),
            users: name_id_lines(passwd),
            groups: name_id_lines("root:x:0:\nwheel:x:10:user\n"),
        }
    }

    #[test]
    fn the_wslp_account_s_ranges_are_used() {
        let ids = resolve(&host(
            "alice:100000:65536\nwslp:165536:65536\n",
            "wslp:300000:65536\n",
            "root:x:0:0::/root:/bin/sh\nwslp:x:998:998::/:/usr/sbin/nologin\n",
        ))
        .unwrap();
        assert_eq!(ids.user_namespace.host_uid(0), Some(165536));
        assert_eq!(ids.user_namespace.host_gid(0), Some(300000));
        assert_eq!(ids.warning, None);
        // By uid too, as shadow allows.
        let ids = resolve(&host(
            "998:165536:65536\n",
            "998:165536:65536\n",
            "wslp:x:998:998::/:/bin/false\n",
        ))
        .unwrap();
        assert_eq!(ids.user_namespace.host_uid(1), Some(165537));
    }

    #[test]
    fn without_a_range_the_default_is_used_with_a_warning() {
        for (subuid, subgid) in [
            ("", ""),
            ("wslp:165536:65536\n", ""),
            ("wslp:165536:100\n", "wslp:1:100\n"),
        ] {
            let ids = resolve(&host(subuid, subgid, "root:x:0:0::/:/bin/sh\n")).unwrap();
            assert_eq!(ids.user_namespace.host_uid(0), Some(DEFAULT_RANGE_BASE));
            let w = ids.warning.unwrap();
            assert!(
                w.contains("scripts/setup.sh") && w.contains("/etc/subuid"),
                "{w}"
            );
        }
    }

    #[test]
    fn a_shared_range_is_refused() {
        let e = resolve(&host(
            "wslp:165536:65536\nmallory:200000:10\n",
            "wslp:165536:65536\n",
            "",
        ))
        .unwrap_err();
        assert!(
            e.text.contains("'mallory' could control every process"),
            "{}",
            e.text
        );
        assert!(e
            .text
            .contains("\nError code: Wsl/Service/CreateInstance/CreateVm/E_ACCESSDENIED"));
        let default = DEFAULT_RANGE_BASE as u64;
        let e = resolve(&host(&format!("bob:{}:1\n", default + 5), "", "")).unwrap_err();
        assert!(e.text.contains("'bob'"), "{}", e.text);
        let e = resolve(&host(
            "",
            "",
            &format!("eve:x:{}:1::/:/bin/sh\n", default + 7),
        ))
        .unwrap_err();
        assert!(
            e.text.contains("uid") && e.text.contains("('eve')"),
            "{}",
            e.text
        );
        let e = resolve(&host("wslp:4294967000:65536\n", "wslp:1:65536\n", "")).unwrap_err();
        assert!(e.text.contains("past the largest id"), "{}", e.text);
    }
}
