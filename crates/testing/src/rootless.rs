//! An ordinary user's test binary enters user, mount and pid namespaces of
//! its own before `main` (see the crate documentation). Only then has the
//! process one thread, which the kernel requires of a process that makes a
//! user namespace: libtest starts its threads in `main`.

use std::sync::OnceLock;

/// What the constructor did: `Ok(warning about missing subordinate ids)`,
/// or why no namespace could be made. Unset for root.
static ENTERED: OnceLock<Result<Option<String>, String>> = OnceLock::new();

pub(crate) fn entered() -> Option<&'static Result<Option<String>, String>> {
    ENTERED.get()
}

// SAFETY: runs before main, once, with one thread; it reads files, forks a
// helper that runs newuidmap/newgidmap, and makes namespaces. It uses no
// std service that main sets up (no stdio locks, no thread-locals of
// libtest, no arguments), only allocation, files and processes, which the
// C runtime has ready when constructors run.
#[ctor::ctor(unsafe)]
fn enter_own_namespaces() {
    if nix::unistd::geteuid().is_root() {
        return;
    }
    let result = wslp_service::ids::enter_per_user_namespace().map_err(|e| e.to_string());
    let _ = ENTERED.set(result);
}
