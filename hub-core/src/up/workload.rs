//! One workload's branch of an `up`: wait for its dependencies, take a slot, (re)create,
//! start, wait until ready.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use hub_runtime::{
    LabContext, PhaseReporter, Runtime, RuntimeError, WorkloadHandle, WorkloadStatus,
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::deps::{DepBoard, DepState};
use crate::desired::DesiredWorkload;
use crate::error::StepError;
use crate::progress::{Progress, ProgressFn, emit};

/// What every branch shares.
pub(crate) struct Shared {
    pub ctx: LabContext,
    pub board: DepBoard,
    pub slots: Semaphore,
    pub cancel: CancellationToken,
    pub progress: Option<ProgressFn>,
    /// Handles of what this `up` created, for the rollback.
    pub created: Mutex<Vec<(Arc<dyn Runtime>, WorkloadHandle)>>,
    /// Workloads whose create failed in a way that may have left something behind.
    pub half_made: Mutex<Vec<String>>,
    /// netd's readiness: netd comes up beside the containers, which count as ready only once
    /// it runs (their DNS is netd). Ready from the start when there is no netd or it came first.
    pub netd: tokio::sync::watch::Sender<DepState>,
}

/// Why a container that waited for netd failed; `up` reports netd's own error instead, and
/// recognises this one by its type.
#[derive(Debug, thiserror::Error)]
#[error("not ready because netd, its DNS server, failed to start")]
pub(crate) struct NetdFailed;

impl Shared {
    /// Whether netd failed to come up.
    fn netd_failed(&self) -> bool {
        *self.netd.borrow() == DepState::Failed
    }

    /// Waits until netd runs; an error when it failed.
    async fn netd_ready(&self) -> Result<(), NetdFailed> {
        let mut rx = self.netd.subscribe();
        match rx.wait_for(|s| *s != DepState::Pending).await.map(|s| *s) {
            Ok(DepState::Ready) => Ok(()),
            _ => Err(NetdFailed),
        }
    }
}

fn subject(w: &DesiredWorkload) -> String {
    format!("{} {:?}", w.spec.kind(), w.name())
}

fn cancelled(ctx: &LabContext, w: &DesiredWorkload) -> StepError {
    StepError::new(
        subject(w),
        RuntimeError::Cancelled {
            lab: ctx.name.clone(),
            workload: w.name().to_string(),
        },
    )
}

/// Brings one workload up. Its dependants learn the outcome through the board.
pub(crate) async fn run(
    shared: Arc<Shared>,
    rt: Arc<dyn Runtime>,
    w: DesiredWorkload,
    old: Option<WorkloadStatus>,
) -> Result<WorkloadStatus, StepError> {
    let span = tracing::info_span!("workload", lab = %shared.ctx.name, workload = %w.name());
    let result = bring_up(&shared, &rt, &w, old).instrument(span).await;
    match &result {
        Ok(_) => shared.board.set(w.name(), DepState::Ready),
        Err(e) => {
            shared.board.set(w.name(), DepState::Failed);
            emit(
                &shared.progress,
                Progress::WorkloadFailed {
                    name: w.name().to_string(),
                    error: e.to_string(),
                },
            );
        }
    }
    result
}

async fn bring_up(
    shared: &Shared,
    rt: &Arc<dyn Runtime>,
    w: &DesiredWorkload,
    old: Option<WorkloadStatus>,
) -> Result<WorkloadStatus, StepError> {
    let ctx = &shared.ctx;
    tokio::select! {
        r = shared.board.wait(&w.depends_on) => r.map_err(|dep| if shared.netd_failed() {
            // Its dependency only waited for netd: netd's error says it all.
            StepError::new(subject(w), NetdFailed)
        } else {
            StepError::new(subject(w), format!("not started because its dependency {dep:?} failed"))
        })?,
        () = shared.cancel.cancelled() => return Err(cancelled(ctx, w)),
    }
    let _slot = tokio::select! {
        s = shared.slots.acquire() => s.map_err(|e| StepError::new(subject(w), e))?,
        () = shared.cancel.cancelled() => return Err(cancelled(ctx, w)),
    };
    if shared.cancel.is_cancelled() {
        return Err(cancelled(ctx, w));
    }
    let started = Instant::now();
    let err = |e: RuntimeError| StepError::new(subject(w), e);
    if let Some(old) = old {
        tracing::info!("removing the old version (its spec changed or it stopped)");
        rt.remove(&old.handle).await.map_err(err)?;
    }
    emit(
        &shared.progress,
        Progress::WorkloadStarting {
            name: w.name().into(),
            kind: w.spec.kind(),
        },
    );
    tracing::info!("creating");
    let handle = match rt.create(ctx, &w.spec).await {
        Ok(h) => h,
        Err(e) => {
            // A create that failed half-way may have left something behind for the rollback
            // to find by its marks; a name that was already taken belongs to someone else.
            if !matches!(e, RuntimeError::NameTaken { .. }) {
                shared
                    .half_made
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(w.name().to_string());
            }
            return Err(err(e));
        }
    };
    shared
        .created
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((rt.clone(), handle.clone()));
    // Create and start are short; they are not cut in the middle so the rollback knows
    // everything that exists. The wait is what cancellation interrupts.
    if shared.cancel.is_cancelled() {
        return Err(cancelled(ctx, w));
    }
    rt.start(&handle).await.map_err(err)?;
    tokio::select! {
        r = shared.netd_ready() => r.map_err(|why| StepError::new(subject(w), why))?,
        () = shared.cancel.cancelled() => return Err(cancelled(ctx, w)),
    }
    emit(
        &shared.progress,
        Progress::WorkloadWaiting {
            name: w.name().into(),
            kind: w.spec.kind(),
        },
    );
    let phases = {
        let (progress, name, kind) = (shared.progress.clone(), w.name().to_string(), w.spec.kind());
        PhaseReporter::new(move |phase, after| {
            tracing::debug!(%phase, ?after, "readiness phase");
            emit(
                &progress,
                Progress::WorkloadPhase {
                    name: name.clone(),
                    kind,
                    phase: phase.to_string(),
                    after,
                },
            );
        })
    };
    rt.wait_ready_reporting(
        ctx,
        &w.spec,
        &handle,
        w.ready_timeout,
        shared.cancel.child_token(),
        phases,
    )
    .await
    .map_err(err)?;
    let status = match rt.inspect(&handle).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "inspect after ready failed; recording the spec's values");
            WorkloadStatus {
                handle: handle.clone(),
                state: hub_runtime::WorkloadState::Running,
                ip: w.spec.ip(),
                mac: None,
                exit_code: None,
                spec_hash: Some(w.spec.spec_hash().to_string()),
                role: None,
                boot: None,
            }
        }
    };
    let took = started.elapsed();
    tracing::info!(?took, "ready");
    emit(
        &shared.progress,
        Progress::WorkloadReady {
            name: w.name().into(),
            kind: w.spec.kind(),
            ip: status.ip.or(w.spec.ip()),
            took,
            boot: status.boot.clone(),
        },
    );
    Ok(status)
}
