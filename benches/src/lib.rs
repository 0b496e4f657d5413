//! wslp's benchmark suite: measures the CLI, the service, the namespace VM, the
//! plugin hosts and hook dispatch against peers (bubblewrap, unshare, crun, a
//! plain spawn, a raw socketpair, a pipe) measured in the same run, and reports
//! every figure as a ratio to its peer, because these machines are noisy.
//!
//! The library holds what is not measurement: statistics, the result table
//! (text and JSON), the chart, and /proc readings. The `wslp-bench` binary
//! drives the measurements (`scripts/bench.sh`).

#![deny(unsafe_code)]

pub mod chart;
pub mod procfs;
pub mod report;
pub mod stats;

pub use report::{Goal, Report, Row};
pub use stats::Summary;
