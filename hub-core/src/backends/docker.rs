//! The Docker backend: containers, the lab network, and netd run from the hub's own binary.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use hub_docker::DockerRuntime;
use hub_docker::netd as dnetd;
use hub_net::netd::{DnsRecord, NetdConfig, Reservation};
use hub_runtime::{LabContext, Runtime, WorkloadHandle, WorkloadKind};

use crate::desired::NetdPlan;
use crate::error::BoxError;
use crate::progress::{Progress, ProgressFn};
use crate::services::{NetdOutcome, NetdService};

/// Connects to the local Docker Engine, forwarding image pull progress.
pub(crate) async fn connect(
    progress: Option<ProgressFn>,
) -> Result<Arc<DockerRuntime>, hub_runtime::RuntimeError> {
    Ok(with_progress(DockerRuntime::connect().await?, progress))
}

/// `rt`, forwarding its image pull progress to `progress`.
pub(crate) fn with_progress(rt: DockerRuntime, progress: Option<ProgressFn>) -> Arc<DockerRuntime> {
    let mut rt = rt;
    if let Some(cb) = progress {
        rt = rt.with_pull_progress(Arc::new(move |p: hub_docker::PullProgress| {
            let status = match &p.layer {
                Some(l) => format!("{} {l}", p.status),
                None => p.status.clone(),
            };
            cb(&Progress::Pulling {
                image: p.image.clone(),
                status,
                bytes: p.current.zip(p.total),
            });
        }));
    }
    Arc::new(rt)
}

/// netd as a container of the hub's own executable (hub-docker's netd module).
pub struct DockerNetd {
    docker: Arc<DockerRuntime>,
    hub_bin: Option<PathBuf>,
    /// Where netd's folder is kept: the lab's netd directory bind-mounted (an engine on this
    /// machine), or the lab's netd volume (another machine's).
    storage: dnetd::NetdStorage,
}

impl DockerNetd {
    /// netd on `docker`, this machine's engine, its image built from `hub_bin` (else
    /// `HUB_BIN`, else `hub` on PATH), the lab's netd directory bind-mounted.
    pub fn new(docker: Arc<DockerRuntime>, hub_bin: Option<PathBuf>) -> Self {
        DockerNetd {
            docker,
            hub_bin,
            storage: dnetd::NetdStorage::Bind,
        }
    }

    /// netd on `docker`, the engine of host `host` on another machine: its folder is the lab's
    /// netd volume there, the config copied in and the leases read back through the archive
    /// API (see [`dnetd::NetdStorage::Volume`]).
    pub fn remote(docker: Arc<DockerRuntime>, hub_bin: Option<PathBuf>, host: &str) -> Self {
        DockerNetd {
            docker,
            hub_bin,
            storage: dnetd::NetdStorage::Volume {
                host: host.to_string(),
            },
        }
    }

    /// netd on `docker`, the engine of the primary host `host`: [`DockerNetd::remote`] when
    /// its Docker endpoint is another machine's (`tcp://`, `ssh://`), else [`DockerNetd::new`].
    pub fn for_host(
        docker: Arc<DockerRuntime>,
        hub_bin: Option<PathBuf>,
        host: Option<&crate::spec::HostSpec>,
    ) -> Self {
        match host {
            Some(h) if !h.docker.is_local() => Self::remote(docker, hub_bin, &h.name),
            _ => Self::new(docker, hub_bin),
        }
    }

    fn handle(lab: &str) -> WorkloadHandle {
        WorkloadHandle {
            lab: lab.to_string(),
            name: dnetd::NETD_NAME.into(),
            kind: WorkloadKind::Container,
            id: hub_docker::mapping::container_name(lab, dnetd::NETD_NAME),
        }
    }

