//! The backends a hub drives.

use std::sync::Arc;

use hub_runtime::{NetworkRuntime, Runtime, WorkloadKind};

use crate::error::HubError;
use crate::services::{NetdService, VpnService};

/// The backends of one hub: a runtime per kind of workload, the lab network, and the
/// optional services.
#[derive(Clone, Default)]
pub struct Runtimes {
    /// Runs containers.
    pub containers: Option<Arc<dyn Runtime>>,
    /// Runs VMs.
    pub vms: Option<Arc<dyn Runtime>>,
    /// Makes the lab network.
    pub network: Option<Arc<dyn NetworkRuntime>>,
    /// netd (absent: the lab runs without its own DHCP/DNS).
    pub netd: Option<Arc<dyn NetdService>>,
    /// The WireGuard gateway (absent: a lab asking for a VPN is refused).
    pub vpn: Option<Arc<dyn VpnService>>,
    /// A lab over several hosts: the hosts, and where each workload runs (`containers`,
    /// `vms` and `network` then route to them; see [`crate::hosts`]).
    pub hosts: Option<Arc<crate::hosts::HostSet>>,
}

impl std::fmt::Debug for Runtimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtimes")
            .field("containers", &self.containers.as_ref().map(|r| r.backend()))
            .field("vms", &self.vms.as_ref().map(|r| r.backend()))
            .field("network", &self.network.is_some())
            .field("netd", &self.netd.is_some())
            .field("vpn", &self.vpn.is_some())
            .field("hosts", &self.hosts)
            .finish()
    }
}

impl Runtimes {
    /// The runtime for `kind`.
    pub fn for_kind(&self, lab: &str, kind: WorkloadKind) -> Result<&Arc<dyn Runtime>, HubError> {
        let (rt, feature) = match kind {
            WorkloadKind::Container => (&self.containers, "docker"),
            WorkloadKind::Vm => (&self.vms, "libvirt"),
        };
        rt.as_ref().ok_or_else(|| HubError::NoRuntime {
            lab: lab.to_string(),
            kind,
            hint: format!("enable hub-core's feature `{feature}` or inject one with the builder"),
        })
    }

    /// The host workload `name` of `kind` runs on, in a lab over several hosts.
    pub fn host_of(&self, kind: WorkloadKind, name: &str) -> Option<String> {
        self.hosts.as_ref()?.host_of(kind, name)
    }

    /// The network runtime.
    pub fn network(&self, lab: &str) -> Result<&Arc<dyn NetworkRuntime>, HubError> {
        self.network.as_ref().ok_or_else(|| HubError::Invalid {
            what: format!("lab {lab:?}"),
            reason: "no network runtime; enable hub-core's feature `docker` or inject one with \
                     the builder"
                .into(),
        })
    }

    /// The distinct workload runtimes with the kinds each is responsible for.
    pub(crate) fn distinct(&self) -> Vec<(Arc<dyn Runtime>, Vec<WorkloadKind>)> {
        let mut out: Vec<(Arc<dyn Runtime>, Vec<WorkloadKind>)> = Vec::new();
        for (rt, kind) in [
            (&self.containers, WorkloadKind::Container),
            (&self.vms, WorkloadKind::Vm),
        ] {
            let Some(rt) = rt else { continue };
            if let Some(entry) = out.iter_mut().find(|(r, _)| same(r, rt)) {
                entry.1.push(kind);
            } else {
                out.push((rt.clone(), vec![kind]));
            }
        }
        out
    }
}

fn same(a: &Arc<dyn Runtime>, b: &Arc<dyn Runtime>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}
