//! netd's container and files: its config and leases in the lab's netd directory (or, on
//! another machine's engine, in the lab's netd volume), and the container that serves them at
//! `.2` on the lab network.

use std::path::{Path, PathBuf};

use bollard::query_parameters::InspectContainerOptions;
use hub_net::netd::{
    CONFIG_FILE, LEASE_FILE, Lease, LeaseFile, NetdConfig, NetdStats, STATS_FILE, write_atomic,
};
use hub_runtime::{
    Attachment, ContainerSpec, LabContext, Mount, RestartPolicy, Role, Runtime, RuntimeError,
    RuntimeResult, VolumeMount, WorkloadHandle, WorkloadKind, WorkloadSpec,
};
use tracing::info;

use super::archive::copy_config_into;
use super::image::ensure_netd_image;
use super::{NETD_MOUNT, NETD_NAME, NETD_VOLUME, NetdInfo, NetdStorage, fail};
use crate::DockerRuntime;
use crate::error;
use crate::mapping::{binds, container_name, volume_name};

/// The lab's netd directory (`LAB_DIR/netd`).
pub fn netd_dir(lab_dir: &Path) -> PathBuf {
    lab_dir.join(NETD_NAME)
}

/// The engine's volume holding netd's folder on another machine: `LAB-netd.state` (see
/// [`super::NETD_VOLUME`] for why no user volume can take it).
pub fn netd_volume_name(lab: &str) -> String {
    volume_name(lab, NETD_VOLUME)
}

/// netd's config file as netd reads it: `config` checked, its lease file set to the mount.
pub fn netd_config_json(config: &NetdConfig) -> RuntimeResult<String> {
    config.validate().map_err(|e| {
        fail(
            "-",
            "the netd config is invalid".into(),
            std::io::Error::other(e.to_string()),
        )
    })?;
    let mut cfg = config.clone();
    cfg.lease_file = PathBuf::from(NETD_MOUNT).join(LEASE_FILE);
    Ok(cfg.to_json())
}

/// Writes netd's config into the lab's netd directory atomically; a running netd reloads it
/// (records and reservations) within a second. The lease file path is set to the mount.
pub fn update_netd_config(lab_dir: &Path, config: &NetdConfig) -> RuntimeResult<()> {
    let json = netd_config_json(config)?;
    write_config_record(lab_dir, &json)
}

