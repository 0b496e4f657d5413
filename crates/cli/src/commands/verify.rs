//! `wslp verify PLUGIN.so`: is the plugin signed by someone the trust store
//! (`$WSLP_ROOT/trust`) vouches for? Exit 0 and the signer when it is; a
//! distinct exit code per failure otherwise (docs/signing.md lists them).

use std::path::{Path, PathBuf};

use wslp_abi::hresult_name;
use wslp_trust::{exit, Signer, TrustError};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The plugin file to check, exactly as the service would load it.
    pub plugin: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let bytes = match std::fs::read(&args.plugin) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("Cannot read {}: {e}", args.plugin.display());
            let code = match e.kind() {
                std::io::ErrorKind::NotFound => wslp_abi::hresult::hresult_from_win32(
                    wslp_abi::hresult::win32::ERROR_FILE_NOT_FOUND,
                ),
                std::io::ErrorKind::PermissionDenied => wslp_abi::hresult::E_ACCESSDENIED,
                _ => wslp_abi::hresult::E_FAIL,
            };
            eprintln!("Error code: {}", hresult_name(code));
            return Ok(exit::OTHER);
        }
    };
    let trust = wslp_trust::trust_dir(&wslp_root());
    match wslp_trust::verify(&bytes, &trust) {
        Ok(s) => {
            println!("{}: signed and trusted", args.plugin.display());
            print_signer(&s);
            Ok(exit::OK)
        }
        Err(e) => Ok(report(Some(&args.plugin), &e)),
    }
}

/// `$WSLP_ROOT`, or the caller's default instance (SPEC §2, §10).
pub(crate) fn wslp_root() -> PathBuf {
    crate::session::paths().root
}

pub(crate) fn print_signer(s: &Signer) {
    println!("Subject: {}", s.subject);
    println!("SHA-256 fingerprint: {}", s.fingerprint_sha256);
    println!("Valid until: {}", s.not_after);
}

/// Two lines on stderr, WSL's way: what went wrong, then the HRESULT name;
/// returns the documented exit code.
pub(crate) fn report(subject: Option<&Path>, e: &TrustError) -> i32 {
    let mut text = match subject {
        Some(p) => format!("{}: {e}", p.display()),
        None => e.to_string(),
    };
    // Causes the message does not already spell out.
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let cause = s.to_string();
        if !text.contains(&cause) {
            text.push_str(&format!(": {cause}"));
        }
        source = s.source();
    }
    eprintln!("{text}");
    eprintln!("Error code: Wsl/{}", hresult_name(e.hresult()));
    e.exit_code()
}
