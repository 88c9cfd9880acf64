//! What the reconciler tells: typed events on a broadcast channel, each also a log line with
//! `lab` and `workload` fields.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::{SystemTime, UNIX_EPOCH};

use hub_runtime::MacAddr;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// The name events use for the lab's netd.
pub const NETD: &str = "netd";
/// The name events use for the lab's WireGuard gateway.
pub const VPN_GATEWAY: &str = "wireguard";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// The reconciler started watching the lab.
    Watching,
    /// A workload (or netd, or the gateway) is not as planned; `reason` says how.
    Drifted,
    /// It drifted, and its restart policy leaves it so.
    Left,
    /// An attempt to bring it back begins.
    Restarting,
    /// It is back, at its planned address and MAC.
    Restarted,
    /// An attempt failed; another follows after the backoff.
    RestartFailed,
    /// The reconciler gave up on it: it stays `failed` with `reason`.
    Failed,
    /// The lab was taken down (or never was up): watching ends.
    LabGone,
    /// The lab was brought up again with another spec: watching ends.
    SpecChanged,
    /// Watching ended because the caller asked.
    Stopped,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventKind::Watching => "watching",
            EventKind::Drifted => "drifted",
            EventKind::Left => "left",
            EventKind::Restarting => "restarting",
            EventKind::Restarted => "restarted",
            EventKind::RestartFailed => "restart-failed",
            EventKind::Failed => "failed",
            EventKind::LabGone => "lab-gone",
            EventKind::SpecChanged => "spec-changed",
            EventKind::Stopped => "stopped",
        })
    }
}

/// One change the reconciler saw or made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabEvent {
    /// The lab.
    pub lab: String,
    /// The workload, [`NETD`] or [`VPN_GATEWAY`]; `None` for the lab as a whole.
    pub workload: Option<String>,
    /// What happened.
    pub kind: EventKind,
    /// Why, in words (the drift, the error, the reason of giving up); empty when nothing more
    /// is to say.
    pub reason: String,
    /// How many times the reconciler has brought it back so far.
    pub restart_count: u32,
    /// Its address, once restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    /// Its MAC, once restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// When, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
}

impl LabEvent {
    /// An event of `lab` about `workload`, now.
    pub fn new(lab: &str, workload: Option<&str>, kind: EventKind, reason: String) -> Self {
        LabEvent {
            lab: lab.to_string(),
            workload: workload.map(str::to_string),
            kind,
            reason,
            restart_count: 0,
            ip: None,
            mac: None,
            at_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

impl fmt::Display for LabEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.workload.as_deref().unwrap_or("lab"),
            self.kind
        )?;
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        if let Some(ip) = self.ip {
            write!(f, " at {ip}")?;
        }
        if let Some(mac) = self.mac {
            write!(f, " ({mac})")?;
        }
        if self.restart_count > 0 {
            write!(f, " [restarts: {}]", self.restart_count)?;
        }
        Ok(())
    }
}

/// Sends events to the channel's subscribers (none is fine) and to the log.
#[derive(Debug, Clone)]
pub(crate) struct Events(pub broadcast::Sender<LabEvent>);

impl Events {
    pub(crate) fn send(&self, e: LabEvent) {
        let workload = e.workload.as_deref().unwrap_or("");
        match e.kind {
            EventKind::Failed | EventKind::RestartFailed => tracing::warn!(
                lab = %e.lab, workload, kind = %e.kind, reason = %e.reason,
                restarts = e.restart_count, "heal"
            ),
            _ => tracing::info!(
                lab = %e.lab, workload, kind = %e.kind, reason = %e.reason,
                restarts = e.restart_count, "heal"
            ),
        }
        // No subscriber is no error: the log line has it.
        let _ = self.0.send(e);
    }
}
