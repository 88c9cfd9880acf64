//! The default backends of the enabled features, and glue to their helpers.

#[cfg(feature = "docker")]
pub mod docker;
#[cfg(feature = "docker")]
pub(crate) mod hosts;
#[cfg(feature = "mesh")]
mod vpn_container;
#[cfg(feature = "wireguard")]
pub mod wg;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::error::HubError;
use crate::progress::ProgressFn;
use crate::runtimes::Runtimes;
use crate::up::state::WorkloadRecord;

/// What the default backends need from the builder.
#[derive(Clone, Default)]
pub(crate) struct DefaultsConfig {
    /// The `hub` executable netd's image is built from.
    #[cfg_attr(not(feature = "docker"), allow(dead_code))]
    pub hub_bin: Option<PathBuf>,
    /// Image pull progress goes here.
    #[cfg_attr(not(feature = "docker"), allow(dead_code))]
    pub progress: Option<ProgressFn>,
    /// The WireGuard key generator.
    #[cfg(feature = "wireguard")]
    pub key_gen: Option<std::sync::Arc<dyn hub_wg::KeyGen>>,
    /// The warm VM cache folder (default: `HUB_WARM_CACHE`, else the system default).
    #[cfg_attr(not(feature = "libvirt"), allow(dead_code))]
    pub warm_cache: Option<PathBuf>,
    /// The state root (a lab's directory is `<root>/<lab>`).
    #[cfg_attr(not(feature = "mesh"), allow(dead_code))]
    pub state_root: PathBuf,
}

/// Fills every backend the caller did not inject with the default of its feature: Docker for
/// containers, the network and netd; libvirt for VMs; hub-wg for the VPN.
pub(crate) async fn fill_defaults(
    lab: &str,
    rts: Runtimes,
    cfg: &DefaultsConfig,
) -> Result<Runtimes, HubError> {
    #[cfg_attr(
        not(any(feature = "docker", feature = "libvirt", feature = "wireguard")),
        allow(unused_mut)
    )]
    let mut rts = rts;
    #[cfg(feature = "docker")]
    {
        let injected_all = rts.containers.is_some() && rts.network.is_some() && rts.netd.is_some();
        if !injected_all {
            let docker = docker::connect(cfg.progress.clone())
                .await
                .map_err(|source| HubError::Runtime {
                    lab: lab.to_string(),
                    context: "connecting to the Docker Engine".into(),
                    source: Box::new(source),
                })?;
            if rts.containers.is_none() {
                rts.containers = Some(docker.clone());
            }
            if rts.network.is_none() {
                rts.network = Some(docker.clone());
            }
            if rts.netd.is_none() {
                rts.netd = Some(std::sync::Arc::new(docker::DockerNetd::new(
                    docker,
                    cfg.hub_bin.clone(),
                )));
            }
        }
    }
    #[cfg(feature = "libvirt")]
    if rts.vms.is_none() {
        // libvirt is reached through virsh on demand; a lab without VMs never touches it.
        let rt = hub_libvirt::LibvirtRuntime::new();
        let rt = match &cfg.warm_cache {
            Some(dir) => rt.with_warm_cache(hub_libvirt::WarmCache::new(dir)),
            None => rt,
        };
        rts.vms = Some(std::sync::Arc::new(rt));
    }
    #[cfg(feature = "wireguard")]
    if rts.vpn.is_none() {
        rts.vpn = Some(std::sync::Arc::new(wg::WgGateway::new(cfg.key_gen.clone())));
    }
    let _ = (lab, cfg);
    Ok(rts)
}

/// The segment over several hosts: one a test injected, else what the spec says of the mesh
/// (`mesh:`, and the VPN's subnet, which every host routes to the VPN gateway's container).
#[derive(Clone, Default)]
#[cfg_attr(not(feature = "mesh"), allow(dead_code))]
pub(crate) struct SegmentSettings {
    /// A segment given to the builder (tests), used instead of the mesh.
    pub injected: Option<std::sync::Arc<dyn crate::hosts::LabSegment>>,
    /// The mesh's UDP port (`None`: by the lab's VNI, see `MESH_PORT_BASE`).
    pub port: Option<u16>,
    /// The underlay's MTU (`None`: 1500).
    pub underlay_mtu: Option<u16>,
    /// Networks every host routes to the VPN gateway's container (the VPN's subnet).
    pub vpn_subnets: Vec<ipnet::Ipv4Net>,
}

