use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::network::NetworkInfo;
use crate::ports::PortMapping;
use crate::{MacAddr, Role};

/// The folder of a lab directory that holds the lab's identity (its SSH key, the VMs' host
/// keys, the WireGuard keys): `down` keeps it, so the next `up` of the same spec has the same
/// keys; `down --purge` removes it.
pub const IDENTITY_DIR: &str = "identity";

/// Whether this process runs as root (its real uid is 0, as `/proc/self/status` says): the
/// hub's default folders (`/var/lib/hub`, `/var/cache/hub/warm`) follow from it.
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// `<lab dir>/identity`, see [`IDENTITY_DIR`].
pub fn identity_dir(lab_dir: &std::path::Path) -> PathBuf {
    lab_dir.join(IDENTITY_DIR)
}

/// What every runtime call needs to know about the lab it works for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabContext {
    /// The lab's name; every resource carries it (label, metadata, name prefix).
    pub name: String,
    /// The lab directory: state, keys, overlays, seeds, console logs, client configs.
    pub dir: PathBuf,
    /// The lab network the workloads attach to.
    pub network: NetworkInfo,
    /// The resolvers workloads should use (netd's address when the lab has one).
    pub dns: Vec<Ipv4Addr>,
    /// The lab's DNS domain (`demo.lab`).
    pub domain: String,
    /// The lab's other segments' networks, in order, when it has several (empty otherwise):
    /// a VM's NIC on a segment is attached to that network's bridge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<NetworkInfo>,
}

impl LabContext {
    /// A context for unit tests and doc examples: a `/24` on `10.99.0.0`, a temp-like dir.
    pub fn for_tests(name: &str) -> Self {
        LabContext {
            name: name.to_string(),
            dir: std::env::temp_dir().join(format!("hub-test-{name}")),
            network: NetworkInfo {
                id: format!("fake-net-{name}"),
                name: format!("{name}-net"),
                bridge: format!("br-{name}"),
                subnet: "10.99.0.0/24".parse().expect("valid literal"),
                gateway: Ipv4Addr::new(10, 99, 0, 1),
                owned: true,
            },
            dns: vec![Ipv4Addr::new(10, 99, 0, 2)],
            domain: format!("{name}.lab"),
            segments: Vec::new(),
        }
    }

    /// The lab's network called `name` (the lab network or one of its segments), if any.
    pub fn network_named(&self, name: &str) -> Option<&NetworkInfo> {
        std::iter::once(&self.network)
            .chain(&self.segments)
            .find(|n| n.name == name)
    }
}

/// The kind of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// A container (Docker).
    Container,
    /// A virtual machine (libvirt/QEMU).
    Vm,
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WorkloadKind::Container => "container",
            WorkloadKind::Vm => "vm",
        })
    }
}

/// One workload as a runtime receives it: fully resolved (addresses allocated, MAC derived,
/// keys made, paths absolute).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum WorkloadSpec {
    /// A container.
    Container(ContainerSpec),
    /// A VM.
    Vm(VmSpec),
}

impl WorkloadSpec {
    /// The workload's name inside its lab.
    pub fn name(&self) -> &str {
        match self {
            WorkloadSpec::Container(c) => &c.name,
            WorkloadSpec::Vm(v) => &v.name,
        }
    }
    /// The workload's kind.
    pub fn kind(&self) -> WorkloadKind {
        match self {
            WorkloadSpec::Container(_) => WorkloadKind::Container,
            WorkloadSpec::Vm(_) => WorkloadKind::Vm,
        }
    }
    /// The workload's static address, if it has one.
    pub fn ip(&self) -> Option<Ipv4Addr> {
        match self {
            WorkloadSpec::Container(c) => c.ip,
            WorkloadSpec::Vm(v) => v.ip,
        }
    }
    /// The hash of the user-facing spec this was resolved from (stored in labels/metadata).
    pub fn spec_hash(&self) -> &str {
        match self {
            WorkloadSpec::Container(c) => &c.spec_hash,
            WorkloadSpec::Vm(v) => &v.spec_hash,
        }
    }
}

/// Restart policy of a container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never restart (the default).
    #[default]
    No,
    /// Restart on a non-zero exit.
    OnFailure,
    /// Always restart, unless stopped by hand.
    UnlessStopped,
    /// Always restart.
    Always,
}

/// CPU and memory limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// CPUs (fractional for containers).
    pub cpus: Option<f64>,
    /// Memory in MiB.
    pub memory_mb: Option<u64>,
}

/// A container healthcheck, run inside the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// The command (exec form; `["CMD-SHELL", "..."]` is not needed: use `sh -c`).
    pub test: Vec<String>,
    /// Time between checks.
    pub interval: Duration,
    /// Time one check may take.
    pub timeout: Duration,
    /// Failures before the container is unhealthy.
    pub retries: u32,
    /// Grace period after start.
    pub start_period: Duration,
}

/// A bind mount into a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Path on the host.
    pub source: PathBuf,
    /// Path in the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// A named volume of the lab mounted into a container. The runtime creates it with the lab's
