//! [`Hub`] and its builder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hub_net::{AddressPlan, IpAllocator};
use hub_runtime::{NetworkRuntime, Runtime};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::desired::DesiredLab;
use crate::error::HubError;
use crate::heal::{HealPolicy, Watcher};
use crate::host_ports::{HostPorts, PortProbe};
use crate::hosts::HostBackends;
use crate::lab::Lab;
use crate::progress::{Progress, ProgressFn};
use crate::runtimes::Runtimes;
use crate::scheduler::{Epvm, MetricsSource, ProcMetrics, Scheduler};
use crate::services::{NetdService, VpnService};
use crate::spec::{
    AllocatorFactory, Check, Container, Host, HostChoices, HostSpec, LabSpec, Placement, Vm, Vpn,
};
use crate::status::LabStatus;
use crate::up::{self, DownReport, UpOptions};

/// Default number of workloads brought up at once.
pub const DEFAULT_PARALLELISM: usize = 16;

/// A lab spec with the backends and settings to run it. Build one with [`Hub::builder`] or
/// [`Hub::from_file`].
pub struct Hub {
    spec: LabSpec,
    lab: String,
    state_root: PathBuf,
    lab_dir: PathBuf,
    hub_bin: Option<PathBuf>,
    warm_cache: Option<PathBuf>,
    parallelism: usize,
    rollback_on_failure: bool,
    wait_for_lock: bool,
    progress: Option<ProgressFn>,
    cancel: CancellationToken,
    scheduler: Arc<dyn Scheduler>,
    metrics: Arc<dyn MetricsSource>,
    allocator: Arc<AllocatorFactory>,
    ports: Arc<dyn PortProbe>,
    keep_volumes: bool,
    injected: Runtimes,
    injected_hosts: Vec<HostBackends>,
    injected_segment: Option<Arc<dyn crate::hosts::LabSegment>>,
    #[cfg(feature = "wireguard")]
    key_gen: Option<Arc<dyn hub_wg::KeyGen>>,
    runtimes: OnceCell<Runtimes>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("lab", &self.lab)
            .field("lab_dir", &self.lab_dir)
            .field("parallelism", &self.parallelism)
            .field("injected", &self.injected)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Hub`]: the lab (name, network, containers, VMs, VPN), its backends (Docker and
/// libvirt by default when their features are on), and how `up` runs.
#[must_use]
pub struct HubBuilder {
    spec: LabSpec,
    state_root: Option<PathBuf>,
    hub_bin: Option<PathBuf>,
    warm_cache: Option<PathBuf>,
    warm_all: bool,
    parallelism: usize,
    rollback_on_failure: bool,
    wait_for_lock: bool,
    progress: Option<ProgressFn>,
    cancel: CancellationToken,
    scheduler: Option<Arc<dyn Scheduler>>,
    metrics: Option<Arc<dyn MetricsSource>>,
    allocator: Option<Arc<AllocatorFactory>>,
    ports: Option<Arc<dyn PortProbe>>,
    keep_volumes: bool,
    injected: Runtimes,
    injected_hosts: Vec<HostBackends>,
    injected_segment: Option<Arc<dyn crate::hosts::LabSegment>>,
    #[cfg(feature = "wireguard")]
    key_gen: Option<Arc<dyn hub_wg::KeyGen>>,
}

impl Default for HubBuilder {
    fn default() -> Self {
        HubBuilder {
            spec: LabSpec::new("", ""),
            state_root: None,
            hub_bin: None,
            warm_cache: None,
            warm_all: false,
            parallelism: DEFAULT_PARALLELISM,
            rollback_on_failure: true,
            wait_for_lock: false,
            progress: None,
            cancel: CancellationToken::new(),
            scheduler: None,
            metrics: None,
            allocator: None,
            ports: None,
            keep_volumes: false,
            injected: Runtimes::default(),
            injected_hosts: Vec::new(),
            injected_segment: None,
            #[cfg(feature = "wireguard")]
            key_gen: None,
        }
    }
}

impl HubBuilder {
    /// The lab's name (every resource carries it).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.spec.name = Some(name.into());
        self
    }
    /// The lab subnet in CIDR form (`10.77.0.0/24`).
    pub fn network(mut self, subnet: impl Into<String>) -> Self {
        self.spec.subnet = subnet.into();
        self
    }
    /// Adds a segment (a lab of several, instead of [`HubBuilder::network`]): the first added
    /// is the lab network. Containers join segments with [`Container::networks`].
    pub fn segment(mut self, segment: crate::spec::Segment) -> Self {
        self.spec.networks.push(segment);
        self
    }
    /// The lab network's name (default: the lab's name).
    pub fn network_name(mut self, name: impl Into<String>) -> Self {
        self.spec.network_name = Some(name.into());
        self
    }
    /// The lab's DNS domain (default `<lab>.lab`).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.spec.domain = Some(domain.into());
        self
    }
    /// The DHCP range for unknown clients (`FIRST-LAST`).
    pub fn dhcp_range(mut self, range: impl Into<String>) -> Self {
        self.spec.dhcp_range = Some(range.into());
        self
    }
    /// Attach to this existing network instead of creating one (never removed by the hub).
    pub fn attach_to(mut self, network: impl Into<String>) -> Self {
        self.spec.attach_to = Some(network.into());
        self
    }
    /// Adds a container.
    pub fn container(mut self, c: Container) -> Self {
        self.spec.containers.push(c);
        self
    }
    /// Adds a VM.
    pub fn vm(mut self, vm: Vm) -> Self {
        self.spec.vms.push(vm);
        self
    }
    /// Adds a host the lab may run on (the first added is the primary: netd and the VPN
    /// gateway run there). Without hosts the lab runs on this machine's engines.
    pub fn host(mut self, host: Host) -> Self {
        self.spec.hosts.push(host);
        self
    }
    /// How workloads without a `host` are placed (default [`Placement::Epvm`]).
    pub fn placement(mut self, placement: Placement) -> Self {
        self.spec.placement = Some(placement);
        self
    }

    /// Sets how the hosts are joined: the mesh's UDP port, the underlay's MTU.
    pub fn mesh(mut self, mesh: crate::spec::Mesh) -> Self {
        self.spec.mesh = Some(mesh);
        self
    }
    /// The backends of host `backends.name` (tests: a [`hub_runtime::FakeRuntime`] per host),
    /// instead of connecting to its endpoints.
    pub fn host_backends(mut self, backends: HostBackends) -> Self {
        self.injected_hosts.push(backends);
        self
    }
    /// What joins the hosts' copies of the lab network into one segment (tests: a recording
    /// fake), instead of hub-mesh over the hosts' engines.
    pub fn lab_segment(mut self, segment: Arc<dyn crate::hosts::LabSegment>) -> Self {
        self.injected_segment = Some(segment);
        self
    }
    /// Adds the WireGuard gateway.
    pub fn vpn(mut self, vpn: Vpn) -> Self {
        self.spec.wireguard = Some(vpn);
        self
    }
    /// Adds a check that [`Lab::check`] proves besides the built-in ones.
    pub fn check(mut self, check: Check) -> Self {
        self.spec.checks.push(check);
        self
    }
    /// Replaces the whole lab spec (as loaded from a file, say).
    pub fn spec(mut self, spec: LabSpec) -> Self {
        self.spec = spec;
        self
    }
    /// The runtime for containers.
    pub fn container_runtime(mut self, rt: Arc<dyn Runtime>) -> Self {
        self.injected.containers = Some(rt);
        self
    }
    /// The runtime for VMs.
    pub fn vm_runtime(mut self, rt: Arc<dyn Runtime>) -> Self {
        self.injected.vms = Some(rt);
        self
    }
    /// The runtime that makes the lab network.
    pub fn network_runtime(mut self, rt: Arc<dyn NetworkRuntime>) -> Self {
        self.injected.network = Some(rt);
        self
    }
    /// The netd service.
    pub fn netd(mut self, netd: Arc<dyn NetdService>) -> Self {
        self.injected.netd = Some(netd);
        self
    }
    /// The VPN gateway service.
    pub fn vpn_gateway(mut self, vpn: Arc<dyn VpnService>) -> Self {
        self.injected.vpn = Some(vpn);
        self
    }
    /// The key generator of the WireGuard gateway (a seeded one makes keys reproducible).
    #[cfg(feature = "wireguard")]
    pub fn key_gen(mut self, key_gen: Arc<dyn hub_wg::KeyGen>) -> Self {
        self.key_gen = Some(key_gen);
        self
    }
    /// The scheduler used for admission control (default [`Epvm`]).
    pub fn scheduler(mut self, s: Arc<dyn Scheduler>) -> Self {
        self.scheduler = Some(s);
        self
    }
    /// Where host metrics come from (default [`ProcMetrics`]).
    pub fn metrics(mut self, m: Arc<dyn MetricsSource>) -> Self {
        self.metrics = Some(m);
        self
    }
    /// Where the workloads' automatic addresses come from: `f` makes an allocator for the
    /// lab's address plan each time the spec is resolved (default
    /// [`default_allocator`](crate::spec::default_allocator), a lowest-free pool).
    pub fn ip_allocator(
        mut self,
        f: impl Fn(&AddressPlan) -> Box<dyn IpAllocator> + Send + Sync + 'static,
    ) -> Self {
        self.allocator = Some(Arc::new(f));
        self
    }
    /// Asks `probe` who holds a host port (default: [`HostPorts`], the host itself), when
    /// `up` checks the ports the lab publishes and chooses its VPN port.
    pub fn port_probe(mut self, probe: Arc<dyn PortProbe>) -> Self {
        self.ports = Some(probe);
        self
    }
    /// `down` (and dropping the lab) leaves the lab's named volumes and their data in place
    /// (default: they are removed with the lab).
    pub fn keep_volumes(mut self, on: bool) -> Self {
        self.keep_volumes = on;
        self
    }
    /// The state root: the lab directory is `<root>/<lab>` (default `/var/lib/hub` for root,
    /// else `$XDG_STATE_HOME/hub`).
    pub fn state_dir(mut self, root: impl Into<PathBuf>) -> Self {
        self.state_root = Some(root.into());
        self
    }
    /// The `hub` executable netd's image is built from (default: `HUB_BIN`, then the running
    /// executable when it is `hub`, then `hub` on PATH).
    pub fn hub_bin(mut self, path: impl Into<PathBuf>) -> Self {
        self.hub_bin = Some(path.into());
        self
    }
    /// Starts every VM of the lab from a warm snapshot when one is cached, and saves one after
    /// a cold boot (as `warm: true` on each VM; `hub up --warm`).
    pub fn warm(mut self, on: bool) -> Self {
        self.warm_all = on;
        self
    }
    /// Where warm VM snapshots are cached (default `HUB_WARM_CACHE`, else
    /// `/var/cache/hub/warm` for root).
    pub fn warm_cache(mut self, dir: impl Into<PathBuf>) -> Self {
        self.warm_cache = Some(dir.into());
        self
    }
    /// How many workloads are brought up at once (default 16).
    pub fn parallelism(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
        self
    }
    /// Whether a failed `up` removes what it created (default true).
    pub fn rollback_on_failure(mut self, on: bool) -> Self {
        self.rollback_on_failure = on;
        self
    }
    /// Wait for the lab lock when another process holds it, instead of failing (default
    /// false).
    pub fn wait_for_lock(mut self, on: bool) -> Self {
        self.wait_for_lock = on;
        self
    }
    /// Calls `f` with each progress event.
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }
    /// A token that cancels `up` (Ctrl-C): the work in flight stops and is rolled back.
    pub fn cancel_token(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// The hub, without bringing anything up (for `down`, `status`, `attach`).
    pub fn build(mut self) -> Result<Hub, HubError> {
        if self.warm_all {
            for vm in &mut self.spec.vms {
                vm.warm = true;
            }
        }
        let lab = self
            .spec
            .lab_name()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| HubError::Invalid {
                what: "the lab".into(),
                reason: "has no name; set `name` (or `network_name`) in the spec or call .name()"
                    .into(),
            })?
            .to_string();
        let state_root = self.state_root.unwrap_or_else(default_state_root);
        let lab_dir = state_root.join(&lab);
        Ok(Hub {
            spec: self.spec,
            lab,
            state_root,
            lab_dir,
            hub_bin: self.hub_bin,
            warm_cache: self.warm_cache,
            parallelism: self.parallelism,
            rollback_on_failure: self.rollback_on_failure,
            wait_for_lock: self.wait_for_lock,
            progress: self.progress,
            cancel: self.cancel,
            scheduler: self.scheduler.unwrap_or_else(|| Arc::new(Epvm)),
            metrics: self.metrics.unwrap_or_else(|| Arc::new(ProcMetrics::new())),
            allocator: self
                .allocator
                .unwrap_or_else(|| Arc::new(crate::spec::default_allocator)),
            ports: self.ports.unwrap_or_else(|| Arc::new(HostPorts)),
            keep_volumes: self.keep_volumes,
            injected: self.injected,
            injected_hosts: self.injected_hosts,
            injected_segment: self.injected_segment,
            #[cfg(feature = "wireguard")]
            key_gen: self.key_gen,
            runtimes: OnceCell::new(),
        })
    }

    /// Builds the hub and brings the lab up; returns when every workload is ready.
    pub async fn up(self) -> Result<Lab, HubError> {
        Arc::new(self.build()?).up().await
    }
}

/// `/var/lib/hub` for root, else `$XDG_STATE_HOME/hub` (or `~/.local/state/hub`).
pub fn default_state_root() -> PathBuf {
    if hub_runtime::running_as_root() {
        return PathBuf::from("/var/lib/hub");
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("hub");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/state/hub"),
        None => std::env::temp_dir().join("hub-state"),
    }
}

impl Hub {
    /// A builder with an empty lab.
    pub fn builder() -> HubBuilder {
        HubBuilder::default()
    }

    /// A builder holding the lab spec of a YAML file (relative paths in it are relative to
    /// its folder).
    pub fn from_file(path: impl AsRef<Path>) -> Result<HubBuilder, HubError> {
        let spec = LabSpec::from_file(path.as_ref())?;
        Ok(Hub::builder().spec(spec))
    }

    /// The lab's name.
    pub fn lab_name(&self) -> &str {
        &self.lab
    }

    /// The lab spec.
    pub fn lab_spec(&self) -> &LabSpec {
        &self.spec
    }

    /// The state root (lab directories are `<root>/<lab>`).
    pub fn state_root_path(&self) -> &Path {
        &self.state_root
    }

    /// The lab directory, `<state root>/<lab>`.
    pub fn lab_dir_path(&self) -> &Path {
        &self.lab_dir
    }

    /// The backends, made on first use (the injected ones, the defaults of the enabled
    /// features for the rest).
    /// The token that cancels this hub's work (`up`, `check`).
    pub(crate) fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    pub(crate) async fn runtimes(&self) -> Result<&Runtimes, HubError> {
        self.runtimes.get_or_try_init(|| self.make_runtimes()).await
    }

    async fn make_runtimes(&self) -> Result<Runtimes, HubError> {
        let (hosts, in_spec) = self.hosts()?;
        if hosts.is_empty() {
            return crate::backends::fill_defaults(&self.lab, self.injected.clone(), &self.cfg())
                .await;
        }
        self.host_runtimes(&hosts, in_spec).await
    }

    fn cfg(&self) -> crate::backends::DefaultsConfig {
        crate::backends::DefaultsConfig {
            hub_bin: self.hub_bin.clone(),
            warm_cache: self.warm_cache.clone(),
            state_root: self.state_root.clone(),
            progress: self.progress.clone(),
            #[cfg(feature = "wireguard")]
            key_gen: self.key_gen.clone(),
        }
    }

    async fn host_runtimes(
        &self,
        hosts: &[HostSpec],
        in_spec: Vec<String>,
    ) -> Result<Runtimes, HubError> {
        crate::backends::fill_hosts(
            &self.lab,
            hosts,
            in_spec,
            &self.injected_hosts,
            self.segment_settings(),
            self.injected.clone(),
            &self.cfg(),
        )
        .await
    }

    /// The segment over the hosts: the injected one, else the spec's `mesh:` with the VPN's
    /// subnet routed to its gateway's container.
    fn segment_settings(&self) -> crate::backends::SegmentSettings {
        let mesh = self.spec.mesh.clone().unwrap_or_default();
        let vpn = self
            .spec
            .wireguard
            .as_ref()
            .filter(|v| v.enabled)
            .and_then(|v| v.subnet.parse::<ipnet::Ipv4Net>().ok());
        crate::backends::SegmentSettings {
            injected: self.injected_segment.clone(),
            port: mesh.port,
            underlay_mtu: mesh.underlay_mtu,
            vpn_subnets: vpn.into_iter().collect(),
        }
    }

    /// The backends of lab `lab` of this state root when its records name hosts (`hub ls`
    /// looks into a lab over several hosts with them); `None` for a lab of this machine.
    pub(crate) async fn runtimes_of_recorded(
        &self,
        lab: &str,
    ) -> Result<Option<Runtimes>, HubError> {
        let hosts = crate::hosts::load_hosts(lab, &self.state_root.join(lab))?;
        if hosts.is_empty() {
            return Ok(None);
        }
        let in_spec = hosts.iter().map(|h| h.name.clone()).collect();
        self.host_runtimes(&hosts, in_spec).await.map(Some)
    }

    /// The hosts to reach: the spec's, then those the lab's records name that left it; and the
    /// names of the spec's (the recorded ones when the spec has none: a `down` by name).
    fn hosts(&self) -> Result<(Vec<HostSpec>, Vec<String>), HubError> {
        let mut hosts: Vec<HostSpec> = self
            .spec
            .hosts
            .iter()
            .filter_map(|h| HostSpec::from_host(h, |p| self.spec.resolve_path(p)).ok())
            .collect();
        let mut recorded = crate::hosts::load_hosts(&self.lab, &self.lab_dir)?;
        if let Ok(Some(state)) = up::state::LabState::load(&self.lab, &self.lab_dir) {
            recorded.extend(state.hosts);
        }
        let spec_has_hosts = !hosts.is_empty();
        for r in recorded {
            if !hosts.iter().any(|h| h.name == r.name) {
                hosts.push(r);
            }
        }
        let in_spec = if spec_has_hosts {
            self.spec.hosts.iter().map(|h| h.name.clone()).collect()
        } else {
            hosts.iter().map(|h| h.name.clone()).collect()
        };
        Ok((hosts, in_spec))
    }

    pub(crate) fn options(&self) -> UpOptions {
        UpOptions {
            lab_dir: self.lab_dir.clone(),
            state_root: self.state_root.clone(),
            parallelism: self.parallelism,
            rollback_on_failure: self.rollback_on_failure,
            wait_for_lock: self.wait_for_lock,
            progress: self.progress.clone(),
            cancel: self.cancel.clone(),
            scheduler: self.scheduler.clone(),
            metrics: self.metrics.clone(),
            keep_volumes: self.keep_volumes,
        }
    }

    /// Brings the lab up (or in line with the spec) and returns its handle. Dropping the
    /// handle removes the lab unless [`Lab::keep`] is called.
    ///
    /// Before anything starts, the spec is checked against the host: a host port a container
    /// publishes, or the VPN port the spec gives, that something else holds is a spec error
    /// naming the holder; a lab without a VPN port gets the one it kept, else the first free
    /// one from 51820, and keeps it.
    pub async fn up(self: Arc<Self>) -> Result<Lab, HubError> {
        let (desired, choices) = self.desired().await?;
        let runtimes = self.runtimes().await?;
        let (state, report) = up::up(&desired, runtimes, &self.options()).await?;
        if let Some(port) = choices.vpn_port.filter(|_| choices.vpn_port_chosen) {
            if let Err(e) = up::vpn_port::keep(&self.lab_dir, port) {
                tracing::warn!(port, error = %e, "could not keep the lab's VPN port for the next up");
            }
        }
        Ok(Lab::new(self.clone(), state, report, false))
    }

    /// The lab as `up` would bring it: the spec resolved and checked against the host (its
    /// ports), with the VPN port chosen.
    pub(crate) async fn desired(&self) -> Result<(DesiredLab, HostChoices), HubError> {
        let resolved = self.spec.resolve_with(&*self.allocator)?;
        let runtimes = self.runtimes().await?;
        let interface_of = |lab: &str| runtimes.vpn.as_ref()?.interface_name(lab);
        let host = up::vpn_port::host_view(
            &*self.ports,
            &interface_of,
            &self.state_root,
            &self.lab,
            &self.lab_dir,
        );
        let choices = self.spec.check_host(&resolved, &host)?;
        let mut desired = crate::convert::from_resolved(&resolved);
        if let (Some(vpn), Some(port)) = (desired.vpn.as_mut(), choices.vpn_port) {
            vpn.listen_port = port;
        }
        Ok((desired, choices))
    }

    /// A reconciler for this lab, which keeps it as planned by each workload's restart policy
    /// (see [`crate::heal`]); nothing runs until [`Watcher::run`].
    pub fn watcher(self: Arc<Self>, policy: HealPolicy) -> Watcher {
        Watcher::new(self, policy)
    }

    /// Removes the lab, finding everything by its marks (works without the lab directory).
    /// The lab's identity (its SSH and WireGuard keys, in `<lab dir>/identity`) is kept, so the
    /// next `up` of the same spec hands out the same keys; [`Hub::purge`] removes it too.
    pub async fn down(&self) -> Result<DownReport, HubError> {
        let runtimes = self.runtimes().await?;
        up::down(&self.lab, runtimes, &self.options(), false).await
    }

    /// [`Hub::down`], and the lab's identity with it: the next `up` makes new keys.
    pub async fn purge(&self) -> Result<DownReport, HubError> {
        let runtimes = self.runtimes().await?;
        up::down(&self.lab, runtimes, &self.options(), true).await
    }

    /// `down` with backends made anew (for a `Lab` dropped on a current-thread runtime,
    /// whose connections belong to the blocked runtime).
    pub(crate) async fn down_with_fresh_runtimes(&self) -> Result<DownReport, HubError> {
        let runtimes = self.make_runtimes().await?;
        up::down(&self.lab, &runtimes, &self.options(), false).await
    }

    /// What runs of the lab now, found by its marks, with the state file's VPN details.
    pub async fn status(&self) -> Result<LabStatus, HubError> {
        let runtimes = self.runtimes().await?;
        crate::status::status(&self.lab, &self.lab_dir, runtimes).await
    }

    /// A handle on a lab that is already up (kept on drop), from its state file.
    pub async fn attach(self: Arc<Self>) -> Result<Lab, HubError> {
        let state = up::state::LabState::load(&self.lab, &self.lab_dir)?.ok_or_else(|| {
            HubError::Invalid {
                what: format!("lab {:?}", self.lab),
                reason: format!(
                    "is not up (no state file in {}); run `hub up` first",
                    self.lab_dir.display()
                ),
            }
        })?;
        Ok(Lab::new(self.clone(), state, up::UpReport::default(), true))
    }
}