/// The backends of a lab over `hosts` (the spec's, then those recorded that left it;
/// `in_spec` names the spec's): each host's engines connected (or why not), with `injected`
/// hosts taken as given, netd on the primary's engine and the VPN gateway, unless injected in
/// `services`.
pub(crate) async fn fill_hosts(
    lab: &str,
    hosts: &[crate::spec::HostSpec],
    in_spec: Vec<String>,
    injected: &[crate::hosts::HostBackends],
    segment: SegmentSettings,
    services: Runtimes,
    cfg: &DefaultsConfig,
) -> Result<Runtimes, HubError> {
    let mut settings = segment;
    let segment = settings.injected.take();
    #[cfg(not(feature = "mesh"))]
    let _ = settings;
    use crate::hosts::HostSet;
    #[cfg(feature = "docker")]
    let (reached, unreachable) = hosts::connect(
        hosts,
        injected,
        cfg,
        ssh_proxy(&cfg.state_root.join(lab), hosts, cfg.hub_bin.as_deref()),
    )
    .await;
    #[cfg(not(feature = "docker"))]
    let (reached, unreachable): (
        Vec<(crate::hosts::HostBackends, Option<()>)>,
        Vec<crate::hosts::Unreachable>,
    ) = {
        let mut reached = Vec::new();
        let mut unreachable = Vec::new();
        for h in hosts {
            match injected.iter().find(|b| b.name == h.name) {
                Some(b) => reached.push((b.clone(), None)),
                None => unreachable.push(crate::hosts::Unreachable {
                    host: h.name.clone(),
                    reason: "this hub was built without the Docker backend (feature `docker`)"
                        .into(),
                }),
            }
        }
        (reached, unreachable)
    };
    #[cfg_attr(not(any(feature = "docker", feature = "wireguard")), allow(unused_mut))]
    let mut services = services;
    #[cfg(feature = "docker")]
    if services.netd.is_none() {
        let primary = reached
            .iter()
            .find(|(b, _)| in_spec.first() == Some(&b.name));
        if let Some((b, Some(docker))) = primary {
            // A primary on another machine keeps netd's folder in a volume there.
            let host = hosts.iter().find(|h| h.name == b.name);
            services.netd = Some(std::sync::Arc::new(docker::DockerNetd::for_host(
                docker.clone(),
                cfg.hub_bin.clone(),
                host,
            )));
        }
    }
    // Over several hosts, or on another machine, the VPN gateway is a container on the
    // primary (hub-mesh); on this machine alone, an interface of this machine (hub-wg).
    #[cfg(feature = "mesh")]
    let spans_hosts = in_spec.len() > 1 || hosts.first().is_some_and(|h| !h.docker.is_local());
    #[cfg(not(feature = "mesh"))]
    let spans_hosts = false;
    #[cfg(feature = "mesh")]
    if services.vpn.is_none() && spans_hosts {
        let primary = reached
            .iter()
            .find(|(b, _)| in_spec.first() == Some(&b.name));
        if let Some((b, Some(docker))) = primary {
            let mtu = settings
                .underlay_mtu
                .unwrap_or(crate::spec::DEFAULT_UNDERLAY_MTU)
                .saturating_sub(crate::spec::SEGMENT_OVERHEAD);
            services.vpn = Some(std::sync::Arc::new(vpn_container::ContainerGateway::new(
                b.name.clone(),
                docker.clone(),
                hosts
                    .iter()
                    .find(|h| h.name == b.name)
                    .and_then(|h| h.address),
                mtu,
                cfg.key_gen.clone(),
            )));
        }
    }
    #[cfg(feature = "wireguard")]
    if services.vpn.is_none() && !spans_hosts {
        services.vpn = Some(std::sync::Arc::new(wg::WgGateway::new(cfg.key_gen.clone())));
    }
    let _ = (lab, cfg, spans_hosts);
    // The segment joins the hosts when each gives its underlay address and is reached through
    // its own engine (hosts injected by tests are not).
    #[cfg(feature = "mesh")]
    let segment_hosts: Option<Vec<_>> = reached
        .iter()
        .map(|(b, docker)| {
            let address = hosts.iter().find(|h| h.name == b.name)?.address?;
            Some((b.name.clone(), docker.clone()?, address))
        })
        .collect();
    let set = HostSet::new(
        reached.into_iter().map(|(b, _)| b).collect(),
        unreachable,
        in_spec,
    );
    let set = match segment {
        Some(seg) => set.with_segment(seg),
        None => set,
    };
    #[cfg(feature = "mesh")]
    let set = match segment_hosts.filter(|_| !set.has_segment()) {
        Some(h) => set.with_segment(std::sync::Arc::new(hosts::MeshSegment::new(
            cfg.state_root.join(lab),
            cfg.key_gen.clone(),
            h,
            settings,
        ))),
        None => set,
    };
    Ok(std::sync::Arc::new(set).runtimes(&services))
}

