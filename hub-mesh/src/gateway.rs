//! The VPN gateway of a lab over several hosts: a container `hub-vpn-<lab>` of the mesh image
//! on the primary's lab network at the subnet's `.3` (an address the plan reserves), running
//! WireGuard in its own network namespace, with forwarding on there and its UDP port published
//! by the primary's Docker Engine. Through the primary's Docker API only: no route, rule or
//! interface is made in a host's own namespace, so it works on any host, remote or not, and a
//! killed gateway leaves only its container (found by the lab's labels).
//!
//! Clients reach the lab through it; the lab reaches the clients because every host's mesh
//! agent routes the VPN's subnet to `.3` ([`crate::MeshSpec::route_via`]). Its private key is
//! copied into it between create and start (`/vpn/wg.conf`, 0600), never put in its config.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, NetworkingConfig,
    PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use hub_docker::DockerRuntime;
use hub_wg::WgConfig;
use ipnet::Ipv4Net;
use sha2::{Digest, Sha256};

use crate::agent::{FileIn, Launch, Target, tun_device};
use crate::error::{MeshError, MeshResult};
use crate::image::{GATEWAY_PATH, ensure_mesh_image};

/// The `io.hub.kind` label of the gateway's container.
pub const GATEWAY_KIND: &str = hub_runtime::labels::KIND_VPN;
/// The WireGuard interface inside the gateway's container.
pub const GATEWAY_INTERFACE: &str = "wg0";

/// The gateway's container of `lab`.
pub fn gateway_container_name(lab: &str) -> String {
    format!("hub-vpn-{lab}")
}

/// The gateway's address on the lab network: the subnet's `.3`, which the address plan keeps
/// for it (never allocated, never given to a workload).
pub fn gateway_lab_address(lab_subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(lab_subnet.network()).saturating_add(3))
}

/// What the gateway runs with.
#[derive(Clone, Debug)]
pub struct GatewayContainer {
    /// The lab.
    pub lab: String,
    /// The primary host's name (for errors).
    pub host: String,
    /// The lab's Docker network on the primary (the container joins it at `.3`).
    pub network: String,
    /// The lab's subnet.
    pub lab_subnet: Ipv4Net,
    /// The gateway's WireGuard config, from [`hub_wg::Gateway::configs`] (secret).
    pub wg: WgConfig,
    /// The MTU of its WireGuard interface (the lab's segment MTU: a packet a client sends
    /// crosses the segment unfragmented).
    pub mtu: u16,
}

/// The gateway as it runs.
#[derive(Clone, Debug)]
pub struct GatewayRun {
    /// Whether this call started it (false: it ran already with this config).
    pub created: bool,
    /// Its report, e.g. `hub-vpn ready: wg0 (wireguard-go) 10.10.0.1/24, port 51820, mtu 1370`.
    pub ready: String,
}

impl GatewayContainer {
    fn port(&self) -> MeshResult<u16> {
        self.wg
            .interface
            .listen_port
            .ok_or_else(|| MeshError::InvalidSpec {
                lab: self.lab.clone(),
                reason: "the VPN gateway's config has no listen port".into(),
            })
    }

    fn address(&self) -> MeshResult<String> {
        self.wg
            .interface
            .addresses
            .first()
            .map(ToString::to_string)
            .ok_or_else(|| MeshError::InvalidSpec {
                lab: self.lab.clone(),
                reason: "the VPN gateway's config has no address".into(),
            })
    }

    /// `/vpn/env`, `/vpn/wg.conf` and the hash of everything but the private key.
    fn files(&self) -> MeshResult<(Vec<FileIn>, String)> {
        let port = self.port()?;
        let vars = [
            ("WG", GATEWAY_INTERFACE.to_string()),
            ("ADDR", self.address()?),
            ("PORT", port.to_string()),
            ("MTU", self.mtu.to_string()),
        ];
        let env = crate::env_file(&vars);
        let mut h = Sha256::new();
        h.update(env.as_bytes());
        h.update(self.network.as_bytes());
        h.update(self.lab_subnet.to_string().as_bytes());
        h.update(
            self.wg
                .interface
                .private_key
                .public_key()
                .to_base64()
                .as_bytes(),
        );
        for p in &self.wg.peers {
            h.update(p.public_key.to_base64().as_bytes());
            for ip in &p.allowed_ips {
                h.update(ip.to_string().as_bytes());
            }
        }
        let hash = crate::short_hex(h);
        let files = vec![
            ("vpn/env".into(), env, 0o644),
            ("vpn/wg.conf".into(), self.wg.strip(), 0o600),
        ];
        Ok((files, hash))
    }

    fn body(&self, image: &str, port: u16) -> ContainerCreateBody {
        let udp = format!("{port}/udp");
        let endpoint = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some(gateway_lab_address(self.lab_subnet).to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(vec!["/bin/sh".into(), GATEWAY_PATH.into()]),
            exposed_ports: Some(vec![udp.clone()]),
            host_config: Some(HostConfig {
                network_mode: Some(self.network.clone()),
                cap_add: Some(vec!["NET_ADMIN".into()]),
                devices: Some(vec![tun_device()]),
                sysctls: Some(HashMap::from([(
                    "net.ipv4.ip_forward".to_string(),
                    "1".to_string(),
                )])),
                port_bindings: Some(HashMap::from([(
                    udp,
                    Some(vec![PortBinding {
                        host_ip: None,
                        host_port: Some(port.to_string()),
                    }]),
                )])),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(self.network.clone(), endpoint)])),
            }),
            ..Default::default()
        }
    }
}

