//! Fuzz target: see `bodies::service_frame`.
#![no_main]
#[path = "bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::service_frame(data));
