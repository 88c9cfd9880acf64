//! A lab over several hosts: each host's own backends (its Docker Engine, its libvirt), and
//! the runtimes that send every operation on a workload to the host it runs on.
//!
//! The rest of the hub does not change: [`HostSet::runtimes`] gives a [`Runtimes`] whose
//! container and VM runtimes are [`routed::RoutedRuntime`]s and whose network runtime is a
//! [`routed::RoutedNetwork`]. A workload's host is known from placement (before it is
//! created), or found by listing every host (it carries the lab's marks there), so `down`,
//! `status` and `exec` work from the hosts' endpoints alone.
//!
//! Each host is reached only through its endpoints: nothing is installed on it. netd and the
//! VPN gateway run on the primary (the first host). With more than one host, the hosts' copies
//! of the lab network are joined into one L2 segment by a [`LabSegment`] (hub-mesh's VXLAN in
//! a WireGuard mesh, feature `mesh`): [`routed::RoutedNetwork`] makes it once every host's
//! network exists, before any workload starts, and removes it before the networks.

pub(crate) mod place;
mod record;
pub mod routed;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use hub_runtime::{NetworkInfo, NetworkRuntime, Runtime, RuntimeResult, WorkloadKind};

use crate::error::StepError;
use crate::runtimes::Runtimes;
use crate::scheduler::NodeMetrics;

pub use place::{HostPlacement, place};
pub(crate) use record::keep_only;
pub use record::{HOSTS_FILE, load_hosts, save_hosts};

/// Carries a TCP connection from this process's stdin and stdout to `addr:port` on the lab
/// network of the lab whose directory is `lab_dir`, when this machine is not on it (none of
/// the lab's hosts is this machine): `hub pipe` runs in netd's container on the primary (netd's
/// image is the hub's own executable), through the primary's Docker API as `hosts.json`
/// records it. What ssh's `ProxyCommand` runs (`hub relay`) to reach a VM. Returns the pipe's
/// exit code.
#[cfg(feature = "docker")]
pub async fn relay(
    lab_dir: &std::path::Path,
    addr: std::net::Ipv4Addr,
    port: u16,
) -> Result<i64, crate::HubError> {
    let lab = lab_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hosts = load_hosts(&lab, lab_dir)?;
    let primary = hosts.first().ok_or_else(|| crate::HubError::Invalid {
        what: format!("lab {lab:?}"),
        reason: format!(
            "{} records no host: the lab runs on this machine, reach its network directly",
            lab_dir.join(HOSTS_FILE).display()
        ),
    })?;
    let docker = crate::backends::hosts::connect_docker(primary)
        .await
        .map_err(|reason| crate::HubError::Hosts {
            lab: lab.clone(),
            problems: vec![format!("host {:?}: {reason}", primary.name)],
        })?;
    let netd = hub_docker::mapping::container_name(&lab, hub_docker::netd::NETD_NAME);
    let cmd = [
        hub_docker::netd::NETD_HUB_PATH.to_string(),
        "pipe".into(),
        addr.to_string(),
        port.to_string(),
    ];
    docker
        .exec_stdio(&lab, &netd, &cmd)
        .await
        .map_err(|e| crate::HubError::Runtime {
            lab: lab.clone(),
            context: format!(
                "relaying to {addr}:{port} through {netd} on host {:?}",
                primary.name
            ),
            source: Box::new(e),
        })
}

/// What a host's engines say of its capacity.
#[derive(Debug, Clone, PartialEq)]
pub struct HostCapacity {
    /// CPUs (Docker's `NCPU`).
    pub cpus: u32,
    /// Total memory, MiB (Docker's `MemTotal`).
    pub memory_total_mb: u64,
    /// Memory available now, MiB (libvirt's `nodememstats` free + buffers + cached when the
    /// host has libvirt, else the total).
    pub memory_available_mb: u64,
    /// Whether its libvirt answered (`Err`: why not; `None`: it has none).
    pub libvirt: Option<Result<(), String>>,
}

impl HostCapacity {
    /// The scheduler's view, with `placed` (memory MiB, CPUs) of this plan already on it:
    /// capacity minus what is placed, so that a placement depends only on the spec and the
    /// hosts, not on the moment.
    pub(crate) fn metrics_after(&self, placed_mb: u64, placed_cpus: f64) -> NodeMetrics {
        NodeMetrics {
            cpus: self.cpus,
            memory_total_mb: self.memory_total_mb,
            memory_available_mb: self.memory_total_mb.saturating_sub(placed_mb),
            load1: placed_cpus,
        }
    }

