//! What each fuzz target does with one input. Shared by the targets and by
//! `tests/tests/fuzz_regressions.rs`, which replays the seed corpora and every
//! input kept in `fuzz/regressions/` on each `cargo test`.
#![allow(dead_code)]

use std::io::Write;
use std::os::unix::net::UnixStream;

/// The service protocol as wslpd reads it from any local user: framing (length
/// prefix, limits) and message decoding, through a real socket.
pub fn service_frame(data: &[u8]) {
    let (mut client, server) = UnixStream::pair().unwrap();
    // Inputs are far below the socket buffer, so this never blocks.
    if client.write_all(data).is_err() {
        return;
    }
    drop(client);
    let conn = wslp_ipc::conn::Conn::new(server);
    while conn.recv::<wslp_ipc::protocol::ClientMessage>().is_ok() {}
}

/// What a plugin host (the plugin's own code) sends the service.
pub fn plugin_host_frame(data: &[u8]) {
    wslp_host::fuzzing::plugin_host_frame(data)
}

/// A rootfs tarball unpacked by --import, over a scratch directory.
pub fn tar_members(data: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    std::fs::create_dir(&root).unwrap();
    let _ = wslp_distro::fuzzing::unpack_tarball_into(data, &root);
    // Nothing may land beside the target directory.
    let beside = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(beside, 1, "the tarball wrote outside its directory");
}

/// The signature appended to a plugin file: split, shape check, verification
/// against an empty trust store, the claimed signer.
pub fn signature(data: &[u8]) {
    if let Ok((_, Some(block))) = wslp_trust::split_signature(data) {
        let _ = wslp_trust::check_signed_data_shape(block);
    }
    let _ = wslp_trust::verify(data, std::path::Path::new("/nonexistent-wslp-trust"));
    let _ = wslp_trust::claimed_signer(data);
}

/// plugins.toml and wslp.toml as the service parses them.
pub fn config_files(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = wslp_config::registry::parse_registry(text, std::path::Path::new("plugins.toml"));
    let _ = wslp_config::settings::Settings::parse(text, std::path::Path::new("wslp.toml"));
}

/// os-release, passwd and group of a distribution.
pub fn user_files(data: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    wslp_distro::fuzzing::parse_user_files(data, dir.path());
}

/// What a target does with one input.
pub type Body = fn(&[u8]);

/// Every target by name (the name of its corpus and regressions directories).
pub const TARGETS: &[(&str, Body)] = &[
    ("service_frame", service_frame),
    ("plugin_host_frame", plugin_host_frame),
    ("tar_members", tar_members),
    ("signature", signature),
    ("config_files", config_files),
    ("user_files", user_files),
];
