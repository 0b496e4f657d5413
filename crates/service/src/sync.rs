//! Locks that outlive a panic.
//!
//! wslp's lock policy, the same in every crate that holds locks (service,
//! plugin manager, VM, SDK): a panic while a lock is held never makes later
//! users of that lock panic too. The value behind a poisoned lock is used as
//! it is (`PoisonError::into_inner`). That is sound because every lock guards
//! state that stays usable at any point where code under it can panic: maps
//! changed by one insert or remove, an `Option` replaced whole, or `()` for a
//! lock that only orders work. So a request that panics fails alone, and the
//! next one is served; a bare `.lock().unwrap()` would turn one panic into a
//! service that panics on every later request.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `m`, poisoned or not.
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks `l`, poisoned or not.
pub(crate) fn read<T: ?Sized>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks `l`, poisoned or not.
pub(crate) fn write<T: ?Sized>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}