    /// Whether it can run VMs.
    pub fn runs_vms(&self) -> bool {
        matches!(self.libvirt, Some(Ok(())))
    }
}

/// Reads a host's capacity from its engines.
#[async_trait]
pub trait HostProbe: Send + Sync {
    /// Its CPUs and memory, and whether its libvirt answers; `Err` when its Docker Engine
    /// cannot be asked (the message says why).
    async fn capacity(&self) -> Result<HostCapacity, String>;
}

/// Fixed capacity (tests, or a caller that measures elsewhere).
#[derive(Debug, Clone)]
pub struct FixedCapacity(pub Result<HostCapacity, String>);

#[async_trait]
impl HostProbe for FixedCapacity {
    async fn capacity(&self) -> Result<HostCapacity, String> {
        self.0.clone()
    }
}

/// One host's backends.
#[derive(Clone)]
pub struct HostBackends {
    /// The host's name (as in the spec's `hosts`).
    pub name: String,
    /// Its containers (its Docker Engine).
    pub containers: Option<Arc<dyn Runtime>>,
    /// Its VMs (its libvirt); `None` when it has none.
    pub vms: Option<Arc<dyn Runtime>>,
    /// Its copy of the lab network.
    pub network: Option<Arc<dyn NetworkRuntime>>,
    /// Its capacity.
    pub probe: Arc<dyn HostProbe>,
    /// What keeps the lab's VM volumes there (a remote libvirt's pool); `None`: nothing
    /// beyond the workloads themselves.
    pub storage: Option<Arc<dyn LabStorage>>,
}

impl HostBackends {
    /// A host with no backends yet.
    pub fn new(name: impl Into<String>, probe: Arc<dyn HostProbe>) -> Self {
        HostBackends {
            name: name.into(),
            containers: None,
            vms: None,
            network: None,
            probe,
            storage: None,
        }
    }
    /// What keeps the lab's VM volumes on this host.
    pub fn storage(mut self, storage: Arc<dyn LabStorage>) -> Self {
        self.storage = Some(storage);
        self
    }
    /// Its container runtime.
    pub fn containers(mut self, rt: Arc<dyn Runtime>) -> Self {
        self.containers = Some(rt);
        self
    }
    /// Its VM runtime.
    pub fn vms(mut self, rt: Arc<dyn Runtime>) -> Self {
        self.vms = Some(rt);
        self
    }
    /// Its network runtime.
    pub fn network(mut self, rt: Arc<dyn NetworkRuntime>) -> Self {
        self.network = Some(rt);
        self
    }

    fn runtime(&self, kind: WorkloadKind) -> Option<&Arc<dyn Runtime>> {
        match kind {
            WorkloadKind::Container => self.containers.as_ref(),
            WorkloadKind::Vm => self.vms.as_ref(),
        }
    }
}

/// What joins the hosts' copies of the lab network into one L2 segment (hub-mesh's VXLAN in a
/// WireGuard mesh by default).
#[async_trait]
pub trait LabSegment: Send + Sync {
    /// The MTU the lab network gets on every host (the underlay's less the segment's headers).
    fn lab_mtu(&self) -> u16;
    /// Makes the segment of the lab network `subnet` over `bridges` (each host's name and its
    /// lab bridge, the primary first), or brings it in line; idempotent. On failure nothing of
    /// it is left; the error names the host.
    async fn ensure(
        &self,
        lab: &str,
        subnet: ipnet::Ipv4Net,
        bridges: &[(String, String)],
    ) -> RuntimeResult<()>;
    /// Removes the segment from `hosts`, found by its marks (after a crash too); nothing there
    /// is no error.
    async fn remove(&self, lab: &str, hosts: &[String]) -> RuntimeResult<()>;
}

/// What a host keeps of a lab's VMs besides their domains: on a remote libvirt, the lab's
/// storage pool (overlays, seeds, console logs), which `down` removes by its name.
#[async_trait]
pub trait LabStorage: Send + Sync {
    /// Removes everything of `lab`'s there, found by its name (after a crash too); `true` when
    /// there was something.
    async fn remove(&self, lab: &str) -> RuntimeResult<bool>;
}

/// A host the hub could not reach: its name and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    /// The host.
    pub host: String,
    /// Why (the endpoint and the cause).
    pub reason: String,
}

