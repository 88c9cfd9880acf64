//! The FakeRuntime keeps the contract the real backends keep: names are unique per lab, a
//! missing workload is `NotFound`, injected failures hit only what they name, `wait_ready`
//! honours cancellation, and the lab network belongs to the lab that made it.

use std::time::Duration;

use hub_runtime::{
    ContainerSpec, FakeOp, FakeRuntime, LabContext, NetworkRuntime, NetworkSpec, Runtime,
    RuntimeError, WorkloadKind, WorkloadSpec, WorkloadState,
};
use tokio_util::sync::CancellationToken;

fn container(name: &str) -> WorkloadSpec {
    WorkloadSpec::Container(ContainerSpec::new(name, "hub-test/busybox:latest"))
}

#[tokio::test]
async fn names_are_unique_per_lab_and_missing_workloads_are_not_found() {
    let rt = FakeRuntime::new();
    let (a, b) = (LabContext::for_tests("a"), LabContext::for_tests("b"));
    let web = rt.create(&a, &container("web")).await.unwrap();
    // The same name in another lab is another workload.
    rt.create(&b, &container("web")).await.unwrap();
    assert!(matches!(
        rt.create(&a, &container("web")).await,
        Err(RuntimeError::NameTaken { .. })
    ));
    rt.start(&web).await.unwrap();
    assert_eq!(
        rt.inspect(&web).await.unwrap().state,
        WorkloadState::Running
    );
    rt.remove(&web).await.unwrap();
    assert!(matches!(
        rt.start(&web).await,
        Err(RuntimeError::NotFound { .. })
    ));
    assert!(rt.workload_names("a").is_empty());
    assert_eq!(rt.workload_names("b"), ["web"]);
}

#[tokio::test]
async fn injected_failures_hit_only_what_they_name() {
    let rt = FakeRuntime::new();
    let lab = LabContext::for_tests("f");
    rt.fail(FakeOp::Create, "bad");
    let err = rt.create(&lab, &container("bad")).await.unwrap_err();
    assert!(matches!(err, RuntimeError::Injected(_)), "{err:?}");
    assert!(err.to_string().contains("\"bad\""), "{err}");
    rt.create(&lab, &container("good")).await.unwrap();
    rt.fail(FakeOp::Start, "*");
    let h = rt.create(&lab, &container("other")).await.unwrap();
    assert!(rt.start(&h).await.is_err());
    rt.clear_failures();
    rt.start(&h).await.unwrap();
    assert_eq!(
        rt.calls(),
        [
            "Create bad",
            "Create good",
            "Create other",
            "Start other",
            "Start other"
        ]
    );
}

#[tokio::test]
async fn wait_ready_is_cancellable_and_counts_what_runs_at_once() {
    let rt = FakeRuntime::new();
    let lab = LabContext::for_tests("w");
    rt.set_ready_delay(Duration::from_secs(600));
    let spec = container("slow");
    let h = rt.create(&lab, &spec).await.unwrap();
    let cancel = CancellationToken::new();
    let waits: Vec<_> = (0..3)
        .map(|_| {
            let (rt, lab, spec, h, cancel) = (
                rt.clone(),
                lab.clone(),
                spec.clone(),
                h.clone(),
                cancel.clone(),
            );
            tokio::spawn(async move {
                rt.wait_ready(&lab, &spec, &h, Duration::from_secs(600), cancel)
                    .await
            })
        })
        .collect();
    // Bounded: the three waits start within a second or the test fails.
    for _ in 0..100 {
        if rt.max_in_flight() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(rt.max_in_flight(), 3);
    cancel.cancel();
    for w in waits {
        assert!(matches!(
            w.await.unwrap(),
            Err(RuntimeError::Cancelled { .. })
        ));
    }
}

#[tokio::test]
async fn kinds_and_network_ownership() {
    let vms_only = FakeRuntime::for_kinds(&[WorkloadKind::Vm]);
    assert!(!vms_only.supports(WorkloadKind::Container));
    assert!(vms_only.supports(WorkloadKind::Vm));

    let rt = FakeRuntime::new();
    let lab = LabContext::for_tests("n");
    let spec = NetworkSpec {
        lab: "n".into(),
        name: "n-net".into(),
        subnet: lab.network.subnet,
        gateway: lab.network.gateway,
        attach_to: None,
        labels: Default::default(),
        mtu: None,
    };
    let made = rt.ensure_network(&spec).await.unwrap();
    assert!(made.owned);
    assert_eq!(rt.ensure_network(&spec).await.unwrap(), made, "idempotent");
    assert_eq!(rt.find_network("n").await.unwrap(), Some(made));
    assert!(rt.remove_network("n").await.unwrap());
    assert!(!rt.has_network("n"));

    // A network the lab only attached to is not the lab's to remove.
    let attached = NetworkSpec {
        attach_to: Some("shared".into()),
        ..spec
    };
    assert!(!rt.ensure_network(&attached).await.unwrap().owned);
    assert!(!rt.remove_network("n").await.unwrap());
}
