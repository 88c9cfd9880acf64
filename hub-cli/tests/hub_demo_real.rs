//! The demo lab (examples/labs/demo.yaml: two busybox web containers, a Debian 12 VM, a VPN
//! peer) through the `hub` CLI on the real Docker Engine, libvirt/QEMU and WireGuard: up,
//! status, a remote WireGuard client in its own network namespace reaching the containers by
//! name (through netd) and by address and the VM through the tunnel, a second up that changes
//! nothing, down, and nothing left.

mod common;

use common::remote::RemoteClient;
use common::{LabGuard, hub, leftovers, show};

const LAB: &str = "t-hub-demo";

#[test]
fn demo_lab_up_status_again_down_leaves_nothing() {
    let tmp = common::tempdir();
    let state = tmp.path().join("state");
    let spec = tmp.path().join("demo.yaml");
    // The gateway's endpoint is the host end of the remote client's veth pair.
    let demo = common::demo_spec(LAB, "10.205.100.0/24", "10.206.100.0/24", 51905).replace(
        "  listen_port: 51905\n",
        "  listen_port: 51905\n  endpoint: 198.18.4.17\n",
    );
    std::fs::write(&spec, demo).expect("spec");
    let spec = spec.to_str().expect("utf-8 path");
    let _guard = LabGuard {
        lab: LAB.into(),
        state: state.clone(),
    };
    let _ = hub(&state, &["down", "--lab", LAB]);

    // Warm: the first run on a machine boots the VM cold and saves it (in the default cache);
    // later runs restore it. hub-libvirt/tests/vm.rs and warm_real.rs keep the cold boots honest.
    let up = hub(&state, &["up", "-c", spec, "--warm"]);
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
        let planned = plan.workload(name).expect("planned").mac.to_string();
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

    assert!(text.contains("Endpoint = 198.18.4.17:51905"), "{text}");

    // A remote client uses that config as it is: names resolve through netd over the tunnel,
    // pages come by name and by address, and the VM answers ssh with its pinned host key.
    let client = RemoteClient::start(
        "t-hub-demo-ns",
        "vhubdemo",
        "198.18.4.17/30",
        "198.18.4.18/30",
        &text,
        &format!("{LAB}.lab"),
        tmp.path(),
    );
    let page = client.fetch_until("http://web1/", |p| p.contains("hello from web1"));
    assert!(
        page.contains("hello from web1"),
        "by name through the tunnel: {page:?}"
    );
    let dig = client.exec(&["dig", "+short", &format!("web2.{LAB}.lab")]);
    assert_eq!(String::from_utf8_lossy(&dig.stdout).trim(), "10.205.100.31");
    let by_addr = client.exec(&["curl", "-s", "--max-time", "5", "http://10.205.100.31/"]);
    assert!(String::from_utf8_lossy(&by_addr.stdout).contains("hello from web2"));
    let vm = client
        .command(common::HUB)
        .args([
            "ssh",
            "--lab",
            LAB,
            "vm1",
            "--",
            "cat",
            "/var/tmp/hub-demo-marker",
        ])
        .env("HUB_STATE_DIR", &state)
        .env_remove("HUB_CONFIG")
        .output()
        .expect("hub ssh in the client namespace");
    assert!(
        String::from_utf8_lossy(&vm.stdout).contains("ready"),
        "the VM through the tunnel: {}",
        show(&vm)
    );
    drop(client);

    // The demo lab proves itself: the built-in checks (names through netd and reachability
    // between the containers and the VM, the VM's lease, the VPN gateway) and the demo's own.
    let check = hub(&state, &["check", "-c", spec, "--json", "--timeout", "20s"]);
    assert!(check.status.success(), "{}", show(&check));
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).expect("--json");
    let results = report["results"].as_array().expect("results");
    for name in [
        "web1 resolves vm1",
        "vm1 reaches web2",
        "vm1 holds its lease",
        "the VPN gateway is up",
        "web2-fetches-web1",
        "vm1-fetches-web2",
        "no-database-on-web1",
    ] {
        assert!(
            results
                .iter()
                .any(|r| r["name"] == name && r["passed"] == true),
            "{name} did not pass: {report:#}"
        );
    }

    // A second up of the unchanged spec changes nothing and says so: the same containers
    // (id and start time), the same domain (UUID and run id) with the same guest boot still
    // running, and the same state file.
    // (The same command as the first up: `--warm` is not part of the spec hash either way.)
    let before = snapshot(&state);
    let again = hub(&state, &["up", "-c", spec, "--warm"]);
    assert!(again.status.success(), "{}", show(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("no change"),
        "{}",
        show(&again)
    );
    let after = snapshot(&state);
    assert_eq!(before.containers, after.containers, "containers changed");
    assert_eq!(before.domain, after.domain, "the VM's domain changed");
    assert_eq!(before.boot_id, after.boot_id, "the VM rebooted");
    assert!(
        after.uptime > before.uptime,
        "the VM's uptime went from {} s to {} s",
        before.uptime,
        after.uptime
    );
    assert_eq!(before.state_file, after.state_file, "state.json changed");

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

/// What an unchanged `up` must leave as it was.
struct Snapshot {
    /// `ID STARTED-AT NAME` of each of the lab's containers, sorted.
    containers: Vec<String>,
    /// The VM's domain UUID and its run id (`virsh domid`, new on every start).
    domain: (String, String),
    /// The guest kernel's boot id.
    boot_id: String,
    /// The guest's uptime in seconds.
    uptime: f64,
    /// The lab's state file.
    state_file: String,
}

fn snapshot(state: &std::path::Path) -> Snapshot {
    let run = |cmd: &str, args: &[&str]| {
        let o = std::process::Command::new(cmd)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{cmd}: {e}"));
        assert!(o.status.success(), "{cmd} {args:?}: {}", show(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let ids = run(
        "docker",
        &[
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label=io.hub.lab={LAB}"),
        ],
    );
    let mut args = vec!["inspect", "-f", "{{.Id}} {{.State.StartedAt}} {{.Name}}"];
    args.extend(ids.lines());
    let mut containers: Vec<String> = run("docker", &args).lines().map(String::from).collect();
    containers.sort();
    assert_eq!(containers.len(), 3, "netd, web1, web2: {containers:?}");
    let domain = format!("{LAB}-vm1");
    let uuid = run("virsh", &["-c", "qemu:///system", "domuuid", &domain]);
    let id = run("virsh", &["-c", "qemu:///system", "domid", &domain]);
    let guest = hub(
        state,
        &[
            "ssh",
            "--lab",
            LAB,
            "vm1",
            "--",
            "cat",
            "/proc/sys/kernel/random/boot_id",
            "/proc/uptime",
        ],
    );
    assert!(guest.status.success(), "{}", show(&guest));
    let text = String::from_utf8_lossy(&guest.stdout);
    let mut lines = text.lines();
    let boot_id = lines.next().expect("boot id").trim().to_string();
    let uptime = lines
        .next()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .unwrap_or_else(|| panic!("no uptime in {text:?}"));
    let state_file =
        std::fs::read_to_string(state.join(LAB).join("state.json")).expect("the lab's state.json");
    Snapshot {
        containers,
        domain: (uuid, id),
        boot_id,
        uptime,
        state_file,
    }
}
