//! `up`, `down`, the `Lab` handle and the plan, on the FakeRuntime.

mod common;

use common::Fx;
use hub_core::runtime::{FakeOp, Runtime, WorkloadKind, WorkloadState};
use hub_core::{Container, HubError, Progress};

#[tokio::test(flavor = "multi_thread")]
async fn demo_lab_comes_up_with_addresses_state_and_vpn_configs() {
    let fx = Fx::new();
    let lab = fx
        .demo("t-hub-f-demo", "10.205.1.0/24")
        .up()
        .await
        .expect("up");
    assert_eq!(lab.name(), "t-hub-f-demo");
    assert_eq!(lab.workloads().len(), 4);
    let db = lab.workload("db").expect("db");
    assert_eq!(db.kind, WorkloadKind::Container);
    assert_eq!(db.state, WorkloadState::Running);
    assert!(db.mac.is_some());
    let vm = lab.workload("vm1").expect("vm1");
    assert_eq!(vm.kind, WorkloadKind::Vm);
    // Addresses come from the static range of the plan (.30 up), in spec order.
    assert_eq!(lab.ip("db").expect("ip").to_string(), "10.205.1.30");
    assert_eq!(lab.ip("vm1").expect("ip").to_string(), "10.205.1.33");
    assert!(matches!(
        lab.ip("nope"),
        Err(HubError::NoSuchWorkload { .. })
    ));
    // netd got a record for every workload and the VPN peer, and the VM's reservation.
    let netd = fx.svc.netd("t-hub-f-demo").expect("netd runs");
    for n in ["db", "web1", "web2", "vm1", "laptop", "gateway", "netd"] {
        assert!(
            netd.records.iter().any(|r| r.name == n),
            "no record for {n}"
        );
    }
    assert_eq!(netd.reservations.len(), 1);
    assert_eq!(netd.reservations[0].hostname, "vm1");
    // The VPN client config exists in the lab directory.
    let conf = lab.vpn_config("laptop").expect("laptop config");
    assert!(conf.starts_with(fx.lab_dir("t-hub-f-demo")));
    assert!(conf.exists());
    // The state file is there, names every workload, and holds no secret.
    let state =
        std::fs::read_to_string(fx.lab_dir("t-hub-f-demo").join("state.json")).expect("state");
    for n in ["db", "web1", "web2", "vm1", "laptop"] {
        assert!(state.contains(n));
    }
    assert!(!state.to_lowercase().contains("private"));
    // exec and logs reach the runtime.
    let out = lab.exec("web1", ["echo", "hi"]).await.expect("exec");
    assert_eq!(out.stdout, "echo hi");
    assert!(lab.logs("db", 10).await.expect("logs").contains("db"));
    let report = lab.down().await.expect("down");
    assert!(report.removed.iter().any(|r| r == "network"));
    assert!(report.removed.iter().any(|r| r == "vpn gateway"));
    fx.assert_nothing_left("t-hub-f-demo");
}

