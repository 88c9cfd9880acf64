//! The backends of a lab over several hosts: each host's Docker Engine (a Unix socket, TCP
//! with TLS, or SSH) and libvirt (virsh `-c URI`), and its capacity read from them.

use std::sync::Arc;

use async_trait::async_trait;
use hub_docker::DockerRuntime;

use super::DefaultsConfig;
use crate::hosts::{HostBackends, HostCapacity, HostProbe, Unreachable};
use crate::spec::{DockerEndpoint, HostSpec};

/// A host's capacity from Docker's `/info` (CPUs, total memory) and, when it has libvirt,
/// `virsh nodeinfo` / `nodememstats` (memory available now).
struct EngineProbe {
    docker: Arc<DockerRuntime>,
    #[cfg(feature = "libvirt")]
    libvirt: Option<hub_libvirt::LibvirtRuntime>,
}

#[async_trait]
impl HostProbe for EngineProbe {
    async fn capacity(&self) -> Result<HostCapacity, String> {
        let (cpus, memory_total_mb) = self
            .docker
            .host_capacity()
            .await
            .map_err(|e| format!("its Docker Engine does not answer: {}", cause(&e)))?;
        let mut cap = HostCapacity {
            cpus,
            memory_total_mb,
            memory_available_mb: memory_total_mb,
            libvirt: None,
        };
        // A remote libvirt's node info is read the same way, over its connection.
        #[cfg(feature = "libvirt")]
        if let Some(lv) = &self.libvirt {
            match lv.node_capacity().await {
                Ok(n) => {
                    cap.memory_available_mb = n.memory_available_mb.min(memory_total_mb);
                    cap.libvirt = Some(Ok(()));
                }
                Err(e) => {
                    cap.libvirt = Some(Err(format!(
                        "libvirt at {} does not answer: {}",
                        lv.uri(),
                        crate::error_chain(&e)
                    )));
                }
            }
        }
        Ok(cap)
    }
}

/// `rt`, telling `progress` how the upload of a base image to host `host` goes.
#[cfg(feature = "libvirt")]
fn with_upload_progress(
    rt: hub_libvirt::LibvirtRuntime,
    host: &str,
    progress: Option<crate::progress::ProgressFn>,
) -> hub_libvirt::LibvirtRuntime {
    let Some(cb) = progress else { return rt };
    let host = host.to_string();
    rt.with_upload_progress(Arc::new(move |p: hub_libvirt::UploadProgress| {
        let stage = match p.stage {
            hub_libvirt::UploadStage::Sending => crate::progress::UploadStage::Sending,
            hub_libvirt::UploadStage::Uploaded(t) => crate::progress::UploadStage::Uploaded(t),
            hub_libvirt::UploadStage::Cached => crate::progress::UploadStage::Cached,
        };
        cb(&crate::progress::Progress::ImageUpload {
            host: host.clone(),
            image: p.image,
            volume: p.volume,
            bytes: (p.sent, p.total),
            stage,
        });
    }))
}

/// A host's libvirt as the keeper of the lab's VM volumes (on a remote libvirt, the lab's
/// storage pool).
#[cfg(feature = "libvirt")]
struct VmStorage(hub_libvirt::LibvirtRuntime);

#[cfg(feature = "libvirt")]
#[async_trait]
impl crate::hosts::LabStorage for VmStorage {
    async fn remove(&self, lab: &str) -> hub_runtime::RuntimeResult<bool> {
        self.0.remove_lab_storage(lab).await
    }
}

/// What went wrong under `e`: the backend's own error and its causes (`... invalid peer
/// certificate: UnknownIssuer`), without the runtime's wording around it, which speaks of the
/// local engine ("is not running", a setup hint) and would mislead about a remote one.
fn cause(e: &hub_runtime::RuntimeError) -> String {
    use std::error::Error as _;
    e.source().map_or_else(|| e.to_string(), crate::error_chain)
}

/// Connects to a host's Docker Engine.
pub(crate) async fn connect_docker(host: &HostSpec) -> Result<DockerRuntime, String> {
    match &host.docker {
        DockerEndpoint::Unix { path } => {
            DockerRuntime::connect_with_socket(&path.to_string_lossy()).await
        }
        DockerEndpoint::Tcp { addr, tls } => DockerRuntime::connect_tls(addr, tls).await,
        DockerEndpoint::Ssh {
            user,
            host,
            port,
            key,
            known_hosts,
        } => {
            DockerRuntime::connect_ssh(hub_docker::SshTarget {
                user: user.clone(),
                host: host.clone(),
                port: *port,
                identity: key.clone(),
                known_hosts: known_hosts.clone(),
            })
            .await
        }
    }
    .map_err(|e| format!("its Docker Engine at {}: {}", host.docker, cause(&e)))
}

