//! What runs of a managed lab, as last observed: `GET /labs/{lab}` answers from it, so that a
//! status stays quick while the engines are busy with other labs' `up`s. An observation older
//! than [`FRESH`] is still answered (its age in the answer) while a new one is made in the
//! background, one at a time; every operation of the lab observes it again when it ends.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hub_core::LabStatus;

/// How long an observation is answered without making a new one.
pub(crate) const FRESH: Duration = Duration::from_secs(1);

/// The last observation of a lab.
#[derive(Default)]
pub(crate) struct Observed {
    last: Mutex<Option<(Instant, LabStatus)>>,
    refreshing: AtomicBool,
}

impl Observed {
    /// The last observation and its age.
    pub(crate) fn get(&self) -> Option<(Duration, LabStatus)> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.as_ref().map(|(at, st)| (at.elapsed(), st.clone()))
    }

    /// Records a new observation.
    pub(crate) fn set(&self, status: LabStatus) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), status));
    }

    /// True when the caller is to make the next observation (nobody else is making one).
    pub(crate) fn begin_refresh(&self) -> bool {
        self.refreshing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The observation begun with [`Observed::begin_refresh`] is done (or failed).
    pub(crate) fn end_refresh(&self) {
        self.refreshing.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_refresh_at_a_time_and_ages_grow() {
        let o = Observed::default();
        assert!(o.get().is_none());
        o.set(LabStatus {
            lab: "sv".into(),
            network: None,
            netd: None,
            workloads: Vec::new(),
            vpn: None,
            vpn_restarts: 0,
        });
        let (age, st) = o.get().unwrap();
        assert!(age < FRESH);
        assert_eq!(st.lab, "sv");
        assert!(o.begin_refresh());
        assert!(!o.begin_refresh());
        o.end_refresh();
        assert!(o.begin_refresh());
    }
}
