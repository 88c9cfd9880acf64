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

/// A file that passes for a qcow2 image (its magic).
const IMAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/magic.qcow2");

#[tokio::test(flavor = "multi_thread")]
async fn a_router_vm_gets_a_nic_per_segment_and_a_reservation_on_each() {
    use hub_core::Vm;
    use hub_net::netd::ClientRouter;
    use hub_runtime::WorkloadSpec;
    let hub = TestHub::new();
    let lab = hub
        .builder()
        .name("vs-fake")
        .segment(Segment::new("dmz", "10.201.41.0/24").gateway("fw"))
        .segment(Segment::new("internal", "10.201.42.0/24").gateway("fw"))
        .vm(Vm::new("fw", IMAGE)
            .networks(["dmz", "internal"])
            .ip_forward(true))
        .vm(Vm::new("cl", IMAGE).network_at("internal", Some("10.201.42.60")))
        .vm(Vm::new("both", IMAGE).networks(["dmz", "internal"]))
        .container(Container::new("web", "x").networks(["dmz"]))
        .up()
        .await
        .expect("up");
    let (spec, ctx) = hub.runtime.created("vs-fake", "fw").expect("fw was made");
    let WorkloadSpec::Vm(fw) = spec else {
        panic!("fw is a VM: {spec:?}")
    };
    // One NIC per segment, in order, each on its segment's network with its own MAC.
    let nets: Vec<(&str, &str)> = fw
        .networks
        .iter()
        .map(|a| (a.segment.as_str(), a.network.as_str()))
        .collect();
    assert_eq!(
        nets,
        [("dmz", "vs-fake-dmz"), ("internal", "vs-fake-internal")]
    );
    assert_eq!(
        fw.mac, fw.networks[0].mac,
        "the first NIC keeps the VM's MAC"
    );
    assert_ne!(fw.networks[0].mac, fw.networks[1].mac);
    assert_eq!(fw.ip, Some(fw.networks[0].ip));
    assert!(fw.ip_forward);
    // The router's own route goes to the bridge of its first segment, not to itself.
    assert_eq!(fw.default_route, Some("10.201.41.1".parse().unwrap()));
    // The runtime is told every segment's network, so it finds the bridges.
    assert!(ctx.network_named("vs-fake-internal").is_some(), "{ctx:?}");
    assert!(ctx.network_named("vs-fake-dmz").is_some(), "{ctx:?}");

    let netd = hub.services.netd("vs-fake").expect("netd runs");
    let (fw_dmz, fw_int) = (fw.networks[0].ip, fw.networks[1].ip);
    assert_eq!(netd.gateway, fw_dmz, "fw is the DMZ's DHCP router");
    assert_eq!(netd.segments[0].router, fw_int, "and the internal one's");
    let on_dmz = |name: &str| {
        netd.reservations
            .iter()
            .find(|r| r.hostname == name)
            .unwrap_or_else(|| panic!("no reservation for {name} on dmz: {netd:?}"))
    };
    let on_internal = |name: &str| {
        netd.segments[0]
            .reservations
            .iter()
            .find(|r| r.hostname == name)
            .unwrap_or_else(|| panic!("no reservation for {name} on internal: {netd:?}"))
    };
    // fw: its DMZ NIC routes by the bridge, its internal NIC gets no router.
    assert_eq!(
        (on_dmz("fw").ip, on_dmz("fw").mac),
        (fw_dmz, fw.networks[0].mac)
    );
    assert_eq!(
        on_dmz("fw").router,
        ClientRouter::Via("10.201.41.1".parse().unwrap())
    );
    assert_eq!(
        (on_internal("fw").ip, on_internal("fw").mac),
        (fw_int, fw.networks[1].mac)
    );
    assert_eq!(on_internal("fw").router, ClientRouter::Off);
    // cl, on internal alone at its static address: its route is fw there.
    assert_eq!(on_internal("cl").ip.to_string(), "10.201.42.60");
    assert_eq!(on_internal("cl").router, ClientRouter::Via(fw_int));
    assert!(netd.reservations.iter().all(|r| r.hostname != "cl"));
    // both, on both segments: one route, through fw on its first segment.
    assert_eq!(on_dmz("both").router, ClientRouter::Via(fw_dmz));
    assert_eq!(on_internal("both").router, ClientRouter::Off);
    // Names per segment.
    let has = |name: &str, ip| netd.records.iter().any(|r| r.name == name && r.ip == ip);
    assert!(
        has("fw.dmz", fw_dmz) && has("fw.internal", fw_int),
        "{:?}",
        netd.records
    );
    // The state (which `hub status` shows) records the VM on each segment.
    let row = lab.workload("fw").expect("fw is recorded");
    let ips: Vec<_> = row.interfaces.iter().map(|a| a.ip).collect();
    assert_eq!(ips, [fw_dmz, fw_int]);
    lab.down().await.expect("down");
}
