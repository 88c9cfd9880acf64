//! netd's container and files: its config and leases in the lab's netd directory, and the
//! container that serves them at `.2` on the lab network.

use std::path::{Path, PathBuf};

use bollard::query_parameters::InspectContainerOptions;
use hub_net::netd::{
    CONFIG_FILE, LEASE_FILE, Lease, LeaseFile, NetdConfig, NetdStats, STATS_FILE, write_atomic,
};
use hub_runtime::{
    Attachment, ContainerSpec, LabContext, Mount, RestartPolicy, Role, Runtime, RuntimeError,
    RuntimeResult, WorkloadHandle, WorkloadKind, WorkloadSpec,
};
use tracing::info;

use super::image::ensure_netd_image;
use super::{NETD_MOUNT, NETD_NAME, NetdInfo, fail};
use crate::DockerRuntime;
use crate::error;
use crate::mapping::container_name;

/// The lab's netd directory (`LAB_DIR/netd`).
pub fn netd_dir(lab_dir: &Path) -> PathBuf {
    lab_dir.join(NETD_NAME)
}

/// Writes netd's config into the lab's netd directory atomically; a running netd reloads it
/// (records and reservations) within a second. The lease file path is set to the mount.
pub fn update_netd_config(lab_dir: &Path, config: &NetdConfig) -> RuntimeResult<()> {
    config.validate().map_err(|e| {
        fail(
            "-",
            "the netd config is invalid".into(),
            std::io::Error::other(e.to_string()),
        )
    })?;
    let dir = netd_dir(lab_dir);
    let ctx = || format!("writing the netd config in {}", dir.display());
    std::fs::create_dir_all(&dir).map_err(|e| fail("-", ctx(), e))?;
    let mut cfg = config.clone();
    cfg.lease_file = PathBuf::from(NETD_MOUNT).join(LEASE_FILE);
    write_atomic(&dir.join(CONFIG_FILE), cfg.to_json().as_bytes()).map_err(|e| fail("-", ctx(), e))
}

/// The leases netd has handed out (from its lease file; none when there is no file yet).
pub fn read_leases(lab_dir: &Path) -> RuntimeResult<Vec<Lease>> {
    let path = netd_dir(lab_dir).join(LEASE_FILE);
    LeaseFile::read(&path).map(|f| f.leases).map_err(|e| {
        fail(
            "-",
            format!("reading the netd leases {}", path.display()),
            std::io::Error::other(e.to_string()),
        )
    })
}

/// What netd has counted (DNS queries, DHCP messages), from the file it writes at most once a
/// second beside its leases; all zeros when it has written none yet.
pub fn read_netd_stats(lab_dir: &Path) -> RuntimeResult<NetdStats> {
    let path = netd_dir(lab_dir).join(STATS_FILE);
    NetdStats::read(&path).map_err(|e| {
        fail(
            "-",
            format!("reading netd's counts {}", path.display()),
            std::io::Error::other(e.to_string()),
        )
    })
}

/// The container spec of a lab's netd.
pub fn netd_container_spec(config: &NetdConfig, image: &str, dir: &Path) -> ContainerSpec {
    let mut spec = ContainerSpec::new(NETD_NAME, image);
    spec.ip = Some(config.server_ip);
    // NET_RAW: the ARP probes before an offer (Docker grants it by default, others may not).
    spec.cap_add = vec!["NET_ADMIN".into(), "NET_RAW".into()];
    spec.restart = RestartPolicy::UnlessStopped;
    spec.role = Role::Netd;
    spec.spec_hash = image.rsplit(':').next().unwrap_or_default().to_string();
    spec.mounts = vec![Mount {
        source: dir.to_path_buf(),
        target: NETD_MOUNT.into(),
        read_only: false,
    }];
    spec
}

/// Brings up the lab's netd: writes the config, builds the image if the binary is new, and
/// creates and starts `LAB-netd` at the config's `server_ip` (normally `.2`) with NET_ADMIN, NET_RAW
/// and restart policy unless-stopped. A netd already running the same image keeps running
/// (it reloads the new config by itself); one running an older image is replaced.
pub async fn ensure_netd(
    docker: &DockerRuntime,
    lab: &LabContext,
    config: &NetdConfig,
    hub_bin: &Path,
) -> RuntimeResult<NetdInfo> {
    ensure_netd_on(docker, lab, config, hub_bin, &[]).await
}

