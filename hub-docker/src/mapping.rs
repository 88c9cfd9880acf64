//! Pure functions from the hub's specs to Docker's request bodies and back from Docker's
//! answers to the hub's status. No I/O here, so all of it is unit-tested.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, ContainerSummary,
    ContainerSummaryStateEnum, EndpointIpamConfig, EndpointSettings, HealthConfig,
    HealthStatusEnum, HostConfig, Ipam, IpamConfig, NetworkCreateRequest, NetworkingConfig,
    PortBinding, PortMap, RestartPolicy as DockerRestart, RestartPolicyNameEnum,
};
use hub_runtime::{
    ContainerSpec, Healthcheck, LabContext, MacAddr, NetworkSpec, PortMapping, RestartPolicy,
    WorkloadHandle, WorkloadKind, WorkloadState, WorkloadStatus, labels,
};
use sha2::{Digest, Sha256};

/// The Docker option naming a bridge network's Linux interface.
pub const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";
/// The Docker network option setting its interfaces' MTU.
pub const MTU_OPTION: &str = "com.docker.network.driver.mtu";

/// The Docker name of a lab's container: `LAB-NAME`.
pub fn container_name(lab: &str, name: &str) -> String {
    format!("{lab}-{name}")
}

/// The Linux bridge name of a lab network the hub creates: `hub-` and up to 5 characters of the
/// lab's name, a dash and 5 hex digits of a hash of the full name; at most 15 characters (the
/// kernel's limit), the same for the same lab every time.
pub fn bridge_name(lab: &str) -> String {
    let short: String = lab
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .take(5)
        .collect();
    let hash = Sha256::digest(lab.as_bytes());
    let hex: String = hash.iter().take(3).map(|b| format!("{b:02x}")).collect();
    format!("hub-{short}-{}", &hex[..5])
}

/// The bridge interface of a lab network the hub creates: the lab's own name for its first
/// network, the lab and segment for the others.
pub fn bridge_name_of(spec: &NetworkSpec) -> String {
    match spec.labels.get(labels::SEGMENT) {
        Some(seg) => bridge_name(&format!("{}/{seg}", spec.lab)),
        None => bridge_name(&spec.lab),
    }
}

/// The labels of a lab's container: the user's, then the hub's marks (which win).
pub fn container_labels(lab: &str, spec: &ContainerSpec) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = spec
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.insert(labels::LAB.to_string(), lab.to_string());
    out.insert(labels::WORKLOAD.to_string(), spec.name.clone());
    out.insert(labels::SPEC_HASH.to_string(), spec.spec_hash.clone());
    out.insert(labels::KIND.to_string(), spec.role.to_string());
    out
}

/// The labels of a lab network the hub creates.
pub fn network_labels(spec: &NetworkSpec) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = spec
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.insert(labels::LAB.to_string(), spec.lab.clone());
    out.insert(labels::OWNED.to_string(), "true".to_string());
    out
}

/// The request creating the lab network: a bridge with the lab's subnet and gateway, a
/// deterministic interface name, and the lab's labels.
pub fn network_request(spec: &NetworkSpec) -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: spec.name.clone(),
        driver: Some("bridge".to_string()),
        ipam: Some(Ipam {
            driver: Some("default".to_string()),
            config: Some(vec![IpamConfig {
                subnet: Some(spec.subnet.to_string()),
                gateway: Some(spec.gateway.to_string()),
                ..Default::default()
            }]),
            options: None,
        }),
        options: Some(
            std::iter::once((BRIDGE_NAME_OPTION.to_string(), bridge_name_of(spec)))
                .chain(spec.mtu.map(|m| (MTU_OPTION.to_string(), m.to_string())))
                .collect(),
        ),
        labels: Some(network_labels(spec)),
        ..Default::default()
    }
}

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Docker's healthcheck: the hub's exec-form command becomes `["CMD", ...]`; a command that
/// already starts with `CMD`, `CMD-SHELL` or `NONE` is passed as is.
pub fn health_config(h: &Healthcheck) -> HealthConfig {
    let test = match h.test.first().map(String::as_str) {
        Some("CMD" | "CMD-SHELL" | "NONE") => h.test.clone(),
        _ => std::iter::once("CMD".to_string())
            .chain(h.test.iter().cloned())
            .collect(),
    };
    HealthConfig {
        test: Some(test),
        interval: Some(nanos(h.interval)),
        timeout: Some(nanos(h.timeout)),
        retries: Some(i64::from(h.retries)),
        start_period: Some(nanos(h.start_period)),
        start_interval: None,
    }
}

