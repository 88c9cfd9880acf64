//! The demo lab (examples/labs/demo.yaml: two busybox web containers, a Debian 12 VM, a VPN
//! peer) through the `hub` CLI on the real Docker Engine, libvirt/QEMU and WireGuard: up,
//! status, a second up that changes nothing, down, and nothing left.

mod common;

use common::{LabGuard, hub, leftovers, show};

const LAB: &str = "t-hub-demo";

#[test]
fn demo_lab_up_status_again_down_leaves_nothing() {
    let tmp = common::tempdir();
    let state = tmp.path().join("state");
    let spec = tmp.path().join("demo.yaml");
    std::fs::write(
        &spec,
        common::demo_spec(LAB, "10.205.100.0/24", "10.206.100.0/24", 51905),
    )
    .expect("spec");
    let spec = spec.to_str().expect("utf-8 path");
    let _guard = LabGuard {
        lab: LAB.into(),
        state: state.clone(),
    };
    let _ = hub(&state, &["down", "--lab", LAB]);

    let up = hub(&state, &["up", "-c", spec]);
    assert!(up.status.success(), "hub up failed:\n{}", show(&up));
    let out = String::from_utf8_lossy(&up.stdout);
    assert!(out.contains("3 created"), "{}", show(&up));

    // status --json: netd and every workload, running, with its address.
    let st = hub(&state, &["status", "-c", spec, "--json"]);
    assert!(st.status.success(), "{}", show(&st));
    let json: serde_json::Value =
        serde_json::from_slice(&st.stdout).expect("status --json is JSON");
    let workloads = json["workloads"].as_array().expect("workloads");
    for (name, kind, ip) in [
        ("netd", "netd", "10.205.100.2"),
        ("web1", "container", "10.205.100.30"),
        ("web2", "container", "10.205.100.31"),
        ("vm1", "vm", "10.205.100.32"),
    ] {
        let w = workloads
            .iter()
            .find(|w| w["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {json}"));
        assert_eq!(w["kind"], kind, "{w}");
        assert_eq!(w["state"], "running", "{w}");
        assert_eq!(w["address"], ip, "{w}");
    }
    // Every workload runs with the MAC the plan derives from lab and name (reproducible).
    let plan = hub_core::spec::resolve_file(spec).expect("the demo spec resolves");
    for name in ["web1", "web2", "vm1"] {
        let w = workloads
            .iter()
            .find(|w| w["name"] == name)
            .expect("listed");
        let planned = &plan.workload(name).expect("planned").mac;
        assert!(planned.starts_with("52:54:00:"), "{planned}");
        assert_eq!(w["mac"].as_str(), Some(planned.as_str()), "{w}");
    }
    let table = hub(&state, &["status", "--lab", LAB]);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("vm1"),
        "{}",
        show(&table)
    );

    // The containers reach each other by name through netd; the VM ran cloud-init and answers
    // ssh with its pinned host key, and reaches a container by name.
    let get = hub(
        &state,
        &[
            "exec",
            "--lab",
            LAB,
            "web2",
            "--",
            "wget",
            "-qO-",
            "http://web1/",
        ],
    );
    assert!(
        String::from_utf8_lossy(&get.stdout).contains("hello from web1"),
        "{}",
        show(&get)
    );
    let marker = hub(
        &state,
        &[
            "ssh",
            "--lab",
            LAB,
            "vm1",
            "--",
            "cat",
            "/var/tmp/hub-demo-marker",
        ],
    );
    assert!(
        String::from_utf8_lossy(&marker.stdout).contains("ready"),
        "{}",
        show(&marker)
    );
    let web = hub(
        &state,
        &["exec", "--lab", LAB, "vm1", "--", "getent", "hosts", "web2"],
    );
    assert!(
        String::from_utf8_lossy(&web.stdout).contains("10.205.100.31"),
        "{}",
        show(&web)
    );

    // The VPN client config.
    let conf = hub(&state, &["vpn", "config", "--lab", LAB, "laptop"]);
    let text = String::from_utf8_lossy(&conf.stdout);
    assert!(
        conf.status.success() && text.contains("[Peer]") && text.contains("10.205.100.0/24"),
        "{}",
        show(&conf)
    );

    // A second up of the unchanged spec changes nothing and says so.
    let again = hub(&state, &["up", "-c", spec]);
    assert!(again.status.success(), "{}", show(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("no change"),
        "{}",
        show(&again)
    );

    let down = hub(&state, &["down", "-c", spec]);
    assert!(down.status.success(), "{}", show(&down));
    let said = String::from_utf8_lossy(&down.stdout);
    for what in [
        "vpn gateway",
        "container \"web1\"",
        "vm \"vm1\"",
        "netd",
        "network",
        "lab directory",
    ] {
        assert!(
            said.contains(what),
            "down did not report {what}: {}",
            show(&down)
        );
    }
    assert_eq!(leftovers(LAB, &state), Vec::<String>::new());
    let again = hub(&state, &["down", "--lab", LAB]);
    assert!(
        again.status.success()
            && String::from_utf8_lossy(&again.stdout).contains("nothing to remove")
    );
}
