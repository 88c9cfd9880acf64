//! What runs of a lab, found by its marks (so it works without the state file).

use std::net::Ipv4Addr;
use std::path::Path;

use hub_runtime::{MacAddr, NetworkInfo, Role, WorkloadKind, WorkloadState};
use serde::{Deserialize, Serialize};

use crate::error::HubError;
use crate::runtimes::Runtimes;
use crate::services::VpnInfo;
use crate::up::plan::list_actual;
use crate::up::state::LabState;

/// One workload as it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadRow {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: WorkloadKind,
    /// Its state.
    pub state: WorkloadState,
    /// Its address.
    pub ip: Option<Ipv4Addr>,
    /// Its MAC.
    pub mac: Option<MacAddr>,
    /// How a VM started: `restored from warm snapshot`, `cold boot`, or `cold boot (no warm
    /// snapshot: REASON)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
    /// Its address on each segment, in order, in a lab of several (from the state file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<hub_runtime::Attachment>,
    /// The state file records it, but nothing of it runs (removed by hand, or its restart
    /// failed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
    /// How many times the reconciler brought it back (from the state file).
    #[serde(default)]
    pub restarts: u32,
    /// Why the reconciler gave up on it, when it did: it is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    /// The host it runs on, in a lab over several hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl WorkloadRow {
    /// Its state in words: `failed` when the reconciler gave up on it, `missing` when the
    /// state file records it but nothing of it runs, else the runtime's state.
    pub fn state_text(&self) -> String {
        if self.failed.is_some() {
            "failed".into()
        } else if self.missing {
            "missing".into()
        } else {
            self.state.to_string()
        }
    }
}

/// A lab as it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabStatus {
    /// The lab.
    pub lab: String,
    /// Its network, if it exists.
    pub network: Option<NetworkInfo>,
    /// netd, if its container runs: `(state, address)`.
    pub netd: Option<WorkloadRow>,
    /// The workloads, by name.
    pub workloads: Vec<WorkloadRow>,
    /// The VPN gateway and its peers (from the state file).
    pub vpn: Option<VpnInfo>,
    /// How many times the reconciler brought the VPN gateway back (from the state file).
    #[serde(default)]
    pub vpn_restarts: u32,
}

impl LabStatus {
    /// True when nothing of the lab exists.
    pub fn is_empty(&self) -> bool {
        self.network.is_none()
            && self.netd.is_none()
            && self.workloads.is_empty()
            && self.vpn.is_none()
    }
}

pub(crate) async fn status(
    lab: &str,
    lab_dir: &Path,
    runtimes: &Runtimes,
) -> Result<LabStatus, HubError> {
    let mut actual = list_actual(runtimes, lab, &[]).await?;
    actual.sort_by(|a, b| a.handle.name.cmp(&b.handle.name));
    let network = match &runtimes.network {
        Some(n) => n
            .find_network(lab)
            .await
            .map_err(|source| HubError::Runtime {
                lab: lab.to_string(),
                context: "looking for the lab network".into(),
                source: Box::new(source),
            })?,
        None => None,
    };
    let state = LabState::load(lab, lab_dir).ok().flatten();
    let recorded = |name: &str| state.as_ref().and_then(|st| st.workload(name));
    let row = |s: &hub_runtime::WorkloadStatus| WorkloadRow {
        name: s.handle.name.clone(),
        kind: s.handle.kind,
        state: s.state,
        ip: s.ip,
        mac: s.mac,
        boot: s.boot.clone(),
        interfaces: recorded(&s.handle.name)
            .map(|r| r.interfaces.clone())
            .unwrap_or_default(),
        missing: false,
        restarts: recorded(&s.handle.name).map_or(0, |r| r.restarts),
        failed: recorded(&s.handle.name).and_then(|r| r.failed.clone()),
        host: runtimes.host_of(s.handle.kind, &s.handle.name),
    };
    let mut workloads: Vec<WorkloadRow> = actual
        .iter()
        .filter(|s| s.role != Some(Role::Netd))
        .map(row)
        .collect();
    // What the state file records but nothing runs of: gone, or failed.
    for r in state.iter().flat_map(|st| &st.workloads) {
        if !workloads.iter().any(|w| w.name == r.name) {
            workloads.push(WorkloadRow {
                name: r.name.clone(),
                kind: r.kind,
                state: hub_runtime::WorkloadState::Unknown,
                ip: r.ip,
                mac: r.mac,
                boot: None,
                interfaces: r.interfaces.clone(),
                missing: true,
                restarts: r.restarts,
                failed: r.failed.clone(),
                host: r.host.clone(),
            });
        }
    }
    workloads.sort_by(|a, b| a.name.cmp(&b.name));
    let netd = actual
        .iter()
        .find(|s| s.role == Some(Role::Netd))
        .map(row)
        .map(|mut n| {
            n.restarts = state.as_ref().map_or(0, |st| st.netd_restarts);
            n
        });
    Ok(LabStatus {
        lab: lab.to_string(),
        network,
        netd,
        workloads,
        vpn_restarts: state.as_ref().map_or(0, |st| st.vpn_restarts),
        vpn: state.and_then(|s| s.vpn),
    })
}