/// [`ensure_netd`] for a lab of several segments: netd joins each of `segments` too (its
/// `eth1`, `eth2`... in order), so every segment has it at its `.2`. A netd joined to other
/// networks is replaced.
pub async fn ensure_netd_on(
    docker: &DockerRuntime,
    lab: &LabContext,
    config: &NetdConfig,
    hub_bin: &Path,
    segments: &[Attachment],
) -> RuntimeResult<NetdInfo> {
    update_netd_config(&lab.dir, config).map_err(|e| relabel(e, &lab.name))?;
    let dir = std::fs::canonicalize(netd_dir(&lab.dir))
        .map_err(|e| fail(&lab.name, "resolving the netd directory".into(), e))?;
    let image = ensure_netd_image(docker, hub_bin)
        .await
        .map_err(|e| relabel(e, &lab.name))?;
    let mut spec = netd_container_spec(config, &image, &dir);
    if !segments.is_empty() {
        spec.networks = std::iter::once(Attachment {
            network: lab.network.name.clone(),
            segment: String::new(),
            ip: config.server_ip,
            mac: hub_runtime::derive_mac(&lab.name, NETD_NAME, 0),
        })
        .chain(segments.iter().cloned())
        .collect();
    }
    let wiring = crate::wiring::Wiring::of(&spec).map(|w| w.to_label());
    let name = container_name(&lab.name, NETD_NAME);
    let handle = |id: String| WorkloadHandle {
        lab: lab.name.clone(),
        name: NETD_NAME.into(),
        kind: WorkloadKind::Container,
        id,
    };
    match docker
        .client()
        .inspect_container(&name, None::<InspectContainerOptions>)
        .await
    {
        Ok(i) => {
            let running = i.state.as_ref().and_then(|s| s.running).unwrap_or(false);
            // The label says what netd was made with; the joined networks say what it still
            // has (a rollback takes a new segment's network away, disconnecting netd).
            let joined: std::collections::BTreeSet<&str> = i
                .network_settings
                .as_ref()
                .and_then(|n| n.networks.as_ref())
                .map(|n| n.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let wanted: std::collections::BTreeSet<&str> = if spec.networks.is_empty() {
                std::iter::once(lab.network.name.as_str()).collect()
            } else {
                spec.networks.iter().map(|a| a.network.as_str()).collect()
            };
            let same_wiring = i
                .config
                .as_ref()
                .and_then(|c| c.labels.as_ref())
                .and_then(|l| l.get(hub_runtime::labels::ATTACHMENTS))
                == wiring.as_ref()
                && (!running || joined == wanted);
            let same_image = same_wiring
                && i.config.as_ref().and_then(|c| c.image.as_deref()) == Some(image.as_str());
            let h = handle(i.id.clone().unwrap_or_else(|| name.clone()));
            if same_image {
                if !running {
                    docker.start(&h).await?;
                }
                return Ok(NetdInfo {
                    handle: h,
                    image,
                    ip: config.server_ip,
                    dir,
                });
            }
            info!(lab = %lab.name, "netd runs an older image: replacing it");
            docker.remove(&h).await?;
        }
        Err(e) if error::is_not_found(&e) => {}
        Err(e) => {
            return Err(error::backend(
                &lab.name,
                format!("inspecting container {name:?}"),
                e,
            ));
        }
    }
    // netd answers DNS itself; it must not use itself as a resolver.
    let mut ctx = lab.clone();
    ctx.dns.clear();
    let h = docker.create(&ctx, &WorkloadSpec::Container(spec)).await?;
    docker.start(&h).await?;
    Ok(NetdInfo {
        handle: h,
        image,
        ip: config.server_ip,
        dir,
    })
}

fn relabel(e: RuntimeError, lab: &str) -> RuntimeError {
    match e {
        RuntimeError::Backend {
            context, source, ..
        } => RuntimeError::Backend {
            lab: lab.to_string(),
            context,
            source,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn config_and_leases_in_the_lab_dir() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = NetdConfig::new(
            "10.9.0.0/24".parse().unwrap(),
            hub_net::AddrRange::new(Ipv4Addr::new(10, 9, 0, 200), Ipv4Addr::new(10, 9, 0, 254)),
            "demo.lab",
        );
        update_netd_config(dir.path(), &cfg).unwrap();
        let back = NetdConfig::load(&dir.path().join("netd").join(CONFIG_FILE)).unwrap();
        assert_eq!(back.lease_file, PathBuf::from("/netd/leases.json"));
        assert!(read_leases(dir.path()).unwrap().is_empty());
        let mut bad = cfg.clone();
        bad.dhcp_range.start = Ipv4Addr::new(10, 9, 0, 1);
        assert!(
            update_netd_config(dir.path(), &bad)
                .unwrap_err()
                .to_string()
                .contains("invalid")
        );
    }
}
