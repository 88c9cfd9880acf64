//! What a heal pass looks at: every workload of the plan in its runtime, netd, and the
//! WireGuard interface.

use hub_runtime::{Role, WorkloadKind, WorkloadState};

use super::pass::Pass;
use super::policy::Observed;
use crate::error::HubError;
use crate::up::plan::list_actual;

/// What one look saw: each workload of the plan (in plan order), netd and the gateway
/// (`None`: not watched; `Some(None)`: fine; `Some(Some(why))`: drifted).
pub(crate) struct Seen {
    pub workloads: Vec<Observed>,
    pub netd: Option<Option<String>>,
    pub vpn: Option<Option<String>>,
}

impl Pass<'_> {
    /// Looks at every workload, netd and the gateway.
    pub(crate) async fn observe(&self, lab: &str) -> Result<Seen, HubError> {
        let kinds: Vec<WorkloadKind> = self
            .desired
            .workloads
            .iter()
            .map(|w| w.spec.kind())
            .collect();
        let actual = list_actual(self.runtimes, lab, &kinds).await?;
        let workloads = self
            .desired
            .workloads
            .iter()
            .map(|w| {
                Observed::of(
                    actual
                        .iter()
                        .find(|s| s.role != Some(Role::Netd) && s.handle.name == w.name()),
                )
            })
            .collect();
        let mut netd = None;
        if let Some(service) = self.runtimes.netd.as_ref().filter(|_| self.desired.netd) {
            let runs = actual
                .iter()
                .find(|s| s.role == Some(Role::Netd))
                .map(|s| s.state == WorkloadState::Running);
            // A netd the runtimes do not list (an injected service) is asked directly.
            netd = match runs {
                Some(true) => Some(None),
                Some(false) => Some(Some("netd is not running".to_string())),
                None => match service.exists(lab).await {
                    Ok(true) => Some(None),
                    Ok(false) => Some(Some("netd is gone".to_string())),
                    Err(e) => {
                        tracing::warn!(lab, error = %e, "cannot tell whether netd runs");
                        None
                    }
                },
            };
        }
        let mut vpn = None;
        if let (Some(service), Some(_)) = (&self.runtimes.vpn, &self.desired.vpn) {
            vpn = match service.is_up(lab).await {
                Ok(Some(false)) => Some(Some("the WireGuard interface is gone".to_string())),
                Ok(Some(true)) => Some(None),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(lab, error = %e, "cannot tell whether the gateway runs");
                    None
                }
            };
        }
        Ok(Seen {
            workloads,
            netd,
            vpn,
        })
    }
}
