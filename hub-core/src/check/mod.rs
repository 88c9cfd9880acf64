//! `hub check`: the lab proves itself.
//!
//! [`crate::Lab::check`] runs the built-in checks (every workload resolves every other one's
//! name through netd and reaches its address; every VM holds its lease; the VPN gateway is up
//! and listens on the port its clients are given) and the spec's own [`crate::spec::Check`]s,
//! all at once, each with its own deadline, and returns a [`CheckReport`] a test asserts on.
//!
//! Where a probe runs: from a container, on a thread of the hub's own process inside the
//! container's network namespace (so nothing of the image is needed: no ping, nc or dig);
//! from a VM, over the lab's SSH with the guest's own tools; from `vpn:PEER`, inside a network
//! namespace of the host that the hub makes for the check (`hubck-LAB.PEER`), running a
//! WireGuard client with the peer's real client config, removed afterwards (`down` removes a
//! leftover one).
//!
//! ```no_run
//! # async fn run() -> Result<(), hub_core::HubError> {
//! let lab = hub_core::Hub::from_file("examples/labs/demo.yaml")?.up().await?;
//! let report = lab.check().await?;
//! for failed in report.failures() {
//!     eprintln!("{}: {}", failed.name, failed.detail);
//! }
//! assert!(report.passed());
//! # Ok(())
//! # }
//! ```

mod builtin;
pub(crate) mod netns;
mod probe;
mod run;
mod vm;
#[cfg(feature = "wireguard")]
pub(crate) mod vpn_client;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub(crate) use run::run;

/// How long one check may take unless told otherwise.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// How many checks run at once unless told otherwise.
pub const DEFAULT_CHECK_PARALLELISM: usize = 16;

/// How [`crate::Lab::check_with`] runs.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The deadline of each check (a blocked rule waits all of it).
    pub timeout: Duration,
    /// How many checks run at once.
    pub parallelism: usize,
    /// Whether the built-in checks run (the spec's own always do).
    pub builtins: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            timeout: DEFAULT_CHECK_TIMEOUT,
            parallelism: DEFAULT_CHECK_PARALLELISM,
            builtins: true,
        }
    }
}

/// Where a check comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckSource {
    /// One of the hub's own checks.
    Builtin,
    /// The spec's `checks:`.
    Spec,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check's name (the spec's `name`, or `FROM -> TO PROBE`; built-ins say what they
    /// prove, `web resolves db`).
    pub name: String,
    /// Built in or from the spec.
    pub source: CheckSource,
    /// Where it ran.
    pub from: String,
    /// What it probed.
    pub to: String,
    /// What it sent (`ping`, `tcp/80`, `dns NAME`, `http :80/`, `lease`, `wireguard`).
    pub probe: String,
    /// What had to come of it (`ok`, `blocked`, `status 200`...).
    pub expect: String,
    /// Whether it passed.
    pub passed: bool,
    /// What happened: the reply, or why it failed.
    pub detail: String,
    /// How long it took, in milliseconds.
    pub elapsed_ms: u64,
}

/// Every check of one run, in order: built-ins first, then the spec's, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The lab.
    pub lab: String,
    /// The results.
    pub results: Vec<CheckResult>,
    /// How long the whole run took, in milliseconds.
    pub elapsed_ms: u64,
}

impl CheckReport {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.passed)
    }
    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.results.iter().filter(|r| !r.passed)
    }
    /// One check by name.
    pub fn result(&self, name: &str) -> Option<&CheckResult> {
        self.results.iter().find(|r| r.name == name)
    }
}
