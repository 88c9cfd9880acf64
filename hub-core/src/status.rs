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
    let row = |s: &hub_runtime::WorkloadStatus| WorkloadRow {
        name: s.handle.name.clone(),
        kind: s.handle.kind,
        state: s.state,
        ip: s.ip,
        mac: s.mac,
        boot: s.boot.clone(),
        interfaces: state
            .as_ref()
            .and_then(|st| st.workload(&s.handle.name))
            .map(|r| r.interfaces.clone())
            .unwrap_or_default(),
    };
    Ok(LabStatus {
        lab: lab.to_string(),
        network,
        netd: actual.iter().find(|s| s.role == Some(Role::Netd)).map(row),
        workloads: actual
            .iter()
            .filter(|s| s.role != Some(Role::Netd))
            .map(row)
            .collect(),
        vpn: state.and_then(|s| s.vpn),
    })
}
