//! `hosts:`, `host:` and `placement:` in a spec: what is accepted, and every mistake with its
//! file, line, column and field, all reported together.

use hub_core::spec::{DockerEndpoint, LabSpec, Placement, SpecError, SpecErrorKind};

/// A TLS folder with the three files Docker's TLS needs (their content is not read here).
fn tls_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("dir");
    for f in hub_core::spec::TLS_FILES {
        std::fs::write(d.path().join(f), "x").expect("write");
    }
    d
}

fn errors(yaml: &str) -> Vec<SpecError> {
    let resolved = LabSpec::from_yaml(yaml, "lab.yaml").and_then(|s| s.resolve());
    resolved.err().map(|e| e.errors).unwrap_or_default()
}

fn places(yaml: &str) -> Vec<(u64, u64, String, SpecErrorKind)> {
    errors(yaml)
        .into_iter()
        .map(|e| (e.line, e.column, e.field, e.kind))
        .collect()
}

/// Asserts that each of `want` (line, column, field, kind) is among `got`.
fn assert_placed(
    got: &[(u64, u64, String, SpecErrorKind)],
    want: &[(u64, u64, &str, SpecErrorKind)],
) {
    for &(line, column, field, kind) in want {
        assert!(
            got.contains(&(line, column, field.to_string(), kind)),
            "missing {field} at {line}:{column} ({kind:?}) in {got:#?}"
        );
    }
}

/// Asserts that the error at `field` says `text` and names the spec file.
fn assert_says(all: &[SpecError], field: &str, text: &str) {
    let e = all.iter().find(|e| e.field == field).expect(field);
    assert!(e.message.contains(text), "{e}");
    assert!(e.to_string().starts_with("lab.yaml:"), "{e}");
}

#[test]
fn hosts_pins_and_placement_resolve() {
    let tls = tls_dir();
    let yaml = format!(
        "name: ms-spec\nsubnet: 10.204.1.0/24\nplacement: round-robin\nhosts:\n  - name: h1\n  \
         - name: h2\n    docker: tcp://10.204.250.2:2376\n    tls: {}\n    address: 10.204.250.2\n\
         containers:\n  - {{name: a, image: busybox, host: h2}}\n  - {{name: b, image: busybox}}\n",
        tls.path().display()
    );
    let r = LabSpec::from_yaml(&yaml, "lab.yaml")
        .and_then(|s| s.resolve())
        .expect("valid");
    assert_eq!(r.placement, Placement::RoundRobin);
    assert_eq!(r.hosts.len(), 2);
    assert_eq!(r.hosts[0].libvirt.as_deref(), Some("qemu:///system"));
    assert_eq!(
        r.hosts[1].docker,
        DockerEndpoint::Tcp {
            addr: "10.204.250.2:2376".into(),
            tls: tls.path().to_path_buf()
        }
    );
    assert_eq!(
        r.hosts[1].libvirt, None,
        "a remote engine has no libvirt unless given"
    );
    assert_eq!(r.hosts[1].address, Some("10.204.250.2".parse().unwrap()));
    // `hub validate` shows them.
    let shown = r.to_string();
    assert!(shown.contains("h2    tcp://10.204.250.2:2376"), "{shown}");
    assert!(shown.contains("placement: round-robin"), "{shown}");
}

#[test]
fn a_spec_without_hosts_is_unchanged() {
    let yaml = "name: ms-one\nsubnet: 10.204.2.0/24\ncontainers:\n  - {name: a, image: busybox}\n";
    let r = LabSpec::from_yaml(yaml, "lab.yaml")
        .and_then(|s| s.resolve())
        .expect("valid");
    assert!(r.hosts.is_empty());
    assert_eq!(r.placement, Placement::Epvm);
    let json = serde_json::to_string(&r).expect("json");
    assert!(
        !json.contains("hosts") && !json.contains("placement"),
        "{json}"
    );
}

