//! `wslp plugin trace` on the service side (SPEC §13): a client that asked to
//! trace gets the events of the plugins it named until it goes away.
//!
//! Who may trace: root, or the user the service runs as (the owner of a
//! per-user instance). Other users could read the arguments of every call of
//! every plugin (paths, command lines, messages), so they may not.
//!
//! The events come from `wslp_host::trace`, through a subscription with a
//! bounded queue: this thread writes them to the client's socket as fast as
//! the client reads, and while it does not, its queue fills and the events
//! that do not fit are dropped for it alone (the client is told how many).
//! Hooks never wait for a tracer.

use crate::failure::Failure;
use crate::instance::Instance;
use std::os::fd::AsRawFd;
use tracing::info;
use wslp_host::trace::{self, TraceItem};
use wslp_ipc::conn::{Conn, Peer};
use wslp_ipc::protocol::{ClientMessage, ServerMessage};

/// How long this thread lets events gather after the first of a batch: it then
/// wakes at most a thousand times a second however busy the plugins are, and
/// hooks do not pay for waking it each time (`Subscription::next_batch`).
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

/// Streams trace events to the client of `conn` until it disconnects.
pub fn serve(
    inst: &Instance,
    conn: &Conn,
    peer: Peer,
    plugins: Vec<String>,
) -> Result<(), Failure> {
    let own = nix::unistd::geteuid().as_raw();
    if peer.uid != 0 && peer.uid != own {
        return Err(Failure::access_denied(
            "trace the plugins of this wslp instance",
        ));
    }
    let registered: Vec<String> = inst
        .plugins
        .plugins()
        .into_iter()
        .map(|(n, _, _)| n)
        .collect();
    if let Some(unknown) = plugins.iter().find(|p| !registered.contains(p)) {
        let known = if registered.is_empty() {
            "none is registered".to_string()
        } else {
            format!("registered: {}", registered.join(", "))
        };
        return Err(Failure::service(
            format!(
                "There is no plugin named '{unknown}' in the wslp instance at {} ({known}). \
                 `wslp plugin list` shows the registry; a plugin added since the service started is loaded after `wslp --shutdown`.",
                inst.paths.root.display()
            ),
            "ERROR_NOT_FOUND",
        ));
    }
    let subscription = trace::subscribe(&plugins);
    info!(uid = peer.uid, pid = peer.pid, ?plugins, "tracer connected");
    conn.send(&ServerMessage::TraceStarted {
        plugins: registered,
    })
    .map_err(|e| Failure::service(format!("lost the connection to the client: {e}"), "E_FAIL"))?;
    // The client sends nothing more: a read that ends means it went away,
    // which ends the subscription and so the loop below.
    if let Ok(reader) = conn.try_clone() {
        let closer = subscription.closer();
        std::thread::spawn(move || {
            while reader.recv::<ClientMessage>().is_ok() {}
            closer.close();
        });
    }
    'stream: while let Some(batch) = subscription.next_batch(LINGER) {
        for item in batch {
            let msg = match item {
                TraceItem::Event(e) => ServerMessage::Trace(e),
                TraceItem::Dropped(count) => ServerMessage::TraceDropped { count },
            };
            if conn.send(&msg).is_err() {
                break 'stream;
            }
        }
    }
    drop(subscription);
    // Wakes the reader if the loop ended on a failed send.
    let _ = nix::sys::socket::shutdown(conn.stream().as_raw_fd(), nix::sys::socket::Shutdown::Both);
    info!(uid = peer.uid, pid = peer.pid, "tracer disconnected");
    Ok(())
}
