//! One heal pass: look at what runs (without the lab lock), decide, and under the lock bring
//! back what is due through the same converge as `up` and record the outcome in the state
//! file.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::event::{EventKind, Events, LabEvent, NETD, VPN_GATEWAY};
use super::look::Seen;
use super::policy::{Decision, HealPolicy, Observed, decide};
use super::tracker::{Next, Tracker};
use crate::desired::DesiredLab;
use crate::error::HubError;
use crate::runtimes::Runtimes;
use crate::up::UpOptions;
use crate::up::lock::LabLock;
use crate::up::state::LabState;

/// Why watching ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PassEnd {
    /// The lab's state file is gone: it was taken down.
    LabGone,
    /// The state file records other spec hashes than the watcher's spec.
    SpecChanged,
}

/// The watcher's view of the lab between passes.
pub(crate) struct Pass<'a> {
    pub desired: &'a DesiredLab,
    pub runtimes: &'a Runtimes,
    pub opts: &'a UpOptions,
    pub policy: &'a HealPolicy,
    pub events: &'a Events,
    pub workloads: BTreeMap<String, Tracker>,
    pub netd: Tracker,
    pub vpn: Tracker,
    /// A failure (or its end) the state file does not record yet.
    pub dirty: bool,
}

/// What one pass brings back, each with its attempt number and drift.
#[derive(Debug, Default)]
pub(crate) struct Due {
    pub workloads: BTreeMap<String, (u32, String)>,
    pub netd: Option<(u32, String)>,
    pub vpn: Option<(u32, String)>,
    /// The soonest a waiting attempt is due.
    pub wait: Option<Duration>,
}

impl Due {
    fn any(&self) -> bool {
        !self.workloads.is_empty() || self.netd.is_some() || self.vpn.is_some()
    }
    fn wait_at_most(&mut self, d: Duration) {
        self.wait = Some(self.wait.map_or(d, |w| w.min(d)));
    }
}

/// Sends one event.
pub(crate) fn emit(
    events: &Events,
    lab: &str,
    workload: &str,
    kind: EventKind,
    reason: String,
    n: u32,
) {
    let mut e = LabEvent::new(lab, Some(workload), kind, reason);
    e.restart_count = n;
    events.send(e);
}

/// What the tracker of a drifted thing says now: tells the drift once, or the giving up.
/// `Some(attempt)` when it is to be brought back in this pass; `dirty` is set when the state
/// file must record a failure.
#[allow(clippy::too_many_arguments)]
fn consider(
    events: &Events,
    lab: &str,
    name: &str,
    t: &mut Tracker,
    now: Instant,
    policy: &HealPolicy,
    why: &str,
    due: &mut Due,
    dirty: &mut bool,
) -> Option<u32> {
    let news = t.drifted();
    let next = t.next(now, policy);
    if news && !matches!(next, Next::Failed | Next::GiveUp(_)) {
        emit(
            events,
            lab,
            name,
            EventKind::Drifted,
            why.into(),
            t.restarts,
        );
    }
    match next {
        Next::Failed => None,
        Next::GiveUp(reason) => {
            t.give_up(reason.clone());
            emit(events, lab, name, EventKind::Failed, reason, t.restarts);
            *dirty = true;
            None
        }
        Next::Wait(d) => {
            due.wait_at_most(d);
            None
        }
        Next::Attempt(n) => Some(n),
    }
}

