//! Errors of the VM's networking. Each message is a whole clause that can end
//! SPEC §9's warning (`…: <cause>. Falling back to networking_mode none.`):
//! lower case, no final period, saying what failed and what to do.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A system call, a netlink request or a file operation failed.
    #[error("{what}: {cause}")]
    Io { what: String, cause: io::Error },
    /// A helper program is missing.
    #[error("{program} was not found in PATH; install {package}")]
    Missing {
        program: &'static str,
        package: &'static str,
    },
    /// A helper program ran and failed; `output` is what it said.
    #[error("{what} failed: {output}")]
    Helper { what: String, output: String },
    /// No subnet could be used (`nat_subnet` clashes, or the pool is used up).
    #[error("{0}")]
    Subnet(String),
}

impl NetError {
    pub(crate) fn io(what: impl Into<String>, cause: io::Error) -> NetError {
        NetError::Io {
            what: what.into(),
            cause,
        }
    }
}

/// `.map_err(io("…"))`.
pub(crate) fn io<E: Into<io::Error>>(what: impl Into<String>) -> impl FnOnce(E) -> NetError {
    let what = what.into();
    move |e| NetError::io(what, e.into())
}
