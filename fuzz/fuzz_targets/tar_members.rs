//! Fuzz target: see `bodies::tar_members`.
#![no_main]
#[path = "bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::tar_members(data));
