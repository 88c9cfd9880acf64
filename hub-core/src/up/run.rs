//! `up`: validate, lock, plan, admit, network, then netd beside the workloads (parallel,
//! bounded, in dependency order; netd first when a VM is to start), VPN, state. Each phase's
//! time is logged at target `hub_timing` (`HUB_LOG=hub_timing=info`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hub_runtime::{
    LabContext, NetworkInfo, Runtime, WorkloadHandle, WorkloadKind, WorkloadSpec, WorkloadStatus,
};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::deps::{self, DepBoard, DepState};
use super::lock::LabLock;
use super::plan::{Plan, diff, list_actual};
use super::rollback::{Journal, rollback};
use super::state::{LabState, STATE_VERSION, WorkloadRecord};
use super::workload::{self, Shared};
use super::{UpOptions, UpReport, timing};
use crate::desired::{DesiredLab, DesiredWorkload, NetdPlan};
use crate::error::{HubError, StepError};
use crate::progress::{Progress, emit};
use crate::runtimes::Runtimes;
use crate::scheduler::{LabDemand, admit};
use crate::services::{NetdOutcome, NetdService, VpnInfo};

type Created = Vec<(Arc<dyn Runtime>, WorkloadHandle)>;

/// Brings the lab to what `desired` says and returns its state and what changed.
///
/// On failure every error of every branch is returned together, after the rollback of what
/// this call created (unless `opts.rollback_on_failure` is off). When `opts.cancel` fires the
/// work in flight stops, is rolled back, and the error is [`HubError::Interrupted`].
pub async fn up(
    desired: &DesiredLab,
    runtimes: &Runtimes,
    opts: &UpOptions,
) -> Result<(LabState, UpReport), HubError> {
    let span = tracing::info_span!("up", lab = %desired.name);
    let t = Instant::now();
    let r = up_locked(desired, runtimes, opts).instrument(span).await;
    timing("up.total", t);
    r
}

async fn up_locked(
    desired: &DesiredLab,
    runtimes: &Runtimes,
    opts: &UpOptions,
) -> Result<(LabState, UpReport), HubError> {
    let lab = desired.name.as_str();
    deps::check(desired)?;
    for w in &desired.workloads {
        runtimes.for_kind(lab, w.spec.kind())?;
    }
    runtimes.network(lab)?;
    if desired.vpn.is_some() && runtimes.vpn.is_none() {
        return Err(HubError::Invalid {
            what: format!("lab {lab:?}"),
            reason: "the spec enables WireGuard but the hub has no VPN gateway; enable hub-core's \
                     feature `wireguard` or inject one with the builder"
                .into(),
        });
    }
    let t = Instant::now();
    let _lock = tokio::select! {
        l = LabLock::acquire(&opts.state_root, lab, opts.wait_for_lock) => l?,
        () = opts.cancel.cancelled() => return Err(HubError::Interrupted { lab: lab.into(), errors: vec![] }),
    };
    timing("up.lock", t);
    converge_in_lock(desired, runtimes, opts, None).await
}

