//! Containers on several segments: the interfaces after the first, connected in the spec's
//! order once the container runs, their MACs, and a default route given to a workload.
//!
//! Docker below 28 (Debian 12's 20.10 among them) joins the networks of a container that is
//! starting in map order (`eth1` may be any of them) and sets a chosen MAC only on the first
//! endpoint. So a container is created on its first network alone; its other attachments
//! travel in a label, and after each start they are connected one by one (`eth1`, `eth2`...
//! in order), each MAC set from the host in the container's network namespace, and the
//! default route pointed at the segment's gateway workload. The host does it (`nsenter`),
//! so the container needs neither `NET_ADMIN` nor `ip` in its image.

use std::net::Ipv4Addr;
use std::time::Duration;

use bollard::models::{
    EndpointIpamConfig, EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::InspectContainerOptions;
use hub_runtime::process::Tool;
use hub_runtime::{Attachment, ContainerSpec, RuntimeResult, WorkloadHandle, labels};
use serde::{Deserialize, Serialize};

use crate::DockerRuntime;
use crate::container::target;
use crate::error;
use crate::netd::fail;

/// How long one `nsenter` call may take.
const NSENTER_LIMIT: Duration = Duration::from_secs(10);

/// What is done after a start, as the container's [`labels::ATTACHMENTS`] label holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Wiring {
    /// The attachments after the first, in order.
    #[serde(default)]
    pub(crate) extra: Vec<Attachment>,
    /// The default route's next hop, when not the first network's bridge.
    #[serde(default)]
    pub(crate) default_route: Option<Ipv4Addr>,
}

impl Wiring {
    /// The wiring of a container spec, `None` when a start needs none.
    pub(crate) fn of(spec: &ContainerSpec) -> Option<Wiring> {
        let w = Wiring {
            extra: spec.networks.iter().skip(1).cloned().collect(),
            default_route: spec.default_route,
        };
        (w != Wiring::default()).then_some(w)
    }

    /// The label value.
    pub(crate) fn to_label(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl DockerRuntime {
    /// The wiring label of a container, and whether each of its extra networks is connected.
    async fn wiring(&self, h: &WorkloadHandle) -> RuntimeResult<Option<(Wiring, Vec<bool>, i64)>> {
        let i = self
            .docker
            .inspect_container(&target(h), None::<InspectContainerOptions>)
            .await
            .map_err(|e| error::backend(&h.lab, format!("inspecting {:?}", h.name), e))?;
        let Some(label) = i
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(labels::ATTACHMENTS))
        else {
            return Ok(None);
        };
        let wiring: Wiring = serde_json::from_str(label).map_err(|e| {
            fail(
                &h.lab,
                format!("reading the networks label of container {:?}", h.name),
                e,
            )
        })?;
        let joined = i
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref());
        let connected = wiring
            .extra
            .iter()
            .map(|a| joined.is_some_and(|j| j.contains_key(&a.network)))
            .collect();
        let pid = i.state.as_ref().and_then(|s| s.pid).unwrap_or(0);
        Ok(Some((wiring, connected, pid)))
    }

    /// Before a start: disconnects the extra networks a stopped container still holds, so
    /// that they are joined again in order after the start.
    pub(crate) async fn unwire(&self, h: &WorkloadHandle) -> RuntimeResult<()> {
        let Some((wiring, connected, _)) = self.wiring(h).await? else {
            return Ok(());
        };
        for (a, _) in wiring.extra.iter().zip(connected).filter(|(_, c)| *c) {
            let req = NetworkDisconnectRequest {
                container: target(h),
                force: Some(true),
            };
            self.docker
                .disconnect_network(&a.network, req)
                .await
                .map_err(|e| {
                    error::backend(
                        &h.lab,
                        format!("disconnecting {:?} from {:?}", h.name, a.network),
                        e,
                    )
                })?;
        }
        Ok(())
    }

    /// After a start: connects the extra networks in order, sets their MACs and the default
    /// route.
    pub(crate) async fn wire(&self, h: &WorkloadHandle) -> RuntimeResult<()> {
        let Some((wiring, connected, pid)) = self.wiring(h).await? else {
            return Ok(());
        };
        for (k, (a, done)) in wiring.extra.iter().zip(connected).enumerate() {
            if done {
                continue;
            }
            let req = NetworkConnectRequest {
                container: target(h),
                endpoint_config: Some(EndpointSettings {
                    ipam_config: Some(EndpointIpamConfig {
                        ipv4_address: Some(a.ip.to_string()),
                        ..Default::default()
                    }),
                    mac_address: Some(a.mac.to_string()),
                    ..Default::default()
                }),
            };
            self.docker
                .connect_network(&a.network, req)
                .await
                .map_err(|e| {
                    error::backend(
                        &h.lab,
                        format!("connecting {:?} to network {:?}", h.name, a.network),
                        e,
                    )
                })?;
            let ifname = format!("eth{}", k + 1);
            self.set_mac(h, pid, &ifname, a).await?;
        }
        if let Some(via) = wiring.default_route {
            netns(
                h,
                pid,
                &["ip", "route", "replace", "default", "via", &via.to_string()],
            )
            .await?;
        }
        Ok(())
    }

    /// Sets an interface's MAC when the engine chose another (engines below API 1.44 ignore
    /// the endpoint's MAC on connect). The link goes down for the change: veth refuses a new
    /// address while up.
    async fn set_mac(
        &self,
        h: &WorkloadHandle,
        pid: i64,
        ifname: &str,
        a: &Attachment,
    ) -> RuntimeResult<()> {
        let now = netns(h, pid, &["ip", "-o", "link", "show", "dev", ifname]).await?;
        let mac_now = now
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .unwrap_or_default();
        if mac_now.eq_ignore_ascii_case(&a.mac.to_string()) {
            return Ok(());
        }
        let mac = a.mac.to_string();
        netns(h, pid, &["ip", "link", "set", "dev", ifname, "down"]).await?;
        netns(
            h,
            pid,
            &["ip", "link", "set", "dev", ifname, "address", &mac],
        )
        .await?;
        netns(h, pid, &["ip", "link", "set", "dev", ifname, "up"]).await?;
        Ok(())
    }
}

/// Runs `cmd` in the network namespace of process `pid` (the container's), from the host.
async fn netns(h: &WorkloadHandle, pid: i64, cmd: &[&str]) -> RuntimeResult<String> {
    if pid <= 0 {
        return Err(fail(
            &h.lab,
            format!("wiring container {:?}", h.name),
            std::io::Error::other("the container does not run (no process id)"),
        ));
    }
    let tool = Tool::new("nsenter")
        .args(["-t", &pid.to_string(), "-n"])
        .args(cmd);
    tool.timeout(NSENTER_LIMIT).run().await.map_err(|e| {
        fail(
            &h.lab,
            format!("wiring container {:?} (`{}`)", h.name, cmd.join(" ")),
            e,
        )
    })
}