/// marks the first time a container of the lab mounts it, so `down` finds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMount {
    /// The volume's name in the spec; the engine's volume is named `LAB-NAME`.
    pub name: String,
    /// Path in the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// A container, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// Name inside the lab; the Docker container is named `LAB-NAME`.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Command (replaces the image's CMD when non-empty).
    pub cmd: Vec<String>,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// User labels (the hub adds its own, see [`crate::labels`]).
    pub labels: BTreeMap<String, String>,
    /// Static address on the lab network.
    pub ip: Option<Ipv4Addr>,
    /// Fixed MAC address, e.g. to match a DHCP reservation.
    pub mac: Option<MacAddr>,
    /// Healthcheck; when set, readiness waits for `healthy`.
    pub healthcheck: Option<Healthcheck>,
    /// Limits.
    pub resources: Resources,
    /// Restart policy.
    pub restart: RestartPolicy,
    /// Extra Linux capabilities (`NET_ADMIN`).
    pub cap_add: Vec<String>,
    /// Bind mounts.
    pub mounts: Vec<Mount>,
    /// Named volumes of the lab mounted into the container.
    #[serde(default)]
    pub volumes: Vec<VolumeMount>,
    /// Container ports published on the host.
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    /// Kind label value; [`Role::Container`] unless the hub runs infrastructure
    /// ([`Role::Netd`]).
    pub role: Role,
    /// Hash of the user-facing spec.
    pub spec_hash: String,
    /// The networks the container joins when it is not (only) the lab network, in order:
    /// the first one is its `eth0` (then `ip` and `mac` are ignored), the next `eth1`, and so
    /// on. Empty: the lab network alone, at `ip` with `mac`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Attachment>,
    /// Routes packets between its interfaces (`net.ipv4.ip_forward=1`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ip_forward: bool,
    /// The default route's next hop, when a segment gives its default route to a workload
    /// instead of the bridge; set from the host, in the container's network namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_route: Option<Ipv4Addr>,
    /// The resolvers, when not the lab's (netd's address on the container's first segment).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<Ipv4Addr>,
}

/// One interface of a workload on one of the lab's networks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The backend's network name (the Docker network).
    pub network: String,
    /// The lab's name for that segment (`dmz`).
    #[serde(default)]
    pub segment: String,
    /// The address on it.
    pub ip: Ipv4Addr,
    /// The interface's MAC.
    pub mac: MacAddr,
}

impl ContainerSpec {
    /// A container with defaults: no command override, no address, no limits.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        ContainerSpec {
            name: name.into(),
            image: image.into(),
            cmd: Vec::new(),
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            ip: None,
            mac: None,
            healthcheck: None,
            resources: Resources::default(),
            restart: RestartPolicy::No,
            cap_add: Vec::new(),
            mounts: Vec::new(),
            volumes: Vec::new(),
            ports: Vec::new(),
            role: Role::Container,
            spec_hash: String::new(),
            networks: Vec::new(),
            ip_forward: false,
            default_route: None,
            dns: Vec::new(),
        }
    }
}

/// How QEMU runs a VM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VirtType {
    /// KVM when it can be used, else QEMU (TCG). `HUB_VIRT_TYPE` overrides.
    #[default]
    Auto,
    /// Hardware virtualisation.
    Kvm,
    /// Software emulation (TCG), with a CPU model with modern features.
    Qemu,
}

/// A file cloud-init writes into a VM's guest (`write_files`, deferred until the users
/// exist, so any owner works), before `runcmd` runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestFile {
    /// Absolute path in the guest.
    pub path: String,
    /// The content, base64.
    pub content_base64: String,
    /// Octal mode (`0644`).
    pub permissions: String,
    /// `user:group` (`root:root`).
    pub owner: String,
}

/// A VM, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmSpec {
    /// Name inside the lab; the libvirt domain is named `LAB-NAME`.
    pub name: String,
    /// Absolute path of the base qcow2 image (never written to).
    pub image: PathBuf,
    /// Memory in MiB.
    pub memory_mb: u64,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Packages cloud-init installs.
    pub packages: Vec<String>,
    /// The login user cloud-init creates.
    pub user: String,
    /// The address: reserved for the VM's MAC in netd, or configured statically.
    pub ip: Option<Ipv4Addr>,
    /// True when the address is written into cloud-init network-config instead of DHCP.
    pub static_ip: bool,
    /// MAC address, derived from lab and VM name ([`crate::derive_mac`]).
    pub mac: MacAddr,
    /// Extra cloud-config merged into the generated user-data (a YAML mapping as JSON value).
    pub cloud_init: Option<serde_json::Value>,
    /// Commands run once at first boot.
    pub runcmd: Vec<String>,
    /// Files written into the guest at first boot.
    #[serde(default)]
    pub files: Vec<GuestFile>,
    /// Virtualisation type.
    pub virt_type: VirtType,
    /// The lab's SSH public key (OpenSSH format), authorised for `user`.
    pub ssh_authorized_key: String,
    /// The VM's SSH host key (OpenSSH private key), made by the hub so it can be pinned.
    /// Never logged; written only into the VM's seed (mode 0600).
    #[serde(default, skip_serializing)]
    pub ssh_host_key_private: String,
    /// The VM's SSH host public key.
    pub ssh_host_key_public: String,
    /// Hash of the user-facing spec.
    pub spec_hash: String,
    /// Start from a warm snapshot when the runtime has a valid one, and save one after a cold
    /// boot (see `hub_libvirt::WarmCache`).
    #[serde(default)]
    pub warm: bool,
    /// Its NICs in a lab of several segments, in order (one virtio NIC per segment, each on
    /// its network's bridge with its own MAC; the first is `ip` and `mac`), each brought up by
    /// DHCP. Empty: one NIC on the lab network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Attachment>,
    /// Routes packets between its NICs (`net.ipv4.ip_forward=1`, set by cloud-init).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ip_forward: bool,
    /// In a lab of several segments, its default route's next hop: netd hands it out as the
    /// router on the NIC whose segment holds it, and no router on the others. `None` in a lab
    /// of one network (the lab's router).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_route: Option<Ipv4Addr>,
}
