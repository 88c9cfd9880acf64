//! The lab spec's types, as written in YAML and as built in Rust.
//!
//! Every type refuses unknown fields. The network is described by flat top-level fields
//! (`network_name`, `subnet`, `network_type`, `attach_to`, `dhcp_range`, `domain`), the form
//! of the seed's example; there is no nested `network:` mapping.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hub_runtime::{RestartPolicy, VirtType};
use serde::{Deserialize, Serialize};

use super::check::Check;
use super::duration::SpecDuration;
use super::hosts::{Host, Mesh, Placement};
use super::locations::Locations;
use super::segments::{Segment, WorkloadNetworks};

/// The only network type supported for now.
pub const NETWORK_TYPE_BRIDGE: &str = "bridge";
/// The VPN subnet when the spec gives none.
pub const DEFAULT_VPN_SUBNET: &str = "10.10.0.0/24";
/// The first WireGuard port tried when the spec gives none (the first free one from here is
/// taken and kept for the lab).
pub const DEFAULT_LISTEN_PORT: u16 = 51820;
/// A VM's login user when the spec gives none.
pub const DEFAULT_VM_USER: &str = "hub";
/// A VM's memory in MiB when the spec gives none.
pub const DEFAULT_VM_MEMORY_MB: u64 = 1024;
/// A VM's vCPUs when the spec gives none.
pub const DEFAULT_VM_VCPUS: u32 = 1;

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}
fn default_network_type() -> String {
    NETWORK_TYPE_BRIDGE.to_string()
}
fn is_bridge(s: &str) -> bool {
    s == NETWORK_TYPE_BRIDGE
}
fn default_vpn_subnet() -> String {
    DEFAULT_VPN_SUBNET.to_string()
}
fn default_user() -> String {
    DEFAULT_VM_USER.to_string()
}
fn default_memory() -> u64 {
    DEFAULT_VM_MEMORY_MB
}
fn default_vcpus() -> u32 {
    DEFAULT_VM_VCPUS
}
fn yes() -> bool {
    true
}

/// Where a spec came from: its file (for error messages), the folder relative paths are
/// relative to, and where each field is written.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origin {
    pub(crate) file: Option<PathBuf>,
    pub(crate) base_dir: Option<PathBuf>,
    pub(crate) locations: Arc<Locations>,
    /// When some list elements failed to parse: the document index of each element kept.
    pub(crate) container_index: Option<Vec<usize>>,
    /// Same for `vms`.
    pub(crate) vm_index: Option<Vec<usize>>,
    /// Same for `checks`.
    pub(crate) check_index: Option<Vec<usize>>,
}

impl Origin {
    /// The field path of the `i`-th element kept of list `field`, given the document index of
    /// each element kept (`None`: every element was kept).
    fn kept_path(field: &str, index: &Option<Vec<usize>>, i: usize) -> String {
        let doc = index.as_ref().and_then(|m| m.get(i).copied()).unwrap_or(i);
        format!("{field}[{doc}]")
    }
    /// The field path of the `i`-th container kept (its index in the document).
    pub(crate) fn container_path(&self, i: usize) -> String {
        Self::kept_path("containers", &self.container_index, i)
    }
    /// The field path of the `i`-th VM kept.
    pub(crate) fn vm_path(&self, i: usize) -> String {
        Self::kept_path("vms", &self.vm_index, i)
    }
    /// The field path of the `i`-th check kept.
    pub(crate) fn check_path(&self, i: usize) -> String {
        Self::kept_path("checks", &self.check_index, i)
    }
}