#[test]
fn every_host_mistake_is_reported_at_its_place_together() {
    let yaml = "\
name: ms-bad
subnet: 10.204.3.0/24
hosts:
  - name: h1
    address: 10.204.250.1
  - name: h1
    address: 10.204.250.1
  - name: h3
    docker: tcp://10.204.250.3:2376
  - name: h4
    docker: ssh://me@h4/var/run/docker.sock
    libvirt: xen:///
  - name: h5
    docker: tcp://nope
    tls: /nonexistent/ms-certs
  - name: h6
    docker: tcp://10.204.250.6:2376
    tls: /nonexistent/ms-certs
containers:
  - {name: a, image: busybox, host: h9}
vms:
  - {name: v, image: /dev/null, host: h6}
";
    let got = places(yaml);
    let want = [
        (6, 11, "hosts[1].name", SpecErrorKind::DuplicateName),
        (7, 14, "hosts[1].address", SpecErrorKind::AddressInUse),
        (9, 13, "hosts[2].docker", SpecErrorKind::BadValue),
        (11, 13, "hosts[3].docker", SpecErrorKind::BadValue),
        (12, 14, "hosts[3].libvirt", SpecErrorKind::BadValue),
        (14, 13, "hosts[4].docker", SpecErrorKind::BadValue),
        (18, 10, "hosts[5].tls", SpecErrorKind::MissingFile),
        (20, 37, "containers[0].host", SpecErrorKind::UnknownName),
        (22, 39, "vms[0].host", SpecErrorKind::BadValue),
        (6, 5, "hosts[1].docker", SpecErrorKind::DuplicateName),
    ];
    assert_placed(&got, &want);
    let all = errors(yaml);
    let says = |field: &str, text: &str| assert_says(&all, field, text);
    says("hosts[1].name", "host \"h1\" is already hosts[0]");
    says(
        "hosts[1].address",
        "address 10.204.250.1 is already host \"h1\"'s",
    );
    says("hosts[2].docker", "needs `tls`");
    says("hosts[3].docker", "has a path or a query");
    says("hosts[5].tls", "has no ca.pem, cert.pem, key.pem");
    says(
        "containers[0].host",
        "host \"h9\" is not in `hosts` (h1, h1, h3, h4, h5, h6)",
    );
    says("vms[0].host", "host \"h6\" has no libvirt to run a VM");
}

#[test]
fn a_pin_without_hosts_and_a_bad_placement_are_refused() {
    let yaml = "name: ms-pin\nsubnet: 10.204.4.0/24\nplacement: fastest\ncontainers:\n  - {name: a, image: busybox, host: h2}\n";
    let got = places(yaml);
    assert!(
        got.iter().any(|g| g.2 == "placement" && g.0 == 3),
        "{got:#?}"
    );
    assert!(
        got.iter().any(|g| *g
            == (
                5,
                37,
                "containers[0].host".into(),
                SpecErrorKind::UnknownName
            )),
        "{got:#?}"
    );
}

#[test]
fn several_hosts_refuse_what_runs_on_one_host_only() {
    let yaml = "name: ms-seg\nattach_to: other\nsubnet: 10.204.5.0/24\nhosts:\n  - name: h1\n  - name: h2\n    docker: unix:///run/ms-other.sock\n    libvirt: none\n";
    let got = places(yaml);
    assert!(
        got.iter()
            .any(|g| g.2 == "attach_to" && g.3 == SpecErrorKind::BadValue && g.0 == 2),
        "{got:#?}"
    );
}

#[test]
fn the_builder_takes_hosts_and_placement() {
    let tls = tls_dir();
    let spec = LabSpec::new("ms-built", "10.204.6.0/24")
        .host(hub_core::Host::new("h1"))
        .host(
            hub_core::Host::new("h2")
                .docker("tcp://10.204.250.2:2376")
                .tls(tls.path())
                .libvirt("qemu+tcp://10.204.250.2/system")
                .address("10.204.250.2"),
        )
        .placement(Placement::RoundRobin)
        .container(hub_core::Container::new("a", "busybox").host("h2"));
    let r = spec.resolve().expect("valid");
    assert_eq!(
        r.hosts[1].libvirt.as_deref(),
        Some("qemu+tcp://10.204.250.2/system")
    );
    let bad = LabSpec::new("ms-built", "10.204.6.0/24")
        .container(hub_core::Container::new("a", "busybox").host("h2"))
        .resolve()
        .unwrap_err();
    assert!(
        bad.errors[0].to_string().contains("containers[0].host"),
        "{bad}"
    );
}