/// CPUs as Docker's `NanoCpus`. The spec is validated (finite, more than 0); a float-to-int
/// `as` saturates and never panics, so even an unvalidated value gives a number Docker
/// judges, not a crash.
fn nano_cpus(cpus: f64) -> i64 {
    (cpus * 1e9).round() as i64
}

fn restart_policy(r: RestartPolicy) -> DockerRestart {
    let name = match r {
        RestartPolicy::No => RestartPolicyNameEnum::NO,
        RestartPolicy::OnFailure => RestartPolicyNameEnum::ON_FAILURE,
        RestartPolicy::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
        RestartPolicy::Always => RestartPolicyNameEnum::ALWAYS,
    };
    DockerRestart {
        name: Some(name),
        maximum_retry_count: None,
    }
}

/// The request creating a lab's container. It joins the lab network only (`NetworkMode` is the
/// lab network, so it is not also on Docker's default bridge; below API 1.44 a container can
/// join only one network at create time), at its static address and MAC when given; DNS points
/// at the lab's resolvers (netd) with the lab's domain as search domain when the lab has them.
pub fn container_body(lab: &LabContext, spec: &ContainerSpec) -> ContainerCreateBody {
    // On several networks, the container is created on its first alone; the others are
    // connected in order after each start (see the wiring module).
    let (net, ip, mac) = match spec.networks.first() {
        Some(a) => (a.network.clone(), Some(a.ip), Some(a.mac)),
        None => (lab.network.name.clone(), spec.ip, spec.mac),
    };
    let endpoint = EndpointSettings {
        ipam_config: ip.map(|ip| EndpointIpamConfig {
            ipv4_address: Some(ip.to_string()),
            ..Default::default()
        }),
        mac_address: mac.map(|m| m.to_string()),
        ..Default::default()
    };
    let mut labels = container_labels(&lab.name, spec);
    if let Some(w) = crate::wiring::Wiring::of(spec) {
        labels.insert(labels::ATTACHMENTS.to_string(), w.to_label());
    }
    let resolvers = if spec.dns.is_empty() {
        &lab.dns
    } else {
        &spec.dns
    };
    let has_dns = !resolvers.is_empty();
    let host_config = HostConfig {
        network_mode: Some(net.clone()),
        restart_policy: Some(restart_policy(spec.restart)),
        nano_cpus: spec.resources.cpus.map(nano_cpus),
        memory: spec
            .resources
            .memory_mb
            .map(|mb| i64::try_from(mb.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX)),
        cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
        binds: (!spec.mounts.is_empty() || !spec.volumes.is_empty()).then(|| binds(lab, spec)),
        port_bindings: (!spec.ports.is_empty()).then(|| port_bindings(&spec.ports)),
        dns: has_dns.then(|| resolvers.iter().map(Ipv4Addr::to_string).collect()),
        // A new network namespace inherits the host's `ip_forward` (1 on a Docker host): a
        // container on several networks that is not to route gets 0 explicitly.
        sysctls: (spec.ip_forward || spec.networks.len() > 1).then(|| {
            let on = if spec.ip_forward { "1" } else { "0" };
            HashMap::from([("net.ipv4.ip_forward".to_string(), on.to_string())])
        }),
        dns_search: (has_dns && !lab.domain.is_empty()).then(|| vec![lab.domain.clone()]),
        ..Default::default()
    };
    ContainerCreateBody {
        hostname: Some(spec.name.clone()),
        image: Some(spec.image.clone()),
        cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
        env: (!spec.env.is_empty())
            .then(|| spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(labels),
        exposed_ports: (!spec.ports.is_empty()).then(|| {
            let ports: std::collections::BTreeSet<String> =
                spec.ports.iter().map(exposed_port).collect();
            ports.into_iter().collect()
        }),
        healthcheck: spec.healthcheck.as_ref().map(health_config),
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(net, endpoint)])),
        }),
        ..Default::default()
    }
}

/// The Docker volume of the lab's named volume `name`: `LAB-NAME`.
pub fn volume_name(lab: &str, name: &str) -> String {
    format!("{lab}-{name}")
}

/// Bind mounts, then named volumes, as Docker's `SOURCE:TARGET[:ro]` binds.
pub(crate) fn binds(lab: &LabContext, spec: &ContainerSpec) -> Vec<String> {
    let ro = |read_only: bool| if read_only { ":ro" } else { "" };
    let mounts = spec
        .mounts
        .iter()
        .map(|m| format!("{}:{}{}", m.source.display(), m.target, ro(m.read_only)));
    let volumes = spec.volumes.iter().map(|v| {
        format!(
            "{}:{}{}",
            volume_name(&lab.name, &v.name),
            v.target,
            ro(v.read_only)
        )
    });
    mounts.chain(volumes).collect()
}

