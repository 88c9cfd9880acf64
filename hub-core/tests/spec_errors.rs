//! Every kind of spec mistake, with the exact file, line, column and field it is reported at.

use hub_core::spec::{LabSpec, SpecError, SpecErrorKind};

/// A file that exists, for VM images that must not be reported.
fn image() -> String {
    format!("{}/tests/fixtures/magic.qcow2", env!("CARGO_MANIFEST_DIR"))
}

/// Every error of `yaml` (loaded as `lab.yaml`), validated and resolved.
fn errors(yaml: &str) -> Vec<SpecError> {
    let yaml = yaml.replace("IMAGE", &image());
    match LabSpec::from_yaml(&yaml, "lab.yaml").and_then(|s| s.resolve()) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors,
    }
}

/// `(line, column, field, kind)` of each error.
fn places(yaml: &str) -> Vec<(u64, u64, String, SpecErrorKind)> {
    errors(yaml)
        .into_iter()
        .map(|e| (e.line, e.column, e.field, e.kind))
        .collect()
}

/// The single error of `yaml`; fails if there is not exactly one.
fn one(yaml: &str) -> SpecError {
    let mut e = errors(yaml);
    assert_eq!(e.len(), 1, "expected one error, got {e:#?}");
    e.remove(0)
}

fn at(e: &SpecError, line: u64, column: u64, field: &str, kind: SpecErrorKind, says: &str) {
    assert_eq!(
        (e.line, e.column, e.field.as_str(), e.kind),
        (line, column, field, kind),
        "{e}"
    );
    assert!(e.message.contains(says), "message of {e} lacks {says:?}");
    let shown = e.to_string();
    let prefix = if field.is_empty() {
        format!("lab.yaml:{line}:{column}: ")
    } else {
        format!("lab.yaml:{line}:{column}: {field}: ")
    };
    assert!(shown.starts_with(&prefix), "{shown}");
}

const BASE: &str = "name: t-hub-spec\nsubnet: 10.205.0.0/24\n";

#[test]
fn a_syntax_error_names_its_line_and_column() {
    let e = one("name: x\nsubnet: [10.0.0.0/24\ncontainers: []\n");
    assert_eq!(e.kind, SpecErrorKind::Syntax);
    assert_eq!(e.line, 3, "{e}");
    assert!(e.column >= 1, "{e}");
    assert!(
        !e.message.contains("line 3"),
        "the location is not repeated: {e}"
    );
}

#[test]
fn a_tab_indented_file_is_a_syntax_error() {
    let e = one("name: x\ncontainers:\n\t- name: a\n");
    assert_eq!((e.kind, e.line), (SpecErrorKind::Syntax, 3), "{e}");
}

#[test]
fn duplicate_yaml_keys_are_refused() {
    let e = one(&format!("{BASE}subnet: 10.205.1.0/24\n"));
    at(&e, 3, 1, "", SpecErrorKind::Syntax, "duplicate mapping key");
}

#[test]
fn every_unknown_field_is_named_with_what_was_expected() {
    let p = places(&format!(
        "{BASE}color: blue\ncontainers:\n  - name: a\n    image: x\n    ipaddr: 10.205.0.40\nwireguard:\n  port: 1\n"
    ));
    assert_eq!(
        p,
        vec![
            (3, 1, "color".into(), SpecErrorKind::UnknownField),
            (
                7,
                5,
                "containers[0].ipaddr".into(),
                SpecErrorKind::UnknownField
            ),
            (9, 3, "wireguard.port".into(), SpecErrorKind::UnknownField),
        ]
    );
    let e = one(&format!("{BASE}color: blue\n"));
    at(
        &e,
        3,
        1,
        "color",
        SpecErrorKind::UnknownField,
        "expected one of `name`",
    );
}

