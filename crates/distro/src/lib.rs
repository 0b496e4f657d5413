//! Distributions on disk: the registry of imported distributions and the safe
//! import of rootfs tarballs.
//!
//! # Layout
//!
//! ```text
//! $WSLP_ROOT/distributions.toml    the registry (below)
//! $WSLP_ROOT/distributions.lock    flock(2) taken by every registry writer
//! DIR/rootfs/                      a distribution's root filesystem
//! DIR/.wslp-import-<hex>/          staging of an import in progress (hidden)
//! ```
//!
//! # Registry format
//!
//! `$WSLP_ROOT/distributions.toml` is TOML, written by wslp (atomically:
//! temporary file, fsync, rename, fsync of the directory) and read by it on
//! every call, so separate processes always agree:
//!
//! ```toml
//! format = 1                                           # format of this file
//! default = "5f0c7a56-7c43-4b8e-9a53-1d2b4e5f6a7b"     # id of the default distribution
//!
//! [[distribution]]                                     # one per distribution, in registration order
//! id = "5f0c7a56-7c43-4b8e-9a53-1d2b4e5f6a7b"          # GUID fixed at import (plugins' distribution Id)
//! name = "Debian"                                      # letters, digits, '.', '_', '-'; unique ignoring case
//! base_path = "/srv/wsl/debian"                        # DIR of `wslp --import NAME DIR TARBALL`
//! default_uid = 0                                      # user that `wslp -d NAME` runs as
//! version = 2                                          # WSL version; only 2 exists here
//! state = "Installed"                                  # the only state ever written (imports are atomic)
//! ```
//!
//! Missing `default_uid`, `version` and `state` take the values shown. A file
//! that does not parse or names duplicates gives an error naming the file and
//! line; a `format` above 1 was written by a newer wslp and is refused.
//!
//! # Import
//!
//! See [`DistroStore::import`]: compression told by magic bytes (plain, gzip,
//! xz, zstd), every member checked, nothing written outside DIR (openat2
//! `RESOLVE_BENEATH`), owners, modes, devices and hard links kept, one
//! `syncfs` at the end, registration after the files are in place.
//! A `kill -9` at any point leaves the registry as it was, and the next
//! import into the same DIR clears the leftovers.
//!
//! Not running as root, owners are not kept and device nodes are skipped
//! (each with a warning); everything else works the same.
//!
//! What the import does not protect against: a tarball is trusted to be the
//! distribution the user wants. Its set-uid binaries and device nodes (a
//! `/dev/sda` node gives raw disk access) are created as the archive says,
//! as WSL's importer does; keeping them away from untrusted users is the job
//! of the runtime that starts the distribution (its own mount and user
//! setup), and of DIR's permissions, not of this crate.
//!
//! Reading a distribution's files ([`read_os_release`], [`lookup_user`])
//! resolves symlinks as if the rootfs were `/` (openat2 `RESOLVE_IN_ROOT`).

#![deny(unsafe_code)]

mod error;
mod export;
mod extract;
mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
mod name;
mod osrelease;
mod passwd;
mod registry;
mod shift;
mod storage;
mod store;
mod wslconf;

pub use error::DistroError;
pub use export::{
    export_tree, tree_size, write_file_atomically, ExportStats, Format as ExportFormat,
};
pub use extract::{read_tarball_member, UnpackStats};
pub use name::{validate_name, MAX_NAME_LEN};
pub use osrelease::{parse_os_release, read_os_release, OsRelease};
pub use passwd::{lookup_uid, lookup_user, UserInfo};
pub use shift::shift_ownership;
pub use storage::{check_chain, secure_dir};
pub use store::{
    DefaultUser, DistroRecord, DistroStore, ExportDest, ImportSource, LOCK_FILE, REGISTRY_FILE,
    ROOTFS_DIR, STAGING_PREFIX,
};
pub use wslconf::{
    parse_distribution_conf, parse_wsl_conf, read_wsl_conf, DistributionConf,
    Problem as WslConfProblem, WslConf, DISTRIBUTION_CONF, WSL_CONF,
};

use std::io::Read;
use std::path::Path;

/// Extracts a tarball (plain, gzip, xz or zstd, told by magic bytes) into the
/// existing empty directory `dest`, with every check [`DistroStore::import`]
/// makes, but without staging or registering anything. Useful for tools
/// and for testing the extractor on untrusted input.
pub fn unpack_tarball(
    source: impl Read + Send + 'static,
    dest: &Path,
) -> Result<UnpackStats, DistroError> {
    use std::os::fd::AsFd;
    let name = "the tarball stream";
    let stream = extract::open_tar_stream(Box::new(source), name)?;
    let fd = fsutil::open_dir(dest).map_err(|e| DistroError::io("open", dest, e))?;
    extract::unpack(stream, fd.as_fd(), name)
}