/// The hosts of a lab, the primary first, and where each workload runs.
pub struct HostSet {
    hosts: Vec<HostBackends>,
    /// Hosts of the spec or the lab's record the hub could not connect to.
    unreachable: Vec<Unreachable>,
    /// The names of the spec's hosts, the primary first (a host of `hosts` not among them left
    /// the spec: only the lab's leftovers there are listed and removed).
    in_spec: Vec<String>,
    /// Where each workload runs, by kind and name: set when it is created there, and by every
    /// listing.
    located: Mutex<BTreeMap<(WorkloadKind, String), String>>,
    /// Where placement puts each workload: its creation goes there (it may still run
    /// elsewhere until the old one is removed).
    placed: Mutex<BTreeMap<(WorkloadKind, String), String>>,
    /// Each host's copy of the lab network, once ensured.
    networks: Mutex<BTreeMap<String, NetworkInfo>>,
    /// What joins the hosts' networks into one segment (`None`: they stay apart).
    segment: Option<Arc<dyn LabSegment>>,
}

impl std::fmt::Debug for HostSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostSet")
            .field(
                "hosts",
                &self.hosts.iter().map(|h| &h.name).collect::<Vec<_>>(),
            )
            .field("unreachable", &self.unreachable)
            .finish_non_exhaustive()
    }
}

impl HostSet {
    /// The hosts (the primary first) and those that could not be reached; `in_spec` names the
    /// hosts of the spec (a host not in it left the spec).
    pub fn new(
        hosts: Vec<HostBackends>,
        unreachable: Vec<Unreachable>,
        in_spec: Vec<String>,
    ) -> Self {
        HostSet {
            hosts,
            unreachable,
            in_spec,
            located: Mutex::new(BTreeMap::new()),
            placed: Mutex::new(BTreeMap::new()),
            networks: Mutex::new(BTreeMap::new()),
            segment: None,
        }
    }

    /// Joins the hosts' copies of the lab network with `segment` whenever the spec has more
    /// than one host.
    pub fn with_segment(mut self, segment: Arc<dyn LabSegment>) -> Self {
        self.segment = Some(segment);
        self
    }

    /// Whether a segment is set (it is used only with more than one host).
    pub fn has_segment(&self) -> bool {
        self.segment.is_some()
    }

    /// The MTU of the segment over the spec's hosts (`None`: the lab is on one host and keeps
    /// Ethernet's 1500).
    pub fn segment_mtu(&self) -> Option<u16> {
        self.segment
            .as_ref()
            .filter(|_| self.in_spec.len() > 1)
            .map(|s| s.lab_mtu())
    }

    /// The segment that joins the hosts, when the lab has one (more than one host known).
    fn segment(&self) -> Option<&Arc<dyn LabSegment>> {
        self.segment
            .as_ref()
            .filter(|_| self.in_spec.len() > 1 || self.hosts.len() > 1)
    }

    /// The hosts reached, the primary first.
    pub fn hosts(&self) -> &[HostBackends] {
        &self.hosts
    }

    /// The hosts that could not be reached.
    pub fn unreachable(&self) -> &[Unreachable] {
        &self.unreachable
    }

    /// Whether `host` is in the spec.
    pub fn in_spec(&self, host: &str) -> bool {
        self.in_spec.iter().any(|h| h == host)
    }

    /// The host by name.
    pub fn host(&self, name: &str) -> Option<&HostBackends> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The primary's name.
    pub fn primary(&self) -> Option<&str> {
        self.in_spec.first().map(String::as_str)
    }

    /// netd's plan with each reservation of a VM placed on another host than the primary
    /// routed through that host's own gateway ([`routed::host_gateway`]): its traffic off the
    /// segment leaves through its own host, not across the mesh. A VM on the primary keeps the
    /// segment's router, and so does every VM of a lab whose spec names a `gateway:`
    /// workload (`plan.gateway` is then not the bridge).
    pub fn route_reservations(
        &self,
        mut plan: crate::desired::NetdPlan,
        network: &hub_runtime::NetworkSpec,
    ) -> crate::desired::NetdPlan {
        if plan.gateway != network.gateway {
            return plan;
        }
        for r in &mut plan.reservations {
            if !r.router.is_segment() {
                continue;
            }
            let index = self
                .creation_host(WorkloadKind::Vm, &r.hostname)
                .and_then(|h| self.in_spec.iter().position(|n| *n == h));
            if let Some(index @ 1..) = index {
                r.router = hub_net::netd::ClientRouter::Via(routed::host_gateway(network, index));
            }
        }
        plan
    }

