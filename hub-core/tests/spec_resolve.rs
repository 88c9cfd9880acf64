//! Resolution: addresses, MACs, hashes, VPN peers, determinism, output.

use std::net::Ipv4Addr;

use hub_core::spec::{Container, ContainerHealthcheck, LabSpec, ResolvedLab, Vm, Vpn, WorkloadDef};
use hub_runtime::{RestartPolicy, WorkloadSpec};

fn image() -> String {
    format!("{}/tests/fixtures/magic.qcow2", env!("CARGO_MANIFEST_DIR"))
}

fn lab() -> LabSpec {
    LabSpec::new("t-hub-res", "10.205.0.0/24")
        .container(Container::new("db", "postgres:16").env("POSTGRES_PASSWORD", "x"))
        .container(
            Container::new("web", "nginx:alpine")
                .ip("10.205.0.31")
                .depends_on("db"),
        )
        .container(Container::new("cache", "redis:7"))
        .vm(Vm::new("agent", image())
            .memory_mb(512)
            .packages(["curl"])
            .depends_on("web"))
        .vpn(
            Vpn::new("10.214.0.0/24")
                .peer("laptop")
                .peer_with_address("phone", "10.214.0.2")
                .peer("tablet"),
        )
}

fn ips(lab: &ResolvedLab) -> Vec<(String, Ipv4Addr)> {
    lab.workloads
        .iter()
        .map(|w| (w.name.clone(), w.ip))
        .collect()
}

#[test]
fn statics_are_reserved_first_then_the_rest_lowest_free_in_spec_order() {
    let r = lab().resolve().unwrap();
    assert_eq!(
        ips(&r),
        vec![
            ("db".into(), Ipv4Addr::new(10, 205, 0, 30)),
            ("web".into(), Ipv4Addr::new(10, 205, 0, 31)),
            ("cache".into(), Ipv4Addr::new(10, 205, 0, 32)),
            ("agent".into(), Ipv4Addr::new(10, 205, 0, 33)),
        ]
    );
    assert_eq!(r.domain, "t-hub-res.lab");
    assert_eq!(r.workload("web").unwrap().fqdn, "web.t-hub-res.lab");
    assert!(r.workload("web").unwrap().static_ip);
    assert!(!r.workload("db").unwrap().static_ip);
}

#[test]
fn vpn_peers_get_addresses_from_dot2_up_skipping_fixed_ones() {
    let r = lab().resolve().unwrap();
    let vpn = r.vpn.unwrap();
    let got: Vec<(&str, Ipv4Addr)> = vpn
        .peers
        .iter()
        .map(|p| (p.name.as_str(), p.address))
        .collect();
    assert_eq!(
        got,
        vec![
            ("laptop", Ipv4Addr::new(10, 214, 0, 3)),
            ("phone", Ipv4Addr::new(10, 214, 0, 2)),
            ("tablet", Ipv4Addr::new(10, 214, 0, 4)),
        ]
    );
    assert!(
        lab()
            .vpn(Vpn::new("10.214.0.0/24").enabled(false))
            .resolve()
            .unwrap()
            .vpn
            .is_none()
    );
}

#[test]
fn the_same_spec_always_resolves_to_the_same_plan() {
    let a = lab().resolve().unwrap();
    for _ in 0..5 {
        assert_eq!(lab().resolve().unwrap(), a);
    }
    let yaml = "name: t-hub-det\nsubnet: 10.205.0.0/24\ncontainers:\n  - {name: a, image: x, env: {B: 1, A: 2}}\n  - {name: b, image: y}\n";
    let x = LabSpec::from_yaml(yaml, "a.yaml")
        .unwrap()
        .resolve()
        .unwrap();
    let y = LabSpec::from_yaml(yaml, "a.yaml")
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(x, y);
    assert_eq!(
        serde_json::to_string(&x).unwrap(),
        serde_json::to_string(&y).unwrap()
    );
}

#[test]
fn macs_are_deterministic_distinct_and_locally_administered() {
    let r = lab().resolve().unwrap();
    let mut macs: Vec<String> = r.workloads.iter().map(|w| w.mac.to_string()).collect();
    for m in &macs {
        assert!(m.starts_with("52:54:00:") && m.len() == 17, "{m}");
    }
    macs.sort();
    macs.dedup();
    assert_eq!(macs.len(), r.workloads.len());
    assert_eq!(
        r.workload("db").unwrap().mac,
        hub_core::spec::derive_mac("t-hub-res", "db", 0)
    );
    let other = lab().name("t-hub-res2").resolve().unwrap();
    assert_ne!(
        other.workload("db").unwrap().mac,
        r.workload("db").unwrap().mac
    );
}

