//! WSLC in a build without the `wslc` feature (wslp-testing's embedded host
//! by default): no session ever exists, and a WSLC request says why. wslpd
//! is always built with the feature.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Instant;

use wslp_ipc::conn::{Conn, Peer};
use wslp_ipc::protocol::WslcRequest;

use crate::failure::Failure;
use crate::instance::Instance;

/// No sessions.
#[derive(Default)]
pub struct Sessions;

impl Sessions {
    pub fn any_vm_running(&self) -> bool {
        false
    }
}

pub fn idle_tick(_inst: &Instance, _now: Instant) -> Option<Instant> {
    None
}

pub fn terminate_all(_inst: &Instance) {}

pub fn serve(
    _inst: &Arc<Instance>,
    _conn: &Conn,
    _peer: Peer,
    _req: WslcRequest,
    _fds: Vec<OwnedFd>,
) -> Result<(), Failure> {
    Err(Failure::service(
        "This wslp service was built without WSLC (the cargo feature `wslc` of wslp-service).",
        "E_NOTIMPL",
    ))
}