#[tokio::test(flavor = "multi_thread")]
async fn second_up_of_an_unchanged_spec_changes_nothing_and_says_so() {
    let fx = Fx::new();
    let first = fx
        .demo("t-hub-f-again", "10.205.2.0/24")
        .up()
        .await
        .expect("up")
        .keep();
    assert_eq!(first.report().created.len(), 4);
    assert!(!first.report().is_unchanged());
    let creates = fx.count_calls("Create");
    let state_path = fx.lab_dir("t-hub-f-again").join("state.json");
    let mtime = std::fs::metadata(&state_path)
        .and_then(|m| m.modified())
        .expect("mtime");
    let second = fx
        .demo("t-hub-f-again", "10.205.2.0/24")
        .up()
        .await
        .expect("second up")
        .keep();
    assert!(second.report().is_unchanged(), "{:?}", second.report());
    assert_eq!(first.state(), second.state());
    assert_eq!(second.report().unchanged.len(), 4);
    assert!(second.report().to_string().starts_with("no change"));
    assert_eq!(
        fx.count_calls("Create"),
        creates,
        "a second up created something"
    );
    assert_eq!(fx.count_calls("Remove"), 0);
    assert_eq!(
        std::fs::metadata(&state_path)
            .and_then(|m| m.modified())
            .expect("mtime"),
        mtime
    );
    assert_eq!(first.state(), second.state());
    second.down().await.expect("down");
    fx.assert_nothing_left("t-hub-f-again");
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_creates_what_is_missing_recreates_what_changed_removes_what_left() {
    let fx = Fx::new();
    let lab = "t-hub-f-plan";
    let base = |fx: &Fx| {
        fx.builder(lab, "10.205.3.0/24")
            .container(Container::new("a", "img").ip("10.205.3.40"))
            .container(Container::new("b", "img").ip("10.205.3.41"))
            .container(Container::new("c", "img").ip("10.205.3.42"))
    };
    base(&fx).up().await.expect("up").keep();
    // b changes, c leaves, d arrives; a stays as it was.
    let lab2 = fx
        .builder(lab, "10.205.3.0/24")
        .container(Container::new("a", "img").ip("10.205.3.40"))
        .container(Container::new("b", "img").ip("10.205.3.41").env("X", "1"))
        .container(Container::new("d", "img").ip("10.205.3.43"))
        .up()
        .await
        .expect("second up")
        .keep();
    let r = lab2.report();
    assert_eq!(r.unchanged, vec!["a".to_string()]);
    assert_eq!(r.recreated, vec!["b".to_string()]);
    assert_eq!(r.removed, vec!["c".to_string()]);
    assert_eq!(r.created, vec!["d".to_string()]);
    let mut names = fx.rt.workload_names(lab);
    names.sort();
    assert_eq!(names, ["a", "b", "d"]);
    // A workload that stopped is recreated.
    fx.rt
        .stop(
            &hub_core::runtime::WorkloadHandle {
                lab: lab.into(),
                name: "a".into(),
                kind: WorkloadKind::Container,
                id: String::new(),
            },
            std::time::Duration::ZERO,
        )
        .await
        .expect("stop");
    let lab3 = fx
        .builder(lab, "10.205.3.0/24")
        .container(Container::new("a", "img").ip("10.205.3.40"))
        .container(Container::new("b", "img").ip("10.205.3.41").env("X", "1"))
        .container(Container::new("d", "img").ip("10.205.3.43"))
        .up()
        .await
        .expect("third up");
    assert_eq!(lab3.report().recreated, vec!["a".to_string()]);
    drop(lab3);
    fx.assert_nothing_left(lab);
}

#[tokio::test(flavor = "multi_thread")]
async fn depends_on_starts_a_workload_after_its_dependencies_are_ready() {
    let fx = Fx::new();
    fx.rt.set_ready_delay(std::time::Duration::from_millis(30));
    let lab = fx
        .builder("t-hub-f-deps", "10.205.4.0/24")
        .container(Container::new("app", "img").depends_on("api"))
        .container(Container::new("api", "img").depends_on("db"))
        .container(Container::new("db", "img"))
        .container(Container::new("free", "img"))
        .up()
        .await
        .expect("up");
    let calls = fx.rt.calls();
    let pos = |c: &str| {
        calls
            .iter()
            .position(|x| x == c)
            .unwrap_or_else(|| panic!("no call {c}: {calls:?}"))
    };
    assert!(pos("WaitReady db") < pos("Create api"), "{calls:?}");
    assert!(pos("WaitReady api") < pos("Create app"), "{calls:?}");
    // The independent one did not wait for the chain.
    assert!(pos("Create free") < pos("Create api"), "{calls:?}");
    drop(lab);
    fx.assert_nothing_left("t-hub-f-deps");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_dependency_keeps_its_dependants_from_starting() {
    let fx = Fx::new();
    fx.rt.fail(FakeOp::WaitReady, "db");
    let err = fx
        .builder("t-hub-f-depfail", "10.205.5.0/24")
        .container(Container::new("db", "img"))
        .container(Container::new("web", "img").depends_on("db"))
        .up()
        .await
        .expect_err("up must fail");
    let msg = err.to_string();
    assert!(msg.contains("container \"db\""), "{msg}");
    assert!(
        msg.contains("not started because its dependency \"db\" failed"),
        "{msg}"
    );
    assert!(!fx.rt.calls().iter().any(|c| c == "Create web"));
    fx.assert_nothing_left("t-hub-f-depfail");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dependency_cycle_is_refused_before_anything_starts() {
    let fx = Fx::new();
    let err = fx
        .builder("t-hub-f-cycle", "10.205.6.0/24")
        .container(Container::new("a", "img").depends_on("b"))
        .container(Container::new("b", "img").depends_on("a"))
        .up()
        .await
        .expect_err("cycle");
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(fx.rt.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn parallelism_bounds_the_workloads_in_flight() {
    for bound in [1usize, 3] {
        let fx = Fx::new();
        fx.rt.set_ready_delay(std::time::Duration::from_millis(40));
        let mut b = fx
            .builder("t-hub-f-par", "10.205.7.0/24")
            .parallelism(bound);
        for i in 0..10 {
            b = b.container(Container::new(format!("c{i}"), "img"));
        }
        let lab = b.up().await.expect("up");
        assert_eq!(fx.rt.max_in_flight(), bound, "bound {bound}");
        drop(lab);
    }
    // Unbounded enough, they all run at once.
    let fx = Fx::new();
    fx.rt.set_ready_delay(std::time::Duration::from_millis(40));
    let mut b = fx.builder("t-hub-f-par2", "10.205.8.0/24").parallelism(16);
    for i in 0..10 {
        b = b.container(Container::new(format!("c{i}"), "img"));
    }
    let lab = b.up().await.expect("up");
    assert_eq!(fx.rt.max_in_flight(), 10);
    drop(lab);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failure_of_every_branch_is_reported_together() {
    let fx = Fx::new();
    fx.rt.fail(FakeOp::Start, "a");
    fx.rt.fail(FakeOp::WaitReady, "c");
    let err = fx
        .builder("t-hub-f-many", "10.205.9.0/24")
        .container(Container::new("a", "img"))
        .container(Container::new("b", "img"))
        .container(Container::new("c", "img"))
        .up()
        .await
        .expect_err("must fail");
    match &err {
        HubError::Up {
            errors,
            rolled_back,
            ..
        } => {
            assert_eq!(errors.len(), 2, "{err}");
            assert!(rolled_back);
        }
        other => panic!("unexpected error {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("container \"a\"") && msg.contains("Start"),
        "{msg}"
    );
    assert!(
        msg.contains("container \"c\"") && msg.contains("WaitReady"),
        "{msg}"
    );
    assert_eq!(err.exit_code(), 1);
    fx.assert_nothing_left("t-hub-f-many");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_rollback_a_failed_up_leaves_what_it_made() {
    let fx = Fx::new();
    fx.rt.fail(FakeOp::WaitReady, "b");
    let err = fx
        .builder("t-hub-f-norb", "10.205.10.0/24")
        .rollback_on_failure(false)
        .container(Container::new("a", "img"))
        .container(Container::new("b", "img"))
        .up()
        .await
        .expect_err("must fail");
    assert!(matches!(
        err,
        HubError::Up {
            rolled_back: false,
            ..
        }
    ));
    assert_eq!(fx.rt.workload_names("t-hub-f-norb").len(), 2);
    fx.rt.clear_failures();
    let hub = fx
        .builder("t-hub-f-norb", "10.205.10.0/24")
        .build()
        .expect("hub");
    hub.down().await.expect("down");
    fx.assert_nothing_left("t-hub-f-norb");
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_removes_only_what_this_up_created() {
    let fx = Fx::new();
    let lab = "t-hub-f-rbonly";
    fx.builder(lab, "10.205.11.0/24")
        .container(Container::new("old", "img"))
        .up()
        .await
        .expect("up")
        .keep();
    fx.rt.fail(FakeOp::WaitReady, "new");
    fx.builder(lab, "10.205.11.0/24")
        .container(Container::new("old", "img"))
        .container(Container::new("new", "img"))
        .up()
        .await
        .expect_err("must fail");
    assert_eq!(fx.rt.workload_names(lab), vec!["old".to_string()]);
    assert!(
        fx.rt.has_network(lab),
        "the network existed before and must stay"
    );
    assert!(
        fx.svc.netd(lab).is_some(),
        "netd existed before and must stay"
    );
    assert!(fx.lab_dir(lab).join("state.json").exists());
    fx.rt.clear_failures();
    fx.builder(lab, "10.205.11.0/24")
        .build()
        .expect("hub")
        .down()
        .await
        .expect("down");
    fx.assert_nothing_left(lab);
}

#[tokio::test(flavor = "multi_thread")]
async fn down_finds_everything_without_the_lab_directory_and_is_idempotent() {
    let fx = Fx::new();
    let lab = "t-hub-f-lostdir";
    fx.demo(lab, "10.205.12.0/24")
        .up()
        .await
        .expect("up")
        .keep();
    std::fs::remove_dir_all(fx.lab_dir(lab)).expect("delete the lab dir");
    let hub = fx.builder(lab, "10.205.12.0/24").build().expect("hub");
    let report = hub.down().await.expect("down");
    for what in [
        "vpn gateway",
        "container \"db\"",
        "vm \"vm1\"",
        "netd",
        "network",
    ] {
        assert!(
            report.removed.iter().any(|r| r == what),
            "{what} not in {report}"
        );
    }
    fx.assert_nothing_left(lab);
    let again = hub.down().await.expect("second down");
    assert!(again.removed.is_empty(), "{again}");
    assert_eq!(again.to_string(), "nothing to remove");
}

#[tokio::test(flavor = "multi_thread")]
async fn down_with_only_the_lab_name() {
    let fx = Fx::new();
    fx.demo("t-hub-f-byname", "10.205.13.0/24")
        .up()
        .await
        .expect("up")
        .keep();
    // No subnet, no workloads: just the name, as `hub down --lab NAME`.
    let hub = fx
        .hub
        .builder()
        .name("t-hub-f-byname")
        .build()
        .expect("hub");
    let st = hub.status().await.expect("status");
    assert_eq!(st.workloads.len(), 4);
    assert!(st.network.is_some());
    hub.down().await.expect("down");
    fx.assert_nothing_left("t-hub-f-byname");
    assert!(hub.status().await.expect("status").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_events_tell_the_story() {
    let fx = Fx::new();
    let lab = fx
        .demo("t-hub-f-progress", "10.205.14.0/24")
        .up()
        .await
        .expect("up");
    drop(lab);
    let ev = fx.events.lock().expect("events").clone();
    assert!(
        matches!(ev.first(), Some(Progress::Planned { create: 4, .. })),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, Progress::NetworkReady { .. }))
    );
    assert!(ev.iter().any(|e| matches!(e, Progress::NetdReady { .. })));
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Progress::WorkloadReady { .. }))
            .count(),
        4
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, Progress::VpnPeer { name, .. } if name == "laptop"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spec_error_is_a_usage_error_and_touches_nothing() {
    let fx = Fx::new();
    let err = fx
        .builder("t-hub-f-bad", "10.205.15.0/33")
        .container(Container::new("a", "img"))
        .up()
        .await
        .expect_err("bad subnet");
    assert_eq!(err.exit_code(), 2);
    assert!(matches!(err, HubError::Spec(_)));
    assert!(fx.rt.calls().is_empty());
    assert!(!fx.lab_dir("t-hub-f-bad").exists());
}
