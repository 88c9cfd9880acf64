//! The lab lock, dropping a `Lab` on both runtime flavours, interruption, admission control
//! and the state file's atomicity.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::Fx;
use hub_core::scheduler::{Node, NodeMetrics, StaticMetrics};
use hub_core::state::{LabLock, LabState};
use hub_core::{Container, HubError, Vm};
use tokio_util::sync::CancellationToken;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Counts the hub's "waiting for the lab lock" log events.
#[derive(Clone, Default)]
struct LockWaits(Arc<AtomicUsize>);

impl LockWaits {
    fn seen(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl<S: tracing::Subscriber> Layer<S> for LockWaits {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        struct Message(bool);
        impl Visit for Message {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 |= format!("{value:?}").contains("waiting for the lab lock");
                }
            }
        }
        let mut m = Message(false);
        event.record(&mut m);
        if m.0 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

// A current-thread runtime: both futures run on this thread, under this thread's subscriber.
#[tokio::test]
async fn a_second_concurrent_up_fails_naming_the_holder_or_waits() {
    let waits = LockWaits::default();
    let _subscriber =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(waits.clone()));
    let fx = Fx::new();
    let lab = "t-hub-f-lock";
    let held = LabLock::acquire(fx.hub.state_root(), lab, false)
        .await
        .expect("lock");
    let err = fx
        .builder(lab, "10.205.30.0/24")
        .container(Container::new("a", "img"))
        .up()
        .await
        .expect_err("locked");
    match &err {
        HubError::Locked { pid, .. } => assert_eq!(*pid, Some(std::process::id())),
        other => panic!("unexpected {other}"),
    }
    assert!(
        err.to_string()
            .contains(&format!("process {}", std::process::id())),
        "{err}"
    );
    assert!(fx.rt.calls().is_empty(), "nothing may start while locked");
    assert_eq!(waits.seen(), 0, "an up without wait_for_lock waited");
    // With waiting, it waits (and starts nothing) while the lock is held, and proceeds once
    // the holder lets go.
    let waiting = fx
        .builder(lab, "10.205.30.0/24")
        .wait_for_lock(true)
        .container(Container::new("a", "img"))
        .up();
    let release = async {
        for _ in 0..500 {
            if waits.seen() >= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(waits.seen() >= 1, "the second up never waited for the lock");
        assert!(
            fx.rt.calls().is_empty(),
            "the waiting up started work while the lock was held: {:?}",
            fx.rt.calls()
        );
        drop(held);
    };
    let (lab_handle, ()) = tokio::join!(waiting, release);
    let lab_handle = lab_handle.expect("up after waiting");
    assert!(
        !fx.rt.calls().is_empty(),
        "the up did nothing after the wait"
    );
    drop(lab_handle);
    fx.assert_nothing_left(lab);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_ups_of_one_lab_one_wins_one_is_refused() {
    let fx = Fx::new();
    fx.rt.set_ready_delay(Duration::from_millis(200));
    let lab = "t-hub-f-race";
    let a = fx
        .builder(lab, "10.205.31.0/24")
        .container(Container::new("a", "img"))
        .up();
    let b = fx
        .builder(lab, "10.205.31.0/24")
        .container(Container::new("a", "img"))
        .up();
    let (ra, rb) = tokio::join!(a, b);
    let (ok, err) = match (ra, rb) {
        (Ok(l), Err(e)) | (Err(e), Ok(l)) => (l, e),
        (Ok(_), Ok(_)) => panic!("both ups ran"),
        (Err(a), Err(b)) => panic!("both failed: {a} / {b}"),
    };
    assert!(matches!(err, HubError::Locked { .. }), "{err}");
    drop(ok);
    fx.assert_nothing_left(lab);
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_a_lab_removes_it_on_a_multi_thread_runtime() {
    let fx = Fx::new();
    let lab = fx
        .demo("t-hub-f-dropmt", "10.205.32.0/24")
        .up()
        .await
        .expect("up");
    assert_eq!(fx.rt.workload_names("t-hub-f-dropmt").len(), 4);
    drop(lab);
    fx.assert_nothing_left("t-hub-f-dropmt");
}

#[tokio::test]
async fn dropping_a_lab_removes_it_on_a_current_thread_runtime() {
    let fx = Fx::new();
    let lab = fx
        .demo("t-hub-f-dropct", "10.205.33.0/24")
        .up()
        .await
        .expect("up");
    assert_eq!(fx.rt.workload_names("t-hub-f-dropct").len(), 4);
    drop(lab);
    fx.assert_nothing_left("t-hub-f-dropct");
}

#[test]
fn dropping_a_lab_outside_any_runtime_removes_it() {
    let fx = Fx::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let lab = rt
        .block_on(fx.demo("t-hub-f-dropnort", "10.205.34.0/24").up())
        .expect("up");
    drop(rt);
    drop(lab);
    fx.assert_nothing_left("t-hub-f-dropnort");
}

#[tokio::test]
async fn restart_stops_starts_and_waits_for_the_workload_and_refuses_one_not_in_the_spec() {
    let fx = Fx::new();
    let lab = fx
        .demo("t-hub-f-restart", "10.205.36.0/24")
        .up()
        .await
        .expect("up");
    let before = fx.rt.calls().len();
    lab.restart("db", std::time::Duration::from_secs(1))
        .await
        .expect("restart");
    let calls: Vec<String> = fx.rt.calls()[before..].to_vec();
    let ops: Vec<&str> = calls
        .iter()
        .filter(|c| c.ends_with(" db"))
        .map(|c| c.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(ops, ["Stop", "Start", "WaitReady"], "{calls:?}");
    let e = lab
        .restart("nope", std::time::Duration::from_secs(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"nope\"") && e.contains("not in the lab's spec"),
        "{e}"
    );
    lab.down().await.expect("down");
    fx.assert_nothing_left("t-hub-f-restart");
}

#[tokio::test]
async fn a_kept_lab_survives_its_handle_and_down_removes_it_later() {
    let fx = Fx::new();
    let lab = fx
        .demo("t-hub-f-keep", "10.205.35.0/24")
        .up()
        .await
        .expect("up")
        .keep();
    assert!(lab.is_kept());
    drop(lab);
    assert_eq!(fx.rt.workload_names("t-hub-f-keep").len(), 4);
    let hub = fx
        .demo("t-hub-f-keep", "10.205.35.0/24")
        .build()
        .expect("hub");
    // attach() gives a handle on the running lab that is kept on drop.
    let attached = Arc::new(hub).attach().await.expect("attach");
    assert_eq!(attached.ip("db").expect("ip").to_string(), "10.205.35.30");
    drop(attached);
    assert_eq!(fx.rt.workload_names("t-hub-f-keep").len(), 4);
    fx.demo("t-hub-f-keep", "10.205.35.0/24")
        .build()
        .expect("hub")
        .down()
        .await
        .expect("down");
    fx.assert_nothing_left("t-hub-f-keep");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_an_up_stops_the_work_in_flight_and_rolls_back() {
    let fx = Fx::new();
    // A readiness wait that would outlast any test run: only a cancellation ends it.
    fx.rt.set_ready_delay(Duration::from_secs(24 * 3600));
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let rt = fx.rt.clone();
    let cancelled_in_flight = tokio::spawn(async move {
        // Cancel once a readiness wait is in flight.
        for _ in 0..3000 {
            if rt.calls().iter().any(|c| c.starts_with("WaitReady ")) {
                trigger.cancel();
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        trigger.cancel();
        false
    });
    let up = fx
        .demo("t-hub-f-cancel", "10.205.36.0/24")
        .cancel_token(cancel)
        .up();
    // Bounded: without the cancellation reaching the wait, this would last a day.
    let err = tokio::time::timeout(Duration::from_secs(120), up)
        .await
        .expect("the readiness wait in flight was not cancelled")
        .expect_err("interrupted");
    assert!(
        cancelled_in_flight.await.expect("trigger task"),
        "no readiness wait was in flight: {:?}",
        fx.rt.calls()
    );
    assert!(
        matches!(err, HubError::Interrupted { ref errors, .. } if errors.is_empty()),
        "{err}"
    );
    assert_eq!(err.exit_code(), 130);
    fx.assert_nothing_left("t-hub-f-cancel");
}

fn host(avail_gib: u64, cpus: u32) -> Arc<StaticMetrics> {
    Arc::new(StaticMetrics(vec![Node {
        name: "localhost".into(),
        metrics: Ok(NodeMetrics {
            cpus,
            memory_total_mb: 24 * 1024,
            memory_available_mb: avail_gib * 1024,
            load1: 0.2,
        }),
    }]))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lab_bigger_than_the_host_is_refused_before_anything_starts() {
    let fx = Fx::new();
    let image = fx.image();
    let err = fx
        .builder("t-hub-f-admit", "10.205.37.0/24")
        .metrics(host(23, 8))
        .vm(Vm::new("big1", &image).memory_mb(24 * 1024).vcpus(2))
        .vm(Vm::new("big2", &image).memory_mb(24 * 1024).vcpus(2))
        .up()
        .await
        .expect_err("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("lab needs 48 GiB of memory for its VMs, the host has 23 GiB available"),
        "{msg}"
    );
    assert!(
        fx.rt.calls().is_empty(),
        "something started: {:?}",
        fx.rt.calls()
    );
    assert!(!fx.lab_dir("t-hub-f-admit").exists());

    let err = fx
        .builder("t-hub-f-admit", "10.205.37.0/24")
        .metrics(host(23, 2))
        .vm(Vm::new("cpu1", &image).memory_mb(512).vcpus(2))
        .vm(Vm::new("cpu2", &image).memory_mb(512).vcpus(2))
        .up()
        .await
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("lab needs 4 CPUs for its VMs, the host has 2"),
        "{err}"
    );

    let failed = Arc::new(StaticMetrics(vec![Node {
        name: "localhost".into(),
        metrics: Err("no /proc".into()),
    }]));
    let err = fx
        .builder("t-hub-f-admit", "10.205.37.0/24")
        .metrics(failed)
        .container(Container::new("a", "img"))
        .up()
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("metrics could not be read"),
        "{err}"
    );
    assert!(fx.rt.calls().is_empty());
}

#[test]
fn the_state_file_is_replaced_atomically() {
    let dir = tempfile::tempdir().expect("dir");
    let net = hub_core::runtime::LabContext::for_tests("t-hub-f-state").network;
    let state = |n: usize| LabState {
        version: 1,
        lab: "t-hub-f-state".into(),
        network: net.clone(),
        domain: "x".repeat(n * 1000),
        netd: None,
        workloads: vec![],
        vpn: None,
        netd_restarts: 0,
        vpn_restarts: 0,
        hosts: vec![],
    };
    state(1).save(dir.path()).expect("save");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let path = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Every read sees a whole file, old or new.
                let s = LabState::load("t-hub-f-state", &path)
                    .expect("never torn")
                    .expect("present");
                assert!(s.domain.len() % 1000 == 0);
                reads += 1;
            }
            reads
        })
    };
    for i in 0..200 {
        state(1 + i % 50).save(dir.path()).expect("save");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().expect("reader") > 0);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(leftovers, vec!["state.json".to_string()]);
}