/// The engines a host copies a missing image from: every other host reached, then `local`
/// (this machine's engine, where images are built).
fn image_sources(
    index: usize,
    engines: &[Result<DockerRuntime, String>],
    local: Option<&DockerRuntime>,
) -> Vec<DockerRuntime> {
    engines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .filter_map(|(_, e)| e.as_ref().ok())
        .chain(local)
        .cloned()
        .collect()
}

/// Each host's backends, connected; the hosts that could not be reached, with why. The
/// hosts of `injected` (tests) are taken as given. A host's engine copies an image it lacks
/// from the others (see [`image_sources`]).
pub(crate) async fn connect(
    hosts: &[HostSpec],
    injected: &[HostBackends],
    cfg: &DefaultsConfig,
    ssh_proxy: Option<String>,
) -> (
    Vec<(HostBackends, Option<Arc<DockerRuntime>>)>,
    Vec<Unreachable>,
) {
    let engines: Vec<Result<DockerRuntime, String>> =
        futures::future::join_all(hosts.iter().map(|h| async move {
            if injected.iter().any(|b| b.name == h.name) {
                return Err(String::new());
            }
            connect_docker(h).await
        }))
        .await;
    // This machine's engine, unless a host is already reached through a Unix socket.
    let local = if hosts
        .iter()
        .any(|h| matches!(h.docker, DockerEndpoint::Unix { .. }))
    {
        None
    } else {
        DockerRuntime::connect().await.ok()
    };
    let mut reached = Vec::new();
    let mut unreachable = Vec::new();
    for (index, (h, engine)) in hosts.iter().zip(&engines).enumerate() {
        if let Some(b) = injected.iter().find(|b| b.name == h.name) {
            reached.push((b.clone(), None));
            continue;
        }
        let docker = match engine {
            Ok(d) => d.clone(),
            Err(reason) => {
                unreachable.push(Unreachable {
                    host: h.name.clone(),
                    reason: reason.clone(),
                });
                continue;
            }
        };
        let docker = docker.with_image_sources(image_sources(index, &engines, local.as_ref()));
        let docker = super::docker::with_progress(docker, cfg.progress.clone());
        #[cfg(feature = "libvirt")]
        let libvirt = h.libvirt.as_ref().map(|uri| {
            let rt = hub_libvirt::LibvirtRuntime::with_uri(uri.clone());
            let rt = match &cfg.warm_cache {
                Some(dir) => rt.with_warm_cache(hub_libvirt::WarmCache::new(dir)),
                None => rt,
            };
            let rt = match &ssh_proxy {
                Some(p) => rt.with_ssh_proxy(p.clone()),
                None => rt,
            };
            with_upload_progress(rt, &h.name, cfg.progress.clone())
        });
        let probe = EngineProbe {
            docker: docker.clone(),
            #[cfg(feature = "libvirt")]
            libvirt: libvirt.clone(),
        };
        let mut b = HostBackends::new(h.name.clone(), Arc::new(probe))
            .containers(docker.clone())
            .network(docker.clone());
        #[cfg(feature = "libvirt")]
        if let Some(lv) = libvirt {
            b = b.storage(Arc::new(VmStorage(lv.clone()))).vms(Arc::new(lv));
        }
        reached.push((b, Some(docker)));
    }
    (reached, unreachable)
}

/// The lab segment of hub-mesh over the hosts' engines: a WireGuard mesh between the hosts'
/// underlay addresses with the lab's VXLAN inside it, enslaved to each host's lab bridge.
#[cfg(feature = "mesh")]
pub(crate) struct MeshSegment {
    /// The lab directory (the hosts' mesh keys go under `identity/wg/mesh/`).
    lab_dir: std::path::PathBuf,
    key_gen: Option<Arc<dyn hub_wg::KeyGen>>,
    /// Every host reached: its name, engine and underlay address.
    hosts: Vec<(String, Arc<DockerRuntime>, std::net::Ipv4Addr)>,
    /// The spec's port, underlay MTU and the networks routed to the VPN gateway.
    settings: super::SegmentSettings,
    /// This machine's engine, where the mesh image is built (connected on first use).
    local: tokio::sync::OnceCell<DockerRuntime>,
}

/// The UDP port the mesh's WireGuard listens on, on every host's underlay address, unless the
/// spec's `mesh.port` says: one of `MESH_PORT_BASE..MESH_PORT_BASE + 100`, by the lab's VNI
/// (two labs over the same hosts share one with a chance of 1 in 100; the second agent then
/// fails, naming its host, and `mesh.port` sets another).
#[cfg(feature = "mesh")]
pub const MESH_PORT_BASE: u16 = 51900;

