//! The WireGuard gateway (hub-wg) as the hub's VPN service.

use std::sync::Arc;

use async_trait::async_trait;
use hub_runtime::LabContext;
use hub_wg::{Gateway, GatewaySpec, KeyGen, OsKeyGen, PeerSpec, SegmentRoute, WgMode};

use crate::desired::VpnPlan;
use crate::error::BoxError;
use crate::services::{VpnInfo, VpnPeerInfo, VpnService};

/// The host's WireGuard gateway (kernel WireGuard, else wireguard-go), keys from `key_gen`.
pub struct WgGateway {
    key_gen: Arc<dyn KeyGen>,
}

impl WgGateway {
    /// A gateway whose keys come from `key_gen` (default: the OS's randomness).
    pub fn new(key_gen: Option<Arc<dyn KeyGen>>) -> Self {
        WgGateway {
            key_gen: key_gen.unwrap_or_else(|| Arc::new(OsKeyGen)),
        }
    }
}

/// hub-wg's gateway spec of `lab`'s VPN, its clients told `endpoint`.
pub(crate) fn gateway_spec(
    lab: &LabContext,
    plan: &VpnPlan,
    endpoint: Option<String>,
) -> GatewaySpec {
    GatewaySpec {
        lab: lab.name.clone(),
        dir: lab.dir.clone(),
        vpn_subnet: plan.subnet,
        lab_subnet: lab.network.subnet,
        bridge: lab.network.bridge.clone(),
        segments: plan
            .segments
            .iter()
            .map(|s| SegmentRoute {
                subnet: s.subnet,
                bridge: s.bridge.clone(),
            })
            .collect(),
        listen_port: plan.listen_port,
        endpoint,
        dns: lab.dns.first().copied().unwrap_or(lab.network.gateway),
        dns_search: (!lab.domain.is_empty()).then(|| lab.domain.clone()),
        peers: plan
            .peers
            .iter()
            .map(|p| PeerSpec::new(p.name.clone(), p.address))
            .collect(),
    }
}

/// Each client of `plan` with the config file hub-wg wrote for it.
pub(crate) fn peer_infos(
    lab: &LabContext,
    plan: &VpnPlan,
    configs: &std::collections::BTreeMap<String, std::path::PathBuf>,
) -> Vec<VpnPeerInfo> {
    plan.peers
        .iter()
        .map(|p| VpnPeerInfo {
            name: p.name.clone(),
            address: p.address,
            config: configs
                .get(&p.name)
                .cloned()
                .unwrap_or_else(|| Gateway::client_config_path(&lab.dir, &p.name)),
        })
        .collect()
}

#[async_trait]
impl VpnService for WgGateway {
    async fn up(&self, lab: &LabContext, plan: &VpnPlan) -> Result<VpnInfo, BoxError> {
        let spec = gateway_spec(lab, plan, plan.endpoint.clone());
        let key_gen = self.key_gen.clone();
        // hub-wg runs `ip`, `wg` and `iptables`: blocking work.
        let info =
            tokio::task::spawn_blocking(move || Gateway::up(&spec, key_gen.as_ref())).await??;
        let peers = peer_infos(lab, plan, &info.client_configs);
        Ok(VpnInfo {
            interface: info.interface,
            created: info.mode != WgMode::Existing,
            peers,
        })
    }

    fn interface_name(&self, lab: &str) -> Option<String> {
        Some(Gateway::interface_name(lab))
    }

    async fn is_up(&self, lab: &str) -> Result<Option<bool>, BoxError> {
        Ok(Some(Gateway::is_up(lab)))
    }

    async fn down(&self, lab: &str) -> Result<bool, BoxError> {
        let lab = lab.to_string();
        let r = tokio::task::spawn_blocking(move || Gateway::down(&lab)).await??;
        Ok(r.interface_removed || r.rules_removed > 0)
    }
}
