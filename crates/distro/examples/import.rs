//! Imports a tarball into a store, as `wslp --import` does, for trying the
//! importer by hand and timing it:
//!
//! ```text
//! cargo run --release -p wslp-distro --example import -- ROOT NAME DIR TARBALL|-
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use wslp_distro::{DistroStore, ImportSource};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, name, dir, tarball] = args.as_slice() else {
        eprintln!("usage: import ROOT NAME DIR TARBALL|-");
        std::process::exit(2);
    };
    let source = if tarball == "-" {
        ImportSource::Reader(Box::new(std::io::stdin()))
    } else {
        ImportSource::Path(PathBuf::from(tarball))
    };
    let start = Instant::now();
    let result = DistroStore::open(Path::new(root))
        .and_then(|s| s.import(name, Path::new(dir), source, true));
    match result {
        Ok(r) => println!(
            "imported {} {{{}}} into {} in {:.2?}",
            r.name,
            r.id,
            r.rootfs.display(),
            start.elapsed()
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
