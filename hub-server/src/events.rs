//! State changes as events: a broadcast bus the API streams as server-sent events
//! (`GET /events`). The healing loop publishes its own through [`crate::Server::publish`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::ToSchema;

/// How many events a slow subscriber may fall behind before it misses some.
const BACKLOG: usize = 1024;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// An `up` of a lab the server did not manage yet was accepted.
    LabAccepted,
    /// A lab came up for the first time.
    LabCreated,
    /// An `up` of a lab that existed finished.
    LabConverged,
    /// An `up` failed (and was rolled back).
    LabFailed,
    /// A lab was removed.
    LabDeleted,
    /// A workload is ready.
    WorkloadStarted,
    /// A workload was removed or stopped.
    WorkloadStopped,
    /// A workload failed.
    WorkloadFailed,
    /// A workload was restarted.
    WorkloadRestarted,
    /// The healing loop saw or did something (`message` says what: drifted, restarting,
    /// restarted, failed...).
    Heal,
}

/// One state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Its number, increasing from 1 in this run of the server.
    pub seq: u64,
    /// When, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// What happened.
    pub kind: EventKind,
    /// The lab.
    pub lab: String,
    /// The workload, for workload events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// Details in words.
    pub message: String,
}

/// The bus.
pub(crate) struct Bus {
    tx: broadcast::Sender<Event>,
    seq: AtomicU64,
}

impl Bus {
    pub(crate) fn new() -> Bus {
        Bus {
            tx: broadcast::channel(BACKLOG).0,
            seq: AtomicU64::new(0),
        }
    }

    /// Numbers, stamps, logs and sends an event.
    pub(crate) fn publish(
        &self,
        kind: EventKind,
        lab: &str,
        workload: Option<&str>,
        message: impl Into<String>,
    ) {
        let event = Event {
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            time_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            kind,
            lab: lab.to_string(),
            workload: workload.map(str::to_string),
            message: message.into(),
        };
        tracing::info!(lab, workload, kind = ?kind, message = %event.message, "event");
        // Nobody listening is fine.
        let _ = self.tx.send(event);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}
