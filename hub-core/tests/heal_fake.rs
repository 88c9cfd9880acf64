//! The reconciler's logic on the FakeRuntime: what it brings back, how it counts, when it
//! gives up, and that it yields to the lab lock and ends with the lab. The same behaviours on
//! the real engines: hub-cli/tests/heal_real.rs.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Fx;
use hub_core::heal::{EventKind, HealPolicy, LabEvent, NETD, VPN_GATEWAY, WatchEnd};
use hub_core::runtime::{FakeOp, RestartPolicy, Runtime, WorkloadHandle, WorkloadKind};
use hub_core::state::{LabLock, LabState};
use hub_core::{Container, Hub, Vm, Vpn};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Fast enough for a test; the same shape as the defaults.
fn fast() -> HealPolicy {
    HealPolicy {
        interval: Duration::from_millis(20),
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(80),
        max_attempts: 3,
        stable_after: Duration::from_secs(30),
    }
}

struct Watching {
    hub: Arc<Hub>,
    events: broadcast::Receiver<LabEvent>,
    seen: Vec<LabEvent>,
    cancel: CancellationToken,
    task: JoinHandle<Result<WatchEnd, hub_core::HubError>>,
}

impl Watching {
    /// Brings the lab of `builder` up and starts watching it.
    /// The hub's own `up` and `down` wait for the lock: a heal in progress holds it.
    async fn start(builder: hub_core::HubBuilder, policy: HealPolicy) -> Watching {
        let hub = Arc::new(builder.wait_for_lock(true).build().expect("hub"));
        let _ = hub.clone().up().await.expect("up").keep();
        let watcher = hub.clone().watcher(policy);
        let events = watcher.subscribe();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(watcher.run(cancel.clone()));
        let mut w = Watching {
            hub,
            events,
            seen: Vec::new(),
            cancel,
            task,
        };
        w.until(None, EventKind::Watching).await;
        w
    }

    /// Waits (at most 10 s) for an event of `kind` about `workload` and returns it.
    async fn until(&mut self, workload: Option<&str>, kind: EventKind) -> LabEvent {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let e = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no {kind} event for {workload:?} within 10 s; saw {:#?}",
                        self.seen
                    )
                })
                .expect("the event channel is open");
            self.seen.push(e.clone());
            if e.kind == kind && e.workload.as_deref() == workload {
                return e;
            }
        }
    }

    fn state(&self) -> LabState {
        LabState::load(self.hub.lab_name(), self.hub.lab_dir_path())
            .expect("state file reads")
            .expect("state file exists")
    }

    async fn stop(self) -> WatchEnd {
        self.cancel.cancel();
        self.task.await.expect("watcher task").expect("watcher")
    }
}

/// A lab of one container, `web`, restarted always.
fn one_web(fx: &Fx, lab: &str, subnet: &str) -> hub_core::HubBuilder {
    fx.builder(lab, subnet)
        .container(Container::new("web", "hub-test/busybox").restart(RestartPolicy::Always))
}

