//! Distribution names, checked as WSL checks them.

use crate::DistroError;

/// Longest accepted name. WSL keeps names short enough to serve as a
/// registry key and a folder name; 64 is what we allow and document.
pub const MAX_NAME_LEN: usize = 64;

/// Checks `name` against WSL's rule: one or more of ASCII letters, digits,
/// `.`, `_` and `-`. Names are compared case-insensitively elsewhere, as WSL
/// does, but kept with the case the user gave.
pub fn validate_name(name: &str) -> Result<(), DistroError> {
    let bad = |reason| {
        Err(DistroError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("the name is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("the name is too long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("the name contains a character that is not allowed");
    }
    Ok(())
}

/// Case-insensitive comparison, as WSL compares distribution names.
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_wsl_style_names() {
        for n in [
            "Debian",
            "Ubuntu-24.04",
            "my_distro.2",
            "a",
            &"x".repeat(64),
        ] {
            validate_name(n).unwrap();
        }
    }

    #[test]
    fn rejects_other_characters_with_a_clear_message() {
        for n in [
            "",
            "has space",
            "slash/y",
            "ümlaut",
            "semi;colon",
            &"x".repeat(65),
        ] {
            let e = validate_name(n).unwrap_err().to_string();
            assert!(e.contains("invalid distribution name"), "{e}");
            assert!(e.contains("letters, digits"), "{e}");
        }
    }

    #[test]
    fn names_compare_case_insensitively() {
        assert!(same_name("Debian", "debian"));
        assert!(!same_name("Debian", "Debian2"));
    }
}
