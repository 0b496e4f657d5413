//! A process of an unprivileged user becomes root of a user namespace of its
//! own (SPEC §10): a per-user instance's `wslpd`, and a plugin's test binary
//! through `wslp-testing`. From there it runs the VM as the system instance's
//! service does, with two differences the callers ask about here: nothing can
//! be idmapped (the filesystems belong to the host's user namespace), and
//! only the ids that the namespace maps exist.
//!
//! The user is root inside; their `/etc/subuid` and `/etc/subgid` ranges
//! are ids 1… when shadow's setuid `newuidmap`/`newgidmap` write the maps;
//! without them, the one mapping an unprivileged process may write itself
//! (its own uid and gid, `setgroups` denied). Nothing is written that the
//! kernel would not let the user write.

use std::io::Read as _;
use std::os::fd::{AsFd, AsRawFd};

use crate::child;
use crate::error::VmError;
use crate::subid::SubIdEntry;
use crate::sys;
use crate::userns::{IdRange, MapWriter, UserNamespace};
use crate::RANGE_SIZE;

/// Whether this process is in the host's user namespace (the initial one,
/// whose map is the identity over every id).
pub fn in_initial_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
        .unwrap_or(true)
}

/// The maps of this process's user namespace (`inside outside count` lines
/// of `/proc/self/{uid,gid}_map`) and whether setgroups(2) is allowed there.
pub fn own_maps() -> Result<(Vec<IdRange>, Vec<IdRange>, bool), VmError> {
    let read = |f: &str| {
        std::fs::read_to_string(format!("/proc/self/{f}"))
            .map_err(|e| VmError::io(format!("reading /proc/self/{f}"), e))
    };
    let parse = |text: String| {
        text.lines()
            .filter_map(|l| {
                let v: Vec<u32> = l
                    .split_whitespace()
                    .filter_map(|w| w.parse().ok())
                    .collect();
                (v.len() == 3).then(|| IdRange {
                    inside: v[0],
                    outside: v[1],
                    count: v[2],
                })
            })
            .collect::<Vec<_>>()
    };
    Ok((
        parse(read("uid_map")?),
        parse(read("gid_map")?),
        read("setgroups")?.trim() == "allow",
    ))
}

/// A per-user instance's ids: its user namespace's maps (host view), where
/// they come from, and what is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerUserIds {
    pub user_namespace: UserNamespace,
    /// `/etc/subuid`-style text for `--status`.
    pub source: String,
    /// Set when only root exists inside: why, and what it costs.
    pub warning: Option<String>,
}

/// Who a per-user instance's service runs as (SPEC §10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    /// The account's name in `/etc/passwd`, which `/etc/subuid` may use.
    pub name: Option<String>,
}

impl Owner {
    /// The user this process runs as, named as `/etc/passwd` names them.
    pub fn current() -> Owner {
        let uid = nix::unistd::geteuid().as_raw();
        let name = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|text| {
                text.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.get(2)?.parse::<u32>().ok()? == uid).then(|| f[0].to_owned())
                })
            });
        Owner {
            uid,
            gid: nix::unistd::getegid().as_raw(),
            name,
        }
    }
}

/// `newuidmap` and `newgidmap` (the `uidmap` package), where a login shell
/// would find them.
pub fn id_map_helpers() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<std::path::PathBuf> = std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map(std::path::PathBuf::from))
        .collect();
    let find = |name: &str| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file());
    Some((find("newuidmap")?, find("newgidmap")?))
}

