//! Issue 11 (part B) on real engines, through the `hub` binary: a lab over two hosts, this
//! machine's Docker Engine (its Unix socket) and a second dockerd reached over TCP with mutual
//! TLS (see `common::dockerd`). Containers pinned to each host come up on that host's engine,
//! `status` (table and JSON) shows each workload's host, `down` by the lab's name alone (no
//! spec) leaves nothing on either engine; a client certificate from another CA is refused
//! naming the host, with nothing created anywhere.

mod common;

use std::path::Path;

use common::dockerd::SecondDockerd;
use common::{LabGuard, hub, leftovers, show};

const IMAGE: &str = "hub-test/busybox:latest";

fn write_spec(dir: &Path, lab: &str, subnet: &str, tls: &Path, addr: &str, ip: &str) -> String {
    let body = format!(
        "name: {lab}\nsubnet: {subnet}\nhosts:\n  - name: h1\n    libvirt: none\n  - name: h2\n    \
         docker: tcp://{addr}\n    tls: {tls}\n    address: {ip}\ncontainers:\n  \
         - {{name: one, image: \"{IMAGE}\", cmd: [sleep, \"3600\"], host: h1}}\n  \
         - {{name: two, image: \"{IMAGE}\", cmd: [sleep, \"3600\"], host: h2}}\n  \
         - {{name: three, image: \"{IMAGE}\", cmd: [sleep, \"3600\"], host: h2}}\n",
        tls = tls.display()
    );
    let path = dir.join(format!("{lab}.yaml"));
    std::fs::write(&path, body).expect("spec");
    path.display().to_string()
}

/// One second engine for the whole file, shared by both labs.
#[test]
fn a_lab_over_two_engines_comes_up_shows_its_hosts_and_goes() {
    let t = std::time::Instant::now();
    let h2 = SecondDockerd::start("h2", 1, 52260);
    eprintln!("second dockerd ready: {:?}", t.elapsed());
    h2.load_image(IMAGE);
    let state = tempfile::tempdir().expect("state");
    let dir = tempfile::tempdir().expect("specs");

    // A client certificate of another CA: refused before anything is made, naming the host.
    let bad_lab = "ms-hosts-ca";
    let bad = write_spec(
        dir.path(),
        bad_lab,
        "10.204.21.0/24",
        &h2.wrong_tls,
        &h2.addr,
        &h2.ip,
    );
    let _bad_guard = LabGuard {
        lab: bad_lab.into(),
        state: state.path().to_path_buf(),
    };
    let out = hub(state.path(), &["up", "-c", &bad]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("the wrong CA is refused as: {err}");
    assert!(err.contains("host \"h2\""), "{}", show(&out));
    assert!(
        err.contains(&format!("tcp://{}", h2.addr)),
        "{}",
        show(&out)
    );
    assert!(
        err.contains("certificate") || err.contains("Certificate"),
        "{}",
        show(&out)
    );
    assert!(err.contains("nothing was created"), "{}", show(&out));
    assert_eq!(leftovers(bad_lab, state.path()), Vec::<String>::new());
    assert_eq!(h2.lab_things(bad_lab), Vec::<String>::new());

    let lab = "ms-hosts";
    let spec = write_spec(dir.path(), lab, "10.204.20.0/24", &h2.tls, &h2.addr, &h2.ip);
    let _guard = LabGuard {
        lab: lab.into(),
        state: state.path().to_path_buf(),
    };
    let t = std::time::Instant::now();
    let out = hub(state.path(), &["up", "-c", &spec]);
    assert!(out.status.success(), "{}", show(&out));
    eprintln!("up over two hosts: {:?}", t.elapsed());

    // Each container runs on its own host's engine, and the lab network is on both.
    let local = common::lab_containers(lab);
    assert!(local.iter().any(|c| c.contains("one")), "{local:?}");
    assert!(
        !local
            .iter()
            .any(|c| c.contains("two") || c.contains("three")),
        "{local:?}"
    );
    let remote = h2.lab_things(lab);
    for want in ["two", "three"] {
        assert!(
            remote
                .iter()
                .any(|t| t.starts_with("container") && t.contains(want)),
            "{remote:?}"
        );
    }
    assert!(
        remote.iter().any(|t| t.starts_with("network")),
        "{remote:?}"
    );
    assert!(
        !remote.iter().any(|t| t.contains("netd")),
        "netd runs on the primary: {remote:?}"
    );

    // `status`: the HOST column and the JSON's `host`.
    let table = hub(state.path(), &["status", "-c", &spec]);
    assert!(table.status.success(), "{}", show(&table));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("HOST"), "{text}");
    for (name, host) in [("one", "h1"), ("two", "h2"), ("three", "h2")] {
        let row = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row {name} in {text}"));
        assert!(row.split_whitespace().last() == Some(host), "{row}");
        assert!(row.contains("running"), "{row}");
    }
    let json = hub(state.path(), &["status", "--json", "-c", &spec]);
    assert!(json.status.success(), "{}", show(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let host_of = |n: &str| {
        v["workloads"]
            .as_array()
            .and_then(|ws| ws.iter().find(|w| w["name"] == n))
            .and_then(|w| w["host"].as_str())
            .map(str::to_string)
    };
    assert_eq!(host_of("one").as_deref(), Some("h1"), "{v}");
    assert_eq!(host_of("two").as_deref(), Some("h2"), "{v}");

    // `hub ls` counts the lab's containers on both hosts.
    let ls = hub(state.path(), &["ls", "--json"]);
    assert!(ls.status.success(), "{}", show(&ls));
    let ls: serde_json::Value = serde_json::from_slice(&ls.stdout).expect("hub ls --json");
    let entry = ls
        .as_array()
        .and_then(|l| l.iter().find(|e| e["name"] == lab))
        .unwrap_or_else(|| panic!("{lab} not in {ls}"));
    assert_eq!(entry["containers"], 3, "{entry}");
    assert_eq!(entry["state"], "up", "{entry}");

    // An unchanged re-up changes nothing on either host.
    let t = std::time::Instant::now();
    let again = hub(state.path(), &["up", "-c", &spec]);
    assert!(again.status.success(), "{}", show(&again));
    eprintln!("unchanged re-up over two hosts: {:?}", t.elapsed());
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(said.contains("no change"), "{}", show(&again));

    // `down` by the lab's name alone reaches both engines from the lab's records.
    let t = std::time::Instant::now();
    let down = hub(state.path(), &["down", "--lab", lab]);
    assert!(down.status.success(), "{}", show(&down));
    eprintln!("down over two hosts: {:?}", t.elapsed());
    assert_eq!(leftovers(lab, state.path()), Vec::<String>::new());
    assert_eq!(h2.lab_things(lab), Vec::<String>::new());
}
