//! A downstream crate's tests: labs on the fakes of `hub_core::testing`, and the mocks of
//! feature `mock` standing in for one backend at a time.

use std::sync::Arc;

use hub_core::scheduler::{MockMetricsSource, Node, NodeMetrics};
use hub_core::services::{MockNetdService, NetdOutcome};
use hub_core::testing::TestHub;
use hub_downstream::web_pair;

#[tokio::test]
async fn a_lab_comes_up_on_the_fakes_in_two_lines() {
    let fakes = TestHub::new();
    let lab = web_pair(fakes.builder(), "t-ds-fakes")
        .up()
        .await
        .expect("up");
    assert_eq!(lab.ip("db").expect("db").to_string(), "10.207.0.30");
    assert_eq!(lab.ip("web").expect("web").to_string(), "10.207.0.31");
    assert_eq!(fakes.runtime.workload_names("t-ds-fakes"), ["db", "web"]);
    assert!(fakes.services.netd("t-ds-fakes").is_some());
    lab.down().await.expect("down");
    assert!(fakes.runtime.workload_names("t-ds-fakes").is_empty());
    assert!(!fakes.lab_dir("t-ds-fakes").exists());
}

#[tokio::test]
async fn a_mocked_netd_is_asked_once_and_a_mocked_host_admits_the_lab() {
    let fakes = TestHub::new();
    let mut netd = MockNetdService::new();
    netd.expect_ensure()
        .times(1)
        .returning(|_, _| Ok(NetdOutcome::Created));
    netd.expect_exists().returning(|_| Ok(true));
    netd.expect_remove().returning(|_| Ok(true));
    let mut metrics = MockMetricsSource::new();
    metrics.expect_nodes().returning(|| {
        vec![Node {
            name: "small".into(),
            metrics: Ok(NodeMetrics {
                cpus: 2,
                memory_total_mb: 4096,
                memory_available_mb: 2048,
                load1: 0.1,
            }),
        }]
    });
    let lab = web_pair(fakes.builder(), "t-ds-mocks")
        .netd(Arc::new(netd))
        .metrics(Arc::new(metrics))
        .up()
        .await
        .expect("up");
    assert_eq!(fakes.runtime.workload_names("t-ds-mocks"), ["db", "web"]);
    lab.down().await.expect("down");
}

#[tokio::test]
async fn a_host_without_room_is_refused_before_anything_starts() {
    let fakes = TestHub::new();
    let mut metrics = MockMetricsSource::new();
    metrics.expect_nodes().returning(|| {
        vec![Node {
            name: "tiny".into(),
            metrics: Err("cannot read /proc/meminfo".into()),
        }]
    });
    let err = web_pair(fakes.builder(), "t-ds-refused")
        .metrics(Arc::new(metrics))
        .up()
        .await
        .expect_err("refused");
    assert!(matches!(err, hub_core::HubError::Admission { .. }), "{err}");
    assert!(fakes.runtime.calls().is_empty());
}