fn handle(lab: &str, name: &str, kind: WorkloadKind) -> WorkloadHandle {
    WorkloadHandle {
        lab: lab.into(),
        name: name.into(),
        kind,
        id: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn what_drifts_comes_back_by_its_policy_at_its_address_and_mac() {
    let fx = Fx::new();
    let lab = "t-hub-heal-1";
    let builder = fx
        .builder(lab, "10.233.201.0/24")
        .container(Container::new("web", "hub-test/busybox").restart(RestartPolicy::Always))
        .container(Container::new("keep", "hub-test/busybox"))
        .vm(Vm::new("vm1", fx.image()).restart(RestartPolicy::OnFailure))
        .vpn(Vpn::new("10.233.202.0/24").peer("laptop"));
    let mut w = Watching::start(builder, fast()).await;
    let before = w.state();
    let planned = |n: &str| {
        let r = before.workload(n).expect("recorded");
        (r.ip, r.mac)
    };

    // A container removed by hand comes back, counted, at its address and MAC.
    fx.rt
        .remove(&handle(lab, "web", WorkloadKind::Container))
        .await
        .expect("rm");
    let drift = w.until(Some("web"), EventKind::Drifted).await;
    assert_eq!(drift.reason, "the container is gone");
    let back = w.until(Some("web"), EventKind::Restarted).await;
    assert_eq!(back.restart_count, 1);
    assert_eq!((back.ip, back.mac), planned("web"));
    assert!(fx.rt.workload_names(lab).contains(&"web".to_string()));

    // A VM shut off comes back by on-failure.
    fx.rt
        .stop(&handle(lab, "vm1", WorkloadKind::Vm), Duration::ZERO)
        .await
        .expect("stop");
    let back = w.until(Some("vm1"), EventKind::Restarted).await;
    assert_eq!((back.ip, back.mac), planned("vm1"));

    // netd and the gateway come back.
    fx.svc.lose(true, true);
    w.until(Some(NETD), EventKind::Restarted).await;
    w.until(Some(VPN_GATEWAY), EventKind::Restarted).await;
    assert!(fx.svc.netd(lab).is_some() && fx.svc.vpn_up(lab));

    // Restart policy `no`: the drift is told, the container stays gone.
    fx.rt
        .remove(&handle(lab, "keep", WorkloadKind::Container))
        .await
        .expect("rm");
    let left = w.until(Some("keep"), EventKind::Left).await;
    assert_eq!(
        left.reason,
        "the container is gone; restart policy no leaves it"
    );

    // The counts are in the state file and in status; `keep` shows as missing.
    let state = w.state();
    assert_eq!(state.workload("web").expect("web").restarts, 1);
    assert_eq!(state.workload("vm1").expect("vm1").restarts, 1);
    assert_eq!((state.netd_restarts, state.vpn_restarts), (1, 1));
    let st = w.hub.status().await.expect("status");
    let row = |n: &str| {
        st.workloads
            .iter()
            .find(|r| r.name == n)
            .expect("row")
            .clone()
    };
    assert_eq!(row("web").restarts, 1);
    assert_eq!(row("web").state_text(), "running");
    assert_eq!(row("keep").state_text(), "missing");
    assert!(!fx.rt.workload_names(lab).contains(&"keep".to_string()));

    // A second `up` keeps the counts (and brings `keep` back, as `up` does).
    let hub = w.hub.clone();
    assert_eq!(w.stop().await, WatchEnd::Cancelled);
    let again = hub.clone().up().await.expect("up again").keep();
    assert_eq!(again.workload("web").expect("web").restarts, 1);
    hub.down().await.expect("down");
    fx.assert_nothing_left(lab);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workload_that_cannot_come_back_ends_failed_with_the_reason() {
    let fx = Fx::new();
    let lab = "t-hub-heal-2";
    let mut w = Watching::start(one_web(&fx, lab, "10.233.203.0/24"), fast()).await;
    fx.rt.fail(FakeOp::Create, "web");
    fx.rt
        .remove(&handle(lab, "web", WorkloadKind::Container))
        .await
        .expect("rm");
    let first = w.until(Some("web"), EventKind::RestartFailed).await;
    assert!(first.reason.contains("next attempt in"), "{}", first.reason);
    let failed = w.until(Some("web"), EventKind::Failed).await;
    assert!(
        failed
            .reason
            .starts_with("gave up after 3 attempts in a row: "),
        "{}",
        failed.reason
    );
    assert!(failed.reason.contains("injected"), "{}", failed.reason);
    let attempts = w
        .seen
        .iter()
        .filter(|e| e.kind == EventKind::Restarting)
        .count();
    assert_eq!(attempts, 3, "{:#?}", w.seen);
    // It stays failed: no more attempts, the state file and status say why.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok(e) = w.events.try_recv() {
        assert_ne!(
            e.kind,
            EventKind::Restarting,
            "attempted after giving up: {e:?}"
        );
    }
    let rec = w.state().workload("web").expect("web").clone();
    assert_eq!(rec.failed.as_deref(), Some(failed.reason.as_str()));
    let st = w.hub.status().await.expect("status");
    assert_eq!(st.workloads[0].state_text(), "failed");
    // A watcher started later knows it failed and leaves it.
    let hub = w.hub.clone();
    w.stop().await;
    fx.rt.clear_failures();
    let watcher = hub.clone().watcher(fast());
    let mut events = watcher.subscribe();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(watcher.run(cancel.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    cancel.cancel();
    assert_eq!(
        task.await.expect("task").expect("watch"),
        WatchEnd::Cancelled
    );
    while let Ok(e) = events.try_recv() {
        assert!(
            matches!(e.kind, EventKind::Watching | EventKind::Stopped),
            "a failed workload was touched: {e:?}"
        );
    }
    hub.down().await.expect("down");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pass_waits_for_the_lab_lock_and_watching_ends_with_the_lab() {
    let fx = Fx::new();
    let lab = "t-hub-heal-3";
    let mut w = Watching::start(one_web(&fx, lab, "10.233.204.0/24"), fast()).await;
    let lock = LabLock::acquire(fx.hub.state_root(), lab, false)
        .await
        .expect("lock");
    fx.rt
        .remove(&handle(lab, "web", WorkloadKind::Container))
        .await
        .expect("rm");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !fx.rt.workload_names(lab).contains(&"web".to_string()),
        "healed while another process held the lab lock"
    );
    drop(lock);
    w.until(Some("web"), EventKind::Restarted).await;
    w.hub.down().await.expect("down");
    w.until(None, EventKind::LabGone).await;
    let end = w.task.await.expect("task").expect("watch");
    assert_eq!(end, WatchEnd::LabGone);
    fx.assert_nothing_left(lab);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_up_of_another_spec_ends_watching_instead_of_a_fight() {
    let fx = Fx::new();
    let lab = "t-hub-heal-4";
    let mut w = Watching::start(one_web(&fx, lab, "10.233.206.0/24"), fast()).await;
    let other = fx
        .builder(lab, "10.233.206.0/24")
        .container(
            Container::new("web", "hub-test/busybox")
                .cmd(["sleep", "1"])
                .restart(RestartPolicy::Always),
        )
        .wait_for_lock(true)
        .up()
        .await
        .expect("up of another spec")
        .keep();
    w.until(None, EventKind::SpecChanged).await;
    assert_eq!(
        w.task.await.expect("task").expect("watch"),
        WatchEnd::SpecChanged
    );
    // The new spec's container runs, untouched by the old watcher.
    assert_eq!(fx.rt.workload_names(lab), ["web"]);
    other.down().await.expect("down");
}
