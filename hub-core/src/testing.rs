//! The test seam: labs on fakes, for tests of the hub and of code built on it.
//!
//! [`TestHub`] wires a [`HubBuilder`] to one [`FakeRuntime`] (containers, VMs and the lab
//! network), the [`FakeServices`] (netd and the VPN gateway), a host with plenty of room
//! ([`roomy_host`]), a seeded key generator and a temporary state root, so a test needs two
//! lines:
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let fakes = hub_core::testing::TestHub::new();
//! let lab = fakes.builder().name("t").network("10.9.0.0/24")
//!     .container(hub_core::Container::new("web", "busybox")).up().await.unwrap();
//! assert_eq!(fakes.runtime.workload_names("t"), ["web"]);
//! # lab.down().await.unwrap();
//! # });
//! ```
//!
//! With feature `mock`, every injectable trait also has a mockall mock: `runtime::MockRuntime`,
//! `runtime::MockNetworkRuntime`, `services::MockNetdService`, `services::MockVpnService`,
//! `scheduler::MockScheduler`, `scheduler::MockMetricsSource`, and `wg::MockKeyGen` (with
//! `wireguard`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use hub_runtime::{FakeRuntime, LabContext, Protocol};

use crate::desired::{NetdPlan, VpnPlan};
use crate::error::BoxError;
use crate::host_ports::{PortHolder, PortProbe};
use crate::hub::{Hub, HubBuilder};
use crate::scheduler::{Node, NodeMetrics, StaticMetrics};
use crate::services::{NetdOutcome, NetdService, VpnInfo, VpnPeerInfo, VpnService};

/// The seed of [`TestHub`]'s key generator: the same lab gets the same WireGuard keys.
pub const KEY_SEED: u64 = 0x6875_6221;

/// One host with plenty of room (64 CPUs, 256 GiB, 200 GiB free, load 0.5): admission
/// control never refuses a test lab on it.
pub fn roomy_host() -> Arc<StaticMetrics> {
    Arc::new(StaticMetrics(vec![Node {
        name: "localhost".into(),
        metrics: Ok(NodeMetrics {
            cpus: 64,
            memory_total_mb: 256 * 1024,
            memory_available_mb: 200 * 1024,
            load1: 0.5,
        }),
    }]))
}

/// Fakes for every backend and a private state root, removed when this is dropped (keep it
/// alive as long as the labs it made).
#[derive(Debug)]
pub struct TestHub {
    /// The backend of containers, VMs and the lab network.
    pub runtime: FakeRuntime,
    /// netd and the VPN gateway.
    pub services: FakeServices,
    /// The host's ports, as the fake VPN gateway and the test hold them.
    pub ports: FakePorts,
    root: tempfile::TempDir,
}

impl TestHub {
    /// Fresh fakes and a new temporary state root.
    ///
    /// # Panics
    /// When no temporary directory can be made.
    pub fn new() -> Self {
        let ports = FakePorts::new();
        TestHub {
            runtime: FakeRuntime::new(),
            services: FakeServices::with_ports(ports.clone()),
            ports,
            root: tempfile::Builder::new()
                .prefix("hub-test-")
                .tempdir()
                .expect("a temporary state root"),
        }
    }

    /// A builder on the fakes: name, network and workloads are the caller's.
    pub fn builder(&self) -> HubBuilder {
        let b = Hub::builder()
            .container_runtime(Arc::new(self.runtime.clone()))
            .vm_runtime(Arc::new(self.runtime.clone()))
            .network_runtime(Arc::new(self.runtime.clone()))
            .netd(Arc::new(self.services.clone()))
            .vpn_gateway(Arc::new(self.services.clone()))
            .metrics(roomy_host())
            .port_probe(Arc::new(self.ports.clone()))
            .state_dir(self.root.path());
        #[cfg(feature = "wireguard")]
        let b = b.key_gen(Arc::new(hub_wg::SeededKeyGen::new(KEY_SEED)));
        b
    }

    /// The state root: lab `L` lives in `state_root()/L`.
    pub fn state_root(&self) -> &Path {
        self.root.path()
    }

    /// The directory of lab `lab`.
    pub fn lab_dir(&self, lab: &str) -> PathBuf {
        self.root.path().join(lab)
    }
}

impl Default for TestHub {
    fn default() -> Self {
        Self::new()
    }
}

/// An operation of the fake services, to inject a failure into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FakeServiceOp {
    /// [`NetdService::ensure`].
    NetdEnsure,
    /// [`NetdService::remove`].
    NetdRemove,
    /// [`VpnService::up`].
    VpnUp,
    /// [`VpnService::down`].
    VpnDown,
}

#[derive(Debug, Default)]
struct Inner {
    netd: BTreeMap<String, NetdPlan>,
    vpn: BTreeMap<String, u16>,
    failures: BTreeSet<FakeServiceOp>,
    calls: Vec<String>,
}

/// Fake netd and VPN gateway in one; cloning shares the state.
#[derive(Debug, Clone, Default)]
pub struct FakeServices {
    inner: Arc<Mutex<Inner>>,
    ports: FakePorts,
}