/// Docker's name of a container port: `80/tcp`.
fn exposed_port(m: &PortMapping) -> String {
    format!("{}/{}", m.container_port, m.protocol)
}

/// The host side of every published port, grouped by container port as Docker wants them.
fn port_bindings(ports: &[PortMapping]) -> PortMap {
    let mut map: PortMap = HashMap::new();
    for m in ports {
        let binding = PortBinding {
            host_ip: m.host_ip.map(|ip| ip.to_string()),
            host_port: Some(m.host_port.map(|p| p.to_string()).unwrap_or_default()),
        };
        map.entry(exposed_port(m))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(binding);
    }
    map
}

/// Maps Docker's container state and health to the hub's.
pub fn state_of(status: Option<&str>, health: Option<&str>) -> WorkloadState {
    match (status.unwrap_or(""), health.unwrap_or("")) {
        ("running", "starting") => WorkloadState::Starting,
        ("running", "unhealthy") => WorkloadState::Unhealthy,
        ("running", _) => WorkloadState::Running,
        ("restarting", _) => WorkloadState::Starting,
        ("created", _) => WorkloadState::Created,
        ("exited" | "dead", _) => WorkloadState::Stopped,
        _ => WorkloadState::Unknown,
    }
}

fn container_status_str(s: ContainerStateStatusEnum) -> &'static str {
    match s {
        ContainerStateStatusEnum::CREATED => "created",
        ContainerStateStatusEnum::RUNNING => "running",
        ContainerStateStatusEnum::PAUSED => "paused",
        ContainerStateStatusEnum::RESTARTING => "restarting",
        ContainerStateStatusEnum::REMOVING => "removing",
        ContainerStateStatusEnum::EXITED => "exited",
        ContainerStateStatusEnum::DEAD => "dead",
        _ => "",
    }
}

fn health_str(h: HealthStatusEnum) -> &'static str {
    match h {
        HealthStatusEnum::STARTING => "starting",
        HealthStatusEnum::HEALTHY => "healthy",
        HealthStatusEnum::UNHEALTHY => "unhealthy",
        _ => "none",
    }
}

/// The status and health of an inspected container as plain strings (`running`, `healthy`).
pub fn inspect_state(i: &ContainerInspectResponse) -> (&'static str, &'static str) {
    let st = i.state.as_ref();
    let status = st
        .and_then(|s| s.status)
        .map(container_status_str)
        .unwrap_or("");
    let health = st
        .and_then(|s| s.health.as_ref())
        .and_then(|h| h.status)
        .map(health_str)
        .unwrap_or("none");
    (status, health)
}

/// The container's endpoint on its network: the lab network when it is among them, else the
/// only one it has.
fn endpoint<'a>(
    networks: Option<&'a HashMap<String, EndpointSettings>>,
    lab_network: Option<&str>,
) -> Option<&'a EndpointSettings> {
    let nets = networks?;
    lab_network.and_then(|n| nets.get(n)).or_else(|| {
        let mut it = nets
            .values()
            .filter(|e| e.ip_address.as_deref().is_some_and(|a| !a.is_empty()));
        it.next().or_else(|| nets.values().next())
    })
}

fn parse_ip(e: &EndpointSettings) -> Option<Ipv4Addr> {
    e.ip_address
        .as_deref()
        .and_then(|a| a.parse().ok())
        .or_else(|| asked_ip(e))
}

/// The static address an endpoint asked for (its IPAM config).
fn asked_ip(e: &EndpointSettings) -> Option<Ipv4Addr> {
    e.ipam_config
        .as_ref()?
        .ipv4_address
        .as_deref()?
        .parse()
        .ok()
}

fn mac_of(e: &EndpointSettings) -> Option<MacAddr> {
    e.mac_address.as_deref().and_then(|m| m.parse().ok())
}

/// The address the container asked for on its network (what Docker refuses with "Address
/// already in use").
pub fn requested_ip(i: &ContainerInspectResponse) -> Option<Ipv4Addr> {
    let nets = i.network_settings.as_ref()?.networks.as_ref()?;
    nets.values().find_map(asked_ip)
}

