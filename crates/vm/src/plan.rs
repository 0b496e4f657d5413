//! Mount set-up as data: the steps that build the VM's root and a
//! distribution's root, built (and unit-tested) in the caller, printed with
//! `--debug`, and executed in the cloned child, where nothing may allocate.
//!
//! This is bubblewrap's approach (parse into set-up operations, then run them);
//! the root switch follows runc's `pivot_root(".", ".")` + lazy unmount trick,
//! which needs no directory for the old root.

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libc::c_ulong;

use crate::error::VmError;
use crate::sys::{self, Errno};

/// One step of a mount plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountStep {
    /// Change the propagation type of a mount (`flags`: MS_PRIVATE, MS_SHARED,
    /// MS_SLAVE, with MS_REC for the whole tree), e.g. `mount --make-rprivate /`
    /// so nothing propagates back to the host.
    Propagation { target: CString, flags: c_ulong },
    /// mount(2).
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: c_ulong,
        data: Option<CString>,
    },
    /// Make a mount tree read-only, submounts included (mount_setattr).
    ReadOnly { target: CString },
    /// mkdir; an existing entry is fine.
    Mkdir { path: CString, mode: u32 },
    /// Create an empty file to bind a file onto; an existing entry is fine.
    Touch { path: CString },
    /// symlink; an existing entry is fine.
    Symlink { target: CString, link: CString },
    /// Attach a detached mount tree (open_tree) at `target` (move_mount).
    AttachTree { fd: RawFd, target: CString },
    /// Make `new_root` the root (pivot_root) and lazily unmount the old root.
    PivotRoot { new_root: CString },
    /// sethostname in the (new) UTS namespace.
    SetHostname { name: CString },
    /// chdir: later relative paths start here.
    Chdir { path: CString },
    /// Become root of the user namespace (uid and gid 0, no supplementary
    /// groups when `setgroups` is allowed there): the steps before it ran
    /// with the host ids the process came with, which can still walk the
    /// host's root-only directories; the steps after it create files, which
    /// needs ids that exist inside.
    BecomeRoot { setgroups: bool },
    /// Bring `lo` up in the (new) network namespace.
    LoopbackUp,
}

fn flag_names(flags: c_ulong) -> String {
    const NAMES: &[(c_ulong, &str)] = &[
        (libc::MS_RDONLY, "ro"),
        (libc::MS_NOSUID, "nosuid"),
        (libc::MS_NODEV, "nodev"),
        (libc::MS_NOEXEC, "noexec"),
        (libc::MS_BIND, "bind"),
        (libc::MS_REC, "rec"),
        (libc::MS_PRIVATE, "private"),
    ];
    let names: Vec<&str> = NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    if names.is_empty() {
        "defaults".into()
    } else {
        names.join(",")
    }
}

fn s(c: &CStr) -> std::borrow::Cow<'_, str> {
    c.to_string_lossy()
}

impl fmt::Display for MountStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MountStep::Propagation { target, flags } => {
                let kind = match flags & !libc::MS_REC {
                    libc::MS_SHARED => "shared",
                    libc::MS_SLAVE => "slave",
                    libc::MS_PRIVATE => "private",
                    _ => "?",
                };
                let r = if flags & libc::MS_REC != 0 { "r" } else { "" };
                write!(f, "make-{r}{kind} {}", s(target))
            }
            MountStep::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => {
                let src = source.as_deref().map_or("none".into(), s);
                let fstype = fstype.as_deref().map_or("-".into(), s);
                write!(
                    f,
                    "mount {src} on {} type {fstype} ({})",
                    s(target),
                    flag_names(*flags)
                )?;
                if let Some(d) = data {
                    write!(f, " [{}]", s(d))?;
                }
                Ok(())
            }
            MountStep::ReadOnly { target } => write!(f, "make read-only (recursive) {}", s(target)),
            MountStep::Mkdir { path, mode } => write!(f, "mkdir {} mode {mode:o}", s(path)),
            MountStep::Touch { path } => write!(f, "create file {}", s(path)),
            MountStep::Symlink { target, link } => {
                write!(f, "symlink {} -> {}", s(link), s(target))
            }
            MountStep::AttachTree { fd, target } => {
                write!(f, "attach detached tree (fd {fd}) on {}", s(target))
            }
            MountStep::PivotRoot { new_root } => write!(f, "pivot_root into {}", s(new_root)),
            MountStep::SetHostname { name } => write!(f, "sethostname {}", s(name)),
            MountStep::LoopbackUp => write!(f, "bring loopback up"),
            MountStep::Chdir { path } => write!(f, "chdir {}", s(path)),
            MountStep::BecomeRoot { setgroups } => write!(
                f,
                "become root of the user namespace{}",
                if *setgroups {
                    ""
                } else {
                    " (setgroups denied)"
                }
            ),
        }
    }
}

