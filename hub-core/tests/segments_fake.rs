//! A lab of several segments through `up` on the fakes: the logic of what is asked of the
//! backends (every segment's network, netd on each with per-segment names and the router as
//! DHCP router, the VPN on every segment). The real engines' behaviour is `segments_real`
//! (hub-cli).

use hub_core::testing::TestHub;
use hub_core::{Container, Segment, Vpn};

#[tokio::test(flavor = "multi_thread")]
async fn every_segment_is_asked_for_and_served_by_netd() {
    let hub = TestHub::new();
    let lab = hub
        .builder()
        .name("sg-fake")
        .segment(Segment::new("dmz", "10.231.41.0/24").gateway("fw"))
        .segment(Segment::new("internal", "10.231.42.0/24"))
        .container(
            Container::new("fw", "x")
                .networks(["dmz", "internal"])
                .ip_forward(true),
        )
        .container(Container::new("db", "x").networks(["internal"]))
        .vpn(Vpn::new("10.231.140.0/24").listen_port(51912).peer("p"))
        .up()
        .await
        .expect("up");
    let calls = hub.runtime.calls();
    for net in [
        "EnsureNetwork sg-fake-dmz",
        "EnsureNetwork sg-fake-internal",
    ] {
        assert!(calls.iter().any(|c| c == net), "{net} not in {calls:?}");
    }
    let netd = hub.services.netd("sg-fake").expect("netd runs");
    assert_eq!(netd.subnet.to_string(), "10.231.41.0/24");
    assert_eq!(netd.segments.len(), 1);
    assert_eq!(netd.segments[0].name, "internal");
    assert_eq!(netd.segments[0].ip.to_string(), "10.231.42.2");
    assert_eq!(netd.segments[0].network, "sg-fake-internal");
    // Its own DHCP: no gateway workload, so the bridge is the router; its own range.
    assert_eq!(netd.segments[0].router.to_string(), "10.231.42.1");
    let (lo, hi) = netd.segments[0].dhcp_range;
    assert_eq!(
        (lo.to_string(), hi.to_string()),
        ("10.231.42.200".into(), "10.231.42.254".into())
    );
    let fw = lab.workload("fw").expect("fw");
    assert_eq!(fw.interfaces.len(), 2);
    let (dmz, internal) = (fw.interfaces[0].ip, fw.interfaces[1].ip);
    assert_eq!(netd.gateway, dmz, "the DMZ's router is handed out by DHCP");
    let has = |name: &str, ip| netd.records.iter().any(|r| r.name == name && r.ip == ip);
    assert!(has("fw", dmz) && has("fw", internal), "{:?}", netd.records);
    assert!(has("fw.dmz", dmz) && has("fw.internal", internal));
    assert!(has("netd.internal", netd.segments[0].ip));
    let db = lab.workload("db").expect("db");
    assert_eq!(db.interfaces.len(), 1, "db joins internal only");
    assert!(has("db.internal", db.interfaces[0].ip) && has("db", db.interfaces[0].ip));
    let report = lab.down().await.expect("down");
    assert!(report.removed.iter().any(|r| r == "network"), "{report:?}");
}

/// The lab `sg-prune` with the segments `segs` and one container on each.
fn pruned_lab(hub: &TestHub, segs: &[&str]) -> hub_core::HubBuilder {
    let mut b = hub.builder().name("sg-prune");
    for (i, s) in segs.iter().enumerate() {
        b = b
            .segment(Segment::new(*s, format!("10.231.{}.0/24", 51 + i)))
            .container(Container::new(format!("on-{s}"), "x").networks([*s]));
    }
    b
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_segment_goes_with_the_rollback_and_a_left_one_with_the_next_up() {
    use hub_runtime::FakeOp;
    use hub_runtime::NetworkRuntime;
    let hub = TestHub::new();
    // Each lab handle is kept: dropping one may take the lab down.
    let _first = pruned_lab(&hub, &["dmz", "internal"])
        .up()
        .await
        .expect("first up");
    let segments = || async { hub.runtime.list_segments("sg-prune").await.expect("list") };
    assert_eq!(segments().await, ["internal"]);

    hub.runtime.fail(FakeOp::Create, "on-extra");
    let err = pruned_lab(&hub, &["dmz", "internal", "extra"])
        .up()
        .await
        .expect_err("on-extra cannot be made");
    assert!(err.to_string().contains("on-extra"), "{err}");
    let calls = hub.runtime.calls();
    assert!(
        calls.iter().any(|c| c == "RemoveSegments extra"),
        "only the new segment is rolled back: {calls:?}"
    );
    assert_eq!(segments().await, ["internal"]);

    let _last = pruned_lab(&hub, &["dmz"])
        .up()
        .await
        .expect("up without internal");
    assert!(
        hub.runtime
            .calls()
            .iter()
            .any(|c| c == "RemoveSegments internal")
    );
    assert!(segments().await.is_empty());
}
