//! Where one wslp instance keeps its files, and what it is configured with.
//!
//! Every wslp program reads these: the service at start-up, the CLI for
//! `wslp plugin …`, the plugin manager when it loads the registry. Nothing
//! here starts a process or talks to one.
//!
//! - [`paths`]: the layout under `$WSLP_ROOT`;
//! - [`settings`]: `wslp.toml`, the service's settings (SPEC §2, §8, §9),
//!   with the networking types in [`network`];
//! - [`registry`]: `plugins.toml`, the plugin registry (SPEC §2);
//! - [`fs`]: the one atomic file replacement every writer of state uses.

#![deny(unsafe_code)]

mod error;
pub mod fs;
pub mod network;
pub mod paths;
pub mod registry;
pub mod settings;
mod toml_util;

pub use error::ConfigError;
pub use fs::write_atomic;
pub use network::{Ipv4Cidr, NatBackend, NetworkingMode};
pub use paths::{in_initial_user_namespace, is_host_root, InstanceKind, Paths};
pub use registry::{add_registry_entry, read_registry, remove_registry_entry, RegistryEntry};
pub use settings::Settings;