impl MountStep {
    /// Runs the step. Async-signal-safe: only syscalls on prepared strings.
    fn run(&self) -> Result<(), Errno> {
        match self {
            MountStep::Propagation { target, flags } => {
                sys::mount(None, target, None, *flags, None)
            }
            MountStep::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => sys::mount(
                source.as_deref(),
                target,
                fstype.as_deref(),
                *flags,
                data.as_deref(),
            ),
            MountStep::ReadOnly { target } => {
                sys::mount_setattr(libc::AT_FDCWD, target, sys::MOUNT_ATTR_RDONLY, 0)
            }
            MountStep::Mkdir { path, mode } => sys::mkdir(path, *mode),
            MountStep::Touch { path } => sys::touch(path),
            MountStep::Symlink { target, link } => sys::symlink(target, link),
            MountStep::AttachTree { fd, target } => sys::attach_tree(*fd, target),
            MountStep::PivotRoot { new_root } => {
                // runc's sequence: the old root is reached through a descriptor,
                // since "." after pivot_root(".", ".") need not name it for
                // every syscall.
                let old = sys::open(
                    c"/",
                    libc::O_DIRECTORY | libc::O_RDONLY | libc::O_CLOEXEC,
                    0,
                )?;
                let result = (|| {
                    sys::chdir(new_root)?;
                    sys::pivot_root(c".", c".")?;
                    sys::fchdir(old)?;
                    // A slave first, so unmounting the old root does not
                    // propagate to its peers (the VM's shared /mnt/wsl).
                    sys::mount(None, c".", None, libc::MS_SLAVE | libc::MS_REC, None)?;
                    sys::umount2(c".", libc::MNT_DETACH)?;
                    sys::chdir(c"/")
                })();
                sys::close(old);
                result
            }
            MountStep::SetHostname { name } => sys::sethostname(name.as_bytes()),
            MountStep::LoopbackUp => sys::loopback_up(),
            MountStep::Chdir { path } => sys::chdir(path),
            MountStep::BecomeRoot { setgroups } => sys::become_root(*setgroups),
        }
    }
}

/// Runs the steps in order; on failure returns the index of the failed step
/// and the error number. Async-signal-safe.
pub fn execute(steps: &[MountStep]) -> Result<(), (usize, Errno)> {
    for (i, step) in steps.iter().enumerate() {
        step.run().map_err(|e| (i, e))?;
    }
    Ok(())
}

pub(crate) fn cstring(what: &str, bytes: impl Into<Vec<u8>>) -> Result<CString, VmError> {
    CString::new(bytes).map_err(|_| VmError::InvalidArgument(format!("{what} contains a NUL byte")))
}

fn cpath(p: &Path) -> Result<CString, VmError> {
    cstring(&format!("path {}", p.display()), p.as_os_str().as_bytes())
}

/// How a top-level directory of the host that holds system files looks
/// (Debian 12 is merged-/usr: `/bin` is a symlink to `usr/bin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEntry {
    /// A symlink with this target.
    Symlink(PathBuf),
    /// A real directory.
    Dir,
}