/// The ranges of `owner` in `entries`, as map lines from inside id 1 on,
/// up to the VM's [`RANGE_SIZE`] ids in all.
fn owner_ranges(entries: &[SubIdEntry], owner: &Owner) -> Vec<IdRange> {
    let mut next = 1u64;
    let mut lines = Vec::new();
    for e in entries.iter().filter(|e| {
        Some(e.owner.as_str()) == owner.name.as_deref() || e.owner == owner.uid.to_string()
    }) {
        let room = RANGE_SIZE as u64 - next;
        if room == 0 {
            break;
        }
        let count = e.count.min(room);
        if e.start + count > u32::MAX as u64 {
            continue;
        }
        lines.push(IdRange {
            inside: next as u32,
            outside: e.start as u32,
            count: count as u32,
        });
        next += count;
    }
    lines
}

/// A per-user instance's VM ids: the owner is root inside, and the owner's
/// subordinate ranges are uids and gids 1… when `newuidmap`/`newgidmap`
/// can map them; otherwise only root exists inside, with a warning that
/// says what that costs and what to do.
pub fn resolve_per_user(
    owner: &Owner,
    subuid: &[SubIdEntry],
    subgid: &[SubIdEntry],
    helpers: Option<(std::path::PathBuf, std::path::PathBuf)>,
) -> PerUserIds {
    let who = owner.name.clone().unwrap_or_else(|| owner.uid.to_string());
    let (uids, gids) = (owner_ranges(subuid, owner), owner_ranges(subgid, owner));
    let only_root = |why: String| {
        let ns = UserNamespace::self_only(owner.uid, owner.gid);
        PerUserIds {
            user_namespace: ns,
            source: format!("uid {} and gid {} only ({why})", owner.uid, owner.gid),
            warning: Some(format!(
                "wslp: {why}, so only root exists in this instance's VM: a distribution's other users (uid 1000, nobody…) cannot run, and their files are imported as root's."
            )),
        }
    };
    let Some((newuidmap, newgidmap)) = helpers else {
        return only_root(
            "newuidmap and newgidmap are not installed (install the uidmap package)".into(),
        );
    };
    if uids.is_empty() || gids.is_empty() {
        return only_root(format!(
            "'{who}' has no subordinate ids in {} and {} (root can add them: usermod --add-subuids FIRST-LAST --add-subgids FIRST-LAST {who})",
            crate::subid::SUBUID,
            crate::subid::SUBGID
        ));
    }
    let line = |outside| IdRange {
        inside: 0,
        outside,
        count: 1,
    };
    let describe = |lines: &[IdRange]| {
        lines
            .iter()
            .map(|l| format!("{who}:{}:{}", l.outside, l.count))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let source = format!(
        "uid {} and gid {} as root, then {} in {} and {} in {}",
        owner.uid,
        owner.gid,
        describe(&uids),
        crate::subid::SUBUID,
        describe(&gids),
        crate::subid::SUBGID
    );
    let ns = UserNamespace {
        uid_map: std::iter::once(line(owner.uid)).chain(uids).collect(),
        gid_map: std::iter::once(line(owner.gid)).chain(gids).collect(),
        writer: MapWriter::Helpers {
            newuidmap,
            newgidmap,
        },
        setgroups: true,
        idmapped_storage: false,
    };
    PerUserIds {
        user_namespace: ns,
        source,
        warning: None,
    }
}

/// [`resolve_per_user`] for the user this process runs as, from the host's
/// files and helpers.
pub fn current_user_ids() -> Result<PerUserIds, VmError> {
    let read = |p: &str| {
        crate::subid::read(std::path::Path::new(p))
            .map_err(|e| VmError::io(format!("reading {p}"), e))
    };
    Ok(resolve_per_user(
        &Owner::current(),
        &read(crate::subid::SUBUID)?,
        &read(crate::subid::SUBGID)?,
        id_map_helpers(),
    ))
}

/// [`enter`] with [`current_user_ids`]; returns them. `pid_namespace`: as a
/// service, which moves its threads between pid namespaces; a client that
/// only extracts or reads a distribution's files needs none.
pub fn enter_as_current_user(pid_namespace: bool) -> Result<PerUserIds, VmError> {
    let ids = current_user_ids()?;
    enter(&ids.user_namespace, pid_namespace)?;
    Ok(ids)
}

/// For a client with one thread (`wslp --import` and `--export` of a
/// per-user instance): runs `f` in a child that is root of a user namespace
/// with the current user's ids ([`enter_as_current_user`], no pid
/// namespace), where the files of the instance's distributions can be given
/// and read with their owners; returns the child's exit code. `f` gets the
/// ids, or why there is no such namespace.
pub fn run_as_instance_root(
    f: impl FnOnce(Result<PerUserIds, VmError>) -> i32,
) -> Result<i32, VmError> {
    child::fork_and_wait(|| {
        let code = f(enter_as_current_user(false));
        let _ = std::io::Write::flush(&mut std::io::stdout());
        code
    })
    .map_err(|e| VmError::setup("forking the process that works as root of the instance", e))
}

/// Why the kernel refused an unprivileged user namespace (`errno` of
/// unshare or clone), naming the setting that forbids it, with what to do.
pub fn refusal(errno: i32) -> String {
    let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    let (setting, fix) = if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref()
        == Some("0")
    {
        (
            "kernel.unprivileged_userns_clone = 0".to_owned(),
            "sysctl -w kernel.unprivileged_userns_clone=1",
        )
    } else if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1")
    {
        (
            "kernel.apparmor_restrict_unprivileged_userns = 1".to_owned(),
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile with `userns,` for wslpd",
        )
    } else if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        (
            "user.max_user_namespaces = 0".to_owned(),
            "sysctl -w user.max_user_namespaces=15000",
        )
    } else if errno == libc::ENOSPC {
        (
            format!(
                "user.max_user_namespaces = {}, all in use",
                read("/proc/sys/user/max_user_namespaces").unwrap_or_default()
            ),
            "raise user.max_user_namespaces",
        )
    } else {
        (
            format!(
                "{} (no known sysctl forbids them; a seccomp or LSM policy may)",
                std::io::Error::from_raw_os_error(errno)
            ),
            "allow unprivileged user namespaces for this user",
        )
    };
    format!(
        "the kernel forbids unprivileged user namespaces here ({setting}), and a per-user wslp instance needs one. \
         Ask root to allow them ({fix}), or use the system instance as root."
    )
}