/// The `ProxyCommand` that carries SSH to a lab's VMs when this machine is not on the lab
/// network: the lab has hosts and none is this machine's engine. Then `hub relay` (see
/// hub-cli) reaches the VM through netd's container on the primary, over the primary's
/// Docker API; `None` when ssh can connect itself. The hub executable is `hub_bin`, else this
/// process's own when it is `hub`, else the one netd's image is made from.
#[cfg_attr(not(any(feature = "docker", feature = "libvirt")), allow(dead_code))]
pub(crate) fn ssh_proxy(
    lab_dir: &Path,
    hosts: &[crate::spec::HostSpec],
    hub_bin: Option<&Path>,
) -> Option<String> {
    if hosts.is_empty() || hosts.iter().any(|h| h.docker.is_local()) {
        return None;
    }
    let own = std::env::current_exe()
        .ok()
        .filter(|p| p.file_name().is_some_and(|n| n == "hub"));
    #[cfg(feature = "docker")]
    let found = || hub_docker::netd::find_hub_binary(None).ok();
    #[cfg(not(feature = "docker"))]
    let found = || None;
    let hub = hub_bin.map(Path::to_path_buf).or(own).or_else(found)?;
    let words = [
        hub.to_string_lossy().into_owned(),
        "relay".into(),
        "--lab-dir".into(),
        lab_dir.to_string_lossy().into_owned(),
    ];
    #[cfg(feature = "libvirt")]
    let line = hub_libvirt::shell_join(&words);
    #[cfg(not(feature = "libvirt"))]
    let line = words.join(" ");
    Some(format!("{line} %h %p"))
}

/// The `ssh` command line into a VM of the lab (the lab's key, its known_hosts,
/// StrictHostKeyChecking=yes; through `hub relay` when this machine is not on the lab network).
pub(crate) fn ssh_command(
    lab_dir: &Path,
    lab: &str,
    vm: &WorkloadRecord,
    ip: Ipv4Addr,
) -> Result<Vec<String>, HubError> {
    #[cfg(feature = "libvirt")]
    {
        let _ = lab;
        let hosts = crate::hosts::load_hosts(lab, lab_dir).unwrap_or_default();
        let target = hub_libvirt::SshTarget {
            user: vm.user.clone().unwrap_or_else(|| "hub".into()),
            addr: ip,
            proxy: ssh_proxy(lab_dir, &hosts, None),
        };
        let mut argv = vec!["ssh".to_string()];
        argv.extend(
            hub_libvirt::ssh_args(lab_dir, &target, None)
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned()),
        );
        Ok(argv)
    }
    #[cfg(not(feature = "libvirt"))]
    {
        let _ = (lab_dir, ip);
        Err(HubError::Invalid {
            what: format!("VM {:?} of lab {lab:?}", vm.name),
            reason: "this hub was built without the libvirt backend (feature `libvirt`)".into(),
        })
    }
}

#[cfg(all(test, feature = "docker", feature = "libvirt"))]
mod ssh_proxy_tests {
    use std::path::Path;

    use crate::spec::{DockerEndpoint, HostSpec};

    #[test]
    fn ssh_goes_through_the_relay_only_when_no_host_is_this_machine() {
        let local = HostSpec::bare(
            "here",
            DockerEndpoint::Unix {
                path: "/var/run/docker.sock".into(),
            },
        );
        let far = HostSpec::bare(
            "far",
            DockerEndpoint::Tcp {
                addr: "10.0.0.9:2376".into(),
                tls: "/etc/hub/tls".into(),
            },
        );
        let dir = Path::new("/var/lib/hub/my lab");
        let bin = Path::new("/usr/bin/hub");
        assert_eq!(super::ssh_proxy(dir, &[], Some(bin)), None);
        assert_eq!(
            super::ssh_proxy(dir, &[far.clone(), local], Some(bin)),
            None
        );
        assert_eq!(
            super::ssh_proxy(dir, &[far], Some(bin)).as_deref(),
            Some("/usr/bin/hub relay --lab-dir '/var/lib/hub/my lab' %h %p")
        );
    }
}