fn target<'a>(lab: &'a str, host: &'a str, docker: &'a DockerRuntime) -> Target<'a> {
    Target {
        lab,
        host,
        docker: docker.client(),
        kind: GATEWAY_KIND,
        what: "VPN gateway",
        ready: "hub-vpn ready",
    }
}

/// Runs the lab's gateway on `primary`, or leaves it running when its config is unchanged (a
/// changed one, peers included, replaces it: clients reconnect within a keepalive). The mesh
/// image is built on `local` (this machine's engine) and copied to the primary when it lacks
/// it. A gateway that does not come up is removed again; errors name the host.
pub async fn ensure_gateway(
    spec: &GatewayContainer,
    primary: &DockerRuntime,
    local: &DockerRuntime,
) -> MeshResult<GatewayRun> {
    let port = spec.port()?;
    let (files, hash) = spec.files()?;
    let image = ensure_mesh_image(local).await?;
    crate::image::copy_to(&spec.lab, &spec.host, primary, &image, local).await?;
    let t = target(&spec.lab, &spec.host, primary);
    let unchanged = t.running_with(&hash).await?;
    let ready = t
        .run(Launch {
            name: gateway_container_name(&spec.lab),
            body: spec.body(&image, port),
            files,
            hash,
        })
        .await?;
    // `run` leaves a running container with this hash alone; any other was replaced.
    let created = !unchanged;
    tracing::info!(lab = %spec.lab, host = %spec.host, "{ready}");
    Ok(GatewayRun { created, ready })
}

/// Whether the lab's gateway runs on `primary`.
pub async fn gateway_running(lab: &str, host: &str, primary: &DockerRuntime) -> MeshResult<bool> {
    target(lab, host, primary).running().await
}

/// Removes the lab's gateway from `primary` (found by its labels); returns whether there was
/// one.
pub async fn remove_gateway(lab: &str, host: &str, primary: &DockerRuntime) -> MeshResult<bool> {
    Ok(target(lab, host, primary).remove_all().await? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_wg::{KeyGen, SeededKeyGen, gateway_config};

    fn spec() -> GatewayContainer {
        let keys = SeededKeyGen::new(7);
        let gw = keys.generate().unwrap();
        let peer = keys.generate().unwrap();
        GatewayContainer {
            lab: "demo".into(),
            host: "h1".into(),
            network: "demo-net".into(),
            lab_subnet: "10.203.10.0/24".parse().unwrap(),
            wg: gateway_config(
                &gw.private,
                "10.10.0.1/24".parse().unwrap(),
                51820,
                &[(peer.public, "10.10.0.2".parse().unwrap())],
            ),
            mtu: 1370,
        }
    }

    #[test]
    fn the_key_goes_in_its_own_file_and_not_in_the_hash_or_env() {
        let s = spec();
        let (files, hash) = s.files().unwrap();
        let private = s.wg.interface.private_key.to_base64();
        let env = &files[0];
        assert_eq!(env.0, "vpn/env");
        assert!(env.1.contains("ADDR='10.10.0.1/24'"), "{}", env.1);
        assert!(env.1.contains("PORT='51820'") && env.1.contains("MTU='1370'"));
        assert!(!env.1.contains(&private) && !hash.contains(&private));
        assert_eq!(files[1].0, "vpn/wg.conf");
        assert_eq!(files[1].2, 0o600);
        assert!(files[1].1.contains(&private));
        // A peer more is another gateway; the same spec the same one.
        assert_eq!(spec().files().unwrap().1, hash);
        let mut more = spec();
        more.wg.peers.pop();
        assert_ne!(more.files().unwrap().1, hash);
    }

    #[test]
    fn it_sits_at_the_reserved_address_with_its_port_published() {
        let s = spec();
        assert_eq!(
            gateway_lab_address(s.lab_subnet),
            "10.203.10.3".parse::<Ipv4Addr>().unwrap()
        );
        let body = s.body("hub-mesh:0123456789ab", 51820);
        let hc = body.host_config.unwrap();
        assert_eq!(hc.network_mode.as_deref(), Some("demo-net"));
        let bound = hc.port_bindings.unwrap();
        let b = bound["51820/udp"].as_ref().unwrap();
        assert_eq!(b[0].host_port.as_deref(), Some("51820"));
        assert_eq!(hc.sysctls.unwrap()["net.ipv4.ip_forward"], "1");
        let ep = &body.networking_config.unwrap().endpoints_config.unwrap()["demo-net"];
        assert_eq!(
            ep.ipam_config.as_ref().unwrap().ipv4_address.as_deref(),
            Some("10.203.10.3")
        );
        assert_eq!(gateway_container_name("demo"), "hub-vpn-demo");
    }
}