#[cfg(feature = "mesh")]
impl MeshSegment {
    pub(crate) fn new(
        lab_dir: std::path::PathBuf,
        key_gen: Option<Arc<dyn hub_wg::KeyGen>>,
        hosts: Vec<(String, Arc<DockerRuntime>, std::net::Ipv4Addr)>,
        settings: super::SegmentSettings,
    ) -> Self {
        MeshSegment {
            lab_dir,
            key_gen,
            hosts,
            settings,
            local: tokio::sync::OnceCell::new(),
        }
    }

    fn underlay_mtu(&self) -> u16 {
        self.settings
            .underlay_mtu
            .unwrap_or(hub_mesh::DEFAULT_UNDERLAY_MTU)
    }

    async fn local(&self, lab: &str) -> hub_runtime::RuntimeResult<&DockerRuntime> {
        self.local
            .get_or_try_init(DockerRuntime::connect)
            .await
            .map_err(|e| {
                mesh_error(
                    lab,
                    "this machine's Docker Engine (the mesh image is built there)",
                    e,
                )
            })
    }

    fn host(&self, name: &str) -> Option<&(String, Arc<DockerRuntime>, std::net::Ipv4Addr)> {
        self.hosts.iter().find(|(n, _, _)| n == name)
    }
}

#[cfg(feature = "mesh")]
fn mesh_error(
    lab: &str,
    context: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> hub_runtime::RuntimeError {
    hub_runtime::RuntimeError::Backend {
        lab: lab.to_string(),
        context: context.to_string(),
        source: Box::new(e),
    }
}

#[cfg(feature = "mesh")]
#[async_trait]
impl crate::hosts::LabSegment for MeshSegment {
    fn lab_mtu(&self) -> u16 {
        self.underlay_mtu()
            .saturating_sub(hub_mesh::WG_OVERHEAD + hub_mesh::VXLAN_OVERHEAD)
    }

    async fn ensure(
        &self,
        lab: &str,
        subnet: ipnet::Ipv4Net,
        bridges: &[(String, String)],
    ) -> hub_runtime::RuntimeResult<()> {
        let port = self.settings.port.unwrap_or_else(|| {
            MESH_PORT_BASE + u16::try_from(hub_mesh::vni(lab) % 100).unwrap_or(0)
        });
        let mut spec = hub_mesh::MeshSpec::new(lab, &self.lab_dir, subnet, port)
            .underlay_mtu(self.underlay_mtu())
            .route_via(
                hub_mesh::gateway_lab_address(subnet),
                self.settings.vpn_subnets.clone(),
            );
        for (name, bridge) in bridges {
            let Some((_, docker, underlay)) = self.host(name) else {
                continue;
            };
            spec = spec.host(hub_mesh::MeshHost::new(
                name.clone(),
                (**docker).clone(),
                *underlay,
                bridge.clone(),
            ));
        }
        let local = self.local(lab).await?;
        let key_gen: &dyn hub_wg::KeyGen = match &self.key_gen {
            Some(k) => k.as_ref(),
            None => &hub_wg::OsKeyGen,
        };
        let info = hub_mesh::ensure(&spec, key_gen, local)
            .await
            .map_err(|e| mesh_error(lab, "the lab segment over the hosts", e))?;
        tracing::info!(
            lab,
            vni = info.vni,
            mtu = info.lab_mtu,
            hosts = info.hosts.len(),
            "the lab segment is up"
        );
        Ok(())
    }

    async fn remove(&self, lab: &str, hosts: &[String]) -> hub_runtime::RuntimeResult<()> {
        let targets: Vec<(&str, &DockerRuntime)> = hosts
            .iter()
            .filter_map(|h| self.host(h).map(|(n, d, _)| (n.as_str(), d.as_ref())))
            .collect();
        if targets.is_empty() {
            return Ok(());
        }
        let local = self.local(lab).await?;
        hub_mesh::remove(lab, &targets, local)
            .await
            .map_err(|e| mesh_error(lab, "removing the lab segment from the hosts", e))?;
        Ok(())
    }
}

#[cfg(all(test, feature = "mesh"))]
mod mesh_tests {
    #[test]
    fn the_spec_budgets_the_segment_as_the_mesh_does() {
        assert_eq!(
            crate::spec::SEGMENT_OVERHEAD,
            hub_mesh::WG_OVERHEAD + hub_mesh::VXLAN_OVERHEAD
        );
        assert_eq!(
            crate::spec::DEFAULT_UNDERLAY_MTU,
            hub_mesh::DEFAULT_UNDERLAY_MTU
        );
    }
}
