//! `wslp cert new --subject "CN=…" --key KEY.pem --cert CERT.pem`: an ECDSA
//! P-256 key and a code-signing certificate, self-signed or issued by a CA
//! (`--ca-key/--ca-cert`); `--ca` makes a CA that can issue them.

use std::path::PathBuf;

use clap::Subcommand;
use wslp_trust::CertOptions;

use super::verify::{print_signer, report};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Make a new key (mode 0600) and certificate; never overwrites files.
    New(NewArgs),
}

#[derive(clap::Args, Debug)]
pub struct NewArgs {
    /// Distinguished name, e.g. "CN=My Plugin, O=Contoso".
    #[arg(long)]
    pub subject: String,
    /// Where to write the private key (PKCS#8 PEM, mode 0600).
    #[arg(long, value_name = "KEY.pem")]
    pub key: PathBuf,
    /// Where to write the certificate (PEM).
    #[arg(long, value_name = "CERT.pem")]
    pub cert: PathBuf,
    /// Validity in days from now.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Make a CA certificate (to put in the trust store and issue signing certificates from).
    #[arg(long)]
    pub ca: bool,
    /// Issue from this CA key instead of self-signing (with --ca-cert).
    #[arg(long, value_name = "CA-KEY.pem", requires = "ca_cert")]
    pub ca_key: Option<PathBuf>,
    /// The CA certificate to issue from (with --ca-key).
    #[arg(long, value_name = "CA-CERT.pem", requires = "ca_key")]
    pub ca_cert: Option<PathBuf>,
    /// Leave out the code-signing extended key usage (for testing refusals).
    #[arg(long)]
    pub no_code_signing: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    match args.cmd {
        Cmd::New(a) => {
            let opts = CertOptions {
                subject: a.subject,
                days: a.days,
                is_ca: a.ca,
                issuer: a.ca_key.zip(a.ca_cert),
                // A CA issues signing certificates; it does not sign plugins.
                code_signing: !a.ca && !a.no_code_signing,
            };
            match wslp_trust::new_certificate(&opts, &a.key, &a.cert) {
                Ok(s) => {
                    println!("Created {} and {}", a.key.display(), a.cert.display());
                    print_signer(&s);
                    Ok(0)
                }
                Err(e) => Ok(report(None, &e)),
            }
        }
    }
}