/// Writes `json` as `LAB_DIR/netd/netd.json` (atomically).
fn write_config_record(lab_dir: &Path, json: &str) -> RuntimeResult<()> {
    let dir = netd_dir(lab_dir);
    let ctx = || format!("writing the netd config in {}", dir.display());
    std::fs::create_dir_all(&dir).map_err(|e| fail("-", ctx(), e))?;
    write_atomic(&dir.join(CONFIG_FILE), json.as_bytes()).map_err(|e| fail("-", ctx(), e))
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

/// The container spec of a lab's netd, its folder bind-mounted from `dir`.
pub fn netd_container_spec(config: &NetdConfig, image: &str, dir: &Path) -> ContainerSpec {
    netd_container_spec_in(config, image, dir, &NetdStorage::Bind)
}

/// The container spec of a lab's netd, its folder kept as `storage` says: `dir` bind-mounted,
/// or the lab's netd volume.
pub fn netd_container_spec_in(
    config: &NetdConfig,
    image: &str,
    dir: &Path,
    storage: &NetdStorage,
) -> ContainerSpec {
    let mut spec = ContainerSpec::new(NETD_NAME, image);
    spec.ip = Some(config.server_ip);
    // NET_RAW: the ARP probes before an offer (Docker grants it by default, others may not).
    spec.cap_add = vec!["NET_ADMIN".into(), "NET_RAW".into()];
    spec.restart = RestartPolicy::UnlessStopped;
    spec.role = Role::Netd;
    spec.spec_hash = image.rsplit(':').next().unwrap_or_default().to_string();
    match storage {
        NetdStorage::Bind => {
            spec.mounts = vec![Mount {
                source: dir.to_path_buf(),
                target: NETD_MOUNT.into(),
                read_only: false,
            }];
        }
        // Made with the lab's marks by `create`, like a user's volume, so that `down` finds
        // it after a crash.
        NetdStorage::Volume { .. } => {
            spec.volumes = vec![VolumeMount {
                name: NETD_VOLUME.into(),
                target: NETD_MOUNT.into(),
                read_only: false,
            }];
        }
    }
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
    ensure_netd_with(docker, lab, config, hub_bin, segments, &NetdStorage::Bind).await
}

/// [`ensure_netd_on`] with netd's folder kept as `storage` says. With
/// [`NetdStorage::Volume`] (an engine on another machine) the image is imported into that
/// engine, the container mounts the lab's netd volume, and the config is copied into it
/// between create and start, or into the running netd when only the config changed; the local
/// record `LAB_DIR/netd/netd.json` is written once the copy succeeded, so a record never
/// claims a config netd did not get. A netd kept in another way than `storage` is replaced.
pub async fn ensure_netd_with(
    docker: &DockerRuntime,
    lab: &LabContext,
    config: &NetdConfig,
    hub_bin: &Path,
    segments: &[Attachment],
    storage: &NetdStorage,
) -> RuntimeResult<NetdInfo> {
    let made: RuntimeResult<NetdInfo> = async {
        let json = netd_config_json(config)?;
        let remote = matches!(storage, NetdStorage::Volume { .. });
        if remote {
            std::fs::create_dir_all(netd_dir(&lab.dir))
                .map_err(|e| fail(&lab.name, "making the netd directory".into(), e))?;
        } else {
            write_config_record(&lab.dir, &json)?;
        }
        let dir = std::fs::canonicalize(netd_dir(&lab.dir))
            .map_err(|e| fail(&lab.name, "resolving the netd directory".into(), e))?;
        let image = ensure_netd_image(docker, hub_bin).await?;
        let mut spec = netd_container_spec_in(config, &image, &dir, storage);
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
        // netd answers DNS itself; it must not use itself as a resolver.
        let mut ctx = lab.clone();
        ctx.dns.clear();
        let wiring = crate::wiring::Wiring::of(&spec).map(|w| w.to_label());
        let name = container_name(&lab.name, NETD_NAME);
        let handle = |id: String| WorkloadHandle {
            lab: lab.name.clone(),
            name: NETD_NAME.into(),
            kind: WorkloadKind::Container,
            id,
        };
        let info = |handle: WorkloadHandle| NetdInfo {
            handle,
            image: image.clone(),
            ip: config.server_ip,
            dir: dir.clone(),
            volume: remote.then(|| netd_volume_name(&lab.name)),
        };
        // The config into the container (created or running) and then the local record.
        let deliver = |h: &WorkloadHandle| {
            let (json, ctx) = (&json, &ctx);
            let target = h.id.clone();
            async move {
                if let NetdStorage::Volume { host } = storage {
                    copy_config_into(docker, &ctx.name, host, &target, json).await?;
                    write_config_record(&ctx.dir, json)?;
                }
                Ok::<(), RuntimeError>(())
            }
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
                // The folder's mount: the same directory, or the lab's volume.
                let same_storage = i.host_config.as_ref().and_then(|h| h.binds.as_ref())
                    == Some(&binds(&ctx, &spec));
                let same_image = same_wiring
                    && same_storage
                    && i.config.as_ref().and_then(|c| c.image.as_deref()) == Some(image.as_str());
                let h = handle(i.id.clone().unwrap_or_else(|| name.clone()));
                if same_image {
                    deliver(&h).await?;
                    if !running {
                        docker.start(&h).await?;
                    }
                    return Ok(info(h));
                }
                info!(lab = %lab.name, "netd runs an older image or another mount: replacing it");
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
        let h = docker.create(&ctx, &WorkloadSpec::Container(spec)).await?;
        deliver(&h).await?;
        docker.start(&h).await?;
        Ok(info(h))
    }
    .await;
    made.map_err(|e| relabel(e, &lab.name, storage))
}

/// Removes lab `lab`'s netd: its container and, with [`NetdStorage::Volume`], its volume
/// (whether or not the user keeps the lab's own volumes: the volume is netd's, and its
/// config is the local record's copy). Returns whether there was either.
pub async fn remove_netd(
    docker: &DockerRuntime,
    lab: &str,
    storage: &NetdStorage,
) -> RuntimeResult<bool> {
    let name = container_name(lab, NETD_NAME);
    let on_host = |doing: String| match storage {
        NetdStorage::Bind => doing,
        NetdStorage::Volume { host } => format!("{doing} on host {host:?}"),
    };
    let existed = match docker
        .client()
        .inspect_container(&name, None::<InspectContainerOptions>)
        .await
    {
        Ok(_) => true,
        Err(e) if error::is_not_found(&e) => false,
        Err(e) => {
            return Err(error::backend(
                lab,
                on_host(format!("inspecting container {name:?}")),
                e,
            ));
        }
    };
    if existed {
        let h = WorkloadHandle {
            lab: lab.to_string(),
            name: NETD_NAME.into(),
            kind: WorkloadKind::Container,
            id: name.clone(),
        };
        docker
            .remove(&h)
            .await
            .map_err(|e| relabel(e, lab, storage))?;
    }
    let NetdStorage::Volume { .. } = storage else {
        return Ok(existed);
    };
    let volume = netd_volume_name(lab);
    // A removal of the container that another process started may still hold the volume for
    // a moment ("volume is in use"): a few tries, 100 ms apart.
    for attempt in 0..20 {
        match docker
            .client()
            .remove_volume(
                &volume,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await
        {
            Ok(()) => return Ok(true),
            Err(e) if error::is_not_found(&e) => return Ok(existed),
            Err(e) if error::is_conflict(&e) && attempt < 19 => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => {
                return Err(error::backend(
                    lab,
                    on_host(format!("removing netd's volume {volume:?}")),
                    e,
                ));
            }
        }
    }
    Ok(existed)
}

/// `e` as an error of lab `lab`, naming the remote host of `storage` when it does not yet.
fn relabel(e: RuntimeError, lab: &str, storage: &NetdStorage) -> RuntimeError {
    match e {
        RuntimeError::Backend {
            context, source, ..
        } => {
            let context = match storage {
                NetdStorage::Volume { host } if !context.contains("on host") => {
                    format!("{context} on host {host:?}")
                }
                _ => context,
            };
            RuntimeError::Backend {
                lab: lab.to_string(),
                context,
                source,
            }
        }
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

    #[test]
    fn a_remote_netd_mounts_the_labs_netd_volume_and_no_folder() {
        let cfg = NetdConfig::new(
            "10.9.0.0/24".parse().unwrap(),
            hub_net::AddrRange::new(Ipv4Addr::new(10, 9, 0, 200), Ipv4Addr::new(10, 9, 0, 254)),
            "demo.lab",
        );
        let dir = Path::new("/state/demo/netd");
        let lab = LabContext {
            name: "demo".into(),
            dir: "/state/demo".into(),
            network: hub_runtime::NetworkInfo {
                id: "id".into(),
                name: "demo-net".into(),
                bridge: "br-demo".into(),
                subnet: cfg.subnet,
                gateway: cfg.router,
                owned: true,
            },
            dns: Vec::new(),
            domain: "demo.lab".into(),
            segments: Vec::new(),
        };
        let local = netd_container_spec(&cfg, "hub-netd:0123456789ab", dir);
        assert_eq!(
            binds(&lab, &local),
            vec!["/state/demo/netd:/netd".to_string()]
        );
        let remote = netd_container_spec_in(
            &cfg,
            "hub-netd:0123456789ab",
            dir,
            &NetdStorage::Volume { host: "h1".into() },
        );
        assert!(remote.mounts.is_empty(), "{:?}", remote.mounts);
        assert_eq!(
            binds(&lab, &remote),
            vec!["demo-netd.state:/netd".to_string()]
        );
        assert_eq!(netd_volume_name("demo"), "demo-netd.state");
        // No user volume (a DNS label) of any lab is named like it.
        assert!(!hub_runtime::names::is_dns_label("netd.state"));
        assert_eq!(remote.spec_hash, local.spec_hash);
        let json = netd_config_json(&cfg).unwrap();
        assert!(json.contains("/netd/leases.json"), "{json}");
    }

    #[test]
    fn errors_of_a_remote_netd_name_the_lab_and_the_host() {
        let e = relabel(
            fail(
                "-",
                "creating container \"demo-netd\"".into(),
                std::io::Error::other("boom"),
            ),
            "demo",
            &NetdStorage::Volume { host: "h1".into() },
        )
        .to_string();
        assert!(e.contains("demo") && e.contains("on host \"h1\""), "{e}");
        let local = relabel(
            fail(
                "-",
                "creating container".into(),
                std::io::Error::other("boom"),
            ),
            "demo",
            &NetdStorage::Bind,
        )
        .to_string();
        assert!(local.contains("demo") && !local.contains("host"), "{local}");
    }
}