/// A whole lab: its network, containers, VMs and WireGuard gateway.
///
/// Load one with [`LabSpec::from_file`], or build one in Rust:
/// ```
/// use hub_core::spec::{Container, LabSpec, Vm, Vpn};
/// let spec = LabSpec::new("demo", "10.77.0.0/24")
///     .container(Container::new("db", "postgres:16").env("POSTGRES_PASSWORD", "x"))
///     .vm(Vm::new("agent", "images/debian-12.qcow2").memory_mb(1024).packages(["curl"]))
///     .vpn(Vpn::new("10.78.0.0/24").peer("laptop"));
/// assert_eq!(spec.lab_name(), Some("demo"));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabSpec {
    /// The lab's name; defaults to `network_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The lab network's name; defaults to the lab's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_name: Option<String>,
    /// The lab subnet in CIDR form, `/8` to `/28` (`172.19.5.0/24`); empty when the lab is
    /// made of `networks` instead.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subnet: String,
    /// The lab's segments, when it has several (instead of `subnet`): the first is the lab
    /// network (netd's, the VPN's way in), each has its own bridge and address plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Segment>,
    /// The network type; only `bridge` is supported for now.
    #[serde(default = "default_network_type", skip_serializing_if = "is_bridge")]
    pub network_type: String,
    /// An existing Docker network the lab joins instead of creating its own (never removed
    /// by the hub), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_to: Option<String>,
    /// The DHCP range for unknown clients, `FIRST-LAST` (`172.19.5.200-172.19.5.254`);
    /// defaults to the address plan's tail of the subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp_range: Option<String>,
    /// The lab's DNS domain; defaults to `<lab>.lab`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<Container>,
    /// The VMs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vms: Vec<Vm>,
    /// The WireGuard gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard: Option<Vpn>,
    /// What must and must not work in the lab, checked by `hub check` beside the built-in
    /// checks (see [`Check`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    /// The hosts the lab spans, the first being the primary (netd and the VPN gateway run
    /// there); empty: the one local host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<Host>,
    /// How workloads without `host:` are placed on the hosts (default E-PVM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// How the hosts' copies of the lab network are joined (port, underlay MTU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh: Option<Mesh>,
    #[serde(skip)]
    pub(crate) origin: Origin,
}

impl LabSpec {
    /// A lab named `name` on `subnet` (CIDR), with nothing in it yet.
    pub fn new(name: impl Into<String>, subnet: impl Into<String>) -> Self {
        LabSpec {
            name: Some(name.into()),
            network_name: None,
            subnet: subnet.into(),
            networks: Vec::new(),
            network_type: default_network_type(),
            attach_to: None,
            dhcp_range: None,
            domain: None,
            containers: Vec::new(),
            vms: Vec::new(),
            wireguard: None,
            checks: Vec::new(),
            hosts: Vec::new(),
            placement: None,
            mesh: None,
            origin: Origin::default(),
        }
    }
    /// A lab named `name` made of segments, added with [`LabSpec::segment`].
    pub fn segmented(name: impl Into<String>) -> Self {
        LabSpec::new(name, "")
    }
    /// Adds a segment (the first added is the lab network).
    pub fn segment(mut self, segment: Segment) -> Self {
        self.networks.push(segment);
        self
    }
    /// Sets the lab's name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Sets the lab subnet (CIDR).
    pub fn subnet(mut self, subnet: impl Into<String>) -> Self {
        self.subnet = subnet.into();
        self
    }
    /// Sets the lab network's name.
    pub fn network_name(mut self, name: impl Into<String>) -> Self {
        self.network_name = Some(name.into());
        self
    }
    /// Joins this existing Docker network instead of creating one (never removed by the hub).
    pub fn attach_to(mut self, network: impl Into<String>) -> Self {
        self.attach_to = Some(network.into());
        self
    }
    /// Sets the DHCP range (`FIRST-LAST`).
    pub fn dhcp_range(mut self, range: impl Into<String>) -> Self {
        self.dhcp_range = Some(range.into());
        self
    }
    /// Sets the DNS domain.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }
    /// Adds a container.
    pub fn container(mut self, c: Container) -> Self {
        self.containers.push(c);
        self
    }
    /// Adds a VM.
    pub fn vm(mut self, vm: Vm) -> Self {
        self.vms.push(vm);
        self
    }
    /// Sets the WireGuard gateway.
    pub fn vpn(mut self, vpn: Vpn) -> Self {
        self.wireguard = Some(vpn);
        self
    }
    /// Adds a check (what `hub check` and [`crate::Lab::check`] prove besides the built-ins).
    pub fn check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }
    /// Adds a host the lab may run on (the first added is the primary).
    pub fn host(mut self, host: Host) -> Self {
        self.hosts.push(host);
        self
    }
    /// Sets how workloads without `host:` are placed (default E-PVM).
    pub fn placement(mut self, placement: Placement) -> Self {
        self.placement = Some(placement);
        self
    }
    /// Sets how the hosts are joined (the mesh's port, the underlay's MTU).
    pub fn mesh(mut self, mesh: Mesh) -> Self {
        self.mesh = Some(mesh);
        self
    }
    /// Sets the folder relative VM image paths are relative to (a spec loaded from a file
    /// uses the file's folder; a built one the current directory unless this is set).
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.origin.base_dir = Some(dir.into());
        self
    }

    /// The lab's name: `name`, else `network_name`.
    pub fn lab_name(&self) -> Option<&str> {
        self.name.as_deref().or(self.network_name.as_deref())
    }
    /// The spec file this was loaded from, if any.
    pub fn file(&self) -> Option<&Path> {
        self.origin.file.as_deref()
    }
    /// The folder relative paths are resolved against, if set.
    pub fn base_path(&self) -> Option<&Path> {
        self.origin.base_dir.as_deref()
    }
    /// `path` made absolute against the spec's folder (or the current directory).
    pub fn resolve_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            return path.to_path_buf();
        }
        let base = match &self.origin.base_dir {
            Some(b) => b.clone(),
            None => std::env::current_dir().unwrap_or_default(),
        };
        let rel: PathBuf = path
            .components()
            .filter(|c| *c != std::path::Component::CurDir)
            .collect();
        let joined = base.join(rel);
        if joined.is_absolute() {
            joined
        } else {
            std::env::current_dir().unwrap_or_default().join(joined)
        }
    }
}

