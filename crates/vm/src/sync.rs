//! Locks that outlive a panic: wslp's lock policy (docs/choices.md, and
//! `wslp-service`'s `sync` module, which says why it is sound). A panic while
//! a lock is held never makes later users of that lock panic too: the value
//! behind a poisoned lock is used as it is.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, poisoned or not.
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
