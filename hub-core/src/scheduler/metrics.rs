use std::path::PathBuf;

use super::{Node, NodeMetrics};

/// Where node metrics come from.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait MetricsSource: Send + Sync {
    /// The nodes and their metrics (one, this host, for a local hub).
    fn nodes(&self) -> Vec<Node>;
}

/// This host's metrics from procfs: `MemTotal`/`MemAvailable` from `meminfo`, the load from
/// `loadavg`, the CPUs the process may use.
#[derive(Debug, Clone)]
pub struct ProcMetrics {
    proc_root: PathBuf,
}

impl Default for ProcMetrics {
    fn default() -> Self {
        ProcMetrics {
            proc_root: PathBuf::from("/proc"),
        }
    }
}

impl ProcMetrics {
    /// Reads `/proc`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads another procfs-like directory (tests).
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        ProcMetrics {
            proc_root: root.into(),
        }
    }

    /// This host's metrics.
    pub fn read(&self) -> Result<NodeMetrics, String> {
        let meminfo_path = self.proc_root.join("meminfo");
        let meminfo = std::fs::read_to_string(&meminfo_path)
            .map_err(|e| format!("cannot read {}: {e}", meminfo_path.display()))?;
        let field = |name: &str| -> Result<u64, String> {
            meminfo
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .map(|kib| kib / 1024)
                .ok_or_else(|| format!("{} has no {name} line", meminfo_path.display()))
        };
        let memory_total_mb = field("MemTotal")?;
        let memory_available_mb = field("MemAvailable")?;
        let loadavg_path = self.proc_root.join("loadavg");
        let load1 = std::fs::read_to_string(&loadavg_path)
            .map_err(|e| format!("cannot read {}: {e}", loadavg_path.display()))?
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| format!("{} is not a load average", loadavg_path.display()))?;
        let cpus = std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
            .map_err(|e| format!("cannot count the CPUs: {e}"))?;
        Ok(NodeMetrics {
            cpus,
            memory_total_mb,
            memory_available_mb,
            load1,
        })
    }
}

impl MetricsSource for ProcMetrics {
    fn nodes(&self) -> Vec<Node> {
        vec![Node {
            name: "localhost".into(),
            metrics: self.read(),
        }]
    }
}

/// Fixed metrics (tests, or a caller that measures elsewhere).
#[derive(Debug, Clone)]
pub struct StaticMetrics(pub Vec<Node>);

impl MetricsSource for StaticMetrics {
    fn nodes(&self) -> Vec<Node> {
        self.0.clone()
    }
}
