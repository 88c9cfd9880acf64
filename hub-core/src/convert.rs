//! From the user's lab spec to the resolved [`DesiredLab`] the engine works on.

use hub_runtime::NetworkSpec;

use crate::desired::{DesiredLab, DesiredWorkload, VpnPeerPlan, VpnPlan};
use crate::spec::ResolvedLab;

/// The engine's view of a resolved lab.
pub fn from_resolved(r: &ResolvedLab) -> DesiredLab {
    DesiredLab {
        name: r.name.clone(),
        network: NetworkSpec {
            lab: r.name.clone(),
            name: r.network_name.clone(),
            subnet: r.subnet,
            gateway: r.gateway,
            attach_to: r.attach_to.clone(),
            labels: Default::default(),
        },
        plan: r.plan,
        domain: r.domain.clone(),
        netd: true,
        upstreams: Vec::new(),
        workloads: r
            .workloads
            .iter()
            .map(|w| {
                let mut d = DesiredWorkload::new(w.to_workload_spec());
                d.depends_on = w.depends_on.clone();
                d
            })
            .collect(),
        vpn: r.vpn.as_ref().map(|v| VpnPlan {
            subnet: v.subnet,
            listen_port: v.listen_port.unwrap_or(crate::spec::DEFAULT_LISTEN_PORT),
            endpoint: v.endpoint.clone(),
            peers: v
                .peers
                .iter()
                .map(|p| VpnPeerPlan {
                    name: p.name.clone(),
                    address: p.address,
                })
                .collect(),
        }),
    }
}
