//! Fuzz target: see `bodies::user_files`.
#![no_main]
#[path = "bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::user_files(data));
