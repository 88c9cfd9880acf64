//! Undoing a failed or interrupted `up`: remove what it created, not what existed before.

use std::path::Path;
use std::sync::Arc;

use hub_runtime::{Runtime, WorkloadHandle};

use super::plan::list_actual;
use crate::error::StepError;
use crate::progress::{Progress, ProgressFn, emit};
use crate::runtimes::Runtimes;
use hub_runtime::Role;

/// What an `up` created so far.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    pub lab_dir_created: bool,
    pub network_created: bool,
    /// The segments (beyond the first) that had a network before this `up`.
    pub segments_before: Vec<String>,
    /// The segments whose network this `up` made (in a lab whose first network existed).
    pub segments_created: Vec<String>,
    pub netd_created: bool,
    pub vpn_created: bool,
    /// Names of the workloads the `up` set out to (re)create.
    pub to_start: Vec<String>,
    /// Workloads whose create failed half-way: swept by their marks.
    pub half_made: Vec<String>,
}

/// Removes what the journal and the handles say this `up` created, newest first.
pub(crate) async fn rollback(
    lab: &str,
    runtimes: &Runtimes,
    lab_dir: &Path,
    journal: &Journal,
    created: Vec<(Arc<dyn Runtime>, WorkloadHandle)>,
    progress: &Option<ProgressFn>,
) -> Vec<StepError> {
    tracing::warn!(lab, "rolling back what this up created");
    emit(progress, Progress::RollingBack);
    let mut errors = Vec::new();
    if journal.vpn_created
        && let Some(vpn) = &runtimes.vpn
    {
        match vpn.down(lab).await {
            Ok(_) => emit(
                progress,
                Progress::Removed {
                    what: "vpn gateway".into(),
                },
            ),
            Err(e) => errors.push(StepError::new("vpn gateway", e)),
        }
    }
    let mut handles = created;
    // A create that failed half-way may have left something the backend knows by its marks.
    if let Ok(actual) = list_actual(runtimes, lab, &[]).await {
        for s in actual {
            let ours = journal.half_made.contains(&s.handle.name)
                && s.role != Some(Role::Netd)
                && !handles.iter().any(|(_, h)| h.name == s.handle.name);
            if ours && let Ok(rt) = runtimes.for_kind(lab, s.handle.kind) {
                handles.push((rt.clone(), s.handle));
            }
        }
    }
    let removals = handles.into_iter().rev().map(|(rt, h)| async move {
        let r = rt.remove(&h).await;
        (h, r)
    });
    for (h, r) in futures::future::join_all(removals).await {
        match r {
            Ok(()) => emit(
                progress,
                Progress::Removed {
                    what: format!("{} {:?}", h.kind, h.name),
                },
            ),
            Err(e) => errors.push(StepError::new(format!("{} {:?}", h.kind, h.name), e)),
        }
    }
    if journal.netd_created
        && let Some(netd) = &runtimes.netd
    {
        match netd.remove(lab).await {
            Ok(_) => emit(
                progress,
                Progress::Removed {
                    what: "netd".into(),
                },
            ),
            Err(e) => errors.push(StepError::new("netd", e)),
        }
    }
    // The lab's network existed but this `up` made a segment's: it goes, with whatever this
    // `up` joined to it (a replaced netd).
    if !journal.network_created
        && !journal.segments_created.is_empty()
        && let Some(net) = &runtimes.network
    {
        match net
            .remove_segments(lab, &journal.segments_created, true)
            .await
        {
            Ok(gone) => {
                for seg in gone {
                    emit(
                        progress,
                        Progress::Removed {
                            what: format!("segment {seg}"),
                        },
                    );
                }
            }
            Err(e) => errors.push(StepError::new("segment networks", e)),
        }
    }
    // A lab this `up` made from nothing had no VM storage on any host either.
    if journal.network_created
        && let Some(set) = &runtimes.hosts
    {
        let (hosts, failed) = set.remove_storage(lab).await;
        for host in hosts {
            emit(
                progress,
                Progress::Removed {
                    what: format!("VM storage on host {host:?}"),
                },
            );
        }
        errors.extend(failed);
    }
    if journal.network_created
        && let Some(net) = &runtimes.network
    {
        match net.remove_network(lab).await {
            Ok(_) => emit(
                progress,
                Progress::Removed {
                    what: "network".into(),
                },
            ),
            Err(e) => errors.push(StepError::new("network", e)),
        }
        // A lab this `up` made from nothing had no volumes before it either.
        match net.remove_volumes(lab).await {
            Ok(names) => {
                for name in names {
                    emit(
                        progress,
                        Progress::Removed {
                            what: format!("volume {name}"),
                        },
                    );
                }
            }
            Err(e) => errors.push(StepError::new("volumes", e)),
        }
    }
    if journal.lab_dir_created
        && let Err(e) = std::fs::remove_dir_all(lab_dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        errors.push(StepError::new(
            format!("lab directory {}", lab_dir.display()),
            e,
        ));
    }
    errors
}