impl Pass<'_> {
    pub(crate) fn lab(&self) -> &str {
        &self.desired.name
    }

    /// One pass; the time until the next one, or why watching ends. It looks without the lab
    /// lock (reading is harmless, and an `up` or `down` must not find the lock taken by a
    /// mere look), and takes the lock only to bring something back or record a failure: then
    /// it looks again under the lock, so it never acts on what an `up` or `down` just changed.
    pub(crate) async fn run(&mut self) -> Result<Result<Duration, PassEnd>, HubError> {
        let lab = self.lab().to_string();
        if let Err(end) = self.lab_is_up(&lab)? {
            return Ok(Err(end));
        }
        let seen = self.observe(&lab).await?;
        let mut due = self.act(&lab, &seen);
        if due.any() || self.dirty {
            let _lock = match LabLock::acquire(&self.opts.state_root, &lab, false).await {
                Ok(l) => l,
                Err(HubError::Locked { pid, .. }) => {
                    tracing::debug!(lab = %lab, ?pid, "the lab is locked (an up or down runs); heal put off");
                    return Ok(Ok(self.policy.interval));
                }
                Err(e) => return Err(e),
            };
            if let Err(end) = self.lab_is_up(&lab)? {
                return Ok(Err(end));
            }
            if due.any() {
                let again = self.observe(&lab).await?;
                self.drop_fine(&mut due, &again);
            }
            if due.any() {
                self.heal(&due).await;
            }
            self.record()?;
            self.dirty = false;
        }
        due.wait_at_most(self.policy.interval);
        Ok(Ok(due.wait.unwrap_or(self.policy.interval)))
    }

    /// Whether the lab is up with the watcher's spec: its state file exists and records the
    /// same workloads with the same spec hashes.
    fn lab_is_up(&self, lab: &str) -> Result<Result<(), PassEnd>, HubError> {
        let Some(state) = LabState::load(lab, &self.opts.lab_dir)? else {
            return Ok(Err(PassEnd::LabGone));
        };
        let recorded: BTreeMap<&str, &str> = state
            .workloads
            .iter()
            .map(|w| (w.name.as_str(), w.spec_hash.as_str()))
            .collect();
        let planned: BTreeMap<&str, &str> = self
            .desired
            .workloads
            .iter()
            .map(|w| (w.name(), w.spec.spec_hash()))
            .collect();
        Ok(if recorded == planned {
            Ok(())
        } else {
            Err(PassEnd::SpecChanged)
        })
    }

    /// Decides about what was seen: tells drifts and failures, returns what is due now.
    fn act(&mut self, lab: &str, seen: &Seen) -> Due {
        let now = Instant::now();
        let mut due = Due::default();
        let (events, policy) = (self.events, self.policy);
        for (w, observed) in self.desired.workloads.iter().zip(&seen.workloads) {
            let t = self.workloads.entry(w.name().to_string()).or_default();
            match decide(w.restart, w.spec.kind(), observed) {
                Decision::Fine => {
                    if *observed == Observed::Running && t.failure().is_some() {
                        // Someone brought it back (an `up`): it is no longer failed.
                        *t = Tracker::with_restarts(t.restarts);
                        self.dirty = true;
                    }
                    t.running(now, policy);
                }
                Decision::Leave(why) => {
                    if t.drifted() {
                        emit(events, lab, w.name(), EventKind::Left, why, t.restarts);
                    }
                }
                Decision::Heal(why) => {
                    let attempt = consider(
                        events,
                        lab,
                        w.name(),
                        t,
                        now,
                        policy,
                        &why,
                        &mut due,
                        &mut self.dirty,
                    );
                    if let Some(n) = attempt {
                        due.workloads.insert(w.name().to_string(), (n, why));
                    }
                }
            }
        }
        for (seen, t, name, slot) in [
            (&seen.netd, &mut self.netd, NETD, &mut due.netd),
            (&seen.vpn, &mut self.vpn, VPN_GATEWAY, &mut due.vpn),
        ] {
            match seen {
                Some(Some(why)) => {
                    let mut wait = Due::default();
                    if let Some(n) = consider(
                        events,
                        lab,
                        name,
                        t,
                        now,
                        policy,
                        why,
                        &mut wait,
                        &mut self.dirty,
                    ) {
                        *slot = Some((n, why.clone()));
                    }
                    if let Some(d) = wait.wait {
                        due.wait = Some(due.wait.map_or(d, |w| w.min(d)));
                    }
                }
                Some(None) => t.running(now, policy),
                None => {}
            }
        }
        due
    }

    /// Drops from `due` what runs again by the second look (an `up` brought it back).
    fn drop_fine(&mut self, due: &mut Due, again: &Seen) {
        for (w, observed) in self.desired.workloads.iter().zip(&again.workloads) {
            if due.workloads.contains_key(w.name())
                && decide(w.restart, w.spec.kind(), observed) == Decision::Fine
            {
                due.workloads.remove(w.name());
            }
        }
        if again.netd == Some(None) {
            due.netd = None;
        }
        if again.vpn == Some(None) {
            due.vpn = None;
        }
    }

    /// Writes every workload's restart count and failure into the state file.
    fn record(&self) -> Result<(), HubError> {
        let Some(mut state) = LabState::load(self.lab(), &self.opts.lab_dir)? else {
            return Ok(());
        };
        let before = state.clone();
        state.netd_restarts = self.netd.restarts;
        state.vpn_restarts = self.vpn.restarts;
        for r in &mut state.workloads {
            if let Some(t) = self.workloads.get(&r.name) {
                r.restarts = t.restarts;
                r.failed = t.failure().map(str::to_string);
            }
        }
        if state != before {
            state.save(&self.opts.lab_dir)?;
        }
        Ok(())
    }
}
