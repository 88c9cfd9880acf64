//! The runtimes of a lab over several hosts: each operation goes to the workload's host.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hub_runtime::{
    ExecOutput, LabContext, LogStream, NetworkInfo, NetworkRuntime, NetworkSpec, PhaseReporter,
    Role, Runtime, RuntimeError, RuntimeResult, WorkloadHandle, WorkloadKind, WorkloadSpec,
    WorkloadStatus,
};
use tokio_util::sync::CancellationToken;

use super::{HostBackends, HostSet};

/// An error of host `host`'s backend, saying which host: the errors that already name their
/// workload keep their kind; the others (an engine that does not answer, a refused TLS
/// handshake, a backend failure) are wrapped with the host's name.
pub(crate) fn on_host(lab: &str, host: &str, e: RuntimeError) -> RuntimeError {
    match e {
        RuntimeError::DaemonUnavailable { .. }
        | RuntimeError::PermissionDenied { .. }
        | RuntimeError::Backend { .. }
        | RuntimeError::Unsupported { .. }
        | RuntimeError::Injected(_) => RuntimeError::Backend {
            lab: lab.to_string(),
            context: format!("on host {host:?}"),
            source: Box::new(e),
        },
        other => other,
    }
}

/// The gateway of host number `index` (0: the primary) on the lab network: the primary keeps
/// the plan's `.1`; host `k` takes offset `3 + k` of the infrastructure block (`.4`, `.5`...),
/// so that once the hosts' bridges are one segment no two answer for the same address.
pub fn host_gateway(spec: &NetworkSpec, index: usize) -> Ipv4Addr {
    if index == 0 {
        return spec.gateway;
    }
    let offset = u32::try_from(index).unwrap_or(u32::MAX).saturating_add(3);
    Ipv4Addr::from(u32::from(spec.subnet.network()).saturating_add(offset))
}

/// Containers or VMs on every host, each operation on the host of its workload.
pub struct RoutedRuntime {
    set: Arc<HostSet>,
    kind: WorkloadKind,
}

impl RoutedRuntime {
    /// The `kind` workloads of the hosts of `set`.
    pub fn new(set: Arc<HostSet>, kind: WorkloadKind) -> Self {
        RoutedRuntime { set, kind }
    }

    fn hosts(&self) -> impl Iterator<Item = (&HostBackends, &Arc<dyn Runtime>)> {
        self.set
            .hosts()
            .iter()
            .filter_map(|h| h.runtime(self.kind).map(|rt| (h, rt)))
    }

    fn on(&self, host: &str) -> Option<&Arc<dyn Runtime>> {
        self.set.host(host).and_then(|h| h.runtime(self.kind))
    }

    /// The host of workload `name` and its runtime: from placement or an earlier listing,
    /// else by listing every host.
    async fn locate(
        &self,
        lab: &str,
        name: &str,
    ) -> RuntimeResult<Option<(String, Arc<dyn Runtime>)>> {
        if self.set.host_of(self.kind, name).is_none() {
            self.list(lab).await?;
        }
        Ok(self
            .set
            .host_of(self.kind, name)
            .and_then(|h| self.on(&h).cloned().map(|rt| (h, rt))))
    }

    async fn locate_or_missing(
        &self,
        h: &WorkloadHandle,
    ) -> RuntimeResult<(String, Arc<dyn Runtime>)> {
        self.locate(&h.lab, &h.name)
            .await?
            .ok_or_else(|| RuntimeError::NotFound {
                lab: h.lab.clone(),
                what: kind_word(self.kind),
                name: h.name.clone(),
            })
    }

    /// Runs `op` with the runtime of `handle`'s host and that host's name; an error of it
    /// names the host.
    async fn routed<T, Fut>(
        &self,
        handle: &WorkloadHandle,
        op: impl FnOnce(Arc<dyn Runtime>, String) -> Fut,
    ) -> RuntimeResult<T>
    where
        Fut: std::future::Future<Output = RuntimeResult<T>>,
    {
        let (host, rt) = self.locate_or_missing(handle).await?;
        op(rt, host.clone())
            .await
            .map_err(|e| on_host(&handle.lab, &host, e))
    }

    /// `lab` with the host's own copy of the lab network (a VM attaches to its host's bridge).
    fn context_on(&self, lab: &LabContext, host: &str) -> LabContext {
        match self.set.network_of(host) {
            Some(network) => LabContext {
                network,
                ..lab.clone()
            },
            None => lab.clone(),
        }
    }
}

fn kind_word(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Container => "container",
        WorkloadKind::Vm => "vm",
    }
}

