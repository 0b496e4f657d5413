//! The wslpd service: owns the VM, the distributions and the plugins of one
//! `WSLP_ROOT`, and serves the CLI over a Unix socket under that root.
//!
//! - [`instance`]: the VM, distribution and hook state machine and idle policy;
//! - [`server`]: the accept loop and the access policy;
//! - [`tracer`]: `wslp plugin trace`'s stream of plugin calls;
//! - [`daemon`]: start-up (lock, socket, logs);
//! - [`failure`]: what a failed request tells the user;
//! - [`ids`]: which host ids the VM's are, and which a client's command gets;
//! - [`wslc`]: WSLC sessions, their VMs with the container engine, their hooks.
//!
//! How clients reach it (the protocol, framing, the client) is `wslp-ipc`;
//! where its files are and its settings, `wslp-config`.

#![deny(unsafe_code)]

pub mod admission;
pub mod daemon;
pub mod failure;
pub mod ids;
pub mod instance;
pub mod server;
mod sync;
#[allow(unsafe_code)]
mod sys;
pub mod tracer;
pub mod wake;
#[cfg(feature = "wslc")]
pub mod wslc;
#[cfg(not(feature = "wslc"))]
#[path = "wslc_off.rs"]
pub mod wslc;
