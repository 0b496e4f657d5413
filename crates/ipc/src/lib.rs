//! How wslp processes talk to each other.
//!
//! - [`frame`]: the one framing codec of wslp's sockets, with descriptor
//!   passing (SCM_RIGHTS); the service socket and the plugin-host sockets
//!   both use it;
//! - [`conn`]: a service connection (protocol messages in frames) and peer
//!   credentials (SO_PEERCRED);
//! - [`protocol`]: the messages between a front end and `wslpd`, one request
//!   enum that every front end uses;
//! - [`client`]: what a front end uses to reach (and start) the service;
//! - [`trace`]: the events of `wslp plugin trace`, from plugin hosts to the
//!   service and from the service to tracers.
//!
//! The service side (`wslp-service`) and every front end (`wslp`, tests,
//! benchmarks) link this crate; it links neither the VM nor the plugin manager.

#![deny(unsafe_code)]

pub mod client;
pub mod conn;
pub mod frame;
pub mod protocol;
pub mod trace;
