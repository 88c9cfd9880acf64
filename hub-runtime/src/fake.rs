//! An in-memory runtime that records every call and can be told to fail a chosen operation.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::Role;
use crate::error::{RuntimeError, RuntimeResult};
use crate::network::{NetworkInfo, NetworkRuntime, NetworkSpec};
use crate::runtime::Runtime;
use crate::spec::{LabContext, WorkloadKind, WorkloadSpec};
use crate::status::{ExecOutput, WorkloadHandle, WorkloadState, WorkloadStatus};

/// An operation of the [`FakeRuntime`], to inject a failure into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FakeOp {
    /// [`NetworkRuntime::ensure_network`].
    EnsureNetwork,
    /// [`NetworkRuntime::remove_network`].
    RemoveNetwork,
    /// [`NetworkRuntime::remove_volumes`].
    RemoveVolumes,
    /// [`NetworkRuntime::remove_segments`].
    RemoveSegments,
    /// [`Runtime::create`].
    Create,
    /// [`Runtime::start`].
    Start,
    /// [`Runtime::wait_ready`].
    WaitReady,
    /// [`Runtime::stop`].
    Stop,
    /// [`Runtime::remove`].
    Remove,
    /// [`Runtime::exec`].
    Exec,
}

#[derive(Debug, Default)]
struct State {
    workloads: BTreeMap<(String, String), (WorkloadSpec, WorkloadState)>,
    /// The lab context each workload was created in.
    contexts: BTreeMap<(String, String), LabContext>,
    networks: BTreeMap<String, NetworkInfo>,
    /// Segment networks by lab: segment name to the network's name.
    segments: BTreeMap<String, BTreeMap<String, String>>,
    /// Named volumes by lab, made when a container mounting them is created.
    volumes: BTreeMap<String, BTreeSet<String>>,
    calls: Vec<String>,
    /// `(op, workload name or "*")` pairs that fail.
    failures: HashSet<(FakeOp, String)>,
    next_id: u64,
    /// How long `wait_ready` takes (a boot), cancellable.
    ready_delay: Duration,
    /// `wait_ready` calls in progress now, and the most seen at once.
    in_flight: usize,
    max_in_flight: usize,
}

/// An in-memory [`Runtime`] and [`NetworkRuntime`] for tests of the logic above the backends.
///
/// Cloning shares the state, so a test can keep a clone to look inside.
#[derive(Debug, Clone, Default)]
pub struct FakeRuntime {
    state: Arc<Mutex<State>>,
    kinds: Option<Vec<WorkloadKind>>,
}