/// Makes this process root of a new user namespace with `ns`'s maps, of a
/// new mount namespace (a copy of the host's, whose mounts it cannot
/// change) and pid 1 of a new pid namespace, with its own `/proc`, for a
/// per-user instance. The service moves its threads in and out of the VM's
/// pid namespace to start processes there; the kernel lets it come back
/// only to a pid namespace its user namespace owns. Call it while the
/// process has one thread: the kernel refuses a new user namespace to any
/// other. The caller's process stays outside as a waiter ([`child::continue_as_pid1`]).
pub fn enter(ns: &UserNamespace, pid_namespace: bool) -> Result<(), VmError> {
    let (go_r, go_w) = nix::unistd::pipe().map_err(|e| VmError::io("creating a pipe", e.into()))?;
    let (err_r, err_w) =
        nix::unistd::pipe().map_err(|e| VmError::io("creating a pipe", e.into()))?;
    let parent = std::process::id() as i32;
    let (go_rfd, err_wfd) = (go_r.as_raw_fd(), err_w.as_raw_fd());
    let (go_wfd, err_rfd) = (go_w.as_raw_fd(), err_r.as_raw_fd());
    // The helper stays in the host's user namespace, where newuidmap can map
    // our ids. The caller has one thread, so the helper may allocate.
    let (_, helper) = child::clone_child(None, 0, || {
        // Our copies of the caller's ends: else a caller that gives up
        // (closing its end) would leave us waiting forever.
        sys::close(go_wfd);
        sys::close(err_rfd);
        let mut b = [0u8; 1];
        if sys::read(go_rfd, &mut b) != Ok(1) {
            sys::exit(1);
        }
        let code = match ns.write_maps(parent) {
            Ok(()) => 0,
            Err(e) => {
                let _ = sys::write_all(err_wfd, e.to_string().as_bytes());
                1
            }
        };
        sys::exit(code)
    })
    .map_err(|e| {
        VmError::setup(
            "forking the helper that writes the user namespace's maps",
            e,
        )
    })?;
    drop(go_r);
    drop(err_w);
    let pid = if pid_namespace { libc::CLONE_NEWPID } else { 0 };
    let unshared = sys::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS | pid);
    // Tells the helper to go on, or (on failure) to give up: it exits either way.
    let _ = nix::unistd::write(go_w.as_fd(), if unshared.is_ok() { b"g" } else { b"" });
    drop(go_w);
    let mut why = String::new();
    let _ = std::fs::File::from(err_r).read_to_string(&mut why);
    let status = sys::wait_pidfd(helper.as_fd());
    if let Err(e) = unshared {
        return Err(VmError::UserNamespaceRefused(refusal(e)));
    }
    if status != Ok(0) {
        return Err(VmError::Setup {
            step: format!(
                "writing the maps of this instance's user namespace: {}",
                why.trim()
            ),
            cause: std::io::Error::from_raw_os_error(libc::EPERM),
        });
    }
    if pid_namespace {
        child::continue_as_pid1()
            .map_err(|e| VmError::setup("forking into the new pid namespace", e))?;
        sys::mount(
            Some(c"proc"),
            c"/proc",
            Some(c"proc"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        )
        .map_err(|e| VmError::setup("mounting /proc for the new pid namespace", e))?;
    }
    // Groups the namespace cannot name are dropped where the kernel lets us.
    if ns.setgroups {
        let _ = nix::unistd::setgroups(&[nix::unistd::Gid::from_raw(0)]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subid::parse;

    fn alice() -> Owner {
        Owner {
            uid: 1000,
            gid: 1000,
            name: Some("alice".into()),
        }
    }

    #[test]
    fn a_user_is_root_inside_and_their_ranges_follow() {
        let (u, g) = (
            parse("alice:100000:65536\nbob:200000:65536\n"),
            parse("1000:300000:10\n1000:400000:65536\n"),
        );
        let helpers = Some(("/usr/bin/newuidmap".into(), "/usr/bin/newgidmap".into()));
        let ids = resolve_per_user(&alice(), &u, &g, helpers.clone());
        let ns = &ids.user_namespace;
        assert_eq!(ids.warning, None);
        assert_eq!(
            UserNamespace::map_text(&ns.uid_map),
            "0 1000 1\n1 100000 65535\n"
        );
        // Ranges named by uid count, and several chain up to 65536 ids.
        assert_eq!(
            UserNamespace::map_text(&ns.gid_map),
            "0 1000 1\n1 300000 10\n11 400000 65525\n"
        );
        assert_eq!(ns.host_uid(1000), Some(100999));
        assert!(ns.setgroups && !ns.idmapped_storage);
        assert!(matches!(ns.writer, MapWriter::Helpers { .. }));
    }

    #[test]
    fn without_ranges_or_helpers_only_root_exists_with_a_warning() {
        let bob = parse("bob:200000:65536\n");
        let ids = resolve_per_user(&alice(), &bob, &bob, Some(("/a".into(), "/b".into())));
        assert_eq!(ids.user_namespace, UserNamespace::self_only(1000, 1000));
        let w = ids.warning.unwrap();
        assert!(
            w.contains("'alice' has no subordinate ids") && w.contains("only root exists"),
            "{w}"
        );
        let a = parse("alice:100000:65536\n");
        let ids = resolve_per_user(&alice(), &a, &a, None);
        assert_eq!(ids.user_namespace, UserNamespace::self_only(1000, 1000));
        assert!(ids.warning.unwrap().contains("install the uidmap package"));
    }
}
