//! WSLC session VMs (SPEC §11): a namespace VM per session in which Debian's
//! `containerd` and `dockerd` run, as WSL runs Moby in its session VM, and a
//! blocking client of the Docker Engine API they serve.
//!
//! # Layout
//!
//! ```text
//! STORAGE/                 $WSLP_ROOT/wslc/<session>/, the session's storage
//! STORAGE/vm/              the VM's state directory (its tmpfs root, its log)
//! STORAGE/engine/          bound at /var/lib/wslc in the VM:
//!   containerd/            containerd's --root
//!   docker/                dockerd's --data-root (images, containers)
//!   docker.sock            the Engine API socket; the service connects here
//! ```
//!
//! Everything else of the engine (its exec root, containerd's state and
//! socket, the containers' mounts and processes) lives in the VM's tmpfs and
//! namespaces, so a stopped VM leaves nothing outside STORAGE.
//!
//! # The engine inside a user namespace
//!
//! The VM's root is an unprivileged range of host ids. dockerd runs there
//! with `--rootless` (the containers get no cgroup of their own: runc's
//! rootless cgroup manager skips what it may not write) and without a bridge
//! or iptables; the VM's cgroup hierarchies are mounted at `/sys/fs/cgroup`
//! first because runc looks for them in mountinfo. Containers run with
//! `--network none` or the VM's network.

#![deny(unsafe_code)]

mod engine;
mod error;
pub mod schema;
mod session_vm;

pub use engine::{Attached, ContainerRun, ContainerSummary, Engine, ImageSummary, RunOutput};
pub use error::WslcError;
pub use session_vm::{SessionVm, SessionVmConfig, ENGINE_DIR_IN_VM};