#[test]
fn several_unknown_fields_and_a_type_error_in_one_workload_are_all_reported() {
    let p = places(&format!(
        "{BASE}containers:\n  - name: a\n    image: [x]\n    port: 80\n    volume: /x\n    ip: 10.205.0.1\n"
    ));
    assert_eq!(
        p,
        vec![
            (5, 12, "containers[0].image".into(), SpecErrorKind::Type),
            (
                6,
                5,
                "containers[0].port".into(),
                SpecErrorKind::UnknownField
            ),
            (
                7,
                5,
                "containers[0].volume".into(),
                SpecErrorKind::UnknownField
            ),
        ]
    );
    // With only unknown fields wrong, the rest of the workload is still checked.
    let p = places(&format!(
        "{BASE}containers:\n  - name: a\n    image: x\n    port: 80\n    ip: 10.205.0.1\n"
    ));
    assert_eq!(
        p,
        vec![
            (
                6,
                5,
                "containers[0].port".into(),
                SpecErrorKind::UnknownField
            ),
            (7, 9, "containers[0].ip".into(), SpecErrorKind::Address),
        ]
    );
}

#[test]
fn a_value_of_the_wrong_type_is_named() {
    let e = one(&format!(
        "{BASE}containers:\n  - name: a\n    image: [x, y]\n"
    ));
    at(
        &e,
        5,
        12,
        "containers[0].image",
        SpecErrorKind::Type,
        "expected a string",
    );
    let e = one(&format!(
        "{BASE}vms:\n  - name: v\n    image: IMAGE\n    memory_mb: -5\n"
    ));
    at(&e, 6, 16, "vms[0].memory_mb", SpecErrorKind::Type, "-5");
    let e = one(&format!("{BASE}containers: web\n"));
    at(
        &e,
        3,
        13,
        "containers",
        SpecErrorKind::Type,
        "must be a list",
    );
    let e = one(&format!("{BASE}wireguard:\n  listen_port: 70000\n"));
    assert!(e.message.contains("a whole number from 0 to 65535"), "{e}");
    at(
        &e,
        4,
        16,
        "wireguard.listen_port",
        SpecErrorKind::Type,
        "70000",
    );
    let e = one(&format!(
        "{BASE}containers:\n  - name: a\n    image: x\n    restart: sometimes\n"
    ));
    at(
        &e,
        6,
        14,
        "containers[0].restart",
        SpecErrorKind::Type,
        "unknown variant `sometimes`",
    );
    let e = one(&format!(
        "{BASE}vms:\n  - name: v\n    image: IMAGE\n    virt_type: xen\n"
    ));
    at(
        &e,
        6,
        16,
        "vms[0].virt_type",
        SpecErrorKind::Type,
        "expected one of `auto`, `kvm`, `qemu`",
    );
    let e = one(&format!(
        "{BASE}vms:\n  - name: v\n    image: IMAGE\n    restart: sometimes\n"
    ));
    at(
        &e,
        6,
        14,
        "vms[0].restart",
        SpecErrorKind::Type,
        "unknown variant `sometimes`",
    );
    // Every VM policy the containers know is accepted.
    for p in ["no", "on-failure", "unless-stopped", "always"] {
        assert_eq!(
            places(&format!(
                "{BASE}vms:\n  - name: v\n    image: IMAGE\n    restart: {p}\n"
            )),
            vec![],
            "{p}"
        );
    }
    let e = one(&format!(
        "{BASE}containers:\n  - name: a\n    image: x\n    healthcheck:\n      test: [true]\n      interval: 5 parsecs\n"
    ));
    at(
        &e,
        8,
        17,
        "containers[0].healthcheck.interval",
        SpecErrorKind::Type,
        "not a duration",
    );
    // Durations the clock cannot add (a deadline of `now + u64::MAX s` would overflow).
    for too_long in ["18446744073709551615", "9000h"] {
        let e = one(&format!(
            "{BASE}containers:\n  - name: a\n    image: x\n    healthcheck:\n      test: [true]\n      timeout: {too_long}\n"
        ));
        at(
            &e,
            8,
            16,
            "containers[0].healthcheck.timeout",
            SpecErrorKind::Type,
            "longer than a year",
        );
    }
}

