//! `hub check` on the real engines (issue 14, part 3): a lab of two containers and a
//! WireGuard gateway passes the built-in checks and its own (an HTTP page, a status, a DNS
//! answer from netd, a port that must stay closed, and a road-warrior client in a namespace
//! of the host that reaches the lab through the real tunnel with the peer's own config, and
//! that a container reaches back through it); after
//! a DROP rule in the web container's namespace, `hub check` exits 1 naming exactly the rules
//! it broke; `--json` parses; the library's `lab.check()` reports the same; a gateway whose
//! link is down fails the built-in VPN check; and nothing of the simulated client is left.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::{HUB, LabGuard, hub, leftovers, show};

const LAB: &str = "ck1";

fn spec(dir: &Path) -> String {
    let path = dir.join("ck1.yaml");
    std::fs::write(
        &path,
        r#"name: ck1
subnet: 10.232.1.0/24
containers:
  - name: web
    image: hub-test/busybox:latest
    ip: 10.232.1.30
    cmd: ["sh", "-c", "mkdir -p /www && echo 'hello from the check lab' > /www/index.html && exec httpd -f -p 80 -h /www"]
  - name: client
    image: hub-test/debian:latest
    cmd: ["sleep", "3600"]
wireguard:
  subnet: 10.232.200.0/24
  listen_port: 51900
  peers: [{name: laptop}]
checks:
  - {name: web-page, from: client, to: web, http: "http://web.ck1.lab/", expect: "hello from the check lab"}
  - {name: web-404, from: client, to: web, http: /missing, expect: 404}
  - {name: netd-names-web, from: client, to: 10.232.1.2, udp_dns: web.ck1.lab, expect: 10.232.1.30}
  - {name: no-database, from: client, to: web, tcp: 5432, expect: blocked}
  - {name: laptop-web, from: vpn:laptop, to: web, tcp: 80}
  - {name: laptop-pings-client, from: vpn:laptop, to: client, ping: true}
  - {name: laptop-dns, from: vpn:laptop, to: 10.232.1.2, udp_dns: client.ck1.lab, expect: 10.232.1.31}
  - {name: client-pings-laptop, from: client, to: vpn:laptop, ping: true}
"#,
    )
    .expect("spec");
    path.display().to_string()
}

fn iptables_in(container: &str, args: &[&str]) {
    common::in_container_netns(container, "iptables", args);
}

fn failed_names(report: &serde_json::Value) -> Vec<String> {
    common::check_results(report)
        .into_iter()
        .filter(|(_, passed)| !passed)
        .map(|(name, _)| name)
        .collect()
}

#[test]
fn hub_check_passes_then_names_the_rules_a_drop_breaks() {
    let tmp = common::tempdir();
    let state = tmp.path().join("state");
    let spec = spec(tmp.path());
    let _guard = LabGuard {
        lab: LAB.into(),
        state: state.clone(),
    };
    let up = hub(&state, &["up", "-c", &spec]);
    assert!(up.status.success(), "{}", show(&up));

    // Everything holds: a table with every check, exit 0.
    let ok = hub(&state, &["check", "-c", &spec]);
    let table = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(ok.status.success(), "{}", show(&ok));
    for row in [
        "web resolves client",
        "client reaches web",
        "the VPN gateway is up",
        "web-page",
        "no-database",
        "laptop-web",
        "laptop-dns",
    ] {
        assert!(table.contains(row), "{row} missing:\n{table}");
    }
    assert!(table.contains("13 checks, 13 passed, 0 failed"), "{table}");
    assert!(!table.contains("FAIL"), "{table}");

    // JSON: the same checks, each passed, the blocked rule blocked by a refusal.
    let json = hub(&state, &["check", "-c", &spec, "--json"]);
    assert!(json.status.success(), "{}", show(&json));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("--json parses");
    assert_eq!(report["lab"], LAB);
    assert_eq!(report["results"].as_array().map(Vec::len), Some(13));
    assert!(failed_names(&report).is_empty(), "{report:#}");
    let blocked = report["results"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["name"] == "no-database"))
        .expect("no-database");
    assert_eq!(blocked["expect"], "blocked");
    assert!(
        blocked["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("refused"),
        "{blocked}"
    );

    // A DROP of port 80 in web's namespace breaks exactly the rules that fetch from it.
    iptables_in(
        "ck1-web",
        &["-I", "INPUT", "-p", "tcp", "--dport", "80", "-j", "DROP"],
    );
    let broken = hub(&state, &["check", "-c", &spec, "--json", "--timeout", "3s"]);
    assert_eq!(broken.status.code(), Some(1), "{}", show(&broken));
    let report: serde_json::Value = serde_json::from_slice(&broken.stdout).expect("--json parses");
    let mut failed = failed_names(&report);
    failed.sort();
    assert_eq!(failed, ["laptop-web", "web-404", "web-page"], "{report:#}");
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains("check failed: web-page: no answer from 10.232.1.30:80"),
        "{stderr}"
    );
    assert!(stderr.contains("3 of 13 checks failed"), "{stderr}");
    // The rule that must stay blocked still passes: dropped is blocked too.
    assert!(!failed.contains(&"no-database".to_string()));

    // The library call sees the same lab the same way.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let hubb = hub_core::Hub::from_file(&spec)
            .expect("spec")
            .state_dir(&state)
            .hub_bin(HUB)
            .build()
            .expect("hub");
        let lab = Arc::new(hubb).attach().await.expect("attach").keep();
        let opts = hub_core::check::CheckOptions {
            timeout: std::time::Duration::from_secs(3),
            ..Default::default()
        };
        let report = lab.check_with(&opts).await.expect("check runs");
        assert!(!report.passed());
        let failed: Vec<&str> = report.failures().map(|r| r.name.as_str()).collect();
        assert_eq!(failed, ["web-page", "web-404", "laptop-web"], "{report:#?}");
        assert!(
            report
                .result("laptop-pings-client")
                .is_some_and(|r| r.passed)
        );

        iptables_in(
            "ck1-web",
            &["-D", "INPUT", "-p", "tcp", "--dport", "80", "-j", "DROP"],
        );
        let report = lab.check().await.expect("check runs");
        assert!(report.passed(), "{report:#?}");
    });

    // A gateway whose link is down fails the built-in VPN check, by name.
    let link = |state: &str| {
        let out = Command::new("ip")
            .args(["link", "set", "hubwg-ck1", state])
            .output()
            .expect("ip");
        assert!(out.status.success(), "{out:?}");
    };
    link("down");
    let down = hub(&state, &["check", "-c", &spec, "--timeout", "3s"]);
    link("up");
    assert_eq!(down.status.code(), Some(1), "{}", show(&down));
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert!(
        stderr.contains("check failed: the VPN gateway is up: interface hubwg-ck1 is down"),
        "{stderr}"
    );

    // No simulated client is left behind, and down leaves nothing.
    let netns = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    assert!(
        !netns.iter().any(|n| n.starts_with("hubck-ck1.")),
        "{netns:?}"
    );
    let down = hub(&state, &["down", "-c", &spec]);
    assert!(down.status.success(), "{}", show(&down));
    assert_eq!(leftovers(LAB, &state), Vec::<String>::new());
}