/// [`up`] for a caller that holds the lab lock already: plan, admit, converge, write the state.
/// With `only`, the converge starts only those of the workloads to (re)create, removes
/// nothing, and still brings netd and the VPN gateway back when they are gone (the
/// reconciler's heal pass).
pub(crate) async fn converge_in_lock(
    desired: &DesiredLab,
    runtimes: &Runtimes,
    opts: &UpOptions,
    only: Option<&BTreeSet<String>>,
) -> Result<(LabState, UpReport), HubError> {
    let lab = desired.name.as_str();
    let t = Instant::now();
    let kinds: Vec<_> = desired.workloads.iter().map(|w| w.spec.kind()).collect();
    let actual = list_actual(runtimes, lab, &kinds).await?;
    let mut plan = diff(desired, &actual);
    if let Some(names) = only {
        plan.restrict(names);
    }
    timing("up.list+plan", t);
    tracing::info!(
        create = plan.create.len(),
        recreate = plan.recreate.len(),
        remove = plan.remove.len(),
        unchanged = plan.unchanged.len(),
        "planned"
    );
    emit(
        &opts.progress,
        Progress::Planned {
            create: plan.create.len(),
            recreate: plan.recreate.len(),
            remove: plan.remove.len(),
            unchanged: plan.unchanged.len(),
        },
    );
    let to_start = plan.to_start();
    if let Some(set) = &runtimes.hosts {
        if desired.hosts.is_empty() {
            let names: Vec<&str> = set.hosts().iter().map(|h| h.name.as_str()).collect();
            return Err(HubError::Invalid {
                what: format!("lab {lab:?}"),
                reason: format!(
                    "runs on the hosts {} (recorded in {}), but the spec has no `hosts`; give it                      its hosts again, or `hub down` the lab first",
                    names.join(", "),
                    opts.lab_dir.display()
                ),
            });
        }
        let t = Instant::now();
        let recorded = recorded_hosts(lab, &opts.lab_dir);
        crate::hosts::place(desired, &to_start, &recorded, set).await?;
        timing("up.place", t);
    } else if !to_start.is_empty() {
        admit(
            lab,
            &demand(desired, &to_start),
            opts.scheduler.as_ref(),
            opts.metrics.as_ref(),
        )?;
    }
    let mut journal = Journal {
        to_start,
        ..Journal::default()
    };
    let mut created: Created = Vec::new();
    match converge(desired, runtimes, opts, &plan, &mut journal, &mut created).await {
        Ok(done) => Ok(done),
        Err(mut errors) => {
            let interrupted = opts.cancel.is_cancelled();
            if interrupted {
                // Branches that stopped because of the interruption are not failures.
                errors.clear();
            }
            let rolled_back = opts.rollback_on_failure;
            if rolled_back {
                errors.extend(
                    rollback(
                        lab,
                        runtimes,
                        &opts.lab_dir,
                        &journal,
                        created,
                        &opts.progress,
                    )
                    .await,
                );
            }
            if interrupted {
                Err(HubError::Interrupted {
                    lab: lab.into(),
                    errors,
                })
            } else {
                Err(HubError::Up {
                    lab: lab.into(),
                    errors,
                    rolled_back,
                })
            }
        }
    }
}

/// Each workload's host as the state file records it (none without a state file).
fn recorded_hosts(lab: &str, lab_dir: &Path) -> BTreeMap<String, String> {
    LabState::load(lab, lab_dir)
        .ok()
        .flatten()
        .map(|st| {
            st.workloads
                .into_iter()
                .filter_map(|w| Some((w.name, w.host?)))
                .collect()
        })
        .unwrap_or_default()
}

/// What the workloads about to start ask of the host.
fn demand(desired: &DesiredLab, names: &[String]) -> LabDemand {
    let mut d = LabDemand::default();
    for w in desired
        .workloads
        .iter()
        .filter(|w| names.iter().any(|n| n == w.name()))
    {
        match &w.spec {
            WorkloadSpec::Vm(vm) => {
                d.vm_memory_mb += vm.memory_mb;
                d.vm_cpus += f64::from(vm.vcpus);
            }
            WorkloadSpec::Container(c) => {
                d.container_memory_mb += c.resources.memory_mb.unwrap_or(0);
                d.container_cpus += c.resources.cpus.unwrap_or(0.0);
            }
        }
    }
    d
}

fn make_lab_dir(dir: &Path) -> std::io::Result<bool> {
    if dir.is_dir() {
        return Ok(false);
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    // Searchable but not listable: QEMU runs as its own user and must reach the VMs' disks
    // below; secrets inside are files of mode 0600.
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o711);
    b.create(dir)?;
    Ok(true)
}

