//! The labs on this host (`hub ls`): found by their marks on every backend (Docker labels,
//! libvirt metadata), and by the lab folders of the state root (a lab that is down keeps its
//! identity there), each with what runs of it; a lab over several hosts (its folder records
//! them) with what runs of it on each of its hosts.

use std::collections::BTreeSet;
use std::path::Path;

use hub_runtime::{Role, WorkloadKind, WorkloadState};
use serde::{Deserialize, Serialize};

use crate::error::HubError;
use crate::hub::HubBuilder;
use crate::runtimes::Runtimes;
use crate::up::state::LabState;

/// How much of a listed lab runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabRunState {
    /// Everything found of it runs.
    Up,
    /// Some of its workloads do not run (stopped, starting, unhealthy...).
    Partial,
    /// Nothing of it runs; only its folder is left (its kept identity, or a state file).
    Down,
}

impl std::fmt::Display for LabRunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LabRunState::Up => "up",
            LabRunState::Partial => "partial",
            LabRunState::Down => "down",
        })
    }
}

/// One lab of this host, as `hub ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabListing {
    /// The lab's name.
    pub name: String,
    /// How much of it runs.
    pub state: LabRunState,
    /// Its containers found (netd not counted).
    pub containers: usize,
    /// Its VMs found.
    pub vms: usize,
    /// Whether its netd runs.
    pub netd: bool,
    /// Whether its WireGuard gateway's interface exists.
    pub vpn: bool,
    /// Whether its state file is there (a lab found only by its marks has none: it was
    /// brought up with another state root, or its folder was deleted).
    pub state_file: bool,
}

impl HubBuilder {
    /// Every lab on this host: found by its marks on the builder's backends (Docker, libvirt
    /// by default) and by the folders of its state root, sorted by name. The builder's lab
    /// (name, workloads) is not used.
    pub async fn list_labs(self) -> Result<Vec<LabListing>, HubError> {
        let hub = self.name("hub-ls").build()?;
        let root = hub.state_root_path().to_path_buf();
        let runtimes = hub.runtimes().await?;
        let mut names: BTreeSet<String> = BTreeSet::new();
        for (rt, _) in runtimes.distinct() {
            // A backend that does not answer (libvirtd not running) hides only its own labs.
            match rt.labs().await {
                Ok(found) => names.extend(found),
                Err(e) => {
                    tracing::warn!(backend = rt.backend(), error = %e, "cannot list its labs")
                }
            }
        }
        names.extend(lab_folders(&root));
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            // A lab over several hosts is looked for on each of them.
            let own = match hub.runtimes_of_recorded(&name).await {
                Ok(own) => own,
                Err(e) => {
                    tracing::warn!(lab = %name, error = %e, "cannot read the lab's hosts");
                    None
                }
            };
            out.push(listing(own.as_ref().unwrap_or(runtimes), &root, name).await);
        }
        Ok(out)
    }
}

/// The lab folders of the state root (not the lock files beside them).
fn lab_folders(root: &Path) -> Vec<String> {
    std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

async fn listing(runtimes: &Runtimes, root: &Path, name: String) -> LabListing {
    let (mut containers, mut vms, mut netd, mut all_running, mut found) =
        (0, 0, false, true, false);
    for (rt, kinds) in runtimes.distinct() {
        let statuses = match rt.list(&name).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(lab = %name, backend = rt.backend(), error = %e, "cannot list the lab's workloads");
                continue;
            }
        };
        // Each kind from the runtime that serves it (one backend may be injected for both).
        for s in statuses
            .into_iter()
            .filter(|s| kinds.contains(&s.handle.kind))
        {
            found = true;
            all_running &= s.state == WorkloadState::Running;
            match (s.role, s.handle.kind) {
                (Some(Role::Netd), _) => netd = s.state == WorkloadState::Running,
                (_, WorkloadKind::Vm) => vms += 1,
                (_, WorkloadKind::Container) => containers += 1,
            }
        }
    }
    let vpn = vpn_exists(runtimes, &name);
    let state = match (found || vpn, all_running) {
        (false, _) => LabRunState::Down,
        (true, true) => LabRunState::Up,
        (true, false) => LabRunState::Partial,
    };
    let state_file = LabState::load(&name, &root.join(&name))
        .ok()
        .flatten()
        .is_some();
    LabListing {
        name,
        state,
        containers,
        vms,
        netd,
        vpn,
        state_file,
    }
}

/// Whether the lab's gateway interface (as the VPN service names it) exists on this host.
fn vpn_exists(runtimes: &Runtimes, lab: &str) -> bool {
    runtimes
        .vpn
        .as_ref()
        .and_then(|v| v.interface_name(lab))
        .is_some_and(|i| Path::new("/sys/class/net").join(i).exists())
}