/// Ctrl-C stops `hub check` and removes its VPN client; a `hub check` killed outright leaves
/// that namespace, and `down` removes it.
#[test]
fn down_removes_a_check_namespace_left_behind() {
    let tmp = common::tempdir();
    let state = tmp.path().join("state");
    let lab = "ck2";
    let _guard = LabGuard {
        lab: lab.into(),
        state: state.clone(),
    };
    let path = tmp.path().join("ck2.yaml");
    std::fs::write(
        &path,
        "name: ck2\nsubnet: 10.232.2.0/24\ncontainers:\n  - name: c1\n    image: hub-test/busybox:latest\n    \
         cmd: [\"sleep\", \"3600\"]\nwireguard:\n  subnet: 10.232.201.0/24\n  listen_port: 51901\n  \
         peers: [{name: phone}]\nchecks:\n  - {name: nobody-there, from: vpn:phone, to: 10.232.2.99, ping: true, expect: blocked}\n",
    )
    .expect("spec");
    let spec = path.display().to_string();
    let up = hub(&state, &["up", "-c", &spec]);
    assert!(up.status.success(), "{}", show(&up));
    let netns = Path::new("/run/netns/hubck-ck2.phone");
    let start = || {
        let child = Command::new(HUB)
            .args(["check", "-c", &spec, "--timeout", "30s"])
            .env("HUB_STATE_DIR", &state)
            .env("HUB_BIN", HUB)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("hub check");
        common::wait_for(
            "the check namespace",
            std::time::Duration::from_secs(20),
            || netns.exists(),
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
        child
    };

    // Ctrl-C while the blocked rule pings an address nobody holds for its 30 s: the client
    // is removed and hub check exits 130.
    let child = start();
    let int = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(int.success());
    let out = child.wait_with_output().expect("hub check ends");
    assert_eq!(out.status.code(), Some(130), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the checks were interrupted"),
        "{}",
        show(&out)
    );
    assert!(!netns.exists(), "Ctrl-C left {}", netns.display());

    // Killed outright: the client stays, and down removes it.
    let mut child = start();
    child.kill().expect("kill");
    let _ = child.wait();
    assert!(Path::new("/run/netns/hubck-ck2.phone").exists());
    let down = hub(&state, &["down", "-c", &spec]);
    assert!(down.status.success(), "{}", show(&down));
    assert!(
        String::from_utf8_lossy(&down.stdout).contains("check namespace hubck-ck2.phone")
            || String::from_utf8_lossy(&down.stderr).contains("check namespace hubck-ck2.phone"),
        "{}",
        show(&down)
    );
    assert_eq!(leftovers(lab, &state), Vec::<String>::new());
}
