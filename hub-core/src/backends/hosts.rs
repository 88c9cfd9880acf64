//! The backends of a lab over several hosts: each host's Docker Engine (a Unix socket, or TCP
//! with TLS) and libvirt (virsh `-c URI`), and its capacity read from them.

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

/// What went wrong under `e`: the backend's own error and its causes (`... invalid peer
/// certificate: UnknownIssuer`), without the runtime's wording around it, which speaks of the
/// local engine ("is not running", a setup hint) and would mislead about a remote one.
fn cause(e: &hub_runtime::RuntimeError) -> String {
    use std::error::Error as _;
    e.source().map_or_else(|| e.to_string(), crate::error_chain)
}

/// Connects to a host's Docker Engine.
async fn connect_docker(
    host: &HostSpec,
    cfg: &DefaultsConfig,
) -> Result<Arc<DockerRuntime>, String> {
    let rt = match &host.docker {
        DockerEndpoint::Unix { path } => {
            DockerRuntime::connect_with_socket(&path.to_string_lossy()).await
        }
        DockerEndpoint::Tcp { addr, tls } => DockerRuntime::connect_tls(addr, tls).await,
    }
    .map_err(|e| format!("its Docker Engine at {}: {}", host.docker, cause(&e)))?;
    Ok(super::docker::with_progress(rt, cfg.progress.clone()))
}

/// Each host's backends, connected; the hosts that could not be reached, with why. The
/// hosts of `injected` (tests) are taken as given.
pub(crate) async fn connect(
    hosts: &[HostSpec],
    injected: &[HostBackends],
    cfg: &DefaultsConfig,
) -> (
    Vec<(HostBackends, Option<Arc<DockerRuntime>>)>,
    Vec<Unreachable>,
) {
    let connects = hosts.iter().map(|h| async move {
        if let Some(b) = injected.iter().find(|b| b.name == h.name) {
            return Ok((b.clone(), None));
        }
        let docker = connect_docker(h, cfg).await?;
        #[cfg(feature = "libvirt")]
        let libvirt = h.libvirt.as_ref().map(|uri| {
            let rt = hub_libvirt::LibvirtRuntime::with_uri(uri.clone());
            match &cfg.warm_cache {
                Some(dir) => rt.with_warm_cache(hub_libvirt::WarmCache::new(dir)),
                None => rt,
            }
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
            b = b.vms(Arc::new(lv));
        }
        Ok((b, Some(docker)))
    });
    let mut reached = Vec::new();
    let mut unreachable = Vec::new();
    for (h, r) in hosts.iter().zip(futures::future::join_all(connects).await) {
        match r {
            Ok(b) => reached.push(b),
            Err(reason) => unreachable.push(Unreachable {
                host: h.name.clone(),
                reason,
            }),
        }
    }
    (reached, unreachable)
}