/// The builder methods of a workload's segments (`networks`, `network_at`, `ip_forward`),
/// the same on [`Container`] and [`Vm`].
macro_rules! segment_builders {
    () => {
        /// Joins these segments, in order (one interface each, `eth0` first), at allocated
        /// addresses.
        pub fn networks<I, S>(mut self, names: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.networks = names.into_iter().collect();
            self
        }
        /// Joins one more segment, at `ip` (or an allocated address when `None`).
        pub fn network_at(mut self, name: impl Into<String>, ip: Option<&str>) -> Self {
            self.networks.push(name, ip);
            self
        }
        /// Routes packets between its interfaces (`net.ipv4.ip_forward=1`).
        pub fn ip_forward(mut self, on: bool) -> Self {
            self.ip_forward = on;
            self
        }
    };
}

/// A container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// Name inside the lab (a DNS label: lowercase letters, digits, `-`).
    pub name: String,
    /// Image reference (`nginx:alpine`).
    pub image: String,
    /// Command, replacing the image's CMD when non-empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    /// Environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Static address; allocated from the static range when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Docker labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Workloads started (and ready) before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Healthcheck; readiness waits for `healthy` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<ContainerHealthcheck>,
    /// CPU limit (fractional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Memory limit in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// Restart policy: `no` (default), `on-failure`, `unless-stopped`, `always`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub restart: RestartPolicy,
    /// Ports published on the host, in Compose's short syntax (`"8080:80"`,
    /// `"127.0.0.1:5353:53/udp"`). A host port something else holds is refused before anything
    /// starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// Mounts, in Compose's short syntax `SOURCE:TARGET[:ro|:rw]`: a bind mount when SOURCE is
    /// a path (`./conf/nginx.conf`, relative to the spec's folder, or absolute; it must exist),
    /// else a named volume owned by the lab (`data:/var/lib/data`, Docker volume `LAB-data`),
    /// removed by `down` unless `--keep-volumes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// The lab's segments it joins, in order (one interface each: `eth0`, `eth1`...), as a
    /// list of names or a mapping of name to address; default: the first segment only. `ip`,
    /// when given, is its address on the first.
    #[serde(default, skip_serializing_if = "WorkloadNetworks::is_empty")]
    pub networks: WorkloadNetworks,
    /// Routes packets between its interfaces (`net.ipv4.ip_forward=1`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ip_forward: bool,
    /// The host (of the spec's `hosts`) it runs on; placed by the scheduler when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl Container {
    /// A container `name` running `image`.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        Container {
            name: name.into(),
            image: image.into(),
            cmd: Vec::new(),
            env: BTreeMap::new(),
            ip: None,
            labels: BTreeMap::new(),
            depends_on: Vec::new(),
            healthcheck: None,
            cpus: None,
            memory_mb: None,
            restart: RestartPolicy::No,
            ports: Vec::new(),
            volumes: Vec::new(),
            networks: WorkloadNetworks::default(),
            ip_forward: false,
            host: None,
        }
    }
    /// Runs it on the host `name` of the spec's `hosts` (else the scheduler places it).
    pub fn host(mut self, name: impl Into<String>) -> Self {
        self.host = Some(name.into());
        self
    }
    segment_builders!();
    /// Sets the command.
    pub fn cmd<I, S>(mut self, cmd: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cmd = cmd.into_iter().map(Into::into).collect();
        self
    }
    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }
    /// Sets a static address.
    pub fn ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }
    /// Adds a Docker label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }
    /// Adds a dependency.
    pub fn depends_on(mut self, name: impl Into<String>) -> Self {
        self.depends_on.push(name.into());
        self
    }
    /// Sets the healthcheck.
    pub fn healthcheck(mut self, hc: ContainerHealthcheck) -> Self {
        self.healthcheck = Some(hc);
        self
    }
    /// Sets the CPU limit.
    pub fn cpus(mut self, cpus: f64) -> Self {
        self.cpus = Some(cpus);
        self
    }
    /// Sets the memory limit in MiB.
    pub fn memory_mb(mut self, mb: u64) -> Self {
        self.memory_mb = Some(mb);
        self
    }
    /// Sets the restart policy.
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }
    /// Publishes a port on the host, in Compose's short syntax (`"8080:80"`,
    /// `"127.0.0.1:5353:53/udp"`).
    pub fn port(mut self, mapping: impl Into<String>) -> Self {
        self.ports.push(mapping.into());
        self
    }
    /// Adds a mount, `SOURCE:TARGET[:ro]`: a bind mount of a path (relative to the spec's
    /// folder) or a named volume owned by the lab.
    pub fn volume(mut self, mount: impl Into<String>) -> Self {
        self.volumes.push(mount.into());
        self
    }
}

