//! `wslp trust add CERT.pem | list | remove FINGERPRINT`: the certificates
//! whose signatures (and whose CAs' leaves' signatures) plugins may carry.
//! Changes are root-only, as HKLM is administrators-only.

use std::path::PathBuf;

use clap::Subcommand;
use wslp_trust::TrustStore;

use super::verify::{print_signer, report, wslp_root};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Trust a signing certificate or a CA (root only).
    Add {
        #[arg(value_name = "CERT.pem")]
        cert: PathBuf,
    },
    /// List trusted certificates: fingerprint, subject, end of validity.
    List,
    /// Stop trusting the certificate with this SHA-256 fingerprint (root only).
    Remove { fingerprint: String },
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let store = TrustStore::open(&wslp_trust::trust_dir(&wslp_root()));
    match args.cmd {
        Cmd::Add { cert } => match store.add(&cert) {
            Ok(s) => {
                println!("Trusted {}", cert.display());
                print_signer(&s);
                Ok(0)
            }
            Err(e) => Ok(report(Some(&cert), &e)),
        },
        Cmd::List => match store.list() {
            Ok(list) => {
                for s in list {
                    println!(
                        "{}  {}  (valid until {})",
                        s.fingerprint_sha256, s.subject, s.not_after
                    );
                }
                Ok(0)
            }
            Err(e) => Ok(report(None, &e)),
        },
        Cmd::Remove { fingerprint } => match store.remove(&fingerprint) {
            Ok(()) => {
                println!("No longer trusted: {fingerprint}");
                Ok(0)
            }
            Err(e) => Ok(report(None, &e)),
        },
    }
}