#[test]
fn mesh_settings_are_taken_and_their_mistakes_placed() {
    let hosts = "hosts:\n  - name: h1\n  - name: h2\n    docker: unix:///run/ms-other.sock\n    libvirt: none\n";
    let good = format!(
        "name: ms-mesh\nsubnet: 10.204.7.0/24\n{hosts}mesh: {{port: 52999, underlay_mtu: 9000}}\n"
    );
    let spec = LabSpec::from_yaml(&good, "lab.yaml").expect("parses");
    let mesh = spec.mesh.clone().expect("mesh");
    assert_eq!((mesh.port, mesh.lab_mtu()), (Some(52999), 8870));
    assert!(spec.resolve().is_ok());

    let bad = format!(
        "name: ms-mesh\nsubnet: 10.204.7.0/24\n{hosts}mesh:\n  port: 0\n  underlay_mtu: 700\n"
    );
    let got = places(&bad);
    assert!(
        got.contains(&(9, 9, "mesh.port".into(), SpecErrorKind::BadValue)),
        "{got:#?}"
    );
    assert!(
        got.contains(&(10, 17, "mesh.underlay_mtu".into(), SpecErrorKind::BadValue)),
        "{got:#?}"
    );
    let says = errors(&bad)
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        says.contains("underlay_mtu 700 leaves the lab 570 bytes"),
        "{says}"
    );

    let alone = "name: ms-mesh\nsubnet: 10.204.7.0/24\nmesh: {port: 52999}\n";
    let got = places(alone);
    assert!(got.iter().any(|g| g.2 == "mesh" && g.0 == 3), "{got:#?}");
    let unknown = "name: ms-mesh\nsubnet: 10.204.7.0/24\nmesh: {prot: 52999}\n";
    assert!(
        errors(unknown)
            .iter()
            .any(|e| e.to_string().contains("prot")),
        "{:#?}",
        errors(unknown)
    );
}

#[test]
fn a_primary_on_another_machine_is_taken_and_its_vpn_needs_an_address_and_a_second_host() {
    let tls = tls_dir();
    let far = |address: &str| {
        format!(
            "  - name: far\n    docker: tcp://10.204.250.9:2376\n    tls: {}\n    libvirt: none\n{address}",
            tls.path().display()
        )
    };
    // netd and the gateway go to the primary, whatever machine it is.
    let two = format!(
        "name: ms-prim\nsubnet: 10.204.8.0/24\nhosts:\n{}  - name: here\n",
        far("    address: 10.204.250.9\n")
    );
    assert!(errors(&two).is_empty(), "{:#?}", errors(&two));
    // Clients dial the primary: without its address nor an endpoint they could not.
    let vpn = "wireguard:\n  subnet: 10.204.9.0/24\n  peers: [{name: laptop}]\n";
    let no_address = format!(
        "name: ms-prim\nsubnet: 10.204.8.0/24\nhosts:\n{}  - name: here\n{vpn}",
        far("")
    );
    let got = errors(&no_address);
    assert_says(
        &got,
        "hosts[0].address",
        "the VPN's clients dial the primary \"far\"",
    );
    let e = got.iter().find(|e| e.field == "hosts[0].address").unwrap();
    assert_eq!((e.line, e.column), (4, 5), "{e}");
    let with_endpoint = format!("{no_address}  endpoint: vpn.example.org\n");
    assert!(
        errors(&with_endpoint).is_empty(),
        "{:#?}",
        errors(&with_endpoint)
    );
    // Alone, nothing on the far host would route the clients back.
    let alone = format!(
        "name: ms-prim\nsubnet: 10.204.8.0/24\nhosts:\n{}{vpn}",
        far("    address: 10.204.250.9\n")
    );
    assert_says(&errors(&alone), "wireguard", "add a second host");
    let alone_no_vpn = format!(
        "name: ms-prim\nsubnet: 10.204.8.0/24\nhosts:\n{}",
        far("    address: 10.204.250.9\n")
    );
    assert!(
        errors(&alone_no_vpn).is_empty(),
        "{:#?}",
        errors(&alone_no_vpn)
    );
}

/// A file of `mode` holding `text`, in `dir`.
fn file(dir: &std::path::Path, name: &str, mode: u32) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, "x").expect("write");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    p
}