/// A container healthcheck (exec form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerHealthcheck {
    /// The command, exec form (`["wget", "-q", "-O-", "http://localhost/"]`).
    pub test: Vec<String>,
    /// Time between checks (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<SpecDuration>,
    /// Time one check may take (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<SpecDuration>,
    /// Failures before unhealthy (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Grace period after start (default 0s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<SpecDuration>,
}

impl ContainerHealthcheck {
    /// A healthcheck running `test`.
    pub fn new<I, S>(test: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ContainerHealthcheck {
            test: test.into_iter().map(Into::into).collect(),
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
        }
    }
    /// Sets the interval.
    pub fn interval(mut self, d: std::time::Duration) -> Self {
        self.interval = Some(d.into());
        self
    }
    /// Sets the timeout.
    pub fn timeout(mut self, d: std::time::Duration) -> Self {
        self.timeout = Some(d.into());
        self
    }
    /// Sets the retries.
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = Some(n);
        self
    }
    /// Sets the start period.
    pub fn start_period(mut self, d: std::time::Duration) -> Self {
        self.start_period = Some(d.into());
        self
    }
}

/// A VM booted from a qcow2 base image with cloud-init.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vm {
    /// Name inside the lab (a DNS label).
    pub name: String,
    /// The base qcow2 image; a relative path is relative to the spec file's folder.
    pub image: PathBuf,
    /// Memory in MiB (default 1024).
    #[serde(default = "default_memory")]
    pub memory_mb: u64,
    /// Virtual CPUs (default 1).
    #[serde(default = "default_vcpus")]
    pub vcpus: u32,
    /// Packages cloud-init installs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// The login user cloud-init creates (default `hub`).
    #[serde(default = "default_user")]
    pub user: String,
    /// Static address (reserved for the VM's MAC in netd); allocated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Extra cloud-config merged into the generated user-data (a mapping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_init: Option<serde_json::Value>,
    /// Commands run once at first boot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runcmd: Vec<String>,
    /// Files from the spec's folder written into the guest at first boot (cloud-init
    /// `write_files`), with mode and owner, before `runcmd` runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<VmFile>,
    /// `auto` (default), `kvm` or `qemu`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub virt_type: VirtType,
    /// Workloads started (and ready) before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Start from a warm snapshot of this VM when one is cached (saved after its first cold
    /// boot), in seconds instead of a minute. Default off. Not part of the spec hash: turning
    /// it on or off does not re-create a running VM.
    #[serde(default, skip_serializing)]
    pub warm: bool,
    /// Restart policy the hub's reconciler (`hub up --watch`, `hub serve`) applies when the VM
    /// is shut off, crashed or gone: `no` (default), `on-failure`, `unless-stopped`, `always`.
    /// Not part of the spec hash: changing it does not re-create a running VM.
    #[serde(default, skip_serializing)]
    pub restart: RestartPolicy,
    /// The host (of the spec's `hosts`) it runs on; placed by the scheduler when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The lab's segments it joins, in order (one virtio NIC each, `eth0`, `eth1`..., each
    /// brought up by DHCP from netd), as a list of names or a mapping of name to address;
    /// default: the first segment only. `ip`, when given, is its address on the first.
    #[serde(default, skip_serializing_if = "WorkloadNetworks::is_empty")]
    pub networks: WorkloadNetworks,
    /// Routes packets between its NICs (`net.ipv4.ip_forward=1`, set by cloud-init).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ip_forward: bool,
}