#[test]
fn a_missing_required_field_points_at_its_mapping() {
    let e = one(&format!("{BASE}containers:\n  - name: a\n"));
    at(
        &e,
        4,
        5,
        "containers[0]",
        SpecErrorKind::MissingField,
        "missing field `image`",
    );
    let e = one("name: x\n");
    at(
        &e,
        1,
        1,
        "",
        SpecErrorKind::MissingField,
        "missing field `subnet`",
    );
    let e = one("subnet: 10.205.0.0/24\n");
    at(&e, 1, 1, "", SpecErrorKind::MissingField, "no name");
}

#[test]
fn an_empty_or_non_mapping_document_is_refused() {
    at(&one(""), 1, 1, "", SpecErrorKind::MissingField, "empty");
    at(
        &one("# only a comment\n"),
        1,
        1,
        "",
        SpecErrorKind::MissingField,
        "empty",
    );
    at(
        &one("- a\n- b\n"),
        1,
        1,
        "",
        SpecErrorKind::Type,
        "not a list",
    );
    at(
        &one("just text\n"),
        1,
        1,
        "",
        SpecErrorKind::Type,
        "not a string",
    );
}

#[test]
fn a_cidr_that_does_not_parse() {
    let e = one("name: x\nsubnet: 10.205.0/24\n");
    at(
        &e,
        2,
        9,
        "subnet",
        SpecErrorKind::Address,
        "not a subnet in CIDR form",
    );
    let e = one("name: x\nsubnet: 10.205.0.0/33\n");
    at(
        &e,
        2,
        9,
        "subnet",
        SpecErrorKind::Address,
        "not a subnet in CIDR form",
    );
}

#[test]
fn a_prefix_out_of_range_or_with_host_bits() {
    let e = one("name: x\nsubnet: 10.205.0.0/29\n");
    at(
        &e,
        2,
        9,
        "subnet",
        SpecErrorKind::Address,
        "prefix /29 is out of range",
    );
    let e = one("name: x\nsubnet: 10.0.0.0/7\n");
    at(
        &e,
        2,
        9,
        "subnet",
        SpecErrorKind::Address,
        "prefix /7 is out of range",
    );
    let e = one("name: x\nsubnet: 10.205.0.5/24\n");
    at(
        &e,
        2,
        9,
        "subnet",
        SpecErrorKind::Address,
        "did you mean 10.205.0.0/24",
    );
}

#[test]
fn each_bad_static_address_is_named_with_its_reason() {
    for (ip, why) in [
        ("10.205.1.10", "outside the lab subnet 10.205.0.0/24"),
        ("10.205.0.0", "network address"),
        ("10.205.0.255", "broadcast address"),
        ("10.205.0.1", "gateway"),
        ("10.205.0.2", "netd"),
        ("10.205.0.3", "reserved"),
        (
            "10.205.0.210",
            "inside the DHCP range 10.205.0.200-10.205.0.254",
        ),
        ("10.205.0.300", "not an IPv4 address"),
    ] {
        let e = one(&format!(
            "{BASE}containers:\n  - name: a\n    image: x\n    ip: {ip}\n"
        ));
        at(&e, 6, 9, "containers[0].ip", SpecErrorKind::Address, why);
    }
}

#[test]
fn a_static_address_used_twice() {
    let e = one(&format!(
        "{BASE}containers:\n  - {{name: a, image: x, ip: 10.205.0.40}}\nvms:\n  - name: v\n    image: IMAGE\n    ip: 10.205.0.40\n"
    ));
    at(
        &e,
        8,
        9,
        "vms[0].ip",
        SpecErrorKind::AddressInUse,
        "already used by containers[0] (a)",
    );
}

