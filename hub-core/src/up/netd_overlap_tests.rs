//! netd beside the containers: containers are created and started while netd comes up, count
//! as ready only once it runs, and a lab with a VM still brings netd up first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hub_runtime::{FakeRuntime, LabContext};

use crate::desired::NetdPlan;
use crate::error::BoxError;
use crate::services::{NetdOutcome, NetdService};
use crate::testing::{FakeServiceOp, FakeServices, TestHub};
use crate::{Container, HubBuilder, HubError, Progress, Vm};

/// The fake netd, which comes up only once a workload of the lab has been started, or, when no
/// start comes, after a bounded wait (50 polls): so containers that do not wait for netd are
/// seen starting before it is ready, whatever the machine's speed.
struct GatedNetd {
    services: FakeServices,
    runtime: FakeRuntime,
    /// Whether a workload had started when netd came up.
    saw_a_start: Arc<AtomicBool>,
}

#[async_trait]
impl NetdService for GatedNetd {
    async fn ensure(&self, lab: &LabContext, plan: &NetdPlan) -> Result<NetdOutcome, BoxError> {
        for _ in 0..50 {
            if self.runtime.calls().iter().any(|c| c.starts_with("Start ")) {
                self.saw_a_start.store(true, Ordering::SeqCst);
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.services.ensure(lab, plan).await
    }

    async fn exists(&self, lab: &str) -> Result<bool, BoxError> {
        self.services.exists(lab).await
    }

    async fn remove(&self, lab: &str) -> Result<bool, BoxError> {
        self.services.remove(lab).await
    }
}

struct Fx {
    hub: TestHub,
    rt: FakeRuntime,
    svc: FakeServices,
    events: Arc<Mutex<Vec<Progress>>>,
    saw_a_start: Arc<AtomicBool>,
}

impl Fx {
    fn new() -> Self {
        let hub = TestHub::new();
        Fx {
            rt: hub.runtime.clone(),
            svc: hub.services.clone(),
            hub,
            events: Arc::default(),
            saw_a_start: Arc::default(),
        }
    }

    fn builder(&self, lab: &str, subnet: &str) -> HubBuilder {
        let events = self.events.clone();
        self.hub
            .builder()
            .name(lab)
            .network(subnet)
            .netd(Arc::new(GatedNetd {
                services: self.svc.clone(),
                runtime: self.rt.clone(),
                saw_a_start: self.saw_a_start.clone(),
            }))
            .on_progress(move |p| {
                events
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(p.clone())
            })
            .container(Container::new("db", "hub-test/busybox"))
            .container(Container::new("web", "hub-test/busybox").depends_on("db"))
    }

    /// The position of the first event matching `f`.
    fn at(&self, what: &str, f: impl Fn(&Progress) -> bool) -> usize {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events
            .iter()
            .position(f)
            .unwrap_or_else(|| panic!("no {what} event in {events:?}"))
    }
}

fn starting(name: &'static str) -> impl Fn(&Progress) -> bool {
    move |p| matches!(p, Progress::WorkloadStarting { name: n, .. } if n == name)
}

fn ready(name: &'static str) -> impl Fn(&Progress) -> bool {
    move |p| matches!(p, Progress::WorkloadReady { name: n, .. } if n == name)
}

fn netd_ready(p: &Progress) -> bool {
    matches!(p, Progress::NetdReady { .. })
}

#[tokio::test(flavor = "multi_thread")]
async fn containers_start_while_netd_comes_up_and_are_ready_only_after_it() {
    let fx = Fx::new();
    let _lab = fx
        .builder("t-hub-ov-a", "10.205.130.0/24")
        .up()
        .await
        .expect("up");
    // netd came up only after db had been started...
    assert!(fx.saw_a_start.load(Ordering::SeqCst), "{:?}", fx.rt.calls());
    let netd = fx.at("NetdReady", netd_ready);
    // ...so db did not wait for netd to be created and started...
    assert!(fx.at("db starting", starting("db")) < netd);
    // ...but neither db nor its dependant counts as ready before netd runs.
    assert!(fx.at("db ready", ready("db")) > netd);
    assert!(fx.at("web starting", starting("web")) > netd);
    assert!(fx.at("web ready", ready("web")) > netd);
    assert!(fx.svc.netd("t-hub-ov-a").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_vm_to_start_netd_comes_first() {
    let fx = Fx::new();
    let image = fx.hub.state_root().join("base.qcow2");
    std::fs::write(
        &image,
        b"QFI\xfb: only the qcow2 magic, all that validation reads",
    )
    .expect("image");
    fx.builder("t-hub-ov-b", "10.205.131.0/24")
        .vm(Vm::new("vm1", image).memory_mb(512).vcpus(1))
        .up()
        .await
        .expect("up");
    // Nothing started while netd was coming up, though it gave them every chance.
    assert!(
        !fx.saw_a_start.load(Ordering::SeqCst),
        "{:?}",
        fx.rt.calls()
    );
    let netd = fx.at("NetdReady", netd_ready);
    for name in ["db", "web", "vm1"] {
        assert!(
            fx.at(name, starting(name)) > netd,
            "{name} started before netd"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_netd_failure_beside_the_containers_is_reported_once_and_rolled_back() {
    let fx = Fx::new();
    fx.svc.fail(FakeServiceOp::NetdEnsure);
    let err = fx
        .builder("t-hub-ov-c", "10.205.132.0/24")
        .up()
        .await
        .expect_err("up must fail");
    let HubError::Up {
        errors,
        rolled_back,
        ..
    } = &err
    else {
        panic!("not an up error: {err}");
    };
    assert!(rolled_back, "{err}");
    // netd's own error, not one more per container that waited for it.
    assert_eq!(errors.len(), 1, "{err}");
    assert_eq!(errors[0].subject, "netd", "{err}");
    assert!(err.to_string().contains("NetdEnsure"), "{err}");
    assert_eq!(fx.rt.workload_names("t-hub-ov-c"), Vec::<String>::new());
    assert!(!fx.rt.has_network("t-hub-ov-c"), "network left");
    assert!(fx.svc.netd("t-hub-ov-c").is_none(), "netd left");
}
