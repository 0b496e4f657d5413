//! Entry points for the fuzz targets in `fuzz/` (and their regression tests):
//! the service's decoders of what a plugin host sends. A plugin runs its own
//! code in its host, so every byte of these frames is the plugin's to shape.

/// One frame from a plugin host, as the service reads it: a reply to Load or to
/// a hook, a trace event, or an API call (served; with no VM behind the
/// service here, calls that decode fail as they would before a VM starts).
pub fn plugin_host_frame(frame: &[u8]) {
    let _ = crate::out_of_process::decode_load_done(frame);
    let _ = crate::out_of_process::decode_hook_done(frame);
    if let Some((_, body)) = frame.split_first() {
        let _ = crate::protocol::decode_trace(body);
    }
    let _ = crate::out_of_process::serve_one(frame, "fuzz");
    // The service's own frames, as a plugin host decodes them.
    if let Ok((_, mut d)) = crate::protocol::Dec::new(frame) {
        let _ = crate::protocol::OwnedHook::decode(&mut d);
    }
}