    async fn running(&self, lab: &str) -> Result<Option<bool>, BoxError> {
        match self.docker.inspect(&Self::handle(lab)).await {
            Ok(s) => Ok(Some(s.state == hub_runtime::WorkloadState::Running)),
            Err(hub_runtime::RuntimeError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// netd's reservations for the plan's.
fn reservations(plan: &[crate::desired::DhcpReservation]) -> Vec<Reservation> {
    plan.iter()
        .map(|r| Reservation {
            mac: r.mac,
            ip: r.ip,
            hostname: Some(r.hostname.clone()),
            router: r.router,
        })
        .collect()
}

/// netd's configuration for a plan.
pub fn netd_config(plan: &NetdPlan) -> Result<NetdConfig, BoxError> {
    let mut cfg = NetdConfig::new(
        plan.subnet,
        hub_net::AddrRange::new(plan.dhcp_range.0, plan.dhcp_range.1),
        plan.domain.clone(),
    );
    cfg.server_ip = plan.ip;
    cfg.router = plan.gateway;
    cfg.upstreams = plan
        .upstreams
        .iter()
        .map(|ip| std::net::SocketAddr::from((*ip, 53)))
        .collect();
    cfg.records = plan
        .records
        .iter()
        .map(|r| DnsRecord {
            name: r.name.clone(),
            ip: r.ip,
        })
        .collect();
    cfg.segments = plan
        .segments
        .iter()
        .map(|s| hub_net::netd::SegmentConfig {
            name: s.name.clone(),
            subnet: s.subnet,
            server_ip: s.ip,
            router: Some(s.router),
            dhcp_range: Some(hub_net::AddrRange::new(s.dhcp_range.0, s.dhcp_range.1)),
            reservations: reservations(&s.reservations),
        })
        .collect();
    cfg.reservations = reservations(&plan.reservations);
    cfg.mtu = plan.mtu;
    Ok(cfg)
}

#[async_trait]
impl NetdService for DockerNetd {
    async fn ensure(&self, lab: &LabContext, plan: &NetdPlan) -> Result<NetdOutcome, BoxError> {
        let cfg = netd_config(plan)?;
        let config_path = dnetd::netd_dir(&lab.dir).join(hub_net::netd::CONFIG_FILE);
        let before = std::fs::read_to_string(&config_path).ok();
        let running = self.running(&lab.name).await?;
        if running == Some(true) {
            // The running netd reloads its config by itself: only write a changed one. (A new
            // hub binary does not replace a running netd whose config is unchanged.) On another
            // machine the record is written only once netd has the config.
            if before.as_deref() == Some(dnetd::netd_config_json(&cfg)?.as_str()) {
                return Ok(NetdOutcome::Unchanged);
            }
        }
        let bin = dnetd::find_hub_binary(self.hub_bin.as_deref())?;
        let segments: Vec<hub_runtime::Attachment> = plan
            .segments
            .iter()
            .map(|s| hub_runtime::Attachment {
                network: s.network.clone(),
                segment: s.name.clone(),
                ip: s.ip,
                mac: s.mac,
            })
            .collect();
        dnetd::ensure_netd_with(&self.docker, lab, &cfg, &bin, &segments, &self.storage).await?;
        Ok(if running.is_some() {
            NetdOutcome::Updated
        } else {
            NetdOutcome::Created
        })
    }

    async fn exists(&self, lab: &str) -> Result<bool, BoxError> {
        Ok(self.running(lab).await?.is_some())
    }

    async fn remove(&self, lab: &str) -> Result<bool, BoxError> {
        Ok(dnetd::remove_netd(&self.docker, lab, &self.storage).await?)
    }

    async fn read_file(
        &self,
        lab: &str,
        lab_dir: &std::path::Path,
        file: &str,
    ) -> Result<Option<Vec<u8>>, BoxError> {
        match &self.storage {
            dnetd::NetdStorage::Bind => crate::services::read_local_netd_file(lab_dir, file),
            dnetd::NetdStorage::Volume { host } => {
                Ok(dnetd::read_netd_file_from(&self.docker, lab, host, file).await?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{DockerEndpoint, HostSpec};

    /// A runtime that is never used: bollard connects on the first request.
    fn unused_engine() -> Arc<DockerRuntime> {
        let client = hub_docker::bollard::Docker::connect_with_http(
            "tcp://127.0.0.1:9",
            1,
            hub_docker::bollard::API_DEFAULT_VERSION,
        )
        .expect("a client");
        Arc::new(DockerRuntime::from_client(client))
    }

    #[tokio::test]
    async fn a_primary_on_another_machine_keeps_netd_in_a_volume() {
        let local = HostSpec::bare(
            "h1",
            DockerEndpoint::Unix {
                path: "/var/run/docker.sock".into(),
            },
        );
        let tcp = HostSpec::bare(
            "h2",
            DockerEndpoint::Tcp {
                addr: "192.0.2.12:2376".into(),
                tls: "/certs".into(),
            },
        );
        let ssh = HostSpec::bare(
            "h3",
            DockerEndpoint::Ssh {
                user: Some("hub".into()),
                host: "192.0.2.13".into(),
                port: None,
                key: None,
                known_hosts: None,
            },
        );
        let storage = |h: Option<&HostSpec>| DockerNetd::for_host(unused_engine(), None, h).storage;
        assert_eq!(storage(Some(&local)), dnetd::NetdStorage::Bind);
        assert_eq!(storage(None), dnetd::NetdStorage::Bind);
        assert_eq!(
            storage(Some(&tcp)),
            dnetd::NetdStorage::Volume { host: "h2".into() }
        );
        assert_eq!(
            storage(Some(&ssh)),
            dnetd::NetdStorage::Volume { host: "h3".into() }
        );
    }
}