/// The phases of one `up` after planning, in order; each phase's own function says what it
/// does. On an error the journal says what to roll back.
async fn converge(
    desired: &DesiredLab,
    runtimes: &Runtimes,
    opts: &UpOptions,
    plan: &Plan,
    journal: &mut Journal,
    created: &mut Created,
) -> Result<(LabState, UpReport), Vec<StepError>> {
    let up = Phases {
        lab: desired.name.as_str(),
        desired,
        runtimes,
        opts,
        plan,
    };
    let mut report = UpReport::default();
    journal.lab_dir_created = make_lab_dir(&opts.lab_dir).map_err(|e| {
        vec![StepError::new(
            format!("lab directory {}", opts.lab_dir.display()),
            e,
        )]
    })?;
    if !desired.hosts.is_empty() {
        // Before anything is made on a host: `down` must find every host after a crash.
        crate::hosts::save_hosts(up.lab, &opts.lab_dir, &desired.hosts)
            .map_err(|e| vec![StepError::new("the lab's hosts", e)])?;
    }
    let (info, segments) = up.network(journal, &mut report).await?;
    let netd_plan = if runtimes.netd.is_some() {
        // Over several hosts, DHCP clients (VMs, udhcpc) learn the segment's smaller MTU.
        let mtu = runtimes.hosts.as_ref().and_then(|h| h.segment_mtu());
        desired.netd_plan().map(|p| {
            let p = NetdPlan { mtu, ..p };
            match &runtimes.hosts {
                // A VM on another host than the primary is routed through its own host.
                Some(set) => set.route_reservations(p, &desired.network),
                None => p,
            }
        })
    } else {
        None
    };
    if desired.netd && netd_plan.is_none() {
        tracing::warn!("the hub has no netd service; the lab runs without its own DHCP and DNS");
    }
    let ctx = LabContext {
        name: up.lab.to_string(),
        dir: opts.lab_dir.clone(),
        network: info.clone(),
        dns: netd_plan.iter().map(|p| p.ip).collect(),
        domain: desired.domain.clone(),
        segments: segments.clone(),
    };
    up.cancelled()?;
    up.remove_left_spec(&mut report).await?;
    let statuses = up
        .netd_and_workloads(&ctx, netd_plan.as_ref(), journal, created, &mut report)
        .await?;
    let vpn = up.vpn(&ctx, &segments, journal, &mut report).await?;
    up.remove_left_segments(journal, &mut report).await?;
    up.remove_left_hosts(&mut report).await?;
    up.cancelled()?;
    let state = up.write_state(info, netd_plan.as_ref(), &statuses, vpn, &report)?;
    tracing::info!(%report, "up done");
    Ok((state, report))
}

/// The segment name a segment's network spec carries in its label.
fn segment_name(spec: &hub_runtime::NetworkSpec) -> Option<&str> {
    spec.labels
        .get(hub_runtime::labels::SEGMENT)
        .map(String::as_str)
}

/// What every phase of one `up` reads.
struct Phases<'a> {
    lab: &'a str,
    desired: &'a DesiredLab,
    runtimes: &'a Runtimes,
    opts: &'a UpOptions,
    plan: &'a Plan,
}