#[async_trait]
impl Runtime for RoutedRuntime {
    fn backend(&self) -> &'static str {
        self.hosts().next().map_or("hosts", |(_, rt)| rt.backend())
    }

    fn supports(&self, kind: WorkloadKind) -> bool {
        kind == self.kind
    }

    async fn create(&self, lab: &LabContext, spec: &WorkloadSpec) -> RuntimeResult<WorkloadHandle> {
        let Some(host) = self.set.creation_host(self.kind, spec.name()) else {
            return Err(RuntimeError::Backend {
                lab: lab.name.clone(),
                context: format!("{} {:?} was placed on no host", self.kind, spec.name()),
                source: "placement runs before any workload is created".into(),
            });
        };
        let rt = self.on(&host).ok_or_else(|| RuntimeError::Unsupported {
            backend: "hosts",
            what: format!("{} on host {host:?}", self.kind),
        })?;
        let handle = rt
            .create(&self.context_on(lab, &host), spec)
            .await
            .map_err(|e| on_host(&lab.name, &host, e))?;
        self.set.locate(self.kind, spec.name(), &host);
        Ok(handle)
    }

    async fn start(&self, handle: &WorkloadHandle) -> RuntimeResult<()> {
        self.routed(handle, |rt, _| async move { rt.start(handle).await })
            .await
    }

    async fn wait_ready(
        &self,
        lab: &LabContext,
        spec: &WorkloadSpec,
        handle: &WorkloadHandle,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> RuntimeResult<()> {
        self.routed(handle, |rt, host| async move {
            rt.wait_ready(&self.context_on(lab, &host), spec, handle, timeout, cancel)
                .await
        })
        .await
    }

    async fn wait_ready_reporting(
        &self,
        lab: &LabContext,
        spec: &WorkloadSpec,
        handle: &WorkloadHandle,
        timeout: Duration,
        cancel: CancellationToken,
        phases: PhaseReporter,
    ) -> RuntimeResult<()> {
        self.routed(handle, |rt, host| async move {
            let ctx = self.context_on(lab, &host);
            rt.wait_ready_reporting(&ctx, spec, handle, timeout, cancel, phases)
                .await
        })
        .await
    }

    async fn stop(&self, handle: &WorkloadHandle, grace: Duration) -> RuntimeResult<()> {
        self.routed(handle, |rt, _| async move { rt.stop(handle, grace).await })
            .await
    }

    async fn remove(&self, handle: &WorkloadHandle) -> RuntimeResult<()> {
        // Gone from every host is removed.
        let Some((host, rt)) = self.locate(&handle.lab, &handle.name).await? else {
            return Ok(());
        };
        rt.remove(handle)
            .await
            .map_err(|e| on_host(&handle.lab, &host, e))
    }

    async fn inspect(&self, handle: &WorkloadHandle) -> RuntimeResult<WorkloadStatus> {
        self.routed(handle, |rt, _| async move { rt.inspect(handle).await })
            .await
    }

    async fn labs(&self) -> RuntimeResult<Vec<String>> {
        let mut out = Vec::new();
        for (h, rt) in self.hosts() {
            for lab in rt.labs().await.map_err(|e| on_host("", &h.name, e))? {
                if !out.contains(&lab) {
                    out.push(lab);
                }
            }
        }
        Ok(out)
    }

    /// Every host's workloads of the lab, each recorded as running there. A host whose engine
    /// does not answer fails the listing, naming it, unless none answers (then the backend is
    /// unavailable, as on one host).
    async fn list(&self, lab: &str) -> RuntimeResult<Vec<WorkloadStatus>> {
        let listings = futures::future::join_all(
            self.hosts()
                .map(|(h, rt)| async move { (h.name.as_str(), rt.list(lab).await) }),
        )
        .await;
        let answered = listings.iter().filter(|(_, r)| r.is_ok()).count();
        let mut out = Vec::new();
        for (host, listed) in listings {
            match listed {
                Ok(statuses) => {
                    for s in statuses {
                        if s.handle.kind == self.kind && s.role != Some(Role::Netd) {
                            self.set.locate(self.kind, &s.handle.name, host);
                        }
                        out.push(s);
                    }
                }
                Err(e @ RuntimeError::DaemonUnavailable { .. }) if answered == 0 => return Err(e),
                Err(e) => return Err(on_host(lab, host, e)),
            }
        }
        Ok(out)
    }

    async fn logs(
        &self,
        lab: &LabContext,
        handle: &WorkloadHandle,
        tail: usize,
    ) -> RuntimeResult<String> {
        self.routed(handle, |rt, host| async move {
            rt.logs(&self.context_on(lab, &host), handle, tail).await
        })
        .await
    }

    async fn follow_logs(
        &self,
        lab: &LabContext,
        handle: &WorkloadHandle,
        tail: usize,
    ) -> RuntimeResult<LogStream> {
        self.routed(handle, |rt, host| async move {
            rt.follow_logs(&self.context_on(lab, &host), handle, tail)
                .await
        })
        .await
    }

    async fn net_namespace(
        &self,
        handle: &WorkloadHandle,
    ) -> RuntimeResult<Option<std::path::PathBuf>> {
        self.routed(handle, |rt, host| async move {
            if self.set.primary() != Some(host.as_str()) {
                // Another machine's namespace: no path of this one reaches it.
                return Ok(None);
            }
            rt.net_namespace(handle).await
        })
        .await
    }

    async fn exec(
        &self,
        lab: &LabContext,
        handle: &WorkloadHandle,
        cmd: &[String],
    ) -> RuntimeResult<ExecOutput> {
        self.routed(handle, |rt, host| async move {
            rt.exec(&self.context_on(lab, &host), handle, cmd).await
        })
        .await
    }
}