#[test]
fn changing_one_workload_changes_only_its_hash() {
    let before = lab().resolve().unwrap();
    let mut spec = lab();
    spec.containers[2] = Container::new("cache", "redis:7").env("MAXMEMORY", "64mb");
    let after = spec.resolve().unwrap();
    for (b, a) in before.workloads.iter().zip(&after.workloads) {
        if a.name == "cache" {
            assert_ne!(a.spec_hash, b.spec_hash);
        } else {
            assert_eq!(a.spec_hash, b.spec_hash, "{}", a.name);
        }
        assert_eq!(a.spec_hash.len(), 64);
        assert!(a.spec_hash.bytes().all(|c| c.is_ascii_hexdigit()));
    }
    // The order maps are written in does not matter.
    let y1 = "name: t-hub-h\nsubnet: 10.205.0.0/24\ncontainers:\n  - {name: a, image: x, env: {B: 1, A: 2}}\n";
    let y2 = "name: t-hub-h\nsubnet: 10.205.0.0/24\ncontainers:\n  - {env: {A: 2, B: 1}, image: x, name: a}\n";
    let hash_of = |yaml: &str| {
        LabSpec::from_yaml(yaml, "a.yaml")
            .unwrap()
            .resolve()
            .unwrap()
            .workloads[0]
            .spec_hash
            .clone()
    };
    assert_eq!(hash_of(y1), hash_of(y2));
    // ...while a changed value does.
    assert_ne!(hash_of(y1), hash_of(&y1.replace("A: 2", "A: 3")));
}