/// The parts of the host's root the VM reuses, probed once in the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLayout {
    /// `("bin", …)`, `("lib64", …)`, … for those that exist.
    pub entries: Vec<(String, HostEntry)>,
}

/// Top-level entries that hold binaries and libraries on some distribution.
const SYSTEM_DIRS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// Device nodes bound from the host (or, in a distribution, from the VM).
pub const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

impl HostLayout {
    /// Looks at the host's `/bin`, `/sbin`, `/lib*`.
    pub fn probe() -> HostLayout {
        let mut entries = Vec::new();
        for name in SYSTEM_DIRS {
            let path = Path::new("/").join(name);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(&path) {
                        entries.push((name.to_string(), HostEntry::Symlink(target)));
                    }
                }
                Ok(m) if m.is_dir() => entries.push((name.to_string(), HostEntry::Dir)),
                _ => {}
            }
        }
        HostLayout { entries }
    }
}

struct Builder {
    steps: Vec<MountStep>,
}

impl Builder {
    fn mkdir(&mut self, path: &Path, mode: u32) -> Result<(), VmError> {
        self.steps.push(MountStep::Mkdir {
            path: cpath(path)?,
            mode,
        });
        Ok(())
    }

    fn mount(
        &mut self,
        source: Option<&str>,
        target: &Path,
        fstype: Option<&str>,
        flags: c_ulong,
        data: Option<&str>,
    ) -> Result<(), VmError> {
        let opt = |v: Option<&str>| v.map(|v| cstring(v, v)).transpose();
        self.steps.push(MountStep::Mount {
            source: opt(source)?,
            target: cpath(target)?,
            fstype: opt(fstype)?,
            flags,
            data: opt(data)?,
        });
        Ok(())
    }

    fn bind(&mut self, source: &Path, target: &Path, read_only: bool) -> Result<(), VmError> {
        self.steps.push(MountStep::Mount {
            source: Some(cpath(source)?),
            target: cpath(target)?,
            fstype: None,
            flags: libc::MS_BIND | libc::MS_REC,
            data: None,
        });
        if read_only {
            self.steps.push(MountStep::ReadOnly {
                target: cpath(target)?,
            });
        }
        Ok(())
    }

    fn propagation(&mut self, target: &Path, flags: c_ulong) -> Result<(), VmError> {
        self.steps.push(MountStep::Propagation {
            target: cpath(target)?,
            flags,
        });
        Ok(())
    }

    fn symlink(&mut self, target: &str, link: &Path) -> Result<(), VmError> {
        self.steps.push(MountStep::Symlink {
            target: cstring(target, target)?,
            link: cpath(link)?,
        });
        Ok(())
    }

