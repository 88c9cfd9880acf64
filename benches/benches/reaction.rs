//! How fast `up` reacts, on the in-memory fakes (no Docker, no libvirt), each figure beside a
//! baseline measured in the same run:
//!
//! - cancel: from `cancel()` to `up` returning `Interrupted` while a readiness wait (a day long)
//!   is in flight, the rollback included; baseline: a bare `tokio::select!` between a day-long
//!   sleep and the same kind of token.
//! - lock: an `up` with `wait_for_lock` while another process-level holder has the lab's lock,
//!   from the release to that `up` returning; baseline: the same `up` with the lock free.
//!
//! `cargo bench -p hub-benches --bench reaction` (`HUB_BENCH_REPS`, default 20).

use std::time::{Duration, Instant};

use hub_core::state::LabLock;
use hub_core::testing::TestHub;
use hub_core::{Container, HubBuilder};
use tokio_util::sync::CancellationToken;

fn lab(t: &TestHub, name: &str) -> HubBuilder {
    t.builder()
        .name(name)
        .network("10.205.250.0/24")
        .container(Container::new("web", "hub-test/busybox:latest"))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// From `cancel()` to `up` returning, with a readiness wait in flight.
async fn cancel_latency(i: usize) -> Duration {
    let t = TestHub::new();
    t.runtime.set_ready_delay(Duration::from_secs(24 * 3600));
    let cancel = CancellationToken::new();
    let up = tokio::spawn(
        lab(&t, &format!("t-bench-cancel-{i}"))
            .cancel_token(cancel.clone())
            .up(),
    );
    // Bounded: at most 30 s for the wait to be in flight.
    for _ in 0..3000 {
        if t.runtime
            .calls()
            .iter()
            .any(|c| c.starts_with("WaitReady "))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let at = Instant::now();
    cancel.cancel();
    let r = up.await.expect("up task");
    let took = at.elapsed();
    assert!(r.is_err(), "the up was not interrupted");
    took
}

/// The baseline: a bare select between a day-long sleep and a cancelled token.
async fn bare_cancel() -> Duration {
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let task = tokio::spawn(async move {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(24 * 3600)) => {}
            () = c.cancelled() => {}
        }
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    let at = Instant::now();
    cancel.cancel();
    task.await.expect("task");
    at.elapsed()
}

/// From releasing the lab lock to the waiting `up` returning; and the same `up` uncontended.
async fn lock_handoff(i: usize) -> (Duration, Duration) {
    let t = TestHub::new();
    let name = format!("t-bench-lock-{i}");
    let at = Instant::now();
    let lab1 = lab(&t, &name).up().await.expect("uncontended up");
    let free = at.elapsed();
    lab1.down().await.expect("down");
    let held = LabLock::acquire(t.state_root(), &name, false)
        .await
        .expect("the lock");
    let up = tokio::spawn(lab(&t, &name).wait_for_lock(true).up());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at = Instant::now();
    drop(held);
    let lab2 = up.await.expect("up task").expect("contended up");
    let contended = at.elapsed();
    lab2.down().await.expect("down");
    (contended, free)
}

#[tokio::main]
async fn main() {
    let reps: usize = std::env::var("HUB_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20usize)
        .max(1);
    let mut hub_cancel = Vec::new();
    let mut base_cancel = Vec::new();
    let mut handoff = Vec::new();
    let mut free = Vec::new();
    for i in 0..reps {
        hub_cancel.push(cancel_latency(i).await);
        base_cancel.push(bare_cancel().await);
        let (c, f) = lock_handoff(i).await;
        handoff.push(c);
        free.push(f);
    }
    println!("reaction of `up` on the fakes (median of {reps}):");
    println!(
        "  cancel with a readiness wait in flight, to `up` returning  {:>10.2?}  (baseline: bare select {:.2?})",
        median(hub_cancel),
        median(base_cancel)
    );
    println!(
        "  lab lock released, to the waiting `up` returning          {:>10.2?}  (baseline: the same up, lock free {:.2?})",
        median(handoff),
        median(free)
    );
}