#[test]
fn a_dhcp_range_that_does_not_parse_or_fit() {
    let e = one(&format!("{BASE}dhcp_range: 10.205.0.200\n"));
    at(
        &e,
        3,
        13,
        "dhcp_range",
        SpecErrorKind::Address,
        "FIRST-LAST",
    );
    let e = one(&format!("{BASE}dhcp_range: 10.205.1.10-10.205.1.20\n"));
    at(&e, 3, 13, "dhcp_range", SpecErrorKind::Address, "would fit");
    // A custom DHCP range moves the static range; a static address inside it is refused.
    let e = one(&format!(
        "{BASE}dhcp_range: 10.205.0.100-10.205.0.150\ncontainers:\n  - {{name: a, image: x, ip: 10.205.0.120}}\n"
    ));
    at(
        &e,
        5,
        29,
        "containers[0].ip",
        SpecErrorKind::Address,
        "inside the DHCP range",
    );
}

#[test]
fn duplicate_names_across_containers_and_vms() {
    let e = one(&format!(
        "{BASE}containers:\n  - {{name: web, image: x}}\nvms:\n  - name: web\n    image: IMAGE\n"
    ));
    at(
        &e,
        6,
        11,
        "vms[0].name",
        SpecErrorKind::DuplicateName,
        "already used by containers[0]",
    );
}

#[test]
fn names_docker_libvirt_or_dns_would_reject() {
    for bad in [
        "Web",
        "web_1",
        "-web",
        "web-",
        "a.b",
        "\"\"",
        &"a".repeat(64),
    ] {
        let e = one(&format!(
            "{BASE}containers:\n  - name: {bad}\n    image: x\n"
        ));
        at(
            &e,
            4,
            11,
            "containers[0].name",
            SpecErrorKind::BadName,
            "lowercase letters",
        );
    }
    let e = one("name: Lab_1\nsubnet: 10.205.0.0/24\n");
    at(
        &e,
        1,
        7,
        "name",
        SpecErrorKind::BadName,
        "lab name \"Lab_1\"",
    );
    // Without `name`, the network name is also the lab's name: both rules are broken.
    let all = errors("network_name: bad/net\nsubnet: 10.205.0.0/24\n");
    assert_eq!(all.len(), 2, "{all:#?}");
    at(
        &all[0],
        1,
        15,
        "network_name",
        SpecErrorKind::BadName,
        "also the lab's name",
    );
    at(
        &all[1],
        1,
        15,
        "network_name",
        SpecErrorKind::BadName,
        "not valid for Docker",
    );
    let e = one(&format!("{BASE}domain: bad..lab\n"));
    at(&e, 3, 9, "domain", SpecErrorKind::BadName, "not a DNS name");
    let e = one(&format!(
        "{BASE}vms:\n  - name: v\n    image: IMAGE\n    user: Root\n"
    ));
    at(
        &e,
        6,
        11,
        "vms[0].user",
        SpecErrorKind::BadName,
        "Linux user name",
    );
    let e = one(&format!("{BASE}attach_to: a-very-long-interface\n"));
    at(
        &e,
        3,
        12,
        "attach_to",
        SpecErrorKind::BadName,
        "interface name",
    );
}

#[test]
fn zero_memory_or_vcpus() {
    let p = places(&format!(
        "{BASE}containers:\n  - {{name: a, image: x, memory_mb: 0, cpus: 0}}\nvms:\n  - name: v\n    image: IMAGE\n    memory_mb: 0\n    vcpus: 0\n"
    ));
    assert_eq!(
        p,
        vec![
            (
                4,
                36,
                "containers[0].memory_mb".into(),
                SpecErrorKind::BadValue
            ),
            (4, 45, "containers[0].cpus".into(), SpecErrorKind::BadValue),
            (8, 16, "vms[0].memory_mb".into(), SpecErrorKind::BadValue),
            (9, 12, "vms[0].vcpus".into(), SpecErrorKind::BadValue),
        ]
    );
}

