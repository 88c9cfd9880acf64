//! The VPN service of a lab over several hosts: hub-wg makes the keys and client configs in the
//! lab directory here, and hub-mesh runs the gateway as a container on the primary (see
//! `hub_mesh::ensure_gateway`), whatever machine that is.

use std::net::Ipv4Addr;
use std::sync::Arc;

use async_trait::async_trait;
use hub_docker::DockerRuntime;
use hub_runtime::LabContext;
use hub_wg::{Gateway, KeyGen, OsKeyGen};

use crate::desired::VpnPlan;
use crate::error::BoxError;
use crate::services::{VpnInfo, VpnService};

/// The gateway container on the primary host.
pub(crate) struct ContainerGateway {
    /// The primary's name.
    host: String,
    /// The primary's engine.
    primary: Arc<DockerRuntime>,
    /// The primary's underlay address: what clients dial unless the spec gives an endpoint.
    address: Option<Ipv4Addr>,
    /// The lab segment's MTU, given to the gateway's WireGuard interface.
    mtu: u16,
    key_gen: Arc<dyn KeyGen>,
    /// This machine's engine, where the mesh image is built (connected on first use).
    local: tokio::sync::OnceCell<DockerRuntime>,
}

impl ContainerGateway {
    /// The gateway of a lab whose primary is `host`, reached through `primary`.
    pub(crate) fn new(
        host: String,
        primary: Arc<DockerRuntime>,
        address: Option<Ipv4Addr>,
        mtu: u16,
        key_gen: Option<Arc<dyn KeyGen>>,
    ) -> Self {
        ContainerGateway {
            host,
            primary,
            address,
            mtu,
            key_gen: key_gen.unwrap_or_else(|| Arc::new(OsKeyGen)),
            local: tokio::sync::OnceCell::new(),
        }
    }

    async fn local(&self) -> Result<&DockerRuntime, BoxError> {
        Ok(self.local.get_or_try_init(DockerRuntime::connect).await?)
    }
}

#[async_trait]
impl VpnService for ContainerGateway {
    async fn up(&self, lab: &LabContext, plan: &VpnPlan) -> Result<VpnInfo, BoxError> {
        // Clients dial the primary (the spec's endpoint, else its underlay address).
        let endpoint = plan
            .endpoint
            .clone()
            .or_else(|| self.address.map(|a| a.to_string()));
        let spec = super::wg::gateway_spec(lab, plan, endpoint);
        let key_gen = self.key_gen.clone();
        // Key files and client configs: blocking file work.
        let configs =
            tokio::task::spawn_blocking(move || Gateway::configs(&spec, key_gen.as_ref()))
                .await??;
        let container = hub_mesh::GatewayContainer {
            lab: lab.name.clone(),
            host: self.host.clone(),
            network: lab.network.name.clone(),
            lab_subnet: lab.network.subnet,
            wg: configs.server,
            mtu: self.mtu,
        };
        let run = hub_mesh::ensure_gateway(&container, &self.primary, self.local().await?).await?;
        let peers = super::wg::peer_infos(lab, plan, &configs.client_configs);
        Ok(VpnInfo {
            interface: format!(
                "{} in {}",
                hub_mesh::GATEWAY_INTERFACE,
                hub_mesh::gateway_container_name(&lab.name)
            ),
            created: run.created,
            peers,
        })
    }

    async fn is_up(&self, lab: &str) -> Result<Option<bool>, BoxError> {
        Ok(Some(
            hub_mesh::gateway_running(lab, &self.host, &self.primary).await?,
        ))
    }

    async fn down(&self, lab: &str) -> Result<bool, BoxError> {
        Ok(hub_mesh::remove_gateway(lab, &self.host, &self.primary).await?)
    }
}
