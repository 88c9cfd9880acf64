//! What the reconciler does about a workload, from its restart policy and what it sees.

use std::time::Duration;

use hub_runtime::{RestartPolicy, WorkloadKind, WorkloadState, WorkloadStatus};

/// How the reconciler heals: how often it looks, how it backs off, when it gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealPolicy {
    /// Time between two looks at the lab.
    pub interval: Duration,
    /// Wait before the second attempt in a row; each further attempt waits twice as long.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// Attempts in a row after which a workload that still does not run ends `failed`.
    pub max_attempts: u32,
    /// A workload that has run this long since its last restart is stable again: its count of
    /// attempts in a row starts over.
    pub stable_after: Duration,
}

impl Default for HealPolicy {
    fn default() -> Self {
        HealPolicy {
            interval: Duration::from_secs(2),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_attempts: 5,
            stable_after: Duration::from_secs(60),
        }
    }
}

impl HealPolicy {
    /// The wait before attempt number `streak` (0: the first of a row, at once; then
    /// `initial_backoff`, doubling, capped at `max_backoff`).
    pub fn backoff(&self, streak: u32) -> Duration {
        if streak == 0 {
            return Duration::ZERO;
        }
        let doublings = (streak - 1).min(31);
        self.initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff)
    }
}

/// What the reconciler sees of one workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// It runs (or is starting, or Docker is restarting it by its own policy).
    Running,
    /// Nothing of it exists (removed by hand, or a VM undefined).
    Gone,
    /// It exists but does not run; a container's exit code when it has one.
    Stopped(Option<i64>),
    /// A state the reconciler does not act on (paused, in shutdown...).
    Other(WorkloadState),
}

impl Observed {
    /// What a runtime's status (or its absence) says.
    pub fn of(status: Option<&WorkloadStatus>) -> Observed {
        match status {
            None => Observed::Gone,
            Some(s) => match s.state {
                WorkloadState::Running | WorkloadState::Starting | WorkloadState::Unhealthy => {
                    Observed::Running
                }
                WorkloadState::Stopped | WorkloadState::Created => Observed::Stopped(s.exit_code),
                WorkloadState::Unknown => Observed::Other(s.state),
            },
        }
    }

    /// The drift in words (`gone`, `stopped (exit code 137)`), `None` when it runs.
    pub fn drift(&self, kind: WorkloadKind) -> Option<String> {
        match self {
            Observed::Running | Observed::Other(_) => None,
            Observed::Gone => Some(format!("the {kind} is gone")),
            Observed::Stopped(Some(code)) => Some(format!("the {kind} stopped (exit code {code})")),
            Observed::Stopped(None) => Some(format!("the {kind} is not running")),
        }
    }
}

/// What to do about a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing: it runs, or is in a state left alone.
    Fine,
    /// It drifted, and its policy says to bring it back.
    Heal(String),
    /// It drifted, and its policy says to leave it (the reason says why).
    Leave(String),
}

/// The decision for a workload of `kind` under `policy` that the reconciler sees as
/// `observed`:
/// - `no`: never brought back; the drift is reported.
/// - `always`: brought back when gone or stopped.
/// - `on-failure`: brought back when gone, or stopped with a failure: a container's non-zero
///   exit code; a VM that is shut off (libvirt does not tell the hub an exit code).
/// - `unless-stopped`: brought back when gone; a stopped container stays stopped (Docker
///   restarts a crashed one by the same policy itself, so a stopped one was stopped by hand);
///   a VM that is shut off is brought back (the hub cannot tell a crash from a stop there).
pub fn decide(policy: RestartPolicy, kind: WorkloadKind, observed: &Observed) -> Decision {
    let Some(drift) = observed.drift(kind) else {
        return Decision::Fine;
    };
    let heal = match (policy, observed) {
        (RestartPolicy::No, _) => false,
        (RestartPolicy::Always, _) | (_, Observed::Gone) => true,
        (RestartPolicy::OnFailure, Observed::Stopped(code)) => {
            kind == WorkloadKind::Vm || *code != Some(0)
        }
        (RestartPolicy::UnlessStopped, Observed::Stopped(_)) => kind == WorkloadKind::Vm,
        (_, Observed::Running | Observed::Other(_)) => false,
    };
    if heal {
        Decision::Heal(drift)
    } else {
        Decision::Leave(format!(
            "{drift}; restart policy {} leaves it",
            policy_name(policy)
        ))
    }
}

/// The spec's word for a policy.
pub fn policy_name(p: RestartPolicy) -> &'static str {
    match p {
        RestartPolicy::No => "no",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::UnlessStopped => "unless-stopped",
        RestartPolicy::Always => "always",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: WorkloadKind = WorkloadKind::Container;
    const V: WorkloadKind = WorkloadKind::Vm;

    fn heals(p: RestartPolicy, k: WorkloadKind, o: Observed) -> bool {
        matches!(decide(p, k, &o), Decision::Heal(_))
    }

    #[test]
    fn backoff_starts_at_once_doubles_and_is_capped() {
        let p = HealPolicy {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(3),
            ..HealPolicy::default()
        };
        let waits: Vec<u128> = (0..6).map(|n| p.backoff(n).as_millis()).collect();
        assert_eq!(waits, [0, 500, 1000, 2000, 3000, 3000]);
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(3));
    }

    #[test]
    fn the_policy_table() {
        use RestartPolicy::*;
        for k in [C, V] {
            assert!(!heals(No, k, Observed::Gone));
            assert!(!heals(No, k, Observed::Stopped(Some(1))));
            assert!(heals(Always, k, Observed::Gone));
            assert!(heals(Always, k, Observed::Stopped(Some(0))));
            assert!(heals(OnFailure, k, Observed::Gone));
            assert!(heals(UnlessStopped, k, Observed::Gone));
            for p in [No, OnFailure, UnlessStopped, Always] {
                assert_eq!(decide(p, k, &Observed::Running), Decision::Fine);
                assert_eq!(
                    decide(p, k, &Observed::Other(WorkloadState::Unknown)),
                    Decision::Fine
                );
            }
        }
        assert!(heals(OnFailure, C, Observed::Stopped(Some(137))));
        assert!(!heals(OnFailure, C, Observed::Stopped(Some(0))));
        assert!(heals(OnFailure, V, Observed::Stopped(None)));
        assert!(!heals(UnlessStopped, C, Observed::Stopped(Some(137))));
        assert!(heals(UnlessStopped, V, Observed::Stopped(None)));
    }

    #[test]
    fn a_left_drift_says_why() {
        let d = decide(RestartPolicy::No, C, &Observed::Gone);
        assert_eq!(
            d,
            Decision::Leave("the container is gone; restart policy no leaves it".into())
        );
    }
}
