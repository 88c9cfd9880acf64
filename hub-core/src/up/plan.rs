//! The plan of an `up`: what runs compared with what the spec wants, by spec hash.

use std::collections::{BTreeMap, BTreeSet};

use hub_runtime::{Role, RuntimeError, WorkloadKind, WorkloadState, WorkloadStatus};

use crate::desired::DesiredLab;
use crate::error::HubError;
use crate::runtimes::Runtimes;

/// Why a workload is recreated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecreateReason {
    /// Its spec changed.
    SpecChanged,
    /// It exists but is not running.
    NotRunning(WorkloadState),
    /// It exists as another kind (a container became a VM).
    KindChanged,
}

/// What an `up` will do to the workloads.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Names of workloads to create.
    pub create: Vec<String>,
    /// Workloads to remove and create again, with why.
    pub recreate: Vec<(WorkloadStatus, RecreateReason)>,
    /// Workloads that left the spec.
    pub remove: Vec<WorkloadStatus>,
    /// Workloads already as specified.
    pub unchanged: Vec<WorkloadStatus>,
    /// Workloads this converge leaves as they are though they differ from the spec (a heal
    /// pass starts only the workloads it heals), with what runs of them.
    pub skipped: Vec<(String, Option<WorkloadStatus>)>,
}

impl Plan {
    /// Names of the workloads this plan (re)creates.
    pub fn to_start(&self) -> Vec<String> {
        let mut v = self.create.clone();
        v.extend(self.recreate.iter().map(|(s, _)| s.handle.name.clone()));
        v
    }

    /// Keeps only the (re)creations of `names`: the others are skipped, and nothing is
    /// removed (a heal pass brings back what is gone; it never takes a spec change apart).
    pub fn restrict(&mut self, names: &BTreeSet<String>) {
        for n in std::mem::take(&mut self.create) {
            if names.contains(&n) {
                self.create.push(n);
            } else {
                self.skipped.push((n, None));
            }
        }
        for (s, why) in std::mem::take(&mut self.recreate) {
            if names.contains(&s.handle.name) {
                self.recreate.push((s, why));
            } else {
                self.skipped.push((s.handle.name.clone(), Some(s)));
            }
        }
        self.remove.clear();
    }
}

/// Compares the spec with what runs.
pub fn diff(desired: &DesiredLab, actual: &[WorkloadStatus]) -> Plan {
    let mut by_name: BTreeMap<&str, &WorkloadStatus> = BTreeMap::new();
    for s in actual.iter().filter(|s| s.role != Some(Role::Netd)) {
        by_name.insert(&s.handle.name, s);
    }
    let mut plan = Plan::default();
    for w in &desired.workloads {
        match by_name.remove(w.name()) {
            None => plan.create.push(w.name().to_string()),
            Some(s) => {
                let reason = if s.handle.kind != w.spec.kind() {
                    Some(RecreateReason::KindChanged)
                } else if s.spec_hash.as_deref() != Some(w.spec.spec_hash()) {
                    Some(RecreateReason::SpecChanged)
                } else if !matches!(s.state, WorkloadState::Running | WorkloadState::Starting) {
                    Some(RecreateReason::NotRunning(s.state))
                } else {
                    None
                };
                match reason {
                    Some(r) => plan.recreate.push((s.clone(), r)),
                    None => plan.unchanged.push(s.clone()),
                }
            }
        }
    }
    plan.remove = by_name.into_values().cloned().collect();
    plan
}

/// Every workload of the lab in every runtime (netd's container included), each from the
/// runtime responsible for its kind. A backend whose daemon does not answer is skipped with a
/// warning unless it runs a kind in `required` (so a host without libvirt can still bring
/// container labs up and down).
pub async fn list_actual(
    runtimes: &Runtimes,
    lab: &str,
    required: &[WorkloadKind],
) -> Result<Vec<WorkloadStatus>, HubError> {
    let mut out: Vec<WorkloadStatus> = Vec::new();
    for (rt, kinds) in runtimes.distinct() {
        let listed = match rt.list(lab).await {
            Ok(l) => l,
            Err(e @ RuntimeError::DaemonUnavailable { .. })
                if !kinds.iter().any(|k| required.contains(k)) =>
            {
                tracing::warn!(lab, backend = rt.backend(), error = %e, "backend unavailable; skipped");
                continue;
            }
            Err(source) => {
                return Err(HubError::Runtime {
                    lab: lab.to_string(),
                    context: format!("listing the lab's workloads in {}", rt.backend()),
                    source: Box::new(source),
                });
            }
        };
        for s in listed {
            let netd = s.role == Some(Role::Netd);
            if (netd || kinds.contains(&s.handle.kind))
                && !out
                    .iter()
                    .any(|o| o.handle.name == s.handle.name && o.handle.kind == s.handle.kind)
            {
                out.push(s);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use hub_runtime::WorkloadHandle;

    use super::*;

    fn status(name: &str) -> WorkloadStatus {
        WorkloadStatus {
            handle: WorkloadHandle {
                lab: "l".into(),
                name: name.into(),
                kind: WorkloadKind::Container,
                id: format!("id-{name}"),
            },
            state: WorkloadState::Stopped,
            ip: None,
            mac: None,
            exit_code: Some(1),
            spec_hash: None,
            role: None,
            boot: None,
        }
    }

    #[test]
    fn a_restricted_plan_starts_only_the_named_and_removes_nothing() {
        let mut p = Plan {
            create: vec!["a".into(), "b".into()],
            recreate: vec![
                (
                    status("c"),
                    RecreateReason::NotRunning(WorkloadState::Stopped),
                ),
                (status("d"), RecreateReason::SpecChanged),
            ],
            remove: vec![status("e")],
            unchanged: vec![status("f")],
            skipped: Vec::new(),
        };
        p.restrict(&BTreeSet::from(["a".to_string(), "c".to_string()]));
        assert_eq!(p.to_start(), ["a", "c"]);
        assert!(p.remove.is_empty(), "a heal never removes");
        let skipped: Vec<(&str, bool)> = p
            .skipped
            .iter()
            .map(|(n, s)| (n.as_str(), s.is_some()))
            .collect();
        assert_eq!(skipped, [("b", false), ("d", true)]);
        assert_eq!(p.unchanged.len(), 1);
    }
}