    /// `/proc`, `/dev` (the minimal set), `/tmp` under `root`; `dev_source`
    /// is where the device nodes to bind come from; `/tmp`, `/run` and
    /// `/dev/shm` get `size=tmpfs_size` when given.
    fn common(
        &mut self,
        root: &Path,
        dev_source: &Path,
        tmpfs_size: Option<&str>,
        tty_group: bool,
    ) -> Result<(), VmError> {
        let sized = |opts: &str| match tmpfs_size {
            Some(size) => format!("{opts},size={size}"),
            None => opts.to_string(),
        };
        let nosuid_nodev_noexec = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        let proc = root.join("proc");
        self.mkdir(&proc, 0o555)?;
        self.mount(Some("proc"), &proc, Some("proc"), nosuid_nodev_noexec, None)?;

        let dev = root.join("dev");
        self.mkdir(&dev, 0o755)?;
        self.mount(
            Some("tmpfs"),
            &dev,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            Some("mode=755,size=64k"),
        )?;
        for name in DEVICES {
            let node = dev.join(name);
            self.steps.push(MountStep::Touch {
                path: cpath(&node)?,
            });
            self.bind(&dev_source.join(name), &node, false)?;
        }
        let pts = dev.join("pts");
        self.mkdir(&pts, 0o755)?;
        self.mount(
            Some("devpts"),
            &pts,
            Some("devpts"),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            Some(if tty_group {
                "newinstance,ptmxmode=0666,mode=0620,gid=5"
            } else {
                "newinstance,ptmxmode=0666,mode=0620"
            }),
        )?;
        self.symlink("pts/ptmx", &dev.join("ptmx"))?;
        let shm = dev.join("shm");
        self.mkdir(&shm, 0o1777)?;
        self.mount(
            Some("shm"),
            &shm,
            Some("tmpfs"),
            nosuid_nodev_noexec,
            Some(&sized("mode=1777")),
        )?;
        self.symlink("/proc/self/fd", &dev.join("fd"))?;
        self.symlink("/proc/self/fd/0", &dev.join("stdin"))?;
        self.symlink("/proc/self/fd/1", &dev.join("stdout"))?;
        self.symlink("/proc/self/fd/2", &dev.join("stderr"))?;

        let tmp = root.join("tmp");
        self.mkdir(&tmp, 0o1777)?;
        self.mount(
            Some("tmpfs"),
            &tmp,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(&sized("mode=1777")),
        )?;
        let run = root.join("run");
        self.mkdir(&run, 0o755)?;
        self.mount(
            Some("tmpfs"),
            &run,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(&sized("mode=755")),
        )?;
        Ok(())
    }
}

/// What a plan depends on besides paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// `size=` of the tmpfs on `/tmp`, `/run` and `/dev/shm`, in tmpfs's
    /// syntax (bytes with an optional k, m or g, or a percentage of RAM);
    /// `None` leaves the kernel's default (half of RAM).
    pub tmpfs_size: Option<String>,
    /// setgroups(2) is allowed in the VM's user namespace.
    pub setgroups: bool,
    /// The VM stays in the host's network namespace (networking_mode
    /// mirrored): `/sys` is the host's (a fresh sysfs needs a network
    /// namespace of the VM's own user namespace) and `lo` is the host's.
    pub host_network: bool,
    /// Gid 5 (`tty`) exists in the VM, so terminals are given to it. A
    /// per-user VM with only root inside lacks it (SPEC §10).
    pub tty_group: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            tmpfs_size: None,
            setgroups: true,
            host_network: false,
            tty_group: true,
        }
    }
}

impl PlanOptions {
    /// The size, refused when it could carry other mount options (the kernel
    /// judges the rest; the settings file checks the syntax for the user).
    fn tmpfs_size(&self) -> Result<Option<&str>, VmError> {
        match self.tmpfs_size.as_deref() {
            Some(s) if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'%') => {
                Err(VmError::InvalidArgument(format!(
                    "tmpfs size {s:?}: give bytes with an optional k, m or g, or a percentage of RAM such as 25%"
                )))
            }
            other => Ok(other),
        }
    }
}

