//! The phases a workload passes on its way to ready, as its backend sees them, so that a long
//! wait (a VM's cold boot under TCG takes a minute) is visibly alive: see
//! [`Runtime::wait_ready_reporting`](crate::Runtime::wait_ready_reporting).

use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

/// One phase of readiness. A VM passes them in this order (a backend may not see every one:
/// without a serial firmware console there is no `Firmware` line to see).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ReadyPhase {
    /// The firmware runs (the domain started; SeaBIOS wrote to the console).
    Firmware,
    /// The guest kernel is booting.
    Kernel,
    /// The guest holds its address (it answered from it on the lab network).
    Lease(Ipv4Addr),
    /// SSH answers with the pinned host key.
    Ssh,
    /// cloud-init is still running its modules.
    CloudInit,
}

impl fmt::Display for ReadyPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadyPhase::Firmware => f.write_str("firmware"),
            ReadyPhase::Kernel => f.write_str("kernel"),
            ReadyPhase::Lease(ip) => write!(f, "lease {ip}"),
            ReadyPhase::Ssh => f.write_str("SSH"),
            ReadyPhase::CloudInit => f.write_str("cloud-init"),
        }
    }
}

/// Where a backend reports the phases it sees: each phase with the time since the wait began.
/// Cheap to clone; [`PhaseReporter::none`] drops the reports.
#[derive(Clone, Default)]
pub struct PhaseReporter(Option<Arc<dyn Fn(ReadyPhase, Duration) + Send + Sync>>);

impl PhaseReporter {
    /// Reports to `f`.
    pub fn new(f: impl Fn(ReadyPhase, Duration) + Send + Sync + 'static) -> Self {
        PhaseReporter(Some(Arc::new(f)))
    }

    /// Reports nowhere.
    pub fn none() -> Self {
        PhaseReporter(None)
    }

    /// Reports `phase`, reached `after` the wait began.
    pub fn report(&self, phase: ReadyPhase, after: Duration) {
        if let Some(f) = &self.0 {
            f(phase, after);
        }
    }
}

impl fmt::Debug for PhaseReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "PhaseReporter(..)"
        } else {
            "PhaseReporter(none)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn reports_reach_the_sink_in_order_and_none_drops_them() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let r = PhaseReporter::new(move |p, _| sink.lock().unwrap().push(p.to_string()));
        r.report(ReadyPhase::Kernel, Duration::ZERO);
        r.clone().report(
            ReadyPhase::Lease(Ipv4Addr::new(10, 0, 0, 5)),
            Duration::ZERO,
        );
        PhaseReporter::none().report(ReadyPhase::Ssh, Duration::ZERO);
        assert_eq!(*seen.lock().unwrap(), ["kernel", "lease 10.0.0.5"]);
        assert!(ReadyPhase::Firmware < ReadyPhase::Kernel);
        assert!(ReadyPhase::Lease(Ipv4Addr::new(10, 0, 0, 255)) < ReadyPhase::Ssh);
    }
}
