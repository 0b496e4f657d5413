//! The user namespace of a VM: which ids exist inside, which host ids they
//! are, and who writes the maps.
//!
//! Every namespace of the VM (and of each distribution, created inside it) is
//! owned by one user namespace, so root in the VM or in a distribution is root
//! of that namespace only: on the host it is an unprivileged id of the range
//! the maps name. The maps are a seam: the system instance's service (host
//! root) writes them itself ([`MapWriter::Direct`]); an unprivileged service
//! has the setuid helpers of shadow's `uidmap` package write its subordinate
//! ranges ([`MapWriter::Helpers`]), or writes a single self-mapping with
//! `setgroups` denied, which is all the kernel lets it write.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;

use crate::error::VmError;

/// One line of a `uid_map` or `gid_map`: `count` ids from `inside` are the
/// host's ids from `outside`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

impl IdRange {
    /// The host id of `inside`, when this line maps it.
    pub fn to_host(&self, inside: u32) -> Option<u32> {
        let off = inside.checked_sub(self.inside)?;
        (off < self.count).then(|| self.outside + off)
    }

    /// Whether `[start, start + count)` of host ids meets this line's host ids.
    pub fn overlaps_host(&self, start: u64, count: u64) -> bool {
        let (a0, a1) = (self.outside as u64, self.outside as u64 + self.count as u64);
        start < a1 && a0 < start + count
    }
}

/// Who writes the maps of a new VM's user namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapWriter {
    /// The caller writes `/proc/PID/{setgroups,uid_map,gid_map}` itself. A
    /// caller with CAP_SETUID and CAP_SETGID on the host (root) may map any
    /// range; anyone else only their own uid and gid, with `setgroups`
    /// denied (see [`UserNamespace::self_only`]).
    Direct,
    /// `newuidmap PID …` and `newgidmap PID …` (shadow's setuid helpers)
    /// write the maps, checking them against `/etc/subuid` and `/etc/subgid`.
    Helpers {
        newuidmap: PathBuf,
        newgidmap: PathBuf,
    },
}

/// How the VM's user namespace maps ids (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserNamespace {
    pub uid_map: Vec<IdRange>,
    pub gid_map: Vec<IdRange>,
    pub writer: MapWriter,
    /// Processes inside may call setgroups(2). False writes `deny` to
    /// `/proc/PID/setgroups` first, as the kernel requires of an
    /// unprivileged writer; then nobody inside can change their groups.
    pub setgroups: bool,
    /// Distribution root filesystems and MountFolder folders are attached
    /// through idmapped mounts (MOUNT_ATTR_IDMAP with this namespace), so
    /// their files keep their own ids on disk and show with them inside.
    /// Creating one needs CAP_SYS_ADMIN on the host. False attaches them as
    /// they are: their files must then be stored with the host ids of the
    /// range (shifted), or show as `nobody` inside.
    pub idmapped_storage: bool,
}

/// How many ids a VM has: 0–65535, the 16-bit range every distribution's
/// users (root, uid 1000, nobody = 65534) live in.
pub const RANGE_SIZE: u32 = 65536;

impl UserNamespace {
    /// Inside ids 0–`count - 1` are host ids `base…`, for uids and gids, maps
    /// written by the caller (who must be host root), idmapped storage: the
    /// system instance.
    pub fn mapped(base: u32, count: u32) -> UserNamespace {
        let line = IdRange {
            inside: 0,
            outside: base,
            count,
        };
        UserNamespace {
            uid_map: vec![line],
            gid_map: vec![line],
            writer: MapWriter::Direct,
            setgroups: true,
            idmapped_storage: true,
        }
    }

    /// Only root exists inside, and it is the caller's own `uid`/`gid`: what
    /// an unprivileged process may map without help (setgroups denied,
    /// nothing idmapped).
    pub fn self_only(uid: u32, gid: u32) -> UserNamespace {
        let one = |outside| IdRange {
            inside: 0,
            outside,
            count: 1,
        };
        UserNamespace {
            uid_map: vec![one(uid)],
            gid_map: vec![one(gid)],
            writer: MapWriter::Direct,
            setgroups: false,
            idmapped_storage: false,
        }
    }

    /// The host uid of inside uid `uid`, if it is mapped.
    pub fn host_uid(&self, uid: u32) -> Option<u32> {
        self.uid_map.iter().find_map(|l| l.to_host(uid))
    }

    /// The host gid of inside gid `gid`, if it is mapped.
    pub fn host_gid(&self, gid: u32) -> Option<u32> {
        self.gid_map.iter().find_map(|l| l.to_host(gid))
    }

