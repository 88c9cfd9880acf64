//! Virtual Hub's cross-host lab segment: one L2 segment for a lab whose workloads run on several
//! hosts.
//!
//! On every host of the lab, through that host's Docker API only, [`ensure`] runs the lab's
//! mesh agent (a container of an image the hub builds from this machine's `busybox`, `ip`,
//! `bridge`, `wg` and `wireguard-go`, copied to hosts that lack it). The agent makes
//! - a WireGuard interface `hubmw-<lab>` (the kernel's, else wireguard-go), meshed with every
//!   other host over the underlay, keys per host in `<lab>/identity/wg/mesh/<host>.key` (0600);
//! - a VXLAN device `hubmx-<lab>` with the lab's VNI, whose head-end replication list (an
//!   all-zeros FDB entry per remote host) points at the other hosts' *mesh* addresses, so raw
//!   VXLAN only ever travels inside WireGuard, enslaved to the lab's bridge on that host,
//!
//! and removes both when it is stopped. [`remove`] finds the agents by the lab's labels and
//! the interfaces by their lab-derived names, so it works after a crash. The lab's MTU is the
//! underlay's less both headers ([`MeshSpec::lab_mtu`], 1370 on 1500).
//!
//! ```no_run
//! # async fn demo(local: hub_docker::DockerRuntime, h1: hub_docker::DockerRuntime,
//! #               h2: hub_docker::DockerRuntime) -> Result<(), hub_mesh::MeshError> {
//! use hub_mesh::{MeshHost, MeshSpec};
//! let spec = MeshSpec::new("demo", "/var/lib/hub/demo", "10.77.0.0/24".parse().unwrap(), 51900)
//!     .host(MeshHost::new("h1", h1.clone(), "192.0.2.1".parse().unwrap(), "br-0123456789ab"))
//!     .host(MeshHost::new("h2", h2.clone(), "192.0.2.2".parse().unwrap(), "br-ba9876543210"));
//! let info = hub_mesh::ensure(&spec, &hub_wg::OsKeyGen, &local).await?;
//! println!("lab MTU {}", info.lab_mtu);
//! hub_mesh::remove("demo", &[("h1", &h1), ("h2", &h2)], &local).await?;
//! # Ok(())
//! # }
//! ```

mod agent;
mod error;
mod gateway;
mod image;
mod spec;

use std::collections::HashMap;
use std::net::Ipv4Addr;

use futures::future::join_all;
use hub_docker::DockerRuntime;
use hub_wg::{InterfaceSection, KeyGen, KeyStore, PeerSection, PublicKey, WgConfig};
use ipnet::{IpNet, Ipv4Net};
use sha2::{Digest, Sha256};

pub use agent::{MESH_KIND, container_name};
pub use error::{MeshError, MeshResult};
pub use gateway::{
    GATEWAY_INTERFACE, GATEWAY_KIND, GatewayContainer, GatewayRun, ensure_gateway,
    gateway_container_name, gateway_lab_address, gateway_running, remove_gateway,
};
pub use image::{MESH_IMAGE_REPO, ensure_mesh_image};
pub use spec::{
    DEFAULT_UNDERLAY_MTU, MeshHost, MeshSpec, VXLAN_OVERHEAD, VXLAN_PORT, VXLAN_PREFIX,
    WG_OVERHEAD, WG_PREFIX, default_subnet, vni, vxlan_interface, wg_interface,
};

use agent::{AgentConfig, Target};

/// One host of a mesh that is up.
#[derive(Clone, Debug)]
pub struct HostInfo {
    /// The host.
    pub name: String,
    /// Its address inside the mesh (the VXLAN's endpoint).
    pub mesh_address: Ipv4Addr,
    /// Its WireGuard public key.
    pub public_key: PublicKey,
    /// Bytes of the mesh image copied to it (`None`: it had the image).
    pub image_copied: Option<u64>,
    /// The agent's report, e.g. `hub-mesh ready: hubmw-demo (wireguard-go) ...`.
    pub ready: String,
}