#[test]
fn ssh_hosts_take_a_key_and_known_hosts_relative_to_the_spec() {
    let dir = tempfile::tempdir().expect("dir");
    file(dir.path(), "h2.key", 0o600);
    file(dir.path(), "known_hosts", 0o644);
    let yaml = "name: ms-ssh\nsubnet: 10.204.9.0/24\nhosts:\n  - name: h1\n  - name: h2\n    \
                docker: ssh://hub@10.204.250.2:2222\n    ssh_key: h2.key\n    known_hosts: \
                known_hosts\n    address: 10.204.250.2\n";
    let r = LabSpec::from_yaml(yaml, dir.path().join("lab.yaml"))
        .and_then(|s| s.resolve())
        .expect("valid");
    assert_eq!(
        r.hosts[1].docker,
        DockerEndpoint::Ssh {
            user: Some("hub".into()),
            host: "10.204.250.2".into(),
            port: Some(2222),
            key: Some(dir.path().join("h2.key")),
            known_hosts: Some(dir.path().join("known_hosts")),
        }
    );
    assert_eq!(
        r.hosts[1].libvirt, None,
        "a remote engine has no libvirt unless given"
    );
    assert!(
        r.to_string().contains("h2    ssh://hub@10.204.250.2:2222"),
        "{r}"
    );

    // The builder says the same.
    let built = LabSpec::new("ms-ssh", "10.204.9.0/24")
        .host(hub_core::Host::new("h1"))
        .host(
            hub_core::Host::new("h2")
                .docker("ssh://hub@10.204.250.2:2222")
                .ssh_key(dir.path().join("h2.key"))
                .known_hosts(dir.path().join("known_hosts"))
                .address("10.204.250.2"),
        )
        .resolve()
        .expect("valid");
    assert_eq!(built.hosts[1].docker, r.hosts[1].docker);
}

#[test]
fn ssh_host_mistakes_are_placed_at_their_fields() {
    let dir = tempfile::tempdir().expect("dir");
    let open_key = file(dir.path(), "open.key", 0o644);
    let tls = tls_dir();
    let yaml = format!(
        "\
name: ms-ssh-bad
subnet: 10.204.10.0/24
hosts:
  - name: h1
  - name: h2
    docker: ssh://hub@10.204.250.2
    tls: {tls}
  - name: h3
    docker: ssh://hub@10.204.250.3
    ssh_key: /nonexistent/ms-key
    known_hosts: /nonexistent/ms-known
  - name: h4
    docker: tcp://10.204.250.4:2376
    tls: {tls}
    ssh_key: {open}
  - name: h5
    docker: ssh://hub@10.204.250.5
    ssh_key: {open}
  - name: h6
    docker: ssh://hub@10.204.250.6:70000
",
        tls = tls.path().display(),
        open = open_key.display(),
    );
    assert_placed(
        &places(&yaml),
        &[
            (7, 10, "hosts[1].tls", SpecErrorKind::BadValue),
            (10, 14, "hosts[2].ssh_key", SpecErrorKind::MissingFile),
            (11, 18, "hosts[2].known_hosts", SpecErrorKind::MissingFile),
            (15, 14, "hosts[3].ssh_key", SpecErrorKind::BadValue),
            (18, 14, "hosts[4].ssh_key", SpecErrorKind::BadValue),
            (20, 13, "hosts[5].docker", SpecErrorKind::BadValue),
        ],
    );
    let all = errors(&yaml);
    let says = |field: &str, text: &str| assert_says(&all, field, text);
    says(
        "hosts[1].tls",
        "`tls` is for a tcp:// endpoint; an ssh:// endpoint takes none",
    );
    says("hosts[2].ssh_key", "/nonexistent/ms-key is not a file");
    says(
        "hosts[2].known_hosts",
        "/nonexistent/ms-known is not a file",
    );
    says("hosts[3].ssh_key", "`ssh_key` is for an ssh:// endpoint");
    says("hosts[4].ssh_key", "may be read by others (mode 0644)");
    says("hosts[5].docker", "\"70000\" is not a port");

    // An ssh:// engine may be the primary too.
    let prim = "name: ms-ssh-prim\nsubnet: 10.204.11.0/24\nhosts:\n  - name: far\n    docker: \
                ssh://hub@10.204.250.9\n    address: 10.204.250.9\n  - name: here\n";
    assert!(errors(prim).is_empty(), "{:#?}", errors(prim));
}
