//! Fuzz target: see `bodies::plugin_host_frame`.
#![no_main]
#[path = "bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::plugin_host_frame(data));