#[test]
fn a_vm_image_that_does_not_exist() {
    let e = one(&format!(
        "{BASE}vms:\n  - name: v\n    image: /nonexistent/t-hub-spec.qcow2\n"
    ));
    at(
        &e,
        5,
        12,
        "vms[0].image",
        SpecErrorKind::MissingImage,
        "/nonexistent/t-hub-spec.qcow2 does not exist",
    );
    let dir = env!("CARGO_MANIFEST_DIR");
    let e = one(&format!("{BASE}vms:\n  - name: v\n    image: {dir}\n"));
    at(
        &e,
        5,
        12,
        "vms[0].image",
        SpecErrorKind::MissingImage,
        "is not a file",
    );
}

#[test]
fn a_vm_image_that_is_no_disk_image() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("debian.qcow2");
    std::fs::write(&text, "not a disk\n").unwrap();
    let e = one(&format!(
        "{BASE}vms:\n  - name: v\n    image: {}\n",
        text.display()
    ));
    at(
        &e,
        5,
        12,
        "vms[0].image",
        SpecErrorKind::BadImage,
        "is not a disk image",
    );
}

#[test]
fn a_network_type_other_than_bridge() {
    let e = one(&format!("{BASE}network_type: macvlan\n"));
    at(
        &e,
        3,
        15,
        "network_type",
        SpecErrorKind::BadValue,
        "only \"bridge\" is, for now",
    );
}

#[test]
fn a_vpn_subnet_overlapping_the_lab_subnet() {
    let e = one(&format!("{BASE}wireguard:\n  subnet: 10.205.0.128/25\n"));
    at(
        &e,
        4,
        11,
        "wireguard.subnet",
        SpecErrorKind::Overlap,
        "overlaps the lab subnet 10.205.0.0/24",
    );
    let e = one(&format!("{BASE}wireguard:\n  subnet: 10.0.0.0/8\n"));
    at(
        &e,
        4,
        11,
        "wireguard.subnet",
        SpecErrorKind::Overlap,
        "overlaps",
    );
    let e = one(&format!("{BASE}wireguard:\n  subnet: 10.214.0.0/31\n"));
    at(
        &e,
        4,
        11,
        "wireguard.subnet",
        SpecErrorKind::Address,
        "prefix /31 is out of range",
    );
}

#[test]
fn bad_peer_addresses_and_names() {
    let p = places(&format!(
        "{BASE}wireguard:\n  subnet: 10.214.0.0/24\n  peers:\n    - {{name: a, address: 10.214.1.5}}\n    - {{name: b, address: 10.214.0.1}}\n    - {{name: c, address: 10.214.0.9/16}}\n    - {{name: a}}\n    - {{name: d, address: 10.214.0.7}}\n    - {{name: e, address: 10.214.0.7}}\n"
    ));
    assert_eq!(
        p,
        vec![
            (
                6,
                26,
                "wireguard.peers[0].address".into(),
                SpecErrorKind::Address
            ),
            (
                7,
                26,
                "wireguard.peers[1].address".into(),
                SpecErrorKind::Address
            ),
            (
                8,
                26,
                "wireguard.peers[2].address".into(),
                SpecErrorKind::Address
            ),
            (
                9,
                14,
                "wireguard.peers[3].name".into(),
                SpecErrorKind::DuplicateName
            ),
            (
                11,
                26,
                "wireguard.peers[5].address".into(),
                SpecErrorKind::AddressInUse
            ),
        ]
    );
    let e = one(&format!("{BASE}wireguard:\n  address: 10.10.0.2/24\n"));
    at(
        &e,
        4,
        12,
        "wireguard.address",
        SpecErrorKind::MissingField,
        "without `peer_name`",
    );
    let e = one(&format!(
        "{BASE}containers:\n  - {{name: web, image: x}}\nwireguard:\n  peer_name: web\n"
    ));
    at(
        &e,
        6,
        14,
        "wireguard.peer_name",
        SpecErrorKind::DuplicateName,
        "containers[0]",
    );
}