/// The plan that turns a fresh mount namespace into the VM's root: a tmpfs on
/// `staging` (a host directory, covered only inside the new namespace) with
/// the host's `/usr` read-only, `/bin` & co. as the host has them, `/proc`,
/// read-only `/sys`, a minimal `/dev`, `/tmp`, `/run`; then pivot_root into it.
///
/// The init runs it in a new user namespace, still with the host ids it was
/// cloned with, which reach `staging` whatever the modes of the directories
/// above it (`$WSLP_ROOT` may be 0700). So the tmpfs is mounted there first,
/// owned by root of the namespace (`uid=0,gid=0` are read inside it), the
/// init moves into it and becomes root of the namespace; every later step
/// works relative to it.
pub fn vm_plan(
    layout: &HostLayout,
    staging: &Path,
    hostname: &str,
    opts: &PlanOptions,
) -> Result<Vec<MountStep>, VmError> {
    let tmpfs_size = opts.tmpfs_size()?;
    let mut b = Builder { steps: Vec::new() };
    b.propagation(Path::new("/"), libc::MS_REC | libc::MS_PRIVATE)?;
    b.mount(
        Some("tmpfs"),
        staging,
        Some("tmpfs"),
        libc::MS_NOSUID,
        Some("mode=755,uid=0,gid=0"),
    )?;
    b.steps.push(MountStep::Chdir {
        path: cpath(staging)?,
    });
    b.steps.push(MountStep::BecomeRoot {
        setgroups: opts.setgroups,
    });
    let staging = Path::new(".");
    let usr = staging.join("usr");
    b.mkdir(&usr, 0o755)?;
    b.bind(Path::new("/usr"), &usr, true)?;
    for (name, entry) in &layout.entries {
        let at = staging.join(name);
        match entry {
            HostEntry::Symlink(target) => {
                let t = target.to_string_lossy();
                b.symlink(&t, &at)?
            }
            HostEntry::Dir => {
                b.mkdir(&at, 0o755)?;
                b.bind(&Path::new("/").join(name), &at, true)?;
            }
        }
    }
    let sys_dir = staging.join("sys");
    b.mkdir(&sys_dir, 0o555)?;
    if opts.host_network {
        b.bind(Path::new("/sys"), &sys_dir, true)?;
    } else {
        // A fresh sysfs shows the VM's own network namespace.
        b.mount(
            Some("sysfs"),
            &sys_dir,
            Some("sysfs"),
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        )?;
    }
    b.common(staging, Path::new("/dev"), tmpfs_size, opts.tty_group)?;
    for (dir, mode) in [
        ("etc", 0o755),
        ("mnt", 0o755),
        ("root", 0o700),
        ("var", 0o755),
    ] {
        b.mkdir(&staging.join(dir), mode)?;
    }
    // WSL's /mnt/wsl: a tmpfs whose mounts show in every distribution
    // (plugins and `wsl --mount` rely on it). Its peer group lives only in the
    // VM's and the distributions' mount namespaces.
    let wsl = staging.join(SHARED_MNT.trim_start_matches('/'));
    b.mkdir(&wsl, 0o755)?;
    b.mount(
        Some("tmpfs"),
        &wsl,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("mode=755"),
    )?;
    b.propagation(&wsl, libc::MS_SHARED)?;
    b.steps.push(MountStep::PivotRoot {
        new_root: cpath(staging)?,
    });
    b.steps.push(MountStep::SetHostname {
        name: cstring("hostname", hostname)?,
    });
    if !opts.host_network {
        b.steps.push(MountStep::LoopbackUp);
    }
    Ok(b.steps)
}

/// The VM directory shared with every distribution, as WSL's `/mnt/wsl`.
pub const SHARED_MNT: &str = "/mnt/wsl";

/// Where a distribution's init attaches the root filesystem before switching to
/// it: a directory of a private tmpfs it mounts on the VM's `/tmp` in its own
/// mount namespace, so the VM's file system is not written to.
pub const DISTRO_STAGING: &str = "/tmp/.wslp-distro-root";

