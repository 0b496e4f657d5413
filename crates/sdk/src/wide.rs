//! Wide strings (`LPCWSTR`) to and from Rust strings.
//!
//! A wide string is UTF-32 on Linux (`wchar_t` is 32 bits) and UTF-16 on
//! Windows. Conversion from the host never fails: invalid code points (or
//! unpaired surrogates on Windows) become U+FFFD, since a name with a bad
//! character is still worth logging.

use crate::sys::WCHAR;

/// Encodes `s` as a NUL-terminated wide string for the host.
///
/// Returns `None` when `s` contains a NUL, which the host would read as the end
/// of the string.
///
/// ```
/// let w = wslp_sdk::wide::to_wide("Ubuntu").unwrap();
/// assert_eq!(w.len(), 7); // six characters and the NUL
/// assert_eq!(w.last(), Some(&0));
/// assert!(wslp_sdk::wide::to_wide("a\0b").is_none());
/// ```
pub fn to_wide(s: &str) -> Option<Vec<WCHAR>> {
    if s.contains('\0') {
        return None;
    }
    #[cfg(unix)]
    let mut out: Vec<WCHAR> = s.chars().map(|c| c as WCHAR).collect();
    #[cfg(windows)]
    let mut out: Vec<WCHAR> = s.encode_utf16().collect();
    out.push(0);
    Some(out)
}

/// Decodes wide code units (without the terminating NUL) into a `String`,
/// replacing what is not a valid character with U+FFFD.
///
/// ```
/// let w = wslp_sdk::wide::to_wide("Débian ✓").unwrap();
/// assert_eq!(wslp_sdk::wide::from_wide_units(&w[..w.len() - 1]), "Débian ✓");
/// ```
pub fn from_wide_units(units: &[WCHAR]) -> String {
    #[cfg(unix)]
    {
        units
            .iter()
            .map(|&u| char::from_u32(u as u32).unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    }
    #[cfg(windows)]
    {
        String::from_utf16_lossy(units)
    }
}

pub use crate::sys::from_wide_ptr;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_string() {
        let w = to_wide("").unwrap();
        assert_eq!(w, vec![0]);
        assert_eq!(from_wide_units(&w[..0]), "");
    }

    #[test]
    fn interior_nul_is_refused() {
        assert_eq!(to_wide("a\0b"), None);
    }

    #[cfg(unix)]
    #[test]
    fn wchar_t_is_utf32_on_linux() {
        // One unit per character, astral ones included: no surrogate pairs.
        assert_eq!(to_wide("😀").unwrap(), vec![0x1F600, 0]);
        // A surrogate or an out-of-range value is not a character.
        assert_eq!(
            from_wide_units(&[0x41, 0xD800, 0x110000, -1]),
            "A\u{FFFD}\u{FFFD}\u{FFFD}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn agrees_with_the_abi_crate() {
        let s = "Ubuntu-24.04 ü";
        assert_eq!(to_wide(s).unwrap(), wslp_abi::types::to_wide(s));
    }

    proptest! {
        #[test]
        fn round_trip(s in "[^\u{0}]*") {
            let w = to_wide(&s).unwrap();
            prop_assert_eq!(w.last(), Some(&0));
            prop_assert_eq!(from_wide_units(&w[..w.len() - 1]), s);
        }

        #[test]
        fn any_units_decode_without_panic(units in proptest::collection::vec(any::<WCHAR>(), 0..64)) {
            let s = from_wide_units(&units);
            prop_assert!(s.chars().count() <= units.len());
        }
    }
}
