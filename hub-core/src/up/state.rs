//! The lab's state file: `<lab dir>/state.json`, written atomically (temp file, fsync,
//! rename), with no secrets in it.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use hub_runtime::{MacAddr, NetworkInfo, WorkloadKind, WorkloadState};
use serde::{Deserialize, Serialize};

use crate::error::HubError;
use crate::services::VpnInfo;

/// The state file's format version.
pub const STATE_VERSION: u32 = 1;

/// One workload as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadRecord {
    /// Its name in the lab.
    pub name: String,
    /// Its kind.
    pub kind: WorkloadKind,
    /// Backend id (container id, domain name).
    pub id: String,
    /// Its address.
    pub ip: Option<Ipv4Addr>,
    /// Its MAC.
    pub mac: Option<MacAddr>,
    /// The spec hash it runs.
    pub spec_hash: String,
    /// Its state when recorded.
    pub state: WorkloadState,
    /// A VM's login user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// How a VM started (see [`crate::status::WorkloadRow::boot`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
    /// Its interfaces in a lab of several segments, in order (empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<hub_runtime::Attachment>,
    /// How many times the reconciler restarted it (kept across `up`s of the lab).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarts: u32,
    /// Why the reconciler gave up on it, when it did: the workload is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    /// The host it runs on, in a lab over several hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What the hub knows of a lab after `up`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabState {
    /// Format version.
    pub version: u32,
    /// The lab.
    pub lab: String,
    /// The lab network.
    pub network: NetworkInfo,
    /// The DNS domain.
    pub domain: String,
    /// netd's address, when the lab runs netd.
    pub netd: Option<Ipv4Addr>,
    /// The workloads, in spec order.
    pub workloads: Vec<WorkloadRecord>,
    /// The VPN gateway.
    pub vpn: Option<VpnInfo>,
    /// How many times the reconciler brought netd back (kept across `up`s of the lab).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub netd_restarts: u32,
    /// How many times the reconciler brought the VPN gateway back.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub vpn_restarts: u32,
    /// The hosts the lab spans and their endpoints (TLS folders, never keys), the primary
    /// first; empty for a lab on the one local host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<crate::spec::HostSpec>,
}

impl LabState {
    /// The state file of a lab directory.
    pub fn path(lab_dir: &Path) -> PathBuf {
        lab_dir.join("state.json")
    }

    /// Reads the state file, `None` when there is none.
    pub fn load(lab: &str, lab_dir: &Path) -> Result<Option<LabState>, HubError> {
        let path = Self::path(lab_dir);
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|source| HubError::State {
                        lab: lab.to_string(),
                        path,
                        source,
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(HubError::Io {
                lab: lab.to_string(),
                context: "reading the state file".into(),
                path,
                source,
            }),
        }
    }

    /// Writes the state file atomically: a reader sees the old file or the new one, never a
    /// part of it.
    pub fn save(&self, lab_dir: &Path) -> Result<(), HubError> {
        let path = Self::path(lab_dir);
        let io = |context: &str, source| HubError::Io {
            lab: self.lab.clone(),
            context: context.to_string(),
            path: path.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| io("encoding", e.into()))?;
        std::fs::create_dir_all(lab_dir).map_err(|e| io("creating the directory of", e))?;
        hub_runtime::files::write_atomic(&path, &bytes, 0o644)
            .map_err(|e| io("writing the state file", e))
    }

    /// The workload record by name.
    pub fn workload(&self, name: &str) -> Option<&WorkloadRecord> {
        self.workloads.iter().find(|w| w.name == name)
    }
}