impl Vm {
    /// A VM `name` booted from the qcow2 image at `image`.
    pub fn new(name: impl Into<String>, image: impl Into<PathBuf>) -> Self {
        Vm {
            name: name.into(),
            image: image.into(),
            memory_mb: DEFAULT_VM_MEMORY_MB,
            vcpus: DEFAULT_VM_VCPUS,
            packages: Vec::new(),
            user: DEFAULT_VM_USER.to_string(),
            ip: None,
            cloud_init: None,
            runcmd: Vec::new(),
            files: Vec::new(),
            virt_type: VirtType::Auto,
            depends_on: Vec::new(),
            warm: false,
            restart: RestartPolicy::No,
            host: None,
            networks: WorkloadNetworks::default(),
            ip_forward: false,
        }
    }
    /// Runs it on the host `name` of the spec's `hosts` (else the scheduler places it).
    pub fn host(mut self, name: impl Into<String>) -> Self {
        self.host = Some(name.into());
        self
    }
    segment_builders!();
    /// Starts the VM from a warm snapshot when one is cached (see [`Vm::warm`]'s field).
    pub fn warm(mut self, on: bool) -> Self {
        self.warm = on;
        self
    }
    /// Sets the restart policy the reconciler applies (see [`Vm::restart`]'s field).
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }
    /// Sets the memory in MiB.
    pub fn memory_mb(mut self, mb: u64) -> Self {
        self.memory_mb = mb;
        self
    }
    /// Sets the vCPUs.
    pub fn vcpus(mut self, n: u32) -> Self {
        self.vcpus = n;
        self
    }
    /// Sets the packages to install.
    pub fn packages<I, S>(mut self, pkgs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.packages = pkgs.into_iter().map(Into::into).collect();
        self
    }
    /// Sets the login user.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }
    /// Sets a static address.
    pub fn ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }
    /// Sets extra cloud-config (a JSON object).
    pub fn cloud_init(mut self, cfg: serde_json::Value) -> Self {
        self.cloud_init = Some(cfg);
        self
    }
    /// Sets the first-boot commands.
    pub fn runcmd<I, S>(mut self, cmds: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.runcmd = cmds.into_iter().map(Into::into).collect();
        self
    }
    /// Adds a file written into the guest at first boot.
    pub fn file(mut self, file: VmFile) -> Self {
        self.files.push(file);
        self
    }
    /// Sets the virtualisation type.
    pub fn virt_type(mut self, t: VirtType) -> Self {
        self.virt_type = t;
        self
    }
    /// Adds a dependency.
    pub fn depends_on(mut self, name: impl Into<String>) -> Self {
        self.depends_on.push(name.into());
        self
    }
}

