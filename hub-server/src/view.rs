//! What the API answers with (JSON), each with its OpenAPI schema.

use std::collections::BTreeMap;

use hub_core::LabStatus;
use hub_core::labs::LabListing;
use hub_core::spec::SpecErrors;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a lab managed by the server stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LabPhase {
    /// An `up` was accepted and runs (or waits for the lab lock).
    Converging,
    /// The last `up` finished: every workload was ready.
    Ready,
    /// The last `up` failed (and was rolled back); `errors` says why.
    Failed,
    /// A `down` was accepted and runs.
    Deleting,
}

impl std::fmt::Display for LabPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LabPhase::Converging => "converging",
            LabPhase::Ready => "ready",
            LabPhase::Failed => "failed",
            LabPhase::Deleting => "deleting",
        })
    }
}

/// One error: a spec mistake with its place, or a failure of an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    /// The whole message (`FILE:LINE:COL: FIELD: message` for a spec mistake).
    pub message: String,
    /// The spec's name in errors (`LAB.yaml`), for spec mistakes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Line (1-based), for spec mistakes whose place is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Column (1-based), for spec mistakes whose place is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    /// The field (`containers[1].ip`), for spec mistakes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// An error without a place.
    pub fn plain(message: impl Into<String>) -> Self {
        ApiError {
            message: message.into(),
            file: None,
            line: None,
            column: None,
            field: None,
        }
    }

    /// Every spec mistake, with its place.
    pub fn from_spec(errors: &SpecErrors) -> Vec<ApiError> {
        errors
            .iter()
            .map(|e| ApiError {
                message: e.to_string(),
                file: e.file.as_ref().map(|f| f.display().to_string()),
                line: (e.line > 0).then_some(e.line),
                column: (e.column > 0).then_some(e.column),
                field: (!e.field.is_empty()).then(|| e.field.clone()),
            })
            .collect()
    }

    /// A hub error: each spec mistake when it is one, else the error and its causes.
    pub fn from_hub(e: &hub_core::HubError) -> Vec<ApiError> {
        if let hub_core::HubError::Spec(errors) = e {
            return Self::from_spec(errors);
        }
        vec![ApiError::plain(chain(e))]
    }
}

pub(crate) use hub_core::error_chain as chain;

/// The body of an error answer (400, 404, 409...): every error at once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The errors.
    pub errors: Vec<ApiError>,
}

/// A lab of this host in `GET /labs`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LabSummary {
    /// The lab's name.
    pub name: String,
    /// How much of it runs: `up`, `partial` or `down`.
    pub state: String,
    /// Its containers (netd not counted).
    pub containers: usize,
    /// Its VMs.
    pub vms: usize,
    /// Whether its netd runs.
    pub netd: bool,
    /// Whether its WireGuard interface exists.
    pub vpn: bool,
    /// Whether its state file is there.
    pub state_file: bool,
    /// Where the server's last operation on it stands; absent for a lab the server does not
    /// manage (made by `hub up` directly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<LabPhase>,
}

impl LabSummary {
    pub(crate) fn new(l: &LabListing, phase: Option<LabPhase>) -> Self {
        LabSummary {
            name: l.name.clone(),
            state: l.state.to_string(),
            containers: l.containers,
            vms: l.vms,
            netd: l.netd,
            vpn: l.vpn,
            state_file: l.state_file,
            phase,
        }
    }
}

/// One workload of a lab as it runs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkloadView {
    /// Its name.
    pub name: String,
    /// `container`, `vm` or `netd`.
    pub kind: String,
    /// `running`, `stopped`, `starting`...
    pub state: String,
    /// Its address on the lab network.
    pub address: Option<String>,
    /// Its MAC.
    pub mac: Option<String>,
    /// The host it runs on: the spec's host in a lab over several hosts, else the server's
    /// own host name.
    pub host: String,
    /// How many times it was restarted: by the healing loop and through the API.
    pub restarts: u32,
    /// Why the healing loop gave up on it, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    /// How a VM started: `warm` (restored from a snapshot) or `cold`; absent for containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// How a VM started, in words (`cold boot (no warm snapshot: none saved yet)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
}

