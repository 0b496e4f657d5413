//! `wslp-plugin-host`: runs one WSL plugin on behalf of wslpd (SPEC §8); see
//! [`wslp_host::plugin_host`].

#![deny(unsafe_code)]

fn main() {
    wslp_host::plugin_host::main()
}