#[test]
fn yaml_and_builder_give_the_same_plan() {
    let yaml = format!(
        "name: t-hub-res
subnet: 10.205.0.0/24
containers:
  - name: db
    image: postgres:16
    env: {{POSTGRES_PASSWORD: x}}
  - name: web
    image: nginx:alpine
    ip: 10.205.0.31
    depends_on: [db]
  - {{name: cache, image: \"redis:7\"}}
vms:
  - name: agent
    image: {}
    memory_mb: 512
    packages: [curl]
    depends_on: [web]
wireguard:
  subnet: 10.214.0.0/24
  peers: [{{name: laptop}}, {{name: phone, address: 10.214.0.2}}, {{name: tablet}}]
",
        image()
    );
    let mut from_yaml = LabSpec::from_yaml(&yaml, "/x/lab.yaml")
        .unwrap()
        .resolve()
        .unwrap();
    from_yaml.file = None;
    assert_eq!(from_yaml, lab().resolve().unwrap());
}

#[test]
fn workloads_convert_to_runtime_specs() {
    let spec = LabSpec::new("t-hub-conv", "10.205.0.0/24")
        .container(
            Container::new("web", "nginx:alpine")
                .cmd(["nginx", "-g", "daemon off;"])
                .label("team", "net")
                .cpus(0.5)
                .memory_mb(128)
                .restart(RestartPolicy::UnlessStopped)
                .healthcheck(
                    ContainerHealthcheck::new(["wget", "-q", "http://localhost/"]).retries(5),
                ),
        )
        .vm(Vm::new("v", image())
            .vcpus(2)
            .user("alice")
            .runcmd(["echo hi"])
            .cloud_init(serde_json::json!({"timezone": "UTC"})));
    let r = spec.resolve().unwrap();
    match r.workloads[0].to_workload_spec() {
        WorkloadSpec::Container(c) => {
            assert_eq!(c.name, "web");
            assert_eq!(c.ip, Some(Ipv4Addr::new(10, 205, 0, 30)));
            assert_eq!(c.mac, Some(r.workloads[0].mac));
            assert_eq!(c.cmd, ["nginx", "-g", "daemon off;"]);
            assert_eq!(c.resources.cpus, Some(0.5));
            assert_eq!(c.resources.memory_mb, Some(128));
            assert_eq!(c.restart, RestartPolicy::UnlessStopped);
            let hc = c.healthcheck.unwrap();
            assert_eq!((hc.retries, hc.interval.as_secs()), (5, 30));
            assert_eq!(c.spec_hash, r.workloads[0].spec_hash);
        }
        other => panic!("{other:?}"),
    }
    match r.workloads[1].to_workload_spec() {
        WorkloadSpec::Vm(v) => {
            assert_eq!((v.vcpus, v.user.as_str(), v.memory_mb), (2, "alice", 1024));
            assert_eq!(v.mac, r.workloads[1].mac);
            assert_eq!(v.ip, Some(Ipv4Addr::new(10, 205, 0, 31)));
            assert!(v.image.is_absolute());
            assert_eq!(v.cloud_init, Some(serde_json::json!({"timezone": "UTC"})));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn relative_vm_images_are_relative_to_the_spec_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.qcow2"), b"QFI\xfb").unwrap();
    let file = dir.path().join("lab.yaml");
    std::fs::write(
        &file,
        "name: t-hub-rel\nsubnet: 10.205.0.0/24\nvms:\n  - {name: v, image: base.qcow2}\n",
    )
    .unwrap();
    let r = LabSpec::from_file(&file).unwrap().resolve().unwrap();
    match &r.workloads[0].spec {
        WorkloadDef::Vm(v) => assert_eq!(v.image, dir.path().join("base.qcow2")),
        other => panic!("{other:?}"),
    }
    // Built in Rust, with a base folder set.
    let built = LabSpec::new("t-hub-rel", "10.205.0.0/24")
        .base_dir(dir.path())
        .vm(Vm::new("v", "base.qcow2"));
    built.resolve().unwrap();
}

#[test]
fn the_plan_prints_as_a_table_and_as_json() {
    let r = lab().resolve().unwrap();
    let text = r.to_string();
    for want in [
        "lab t-hub-res: network t-hub-res (bridge) 10.205.0.0/24, domain t-hub-res.lab",
        "gateway       10.205.0.1",
        "netd          10.205.0.2 (DHCP + DNS)",
        "DHCP range    10.205.0.200-10.205.0.254",
        "NAME   KIND       ADDRESS",
        "web    container  10.205.0.31",
        "agent  vm         10.205.0.33 (auto)",
        "vpn 10.214.0.0/24: gateway 10.214.0.1, port the lab's own (first free from 51820)",
        "laptop  10.214.0.3",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    let json: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(json["name"], "t-hub-res");
    assert_eq!(json["dhcp_range"]["start"], "10.205.0.200");
    assert_eq!(json["workloads"][1]["ip"], "10.205.0.31");
    assert_eq!(json["workloads"][1]["kind"], "container");
    assert_eq!(json["workloads"][3]["kind"], "vm");
    assert_eq!(json["vpn"]["peers"][0]["address"], "10.214.0.3");
}

#[test]
fn a_spec_serializes_back_to_yaml_that_loads_the_same() {
    let spec = lab();
    let json = serde_json::to_string(&spec).unwrap();
    // JSON is YAML: the loader reads it back to the same plan.
    let back = LabSpec::from_yaml(&json, "/x/lab.yaml").unwrap();
    let mut a = back.resolve().unwrap();
    a.file = None;
    assert_eq!(a, spec.resolve().unwrap());
}

#[test]
fn a_vms_files_are_read_into_its_seed_and_their_content_is_in_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::write(dir.path().join("conf/app.toml"), "port = 80\n").unwrap();
    let spec = |mode: Option<&str>| {
        let mut f = hub_core::spec::VmFile::new("./conf/app.toml", "/etc/app.toml");
        if let Some(m) = mode {
            f = f.mode(m).owner("hub:hub");
        }
        LabSpec::new("t-hub-files", "10.205.0.0/24")
            .base_dir(dir.path())
            .vm(Vm::new("v", image()).file(f))
    };
    let r = spec(None).resolve().unwrap();
    let WorkloadSpec::Vm(vm) = r.workloads[0].to_workload_spec() else {
        panic!("a VM");
    };
    assert_eq!(vm.files.len(), 1);
    let f = &vm.files[0];
    assert_eq!(
        (
            f.path.as_str(),
            f.content_base64.as_str(),
            f.permissions.as_str(),
            f.owner.as_str()
        ),
        ("/etc/app.toml", "cG9ydCA9IDgwCg==", "0644", "root:root")
    );
    let r2 = spec(Some("0600")).resolve().unwrap();
    let WorkloadSpec::Vm(vm2) = r2.workloads[0].to_workload_spec() else {
        panic!("a VM");
    };
    assert_eq!(
        (
            vm2.files[0].permissions.as_str(),
            vm2.files[0].owner.as_str()
        ),
        ("0600", "hub:hub")
    );
    // Same spec, same hash; a changed file content, another hash (the VM is re-created).
    let hash = r.workloads[0].spec_hash.clone();
    assert_eq!(spec(None).resolve().unwrap().workloads[0].spec_hash, hash);
    std::fs::write(dir.path().join("conf/app.toml"), "port = 81\n").unwrap();
    assert_ne!(spec(None).resolve().unwrap().workloads[0].spec_hash, hash);
    // The plan's JSON does not carry the contents.
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("cG9ydCA9IDgwCg=="), "{json}");
}