    /// The host workload `name` of `kind` runs on (or is placed on), when known.
    pub fn host_of(&self, kind: WorkloadKind, name: &str) -> Option<String> {
        self.located
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(kind, name.to_string()))
            .cloned()
    }

    /// Records that workload `name` of `kind` runs on (or goes to) `host`.
    pub fn locate(&self, kind: WorkloadKind, name: &str, host: &str) {
        self.located
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((kind, name.to_string()), host.to_string());
    }

    /// Records that workload `name` of `kind` is to be created on `host`.
    pub fn place_on(&self, kind: WorkloadKind, name: &str, host: &str) {
        self.placed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((kind, name.to_string()), host.to_string());
    }

    /// Where workload `name` of `kind` is to be created: its placement, else where it runs.
    pub fn creation_host(&self, kind: WorkloadKind, name: &str) -> Option<String> {
        let placed = self
            .placed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(kind, name.to_string()))
            .cloned();
        placed.or_else(|| self.host_of(kind, name))
    }

    /// Every workload's host, by name.
    pub fn placements(&self) -> BTreeMap<String, String> {
        self.located
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|((_, n), h)| (n.clone(), h.clone()))
            .collect()
    }

    fn network_of(&self, host: &str) -> Option<NetworkInfo> {
        self.networks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
            .cloned()
    }

    fn set_network(&self, host: &str, info: NetworkInfo) {
        self.networks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(host.to_string(), info);
    }

    /// Removes the lab's VM storage from every host that keeps some (a remote libvirt's pool;
    /// the lab's VMs must be gone): the hosts where there was some, and the errors, each
    /// naming its host.
    pub(crate) async fn remove_storage(&self, lab: &str) -> (Vec<String>, Vec<StepError>) {
        let removals = self.hosts.iter().filter_map(|h| {
            let storage = h.storage.as_ref()?;
            Some(async move { (h.name.clone(), storage.remove(lab).await) })
        });
        let mut removed = Vec::new();
        let mut errors = Vec::new();
        for (host, r) in futures::future::join_all(removals).await {
            match r {
                Ok(true) => removed.push(host),
                Ok(false) => {}
                Err(e) => errors.push(StepError::new(
                    format!("VM storage on host {host:?}"),
                    routed::on_host(lab, &host, e),
                )),
            }
        }
        (removed, errors)
    }

    /// Removes the lab's network, volumes and VM storage from the hosts that left the spec
    /// (their workloads must be gone); the names of those hosts.
    pub(crate) async fn clear_departed(&self, lab: &str) -> Result<Vec<String>, StepError> {
        let mut out = Vec::new();
        for h in self.hosts.iter().filter(|h| !self.in_spec(&h.name)) {
            let fail = |e| StepError::new(format!("host {:?}", h.name), e);
            let storage = match &h.storage {
                Some(s) => s.remove(lab).await.map_err(fail)?,
                None => false,
            };
            if storage {
                out.push(h.name.clone());
            }
            let Some(net) = &h.network else { continue };
            // It leaves the segment before its network goes.
            if let Some(seg) = self.segment() {
                seg.remove(lab, std::slice::from_ref(&h.name))
                    .await
                    .map_err(fail)?;
            }
            let network = net.remove_network(lab).await.map_err(fail)?;
            let volumes = net.remove_volumes(lab).await.map_err(fail)?;
            if (network || !volumes.is_empty()) && !storage {
                out.push(h.name.clone());
            }
        }
        Ok(out)
    }

    /// The runtimes of the lab over these hosts: containers, VMs and the network routed to
    /// each workload's host; netd and the VPN gateway (the primary's) as given.
    pub fn runtimes(self: &Arc<Self>, services: &Runtimes) -> Runtimes {
        let any = |kind| self.hosts.iter().any(|h| h.runtime(kind).is_some());
        // Every host of the spec runs Docker: with none of them reached, containers still go
        // through the routed runtime, and placement says which hosts could not be reached.
        let containers = any(WorkloadKind::Container) || !self.unreachable.is_empty();
        Runtimes {
            containers: containers.then(|| {
                Arc::new(routed::RoutedRuntime::new(
                    self.clone(),
                    WorkloadKind::Container,
                )) as Arc<dyn Runtime>
            }),
            vms: any(WorkloadKind::Vm).then(|| {
                Arc::new(routed::RoutedRuntime::new(self.clone(), WorkloadKind::Vm))
                    as Arc<dyn Runtime>
            }),
            network: Some(Arc::new(routed::RoutedNetwork::new(self.clone()))),
            netd: services.netd.clone(),
            vpn: services.vpn.clone(),
            hosts: Some(self.clone()),
        }
    }
}
