use super::{Demand, Node, NodeMetrics, Scheduler};

/// The smallest CPU demand counted: a workload with no CPU limit still loads the CPU, so the
/// CPU term always matters.
pub const MIN_CPU_DEMAND: f64 = 0.1;

/// E-PVM (Amir et al.): the cost of a placement is, summed over the resources, the marginal
/// cost `a^(utilisation after) - a^(utilisation before)` with `a` the number of resources;
/// the node with the lowest cost wins.
///
/// Fixed from the Cube book's version: the CPU utilisation is the load average over the CPUs
/// before, and that plus the demand after (so the CPU term changes the result), and a node
/// whose metrics could not be read is never a candidate.
#[derive(Debug, Default, Clone, Copy)]
pub struct Epvm;

/// The resources E-PVM weighs (CPU and memory).
const RESOURCES: f64 = 2.0;

impl Epvm {
    /// The E-PVM cost of placing `demand` on a node with these metrics.
    pub fn cost(m: &NodeMetrics, demand: &Demand) -> f64 {
        let a = RESOURCES;
        let cpus = f64::from(m.cpus.max(1));
        let cpu_before = m.load1.max(0.0) / cpus;
        let cpu_after = (m.load1.max(0.0) + demand.cpus.max(MIN_CPU_DEMAND)) / cpus;
        let total = m.memory_total_mb.max(1) as f64;
        let used = m.memory_total_mb.saturating_sub(m.memory_available_mb) as f64;
        let mem_before = used / total;
        let mem_after = (used + demand.memory_mb as f64) / total;
        (a.powf(cpu_after) - a.powf(cpu_before)) + (a.powf(mem_after) - a.powf(mem_before))
    }
}

impl Scheduler for Epvm {
    fn name(&self) -> &'static str {
        "e-pvm"
    }

    fn score(&self, nodes: &[Node], candidates: &[usize], demand: &Demand) -> Vec<(usize, f64)> {
        candidates
            .iter()
            .filter_map(|&i| match &nodes.get(i)?.metrics {
                Ok(m) => Some((i, -Self::cost(m, demand))),
                Err(_) => None,
            })
            .collect()
    }
}
