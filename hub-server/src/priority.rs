//! Scheduling priority of the server's threads. The API's threads answer in a few
//! milliseconds of CPU, but on a busy host (20 labs' `up`s: dockerd, containerd, runc and
//! 100 containers starting on 2 cores) they waited for a core for most of a request's time
//! (measured in the `serve_load` bench from `/proc/PID/task/*/schedstat`). They run under
//! `SCHED_RR` at the lowest real-time priority, so a runnable API thread gets a core before
//! any ordinary thread; the operations' threads (`hub-ops`: `up`, `down`, observations, the
//! healing loops) stay ordinary (`SCHED_OTHER`, nice 0), whatever thread made them.
//!
//! Real-time scheduling needs root (or `CAP_SYS_NICE`): without it the threads stay ordinary
//! and the server says so once in its log. The kernel's real-time throttling (95 % of each
//! second by default) keeps a runaway API thread from taking a core for good.

use std::sync::Once;

use thread_priority::{
    NormalThreadSchedulePolicy, RealtimeThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue,
    ThreadSchedulePolicy, set_thread_priority_and_policy, thread_native_id,
};

/// The crate's niceness mapping of `Crossplatform` values for `SCHED_OTHER`: 47 is nice 0.
const NICE_ZERO: u8 = 47;

static REFUSED: Once = Once::new();

/// Gives the calling thread the API's priority (`SCHED_RR`, the lowest real-time priority).
/// For the threads of the runtime that serves requests (`on_thread_start`) and the thread
/// that runs its accept loop. Not permitted: logged once, the thread stays as it was.
pub fn api_thread() {
    let rr = ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::RoundRobin);
    if let Err(e) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, rr) {
        REFUSED.call_once(|| {
            tracing::info!(
                error = ?e,
                "the API's threads keep the ordinary priority (real-time scheduling needs root \
                 or CAP_SYS_NICE): under load, answers wait for a core"
            );
        });
    }
}

/// Gives the calling thread the ordinary priority (`SCHED_OTHER`, nice 0), whatever its
/// creator had: for the operations' threads.
pub(crate) fn ordinary_thread() {
    let other = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
    let nice_zero = ThreadPriorityValue::try_from(NICE_ZERO).map(ThreadPriority::Crossplatform);
    match nice_zero {
        Ok(p) => {
            if let Err(e) = set_thread_priority_and_policy(thread_native_id(), p, other) {
                tracing::debug!(error = ?e, "could not make an operations thread ordinary");
            }
        }
        Err(e) => tracing::debug!(error = %e, "no ordinary priority value"),
    }
}

/// The runtime that serves the API: its threads (`hub-api`) get [`api_thread`]'s priority.
/// `hub serve` runs on it; call [`api_thread`] on the thread that drives it (`block_on`) too.
pub fn api_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("hub-api")
        .on_thread_start(api_thread)
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (scheduling policy, nice) of the calling thread, from `/proc/thread-self/stat`.
    fn policy_and_nice() -> (u64, i64) {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // Fields after the command (in parentheses): nice is field 19, policy field 41.
        let rest = stat.rsplit_once(')').unwrap().1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        (f[41 - 3].parse().unwrap(), f[19 - 3].parse().unwrap())
    }

    #[test]
    fn an_ordinary_thread_is_sched_other_at_nice_zero_even_when_made_by_a_real_time_one() {
        std::thread::spawn(|| {
            api_thread();
            let root = std::fs::read_to_string("/proc/self/status")
                .unwrap()
                .lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
            // SCHED_RR is 2 (permitted to root); SCHED_OTHER is 0.
            assert_eq!(policy_and_nice(), (if root { 2 } else { 0 }, 0));
            std::thread::spawn(|| {
                ordinary_thread();
                assert_eq!(policy_and_nice(), (0, 0));
            })
            .join()
            .unwrap();
        })
        .join()
        .unwrap();
    }
}