/// The largest file `files:` writes into a VM (it travels in the cloud-init seed).
pub const MAX_VM_FILE_BYTES: u64 = 4 << 20;

/// A file of the spec's folder that cloud-init writes into a VM.
///
/// ```
/// use hub_core::spec::{Vm, VmFile};
/// let vm = Vm::new("vm1", "base.qcow2")
///     .file(VmFile::new("./conf/app.toml", "/etc/app.toml").mode("0600").owner("hub:hub"));
/// assert_eq!(vm.files[0].path, "/etc/app.toml");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmFile {
    /// The file to copy: relative to the spec's folder, or absolute (at most 4 MiB).
    pub source: PathBuf,
    /// Where it goes in the guest (absolute).
    pub path: String,
    /// Octal mode, as a string (`"0644"`, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `user` or `user:group` (default `root:root`); the spec's VM user exists by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl VmFile {
    /// Copies `source` (relative to the spec's folder) to `path` in the guest.
    pub fn new(source: impl Into<PathBuf>, path: impl Into<String>) -> Self {
        VmFile {
            source: source.into(),
            path: path.into(),
            mode: None,
            owner: None,
        }
    }
    /// Sets the octal mode (`"0600"`).
    pub fn mode(mut self, mode: impl Into<String>) -> Self {
        self.mode = Some(mode.into());
        self
    }
    /// Sets the owner (`"hub"` or `"hub:hub"`).
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }
}

/// The WireGuard gateway and its peers.
///
/// Peers are listed under `peers`, or (the seed's form) one peer as `peer_name` + `address`;
/// both may be used together, the `peer_name` one first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vpn {
    /// Whether the gateway is brought up (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The VPN subnet (default `10.10.0.0/24`); the gateway is its `.1`.
    #[serde(default = "default_vpn_subnet")]
    pub subnet: String,
    /// The endpoint clients connect to (`host` or `host:port`); defaults to the host's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The UDP port. When absent, `up` takes the first free port from 51820 and keeps it for
    /// the lab (in its identity folder), so client configs stay valid across `down`/`up`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_port: Option<u16>,
    /// The peers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<VpnPeer>,
    /// The seed's single-peer form: the peer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_name: Option<String>,
    /// The seed's single-peer form: the peer's address (`10.10.0.2/24` or `10.10.0.2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl Vpn {
    /// A gateway on `subnet` (CIDR) with no peers yet.
    pub fn new(subnet: impl Into<String>) -> Self {
        Vpn {
            enabled: true,
            subnet: subnet.into(),
            endpoint: None,
            listen_port: None,
            peers: Vec::new(),
            peer_name: None,
            address: None,
        }
    }
    /// Adds a peer whose address is allocated.
    pub fn peer(mut self, name: impl Into<String>) -> Self {
        self.peers.push(VpnPeer {
            name: name.into(),
            address: None,
        });
        self
    }
    /// Adds a peer with a fixed address.
    pub fn peer_with_address(mut self, name: impl Into<String>, addr: impl Into<String>) -> Self {
        self.peers.push(VpnPeer {
            name: name.into(),
            address: Some(addr.into()),
        });
        self
    }
    /// Sets the endpoint clients connect to.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }
    /// Sets the UDP port (a port something else holds is refused before anything starts);
    /// without it, `up` picks the first free one from 51820 and keeps it for the lab.
    pub fn listen_port(mut self, port: u16) -> Self {
        self.listen_port = Some(port);
        self
    }
    /// Enables or disables the gateway.
    pub fn enabled(mut self, on: bool) -> Self {
        self.enabled = on;
        self
    }
}

/// One VPN client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpnPeer {
    /// The peer's name (a DNS label).
    pub name: String,
    /// Its address in the VPN subnet; allocated from `.2` up when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}
