//! Several segments in one lab (`networks:`): every mistake with its file, line and column,
//! and what a valid spec resolves to (interfaces in order, derived MACs, default routes).

use hub_core::spec::{Container, LabSpec, Segment, SpecError, SpecErrorKind, derive_mac};

/// Every error of `yaml` (loaded as `lab.yaml`), validated and resolved.
fn errors(yaml: &str) -> Vec<SpecError> {
    match LabSpec::from_yaml(yaml, "lab.yaml").and_then(|s| s.resolve()) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors,
    }
}

/// `(line, column, field, kind)` of each error, and each message.
fn places(yaml: &str) -> Vec<(u64, u64, String, SpecErrorKind, String)> {
    errors(yaml)
        .into_iter()
        .map(|e| (e.line, e.column, e.field, e.kind, e.message))
        .collect()
}

const SEGMENTS: &str = "name: sg-spec
networks:
  - name: dmz
    subnet: 10.231.1.0/24
    gateway: fw
  - name: internal
    subnet: 10.231.2.0/24
";

/// [`SEGMENTS`] with a router `fw` on both segments and `web` joining `web_networks`.
fn router_and_web(web_networks: &str) -> String {
    format!(
        "{SEGMENTS}containers:
  - name: fw
    image: x
    networks: [dmz, internal]
    ip_forward: true
  - name: web
    image: x
    networks: {web_networks}
"
    )
}

#[test]
fn a_workload_naming_an_unknown_network_is_refused_where_it_names_it() {
    let y = format!(
        "{SEGMENTS}containers:
  - name: fw
    image: x
    networks: [dmz, lan]
  - name: web
    image: x
    networks: {{dmz: 10.231.1.9, backend: ~}}
"
    );
    let p = places(&y);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert_eq!(
        (p[0].0, p[0].1, p[0].2.as_str(), p[0].3),
        (
            11,
            21,
            "containers[0].networks[1]",
            SpecErrorKind::UnknownNetwork
        )
    );
    assert!(
        p[0].4
            .contains("\"lan\" is not one of the lab's networks (dmz, internal)"),
        "{}",
        p[0].4
    );
    assert_eq!(
        (p[1].0, p[1].2.as_str(), p[1].3),
        (
            14,
            "containers[1].networks.backend",
            SpecErrorKind::UnknownNetwork
        )
    );
    assert_eq!(p[1].1, 42, "{p:#?}");
}

#[test]
fn overlapping_segments_are_refused_at_the_later_subnet() {
    let y = "name: sg-spec
networks:
  - name: dmz
    subnet: 10.231.0.0/16
  - name: internal
    subnet: 10.231.2.0/24
";
    let p = places(y);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(
        (p[0].0, p[0].1, p[0].2.as_str(), p[0].3),
        (6, 13, "networks[1].subnet", SpecErrorKind::Overlap)
    );
    assert!(
        p[0].4
            .contains("10.231.2.0/24 overlaps 10.231.0.0/16 of networks[0] (\"dmz\")"),
        "{}",
        p[0].4
    );
}

#[test]
fn an_address_outside_its_segment_is_refused_with_the_segment_named() {
    let y = format!(
        "{SEGMENTS}containers:
  - name: fw
    image: x
    networks: {{dmz: 10.231.2.10, internal: 10.231.2.11}}
  - name: db
    image: x
    ip: 10.231.1.20
    networks: [internal]
"
    );
    let p = places(&y);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert_eq!(
        (p[0].0, p[0].2.as_str(), p[0].3),
        (11, "containers[0].networks.dmz", SpecErrorKind::Address)
    );
    assert!(
        p[0].4.contains("on network \"dmz\"") && p[0].4.contains("outside"),
        "{}",
        p[0].4
    );
    assert_eq!(
        (p[1].0, p[1].1, p[1].2.as_str(), p[1].3),
        (14, 9, "containers[1].ip", SpecErrorKind::Address)
    );
    assert!(p[1].4.contains("on network \"internal\""), "{}", p[1].4);
}

#[test]
fn duplicate_segment_names_and_other_mistakes_come_together() {
    let y = "name: sg-spec
subnet: 10.231.9.0/24
networks:
  - name: dmz
    subnet: 10.231.1.0/24
    gateway: ghost
  - name: dmz
    subnet: 10.231.2.0/24
containers:
  - name: fw
    image: x
    networks: [dmz, dmz]
";
    let p = places(y);
    let got: Vec<(u64, u64, &str, SpecErrorKind)> =
        p.iter().map(|e| (e.0, e.1, e.2.as_str(), e.3)).collect();
    assert_eq!(
        got,
        vec![
            (2, 9, "subnet", SpecErrorKind::BadValue),
            (6, 14, "networks[0].gateway", SpecErrorKind::UnknownNetwork),
            (7, 11, "networks[1].name", SpecErrorKind::DuplicateName),
            (12, 21, "containers[0].networks[1]", SpecErrorKind::BadValue),
        ],
        "{p:#?}"
    );
    assert!(p[2].4.contains("already used by networks[0]"), "{}", p[2].4);
}

