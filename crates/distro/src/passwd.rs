//! Users of a distribution, from its own `etc/passwd` and `etc/group` (the
//! counterpart of WSL resolving `-u USER` inside the distribution).

use std::path::Path;

use crate::fsutil::read_in_root;
use crate::DistroError;

/// One user of a distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Groups for `setgroups`: the primary group first, then every group of
    /// `etc/group` that lists the user, as `initgroups(3)` builds the list.
    pub groups: Vec<u32>,
    pub home: String,
    pub shell: String,
}

const MAX_DB: u64 = 16 * 1024 * 1024;

struct PasswdLine<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
    shell: &'a str,
}

fn passwd_lines(text: &str) -> impl Iterator<Item = PasswdLine<'_>> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 7 || f[0].is_empty() || f[0].starts_with(['#', '+', '-']) {
            return None;
        }
        Some(PasswdLine {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
            shell: f[6],
        })
    })
}

fn read_db(rootfs: &Path, rel: &str) -> Result<String, DistroError> {
    match read_in_root(rootfs, rel, MAX_DB) {
        Ok(Some(b)) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Ok(None) => Ok(String::new()),
        Err(e) => Err(DistroError::io("read", rootfs.join(rel), e)),
    }
}

fn build(rootfs: &Path, p: PasswdLine<'_>) -> Result<UserInfo, DistroError> {
    let group = read_db(rootfs, "etc/group")?;
    Ok(UserInfo {
        name: p.name.to_string(),
        uid: p.uid,
        gid: p.gid,
        groups: groups_of(&group, p.name, p.gid),
        home: p.home.to_string(),
        shell: p.shell.to_string(),
    })
}

/// Primary gid first, then supplementary groups listing `user`, no repeats.
pub(crate) fn groups_of(group_text: &str, user: &str, primary: u32) -> Vec<u32> {
    let mut out = vec![primary];
    for l in group_text.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 || f[0].starts_with(['#', '+', '-']) {
            continue;
        }
        let Ok(gid) = f[2].parse::<u32>() else {
            continue;
        };
        if f[3].split(',').any(|m| m.trim() == user) && !out.contains(&gid) {
            out.push(gid);
        }
    }
    out
}

/// Looks `user` up by name, or, when no user has that name and it is a
/// number, by uid (as `wsl -u 1000` works). Files are read inside the rootfs:
/// symlinks in it cannot make us read the host's passwd.
pub fn lookup_user(rootfs: &Path, user: &str) -> Result<UserInfo, DistroError> {
    let passwd = read_db(rootfs, "etc/passwd")?;
    if let Some(p) = passwd_lines(&passwd).find(|p| p.name == user) {
        return build(rootfs, p);
    }
    if let Ok(uid) = user.parse::<u32>() {
        if let Some(p) = passwd_lines(&passwd).find(|p| p.uid == uid) {
            return build(rootfs, p);
        }
    }
    Err(DistroError::UserNotFound {
        user: user.to_string(),
        rootfs: rootfs.to_path_buf(),
    })
}

/// Looks a user up by uid (the first passwd line with it, as getpwuid does).
pub fn lookup_uid(rootfs: &Path, uid: u32) -> Result<UserInfo, DistroError> {
    let passwd = read_db(rootfs, "etc/passwd")?;
    let found = passwd_lines(&passwd).find(|p| p.uid == uid);
    match found {
        Some(p) => build(rootfs, p),
        None => Err(DistroError::UserNotFound {
            user: uid.to_string(),
            rootfs: rootfs.to_path_buf(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\nalice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nsudo:x:27:alice,bob\nalice:x:1000:\nvideo:x:44:bob, alice\nbad:x:zz:alice\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn finds_users_by_name_and_uid() {
        let d = rootfs();
        let a = lookup_user(d.path(), "alice").unwrap();
        assert_eq!(
            a,
            UserInfo {
                name: "alice".into(),
                uid: 1000,
                gid: 1000,
                groups: vec![1000, 27, 44],
                home: "/home/alice".into(),
                shell: "/bin/bash".into()
            }
        );
        assert_eq!(lookup_user(d.path(), "1000").unwrap().name, "alice");
        assert_eq!(lookup_uid(d.path(), 0).unwrap().name, "root");
        assert_eq!(lookup_uid(d.path(), 0).unwrap().groups, vec![0]);
    }

    #[test]
    fn unknown_user_is_a_clear_error() {
        let d = rootfs();
        let e = lookup_user(d.path(), "mallory").unwrap_err().to_string();
        assert!(
            e.contains("user 'mallory' was not found") && e.contains("etc/passwd"),
            "{e}"
        );
        assert!(lookup_uid(d.path(), 4242).is_err());
    }

    #[test]
    fn passwd_symlink_to_the_host_is_not_followed_out() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("etc/passwd")).unwrap();
        // Resolved inside the rootfs: a loop onto itself, so no users at all.
        assert!(matches!(
            lookup_user(d.path(), "root"),
            Err(DistroError::UserNotFound { .. })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_databases_never_panic(p in "\\PC*", g in "\\PC*", user in "[a-z0-9]{0,6}") {
            let _ = passwd_lines(&p).count();
            let _ = groups_of(&g, &user, 0);
        }
    }
}