/// The hub's status of an inspected container of lab `lab`.
pub fn status_from_inspect(lab: &str, i: &ContainerInspectResponse) -> WorkloadStatus {
    let (status, health) = inspect_state(i);
    let state = state_of(Some(status), Some(health));
    let exit_code = match state {
        WorkloadState::Stopped => i.state.as_ref().and_then(|s| s.exit_code),
        _ => None,
    };
    Found {
        lab,
        labels: i.config.as_ref().and_then(|c| c.labels.as_ref()),
        docker_name: i.name.as_deref().unwrap_or(""),
        id: i.id.as_deref(),
        state,
        networks: i
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref()),
        network_mode: i
            .host_config
            .as_ref()
            .and_then(|h| h.network_mode.as_deref()),
        exit_code,
    }
    .status()
}

/// What an inspection or a list entry says about a container, read the same way from both.
struct Found<'a> {
    lab: &'a str,
    labels: Option<&'a HashMap<String, String>>,
    /// Docker's name, with or without the leading `/`.
    docker_name: &'a str,
    id: Option<&'a str>,
    state: WorkloadState,
    /// The container's endpoints, by network name.
    networks: Option<&'a HashMap<String, EndpointSettings>>,
    /// Its `NetworkMode`: the lab network for the hub's containers.
    network_mode: Option<&'a str>,
    exit_code: Option<i64>,
}

impl Found<'_> {
    fn label(&self, k: &str) -> Option<String> {
        self.labels.and_then(|l| l.get(k)).cloned()
    }

    /// The hub's status: the workload name from the label, else from Docker's `LAB-NAME`.
    fn status(&self) -> WorkloadStatus {
        let name = self.label(labels::WORKLOAD).unwrap_or_else(|| {
            let docker = self.docker_name.trim_start_matches('/');
            docker
                .strip_prefix(&format!("{}-", self.lab))
                .unwrap_or(docker)
                .to_string()
        });
        let ep = endpoint(self.networks, self.network_mode);
        WorkloadStatus {
            handle: WorkloadHandle {
                lab: self.lab.to_string(),
                name,
                kind: WorkloadKind::Container,
                id: self.id.unwrap_or_default().to_string(),
            },
            state: self.state,
            ip: ep.and_then(parse_ip),
            mac: ep.and_then(mac_of),
            exit_code: self.exit_code,
            spec_hash: self.label(labels::SPEC_HASH),
            role: self.label(labels::KIND).and_then(|r| r.parse().ok()),
            boot: None,
        }
    }
}

/// The exit code in a `docker ps` status text (`Exited (3) 2 seconds ago`).
fn exit_code_of_status(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split(')').next()?.parse().ok()
}

/// The hub's status of a listed container of lab `lab` (no inspect call per container).
pub fn status_from_summary(lab: &str, s: &ContainerSummary) -> WorkloadStatus {
    let status_text = s.status.as_deref().unwrap_or("");
    let status = match s.state {
        Some(ContainerSummaryStateEnum::CREATED) => "created",
        Some(ContainerSummaryStateEnum::RUNNING) => "running",
        Some(ContainerSummaryStateEnum::PAUSED) => "paused",
        Some(ContainerSummaryStateEnum::RESTARTING) => "restarting",
        Some(ContainerSummaryStateEnum::EXITED) => "exited",
        Some(ContainerSummaryStateEnum::DEAD) => "dead",
        _ => "",
    };
    // API 1.41 has no Health field in the list; the status text carries it.
    let health = if status_text.contains("(healthy)") {
        "healthy"
    } else if status_text.contains("(unhealthy)") {
        "unhealthy"
    } else if status_text.contains("(health: starting)") {
        "starting"
    } else {
        "none"
    };
    let state = state_of(Some(status), Some(health));
    Found {
        lab,
        labels: s.labels.as_ref(),
        docker_name: s
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map_or("", String::as_str),
        id: s.id.as_deref(),
        state,
        networks: s
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref()),
        network_mode: s
            .host_config
            .as_ref()
            .and_then(|h| h.network_mode.as_deref()),
        exit_code: if state == WorkloadState::Stopped {
            exit_code_of_status(status_text)
        } else {
            None
        },
    }
    .status()
}

/// Completes an image reference with `:latest` when it names neither a tag nor a digest, so a
/// pull fetches one image and not every tag of the repository.
pub fn normalize_image(image: &str) -> String {
    if image.contains('@') {
        return image.to_string();
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Splits `repo[:tag]` into repository and tag (`latest` when none), keeping a registry port
/// (`host:5000/x`) in the repository.
pub fn split_reference(image: &str) -> (String, String) {
    let norm = normalize_image(image);
    match norm.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (norm, "latest".to_string()),
    }
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;
