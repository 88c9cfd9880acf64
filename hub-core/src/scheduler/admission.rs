use super::{Demand, MetricsSource, Node, Scheduler};
use crate::error::HubError;

/// What a lab asks of its host, by kind, so a refusal can say what needs the room.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LabDemand {
    /// Memory of the VMs, MiB.
    pub vm_memory_mb: u64,
    /// Memory limits of the containers, MiB.
    pub container_memory_mb: u64,
    /// vCPUs of the VMs.
    pub vm_cpus: f64,
    /// CPU limits of the containers.
    pub container_cpus: f64,
}

impl LabDemand {
    /// The total as one demand.
    pub fn total(&self) -> Demand {
        Demand {
            cpus: self.vm_cpus + self.container_cpus,
            memory_mb: self.vm_memory_mb + self.container_memory_mb,
        }
    }
}

/// Formats MiB as people read it: `512 MiB`, `48 GiB`, `1.5 GiB`.
pub fn fmt_mib(mib: u64) -> String {
    if mib < 1024 {
        format!("{mib} MiB")
    } else if mib % 1024 == 0 {
        format!("{} GiB", mib / 1024)
    } else {
        format!("{:.1} GiB", mib as f64 / 1024.0)
    }
}

fn whose(vm: bool, container: bool) -> &'static str {
    match (vm, container) {
        (true, true) => "its VMs and containers",
        (true, false) => "its VMs",
        _ => "its containers",
    }
}

/// Admission control: `Ok` when the scheduler finds a node for the whole lab, else the
/// shortfall in words.
pub fn admit(
    lab: &str,
    demand: &LabDemand,
    scheduler: &dyn Scheduler,
    metrics: &dyn MetricsSource,
) -> Result<usize, HubError> {
    let nodes = metrics.nodes();
    let total = demand.total();
    if let Some(i) = scheduler.pick(&nodes, &total) {
        return Ok(i);
    }
    Err(HubError::Admission {
        lab: lab.to_string(),
        shortfall: shortfall(&nodes, demand),
    })
}

fn shortfall(nodes: &[Node], demand: &LabDemand) -> String {
    let total = demand.total();
    // Describe the best-provisioned node that could be read.
    let best = nodes
        .iter()
        .filter_map(|n| n.metrics.as_ref().ok())
        .max_by_key(|m| m.memory_available_mb);
    let Some(m) = best else {
        let why: Vec<String> = nodes
            .iter()
            .filter_map(|n| n.metrics.as_ref().err().map(|e| format!("{}: {e}", n.name)))
            .collect();
        return format!("the host's metrics could not be read ({})", why.join("; "));
    };
    let mut parts = Vec::new();
    if total.memory_mb > m.memory_available_mb {
        parts.push(format!(
            "lab needs {} of memory for {}, the host has {} available",
            fmt_mib(total.memory_mb),
            whose(demand.vm_memory_mb > 0, demand.container_memory_mb > 0),
            fmt_mib(m.memory_available_mb)
        ));
    }
    if total.cpus > f64::from(m.cpus) {
        parts.push(format!(
            "lab needs {} CPUs for {}, the host has {}",
            total.cpus,
            whose(demand.vm_cpus > 0.0, demand.container_cpus > 0.0),
            m.cpus
        ));
    }
    if parts.is_empty() {
        "no node was feasible".to_string()
    } else {
        parts.join("; ")
    }
}
