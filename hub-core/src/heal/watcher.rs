//! [`Watcher`]: the loop that keeps one lab as planned.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::event::{EventKind, Events, LabEvent};
use super::pass::{Pass, PassEnd};
use super::policy::HealPolicy;
use super::tracker::Tracker;
use crate::error::HubError;
use crate::hub::Hub;
use crate::up::state::LabState;

/// How many events a subscriber may fall behind before it misses some.
pub const EVENT_CAPACITY: usize = 1024;

/// Why [`Watcher::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEnd {
    /// The caller's token was cancelled; the lab stays as it is.
    Cancelled,
    /// The lab was taken down (its state file is gone).
    LabGone,
    /// The lab was brought up again with another spec; watch it again with a hub of that spec.
    SpecChanged,
}

/// Keeps one lab as planned: every `interval` it takes the lab lock (skipping the pass when an
/// `up` or `down` holds it), compares what runs with the plan, and brings back what its
/// restart policy says to, through the same code as `up`, so a workload comes back with its
/// planned address and MAC. Backs off exponentially, counts restarts in the state file, and
/// gives up on a workload after [`HealPolicy::max_attempts`] attempts in a row (it is then
/// `failed`, with the reason, in `hub status`).
///
/// ```no_run
/// use std::sync::Arc;
/// use hub_core::heal::{HealPolicy, WatchEnd};
/// use tokio_util::sync::CancellationToken;
///
/// # async fn run() -> Result<(), hub_core::HubError> {
/// let hub = Arc::new(hub_core::Hub::from_file("lab.yaml")?.build()?);
/// let watcher = hub.watcher(HealPolicy::default());
/// let mut events = watcher.subscribe();
/// tokio::spawn(async move {
///     while let Ok(e) = events.recv().await {
///         println!("{e}"); // web restarted: the container is gone at 10.1.0.30 ... [restarts: 1]
///     }
/// });
/// let cancel = CancellationToken::new();
/// let end = watcher.run(cancel.clone()).await?; // until cancel.cancel(), or the lab goes
/// assert_ne!(end, WatchEnd::Cancelled);
/// # Ok(())
/// # }
/// ```
pub struct Watcher {
    hub: Arc<Hub>,
    policy: HealPolicy,
    events: broadcast::Sender<LabEvent>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("lab", &self.hub.lab_name())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Watcher {
    /// A watcher of the lab of `hub` with its own event channel.
    pub fn new(hub: Arc<Hub>, policy: HealPolicy) -> Self {
        Watcher {
            hub,
            policy,
            events: broadcast::channel(EVENT_CAPACITY).0,
        }
    }

    /// Sends the events to `sender` instead (one channel for the watchers of many labs).
    pub fn with_events(mut self, sender: broadcast::Sender<LabEvent>) -> Self {
        self.events = sender;
        self
    }

    /// A receiver of the events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LabEvent> {
        self.events.subscribe()
    }

    /// Watches until `cancel` fires, the lab is taken down, or it is brought up with another
    /// spec. Errors only when the lab's spec cannot be resolved or its backends cannot be
    /// reached at the start; a pass that fails later is logged and tried again.
    pub async fn run(self, cancel: CancellationToken) -> Result<WatchEnd, HubError> {
        let hub = self.hub.clone();
        let lab = hub.lab_name().to_string();
        let (desired, _) = hub.desired().await?;
        let runtimes = hub.runtimes().await?;
        let mut opts = hub.options();
        // A heal leaves what it made (the next pass looks at it again), reports no progress
        // bars, and never waits for the lock: an `up` or `down` holding it goes first.
        opts.rollback_on_failure = false;
        opts.wait_for_lock = false;
        opts.progress = None;
        opts.cancel = cancel.child_token();
        let events = Events(self.events.clone());
        let recorded = LabState::load(&lab, hub.lab_dir_path())?;
        let trackers: BTreeMap<String, Tracker> = recorded
            .iter()
            .flat_map(|s| &s.workloads)
            .map(|w| {
                let mut t = Tracker::with_restarts(w.restarts);
                if let Some(why) = &w.failed {
                    t.give_up(why.clone());
                }
                (w.name.clone(), t)
            })
            .collect();
        let mut pass = Pass {
            desired: &desired,
            runtimes,
            opts: &opts,
            policy: &self.policy,
            events: &events,
            workloads: trackers,
            netd: Tracker::with_restarts(recorded.as_ref().map_or(0, |s| s.netd_restarts)),
            vpn: Tracker::with_restarts(recorded.as_ref().map_or(0, |s| s.vpn_restarts)),
            dirty: false,
        };
        events.send(LabEvent::new(
            &lab,
            None,
            EventKind::Watching,
            format!(
                "every {:?}; backoff {:?} doubling to {:?}; failed after {} attempts in a row",
                self.policy.interval,
                self.policy.initial_backoff,
                self.policy.max_backoff,
                self.policy.max_attempts
            ),
        ));
        loop {
            let wait = match pass.run().await {
                Ok(Ok(wait)) => wait,
                Ok(Err(end)) => {
                    let (kind, reason, end) = match end {
                        PassEnd::LabGone => (
                            EventKind::LabGone,
                            "the lab is not up (its state file is gone)",
                            WatchEnd::LabGone,
                        ),
                        PassEnd::SpecChanged => (
                            EventKind::SpecChanged,
                            "the lab was brought up with another spec",
                            WatchEnd::SpecChanged,
                        ),
                    };
                    events.send(LabEvent::new(&lab, None, kind, reason.into()));
                    return Ok(end);
                }
                Err(e) => {
                    tracing::warn!(lab = %lab, error = %e, "heal pass failed; trying again");
                    self.policy.interval
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
                () = cancel.cancelled() => {
                    events.send(LabEvent::new(&lab, None, EventKind::Stopped, String::new()));
                    return Ok(WatchEnd::Cancelled);
                }
            }
        }
    }
}