impl FakeRuntime {
    /// A fake that runs every kind of workload.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fake that runs only these kinds (to stand in for one backend).
    pub fn for_kinds(kinds: &[WorkloadKind]) -> Self {
        FakeRuntime {
            state: Arc::default(),
            kinds: Some(kinds.to_vec()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in another test thread must not hide this test's result.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `op` fail for the workload `name` (`"*"` for every workload).
    pub fn fail(&self, op: FakeOp, name: &str) {
        self.lock().failures.insert((op, name.to_string()));
    }

    /// Makes every `wait_ready` take `delay` (cancellable), like a boot.
    pub fn set_ready_delay(&self, delay: Duration) {
        self.lock().ready_delay = delay;
    }

    /// The most `wait_ready` calls that were in progress at once.
    pub fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight
    }

    /// Clears every injected failure.
    pub fn clear_failures(&self) {
        self.lock().failures.clear();
    }

    /// Every call so far, as `op name` strings in order.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Names of the workloads that exist now, for `lab`.
    pub fn workload_names(&self, lab: &str) -> Vec<String> {
        self.lock()
            .workloads
            .keys()
            .filter(|(l, _)| l == lab)
            .map(|(_, n)| n.clone())
            .collect()
    }

    /// The spec the workload `name` of `lab` was created with, and the lab context it was
    /// created in, while it exists.
    pub fn created(&self, lab: &str, name: &str) -> Option<(WorkloadSpec, LabContext)> {
        let st = self.lock();
        let key = (lab.to_string(), name.to_string());
        let (spec, _) = st.workloads.get(&key)?;
        Some((spec.clone(), st.contexts.get(&key)?.clone()))
    }

    /// Whether the lab's network exists.
    pub fn has_network(&self, lab: &str) -> bool {
        self.lock().networks.contains_key(lab)
    }

    /// The named volumes of `lab` that exist.
    pub fn volume_names(&self, lab: &str) -> Vec<String> {
        self.lock()
            .volumes
            .get(lab)
            .map(|v| v.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn enter(&self, op: FakeOp, lab: &str, name: &str) -> RuntimeResult<MutexGuard<'_, State>> {
        let mut st = self.lock();
        st.calls.push(format!("{op:?} {name}"));
        if st.failures.contains(&(op, name.to_string())) || st.failures.contains(&(op, "*".into()))
        {
            return Err(RuntimeError::Injected(format!(
                "lab {lab:?}: {op:?} {name:?}"
            )));
        }
        Ok(st)
    }

    fn status(lab: &str, name: &str, spec: &WorkloadSpec, state: WorkloadState) -> WorkloadStatus {
        WorkloadStatus {
            handle: WorkloadHandle {
                lab: lab.to_string(),
                name: name.to_string(),
                kind: spec.kind(),
                id: format!("fake-{lab}-{name}"),
            },
            state,
            ip: spec.ip(),
            mac: match spec {
                WorkloadSpec::Container(c) => c.mac,
                WorkloadSpec::Vm(v) => Some(v.mac),
            },
            exit_code: None,
            spec_hash: Some(spec.spec_hash().to_string()),
            role: Some(match spec {
                WorkloadSpec::Container(c) => c.role,
                WorkloadSpec::Vm(_) => Role::Vm,
            }),
            boot: match spec {
                WorkloadSpec::Container(_) => None,
                WorkloadSpec::Vm(_) => Some("cold boot".to_string()),
            },
        }
    }

    fn missing(h: &WorkloadHandle) -> RuntimeError {
        RuntimeError::NotFound {
            lab: h.lab.clone(),
            what: "workload",
            name: h.name.clone(),
        }
    }
}

#[async_trait]
impl Runtime for FakeRuntime {
    fn backend(&self) -> &'static str {
        "fake"
    }

    fn supports(&self, kind: WorkloadKind) -> bool {
        self.kinds.as_ref().is_none_or(|k| k.contains(&kind))
    }

    async fn create(&self, lab: &LabContext, spec: &WorkloadSpec) -> RuntimeResult<WorkloadHandle> {
        let mut st = self.enter(FakeOp::Create, &lab.name, spec.name())?;
        let key = (lab.name.clone(), spec.name().to_string());
        if st.workloads.contains_key(&key) {
            return Err(RuntimeError::NameTaken {
                lab: lab.name.clone(),
                what: "workload",
                name: spec.name().to_string(),
            });
        }
        st.next_id += 1;
        if let WorkloadSpec::Container(c) = spec {
            let volumes = st.volumes.entry(lab.name.clone()).or_default();
            volumes.extend(c.volumes.iter().map(|v| v.name.clone()));
        }
        st.contexts.insert(key.clone(), lab.clone());
        st.workloads
            .insert(key, (spec.clone(), WorkloadState::Created));
        Ok(Self::status(&lab.name, spec.name(), spec, WorkloadState::Created).handle)
    }

    async fn start(&self, h: &WorkloadHandle) -> RuntimeResult<()> {
        let mut st = self.enter(FakeOp::Start, &h.lab, &h.name)?;
        let w = st
            .workloads
            .get_mut(&(h.lab.clone(), h.name.clone()))
            .ok_or_else(|| Self::missing(h))?;
        w.1 = WorkloadState::Running;
        Ok(())
    }

    async fn wait_ready(
        &self,
        lab: &LabContext,
        spec: &WorkloadSpec,
        _h: &WorkloadHandle,
        _timeout: Duration,
        cancel: CancellationToken,
    ) -> RuntimeResult<()> {
        let delay = {
            let mut st = self.enter(FakeOp::WaitReady, &lab.name, spec.name())?;
            st.in_flight += 1;
            st.max_in_flight = st.max_in_flight.max(st.in_flight);
            st.ready_delay
        };
        if !delay.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = cancel.cancelled() => {}
            }
        }
        self.lock().in_flight -= 1;
        if cancel.is_cancelled() {
            return Err(RuntimeError::Cancelled {
                lab: lab.name.clone(),
                workload: spec.name().to_string(),
            });
        }
        Ok(())
    }

    async fn stop(&self, h: &WorkloadHandle, _grace: Duration) -> RuntimeResult<()> {
        let mut st = self.enter(FakeOp::Stop, &h.lab, &h.name)?;
        if let Some(w) = st.workloads.get_mut(&(h.lab.clone(), h.name.clone())) {
            w.1 = WorkloadState::Stopped;
        }
        Ok(())
    }

    async fn remove(&self, h: &WorkloadHandle) -> RuntimeResult<()> {
        let mut st = self.enter(FakeOp::Remove, &h.lab, &h.name)?;
        st.workloads.remove(&(h.lab.clone(), h.name.clone()));
        Ok(())
    }

