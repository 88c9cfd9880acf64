//! Issue 14's main test of `hub check`: a two-segment lab with a router container between
//! them. `hub check` passes (the built-in checks on each segment, a page fetched across the
//! router, and an `expect: blocked` rule: the internal database port the DMZ host must not
//! reach); after the router's forwarding is turned off, it exits 1 naming the rule that
//! crosses it, while the blocked rule still holds.

mod common;

use common::{LabGuard, hub, leftovers, show};

const LAB: &str = "ck5";

const SPEC: &str = r#"name: ck5
networks:
  - name: dmz
    subnet: 10.232.5.0/24
    gateway: fw
  - name: internal
    subnet: 10.232.6.0/24
    gateway: fw
containers:
  - name: fw
    image: hub-test/busybox:latest
    cmd: ["sleep", "3600"]
    networks: [dmz, internal]
    ip_forward: true
  - name: web
    image: hub-test/busybox:latest
    cmd: ["sleep", "3600"]
    networks: {dmz: 10.232.5.40}
  - name: app
    image: hub-test/busybox:latest
    cmd: ["sh", "-c", "mkdir -p /www && echo internal-app > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks: {internal: 10.232.6.50}
checks:
  - {name: dmz-reads-internal-app, from: web, to: app, http: /, expect: internal-app}
  - {name: dmz-not-to-db, from: web, to: app, tcp: 5432, expect: blocked}
"#;

#[test]
fn a_router_between_segments_proves_itself_and_its_loss_is_named() {
    let tmp = common::tempdir();
    let state = tmp.path().join("state");
    let path = tmp.path().join("ck5.yaml");
    std::fs::write(&path, SPEC).expect("spec");
    let spec = path.display().to_string();
    let _guard = LabGuard {
        lab: LAB.into(),
        state: state.clone(),
    };
    let up = hub(&state, &["up", "-c", &spec]);
    assert!(up.status.success(), "{}", show(&up));

    let ok = hub(&state, &["check", "-c", &spec, "--json"]);
    assert!(ok.status.success(), "{}", show(&ok));
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("--json parses");
    let results = common::check_results(&report);
    let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
    // Built-ins pair only workloads on a common segment, each by its per-segment name.
    for name in [
        "fw resolves web on dmz",
        "web reaches fw on dmz",
        "fw resolves app on internal",
        "app reaches fw on internal",
        "dmz-reads-internal-app",
        "dmz-not-to-db",
    ] {
        assert!(names.contains(&name), "{name} missing: {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.starts_with("web reaches app")),
        "{names:?}"
    );

    // The router stops forwarding: the rule that crosses it fails, by name; the blocked rule
    // still holds.
    common::in_container_netns("ck5-fw", "sysctl", &["-w", "net.ipv4.ip_forward=0"]);
    let broken = hub(&state, &["check", "-c", &spec, "--timeout", "3s"]);
    assert_eq!(broken.status.code(), Some(1), "{}", show(&broken));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains("check failed: dmz-reads-internal-app: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 of "),
        "only the crossing rule fails: {stderr}"
    );
    let table = String::from_utf8_lossy(&broken.stdout);
    assert!(
        common::table_says_passed(&table, "dmz-not-to-db"),
        "{table}"
    );

    let down = hub(&state, &["down", "-c", &spec]);
    assert!(down.status.success(), "{}", show(&down));
    assert_eq!(leftovers(LAB, &state), Vec::<String>::new());
}