#[test]
fn a_lab_with_neither_subnet_nor_networks_says_so() {
    let p = places("name: sg-spec\n");
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(
        (p[0].0, p[0].1, p[0].3),
        (1, 1, SpecErrorKind::MissingField)
    );
    assert!(p[0].4.contains("`networks`"), "{}", p[0].4);
}

#[test]
fn interfaces_follow_the_spec_order_with_derived_macs_and_routes() {
    let y = format!(
        "{SEGMENTS}containers:
  - name: fw
    image: x
    networks: [internal, dmz]
    ip_forward: true
  - name: web
    image: x
    networks: {{dmz: 10.231.1.40}}
  - name: db
    image: x
    networks: [internal]
"
    );
    let lab = LabSpec::from_yaml(&y, "lab.yaml")
        .and_then(|s| s.resolve())
        .expect("valid");
    let fw = lab.workload("fw").expect("fw");
    let segs: Vec<&str> = fw.interfaces.iter().map(|i| i.network.as_str()).collect();
    assert_eq!(segs, ["internal", "dmz"]);
    assert_eq!(fw.ip, fw.interfaces[0].ip, "ip is the first interface's");
    assert_eq!(
        fw.mac,
        derive_mac("sg-spec", "fw", 0),
        "first MAC as in one network"
    );
    assert_eq!(fw.interfaces[1].mac, derive_mac("sg-spec", "fw@dmz", 0));
    assert_eq!(fw.interfaces[1].fqdn, "fw.dmz.sg-spec.lab");
    assert_eq!(fw.interfaces[0].network_name, "sg-spec-internal");
    assert_eq!(fw.default_route, None, "the router routes by itself");
    let web = lab.workload("web").expect("web");
    assert_eq!(web.ip.to_string(), "10.231.1.40");
    assert_eq!(
        web.default_route,
        Some(fw.interfaces[1].ip),
        "dmz's gateway is fw"
    );
    assert_eq!(
        web.resolver.map(|r| r.to_string()).as_deref(),
        Some("10.231.1.2")
    );
    let db = lab.workload("db").expect("db");
    assert_eq!(db.interfaces.len(), 1);
    assert_eq!(
        db.default_route, None,
        "internal has no gateway: the bridge"
    );
    assert_eq!(
        db.resolver.map(|r| r.to_string()).as_deref(),
        Some("10.231.2.2")
    );
    // Same spec, same plan.
    let again = LabSpec::from_yaml(&y, "lab.yaml")
        .and_then(|s| s.resolve())
        .expect("valid");
    assert_eq!(again, lab);
    assert_eq!(lab.segments.len(), 2);
    assert_eq!(lab.segments[0].router_ip, Some(fw.interfaces[1].ip));
}

#[test]
fn the_builder_makes_the_same_lab_as_the_file() {
    let built = LabSpec::segmented("sg-spec")
        .segment(Segment::new("dmz", "10.231.1.0/24").gateway("fw"))
        .segment(Segment::new("internal", "10.231.2.0/24"))
        .container(
            Container::new("fw", "x")
                .networks(["dmz", "internal"])
                .ip_forward(true),
        )
        .container(Container::new("web", "x").network_at("dmz", Some("10.231.1.40")))
        .resolve()
        .expect("valid");
    let y = router_and_web("{dmz: 10.231.1.40}");
    let loaded = LabSpec::from_yaml(&y, "lab.yaml")
        .and_then(|s| s.resolve())
        .expect("valid");
    for (a, b) in built.workloads.iter().zip(&loaded.workloads) {
        assert_eq!(a.interfaces, b.interfaces);
        assert_eq!(a.spec_hash, b.spec_hash, "{}", a.name);
    }
}

#[test]
fn a_one_network_lab_resolves_as_before() {
    let lab = LabSpec::new("sg-flat", "10.231.3.0/24")
        .container(Container::new("web", "x"))
        .resolve()
        .expect("valid");
    let web = lab.workload("web").expect("web");
    assert!(web.interfaces.is_empty() && lab.segments.is_empty());
    assert_eq!(web.resolver, None);
    assert_eq!(lab.network_name, "sg-flat");
    assert_eq!(web.mac, derive_mac("sg-flat", "web", 0));
}