/// The plan run by a distribution's init, in a copy of the VM's mount
/// namespace: attach the rootfs tree (`rootfs_fd`, from open_tree in the
/// caller's namespace), give it `/proc`, read-only `/sys`, a minimal `/dev`,
/// `/tmp`, `/run`, then pivot_root into it.
pub fn distro_plan(
    rootfs_fd: RawFd,
    hostname: &str,
    opts: &PlanOptions,
) -> Result<Vec<MountStep>, VmError> {
    let tmpfs_size = opts.tmpfs_size()?;
    let mut b = Builder { steps: Vec::new() };
    // Not recursive: the copy of the VM's /mnt/wsl must stay in its peer group.
    // Everything else the VM made private; these two are what pivot_root and
    // the staging mount need, even if someone in the VM changed them.
    b.propagation(Path::new("/"), libc::MS_PRIVATE)?;
    b.propagation(Path::new("/tmp"), libc::MS_PRIVATE)?;
    b.mount(
        Some("tmpfs"),
        Path::new("/tmp"),
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("mode=700,size=16k"),
    )?;
    let root = Path::new(DISTRO_STAGING);
    b.mkdir(root, 0o755)?;
    b.steps.push(MountStep::AttachTree {
        fd: rootfs_fd,
        target: cpath(root)?,
    });
    // The clone shares the host mount's peer group when that one is shared;
    // mounts made below must not propagate back to the host.
    b.propagation(root, libc::MS_REC | libc::MS_PRIVATE)?;
    let sys_dir = root.join("sys");
    b.mkdir(&sys_dir, 0o555)?;
    b.bind(Path::new("/sys"), &sys_dir, true)?;
    b.common(root, Path::new("/dev"), tmpfs_size, opts.tty_group)?;
    // A bind of the shared /mnt/wsl joins its peer group: mounts below it, made
    // in the VM or in any distribution, show everywhere.
    let wsl = root.join(SHARED_MNT.trim_start_matches('/'));
    b.mkdir(&root.join("mnt"), 0o755)?;
    b.mkdir(&wsl, 0o755)?;
    b.bind(Path::new(SHARED_MNT), &wsl, false)?;
    b.steps.push(MountStep::PivotRoot {
        new_root: cpath(root)?,
    });
    b.steps.push(MountStep::SetHostname {
        name: cstring("hostname", hostname)?,
    });
    Ok(b.steps)
}

