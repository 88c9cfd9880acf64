//! `depends_on`: checked for unknown names and cycles before anything starts, then awaited by
//! each workload's task through a watch channel per workload.

use std::collections::{BTreeMap, BTreeSet};

use tokio::sync::watch;

use crate::desired::DesiredLab;
use crate::error::HubError;

/// A workload's readiness as its dependants see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepState {
    /// Not ready yet.
    Pending,
    /// Ready: dependants may start.
    Ready,
    /// Failed or cancelled: dependants are not started.
    Failed,
}

/// Refuses a dependency on an unknown workload or a cycle, naming it.
pub fn check(desired: &DesiredLab) -> Result<(), HubError> {
    let names: BTreeSet<&str> = desired.workloads.iter().map(|w| w.name()).collect();
    for w in &desired.workloads {
        for d in &w.depends_on {
            if !names.contains(d.as_str()) {
                return Err(HubError::Invalid {
                    what: format!("workload {:?}", w.name()),
                    reason: format!("depends_on names {d:?}, which is not a workload of the lab"),
                });
            }
            if d == w.name() {
                return Err(HubError::Invalid {
                    what: format!("workload {:?}", w.name()),
                    reason: "depends on itself".into(),
                });
            }
        }
    }
    // Kahn's algorithm: whatever is left has a cycle.
    let mut indegree: BTreeMap<&str, usize> = desired
        .workloads
        .iter()
        .map(|w| (w.name(), w.depends_on.len()))
        .collect();
    let mut ready: Vec<&str> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(n, _)| *n)
        .collect();
    while let Some(n) = ready.pop() {
        indegree.remove(n);
        for w in &desired.workloads {
            if w.depends_on.iter().any(|d| d == n)
                && let Some(d) = indegree.get_mut(w.name())
            {
                *d -= 1;
                if *d == 0 {
                    ready.push(w.name());
                }
            }
        }
    }
    if !indegree.is_empty() {
        let cycle: Vec<&str> = indegree.keys().copied().collect();
        return Err(HubError::Invalid {
            what: format!("lab {:?}", desired.name),
            reason: format!("depends_on has a cycle among {}", cycle.join(", ")),
        });
    }
    Ok(())
}

/// One watch channel per workload.
pub struct DepBoard {
    senders: BTreeMap<String, watch::Sender<DepState>>,
}

impl DepBoard {
    /// A board with every workload pending.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        DepBoard {
            senders: names
                .into_iter()
                .map(|n| (n.to_string(), watch::channel(DepState::Pending).0))
                .collect(),
        }
    }

    /// Marks a workload ready or failed.
    pub fn set(&self, name: &str, state: DepState) {
        if let Some(tx) = self.senders.get(name) {
            tx.send_replace(state);
        }
    }

    /// Waits until every dependency has settled; returns the first that failed.
    pub async fn wait(&self, deps: &[String]) -> Result<(), String> {
        for d in deps {
            let Some(tx) = self.senders.get(d) else {
                continue;
            };
            let mut rx = tx.subscribe();
            let state = rx
                .wait_for(|s| *s != DepState::Pending)
                .await
                .map(|s| *s)
                .unwrap_or(DepState::Failed);
            if state == DepState::Failed {
                return Err(d.clone());
            }
        }
        Ok(())
    }
}