#[test]
fn depends_on_an_unknown_workload_or_a_cycle() {
    let e = one(&format!(
        "{BASE}containers:\n  - {{name: a, image: x, depends_on: [ghost]}}\n"
    ));
    at(
        &e,
        4,
        38,
        "containers[0].depends_on[0]",
        SpecErrorKind::UnknownDependency,
        "\"ghost\"",
    );
    let e = one(&format!(
        "{BASE}containers:\n  - {{name: a, image: x, depends_on: [b]}}\n  - {{name: b, image: x, depends_on: [c]}}\nvms:\n  - name: c\n    image: IMAGE\n    depends_on: [a]\n"
    ));
    at(
        &e,
        9,
        18,
        "vms[0].depends_on[0]",
        SpecErrorKind::DependencyCycle,
        "a -> b -> c -> a",
    );
    let e = one(&format!(
        "{BASE}containers:\n  - {{name: a, image: x, depends_on: [a]}}\n"
    ));
    at(
        &e,
        4,
        38,
        "containers[0].depends_on[0]",
        SpecErrorKind::DependencyCycle,
        "a -> a",
    );
}

#[test]
fn too_many_workloads_for_the_subnet() {
    let mut y = "name: t-hub-small\nsubnet: 10.205.0.16/28\ncontainers:\n".to_string();
    for i in 0..9 {
        y.push_str(&format!("  - {{name: c{i}, image: x}}\n"));
    }
    // A /28 has 8 automatic addresses (.20 to .27): the ninth container gets none.
    let e = one(&y);
    at(
        &e,
        12,
        5,
        "containers[8]",
        SpecErrorKind::Exhausted,
        "no free address",
    );
}

#[test]
fn all_mistakes_of_a_file_are_reported_together_in_document_order() {
    let y = "name: t-hub-many
subnet: 10.205.0.0/24
colour: red
containers:
  - name: a
    image: x
    ip: 10.205.0.1
  - name: b
    image: [bad]
  - name: Bad
    image: x
    memory_mb: 0
vms:
  - name: a
    image: /nonexistent.qcow2
    vcpus: 0
wireguard:
  subnet: 10.205.0.0/16
";
    let errs = errors(y);
    let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "lab.yaml:3:1: colour: unknown field `colour`, expected one of `name`, `network_name`, `subnet`, `networks`, `network_type`, `attach_to`, `dhcp_range`, `domain`, `containers`, `vms`, `wireguard`, `checks`, `placement`, `mesh`, `hosts`",
            "lab.yaml:7:9: containers[0].ip: address 10.205.0.1 is the gateway (the bridge's own address)",
            "lab.yaml:9:12: containers[1].image: invalid type: list, expected a string",
            "lab.yaml:10:11: containers[2].name: name \"Bad\" is not valid: use 1 to 63 lowercase letters, digits or '-', starting and ending with a letter or digit (Docker, libvirt and DNS must all accept it)",
            "lab.yaml:12:16: containers[2].memory_mb: memory_mb must be more than 0",
            "lab.yaml:14:11: vms[0].name: name \"a\" is already used by containers[0]; container and VM names must be unique",
            "lab.yaml:15:12: vms[0].image: VM image /nonexistent.qcow2 does not exist",
            "lab.yaml:16:12: vms[0].vcpus: vcpus must be at least 1",
            "lab.yaml:18:11: wireguard.subnet: VPN subnet 10.205.0.0/16 overlaps the lab subnet 10.205.0.0/24",
        ]
    );
}

#[test]
fn an_alias_bomb_is_refused_quickly() {
    let mut y = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        y.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let e = one(&y);
    assert_eq!(e.kind, SpecErrorKind::Syntax, "{e}");
    assert!(e.message.starts_with("alias replay limit exceeded"), "{e}");
    assert!(
        !e.message.contains(" at line "),
        "the location is not repeated: {e}"
    );
}