impl FakeServices {
    /// Empty services.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empty services whose VPN gateways hold their UDP port in `ports` while they run.
    pub fn with_ports(ports: FakePorts) -> Self {
        FakeServices {
            inner: Arc::default(),
            ports,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `op` fail until [`FakeServices::clear_failures`].
    pub fn fail(&self, op: FakeServiceOp) {
        self.lock().failures.insert(op);
    }

    /// Clears every injected failure.
    pub fn clear_failures(&self) {
        self.lock().failures.clear();
    }

    /// The netd configuration of a lab, if its netd runs.
    pub fn netd(&self, lab: &str) -> Option<NetdPlan> {
        self.lock().netd.get(lab).cloned()
    }

    /// Whether the lab's VPN gateway runs.
    pub fn vpn_up(&self, lab: &str) -> bool {
        self.lock().vpn.contains_key(lab)
    }

    /// The UDP port the lab's VPN gateway listens on, while it runs.
    pub fn vpn_port(&self, lab: &str) -> Option<u16> {
        self.lock().vpn.get(lab).copied()
    }

    /// Makes the lab's netd and VPN gateway vanish as if removed by hand (`docker rm -f`,
    /// `ip link del`), without a call the hub would make: for tests of the reconciler.
    pub fn lose(&self, netd: bool, vpn: bool) {
        let mut g = self.lock();
        if netd {
            g.netd.clear();
        }
        if vpn {
            let ports: Vec<u16> = std::mem::take(&mut g.vpn).into_values().collect();
            drop(g);
            for p in ports {
                self.ports.free(Protocol::Udp, p);
            }
        }
    }

    /// Every call so far (`NetdEnsure lab`).
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    fn enter(&self, op: FakeServiceOp, lab: &str) -> Result<MutexGuard<'_, Inner>, BoxError> {
        let mut g = self.lock();
        g.calls.push(format!("{op:?} {lab}"));
        if g.failures.contains(&op) {
            return Err(format!("injected failure: {op:?} for lab {lab:?}").into());
        }
        Ok(g)
    }
}

#[async_trait]
impl NetdService for FakeServices {
    async fn ensure(&self, lab: &LabContext, plan: &NetdPlan) -> Result<NetdOutcome, BoxError> {
        let mut g = self.enter(FakeServiceOp::NetdEnsure, &lab.name)?;
        Ok(match g.netd.insert(lab.name.clone(), plan.clone()) {
            None => NetdOutcome::Created,
            Some(old) if old == *plan => NetdOutcome::Unchanged,
            Some(_) => NetdOutcome::Updated,
        })
    }

    async fn exists(&self, lab: &str) -> Result<bool, BoxError> {
        Ok(self.lock().netd.contains_key(lab))
    }

    async fn remove(&self, lab: &str) -> Result<bool, BoxError> {
        let mut g = self.enter(FakeServiceOp::NetdRemove, lab)?;
        Ok(g.netd.remove(lab).is_some())
    }
}

#[async_trait]
impl VpnService for FakeServices {
    async fn up(&self, lab: &LabContext, plan: &VpnPlan) -> Result<VpnInfo, BoxError> {
        let interface = fake_interface(&lab.name);
        let old = self
            .enter(FakeServiceOp::VpnUp, &lab.name)?
            .vpn
            .insert(lab.name.clone(), plan.listen_port);
        let created = old.is_none();
        if let Some(old) = old {
            self.ports.free(Protocol::Udp, old);
        }
        self.ports.take(
            Protocol::Udp,
            plan.listen_port,
            PortHolder::WireGuard {
                interface: interface.clone(),
            },
        );
        let mut peers = Vec::new();
        for p in &plan.peers {
            let config = lab.dir.join(format!("{}.conf", p.name));
            std::fs::write(&config, format!("# fake client config of {}\n", p.name))?;
            peers.push(VpnPeerInfo {
                name: p.name.clone(),
                address: p.address,
                config,
            });
        }
        Ok(VpnInfo {
            interface,
            created,
            peers,
        })
    }

    fn interface_name(&self, lab: &str) -> Option<String> {
        Some(fake_interface(lab))
    }

    async fn is_up(&self, lab: &str) -> Result<Option<bool>, BoxError> {
        Ok(Some(self.vpn_up(lab)))
    }

    async fn down(&self, lab: &str) -> Result<bool, BoxError> {
        let port = self.enter(FakeServiceOp::VpnDown, lab)?.vpn.remove(lab);
        if let Some(port) = port {
            self.ports.free(Protocol::Udp, port);
        }
        Ok(port.is_some())
    }
}

/// The fake gateway's interface: the real one's name when hub-wg is there.
fn fake_interface(lab: &str) -> String {
    #[cfg(feature = "wireguard")]
    return hub_wg::Gateway::interface_name(lab);
    #[cfg(not(feature = "wireguard"))]
    return format!("wg-{lab}");
}

/// A host's ports as a test says: every port is free but those taken with
/// [`FakePorts::take`]. Cloning shares the state.
#[derive(Debug, Clone, Default)]
pub struct FakePorts {
    taken: Arc<Mutex<BTreeMap<(Protocol, u16), PortHolder>>>,
}

impl FakePorts {
    /// A host with every port free.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<(Protocol, u16), PortHolder>> {
        self.taken.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `holder` holds `port` (on every address) from now on.
    pub fn take(&self, proto: Protocol, port: u16, holder: PortHolder) {
        self.lock().insert((proto, port), holder);
    }

    /// `port` is free again.
    pub fn free(&self, proto: Protocol, port: u16) {
        self.lock().remove(&(proto, port));
    }
}

impl PortProbe for FakePorts {
    fn holder(&self, proto: Protocol, _ip: Ipv4Addr, port: u16) -> Option<PortHolder> {
        self.lock().get(&(proto, port)).cloned()
    }
}