/// A mesh that is up.
#[derive(Clone, Debug)]
pub struct MeshInfo {
    /// The image the agents run.
    pub image: String,
    /// The VXLAN network identifier.
    pub vni: u32,
    /// The WireGuard interface on every host.
    pub wg_interface: String,
    /// The VXLAN device on every host.
    pub vxlan_interface: String,
    /// The MTU the lab's segment gets.
    pub lab_mtu: u16,
    /// The hosts, in the spec's order.
    pub hosts: Vec<HostInfo>,
}

/// Shell-quotes a value for `/mesh/env` (the values are names and addresses already checked,
/// but a quote can never end up executed).
fn quoted(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

/// A shell file of assignments `K='V'`, one per line, sourced by the image's scripts.
fn env_file(vars: &[(&str, String)]) -> String {
    vars.iter()
        .map(|(k, v)| format!("{k}={}\n", quoted(v)))
        .collect()
}

/// The first 8 bytes of a digest in hex: the hash label of a container the hub made.
fn short_hex(h: Sha256) -> String {
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The agent config of host `index`, given every host's key.
fn agent_config(spec: &MeshSpec, index: usize, keys: &[hub_wg::KeyPair]) -> AgentConfig {
    let host = &spec.hosts[index];
    let mut wg = WgConfig {
        interface: InterfaceSection::new(keys[index].private.clone()),
        peers: Vec::new(),
    };
    wg.interface.listen_port = Some(spec.port);
    let mut peers = Vec::new();
    for (i, other) in spec.hosts.iter().enumerate().filter(|(i, _)| *i != index) {
        let addr = spec.mesh_address(i);
        let mut p = PeerSection::new(keys[i].public);
        p.endpoint = Some(format!("{}:{}", other.underlay, spec.port));
        p.allowed_ips = vec![IpNet::V4(Ipv4Net::from(addr))];
        wg.peers.push(p);
        peers.push(addr.to_string());
    }
    // Every host sends what sits behind the router (the VPN's clients) to it, on the lab bridge.
    let (router, routes) = match &spec.routed {
        Some((router, nets)) => (
            router.to_string(),
            nets.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        None => (String::new(), String::new()),
    };
    let vars = [
        ("WG", wg_interface(&spec.lab)),
        ("VX", vxlan_interface(&spec.lab)),
        ("VNI", vni(&spec.lab).to_string()),
        ("ADDR", spec.mesh_address(index).to_string()),
        ("PLEN", spec.subnet.prefix_len().to_string()),
        ("WG_MTU", spec.wg_mtu().to_string()),
        ("LAB_MTU", spec.lab_mtu().to_string()),
        ("BRIDGE", host.bridge.clone()),
        ("PEERS", peers.join(" ")),
        ("ROUTER", router),
        ("ROUTES", routes),
    ];
    let env = env_file(&vars);
    let mut h = Sha256::new();
    h.update(env.as_bytes());
    h.update(keys[index].public.to_base64().as_bytes());
    for p in &wg.peers {
        h.update(p.public_key.to_base64().as_bytes());
        h.update(p.endpoint.as_deref().unwrap_or("").as_bytes());
    }
    let hash = short_hex(h);
    AgentConfig {
        env,
        wg_conf: wg.strip(),
        hash,
    }
}

/// Makes the lab's mesh on every host of `spec`, or brings it in line (idempotent: an agent
/// whose config is unchanged is left running). `local` is this machine's engine, where the
/// mesh image is built and copied from. The spec is checked first; if any host fails, the
/// mesh is removed from every host again and the error names the host.
pub async fn ensure(
    spec: &MeshSpec,
    keygen: &dyn KeyGen,
    local: &DockerRuntime,
) -> MeshResult<MeshInfo> {
    spec.validate()?;
    let store = KeyStore::open(&spec.lab_dir).map_err(|e| MeshError::Key {
        lab: spec.lab.clone(),
        host: spec.hosts[0].name.clone(),
        source: Box::new(e),
    })?;
    let keys = spec
        .hosts
        .iter()
        .map(|h| {
            store.mesh(&h.name, keygen).map_err(|e| MeshError::Key {
                lab: spec.lab.clone(),
                host: h.name.clone(),
                source: Box::new(e),
            })
        })
        .collect::<MeshResult<Vec<_>>>()?;
    let image = ensure_mesh_image(local).await?;
    let keys = &keys;
    let results = join_all(spec.hosts.iter().enumerate().map(|(i, host)| {
        let cfg = agent_config(spec, i, keys);
        let image = image.clone();
        async move {
            let copied = image::copy_to(&spec.lab, &host.name, &host.docker, &image, local).await?;
            let target = Target::mesh(&spec.lab, &host.name, host.docker.client());
            let ready = target.ensure(&image, &cfg).await?;
            tracing::info!(lab = %spec.lab, host = %host.name, "{ready}");
            Ok::<_, MeshError>(HostInfo {
                name: host.name.clone(),
                mesh_address: spec.mesh_address(i),
                public_key: keys[i].public,
                image_copied: copied,
                ready,
            })
        }
    }))
    .await;
    let mut hosts = Vec::new();
    let mut first_error = None;
    for r in results {
        match r {
            Ok(h) => hosts.push(h),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        let all: Vec<(&str, &DockerRuntime)> = spec
            .hosts
            .iter()
            .map(|h| (h.name.as_str(), &h.docker))
            .collect();
        if let Err(cleanup) = remove(&spec.lab, &all, local).await {
            tracing::warn!(lab = %spec.lab, error = %cleanup, "removing a half-made mesh failed");
        }
        return Err(e);
    }
    Ok(MeshInfo {
        image,
        vni: vni(&spec.lab),
        wg_interface: wg_interface(&spec.lab),
        vxlan_interface: vxlan_interface(&spec.lab),
        lab_mtu: spec.lab_mtu(),
        hosts,
    })
}

/// Removes the lab's mesh from every host in `hosts` (name, engine), found by its marks: the
/// agent containers by the lab's labels (stopping one removes its interfaces), then the
/// interfaces a killed agent may have left, by their lab-derived names, with a short-lived
/// container of a mesh image the host has. Nothing there is not an error. Returns how many
/// agents were removed; errors name the host.
pub async fn remove(
    lab: &str,
    hosts: &[(&str, &DockerRuntime)],
    local: &DockerRuntime,
) -> MeshResult<usize> {
    let wanted = ensure_mesh_image(local).await.ok();
    let (wg, vx) = (wg_interface(lab), vxlan_interface(lab));
    let results = join_all(hosts.iter().map(|(name, docker)| {
        let (wanted, wg, vx) = (wanted.clone(), &wg, &vx);
        async move {
            let image = cleanup_image(docker, wanted.as_deref()).await;
            let target = Target::mesh(lab, name, docker.client());
            target.remove(image.as_deref(), wg, vx).await
        }
    }))
    .await;
    let mut removed = 0;
    for r in results {
        removed += r?;
    }
    Ok(removed)
}

/// A mesh image on `docker` for the cleanup container: the current one, else any other
/// `hub-mesh` image it holds. `None`: the host never had one, so no agent ever ran there.
async fn cleanup_image(docker: &DockerRuntime, wanted: Option<&str>) -> Option<String> {
    if let Some(w) = wanted {
        if docker.image_exists(w).await.unwrap_or(false) {
            return Some(w.to_string());
        }
    }
    let filters = HashMap::from([("reference", vec![MESH_IMAGE_REPO])]);
    let opts = bollard::query_parameters::ListImagesOptionsBuilder::new()
        .filters(&filters)
        .build();
    let images = docker.client().list_images(Some(opts)).await.ok()?;
    images
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .find(|t| t.starts_with(&format!("{MESH_IMAGE_REPO}:")))
}