    /// The text of a map file: one `inside outside count` line per range.
    pub fn map_text(map: &[IdRange]) -> String {
        map.iter().fold(String::new(), |mut s, l| {
            let _ = writeln!(s, "{} {} {}", l.inside, l.outside, l.count);
            s
        })
    }

    /// The arguments of `newuidmap`/`newgidmap` for process `pid`.
    pub fn helper_args(pid: i32, map: &[IdRange]) -> Vec<String> {
        let mut args = vec![pid.to_string()];
        for l in map {
            args.extend([l.inside, l.outside, l.count].map(|v| v.to_string()));
        }
        args
    }

    /// Writes the maps of `pid`, a process that has just made this user
    /// namespace and waits for them.
    pub(crate) fn write_maps(&self, pid: i32) -> Result<(), VmError> {
        if self.uid_map.is_empty() || self.gid_map.is_empty() {
            return Err(VmError::InvalidArgument(
                "the user namespace has an empty uid or gid map".into(),
            ));
        }
        match &self.writer {
            MapWriter::Direct => {
                if !self.setgroups {
                    write_proc(pid, "setgroups", "deny")?;
                }
                write_proc(pid, "uid_map", &Self::map_text(&self.uid_map))?;
                write_proc(pid, "gid_map", &Self::map_text(&self.gid_map))
            }
            MapWriter::Helpers {
                newuidmap,
                newgidmap,
            } => {
                if !self.setgroups {
                    write_proc(pid, "setgroups", "deny")?;
                }
                // Both at once: each is an exec of a setuid program, the
                // larger part of a per-user instance's start.
                let uids = start_helper(newuidmap, &Self::helper_args(pid, &self.uid_map))?;
                let gids = start_helper(newgidmap, &Self::helper_args(pid, &self.gid_map));
                let uids = finish_helper(uids);
                uids.and(gids.and_then(finish_helper))
            }
        }
    }
}

fn write_proc(pid: i32, file: &str, text: &str) -> Result<(), VmError> {
    let path = format!("/proc/{pid}/{file}");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| {
            VmError::io(
                format!(
                    "writing {:?} to {path} (the VM's user namespace map)",
                    text.trim_end()
                ),
                e,
            )
        })
}

/// A running `newuidmap`/`newgidmap`, with what it was asked.
struct Helper {
    child: std::process::Child,
    line: String,
}

fn start_helper(program: &PathBuf, args: &[String]) -> Result<Helper, VmError> {
    let child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| VmError::io(format!("running {}", program.display()), e))?;
    Ok(Helper {
        child,
        line: format!("{} {}", program.display(), args.join(" ")),
    })
}

fn finish_helper(h: Helper) -> Result<(), VmError> {
    let out = h
        .child
        .wait_with_output()
        .map_err(|e| VmError::io(format!("waiting for {}", h.line), e))?;
    if out.status.success() {
        return Ok(());
    }
    Err(VmError::io(
        format!(
            "{} ({}): {}",
            h.line,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        std::io::Error::from_raw_os_error(libc::EPERM),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_maps_inside_ids_to_host_ids() {
        let ns = UserNamespace::mapped(165536, RANGE_SIZE);
        assert_eq!(ns.host_uid(0), Some(165536));
        assert_eq!(ns.host_uid(1000), Some(166536));
        assert_eq!(ns.host_gid(65535), Some(231071));
        assert_eq!(ns.host_uid(65536), None);
        assert_eq!(UserNamespace::map_text(&ns.uid_map), "0 165536 65536\n");
        assert!(ns.setgroups && ns.idmapped_storage);
    }

    #[test]
    fn a_self_mapping_is_one_id_with_setgroups_denied() {
        let ns = UserNamespace::self_only(1000, 1001);
        assert_eq!(ns.host_uid(0), Some(1000));
        assert_eq!(ns.host_gid(0), Some(1001));
        assert_eq!(ns.host_uid(1), None);
        assert!(!ns.setgroups && !ns.idmapped_storage);
    }

    #[test]
    fn helper_arguments_are_the_pid_then_triples() {
        let map = [
            IdRange {
                inside: 0,
                outside: 1000,
                count: 1,
            },
            IdRange {
                inside: 1,
                outside: 100000,
                count: 65535,
            },
        ];
        assert_eq!(
            UserNamespace::helper_args(42, &map),
            ["42", "0", "1000", "1", "1", "100000", "65535"]
        );
        assert_eq!(UserNamespace::map_text(&map), "0 1000 1\n1 100000 65535\n");
    }

    #[test]
    fn overlap_is_on_host_ids() {
        let l = IdRange {
            inside: 0,
            outside: 100,
            count: 10,
        };
        assert!(l.overlaps_host(105, 1));
        assert!(l.overlaps_host(90, 11));
        assert!(!l.overlaps_host(90, 10));
        assert!(!l.overlaps_host(110, 5));
    }
}