    async fn inspect(&self, h: &WorkloadHandle) -> RuntimeResult<WorkloadStatus> {
        let st = self.lock();
        let (spec, state) = st
            .workloads
            .get(&(h.lab.clone(), h.name.clone()))
            .ok_or_else(|| Self::missing(h))?;
        Ok(Self::status(&h.lab, &h.name, spec, *state))
    }

    async fn labs(&self) -> RuntimeResult<Vec<String>> {
        let st = self.lock();
        let labs: BTreeSet<String> = st
            .workloads
            .keys()
            .map(|(lab, _)| lab.clone())
            .chain(st.networks.keys().cloned())
            .collect();
        Ok(labs.into_iter().collect())
    }

    async fn list(&self, lab: &str) -> RuntimeResult<Vec<WorkloadStatus>> {
        let st = self.lock();
        Ok(st
            .workloads
            .iter()
            .filter(|((l, _), (spec, _))| l == lab && self.supports(spec.kind()))
            .map(|((l, n), (spec, state))| Self::status(l, n, spec, *state))
            .collect())
    }

    async fn logs(
        &self,
        _lab: &LabContext,
        h: &WorkloadHandle,
        _tail: usize,
    ) -> RuntimeResult<String> {
        let st = self.lock();
        st.workloads
            .get(&(h.lab.clone(), h.name.clone()))
            .ok_or_else(|| Self::missing(h))?;
        Ok(format!("fake log of {}\n", h.name))
    }

    async fn exec(
        &self,
        _lab: &LabContext,
        h: &WorkloadHandle,
        cmd: &[String],
    ) -> RuntimeResult<ExecOutput> {
        let st = self.enter(FakeOp::Exec, &h.lab, &h.name)?;
        st.workloads
            .get(&(h.lab.clone(), h.name.clone()))
            .ok_or_else(|| Self::missing(h))?;
        Ok(ExecOutput {
            exit_code: 0,
            stdout: cmd.join(" "),
            stderr: String::new(),
        })
    }
}

#[async_trait]
impl NetworkRuntime for FakeRuntime {
    async fn ensure_network(&self, spec: &NetworkSpec) -> RuntimeResult<NetworkInfo> {
        let mut st = self.enter(FakeOp::EnsureNetwork, &spec.lab, &spec.name)?;
        if let Some(seg) = spec.labels.get(crate::labels::SEGMENT) {
            st.segments
                .entry(spec.lab.clone())
                .or_default()
                .insert(seg.clone(), spec.name.clone());
            // A segment's network is its own, beside the lab network.
            return Ok(NetworkInfo {
                id: format!("fake-net-{}", spec.name),
                name: spec.name.clone(),
                bridge: format!("br-fake-{seg}"),
                subnet: spec.subnet,
                gateway: spec.gateway,
                owned: true,
            });
        }
        let info = NetworkInfo {
            id: format!("fake-net-{}", spec.lab),
            name: spec.attach_to.clone().unwrap_or_else(|| spec.name.clone()),
            bridge: format!("br-fake{}", st.networks.len()),
            subnet: spec.subnet,
            gateway: spec.gateway,
            owned: spec.attach_to.is_none(),
        };
        Ok(st.networks.entry(spec.lab.clone()).or_insert(info).clone())
    }

    async fn find_network(&self, lab: &str) -> RuntimeResult<Option<NetworkInfo>> {
        Ok(self.lock().networks.get(lab).cloned())
    }

    async fn remove_network(&self, lab: &str) -> RuntimeResult<bool> {
        let mut st = self.enter(FakeOp::RemoveNetwork, lab, "network")?;
        st.segments.remove(lab);
        Ok(st.networks.remove(lab).is_some_and(|n| n.owned))
    }

    async fn list_segments(&self, lab: &str) -> RuntimeResult<Vec<String>> {
        let st = self.lock();
        Ok(st
            .segments
            .get(lab)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default())
    }

    async fn remove_segments(
        &self,
        lab: &str,
        segments: &[String],
        _force: bool,
    ) -> RuntimeResult<Vec<String>> {
        let mut st = self.enter(FakeOp::RemoveSegments, lab, &segments.join(","))?;
        let Some(known) = st.segments.get_mut(lab) else {
            return Ok(Vec::new());
        };
        Ok(segments
            .iter()
            .filter(|s| known.remove(s.as_str()).is_some())
            .cloned()
            .collect())
    }

    async fn remove_volumes(&self, lab: &str) -> RuntimeResult<Vec<String>> {
        let mut st = self.enter(FakeOp::RemoveVolumes, lab, "volumes")?;
        Ok(st.volumes.remove(lab).into_iter().flatten().collect())
    }
}
