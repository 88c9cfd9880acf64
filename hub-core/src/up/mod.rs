//! Bringing a lab up and down: plan, lock, network, netd, workloads, VPN, state; rollback;
//! down by labels.

pub mod deps;
mod down;
pub mod lock;
#[cfg(test)]
mod netd_overlap_tests;
pub mod plan;
mod rollback;
mod run;
pub mod state;
pub(crate) mod vpn_port;
mod workload;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub use down::{DownReport, down};
pub(crate) use run::converge_in_lock;
pub use run::up;

use tokio_util::sync::CancellationToken;

use crate::progress::ProgressFn;
use crate::scheduler::{MetricsSource, Scheduler};
use crate::services::NetdOutcome;

/// Logs how long a phase of an `up` or a `down` took, as `phase=... ms=...` at target
/// `hub_timing` (`HUB_LOG=hub_timing=info` shows them; the bench prints them).
pub(crate) fn timing(phase: &str, since: Instant) {
    let ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(target: "hub_timing", phase, ms, "phase done");
}

/// How an `up` or `down` runs.
#[derive(Clone)]
pub struct UpOptions {
    /// The lab directory (`<state root>/<lab>`).
    pub lab_dir: PathBuf,
    /// The state root holding the lab lock files.
    pub state_root: PathBuf,
    /// How many workloads are brought up at once.
    pub parallelism: usize,
    /// Remove what a failed `up` created.
    pub rollback_on_failure: bool,
    /// Wait for the lab lock instead of failing when another process holds it.
    pub wait_for_lock: bool,
    /// Progress events.
    pub progress: Option<ProgressFn>,
    /// Cancels the work in flight (Ctrl-C).
    pub cancel: CancellationToken,
    /// Admission control.
    pub scheduler: Arc<dyn Scheduler>,
    /// The host's metrics for admission control.
    pub metrics: Arc<dyn MetricsSource>,
    /// `down` leaves the lab's named volumes (and their data) in place.
    pub keep_volumes: bool,
}

impl fmt::Debug for UpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpOptions")
            .field("lab_dir", &self.lab_dir)
            .field("parallelism", &self.parallelism)
            .field("rollback_on_failure", &self.rollback_on_failure)
            .field("wait_for_lock", &self.wait_for_lock)
            .field("scheduler", &self.scheduler.name())
            .finish_non_exhaustive()
    }
}

/// What an `up` changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpReport {
    /// Workloads created.
    pub created: Vec<String>,
    /// Workloads removed and created again (their spec changed or they had stopped).
    pub recreated: Vec<String>,
    /// Workloads removed because they left the spec.
    pub removed: Vec<String>,
    /// Workloads already as specified.
    pub unchanged: Vec<String>,
    /// Whether the lab network was created.
    pub network_created: bool,
    /// What happened to netd.
    pub netd: Option<NetdOutcome>,
    /// Whether the VPN gateway was created.
    pub vpn_created: bool,
}

impl UpReport {
    /// True when the `up` changed nothing.
    pub fn is_unchanged(&self) -> bool {
        self.created.is_empty()
            && self.recreated.is_empty()
            && self.removed.is_empty()
            && !self.network_created
            && matches!(self.netd, None | Some(NetdOutcome::Unchanged))
            && !self.vpn_created
    }
}

impl fmt::Display for UpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_unchanged() {
            return write!(
                f,
                "no change: {} workloads already as specified",
                self.unchanged.len()
            );
        }
        write!(
            f,
            "{} created, {} recreated, {} removed, {} unchanged",
            self.created.len(),
            self.recreated.len(),
            self.removed.len(),
            self.unchanged.len()
        )
    }
}
