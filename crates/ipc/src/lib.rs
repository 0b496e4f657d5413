//! How wslp processes talk to each other.
//!
//! - [`conn`]: the framing of the service socket, descriptor passing
//!   (SCM_RIGHTS) and peer credentials (SO_PEERCRED);
//! - [`protocol`]: the messages between a front end and `wslpd`, one request
//!   enum that every front end uses;
//! - [`client`]: what a front end uses to reach (and start) the service.
//!
//! The service side (`wslp-service`) and every front end (`wslp`, tests,
//! benchmarks) link this crate; it links neither the VM nor the plugin manager.

pub mod client;
pub mod conn;
pub mod protocol;