/// The lab network on every host of the spec: each host has its own copy (same subnet, its
/// own gateway, see [`host_gateway`]), joined by the set's [`super::LabSegment`] when there
/// are several; the primary's is the lab's.
pub struct RoutedNetwork {
    set: Arc<HostSet>,
}

impl RoutedNetwork {
    /// The lab network over the hosts of `set`.
    pub fn new(set: Arc<HostSet>) -> Self {
        RoutedNetwork { set }
    }

    fn networks(&self) -> impl Iterator<Item = (&HostBackends, &Arc<dyn NetworkRuntime>)> {
        self.set
            .hosts()
            .iter()
            .filter_map(|h| h.network.as_ref().map(|n| (h, n)))
    }

    fn primary(&self) -> Option<(&HostBackends, &Arc<dyn NetworkRuntime>)> {
        let p = self.set.primary()?;
        self.networks().find(|(h, _)| h.name == p)
    }
}

#[async_trait]
impl NetworkRuntime for RoutedNetwork {
    /// The network on every host of the spec, each with its gateway and, over several hosts,
    /// the segment's MTU; then the segment that joins them (before any workload starts).
    async fn ensure_network(&self, spec: &NetworkSpec) -> RuntimeResult<NetworkInfo> {
        // A lab down to one host keeps no segment (the other hosts leave it as they go).
        let segment = self.set.segment().filter(|_| self.set.in_spec.len() > 1);
        let mut primary = None;
        let mut bridges = Vec::new();
        for (index, name) in self.set.in_spec.iter().enumerate() {
            let Some((_, net)) = self.networks().find(|(h, _)| &h.name == name) else {
                continue;
            };
            let on = NetworkSpec {
                gateway: host_gateway(spec, index),
                mtu: spec.mtu.or(self.set.segment_mtu()),
                ..spec.clone()
            };
            let info = net
                .ensure_network(&on)
                .await
                .map_err(|e| on_host(&spec.lab, name, e))?;
            self.set.set_network(name, info.clone());
            bridges.push((name.clone(), info.bridge.clone()));
            if index == 0 {
                primary = Some(info);
            }
        }
        let primary = primary.ok_or_else(|| RuntimeError::Unsupported {
            backend: "hosts",
            what: "a lab network without a primary host that runs Docker".into(),
        })?;
        match (segment, self.set.segment()) {
            (Some(seg), _) => seg.ensure(&spec.lab, spec.subnet, &bridges).await?,
            (None, Some(seg)) => {
                let hosts: Vec<String> = self.networks().map(|(h, _)| h.name.clone()).collect();
                seg.remove(&spec.lab, &hosts).await?;
            }
            (None, None) => {}
        }
        Ok(primary)
    }

    async fn find_network(&self, lab: &str) -> RuntimeResult<Option<NetworkInfo>> {
        match self.primary() {
            Some((h, net)) => net
                .find_network(lab)
                .await
                .map_err(|e| on_host(lab, &h.name, e)),
            None => Ok(None),
        }
    }

    /// From every host; a host that fails does not stop the others (its error is returned
    /// once they are done).
    async fn remove_network(&self, lab: &str) -> RuntimeResult<bool> {
        let mut removed = false;
        let mut failed = None;
        // The segment goes first: its VXLAN device is enslaved to each host's bridge.
        if let Some(seg) = self.set.segment() {
            let hosts: Vec<String> = self.networks().map(|(h, _)| h.name.clone()).collect();
            if let Err(e) = seg.remove(lab, &hosts).await {
                failed = Some(e);
            }
        }
        for (h, net) in self.networks() {
            match net.remove_network(lab).await {
                Ok(r) => removed |= r,
                Err(e) => failed = failed.or(Some(on_host(lab, &h.name, e))),
            }
        }
        failed.map_or(Ok(removed), Err)
    }

    async fn list_segments(&self, lab: &str) -> RuntimeResult<Vec<String>> {
        match self.primary() {
            Some((h, net)) => net
                .list_segments(lab)
                .await
                .map_err(|e| on_host(lab, &h.name, e)),
            None => Ok(Vec::new()),
        }
    }

    async fn remove_segments(
        &self,
        lab: &str,
        segments: &[String],
        force: bool,
    ) -> RuntimeResult<Vec<String>> {
        match self.primary() {
            Some((h, net)) => net
                .remove_segments(lab, segments, force)
                .await
                .map_err(|e| on_host(lab, &h.name, e)),
            None => Ok(Vec::new()),
        }
    }

    async fn remove_volumes(&self, lab: &str) -> RuntimeResult<Vec<String>> {
        let mut out = Vec::new();
        let mut failed = None;
        for (h, net) in self.networks() {
            match net.remove_volumes(lab).await {
                Ok(names) => out.extend(names),
                Err(e) => failed = failed.or(Some(on_host(lab, &h.name, e))),
            }
        }
        failed.map_or(Ok(out), Err)
    }
}