/// The text of a plan, one step a line (for `--debug`).
pub fn describe(steps: &[MountStep]) -> String {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{i:3}: {s}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged_usr() -> HostLayout {
        HostLayout {
            entries: vec![
                ("bin".into(), HostEntry::Symlink("usr/bin".into())),
                ("lib64".into(), HostEntry::Symlink("usr/lib64".into())),
                ("sbin".into(), HostEntry::Dir),
            ],
        }
    }

    #[test]
    fn vm_plan_makes_private_first_and_pivots_last_before_host_settings() {
        let plan = vm_plan(
            &merged_usr(),
            Path::new("/state/vm"),
            "wslp",
            &PlanOptions::default(),
        )
        .unwrap();
        assert_eq!(
            plan[0],
            MountStep::Propagation {
                target: c"/".into(),
                flags: libc::MS_REC | libc::MS_PRIVATE
            }
        );
        let pivot = plan
            .iter()
            .position(|s| matches!(s, MountStep::PivotRoot { .. }))
            .unwrap();
        assert_eq!(
            plan[pivot],
            MountStep::PivotRoot {
                new_root: c".".into()
            }
        );
        assert_eq!(
            &plan[pivot + 1..],
            &[
                MountStep::SetHostname {
                    name: c"wslp".into()
                },
                MountStep::LoopbackUp
            ]
        );
        // The tmpfs goes on the staging directory, the init moves into it
        // and becomes root of the user namespace; every later step is
        // relative to it (the host's tree stays untouched).
        assert!(
            matches!(&plan[1], MountStep::Mount { target, fstype: Some(t), data: Some(d), .. }
            if target.as_c_str() == c"/state/vm" && t.as_c_str() == c"tmpfs"
                && d.to_str().unwrap().contains("uid=0,gid=0"))
        );
        assert_eq!(
            plan[2],
            MountStep::Chdir {
                path: c"/state/vm".into()
            }
        );
        assert_eq!(plan[3], MountStep::BecomeRoot { setgroups: true });
        for step in &plan[4..pivot] {
            if let MountStep::Mount { target, .. } | MountStep::ReadOnly { target } = step {
                assert!(target.to_str().unwrap().starts_with("./"), "{step}");
            }
        }
    }

    #[test]
    fn vm_plan_mirrors_the_host_layout() {
        let plan = vm_plan(&merged_usr(), Path::new("/r"), "h", &PlanOptions::default()).unwrap();
        assert!(plan.contains(&MountStep::Symlink {
            target: c"usr/bin".into(),
            link: c"./bin".into()
        }));
        assert!(plan.contains(&MountStep::Symlink {
            target: c"usr/lib64".into(),
            link: c"./lib64".into()
        }));
        // A real directory on the host becomes a read-only bind.
        let bind = plan
            .iter()
            .position(|s| {
                matches!(s, MountStep::Mount { source: Some(src), target, .. }
                if src.as_c_str() == c"/sbin" && target.as_c_str() == c"./sbin")
            })
            .unwrap();
        assert_eq!(
            plan[bind + 1],
            MountStep::ReadOnly {
                target: c"./sbin".into()
            }
        );
        // /usr is read-only.
        let usr = plan
            .iter()
            .position(
                |s| matches!(s, MountStep::Mount { target, .. } if target.as_c_str() == c"./usr"),
            )
            .unwrap();
        assert_eq!(
            plan[usr + 1],
            MountStep::ReadOnly {
                target: c"./usr".into()
            }
        );
    }

    #[test]
    fn vm_plan_has_minimal_dev_proc_sys_tmp() {
        let plan = vm_plan(&merged_usr(), Path::new("/r"), "h", &PlanOptions::default()).unwrap();
        let mounted = |path: &CStr, fs: &CStr| {
            plan.iter().any(|s| {
                matches!(s, MountStep::Mount { target, fstype: Some(t), .. }
                if target.as_c_str() == path && t.as_c_str() == fs)
            })
        };
        assert!(mounted(c"/r", c"tmpfs"));
        assert!(mounted(c"./tmp", c"tmpfs"));
        assert!(mounted(c"./proc", c"proc"));
        assert!(mounted(c"./sys", c"sysfs"));
        assert!(mounted(c"./dev", c"tmpfs"));
        assert!(mounted(c"./dev/pts", c"devpts"));
        assert!(mounted(c"./dev/shm", c"tmpfs"));
        assert!(mounted(c"./tmp", c"tmpfs"));
        assert!(mounted(c"./run", c"tmpfs"));
        for dev in DEVICES {
            let src = CString::new(format!("/dev/{dev}")).unwrap();
            let dst = CString::new(format!("./dev/{dev}")).unwrap();
            assert!(plan.iter().any(
                |s| matches!(s, MountStep::Mount { source: Some(a), target, flags, .. }
                if *a == src && *target == dst && flags & libc::MS_BIND != 0)
            ));
        }
        let sys = plan
            .iter()
            .find(|s| matches!(s, MountStep::Mount { target, .. } if target.as_c_str() == c"./sys"))
            .unwrap();
        assert!(matches!(sys, MountStep::Mount { flags, .. } if flags & libc::MS_RDONLY != 0));
        let devpts = plan
            .iter()
            .find(|s| matches!(s, MountStep::Mount { target, .. } if target.as_c_str() == c"./dev/pts"))
            .unwrap();
        assert!(devpts.to_string().contains("newinstance"));
    }

    #[test]
    fn distro_plan_attaches_then_privatises_then_pivots() {
        let plan = distro_plan(7, "box", &PlanOptions::default()).unwrap();
        let attach = plan
            .iter()
            .position(|s| matches!(s, MountStep::AttachTree { fd: 7, .. }))
            .unwrap();
        assert_eq!(
            plan[attach + 1],
            MountStep::Propagation {
                target: CString::new(DISTRO_STAGING).unwrap(),
                flags: libc::MS_REC | libc::MS_PRIVATE
            }
        );
        // Nothing makes the whole tree private: that would cut /mnt/wsl off.
        assert!(!plan
            .iter()
            .any(|s| matches!(s, MountStep::Propagation { target, flags }
            if target.as_c_str() == c"/" && flags & libc::MS_REC != 0)));
        assert!(matches!(plan[plan.len() - 2], MountStep::PivotRoot { .. }));
        assert_eq!(
            plan[plan.len() - 1],
            MountStep::SetHostname {
                name: c"box".into()
            }
        );
        // No loopback step: a distribution shares the VM's network namespace.
        assert!(!plan.contains(&MountStep::LoopbackUp));
    }

    #[test]
    fn mnt_wsl_is_shared_in_the_vm_and_bound_into_distributions() {
        let vm = vm_plan(&merged_usr(), Path::new("/r"), "h", &PlanOptions::default()).unwrap();
        let mount = vm
            .iter()
            .position(|s| matches!(s, MountStep::Mount { target, .. } if target.as_c_str() == c"./mnt/wsl"))
            .unwrap();
        assert_eq!(
            vm[mount + 1],
            MountStep::Propagation {
                target: c"./mnt/wsl".into(),
                flags: libc::MS_SHARED
            }
        );
        let distro = distro_plan(3, "h", &PlanOptions::default()).unwrap();
        let target = CString::new(format!("{DISTRO_STAGING}/mnt/wsl")).unwrap();
        assert!(distro.iter().any(
            |s| matches!(s, MountStep::Mount { source: Some(src), target: t, flags, .. }
            if src.as_c_str() == c"/mnt/wsl" && *t == target && flags & libc::MS_BIND != 0)
        ));
    }

    #[test]
    fn a_vm_in_the_host_network_binds_the_host_sys_and_leaves_lo_alone() {
        let opts = PlanOptions {
            host_network: true,
            ..PlanOptions::default()
        };
        let plan = vm_plan(&merged_usr(), Path::new("/r"), "h", &opts).unwrap();
        assert!(!plan.contains(&MountStep::LoopbackUp));
        assert!(!plan.iter().any(
            |s| matches!(s, MountStep::Mount { fstype: Some(t), .. } if t.as_c_str() == c"sysfs")
        ));
        let sys = plan
            .iter()
            .position(|s| {
                matches!(s, MountStep::Mount { source: Some(src), flags, .. }
                if src.as_c_str() == c"/sys" && flags & libc::MS_BIND != 0)
            })
            .unwrap();
        assert!(matches!(plan[sys + 1], MountStep::ReadOnly { .. }));
    }

    #[test]
    fn tmpfs_sizes_go_on_tmp_run_and_shm_and_are_checked() {
        let opts = PlanOptions {
            tmpfs_size: Some("25%".into()),
            setgroups: true,
            host_network: false,
            tty_group: true,
        };
        for plan in [
            vm_plan(&merged_usr(), Path::new("/r"), "h", &opts).unwrap(),
            distro_plan(3, "h", &opts).unwrap(),
        ] {
            let sized: Vec<String> = plan
                .iter()
                .filter_map(|s| match s {
                    MountStep::Mount {
                        target,
                        data: Some(d),
                        ..
                    } if d.to_str().unwrap().contains("size=25%") => Some(
                        target
                            .to_str()
                            .unwrap()
                            .rsplit('/')
                            .next()
                            .unwrap()
                            .to_string(),
                    ),
                    _ => None,
                })
                .collect();
            assert_eq!(sized, ["shm", "tmp", "run"], "{}", describe(&plan));
        }
        for bad in ["", "1,mode=777", "-1", "1 g", "1\0"] {
            let opts = PlanOptions {
                tmpfs_size: Some(bad.into()),
                setgroups: true,
                host_network: false,
                tty_group: true,
            };
            assert!(matches!(
                distro_plan(3, "h", &opts),
                Err(VmError::InvalidArgument(_))
            ));
        }
    }

    #[test]
    fn nul_bytes_are_invalid_arguments() {
        let err = vm_plan(
            &merged_usr(),
            Path::new("/r"),
            "a\0b",
            &PlanOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, VmError::InvalidArgument(_)));
    }

    #[test]
    fn describe_numbers_every_step() {
        let plan = distro_plan(3, "h", &PlanOptions::default()).unwrap();
        let text = describe(&plan);
        assert_eq!(text.lines().count(), plan.len());
        assert!(text.contains("pivot_root into /tmp/.wslp-distro-root"));
    }
}
