//! Fault injection: each single operation of an `up` made to fail in turn; the error is
//! reported, names what failed, and nothing is left.

mod common;

use common::Fx;
use hub_core::HubError;
use hub_core::runtime::FakeOp;
use hub_core::testing::FakeServiceOp;

const LAB: &str = "t-hub-f-fault";

#[tokio::test(flavor = "multi_thread")]
async fn each_runtime_operation_failing_in_turn_is_reported_and_leaves_nothing() {
    let workloads = ["db", "web1", "web2", "vm1"];
    let mut cases: Vec<(FakeOp, &str)> = vec![(FakeOp::EnsureNetwork, "t-hub-f-fault")];
    for op in [FakeOp::Create, FakeOp::Start, FakeOp::WaitReady] {
        for w in workloads {
            cases.push((op, w));
        }
    }
    for (op, name) in cases {
        let fx = Fx::new();
        // EnsureNetwork is keyed by the network's name, which is the lab's.
        fx.rt.fail(op, name);
        let err = fx
            .demo(LAB, "10.205.20.0/24")
            .up()
            .await
            .expect_err("up must fail");
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                HubError::Up {
                    rolled_back: true,
                    ..
                }
            ),
            "{op:?} {name}: {msg}"
        );
        assert!(msg.contains(&format!("{op:?}")), "{op:?} {name}: {msg}");
        if op != FakeOp::EnsureNetwork {
            assert!(msg.contains(&format!("\"{name}\"")), "{op:?} {name}: {msg}");
        }
        fx.assert_nothing_left(LAB);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_service_failing_is_reported_and_leaves_nothing() {
    for (op, subject) in [
        (FakeServiceOp::NetdEnsure, "netd"),
        (FakeServiceOp::VpnUp, "vpn gateway"),
    ] {
        let fx = Fx::new();
        fx.svc.fail(op);
        let err = fx
            .demo(LAB, "10.205.21.0/24")
            .up()
            .await
            .expect_err("up must fail");
        let msg = err.to_string();
        assert!(
            msg.contains(subject) && msg.contains(&format!("{op:?}")),
            "{msg}"
        );
        fx.assert_nothing_left(LAB);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_rollback_is_reported_with_the_failure_and_down_finishes_the_job() {
    let fx = Fx::new();
    fx.rt.fail(FakeOp::WaitReady, "web1");
    fx.rt.fail(FakeOp::Remove, "db");
    let err = fx
        .demo(LAB, "10.205.22.0/24")
        .up()
        .await
        .expect_err("up must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("WaitReady") && msg.contains("\"web1\""),
        "{msg}"
    );
    assert!(msg.contains("Remove") && msg.contains("\"db\""), "{msg}");
    fx.rt.clear_failures();
    fx.demo(LAB, "10.205.22.0/24")
        .build()
        .expect("hub")
        .down()
        .await
        .expect("down");
    fx.assert_nothing_left(LAB);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_down_operation_failing_is_reported_and_a_second_down_completes() {
    let down_faults: Vec<(FakeOp, &str)> = vec![
        (FakeOp::Remove, "db"),
        (FakeOp::Remove, "vm1"),
        (FakeOp::RemoveNetwork, "network"),
    ];
    for (op, name) in down_faults {
        let fx = Fx::new();
        fx.demo(LAB, "10.205.23.0/24")
            .up()
            .await
            .expect("up")
            .keep();
        fx.rt.fail(op, name);
        let hub = fx.demo(LAB, "10.205.23.0/24").build().expect("hub");
        let err = hub.down().await.expect_err("down must fail");
        assert!(matches!(err, HubError::Down { .. }), "{err}");
        assert!(err.to_string().contains(&format!("{op:?}")), "{err}");
        // The lab directory stays until everything else is gone, so nothing is lost.
        assert!(fx.lab_dir(LAB).exists());
        fx.rt.clear_failures();
        hub.down().await.expect("second down");
        fx.assert_nothing_left(LAB);
    }
    for op in [FakeServiceOp::NetdRemove, FakeServiceOp::VpnDown] {
        let fx = Fx::new();
        fx.demo(LAB, "10.205.24.0/24")
            .up()
            .await
            .expect("up")
            .keep();
        fx.svc.fail(op);
        let hub = fx.demo(LAB, "10.205.24.0/24").build().expect("hub");
        let err = hub.down().await.expect_err("down must fail");
        assert!(err.to_string().contains(&format!("{op:?}")), "{err}");
        fx.svc.clear_failures();
        hub.down().await.expect("second down");
        fx.assert_nothing_left(LAB);
    }
}