#[test]
fn deep_nesting_is_refused() {
    let y = format!(
        "name: x\nsubnet: 10.205.0.0/24\nvms:\n  - name: v\n    image: IMAGE\n    cloud_init: {{a: {}{}}}\n",
        "[".repeat(200),
        "]".repeat(200)
    );
    let e = one(&y);
    assert_eq!((e.kind, e.line), (SpecErrorKind::Syntax, 6), "{e}");
}

#[test]
fn an_unreadable_file_is_named() {
    let e = LabSpec::from_file("/nonexistent/t-hub-spec.yaml").unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e.errors[0].kind, SpecErrorKind::Io);
    assert!(
        e.to_string()
            .starts_with("/nonexistent/t-hub-spec.yaml: cannot read"),
        "{e}"
    );
}

#[test]
fn a_file_larger_than_a_mebibyte_or_without_end_is_refused() {
    // A device without a size (and without an end) is read only up to the limit.
    let e = LabSpec::from_file("/dev/zero").unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e.errors[0].kind, SpecErrorKind::Io);
    assert!(
        e.to_string()
            .starts_with("/dev/zero: the spec file is larger than"),
        "{e}"
    );
    // A regular file one byte over the limit.
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, vec![b'#'; 1024 * 1024 + 1]).unwrap();
    let e = LabSpec::from_file(&big).unwrap_err();
    assert_eq!(e.errors[0].kind, SpecErrorKind::Io);
    assert!(
        e.to_string().contains("larger than the 1048576 bytes"),
        "{e}"
    );
}

#[test]
fn builder_specs_report_fields_without_a_file() {
    use hub_core::spec::{Container, Vpn};
    let spec = LabSpec::new("t-hub-b", "10.205.0.0/24")
        .container(Container::new("a", "x").ip("10.205.0.2"))
        .vpn(Vpn::new("10.205.0.0/25"));
    let e = spec.resolve().unwrap_err();
    let shown: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "<builder>: containers[0].ip: address 10.205.0.2 is netd's address (the lab's DHCP and DNS server)",
            "<builder>: wireguard.subnet: VPN subnet 10.205.0.0/25 overlaps the lab subnet 10.205.0.0/24",
        ]
    );
}

#[test]
fn bad_ports_and_mounts_name_their_place() {
    let c = "containers:\n  - name: a\n    image: x\n";
    let e = one(&format!("{BASE}{c}    ports: [\"8080:80\", \"8080:81\"]\n"));
    at(
        &e,
        6,
        24,
        "containers[0].ports[1]",
        SpecErrorKind::PortInUse,
        "host port 8080/tcp is already published by containers[0].ports[0]",
    );
    let e = one(&format!("{BASE}{c}    ports: [\"80:80/sctp\"]\n"));
    at(
        &e,
        6,
        13,
        "containers[0].ports[0]",
        SpecErrorKind::BadValue,
        "protocol \"sctp\" is not tcp or udp",
    );
    // The same host port over TCP and UDP is two ports.
    assert!(errors(&format!("{BASE}{c}    ports: [\"53:53\", \"53:53/udp\"]\n")).is_empty());
    let e = one(&format!(
        "{BASE}{c}    volumes: [\"./no-such-folder:/www:ro\"]\n"
    ));
    at(
        &e,
        6,
        15,
        "containers[0].volumes[0]",
        SpecErrorKind::MissingFile,
        "no-such-folder does not exist",
    );
    let e = one(&format!("{BASE}{c}    volumes: [\"./x:www\"]\n"));
    at(
        &e,
        6,
        15,
        "containers[0].volumes[0]",
        SpecErrorKind::BadValue,
        "must be an absolute path",
    );
    // A named volume is the lab's own: nothing to check on the host.
    assert!(errors(&format!("{BASE}{c}    volumes: [\"data:/var/lib/data\"]\n")).is_empty());
}

