//! The one wait every backend polls with: a [`Deadline`] that knows when it started, when it
//! ends and whether the caller cancelled it, so each readiness or shutdown loop states only what
//! it looks at.
//!
//! ```
//! use std::time::Duration;
//! use hub_runtime::wait::{Deadline, Stop};
//! use tokio_util::sync::CancellationToken;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let cancel = CancellationToken::new();
//! let wait = Deadline::new(Duration::from_millis(50), &cancel);
//! let mut polls = 0;
//! let stop = loop {
//!     polls += 1; // look at the thing waited for here
//!     if let Err(stop) = wait.pause(Duration::from_millis(10)).await {
//!         break stop;
//!     }
//! };
//! assert_eq!(stop, Stop::Expired);
//! assert!(polls >= 2);
//! # });
//! ```

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What stands for "no deadline" when a timeout does not fit the clock (a spec's
/// `10000000000000h`): about 34 years.
pub const FOREVER: Duration = Duration::from_secs(1 << 30);

/// Why a wait ended without its thing happening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The caller cancelled it.
    Cancelled,
    /// The deadline passed.
    Expired,
}

/// A wait with a deadline and a cancel token.
#[derive(Debug, Clone)]
pub struct Deadline {
    start: Instant,
    end: Instant,
    limit: Duration,
    cancel: CancellationToken,
}

impl Deadline {
    /// A wait of `limit` from now (capped at [`FOREVER`]), cancelled with `cancel`.
    pub fn new(limit: Duration, cancel: &CancellationToken) -> Self {
        let limit = limit.min(FOREVER);
        let start = Instant::now();
        Deadline {
            start,
            end: start + limit,
            limit,
            cancel: cancel.clone(),
        }
    }

    /// How long it was given.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// How long it has run.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// How long is left (zero once past the deadline).
    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// `Err` once cancelled or past the deadline (cancellation first).
    pub fn check(&self) -> Result<(), Stop> {
        if self.cancel.is_cancelled() {
            Err(Stop::Cancelled)
        } else if Instant::now() >= self.end {
            Err(Stop::Expired)
        } else {
            Ok(())
        }
    }

    /// Sleeps `pause` (no further than the deadline), unless cancelled meanwhile; `Err` when
    /// the wait is over, so a poll loop ends with `wait.pause(p).await?`.
    pub async fn pause(&self, pause: Duration) -> Result<(), Stop> {
        self.check()?;
        tokio::select! {
            () = tokio::time::sleep(pause.min(self.remaining())) => {}
            () = self.cancel.cancelled() => {}
        }
        self.check()
    }

    /// Runs `work` until it finishes, the wait is cancelled or the deadline passes, whichever
    /// comes first (the unfinished `work` is dropped).
    pub async fn run<F: Future>(&self, work: F) -> Result<F::Output, Stop> {
        self.check()?;
        tokio::select! {
            out = work => Ok(out),
            () = self.cancel.cancelled() => Err(Stop::Cancelled),
            () = tokio::time::sleep_until(self.end) => Err(Stop::Expired),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_pause_ends_at_the_deadline() {
        let cancel = CancellationToken::new();
        let wait = Deadline::new(Duration::from_secs(5), &cancel);
        assert_eq!(wait.pause(Duration::from_secs(2)).await, Ok(()));
        assert_eq!(
            wait.pause(Duration::from_secs(60)).await,
            Err(Stop::Expired)
        );
        assert!(wait.elapsed() >= Duration::from_secs(5));
        assert!(
            wait.elapsed() < Duration::from_secs(6),
            "{:?}",
            wait.elapsed()
        );
        assert_eq!(wait.remaining(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn cancelling_ends_a_pause_and_a_run_at_once() {
        let cancel = CancellationToken::new();
        let wait = Deadline::new(Duration::from_secs(3600), &cancel);
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            c.cancel();
        });
        assert_eq!(
            wait.pause(Duration::from_secs(600)).await,
            Err(Stop::Cancelled)
        );
        assert!(wait.elapsed() < Duration::from_secs(2));
        assert_eq!(
            wait.run(std::future::pending::<()>()).await,
            Err(Stop::Cancelled)
        );
        assert_eq!(wait.check(), Err(Stop::Cancelled));
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_returns_the_work_or_expires() {
        let cancel = CancellationToken::new();
        let wait = Deadline::new(Duration::from_secs(10), &cancel);
        assert_eq!(wait.run(async { 7 }).await, Ok(7));
        assert_eq!(
            wait.run(std::future::pending::<()>()).await,
            Err(Stop::Expired)
        );
    }

    #[test]
    fn a_limit_too_long_for_the_clock_means_forever() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let wait = Deadline::new(Duration::MAX, &CancellationToken::new());
            assert_eq!(wait.limit(), FOREVER);
            assert!(wait.check().is_ok());
        });
    }
}
