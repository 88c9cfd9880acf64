//! `hub check` with a VM (issue 14, part 3): the built-in checks from and to a real libvirt
//! guest (names through netd, reachability, its lease) and the spec's own rules run in the
//! guest over SSH with its own tools (an HTTP fetch, an open and a closed port), all passing;
//! then, with the web server's port dropped, the two rules that need it fail by name. One
//! warm VM (the first run of this test on a machine boots it cold and saves it).

mod common;

use common::{LabGuard, hub, leftovers, show};

const LAB: &str = "ck3";

#[test]
fn a_vm_proves_its_names_lease_and_rules() {
    let tmp = common::tempdir();
    let state = tmp.path().join("state");
    let path = tmp.path().join("ck3.yaml");
    std::fs::write(
        &path,
        r#"name: ck3
subnet: 10.232.3.0/24
containers:
  - name: web
    image: hub-test/busybox:latest
    cmd: ["sh", "-c", "mkdir -p /www && echo 'served to the vm' > /www/index.html && exec httpd -f -p 80 -h /www"]
vms:
  - name: vm1
    image: /var/cache/hub-test/debian-12.qcow2
    memory_mb: 768
    warm: true
checks:
  - {name: vm-fetches-web, from: vm1, to: web, http: "http://web.ck3.lab/", expect: "served to the vm"}
  - {name: vm-reaches-web-80, from: vm1, to: web, tcp: 80}
  - {name: vm-no-db, from: vm1, to: web, tcp: 5432, expect: blocked}
  - {name: web-ssh-to-vm, from: web, to: vm1, tcp: 22}
"#,
    )
    .expect("spec");
    let spec = path.display().to_string();
    let _guard = LabGuard {
        lab: LAB.into(),
        state: state.clone(),
    };
    let up = hub(&state, &["up", "-c", &spec]);
    assert!(up.status.success(), "{}", show(&up));

    let ok = hub(
        &state,
        &["check", "-c", &spec, "--json", "--timeout", "20s"],
    );
    assert!(ok.status.success(), "{}", show(&ok));
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("--json parses");
    let results = common::check_results(&report);
    let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "web resolves vm1",
            "web reaches vm1",
            "vm1 resolves web",
            "vm1 reaches web",
            "vm1 holds its lease",
            "vm-fetches-web",
            "vm-reaches-web-80",
            "vm-no-db",
            "web-ssh-to-vm",
        ],
        "{report:#}"
    );
    let detail = |name: &str| {
        report["results"]
            .as_array()
            .and_then(|r| r.iter().find(|x| x["name"] == name))
            .map(|x| x["detail"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert!(
        detail("vm1 holds its lease").contains("10.232.3."),
        "{report:#}"
    );
    assert!(detail("vm-no-db").contains("refused"), "{report:#}");

    // Drop the web port in the web container's namespace: the guest's rules that need it fail.
    common::in_container_netns(
        "ck3-web",
        "iptables",
        &["-I", "INPUT", "-p", "tcp", "--dport", "80", "-j", "DROP"],
    );
    let broken = hub(
        &state,
        &["check", "-c", &spec, "--no-builtin", "--timeout", "8s"],
    );
    assert_eq!(broken.status.code(), Some(1), "{}", show(&broken));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("check failed: vm-fetches-web"), "{stderr}");
    assert!(
        stderr.contains("check failed: vm-reaches-web-80"),
        "{stderr}"
    );
    assert!(stderr.contains("2 of 4 checks failed"), "{stderr}");

    let down = hub(&state, &["down", "-c", &spec]);
    assert!(down.status.success(), "{}", show(&down));
    assert_eq!(leftovers(LAB, &state), Vec::<String>::new());
}