#[test]
fn bad_vm_files_name_their_place() {
    let v = "vms:\n  - name: v\n    image: IMAGE\n    files:\n";
    let e = one(&format!(
        "{BASE}{v}      - {{source: ./no-such-file, path: /etc/x}}\n"
    ));
    at(
        &e,
        7,
        18,
        "vms[0].files[0].source",
        SpecErrorKind::MissingFile,
        "no-such-file cannot be read",
    );
    let image = image();
    let e = one(&format!(
        "{BASE}{v}      - {{source: {image}, path: etc/x, mode: \"0644\"}}\n"
    ));
    assert_eq!(
        (e.field.as_str(), e.kind),
        ("vms[0].files[0].path", SpecErrorKind::BadValue),
        "{e}"
    );
    assert!(e.message.contains("must be an absolute file path"), "{e}");
    let e = one(&format!(
        "{BASE}{v}      - source: {image}\n        path: /etc/x\n        mode: \"0988\"\n"
    ));
    at(
        &e,
        9,
        15,
        "vms[0].files[0].mode",
        SpecErrorKind::BadValue,
        "is not an octal mode",
    );
    let e = one(&format!(
        "{BASE}{v}      - source: {image}\n        path: /etc/x\n        owner: \"Root:wheel\"\n"
    ));
    at(
        &e,
        9,
        16,
        "vms[0].files[0].owner",
        SpecErrorKind::BadName,
        "is not user or user:group",
    );
    // A folder is not a file.
    let dir = env!("CARGO_MANIFEST_DIR");
    let e = one(&format!(
        "{BASE}{v}      - {{source: {dir}, path: /etc/x}}\n"
    ));
    assert!(e.message.contains("is not a file"), "{e}");
}

#[test]
fn checks_name_what_they_get_wrong_all_at_once() {
    let yaml = "\
name: ck9
subnet: 10.232.9.0/24
containers:
  - {name: web, image: busybox}
wireguard:
  peers: [{name: laptop}]
checks:
  - {name: a, from: web, to: dbx, tcp: 5432}
  - {name: b, from: vpn:phone, to: web, ping: true}
  - {name: c, from: web, to: vpn:laptop, tcp: 80, ping: true}
  - {name: d, from: web, to: 10.232.9.1, tcp: 70000}
  - {name: e, from: web, to: 10.232.9.1}
  - {name: a, from: web, to: 10.232.9.1, http: \"https://x/\"}
  - {name: g, from: 10.232.9.1, to: web, ping: true, expect: 200}
  - {name: h, from: web, to: web, tcp: 0}
";
    let e = errors(yaml);
    let found: Vec<(u64, u64, &str, SpecErrorKind)> = e
        .iter()
        .map(|e| (e.line, e.column, e.field.as_str(), e.kind))
        .collect();
    use SpecErrorKind::*;
    assert_eq!(
        found,
        [
            (8, 30, "checks[0].to", UnknownName),
            (9, 21, "checks[1].from", UnknownName),
            (10, 47, "checks[2].tcp", BadValue),
            (11, 47, "checks[3].tcp", Type),
            (12, 21, "checks[4].from", MissingField),
            (13, 48, "checks[5].http", BadValue),
            (14, 21, "checks[6].from", BadValue),
            (14, 62, "checks[6].expect", BadValue),
            (15, 30, "checks[7].to", BadValue),
            (15, 40, "checks[7].tcp", BadValue),
        ],
        "{e:#?}"
    );
    let says =
        |i: usize, what: &str| assert!(e[i].message.contains(what), "{} lacks {what:?}", e[i]);
    says(0, "no workload \"dbx\" (it has: web)");
    says(1, "no VPN peer \"phone\" (it has: laptop)");
    says(2, "has 2: ping, tcp");
    says(4, "has no probe");
    says(5, "https is not supported");
    says(6, "not from an address");
    says(7, "expects `blocked` or nothing");
    says(9, "1 to 65535");
    assert!(
        e[0].to_string()
            .starts_with("lab.yaml:8:30: checks[0].to: "),
        "{}",
        e[0]
    );
}
