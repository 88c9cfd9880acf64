//! `hub check` with a VM (issue 14, parts 2 and 3): a real libvirt guest is the router and
//! firewall between two segments (`networks: [dmz, internal]`, `ip_forward: true`, each
//! segment's `gateway:`). Its NICs take their per-segment addresses from netd with the guest's
//! own DHCP client, with one default route; dig from a container on each side resolves the
//! per-segment names. The built-in checks (names through netd, reachability, the VM's lease on
//! each segment) and the spec's rules pass, among them rules run in the guest over SSH, a page
//! fetched across the VM and an `expect: blocked` rule; once forwarding is turned off in the
//! guest over `hub ssh`, `hub check` exits 1 naming the rule that crosses it. One warm VM: the
//! first run of this test on a machine boots it cold and saves it; a later run restores it,
//! and the same checks prove that the restored guest still holds its address on every NIC.

mod common;

use common::{LabGuard, hub, leftovers, show};

const LAB: &str = "vsck";

const SPEC: &str = r#"name: vsck
networks:
  - name: dmz
    subnet: 10.201.3.0/24
    gateway: fw
  - name: internal
    subnet: 10.201.4.0/24
    gateway: fw
containers:
  - name: web
    image: hub-test/busybox:latest
    cmd: ["sh", "-c", "mkdir -p /www && echo 'served to the vm' > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks: {dmz: 10.201.3.40}
  - name: app
    image: hub-test/busybox:latest
    cmd: ["sh", "-c", "mkdir -p /www && echo internal-app > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks: {internal: 10.201.4.50}
vms:
  - name: fw
    image: /var/cache/hub-test/debian-12.qcow2
    memory_mb: 768
    networks: [dmz, internal]
    ip_forward: true
    warm: true
checks:
  - {name: vm-fetches-web, from: fw, to: web, http: "http://web.vsck.lab/", expect: "served to the vm"}
  - {name: vm-reaches-app-80, from: fw, to: app, tcp: 80}
  - {name: dmz-reads-internal-app, from: web, to: app, http: /, expect: internal-app}
  - {name: internal-ssh-to-fw, from: app, to: fw, tcp: 22}
  - {name: dmz-not-to-db, from: web, to: app, tcp: 5432, expect: blocked}
"#;

/// `hub ssh --lab vsck fw -- CMD`, which must succeed; its standard output.
fn in_fw(state: &std::path::Path, cmd: &[&str]) -> String {
    let mut args = vec!["ssh", "--lab", LAB, "fw", "--"];
    args.extend_from_slice(cmd);
    let out = hub(state, &args);
    assert!(out.status.success(), "{cmd:?}: {}", show(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `dig +short NAME @SERVER` from inside container `container`'s network namespace.
fn dig_in(container: &str, server: &str, name: &str) -> String {
    common::in_container_netns(
        container,
        "dig",
        &["+short", "+time=2", "+tries=3", &format!("@{server}"), name],
    )
    .trim()
    .to_string()
}

#[test]
fn a_vm_routes_between_two_segments_and_proves_it() {
    let tmp = common::tempdir();
    let state = tmp.path().join("state");
    let path = tmp.path().join("vsck.yaml");
    std::fs::write(&path, SPEC).expect("spec");
    let spec = path.display().to_string();
    let _guard = LabGuard {
        lab: LAB.into(),
        state: state.clone(),
    };
    let up = hub(&state, &["up", "-c", &spec]);
    assert!(up.status.success(), "{}", show(&up));

    // The VM's addresses, one per segment, as status shows them.
    let status = hub(&state, &["status", "-c", &spec, "--json"]);
    assert!(status.status.success(), "{}", show(&status));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    let fw = status["workloads"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["name"] == "fw"))
        .expect("fw in status");
    let addr = |segment: &str| {
        fw["addresses"]
            .as_array()
            .and_then(|i| i.iter().find(|i| i["segment"] == segment))
            .and_then(|i| i["address"].as_str())
            .unwrap_or_else(|| panic!("fw has no address on {segment}: {fw:#}"))
            .to_string()
    };
    let (dmz, internal) = (addr("dmz"), addr("internal"));
    assert!(dmz.starts_with("10.201.3.") && internal.starts_with("10.201.4."));

    // The guest holds both (DHCP from netd on eth0 and eth1), with one default route: the
    // bridge of its first segment, which netd gave on eth0 alone.
    let addrs = in_fw(&state, &["ip", "-4", "-o", "addr", "show"]);
    for (dev, ip) in [("eth0", &dmz), ("eth1", &internal)] {
        assert!(
            addrs
                .lines()
                .any(|l| l.contains(dev) && l.contains(&format!("inet {ip}/24"))),
            "{dev} {ip}: {addrs}"
        );
    }
    let routes = in_fw(&state, &["ip", "-4", "route", "show", "default"]);
    assert_eq!(
        routes.trim().lines().collect::<Vec<_>>(),
        ["default via 10.201.3.1 dev eth0"],
        "{routes}"
    );
    assert_eq!(
        in_fw(&state, &["cat", "/proc/sys/net/ipv4/ip_forward"]).trim(),
        "1"
    );

    // Per-segment names, asked with dig from each side; the plain name answers with the
    // asker's own segment's address.
    for (container, server) in [("vsck-web", "10.201.3.2"), ("vsck-app", "10.201.4.2")] {
        assert_eq!(dig_in(container, server, "fw.dmz.vsck.lab"), dmz);
        assert_eq!(dig_in(container, server, "fw.internal.vsck.lab"), internal);
    }
    assert_eq!(dig_in("vsck-web", "10.201.3.2", "fw.vsck.lab"), dmz);
    assert_eq!(dig_in("vsck-app", "10.201.4.2", "fw.vsck.lab"), internal);

    let ok = hub(
        &state,
        &["check", "-c", &spec, "--json", "--timeout", "20s"],
    );
    assert!(ok.status.success(), "{}", show(&ok));
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("--json parses");
    let results = common::check_results(&report);
    let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
    for name in [
        "web resolves fw on dmz",
        "fw resolves web on dmz",
        "web reaches fw on dmz",
        "fw reaches web on dmz",
        "app resolves fw on internal",
        "fw resolves app on internal",
        "fw reaches app on internal",
        "fw holds its lease on dmz",
        "fw holds its lease on internal",
        "vm-fetches-web",
        "vm-reaches-app-80",
        "dmz-reads-internal-app",
        "internal-ssh-to-fw",
        "dmz-not-to-db",
    ] {
        assert!(names.contains(&name), "{name} missing: {report:#}");
    }
    let detail = |name: &str| {
        report["results"]
            .as_array()
            .and_then(|r| r.iter().find(|x| x["name"] == name))
            .map(|x| x["detail"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert!(
        detail("fw holds its lease on internal").contains(&internal),
        "{report:#}"
    );

    // Forwarding off in the guest: the rule that crosses it fails, by name; the rest hold.
    in_fw(
        &state,
        // ssh hands the words to the guest's shell: the redirection is quoted for root's.
        &[
            "sudo",
            "sh",
            "-c",
            "'echo 0 > /proc/sys/net/ipv4/ip_forward'",
        ],
    );
    let broken = hub(
        &state,
        // The guest's probes go over SSH into a TCG guest: seconds each on a busy machine.
        &["check", "-c", &spec, "--no-builtin", "--timeout", "20s"],
    );
    assert_eq!(broken.status.code(), Some(1), "{}", show(&broken));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains("check failed: dmz-reads-internal-app: "),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 5 checks failed"), "{stderr}");
    let table = String::from_utf8_lossy(&broken.stdout);
    assert!(
        common::table_says_passed(&table, "dmz-not-to-db"),
        "{table}"
    );

    let down = hub(&state, &["down", "-c", &spec]);
    assert!(down.status.success(), "{}", show(&down));
    assert_eq!(leftovers(LAB, &state), Vec::<String>::new());
}
