//! In-memory stand-ins for netd and the VPN gateway, beside hub-runtime's
//! [`FakeRuntime`](hub_runtime::FakeRuntime), for tests of the logic above the backends.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use hub_runtime::LabContext;

use crate::desired::{NetdPlan, VpnPlan};
use crate::error::BoxError;
use crate::services::{NetdOutcome, NetdService, VpnInfo, VpnPeerInfo, VpnService};

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
    vpn: BTreeSet<String>,
    failures: BTreeSet<FakeServiceOp>,
    calls: Vec<String>,
}

/// Fake netd and VPN gateway in one; cloning shares the state.
#[derive(Debug, Clone, Default)]
pub struct FakeServices {
    inner: Arc<Mutex<Inner>>,
}

impl FakeServices {
    /// Empty services.
    pub fn new() -> Self {
        Self::default()
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
        self.lock().vpn.contains(lab)
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
        let created = self
            .enter(FakeServiceOp::VpnUp, &lab.name)?
            .vpn
            .insert(lab.name.clone());
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
            interface: format!("wg-{}", lab.name),
            created,
            peers,
        })
    }

    async fn down(&self, lab: &str) -> Result<bool, BoxError> {
        let mut g = self.enter(FakeServiceOp::VpnDown, lab)?;
        Ok(g.vpn.remove(lab))
    }
}