/// A lab: where the server's operation on it stands, and what runs of it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LabView {
    /// The lab.
    pub name: String,
    /// Where the server's last operation on it stands; absent for a lab it does not manage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<LabPhase>,
    /// Why the last operation failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ApiError>,
    /// What the last finished `up` changed (`3 created, 0 recreated, ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// Whether anything of the lab exists.
    pub up: bool,
    /// How old the observation of the workloads is, in milliseconds (a managed lab's status
    /// is observed at most once a second, in the background).
    pub observed_ms_ago: u64,
    /// netd and the workloads.
    pub workloads: Vec<WorkloadView>,
    /// The whole status, as `hub status --json` reads it (network, VPN peers).
    #[schema(value_type = Object)]
    pub status: LabStatus,
}

impl LabView {
    pub(crate) fn new(
        status: LabStatus,
        phase: Option<LabPhase>,
        errors: Vec<ApiError>,
        report: Option<String>,
        restarts: &BTreeMap<String, u32>,
        host: &str,
        age: std::time::Duration,
    ) -> Self {
        let row = |w: &hub_core::status::WorkloadRow, kind: String| WorkloadView {
            name: w.name.clone(),
            kind,
            state: w.state.to_string(),
            address: w.ip.map(|i| i.to_string()),
            mac: w.mac.map(|m| m.to_string()),
            host: w.host.clone().unwrap_or_else(|| host.to_string()),
            restarts: w.restarts + restarts.get(&w.name).copied().unwrap_or(0),
            failed: w.failed.clone(),
            start: w.boot.as_ref().map(|b| {
                if b.starts_with("restored") {
                    "warm"
                } else {
                    "cold"
                }
                .to_string()
            }),
            boot: w.boot.clone(),
        };
        let mut workloads: Vec<WorkloadView> =
            status.netd.iter().map(|n| row(n, "netd".into())).collect();
        workloads.extend(status.workloads.iter().map(|w| row(w, w.kind.to_string())));
        LabView {
            name: status.lab.clone(),
            phase,
            errors,
            report,
            up: !status.is_empty(),
            observed_ms_ago: u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
            workloads,
            status,
        }
    }
}

/// `POST /labs/{lab}/workloads/{workload}/exec`: the command to run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExecRequest {
    /// The command and its arguments (no shell; pass `["sh", "-c", "..."]` for one).
    pub cmd: Vec<String>,
}

/// What a command run by `exec` gave.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExecResult {
    /// Its exit code.
    pub exit_code: i64,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// `DELETE /labs/{lab}?wait=true`: what the `down` removed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DownDone {
    /// The lab.
    pub lab: String,
    /// What was removed, in words.
    pub report: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workload of a lab over several hosts shows the spec's host it runs on; one of a
    /// one-host lab (no host in its row) shows the server's own host.
    #[test]
    fn a_workload_shows_the_host_it_runs_on() {
        let status: LabStatus = serde_json::from_value(serde_json::json!({
            "lab": "spread",
            "network": null,
            "netd": null,
            "workloads": [
                {"name": "web", "kind": "container", "state": "running", "ip": null,
                 "mac": null, "host": "h2"},
                {"name": "db", "kind": "container", "state": "running", "ip": null,
                 "mac": null},
            ],
            "vpn": null,
        }))
        .expect("a status");
        let view = LabView::new(
            status,
            None,
            Vec::new(),
            None,
            &BTreeMap::new(),
            "server-host",
            std::time::Duration::ZERO,
        );
        let hosts: Vec<_> = view
            .workloads
            .iter()
            .map(|w| (w.name.as_str(), w.host.as_str()))
            .collect();
        assert_eq!(hosts, [("web", "h2"), ("db", "server-host")]);
    }
}
