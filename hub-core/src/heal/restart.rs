//! Bringing back what a pass found due: one converge, then each outcome counted and told.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use hub_runtime::{MacAddr, WorkloadSpec};
use tokio::time::Instant;

use super::event::{EventKind, LabEvent, NETD, VPN_GATEWAY};
use super::pass::{Due, Pass, emit};
use super::tracker::{Next, Tracker};
use crate::error::{HubError, StepError};
use crate::up::converge_in_lock;
use crate::up::state::LabState;

impl Pass<'_> {
    /// Brings back what is due with one converge (which also brings netd and the gateway back
    /// when they are gone), and records each outcome.
    pub(crate) async fn heal(&mut self, due: &Due) {
        let lab = self.lab().to_string();
        for (name, (n, why)) in &due.workloads {
            let restarts = self.workloads.get(name).map_or(0, |t| t.restarts);
            self.restarting(&lab, name, *n, why, restarts);
        }
        if let Some((n, why)) = &due.netd {
            self.restarting(&lab, NETD, *n, why, self.netd.restarts);
        }
        if let Some((n, why)) = &due.vpn {
            self.restarting(&lab, VPN_GATEWAY, *n, why, self.vpn.restarts);
        }
        let names: BTreeSet<String> = due.workloads.keys().cloned().collect();
        let result = converge_in_lock(self.desired, self.runtimes, self.opts, Some(&names)).await;
        let now = Instant::now();
        let (state, errors) = match result {
            Ok((state, _)) => (Some(state), Vec::new()),
            Err(HubError::Up { errors, .. }) => (None, errors),
            Err(HubError::Interrupted { .. }) => return,
            Err(other) => (None, vec![StepError::new("heal", other)]),
        };
        let text = |errs: &[&StepError]| {
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        };
        let netd_errors: Vec<&StepError> = errors.iter().filter(|e| e.subject == "netd").collect();
        let general: Vec<&StepError> = errors
            .iter()
            .filter(|e| !e.subject.contains('"') && e.subject != "vpn gateway")
            .collect();
        for name in due.workloads.keys() {
            let quoted = format!("{name:?}");
            let own: Vec<&StepError> = errors
                .iter()
                .filter(|e| e.subject.ends_with(&quoted))
                .collect();
            let outcome = if !own.is_empty() {
                Err(text(&own))
            } else if !general.is_empty() {
                Err(text(&general))
            } else {
                Ok(())
            };
            let (ip, mac) = self.address_of(name, state.as_ref());
            let t = self.workloads.remove(name).unwrap_or_default();
            let t = self.outcome(&lab, name, t, outcome, now, ip, mac);
            self.workloads.insert(name.clone(), t);
        }
        if due.netd.is_some() {
            let outcome = if netd_errors.is_empty() && general.is_empty() {
                Ok(())
            } else {
                Err(text(if netd_errors.is_empty() {
                    &general
                } else {
                    &netd_errors
                }))
            };
            let ip = self.desired.netd_plan().map(|p| p.ip);
            let t = std::mem::take(&mut self.netd);
            self.netd = self.outcome(&lab, NETD, t, outcome, now, ip, None);
        }
        if due.vpn.is_some() {
            let vpn_errors: Vec<&StepError> = errors
                .iter()
                .filter(|e| e.subject == "vpn gateway")
                .collect();
            let outcome = if vpn_errors.is_empty() && errors.is_empty() {
                Ok(())
            } else if vpn_errors.is_empty() {
                Err(format!(
                    "not reached: {}",
                    text(&errors.iter().collect::<Vec<_>>())
                ))
            } else {
                Err(text(&vpn_errors))
            };
            let ip = self
                .desired
                .vpn
                .as_ref()
                .and_then(|v| v.subnet.hosts().next());
            let t = std::mem::take(&mut self.vpn);
            self.vpn = self.outcome(&lab, VPN_GATEWAY, t, outcome, now, ip, None);
        }
    }

    /// Tells that attempt `n` begins.
    fn restarting(&self, lab: &str, name: &str, n: u32, why: &str, restarts: u32) {
        let reason = format!("attempt {n} of {}: {why}", self.policy.max_attempts);
        emit(
            self.events,
            lab,
            name,
            EventKind::Restarting,
            reason,
            restarts,
        );
    }

    /// Records one attempt's outcome in its tracker and tells it; returns the tracker.
    #[allow(clippy::too_many_arguments)]
    fn outcome(
        &self,
        lab: &str,
        name: &str,
        mut t: Tracker,
        outcome: Result<(), String>,
        now: Instant,
        ip: Option<Ipv4Addr>,
        mac: Option<MacAddr>,
    ) -> Tracker {
        t.attempted(now, outcome.clone());
        match outcome {
            Ok(()) => {
                let mut e = LabEvent::new(lab, Some(name), EventKind::Restarted, String::new());
                e.restart_count = t.restarts;
                e.ip = ip;
                e.mac = mac;
                self.events.send(e);
            }
            Err(why) => {
                let reason = match t.next(now, self.policy) {
                    Next::Wait(d) => format!("{why}; next attempt in {d:?}"),
                    _ => why,
                };
                emit(
                    self.events,
                    lab,
                    name,
                    EventKind::RestartFailed,
                    reason,
                    t.restarts,
                );
            }
        }
        t
    }

    /// A workload's address and MAC as the converge recorded them, else as planned.
    fn address_of(
        &self,
        name: &str,
        state: Option<&LabState>,
    ) -> (Option<Ipv4Addr>, Option<MacAddr>) {
        if let Some(r) = state.and_then(|s| s.workload(name)) {
            return (r.ip, r.mac);
        }
        let w = self.desired.workloads.iter().find(|w| w.name() == name);
        let ip = w.and_then(|w| w.spec.ip());
        let mac = w.and_then(|w| match &w.spec {
            WorkloadSpec::Container(c) => c.mac,
            WorkloadSpec::Vm(v) => Some(v.mac),
        });
        (ip, mac)
    }
}
