//! The lab network: a Docker bridge network with the lab's subnet, gateway and labels, or an
//! existing network the lab attaches to.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use async_trait::async_trait;
use bollard::models::{Ipam, Network, NetworkInspect};
use bollard::query_parameters::{InspectNetworkOptions, ListNetworksOptionsBuilder};
use hub_runtime::{NetworkInfo, NetworkRuntime, NetworkSpec, RuntimeError, RuntimeResult, labels};
use ipnet::{IpNet, Ipv4Net};

use crate::DockerRuntime;
use crate::error::{self, DockerError};
use crate::mapping::{BRIDGE_NAME_OPTION, network_request};

/// The parts of a Docker network the hub looks at (list and inspect answer with different
/// types).
struct NetView<'a> {
    id: &'a str,
    name: &'a str,
    ipam: Option<&'a Ipam>,
    options: Option<&'a HashMap<String, String>>,
    labels: Option<&'a HashMap<String, String>>,
}

/// `From<&T> for NetView` for bollard's network types, which have the same fields.
macro_rules! net_view_from {
    ($($t:ty),*) => {$(
        impl<'a> From<&'a $t> for NetView<'a> {
            fn from(n: &'a $t) -> Self {
                NetView {
                    id: n.id.as_deref().unwrap_or(""),
                    name: n.name.as_deref().unwrap_or(""),
                    ipam: n.ipam.as_ref(),
                    options: n.options.as_ref(),
                    labels: n.labels.as_ref(),
                }
            }
        }
    )*};
}

net_view_from!(Network, NetworkInspect);

