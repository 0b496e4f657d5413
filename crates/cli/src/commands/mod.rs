//! One file per verb. Each turns its arguments into a request (or a local
//! action) and returns the process's exit code.

pub mod admin;
pub mod cert;
pub mod check;
pub mod docs;
pub mod import;
pub mod install;
pub mod list;
pub mod plugin;
pub mod run;
pub mod sign;
pub mod trace;
pub mod trust;
pub mod verify;
pub mod wslc;