impl Phases<'_> {
    /// An empty error list (nothing failed: the user interrupted) once `up` is cancelled.
    fn cancelled(&self) -> Result<(), Vec<StepError>> {
        if self.opts.cancel.is_cancelled() {
            Err(vec![])
        } else {
            Ok(())
        }
    }

    /// The lab network: found, or created (and journalled for the rollback).
    async fn network(
        &self,
        journal: &mut Journal,
        report: &mut UpReport,
    ) -> Result<(NetworkInfo, Vec<NetworkInfo>), Vec<StepError>> {
        let failed = |e: HubError| vec![StepError::new("network", e)];
        let net = self.runtimes.network(self.lab).map_err(failed)?;
        let t = Instant::now();
        let existed = net
            .find_network(self.lab)
            .await
            .map_err(|e| vec![StepError::new("network", e)])?;
        let info = net
            .ensure_network(&self.desired.network)
            .await
            .map_err(|e| vec![StepError::new("network", e)])?;
        journal.network_created = existed.is_none() && info.owned;
        report.network_created = journal.network_created;
        journal.segments_before = net
            .list_segments(self.lab)
            .await
            .map_err(|e| vec![StepError::new("segment networks", e)])?;
        let mut segments = Vec::with_capacity(self.desired.segments.len());
        for seg in &self.desired.segments {
            let s = net
                .ensure_network(seg)
                .await
                .map_err(|e| vec![StepError::new(format!("network {:?}", seg.name), e)])?;
            if let Some(name) = segment_name(seg)
                && !journal.segments_before.iter().any(|b| b == name)
                && s.owned
            {
                journal.segments_created.push(name.to_string());
            }
            segments.push(s);
        }
        emit(
            &self.opts.progress,
            Progress::NetworkReady {
                name: info.name.clone(),
                subnet: info.subnet,
                took: t.elapsed(),
            },
        );
        timing("up.network", t);
        Ok((info, segments))
    }

    /// Removes the networks of the segments that left the spec, once every workload is as the
    /// spec wants it (so no workload of the lab is joined to them any more). A network some
    /// other container still uses is left (and logged by the backend).
    async fn remove_left_segments(
        &self,
        journal: &Journal,
        report: &mut UpReport,
    ) -> Result<(), Vec<StepError>> {
        let wanted: Vec<&str> = self
            .desired
            .segments
            .iter()
            .filter_map(segment_name)
            .collect();
        let left: Vec<String> = journal
            .segments_before
            .iter()
            .filter(|s| !wanted.contains(&s.as_str()))
            .cloned()
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        let net = self
            .runtimes
            .network(self.lab)
            .map_err(|e| vec![StepError::new("segment networks", e)])?;
        let gone = net
            .remove_segments(self.lab, &left, false)
            .await
            .map_err(|e| vec![StepError::new("segment networks", e)])?;
        for seg in gone {
            let what = format!("segment {seg}");
            emit(
                &self.opts.progress,
                Progress::Removed { what: what.clone() },
            );
            report.removed.push(what);
        }
        Ok(())
    }

    /// Takes the lab's network (and volumes) off the hosts that left the spec, once their
    /// workloads are gone, and forgets those hosts.
    async fn remove_left_hosts(&self, report: &mut UpReport) -> Result<(), Vec<StepError>> {
        let Some(set) = &self.runtimes.hosts else {
            return Ok(());
        };
        for host in set.clear_departed(self.lab).await.map_err(|e| vec![e])? {
            let what = format!("host {host}");
            emit(
                &self.opts.progress,
                Progress::Removed { what: what.clone() },
            );
            report.removed.push(what);
        }
        crate::hosts::keep_only(self.lab, &self.opts.lab_dir, &self.desired.hosts)
            .map_err(|e| vec![StepError::new("the lab's hosts", e)])
    }

    /// Removes the workloads that left the spec, all at once.
    async fn remove_left_spec(&self, report: &mut UpReport) -> Result<(), Vec<StepError>> {
        let t = Instant::now();
        let lab = self.lab;
        let removals = self.plan.remove.iter().map(|s| async move {
            let rt = self
                .runtimes
                .for_kind(lab, s.handle.kind)
                .map_err(|e| StepError::new(&s.handle.name, e))?;
            rt.remove(&s.handle)
                .await
                .map(|()| s.handle.name.clone())
                .map_err(|e| StepError::new(format!("{} {:?}", s.handle.kind, s.handle.name), e))
        });
        let mut errors = Vec::new();
        for r in futures::future::join_all(removals).await {
            match r {
                Ok(name) => {
                    emit(
                        &self.opts.progress,
                        Progress::Removed { what: name.clone() },
                    );
                    report.removed.push(name);
                }
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if !self.plan.remove.is_empty() {
            timing("up.remove-left-spec", t);
        }
        Ok(())
    }

    /// netd and the workloads. A container needs netd neither to be created nor to start (its
    /// resolver is netd's address, asked only at query time), so netd comes up beside the
    /// containers, and a container counts as ready (its dependants start) only once netd runs.
    /// A VM asks netd's DHCP for its address as it boots: with a VM to start, netd comes first.
    /// Returns the status of every workload of the spec.
    async fn netd_and_workloads(
        &self,
        ctx: &LabContext,
        netd_plan: Option<&NetdPlan>,
        journal: &mut Journal,
        created: &mut Created,
        report: &mut UpReport,
    ) -> Result<BTreeMap<String, WorkloadStatus>, Vec<StepError>> {
        let netd_job = self.runtimes.netd.as_ref().zip(netd_plan);
        let vm_to_start = self.desired.workloads.iter().any(|w| {
            w.spec.kind() == WorkloadKind::Vm && journal.to_start.iter().any(|n| n == w.name())
        });
        let shared = Arc::new(Shared {
            ctx: ctx.clone(),
            board: DepBoard::new(self.desired.workloads.iter().map(|w| w.name())),
            slots: Semaphore::new(self.opts.parallelism.max(1)),
            cancel: self.opts.cancel.clone(),
            progress: self.opts.progress.clone(),
            created: Mutex::new(Vec::new()),
            half_made: Mutex::new(Vec::new()),
            netd: watch::channel(if netd_job.is_some() {
                DepState::Pending
            } else {
                DepState::Ready
            })
            .0,
        });
        let mut statuses = self.unchanged(&shared);
        let branches = self.branches(journal)?;
        let netd_step = self.netd(&shared, netd_job);
        let workloads_step = run_branches(&shared, branches);
        let (netd_result, (done, branch_errors)) = if vm_to_start {
            let n = netd_step.await;
            if let Err(e) = n {
                return Err(vec![e]);
            }
            self.cancelled()?;
            (n, workloads_step.await)
        } else {
            tokio::join!(netd_step, workloads_step)
        };
        let mut errors = Vec::new();
        match netd_result {
            Ok(outcome) => {
                journal.netd_created = outcome == Some(NetdOutcome::Created);
                report.netd = outcome;
                errors.extend(branch_errors);
            }
            Err(e) => {
                // The containers that waited for netd only repeat its failure.
                errors.push(e);
                errors.extend(
                    branch_errors
                        .into_iter()
                        .filter(|b| !b.source.is::<workload::NetdFailed>()),
                );
            }
        }
        for status in done {
            statuses.insert(status.handle.name.clone(), status);
        }
        created.extend(
            shared
                .created
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain(..),
        );
        journal.half_made =
            std::mem::take(&mut *shared.half_made.lock().unwrap_or_else(|e| e.into_inner()));
        if !errors.is_empty() {
            return Err(errors);
        }
        self.cancelled()?;
        for (s, _) in &self.plan.recreate {
            report.recreated.push(s.handle.name.clone());
        }
        report.created = self.plan.create.clone();
        report.unchanged = self
            .plan
            .unchanged
            .iter()
            .map(|s| s.handle.name.clone())
            .collect();
        Ok(statuses)
    }

    /// Marks the unchanged workloads ready (their dependants need not wait) and returns their
    /// statuses.
    fn unchanged(&self, shared: &Shared) -> BTreeMap<String, WorkloadStatus> {
        let mut statuses = BTreeMap::new();
        for (name, s) in &self.plan.skipped {
            // Left as it is: its dependants do not wait for it.
            shared.board.set(name, DepState::Ready);
            if let Some(s) = s {
                statuses.insert(name.clone(), s.clone());
            }
        }
        for s in &self.plan.unchanged {
            shared.board.set(&s.handle.name, DepState::Ready);
            emit(
                &self.opts.progress,
                Progress::WorkloadUnchanged {
                    name: s.handle.name.clone(),
                },
            );
            statuses.insert(s.handle.name.clone(), s.clone());
        }
        statuses
    }

    /// One branch per workload to start: its runtime, its spec and the old version to replace.
    fn branches(&self, journal: &Journal) -> Result<Vec<Branch>, Vec<StepError>> {
        let old: BTreeMap<&str, &WorkloadStatus> = self
            .plan
            .recreate
            .iter()
            .map(|(s, _)| (s.handle.name.as_str(), s))
            .collect();
        let mut branches = Vec::new();
        for w in self
            .desired
            .workloads
            .iter()
            .filter(|w| journal.to_start.iter().any(|n| n == w.name()))
        {
            let rt = self
                .runtimes
                .for_kind(self.lab, w.spec.kind())
                .map_err(|e| vec![StepError::new(w.name(), e)])?
                .clone();
            let prev = old.get(w.name()).map(|s| (*s).clone());
            branches.push((rt, w.clone(), prev));
        }
        Ok(branches)
    }

    /// Brings netd up and opens its gate to the waiting containers (or closes it for good).
    async fn netd(
        &self,
        shared: &Shared,
        job: Option<(&Arc<dyn NetdService>, &NetdPlan)>,
    ) -> Result<Option<NetdOutcome>, StepError> {
        let Some((netd, np)) = job else {
            return Ok(None);
        };
        let t = Instant::now();
        let outcome = match netd.ensure(&shared.ctx, np).await {
            Ok(o) => o,
            Err(e) => {
                shared.netd.send_replace(DepState::Failed);
                return Err(StepError::new("netd", e));
            }
        };
        emit(
            &self.opts.progress,
            Progress::NetdReady {
                ip: np.ip,
                dhcp: np.dhcp_range,
                domain: np.domain.clone(),
                took: t.elapsed(),
            },
        );
        shared.netd.send_replace(DepState::Ready);
        timing("up.netd", t);
        Ok(Some(outcome))
    }

    /// The VPN gateway, when the spec has one; what the state file records of it.
    async fn vpn(
        &self,
        ctx: &LabContext,
        segments: &[NetworkInfo],
        journal: &mut Journal,
        report: &mut UpReport,
    ) -> Result<Option<VpnInfo>, Vec<StepError>> {
        let (Some(vpn), Some(vp)) = (&self.runtimes.vpn, &self.desired.vpn) else {
            return Ok(None);
        };
        let t = Instant::now();
        // The other segments' bridges, now that their networks exist (same order).
        let mut vp = vp.clone();
        for (s, info) in vp.segments.iter_mut().zip(segments) {
            s.bridge = info.bridge.clone();
        }
        let info = vpn
            .up(ctx, &vp)
            .await
            .map_err(|e| vec![StepError::new("vpn gateway", e)])?;
        journal.vpn_created = info.created;
        report.vpn_created = info.created;
        for p in &info.peers {
            emit(
                &self.opts.progress,
                Progress::VpnPeer {
                    name: p.name.clone(),
                    config: p.config.clone(),
                },
            );
        }
        timing("up.vpn", t);
        // The state records what runs, not what this call did.
        Ok(Some(VpnInfo {
            created: false,
            ..info
        }))
    }

    /// Writes the state file, unless an unchanged `up` would write the same file again.
    fn write_state(
        &self,
        network: NetworkInfo,
        netd_plan: Option<&NetdPlan>,
        statuses: &BTreeMap<String, WorkloadStatus>,
        vpn: Option<VpnInfo>,
        report: &UpReport,
    ) -> Result<LabState, Vec<StepError>> {
        let t = Instant::now();
        let previous = LabState::load(self.lab, &self.opts.lab_dir).ok().flatten();
        let workloads = self
            .desired
            .workloads
            .iter()
            .map(|w| {
                let mut r = record(w, statuses.get(w.name()));
                r.host = self.runtimes.host_of(w.spec.kind(), w.name());
                // The restart count is the workload's history: an `up` keeps it.
                r.restarts = previous
                    .as_ref()
                    .and_then(|p| p.workload(w.name()))
                    .map_or(0, |p| p.restarts);
                r
            })
            .collect();
        let state = LabState {
            version: STATE_VERSION,
            lab: self.lab.to_string(),
            network,
            domain: self.desired.domain.clone(),
            netd: netd_plan.map(|p| p.ip),
            workloads,
            vpn,
            netd_restarts: previous.as_ref().map_or(0, |p| p.netd_restarts),
            vpn_restarts: previous.as_ref().map_or(0, |p| p.vpn_restarts),
            hosts: self.desired.hosts.clone(),
        };
        let unchanged_state = report.is_unchanged() && previous.as_ref() == Some(&state);
        if !unchanged_state {
            state
                .save(&self.opts.lab_dir)
                .map_err(|e| vec![StepError::new("state file", e)])?;
        }
        timing("up.state", t);
        Ok(state)
    }
}

/// A workload to bring up: its runtime, its spec, and the old version it replaces.
type Branch = (Arc<dyn Runtime>, DesiredWorkload, Option<WorkloadStatus>);

/// Runs every branch at once (the semaphore in `shared` bounds them); the statuses of those that
/// came up and the errors of the others.
async fn run_branches(
    shared: &Arc<Shared>,
    branches: Vec<Branch>,
) -> (Vec<WorkloadStatus>, Vec<StepError>) {
    let t = Instant::now();
    let mut set = JoinSet::new();
    for (rt, w, prev) in branches {
        set.spawn(workload::run(shared.clone(), rt, w, prev));
    }
    let mut done = Vec::new();
    let mut errors = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(status)) => done.push(status),
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(StepError::new("a workload task", e)),
        }
    }
    timing("up.workloads", t);
    (done, errors)
}

/// What the state file records of workload `w`: what its runtime said, else what the spec says.
fn record(w: &DesiredWorkload, s: Option<&WorkloadStatus>) -> WorkloadRecord {
    WorkloadRecord {
        name: w.name().to_string(),
        kind: w.spec.kind(),
        id: s.map(|s| s.handle.id.clone()).unwrap_or_default(),
        ip: s.and_then(|s| s.ip).or(w.spec.ip()),
        mac: s.and_then(|s| s.mac).or(match &w.spec {
            WorkloadSpec::Container(c) => c.mac,
            WorkloadSpec::Vm(v) => Some(v.mac),
        }),
        spec_hash: w.spec.spec_hash().to_string(),
        state: s
            .map(|s| s.state)
            .unwrap_or(hub_runtime::WorkloadState::Unknown),
        user: match &w.spec {
            WorkloadSpec::Vm(v) => Some(v.user.clone()),
            WorkloadSpec::Container(_) => None,
        },
        boot: s.and_then(|s| s.boot.clone()),
        interfaces: match &w.spec {
            WorkloadSpec::Container(c) => c.networks.clone(),
            WorkloadSpec::Vm(v) => v.networks.clone(),
        },
        restarts: 0,
        failed: None,
        host: None,
    }
}
