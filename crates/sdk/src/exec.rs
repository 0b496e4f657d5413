//! Exit statuses for `ExecuteBinary`, which has none in WSL's API.
//!
//! WSL hands back only a socket tied to the program's stdin and stdout. To
//! learn how the program exited, the SDK runs it under `/bin/sh`, which prints
//! a trailer after the program's output:
//!
//! ```text
//! argv:   /bin/sh  -c  SCRIPT  PATH  ARGS...
//! SCRIPT: "$0" "$@"; printf '\n\033]wslp-exit;%d\007' "$?"
//! ```
//!
//! i.e. a newline, then the OSC-style sequence `ESC ] wslp-exit;<status> BEL`.
//! The SDK reads the stream to its end and cuts the trailer off, so `stdout` is
//! exactly what the program wrote. The same bytes go over the socket on WSL
//! and on wslp, so this works on both (the `wslplugins-rs` crate uses the same
//! idea with a different sequence). Only POSIX `sh` and `printf` are needed:
//! `printf` is a shell builtin, octal escapes are POSIX (`\x` is not).
//!
//! What it costs: the program's `argv[0]` is `PATH` (sh cannot set another);
//! a missing program gives status 127 (sh's "not found") rather than an API
//! error; a program killed by a signal gives 128 + the signal number, as sh
//! reports it; and `/bin/sh` must exist where the program runs.

/// The script `sh -c` runs; `$0` is the program, `"$@"` its arguments.
pub const STATUS_SCRIPT: &str = r#""$0" "$@"; printf '\n\033]wslp-exit;%d\007' "$?""#;

/// The shell that runs [`STATUS_SCRIPT`].
pub const SHELL: &str = "/bin/sh";

/// What comes before the status in the trailer.
pub const TRAILER_PREFIX: &[u8] = b"\n\x1b]wslp-exit;";

/// What ends the trailer (BEL).
pub const TRAILER_END: u8 = 0x07;

/// The status digits are at most this long (an `i32`, as `$?` never is negative).
const MAX_DIGITS: usize = 10;

/// The output of a program run with an exit status
/// ([`Api::execute_binary_status`](crate::Api::execute_binary_status)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Everything the program wrote to stdout, trailer removed.
    pub stdout: Vec<u8>,
    /// The exit status as `sh` reports it in `$?`: 0–255, 127 when the program
    /// was not found, 128 + N when signal N killed it.
    pub status: i32,
}

impl Output {
    /// The program exited with status 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// `stdout` as text (invalid UTF-8 replaced), without trailing newlines.
    ///
    /// ```
    /// let out = wslp_sdk::exec::Output { stdout: b"Linux version 6.18\n".to_vec(), status: 0 };
    /// assert_eq!(out.stdout_text(), "Linux version 6.18");
    /// ```
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout)
            .trim_end_matches(['\n', '\r'])
            .to_string()
    }
}

