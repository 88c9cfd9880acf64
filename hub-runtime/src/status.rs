use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::spec::WorkloadKind;
use crate::{MacAddr, Role};

/// Identifies a workload in its backend.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WorkloadHandle {
    /// The lab.
    pub lab: String,
    /// The workload's name in the lab.
    pub name: String,
    /// Its kind.
    pub kind: WorkloadKind,
    /// Backend id (container id, domain name).
    pub id: String,
}

/// Lifecycle state of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadState {
    /// Created, not started.
    Created,
    /// Running (and healthy, when it has a healthcheck that passed).
    Running,
    /// Running, healthcheck not yet passed.
    Starting,
    /// Running, healthcheck failing.
    Unhealthy,
    /// Stopped or exited.
    Stopped,
    /// Anything else the backend reports.
    Unknown,
}

impl std::fmt::Display for WorkloadState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WorkloadState::Created => "created",
            WorkloadState::Running => "running",
            WorkloadState::Starting => "starting",
            WorkloadState::Unhealthy => "unhealthy",
            WorkloadState::Stopped => "stopped",
            WorkloadState::Unknown => "unknown",
        })
    }
}

/// What a backend knows about a workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadStatus {
    /// The handle.
    pub handle: WorkloadHandle,
    /// State.
    pub state: WorkloadState,
    /// Address on the lab network, when known.
    pub ip: Option<Ipv4Addr>,
    /// MAC on the lab network, when known.
    pub mac: Option<MacAddr>,
    /// Exit code of a stopped container.
    pub exit_code: Option<i64>,
    /// The spec hash recorded at creation.
    pub spec_hash: Option<String>,
    /// The role label, when it names a role.
    pub role: Option<Role>,
    /// How a VM started: `restored from warm snapshot`, `cold boot`, or `cold boot (no warm
    /// snapshot: REASON)`; `None` for containers.
    #[serde(default)]
    pub boot: Option<String>,
}

/// Output of a command run in a workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOutput {
    /// Exit code.
    pub exit_code: i64,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}
