//! The seed's example lab (examples/labs/seed.yaml) is accepted unchanged.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use hub_core::spec::{LabSpec, SpecErrorKind};
use hub_runtime::WorkloadKind;

fn seed_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/labs/seed.yaml")
}

#[test]
fn the_seed_parses_and_its_only_mistake_is_the_missing_image() {
    let spec = LabSpec::from_file(seed_path()).expect("the seed example parses");
    assert_eq!(spec.lab_name(), Some("demo-net"));
    assert_eq!(spec.containers.len(), 2);
    assert_eq!(
        spec.vms[0].packages,
        ["curl", "wget", "vim", "htop", "net-tools", "nmap"]
    );
    let errs = spec.validate().unwrap_err();
    assert_eq!(errs.len(), 1, "{errs}");
    let e = &errs.errors[0];
    assert_eq!(
        (e.kind, e.line, e.column, e.field.as_str()),
        (SpecErrorKind::MissingImage, 16, 12, "vms[0].image")
    );
    let expected_image = seed_path().parent().unwrap().join("images/debian-12.qcow2");
    assert!(
        e.message.contains(
            &std::path::absolute(expected_image)
                .unwrap()
                .display()
                .to_string()
        ),
        "{e}"
    );
}

#[test]
fn the_seed_with_its_image_present_validates_clean_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("images")).unwrap();
    std::fs::write(
        dir.path().join("images/debian-12.qcow2"),
        b"QFI\xfb: only the qcow2 magic, all that validation reads",
    )
    .unwrap();
    let file = dir.path().join("lab.yaml");
    std::fs::copy(seed_path(), &file).unwrap();

    let spec = LabSpec::from_file(&file).unwrap();
    spec.validate().unwrap();
    let lab = spec.resolve().unwrap();
    assert_eq!(lab.name, "demo-net");
    assert_eq!(lab.network_name, "demo-net");
    assert_eq!(lab.domain, "demo-net.lab");
    assert_eq!(lab.gateway, Ipv4Addr::new(172, 19, 5, 1));
    assert_eq!(lab.netd, Ipv4Addr::new(172, 19, 5, 2));
    assert_eq!(lab.dhcp_range.to_string(), "172.19.5.200-172.19.5.254");
    let got: Vec<(&str, WorkloadKind, Ipv4Addr, bool)> = lab
        .workloads
        .iter()
        .map(|w| (w.name.as_str(), w.kind, w.ip, w.static_ip))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "web-demo",
                WorkloadKind::Container,
                Ipv4Addr::new(172, 19, 5, 10),
                true
            ),
            (
                "whoami",
                WorkloadKind::Container,
                Ipv4Addr::new(172, 19, 5, 11),
                true
            ),
            (
                "demo-vm",
                WorkloadKind::Vm,
                Ipv4Addr::new(172, 19, 5, 30),
                false
            ),
        ]
    );
    let vm = lab.workload("demo-vm").unwrap();
    match &vm.spec {
        hub_core::spec::WorkloadDef::Vm(v) => {
            assert_eq!(v.image, dir.path().join("images/debian-12.qcow2"));
            assert_eq!((v.memory_mb, v.vcpus, v.user.as_str()), (1024, 2, "hub"));
        }
        other => panic!("demo-vm resolved as {other:?}"),
    }
    let vpn = lab.vpn.as_ref().unwrap();
    assert_eq!(vpn.subnet.to_string(), "10.10.0.0/24");
    assert_eq!(vpn.server, Ipv4Addr::new(10, 10, 0, 1));
    // The seed gives no port: `up` takes the first free one from 51820 and keeps it.
    assert_eq!(vpn.listen_port, None);
    assert_eq!(vpn.peers.len(), 1);
    assert_eq!(vpn.peers[0].name, "demo-client");
    assert_eq!(vpn.peers[0].address, Ipv4Addr::new(10, 10, 0, 2));
}
