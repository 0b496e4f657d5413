//! `wslp sign --key KEY.pem --cert CERT.pem PLUGIN.so`: append (or replace)
//! the plugin's signature, in place and atomically.

use std::path::PathBuf;

use super::verify::{print_signer, report};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The signer's private key (PEM).
    #[arg(long, value_name = "KEY.pem")]
    pub key: PathBuf,
    /// The signer's code-signing certificate (PEM); further certificates in
    /// the file (intermediate CAs) go into the signature.
    #[arg(long, value_name = "CERT.pem")]
    pub cert: PathBuf,
    /// The plugin to sign.
    #[arg(value_name = "PLUGIN.so")]
    pub plugin: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    match wslp_trust::sign_file(&args.plugin, &args.key, &args.cert) {
        Ok(s) => {
            println!("Signed {}", args.plugin.display());
            print_signer(&s);
            Ok(0)
        }
        Err(e) => Ok(report(Some(&args.plugin), &e)),
    }
}
