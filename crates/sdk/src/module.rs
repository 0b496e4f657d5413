//! Where the plugin's own file is, to find configuration shipped beside it.

use std::path::PathBuf;

/// The canonical path of the shared object (or DLL) this code is linked into:
/// the plugin itself.
///
/// On wslp a plugin loaded through a descriptor (`/proc/self/fd/N`) still gets
/// its real path here, since the path is canonicalised. A plugin loaded from a
/// sealed memfd copy (wslp does that for a file others than root could
/// change) gets a path that names no file (`/memfd:...`): look for
/// configuration at a fixed place as well. Linked into an executable (a
/// test), it is the executable's path.
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
    use std::ffi::CStr;
    use std::os::unix::ffi::OsStrExt;
    use std::path::PathBuf;

    /// Any address inside this object; a static's is as good as a function's.
    static MARKER: u8 = 0;

    pub fn containing_file() -> Option<PathBuf> {
        // SAFETY: Dl_info is plain data; all-zero is a valid value to overwrite.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: dladdr only reads the address and fills `info`.
        let found = unsafe { libc::dladdr(std::ptr::addr_of!(MARKER).cast(), &mut info) };
        if found == 0 || info.dli_fname.is_null() {
            return None;
        }
        // SAFETY: dladdr returned a NUL-terminated name that lives as long as the object.
        let name = unsafe { CStr::from_ptr(info.dli_fname) };
        Some(PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes())))
    }
}

#[cfg(windows)]
mod imp {
    use std::ffi::c_void;
    use std::os::windows::ffi::OsStringExt;
    use std::path::PathBuf;

    const GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS: u32 = 0x4;
    const GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT: u32 = 0x2;

    #[link(name = "kernel32")]
    extern "system" {
        fn GetModuleHandleExW(flags: u32, name: *const u16, module: *mut *mut c_void) -> i32;
        fn GetModuleFileNameW(module: *mut c_void, filename: *mut u16, size: u32) -> u32;
    }

    static MARKER: u8 = 0;

    pub fn containing_file() -> Option<PathBuf> {
        let mut module: *mut c_void = std::ptr::null_mut();
        // SAFETY: with FROM_ADDRESS the name argument is an address inside the
        // module; UNCHANGED_REFCOUNT means nothing must be released.
        let ok = unsafe {
            GetModuleHandleExW(
                GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS
                    | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                std::ptr::addr_of!(MARKER).cast(),
                &mut module,
            )
        };
        if ok == 0 {
            return None;
        }
        let mut buf = vec![0u16; 32768];
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { GetModuleFileNameW(module, buf.as_mut_ptr(), buf.len() as u32) };
        if n == 0 || n as usize >= buf.len() {
            return None;
        }
        Some(PathBuf::from(std::ffi::OsString::from_wide(
            &buf[..n as usize],
        )))
    }
}
