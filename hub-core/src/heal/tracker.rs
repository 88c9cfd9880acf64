//! The reconciler's memory of one thing it heals (a workload, netd, the VPN gateway): attempts
//! in a row, when the next one is due, whether it gave up.

use std::time::Duration;

use tokio::time::Instant;

use super::policy::HealPolicy;

/// What the tracker says about a thing that drifted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Heal it now; this is attempt number `attempt` in a row (1 for the first).
    Attempt(u32),
    /// Wait this long before the next attempt.
    Wait(Duration),
    /// Give up: too many attempts in a row (the reason says what happened last).
    GiveUp(String),
    /// It was given up on already.
    Failed,
}

/// One thing's healing history.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    /// Attempts since it was last stable.
    streak: u32,
    last_attempt: Option<Instant>,
    last_success: Option<Instant>,
    last_error: Option<String>,
    failed: Option<String>,
    drifting: bool,
    /// Restarts that brought it back, over its life (the state file keeps them for workloads).
    pub restarts: u32,
}

impl Tracker {
    /// A tracker that starts from the restart count the state file kept.
    pub fn with_restarts(restarts: u32) -> Self {
        Tracker {
            restarts,
            ..Tracker::default()
        }
    }

    /// It runs: once it has run `stable_after` since its last restart, a later drift starts a
    /// new row of attempts.
    pub fn running(&mut self, now: Instant, policy: &HealPolicy) {
        self.drifting = false;
        let stable = self
            .last_success
            .is_none_or(|t| now.saturating_duration_since(t) >= policy.stable_after);
        if stable && self.failed.is_none() {
            self.streak = 0;
            self.last_error = None;
        }
    }

    /// It drifted; returns whether this is news (the first look at this drift).
    pub fn drifted(&mut self) -> bool {
        !std::mem::replace(&mut self.drifting, true)
    }

    /// What to do about it now.
    pub fn next(&self, now: Instant, policy: &HealPolicy) -> Next {
        if self.failed.is_some() {
            return Next::Failed;
        }
        if self.streak >= policy.max_attempts {
            let last = self.last_error.clone().unwrap_or_else(|| {
                format!(
                    "it stopped again within {:?} of each of its last {} restarts",
                    policy.stable_after, self.streak
                )
            });
            return Next::GiveUp(format!(
                "gave up after {} attempts in a row: {last}",
                self.streak
            ));
        }
        let due = self
            .last_attempt
            .map(|t| t + policy.backoff(self.streak))
            .unwrap_or(now);
        if due > now {
            Next::Wait(due - now)
        } else {
            Next::Attempt(self.streak + 1)
        }
    }

    /// Records an attempt and its outcome.
    pub fn attempted(&mut self, now: Instant, outcome: Result<(), String>) {
        self.streak += 1;
        self.last_attempt = Some(now);
        match outcome {
            Ok(()) => {
                self.restarts += 1;
                self.last_success = Some(now);
                self.last_error = None;
                self.drifting = false;
            }
            Err(e) => self.last_error = Some(e),
        }
    }

    /// Records that the reconciler gave up.
    pub fn give_up(&mut self, reason: String) {
        self.failed = Some(reason);
    }

    /// Why it was given up on, if it was.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> HealPolicy {
        HealPolicy {
            interval: Duration::from_secs(1),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(4),
            max_attempts: 3,
            stable_after: Duration::from_secs(30),
        }
    }

    #[test]
    fn failures_back_off_then_give_up_with_the_last_error() {
        let p = policy();
        let t0 = Instant::now();
        let mut t = Tracker::default();
        assert!(t.drifted());
        assert!(!t.drifted(), "the same drift is news once");
        assert_eq!(t.next(t0, &p), Next::Attempt(1));
        t.attempted(t0, Err("image gone".into()));
        assert_eq!(t.next(t0, &p), Next::Wait(Duration::from_secs(1)));
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(t.next(t1, &p), Next::Attempt(2));
        t.attempted(t1, Err("image gone".into()));
        assert_eq!(t.next(t1, &p), Next::Wait(Duration::from_secs(2)));
        let t2 = t1 + Duration::from_secs(2);
        t.attempted(t2, Err("image still gone".into()));
        let Next::GiveUp(why) = t.next(t2 + Duration::from_secs(60), &p) else {
            panic!("expected to give up")
        };
        assert_eq!(why, "gave up after 3 attempts in a row: image still gone");
        t.give_up(why);
        assert_eq!(t.next(t2, &p), Next::Failed);
        assert_eq!(t.restarts, 0);
        t.running(t2 + Duration::from_secs(100), &p);
        assert_eq!(t.next(t2, &p), Next::Failed, "a failed thing stays failed");
    }

    #[test]
    fn a_success_counts_a_restart_and_a_stable_run_starts_a_new_row() {
        let p = policy();
        let t0 = Instant::now();
        let mut t = Tracker::with_restarts(4);
        t.attempted(t0, Ok(()));
        assert_eq!(t.restarts, 5);
        // Stopped again soon: the row goes on, with its backoff.
        t.running(t0 + Duration::from_secs(5), &p);
        assert_eq!(t.next(t0, &p), Next::Wait(Duration::from_secs(1)));
        // Ran long enough: a new drift is attempt 1 again, at once.
        t.running(t0 + Duration::from_secs(31), &p);
        assert_eq!(t.next(t0 + Duration::from_secs(31), &p), Next::Attempt(1));
    }

    #[test]
    fn a_crash_loop_gives_up_saying_so() {
        let p = policy();
        let mut now = Instant::now();
        let mut t = Tracker::default();
        for _ in 0..3 {
            now += Duration::from_secs(10);
            assert!(matches!(t.next(now, &p), Next::Attempt(_)));
            t.attempted(now, Ok(()));
            t.running(now + Duration::from_secs(1), &p);
        }
        let Next::GiveUp(why) = t.next(now + Duration::from_secs(10), &p) else {
            panic!("expected to give up")
        };
        assert!(why.contains("stopped again within 30s"), "{why}");
    }
}
