//! The wslpd service: owns the VM, the distributions and the plugins of one
//! `WSLP_ROOT`, and serves the CLI over a Unix socket under that root.
//!
//! - [`protocol`]: the messages, one request enum that every front end uses;
//! - [`conn`]: framing, descriptor passing and peer credentials;
//! - [`instance`]: the VM, distribution and hook state machine and idle policy;
//! - [`server`]: the accept loop and the access policy;
//! - [`daemon`]: start-up (lock, socket, logs);
//! - [`client`]: what a front end uses to reach (and start) the service.

pub mod client;
pub mod conn;
pub mod daemon;
pub mod failure;
pub mod instance;
pub mod paths;
pub mod protocol;
pub mod server;
