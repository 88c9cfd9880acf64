//! Placement: the three phases of a scheduler (feasible nodes, score, pick), with
//! [`RoundRobin`] and [`Epvm`], host metrics from procfs, and admission control.
//!
//! On one host the scheduler is admission control: a lab that needs more memory or CPU than
//! the host has is refused before anything starts, naming the shortfall.

mod admission;
mod epvm;
mod metrics;
mod round_robin;

pub use admission::{LabDemand, admit, fmt_mib};
pub use epvm::Epvm;
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use metrics::MockMetricsSource;
pub use metrics::{MetricsSource, ProcMetrics, StaticMetrics};
pub use round_robin::RoundRobin;

/// What a workload (or a whole lab) asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Demand {
    /// CPUs.
    pub cpus: f64,
    /// Memory in MiB.
    pub memory_mb: u64,
}

/// A node's capacity and load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeMetrics {
    /// CPUs usable by the hub.
    pub cpus: u32,
    /// Total memory in MiB.
    pub memory_total_mb: u64,
    /// Memory available in MiB (`MemAvailable`).
    pub memory_available_mb: u64,
    /// One-minute load average.
    pub load1: f64,
}

/// A node the scheduler may place work on.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Its name.
    pub name: String,
    /// Its metrics, or why they could not be read (such a node is never picked).
    pub metrics: Result<NodeMetrics, String>,
}

/// Whether `demand` fits the node at all (its metrics were read and it has the room).
pub fn fits(node: &Node, demand: &Demand) -> bool {
    match &node.metrics {
        Ok(m) => m.memory_available_mb >= demand.memory_mb && f64::from(m.cpus) >= demand.cpus,
        Err(_) => false,
    }
}

/// A placement policy in three phases.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait Scheduler: Send + Sync {
    /// The policy's name, for messages.
    fn name(&self) -> &'static str;

    /// Phase 1: the indices of the nodes that can take `demand`. Never a node whose metrics
    /// failed.
    fn feasible(&self, nodes: &[Node], demand: &Demand) -> Vec<usize> {
        (0..nodes.len())
            .filter(|&i| fits(&nodes[i], demand))
            .collect()
    }

    /// Phase 2: a score for each candidate (higher is better).
    fn score(&self, nodes: &[Node], candidates: &[usize], demand: &Demand) -> Vec<(usize, f64)>;

    /// Phase 3: the chosen node, or `None` when no node is feasible.
    fn pick(&self, nodes: &[Node], demand: &Demand) -> Option<usize> {
        let candidates = self.feasible(nodes, demand);
        let mut best: Option<(usize, f64)> = None;
        for (i, s) in self.score(nodes, &candidates, demand) {
            // Only feasible nodes may win, whatever a policy's score says.
            if !candidates.contains(&i) || s.is_nan() {
                continue;
            }
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((i, s));
            }
        }
        best.map(|(i, _)| i)
    }
}
