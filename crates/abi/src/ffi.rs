//! The ABI's raw-pointer helpers: wide strings as the header's `wchar_t`
//! arrays. The only `unsafe` of the crate.

use crate::types::{libc_wchar, LPCWSTR};

/// Converts a Rust string to a NUL-terminated 32-bit wide string.
pub fn to_wide(s: &str) -> Vec<libc_wchar> {
    s.chars()
        .map(|c| c as libc_wchar)
        .chain(std::iter::once(0))
        .collect()
}

/// Reads a NUL-terminated 32-bit wide string. Invalid code points become U+FFFD.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated `wchar_t` array.
pub unsafe fn from_wide(p: LPCWSTR) -> Option<String> {
    if p.is_null() {
        return None;
    }
    let mut out = String::new();
    let mut i = 0;
    loop {
        // SAFETY: the caller promises a NUL-terminated array; we stop at the NUL.
        let c = unsafe { *p.add(i) };
        if c == 0 {
            break;
        }
        out.push(char::from_u32(c as u32).unwrap_or('\u{FFFD}'));
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_round_trip() {
        let w = to_wide("héllo ✓");
        // SAFETY: `w` is NUL-terminated.
        assert_eq!(unsafe { from_wide(w.as_ptr()) }.as_deref(), Some("héllo ✓"));
        // SAFETY: NULL is allowed.
        assert_eq!(unsafe { from_wide(std::ptr::null()) }, None);
    }
}