/// The argument vector (`argv[0]` included) that runs `path args...` under
/// `/bin/sh` with the status trailer.
///
/// ```
/// let argv = wslp_sdk::exec::status_argv("/bin/cat", &["/proc/version"]);
/// assert_eq!(argv[0], "/bin/sh");
/// assert_eq!(argv[1], "-c");
/// assert_eq!(&argv[3..], ["/bin/cat", "/proc/version"]);
/// ```
pub fn status_argv(path: &str, args: &[&str]) -> Vec<String> {
    let mut argv = vec![
        SHELL.to_string(),
        "-c".to_string(),
        STATUS_SCRIPT.to_string(),
        path.to_string(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    argv
}

/// The trailer the shell prints for `status` (for tests and for hosts that
/// want to produce it).
pub fn trailer(status: i32) -> Vec<u8> {
    let mut t = TRAILER_PREFIX.to_vec();
    t.extend_from_slice(status.to_string().as_bytes());
    t.push(TRAILER_END);
    t
}

/// Splits the stream's bytes into the program's output and its exit status.
///
/// `None` when the bytes do not end with a well-formed trailer: the shell did
/// not finish (it was killed, or the stream was cut).
///
/// ```
/// use wslp_sdk::exec::split_status;
/// let (out, status) = split_status(b"hello\n\n\x1b]wslp-exit;3\x07").unwrap();
/// assert_eq!(out, b"hello\n");
/// assert_eq!(status, 3);
/// assert!(split_status(b"hello\n").is_none());
/// ```
pub fn split_status(bytes: &[u8]) -> Option<(&[u8], i32)> {
    let body = bytes.strip_suffix(&[TRAILER_END])?;
    // The digits are the last bytes before BEL; the prefix is right before them.
    let digits_len = body.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits_len == 0 || digits_len > MAX_DIGITS {
        return None;
    }
    let (head, digits) = body.split_at(body.len() - digits_len);
    if digits.len() > 1 && digits[0] == b'0' {
        return None; // `printf %d` never writes leading zeros
    }
    let out = head.strip_suffix(TRAILER_PREFIX)?;
    // ASCII digits, so this is valid UTF-8; out-of-range is malformed.
    let status = std::str::from_utf8(digits).ok()?.parse::<i32>().ok()?;
    Some((out, status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn malformed_trailers() {
        assert_eq!(split_status(b""), None);
        assert_eq!(split_status(b"\x07"), None);
        assert_eq!(split_status(b"\n\x1b]wslp-exit;\x07"), None);
        assert_eq!(
            split_status(b"\x1b]wslp-exit;0\x07"),
            None,
            "newline is part of it"
        );
        assert_eq!(split_status(b"\n\x1b]wslp-exit;-1\x07"), None);
        assert_eq!(split_status(b"\n\x1b]wslp-exit;99999999999\x07"), None);
        assert_eq!(split_status(b"\n\x1b]wslp-exit;0\x07x"), None);
        assert_eq!(split_status(b"\n\x1b]wslp-exit;0"), None);
        assert_eq!(split_status(b"\n\x1b]wslp-exit;07\x07"), None);
    }

    #[test]
    fn output_that_looks_like_a_trailer_is_kept() {
        let mut bytes = b"a\n\x1b]wslp-exit;5\x07b".to_vec();
        bytes.extend(trailer(0));
        assert_eq!(
            split_status(&bytes),
            Some((&b"a\n\x1b]wslp-exit;5\x07b"[..], 0))
        );
    }

    /// Runs the script with the real `/bin/sh` and parses what it printed.
    #[cfg(unix)]
    #[test]
    fn real_shell_prints_a_parsable_trailer() {
        let run = |path: &str, args: &[&str]| {
            let argv = status_argv(path, args);
            let out = std::process::Command::new(&argv[0])
                .args(&argv[1..])
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output()
                .expect("running /bin/sh");
            let (stdout, status) = split_status(&out.stdout).expect("trailer");
            (stdout.to_vec(), status)
        };
        assert_eq!(run("/bin/echo", &["a b", "c"]), (b"a b c\n".to_vec(), 0));
        assert_eq!(
            run("/bin/sh", &["-c", "printf x; exit 7"]),
            (b"x".to_vec(), 7)
        );
        assert_eq!(run("/nonexistent/program", &[]), (Vec::new(), 127));
        assert_eq!(run("/bin/sh", &["-c", "kill -9 $$"]), (Vec::new(), 137));
        // Arguments reach the program verbatim: no word splitting, no globbing.
        assert_eq!(
            run(
                "/bin/sh",
                &["-c", r#"printf '%s|' "$@""#, "sh", "*", "$HOME", "a  b"]
            ),
            (b"*|$HOME|a  b|".to_vec(), 0)
        );
    }

    proptest! {
        #[test]
        fn round_trip(out in proptest::collection::vec(any::<u8>(), 0..200), status in 0i32..=i32::MAX) {
            let mut bytes = out.clone();
            bytes.extend(trailer(status));
            prop_assert_eq!(split_status(&bytes), Some((&out[..], status)));
        }

        #[test]
        fn never_panics_and_is_consistent(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Some((out, status)) = split_status(&bytes) {
                let mut again = out.to_vec();
                again.extend(trailer(status));
                prop_assert_eq!(again, bytes);
            }
        }

        #[test]
        fn embedded_fake_trailers(
            parts in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..20), 0i32..300), 0..5),
            status in 0i32..256,
        ) {
            let mut out = Vec::new();
            for (p, s) in &parts {
                out.extend(p);
                out.extend(trailer(*s));
            }
            let mut bytes = out.clone();
            bytes.extend(trailer(status));
            prop_assert_eq!(split_status(&bytes), Some((&out[..], status)));
        }
    }
}