#[test]
fn a_one_network_lab_checks_the_networks_its_workloads_name() {
    let y = "name: sg-flat
subnet: 10.231.5.0/24
containers:
  - name: a
    image: x
    networks: [sg-flat]
  - name: b
    image: x
    networks: [dmz]
  - name: c
    image: x
    networks: {sg-flat: 10.231.6.9}
";
    let p = places(y);
    let got: Vec<(u64, &str, SpecErrorKind)> = p.iter().map(|e| (e.0, e.2.as_str(), e.3)).collect();
    assert_eq!(
        got,
        vec![
            (
                9,
                "containers[1].networks[0]",
                SpecErrorKind::UnknownNetwork
            ),
            (12, "containers[2].networks.sg-flat", SpecErrorKind::Address),
        ],
        "{p:#?}"
    );
    let ok = LabSpec::from_yaml(
        &y.replace("networks: [dmz]", "networks: [sg-flat]")
            .replace("10.231.6.9", "10.231.5.9"),
        "lab.yaml",
    )
    .and_then(|s| s.resolve())
    .expect("valid");
    assert_eq!(ok.workload("c").expect("c").ip.to_string(), "10.231.5.9");
    assert_eq!(ok.workloads.len(), 3);
}

#[test]
fn a_segmented_spec_serializes_back_to_one_that_resolves_the_same() {
    let y = router_and_web("{dmz: 10.231.1.40, internal: ~}");
    let spec = LabSpec::from_yaml(&y, "/x/lab.yaml").expect("valid");
    let json = serde_json::to_string(&spec).expect("json");
    let back = LabSpec::from_yaml(&json, "/x/lab.yaml").expect("reloads");
    let (a, b) = (
        back.resolve().expect("valid"),
        spec.resolve().expect("valid"),
    );
    assert_eq!(a.workloads, b.workloads);
    assert_eq!(a.segments, b.segments);
}

/// A file that passes for a qcow2 image.
const IMAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/magic.qcow2");

#[test]
fn a_vms_networks_are_checked_as_a_containers_all_at_once() {
    let y = format!(
        "{SEGMENTS}vms:
  - name: fw
    image: {IMAGE}
    networks: [dmz, lan]
  - name: db
    image: {IMAGE}
    networks: {{internal: 10.231.1.20, dmz: ~, backend: ~}}
"
    );
    let p = places(&y);
    let got: Vec<(u64, &str, SpecErrorKind)> = p.iter().map(|e| (e.0, e.2.as_str(), e.3)).collect();
    assert_eq!(
        got,
        [
            (11, "vms[0].networks[1]", SpecErrorKind::UnknownNetwork),
            (14, "vms[1].networks.internal", SpecErrorKind::Address),
            (14, "vms[1].networks.backend", SpecErrorKind::UnknownNetwork),
        ],
        "{p:#?}"
    );
    assert_eq!(p[0].1, 21, "{p:#?}");
    assert!(p[1].4.contains("on network \"internal\""), "{}", p[1].4);
}

#[test]
fn a_vm_routes_between_segments_as_their_gateway() {
    let y = format!(
        "{SEGMENTS}vms:
  - name: fw
    image: {IMAGE}
    networks: [dmz, internal]
    ip_forward: true
containers:
  - name: web
    image: x
    networks: [dmz]
"
    );
    let spec = LabSpec::from_yaml(&y, "lab.yaml").expect("loads");
    let lab = spec.resolve().expect("a VM may be a segment's gateway");
    let fw = lab.workload("fw").expect("fw");
    let nets: Vec<&str> = fw.interfaces.iter().map(|i| i.network.as_str()).collect();
    assert_eq!(nets, ["dmz", "internal"]);
    assert_eq!(fw.interfaces[0].mac, derive_mac("sg-spec", "fw", 0));
    assert_eq!(
        fw.interfaces[1].mac,
        derive_mac("sg-spec", "fw@internal", 0)
    );
    assert_eq!(fw.interfaces[1].fqdn, "fw.internal.sg-spec.lab");
    assert_eq!(lab.segments[0].router_ip, Some(fw.interfaces[0].ip));
    let web = lab.workload("web").expect("web");
    assert_eq!(web.default_route, Some(fw.interfaces[0].ip));
    let hub_core::runtime::WorkloadSpec::Vm(vm) = fw.to_workload_spec() else {
        panic!("fw is a VM")
    };
    assert!(vm.ip_forward);
    assert_eq!(vm.networks.len(), 2);
    assert_eq!(vm.networks[1].network, "sg-spec-internal");
    assert_eq!(
        vm.default_route.map(|r| r.to_string()).as_deref(),
        Some("10.231.1.1")
    );
    // The spec written back resolves the same.
    let json = serde_json::to_string(&spec).expect("json");
    let again = LabSpec::from_yaml(&json, "lab.yaml")
        .expect("reloads")
        .resolve()
        .expect("resolves");
    assert_eq!(
        again.workload("fw").map(|w| &w.interfaces),
        Some(&fw.interfaces)
    );
}
