//! Where the plugin's own file is, to find configuration shipped beside it.

use std::path::PathBuf;

/// The canonical path of the shared object (or DLL) this code is linked into:
/// the plugin itself.
///
/// On Linux the answer comes from `/proc/self/maps` (what the kernel mapped),
/// so a plugin that wslp loaded through a descriptor (`/proc/self/fd/N`) gets
/// its real path. A plugin loaded from a sealed memfd copy (wslp does that for
/// a file that others than root could change) or whose file was deleted gets
/// `None`: look for configuration at a fixed place as well. Linked into an
/// executable (a test), it is the executable's path. On Windows it is
/// `GetModuleFileNameW` of the DLL.
///
/// ```
/// let me = wslp_sdk::plugin_file().expect("the test binary has a path");
/// assert!(me.is_absolute());
/// ```
pub fn plugin_file() -> Option<PathBuf> {
    let p = imp::containing_file()?;
    Some(std::fs::canonicalize(&p).unwrap_or(p))
}

#[cfg(unix)]
mod imp {
    use std::path::PathBuf;

    /// Any address inside this object; a static's is as good as a function's.
    static MARKER: u8 = 0;

    pub fn containing_file() -> Option<PathBuf> {
        let addr = std::ptr::addr_of!(MARKER) as usize;
        // The kernel's view is authoritative: dladdr returns the name the object
        // was opened by, and a `/proc/self/fd/N` name may since have been closed
        // and reused for another file.
        match std::fs::read("/proc/self/maps") {
            Ok(maps) => super::from_maps(&maps, addr),
            Err(_) => crate::sys::dladdr_file(addr),
        }
    }
}

/// The file mapped at `addr` according to `/proc/self/maps` text; `None` for
/// anonymous mappings, memfds and deleted files.
#[cfg(unix)]
fn from_maps(maps: &[u8], addr: usize) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    for line in maps.split(|&b| b == b'\n') {
        // start-end perms offset dev inode   path (which may contain spaces)
        let mut rest = line;
        let mut fields = Vec::with_capacity(5);
        for _ in 0..5 {
            let trimmed = trim_start(rest);
            let end = trimmed
                .iter()
                .position(|&b| b == b' ')
                .unwrap_or(trimmed.len());
            fields.push(&trimmed[..end]);
            rest = &trimmed[end..];
        }
        let Some((start, end)) = std::str::from_utf8(fields[0])
            .ok()
            .and_then(|r| r.split_once('-'))
        else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        if !(start..end).contains(&addr) {
            continue;
        }
        let path = trim_start(rest);
        if !path.starts_with(b"/") || path.starts_with(b"/memfd:") || path.ends_with(b" (deleted)")
        {
            return None;
        }
        return Some(PathBuf::from(std::ffi::OsStr::from_bytes(path)));
    }
    None
}

#[cfg(unix)]
fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| c == b' ' || c == b'\t').count();
    &b[n..]
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    const MAPS: &[u8] = b"\
55d0a0000000-55d0a0001000 r--p 00000000 08:01 1234                       /usr/bin/cat
7f0000000000-7f0000010000 r-xp 00001000 08:01 5678                       /opt/my plugins/libp.so
7f0000010000-7f0000020000 r-xp 00000000 00:01 42                         /memfd:wslp-plugin (deleted)
7f0000020000-7f0000030000 rw-p 00000000 00:00 0 
7f0000030000-7f0000040000 r-xp 00000000 08:01 99                         /tmp/old.so (deleted)
";

    #[test]
    fn maps_lookup() {
        assert_eq!(
            from_maps(MAPS, 0x7f0000000010),
            Some(PathBuf::from("/opt/my plugins/libp.so"))
        );
        assert_eq!(
            from_maps(MAPS, 0x55d0a0000000),
            Some(PathBuf::from("/usr/bin/cat"))
        );
        assert_eq!(from_maps(MAPS, 0x7f0000010000), None, "memfd");
        assert_eq!(from_maps(MAPS, 0x7f0000020000), None, "anonymous");
        assert_eq!(from_maps(MAPS, 0x7f0000030000), None, "deleted");
        assert_eq!(from_maps(MAPS, 0x1000), None, "unmapped");
        assert_eq!(from_maps(b"garbage\n\n", 0x1000), None);
    }

    #[test]
    fn finds_this_test_binary() {
        let exe = std::env::current_exe().unwrap().canonicalize().unwrap();
        assert_eq!(plugin_file(), Some(exe));
    }
}

#[cfg(windows)]
mod imp {
    pub fn containing_file() -> Option<std::path::PathBuf> {
        crate::sys::module_file()
    }
}