impl NetView<'_> {
    /// Every subnet of the network (IPv4 and IPv6).
    fn subnets(&self) -> Vec<(IpNet, Option<Ipv4Addr>)> {
        self.ipam
            .and_then(|i| i.config.as_ref())
            .map(|cfgs| {
                cfgs.iter()
                    .filter_map(|c| {
                        let net: IpNet = c.subnet.as_deref()?.parse().ok()?;
                        Some((net, c.gateway.as_deref().and_then(|g| g.parse().ok())))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn ipv4(&self) -> Option<(Ipv4Net, Option<Ipv4Addr>)> {
        self.subnets().into_iter().find_map(|(n, g)| match n {
            IpNet::V4(v4) => Some((v4, g)),
            IpNet::V6(_) => None,
        })
    }

    fn label(&self, k: &str) -> Option<&str> {
        self.labels.and_then(|l| l.get(k)).map(String::as_str)
    }

    /// The Linux interface: the bridge name option when set, else Docker's `br-<12 hex>`.
    fn bridge(&self) -> String {
        match self.options.and_then(|o| o.get(BRIDGE_NAME_OPTION)) {
            Some(b) if !b.is_empty() => b.clone(),
            // By characters: the id comes from the engine and is not trusted to be ASCII.
            _ => format!("br-{}", self.id.chars().take(12).collect::<String>()),
        }
    }

    fn info(&self, lab: &str, owned: bool) -> RuntimeResult<NetworkInfo> {
        let (subnet, gateway) = self.ipv4().ok_or_else(|| {
            error::own(
                lab,
                format!("reading network {:?}", self.name),
                DockerError::NoIpv4Subnet {
                    network: self.name.to_string(),
                },
            )
        })?;
        Ok(NetworkInfo {
            id: self.id.to_string(),
            name: self.name.to_string(),
            bridge: self.bridge(),
            subnet,
            // Docker leaves the gateway out when it picked `.1` itself.
            gateway: gateway
                .unwrap_or_else(|| Ipv4Addr::from(u32::from(subnet.network()).wrapping_add(1))),
            owned,
        })
    }
}

fn overlaps(a: Ipv4Net, b: IpNet) -> bool {
    match b {
        IpNet::V4(b) => a.contains(&b.network()) || b.contains(&a.network()),
        IpNet::V6(_) => false,
    }
}

/// The first network whose subnet overlaps `subnet`, with that subnet.
fn find_overlap(nets: &[Network], subnet: Ipv4Net) -> Option<(String, IpNet)> {
    nets.iter().find_map(|n| {
        let v = NetView::from(n);
        v.subnets()
            .into_iter()
            .find(|(s, _)| overlaps(subnet, *s))
            .map(|(s, _)| (v.name.to_string(), s))
    })
}

impl DockerRuntime {
    async fn list_networks(
        &self,
        lab: &str,
        filter_lab: Option<&str>,
    ) -> RuntimeResult<Vec<Network>> {
        let mut builder = ListNetworksOptionsBuilder::new();
        if let Some(l) = filter_lab {
            let filters = HashMap::from([("label", vec![format!("{}={l}", labels::LAB)])]);
            builder = builder.filters(&filters);
        }
        self.docker
            .list_networks(Some(builder.build()))
            .await
            .map_err(|e| error::backend(lab, "listing Docker networks", e))
    }

    /// Removes one network; false when it was already gone.
    /// Removes the lab's VPN gateway containers (label `io.hub.kind=vpn`), forced: their
    /// WireGuard interface lives in their own namespace and goes with them.
    async fn remove_gateway_containers(&self, lab: &str) -> RuntimeResult<()> {
        let found = self.lab_containers(lab, Some(labels::KIND_VPN)).await?;
        for c in found.into_iter().filter_map(|c| c.id) {
            let rm = bollard::query_parameters::RemoveContainerOptionsBuilder::new()
                .force(true)
                .build();
            match self.docker.remove_container(&c, Some(rm)).await {
                Ok(()) => {}
                Err(e) if error::is_not_found(&e) => {}
                Err(e) => {
                    return Err(error::backend(
                        lab,
                        format!("removing the lab's VPN gateway {c}"),
                        e,
                    ));
                }
            }
        }
        Ok(())
    }

    async fn remove_one(&self, lab: &str, v: &NetView<'_>) -> RuntimeResult<bool> {
        match self.docker.remove_network(v.id).await {
            Ok(()) => Ok(true),
            Err(e) if error::is_not_found(&e) => Ok(false),
            Err(e) => Err(error::backend(
                lab,
                format!("removing network {:?}", v.name),
                e,
            )),
        }
    }

    async fn attach(&self, spec: &NetworkSpec, name: &str) -> RuntimeResult<NetworkInfo> {
        let lab = &spec.lab;
        let net = match self
            .docker
            .inspect_network(name, None::<InspectNetworkOptions>)
            .await
        {
            Ok(n) => n,
            Err(e) if error::is_not_found(&e) => {
                return Err(RuntimeError::NotFound {
                    lab: lab.clone(),
                    what: "network",
                    name: name.to_string(),
                });
            }
            Err(e) => {
                return Err(error::backend(
                    lab,
                    format!("inspecting network {name:?}"),
                    e,
                ));
            }
        };
        let info = NetView::from(&net).info(lab, false)?;
        if info.subnet != spec.subnet {
            return Err(error::own(
                lab,
                format!("attaching to network {name:?}"),
                DockerError::SubnetMismatch {
                    network: name.to_string(),
                    actual: info.subnet,
                    expected: spec.subnet,
                },
            ));
        }
        Ok(info)
    }

    async fn overlap_error(&self, spec: &NetworkSpec, docker_msg: &str) -> RuntimeError {
        let found = match self.list_networks(&spec.lab, None).await {
            Ok(nets) => find_overlap(&nets, spec.subnet),
            Err(e) => return e,
        };
        let (other, other_subnet) = found.unwrap_or_else(|| {
            (
                format!("another network ({docker_msg})"),
                IpNet::V4(spec.subnet),
            )
        });
        RuntimeError::SubnetOverlap {
            lab: spec.lab.clone(),
            subnet: spec.subnet,
            other,
            other_subnet,
        }
    }
}

#[async_trait]
impl NetworkRuntime for DockerRuntime {
    #[tracing::instrument(skip_all, fields(lab = %spec.lab, network = %spec.name))]
    async fn ensure_network(&self, spec: &NetworkSpec) -> RuntimeResult<NetworkInfo> {
        if let Some(name) = &spec.attach_to {
            return self.attach(spec, name).await;
        }
        let lab = &spec.lab;
        let nets = self.list_networks(lab, None).await?;
        // The lab's own network, from an earlier `up`: reuse it when it matches.
        let segment = spec.labels.get(labels::SEGMENT).map(String::as_str);
        for n in &nets {
            let v = NetView::from(n);
            if v.label(labels::LAB) == Some(lab.as_str())
                && v.label(labels::OWNED).is_some()
                && v.label(labels::SEGMENT) == segment
            {
                let info = v.info(lab, true)?;
                if info.subnet == spec.subnet {
                    return Ok(info);
                }
                return Err(error::own(
                    lab,
                    format!("creating network {:?}", spec.name),
                    DockerError::LabNetworkDiffers {
                        network: info.name,
                        actual: info.subnet,
                        expected: spec.subnet,
                    },
                ));
            }
        }
        if nets
            .iter()
            .any(|n| n.name.as_deref() == Some(spec.name.as_str()))
        {
            return Err(RuntimeError::NameTaken {
                lab: lab.clone(),
                what: "network",
                name: spec.name.clone(),
            });
        }
        if let Some((other, other_subnet)) = find_overlap(&nets, spec.subnet) {
            return Err(RuntimeError::SubnetOverlap {
                lab: lab.clone(),
                subnet: spec.subnet,
                other,
                other_subnet,
            });
        }
        let created = match self.docker.create_network(network_request(spec)).await {
            Ok(c) => c,
            Err(e) if error::is_pool_overlap(&e) => {
                return Err(self.overlap_error(spec, error::message_of(&e)).await);
            }
            Err(e) if error::is_conflict(&e) => {
                return Err(RuntimeError::NameTaken {
                    lab: lab.clone(),
                    what: "network",
                    name: spec.name.clone(),
                });
            }
            Err(e) => {
                return Err(error::backend(
                    lab,
                    format!("creating network {:?}", spec.name),
                    e,
                ));
            }
        };
        tracing::info!(id = %created.id, subnet = %spec.subnet, "created the lab network");
        Ok(NetworkInfo {
            id: created.id,
            name: spec.name.clone(),
            bridge: crate::mapping::bridge_name_of(spec),
            subnet: spec.subnet,
            gateway: spec.gateway,
            owned: true,
        })
    }

    async fn find_network(&self, lab: &str) -> RuntimeResult<Option<NetworkInfo>> {
        let nets = self.list_networks(lab, Some(lab)).await?;
        // The lab network itself, not one of its other segments.
        let first = nets
            .iter()
            .find(|n| NetView::from(*n).label(labels::SEGMENT).is_none());
        match first {
            Some(n) => {
                let v = NetView::from(n);
                v.info(lab, v.label(labels::OWNED).is_some()).map(Some)
            }
            None => Ok(None),
        }
    }

    #[tracing::instrument(skip_all, fields(lab))]
    async fn remove_network(&self, lab: &str) -> RuntimeResult<bool> {
        // A VPN gateway container of the lab (hub-mesh's, over several hosts) is joined to the
        // network and is no workload: it goes with the network, whoever runs the VPN now.
        self.remove_gateway_containers(lab).await?;
        let nets = self.list_networks(lab, Some(lab)).await?;
        let mut removed = false;
        for n in &nets {
            let v = NetView::from(n);
            if v.label(labels::OWNED).is_none() {
                continue;
            }
            removed |= self.remove_one(lab, &v).await?;
        }
        Ok(removed)
    }

    async fn list_segments(&self, lab: &str) -> RuntimeResult<Vec<String>> {
        let nets = self.list_networks(lab, Some(lab)).await?;
        Ok(nets
            .iter()
            .filter_map(|n| NetView::from(n).label(labels::SEGMENT).map(str::to_string))
            .collect())
    }

    async fn remove_segments(
        &self,
        lab: &str,
        segments: &[String],
        force: bool,
    ) -> RuntimeResult<Vec<String>> {
        let nets = self.list_networks(lab, Some(lab)).await?;
        let mut removed = Vec::new();
        for n in &nets {
            let v = NetView::from(n);
            let Some(seg) = v.label(labels::SEGMENT) else {
                continue;
            };
            if v.label(labels::OWNED).is_none() || !segments.iter().any(|s| s == seg) {
                continue;
            }
            // The list does not say who is joined: the inspect does.
            let joined: Vec<String> = match self
                .docker
                .inspect_network(v.id, None::<InspectNetworkOptions>)
                .await
            {
                Ok(i) => i.containers.unwrap_or_default().into_keys().collect(),
                Err(e) if error::is_not_found(&e) => continue,
                Err(e) => {
                    return Err(error::backend(
                        lab,
                        format!("inspecting network {:?}", v.name),
                        e,
                    ));
                }
            };
            if !joined.is_empty() && !force {
                tracing::info!(
                    lab,
                    network = v.name,
                    containers = joined.len(),
                    "segment left the spec but a container is still joined to it: network kept"
                );
                continue;
            }
            for c in joined {
                let req = bollard::models::NetworkDisconnectRequest {
                    container: c.clone(),
                    force: Some(true),
                };
                match self.docker.disconnect_network(v.id, req).await {
                    Ok(()) => {}
                    Err(e) if error::is_not_found(&e) => {}
                    Err(e) => {
                        return Err(error::backend(
                            lab,
                            format!("disconnecting {c} from network {:?}", v.name),
                            e,
                        ));
                    }
                }
            }
            if self.remove_one(lab, &v).await? {
                removed.push(seg.to_string());
            }
        }
        Ok(removed)
    }

    async fn remove_volumes(&self, lab: &str) -> RuntimeResult<Vec<String>> {
        self.remove_lab_volumes(lab).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::IpamConfig;

    fn net(name: &str, subnet: &str) -> Network {
        Network {
            name: Some(name.into()),
            id: Some("0123456789abcdef0123".into()),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn overlap_names_the_other_network() {
        let nets = vec![
            net("bridge", "172.17.0.0/16"),
            net("other", "10.201.5.0/24"),
            net("v6", "fd00::/64"),
        ];
        let hit = find_overlap(&nets, "10.201.5.128/25".parse().unwrap());
        assert_eq!(
            hit,
            Some(("other".to_string(), "10.201.5.0/24".parse().unwrap()))
        );
        assert_eq!(
            find_overlap(&nets, "10.201.0.0/16".parse().unwrap()).map(|h| h.0),
            Some("other".into())
        );
        assert_eq!(find_overlap(&nets, "10.201.6.0/24".parse().unwrap()), None);
    }

    #[test]
    fn info_reports_docker_bridge_name_and_default_gateway() {
        let n = net("foreign", "10.201.4.0/24");
        let info = NetView::from(&n).info("lab", false).unwrap();
        assert_eq!(info.bridge, "br-0123456789ab");
        assert_eq!(info.gateway, Ipv4Addr::new(10, 201, 4, 1));
        assert!(!info.owned);
        let v6 = net("v6", "fd00::/64");
        assert!(NetView::from(&v6).info("lab", false).is_err());
    }

    #[test]
    fn odd_ids_from_the_engine_do_not_panic() {
        for (id, bridge) in [
            ("abc", "br-abc"),
            ("", "br-"),
            ("ééééééééééééé", "br-éééééééééééé"),
        ] {
            let mut n = net("odd", "10.201.4.0/24");
            n.id = Some(id.into());
            let inspect = NetworkInspect {
                id: n.id.clone(),
                name: n.name.clone(),
                ipam: n.ipam.clone(),
                ..Default::default()
            };
            assert_eq!(NetView::from(&n).bridge(), bridge);
            assert_eq!(NetView::from(&inspect).bridge(), bridge);
        }
    }
}
