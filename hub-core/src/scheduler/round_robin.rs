use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Demand, Node, Scheduler};

/// Takes the feasible nodes in turn.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// A round-robin scheduler starting at the first node.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Scheduler for RoundRobin {
    fn name(&self) -> &'static str {
        "round-robin"
    }

    fn score(&self, _nodes: &[Node], candidates: &[usize], _demand: &Demand) -> Vec<(usize, f64)> {
        if candidates.is_empty() {
            return Vec::new();
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % candidates.len();
        candidates
            .iter()
            .enumerate()
            .map(|(pos, &i)| {
                // The candidate whose turn it is scores highest, then the ones after it.
                let distance = (pos + candidates.len() - turn) % candidates.len();
                (i, -(distance as f64))
            })
            .collect()
    }
}
