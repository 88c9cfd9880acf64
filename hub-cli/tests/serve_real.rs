//! `hub serve` on the real engines, reached with curl (the plain HTTP client) over its unix
//! socket and over TLS with the token: a lab created, polled ready, exec'd in, restarted, its
//! VPN config fetched, streamed as events, deleted with nothing left; bad specs (400 with every
//! error), oversized bodies (413), requests without the token (401); the CLI through the
//! server; and a server killed with SIGKILL during an `up`, started again, that ends the lab
//! complete or removed.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::serve::{Serve, containers_spec, curl, spawn};
use common::{HUB, hub, lab_containers, leftovers, show, tempdir, wait_for};

const READY: Duration = Duration::from_secs(180);

#[test]
fn a_lab_through_the_api_comes_up_answers_and_goes_away() {
    let lab = "sv-api";
    let (_dir, state, server) = Serve::for_lab(lab);
    let socket = server.socket.clone().unwrap();
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "the socket's mode");

    // The event stream, read from before the lab exists.
    let events = server.events();

    let spec = format!(
        "{}wireguard:\n  enabled: true\n  subnet: 10.234.110.0/24\n  listen_port: 51930\n  peers:\n    - name: laptop\n",
        containers_spec(lab, "10.234.10.0/24", 3)
    );
    let (code, body) = server.curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/yaml",
        "--data-binary",
        &spec,
        &format!("http://hub/labs/{lab}"),
    ]);
    assert_eq!(code, 202, "{body}");
    let accepted: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(accepted["phase"], "converging", "{body}");

    let view = server.settle(lab, READY).expect("the lab exists");
    assert_eq!(view["phase"], "ready", "{view:#}");
    let workloads = view["workloads"].as_array().unwrap();
    let names: Vec<&str> = workloads
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["netd", "c1", "c2", "c3"], "{view:#}");
    for w in workloads {
        assert_eq!(w["state"], "running", "{w}");
        assert!(
            w["address"].as_str().unwrap().starts_with("10.234.10."),
            "{w}"
        );
        assert!(w["mac"].as_str().is_some(), "{w}");
        assert!(!w["host"].as_str().unwrap().is_empty(), "{w}");
        assert_eq!(w["restarts"], 0, "{w}");
    }
    let c1 = workloads[1]["address"].as_str().unwrap().to_string();
    let netd = workloads[0]["address"].as_str().unwrap().to_string();

    // exec: c2 fetches c1's hostname by name (netd's DNS) and by address; the answer carries
    // the command's output and exit code.
    let cmd = serde_json::json!({"cmd": ["sh", "-c", format!(
        "wget -q -O- http://c1/etc/hostname && wget -q -O- http://{c1}/etc/hostname && exit 3"
    )]});
    let (code, body) = server.exec(lab, "c2", &cmd.to_string());
    assert_eq!(code, 200, "{body}");
    let out: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(out["exit_code"], 3, "{out}");
    assert_eq!(out["stdout"], "c1\nc1\n", "{out}");
    let (code, body) = server.exec(lab, "nope", r#"{"cmd": ["true"]}"#);
    assert_eq!(code, 404, "{body}");

    // The VPN client config.
    let (code, conf) = server.curl(&[&format!("http://hub/labs/{lab}/vpn/laptop")]);
    assert_eq!(code, 200, "{conf}");
    assert!(
        conf.contains("[Interface]") && conf.contains("PrivateKey") && conf.contains(":51930"),
        "{conf}"
    );
    assert_eq!(
        server
            .curl(&[&format!("http://hub/labs/{lab}/vpn/nobody")])
            .0,
        404
    );

    // A restart is counted.
    let (code, body) = server.curl(&[
        "-X",
        "POST",
        &format!("http://hub/labs/{lab}/workloads/c3/restart"),
    ]);
    assert_eq!(code, 200, "{body}");
    let view = server.lab(lab).unwrap();
    let c3 = view["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "c3")
        .unwrap()
        .clone();
    assert_eq!(c3["restarts"], 1, "{c3}");
    assert_eq!(c3["state"], "running", "{c3}");

    // The CLI through the server prints what the direct CLI prints.
    let url = format!("unix://{}", socket.display());
    let direct = hub(&state, &["status", "--lab", lab]);
    let remote = hub(&state, &["--server", &url, "status", "--lab", lab]);
    assert!(remote.status.success(), "{}", show(&remote));
    assert_eq!(
        remote.stdout,
        direct.stdout,
        "{}\n{}",
        show(&remote),
        show(&direct)
    );
    // `ls` lists every lab of the host, other tests' too, which come and go: compare this
    // lab's line (and the header).
    let ours = |o: &std::process::Output| -> Vec<String> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.starts_with("LAB ") || l.starts_with("sv-api "))
            // Column widths follow the longest name of the moment.
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    let direct = hub(&state, &["ls"]);
    let remote = hub(&state, &["--server", &url, "ls"]);
    assert_eq!(ours(&direct).len(), 2, "{}", show(&direct));
    assert_eq!(
        ours(&remote),
        ours(&direct),
        "{}\n{}",
        show(&remote),
        show(&direct)
    );

    // A DHCP client (busybox udhcpc in c2, which leaves its address alone) takes a lease
    // from netd: the metrics count it.
    let dhcp = serde_json::json!({"cmd": ["sh", "-c",
        "printf '#!/bin/sh\\nexit 0\\n' > /tmp/s && chmod +x /tmp/s && udhcpc -i eth0 -n -q -t 5 -s /tmp/s"]});
    let (code, body) = server.exec(lab, "c2", &dhcp.to_string());
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("\"exit_code\":0"),
        "udhcpc got no lease: {body}"
    );
    let mut metrics = String::new();
    wait_for(
        "the metrics count netd's lease",
        Duration::from_secs(10),
        || {
            metrics = server.curl(&["http://hub/metrics"]).1;
            metrics.contains("hub_netd_leases{lab=\"sv-api\"} 1")
        },
    );

    // netd's counts, with the lab's label: the DHCP messages above (udhcpc's DISCOVER and
    // REQUEST), then DNS queries sent from the host to netd, 3 over UDP and 1 over TCP.
    let count = |metrics: &str, series: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0)
    };
    let dhcp = "hub_netd_dhcp_messages_total{lab=\"sv-api\"} ";
    let udp = "hub_netd_dns_queries_total{lab=\"sv-api\",transport=\"udp\"} ";
    let tcp = "hub_netd_dns_queries_total{lab=\"sv-api\",transport=\"tcp\"} ";
    wait_for(
        "the metrics count udhcpc's DHCP messages",
        Duration::from_secs(10),
        || {
            metrics = server.curl(&["http://hub/metrics"]).1;
            count(&metrics, dhcp) >= 2
        },
    );
    let (udp_before, tcp_before) = (count(&metrics, udp), count(&metrics, tcp));
    for transport in ["+notcp", "+notcp", "+notcp", "+tcp"] {
        let out = Command::new("dig")
            .args(["+short", "+time=2", "+tries=1", transport])
            .arg(format!("@{netd}"))
            .arg(format!("c1.{lab}.lab"))
            .output()
            .expect("dig runs");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            c1,
            "dig {transport}: {}",
            show(&out)
        );
    }
    wait_for(
        "the metrics count the DNS queries",
        Duration::from_secs(10),
        || {
            metrics = server.curl(&["http://hub/metrics"]).1;
            count(&metrics, udp) >= udp_before + 3 && count(&metrics, tcp) > tcp_before
        },
    );

    // Metrics and the OpenAPI document.
    let (code, metrics) = server.curl(&["http://hub/metrics"]);
    assert_eq!(code, 200);
    for line in [
        "hub_labs{phase=\"ready\"} 1",
        "hub_workloads{kind=\"container\",state=\"running\"} 3",
        "hub_up_duration_seconds_count{outcome=\"ok\"} 1",
        "hub_workload_restarts_total{lab=\"sv-api\"} 1",
        "hub_api_requests_total{method=\"PUT\",route=\"/labs/{lab}\",status=\"202\"} 1",
    ] {
        assert!(metrics.contains(line), "no {line} in\n{metrics}");
    }
    let (code, doc) = server.curl(&["http://hub/openapi.json"]);
    assert_eq!(code, 200);
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    for path in [
        "/labs",
        "/labs/{lab}",
        "/labs/{lab}/workloads/{workload}/exec",
        "/events",
        "/metrics",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "no {path} in the OpenAPI document"
        );
    }

    // Delete: 202, then 404, nothing left.
    let (code, body) = server.curl(&["-X", "DELETE", &format!("http://hub/labs/{lab}")]);
    assert_eq!(code, 202, "{body}");
    wait_for("the lab is gone", READY, || server.lab(lab).is_none());
    assert_eq!(leftovers(lab, &state), Vec::<String>::new());

    // The stream told each change: ended by stopping the server.
    drop(server);
    let text = events.finish();
    for needle in [
        "event: lab_accepted",
        "event: workload_started\ndata: {\"seq\":",
        "\"workload\":\"c1\"",
        "event: lab_created",
        "event: workload_restarted",
        "event: workload_stopped",
        "event: lab_deleted",
    ] {
        assert!(
            text.contains(needle),
            "no {needle:?} in the event stream:\n{text}"
        );
    }
}

/// Asserts that a command ended with exit code `code` and said `needle` on stderr.
fn fails_with(o: &std::process::Output, code: i32, needle: &str) {
    assert_eq!(o.status.code(), Some(code), "{}", show(o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(needle),
        "{}",
        show(o)
    );
}

/// The id of group `name`, from `/etc/group`.
fn group_id(name: &str) -> Option<u32> {
    std::fs::read_to_string("/etc/group")
        .ok()?
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| f.get(2)?.parse().ok())?
        })
}

#[test]
fn the_socket_answers_members_of_group_hub_and_refuses_other_users() {
    use std::os::unix::fs::MetadataExt;
    let gid = group_id("hub").expect(
        "no group hub on this host: scripts/setup-host.sh creates it (setup/05-hub-group.sh)",
    );
    let dir = tempdir();
    // Anyone may reach the folder the server makes for its socket; that folder and the socket
    // are what guard the API.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = dir.path().join("run").join("hub.sock");
    let server = Serve::unix_at(&socket, &dir.path().join("state"), &[]);
    for (path, mode) in [(socket.parent().unwrap(), 0o750), (socket.as_path(), 0o660)] {
        let meta = std::fs::metadata(path).unwrap();
        assert_eq!(
            (meta.gid(), meta.mode() & 0o777),
            (gid, mode),
            "{}",
            path.display()
        );
    }
    // `nobody`, with group hub among its groups, then without: `hub --server ... ls`.
    let url = format!("unix://{}", socket.display());
    let as_nobody = |groups: &str| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", groups, "--", HUB])
            .args(["--server", &url, "ls"])
            .env("HOME", "/nonexistent")
            .output()
            .expect("setpriv runs")
    };
    let member = as_nobody(&format!("--groups={gid}"));
    assert!(member.status.success(), "{}", show(&member));
    assert!(
        String::from_utf8_lossy(&member.stdout).starts_with("LAB "),
        "{}",
        show(&member)
    );
    let other = as_nobody("--clear-groups");
    fails_with(&other, 1, "Permission denied");
    drop(server);
}

#[test]
fn bad_specs_get_every_error_and_big_bodies_are_refused() {
    let lab = "sv-bad";
    let dir = tempdir();
    let state = dir.path().join("state");
    let server = Serve::unix(dir.path(), &state, &["--max-body", "4096"]);
    let bad = "name: sv-bad\nsubnet: 10.234.13.0/33\ncontainers:\n  - name: Web_1\n    image: hub-test/busybox:latest\n    colour: blue\n";
    let (code, body) = server.put(lab, bad);
    assert_eq!(code, 400, "{body}");
    let errors: serde_json::Value = serde_json::from_str(&body).unwrap();
    let errors = errors["errors"].as_array().unwrap();
    let places: Vec<(u64, u64, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["column"].as_u64().unwrap(),
                e["field"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        places,
        [
            (2, 9, "subnet"),
            (4, 11, "containers[0].name"),
            (6, 5, "containers[0].colour")
        ],
        "{body}"
    );
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("sv-bad.yaml:2:9: subnet:"),
        "{body}"
    );

    // JSON is a spec too, with its own places.
    let json = r#"{"name": "sv-bad", "subnet": "10.234.13.0/24", "containers": [{"name": "a"}]}"#;
    let (code, body) = server.curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        json,
        &format!("http://hub/labs/{lab}"),
    ]);
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("missing field `image`") && body.contains("\"line\":1"),
        "{body}"
    );

    // A spec sent for another lab's name.
    let other = containers_spec("sv-other", "10.234.13.0/24", 1);
    let (code, body) = server.put(lab, &other);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("names lab \\\"sv-other\\\""), "{body}");

    // A body over --max-body.
    let big = format!(
        "{}# {}\n",
        containers_spec(lab, "10.234.13.0/24", 1),
        "x".repeat(5000)
    );
    let (code, _) = server.put(lab, &big);
    assert_eq!(code, 413);

    // Nothing was made, nothing is recorded.
    assert_eq!(server.lab(lab), None);
    assert_eq!(leftovers(lab, &state), Vec::<String>::new());
    assert!(!state.join(lab).exists());

    // The CLI through the server reports the same mistakes, exit 2.
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, bad).unwrap();
    let url = format!("unix://{}", server.socket.as_ref().unwrap().display());
    let o = hub(
        &state,
        &[
            "--server",
            &url,
            "up",
            "--lab",
            lab,
            "-c",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("error: sv-bad.yaml:").count(), 3, "{err}");
    // Without --lab the CLI reads the name from the spec, and refuses it as `hub up` does.
    let o = hub(
        &state,
        &["--server", &url, "up", "-c", file.to_str().unwrap()],
    );
    let direct = hub(&state, &["up", "-c", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert_eq!(o.stderr, direct.stderr, "{}", show(&o));
}

#[test]
fn tcp_needs_tls_and_the_token_and_serves_a_lab_with_them() {
    let lab = "sv-tls";
    let dir = tempdir();
    let state = dir.path().join("state");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("tcp:127.0.0.1:{port}");

    // TCP without TLS is refused.
    let o = Command::new(HUB)
        .args(["serve", "--listen", &listen, "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    fails_with(&o, 1, "refusing to listen on tcp:");

    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_file, key_file, token_file) = (
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
        dir.path().join("token"),
    );
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, signing_key.serialize_pem()).unwrap();
    let token = "sv-tls-token-0123456789abcdef";
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let tls_args = |listen: &str| {
        vec![
            "--listen".to_string(),
            listen.to_string(),
            "--tls-cert".into(),
            cert_file.display().to_string(),
            "--tls-key".into(),
            key_file.display().to_string(),
            "--token-file".into(),
            token_file.display().to_string(),
        ]
    };

    // A token file others can read is refused.
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = Command::new(HUB)
        .arg("serve")
        .args(tls_args(&listen))
        .arg("--state-dir")
        .arg(&state)
        .output()
        .unwrap();
    fails_with(&o, 1, "chmod 600");
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    let args = tls_args(&listen);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = spawn(&state, &args);
    let _down = common::LabGuard {
        lab: lab.into(),
        state: state.clone(),
    };
    let base = format!("https://localhost:{port}");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let cacert = cert_file.display().to_string();
    let auth = format!("Authorization: Bearer {token}");
    let tls =
        |extra: &[&str]| curl(&[&["--resolve", &resolve, "--cacert", &cacert], extra].concat());
    wait_for(
        "hub serve answers over TLS",
        Duration::from_secs(30),
        || tls(&["-H", &auth, &format!("{base}/labs")]).0 == 200,
    );

    // Without the token, or with a wrong one: 401 and nothing else, whatever the route.
    for (args, what) in [
        (vec![format!("{base}/labs")], "no token"),
        (
            vec![
                "-H".into(),
                "Authorization: Bearer sv-tls-token-0123456789abcdeX".into(),
                format!("{base}/labs"),
            ],
            "a wrong token",
        ),
        (
            vec![
                "-X".into(),
                "PUT".into(),
                "--data-binary".into(),
                containers_spec(lab, "10.234.12.0/24", 1),
                format!("{base}/labs/{lab}"),
            ],
            "a PUT without token",
        ),
        (vec![format!("{base}/metrics")], "metrics without token"),
        (
            vec![format!("{base}/nowhere")],
            "an unknown route without token",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, body) = tls(&args);
        assert_eq!((code, body.as_str()), (401, ""), "{what}");
    }
    assert!(!state.join(lab).exists(), "a refused PUT made nothing");
    // Plain HTTP on the TLS port gets no answer.
    let (code, _) = curl(&[&format!("http://127.0.0.1:{port}/labs")]);
    assert_ne!(code, 200);

    // With the token: a lab comes up, and goes away with DELETE ?wait=true.
    let spec = containers_spec(lab, "10.234.12.0/24", 2);
    let (code, body) = tls(&[
        "-H",
        &auth,
        "-X",
        "PUT",
        "--data-binary",
        &spec,
        &format!("{base}/labs/{lab}"),
    ]);
    assert_eq!(code, 202, "{body}");
    let mut view = serde_json::Value::Null;
    wait_for("the lab is ready over TLS", READY, || {
        let (_, body) = tls(&["-H", &auth, &format!("{base}/labs/{lab}")]);
        view = serde_json::from_str(&body).unwrap_or_default();
        view["phase"] != "converging"
    });
    assert_eq!(view["phase"], "ready", "{view:#}");
    assert_eq!(view["workloads"].as_array().unwrap().len(), 3, "{view:#}");

    // The CLI over TLS with the token (`hub --server https://...`): status prints what the
    // direct status prints; without the CA, or with a token the server does not know, it
    // stops with the reason.
    let remote = |extra: &[&str], token: &std::path::Path| {
        Command::new(HUB)
            .args([
                "--server",
                &base,
                "--server-ca",
                &cacert,
                "--server-token-file",
            ])
            .arg(token)
            .args(extra)
            .env_remove("HUB_CONFIG")
            .output()
            .unwrap()
    };
    let direct = hub(&state, &["status", "--lab", lab]);
    let over_tls = remote(&["status", "--lab", lab], &token_file);
    assert!(over_tls.status.success(), "{}", show(&over_tls));
    assert_eq!(
        over_tls.stdout,
        direct.stdout,
        "{}\n{}",
        show(&over_tls),
        show(&direct)
    );
    let listed = remote(&["ls"], &token_file);
    assert!(listed.status.success(), "{}", show(&listed));
    assert!(
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|l| l.starts_with(&format!("{lab} "))),
        "{}",
        show(&listed)
    );
    let wrong = dir.path().join("wrong-token");
    std::fs::write(&wrong, "sv-tls-token-0123456789abcdeX\n").unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let refused = remote(&["status", "--lab", lab], &wrong);
    fails_with(&refused, 1, "401");
    let no_ca = Command::new(HUB)
        .args(["--server", &base, "--server-token-file"])
        .arg(&token_file)
        .args(["status", "--lab", lab])
        .output()
        .unwrap();
    fails_with(&no_ca, 2, "--server-ca");

    // `hub --server https://... down` removes the lab and waits until it is gone.
    let down = remote(&["down", "--lab", lab], &token_file);
    assert!(down.status.success(), "{}", show(&down));
    assert!(
        String::from_utf8_lossy(&down.stdout).contains("removed"),
        "{}",
        show(&down)
    );
    assert_eq!(leftovers(lab, &state), Vec::<String>::new());
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

#[test]
fn a_server_killed_during_an_up_or_a_down_finishes_it_or_removes_the_lab() {
    let lab = "sv-kill";
    let (dir, state, mut server) = Serve::for_lab(lab);
    let spec = containers_spec(lab, "10.234.11.0/24", 5);
    let (code, body) = server.put(lab, &spec);
    assert_eq!(code, 202, "{body}");
    // Killed once the up has made something of the lab, before it is done.
    wait_for(
        "the up makes its first container",
        Duration::from_secs(120),
        || !lab_containers(lab).is_empty(),
    );
    server.kill9();
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join(lab).join("serve.json")).unwrap())
            .unwrap();
    assert_eq!(
        record["phase"], "converging",
        "the up was in flight: {record:#}"
    );
    let mode = std::fs::metadata(state.join(lab).join("serve.json"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the record holds the spec");

    // Started again, the server finishes the up (or removes the lab): never half.
    let server = Serve::unix(dir.path(), &state, &[]);
    let mut server = server;
    server.labs.push(lab.into());
    let view = server.settle(lab, READY);
    match view.as_ref().and_then(|v| v["phase"].as_str()) {
        Some("ready") => {
            let view = view.unwrap();
            let workloads = view["workloads"].as_array().unwrap();
            assert_eq!(workloads.len(), 6, "netd and 5 containers: {view:#}");
            assert!(
                workloads.iter().all(|w| w["state"] == "running"),
                "{view:#}"
            );
            assert_eq!(lab_containers(lab).len(), 6, "nothing more than the lab");
        }
        other => {
            assert_eq!(other, Some("failed"), "{view:#?}");
            assert_eq!(
                leftovers(lab, &state)
                    .iter()
                    .filter(|l| !l.starts_with("lab directory"))
                    .count(),
                0
            );
        }
    }

    // Delete through the CLI, then nothing is left.
    let url = format!("unix://{}", server.socket.as_ref().unwrap().display());
    let o = hub(&state, &["--server", &url, "down", "--lab", lab]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("lab sv-kill: removed"),
        "{}",
        show(&o)
    );
    assert_eq!(leftovers(lab, &state), Vec::<String>::new());
    assert_eq!(server.lab(lab), None);

    // Killed during a `down`: started again, the server finishes it.
    let (code, body) = server.put(lab, &spec);
    assert_eq!(code, 202, "{body}");
    assert_eq!(server.settle(lab, READY).unwrap()["phase"], "ready");
    let (code, body) = server.curl(&["-X", "DELETE", &format!("http://hub/labs/{lab}")]);
    assert_eq!(code, 202, "{body}");
    server.kill9();
    let in_flight = std::fs::read_to_string(state.join(lab).join("serve.json")).ok();
    let mut server = Serve::unix(dir.path(), &state, &[]);
    server.labs.push(lab.into());
    wait_for("the down runs to its end", READY, || {
        server.lab(lab).is_none()
    });
    assert_eq!(
        leftovers(lab, &state),
        Vec::<String>::new(),
        "the record at the kill: {in_flight:?}"
    );
}

#[test]
fn the_server_and_a_direct_up_of_the_same_lab_take_turns_by_the_lab_lock() {
    let lab = "sv-lock";
    let (dir, state, server) = Serve::for_lab(lab);
    let spec = containers_spec(lab, "10.234.14.0/24", 4);
    let file = dir.path().join("sv-lock.yaml");
    std::fs::write(&file, &spec).unwrap();
    // A direct `hub up` holds the lab lock (its pid in the lock file) ...
    let direct = Command::new(HUB)
        .args(["up", "-c", file.to_str().unwrap(), "--state-dir"])
        .arg(&state)
        .env("HUB_BIN", HUB)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock = state.join(format!("{lab}.lock"));
    let pid = direct.id().to_string();
    wait_for(
        "the direct up takes the lab lock",
        Duration::from_secs(60),
        || std::fs::read_to_string(&lock).is_ok_and(|s| s.trim() == pid),
    );
    // ... so the server's up waits for it, then finds the lab as specified.
    let (code, body) = server.put(lab, &spec);
    assert_eq!(code, 202, "{body}");
    let out = direct.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let view = server.settle(lab, READY).unwrap();
    assert_eq!(view["phase"], "ready", "{view:#}");
    assert_eq!(
        view["report"], "no change: 4 workloads already as specified",
        "{view:#}"
    );
    assert_eq!(lab_containers(lab).len(), 5, "netd and 4 containers, once");

    // A PUT right after a DELETE runs after it: the lab ends up, recorded.
    let (code, body) = server.curl(&["-X", "DELETE", &format!("http://hub/labs/{lab}")]);
    assert_eq!(code, 202, "{body}");
    let (code, body) = server.put(lab, &spec);
    assert_eq!(code, 202, "{body}");
    let view = server.settle(lab, READY).unwrap();
    assert_eq!(view["phase"], "ready", "{view:#}");
    assert_eq!(view["workloads"].as_array().unwrap().len(), 5, "{view:#}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join(lab).join("serve.json")).unwrap())
            .unwrap();
    assert_eq!(record["phase"], "ready", "{record:#}");

    // Delete, and nothing is left.
    let (code, body) = server.delete_and_wait(lab);
    assert_eq!(code, 200, "{body}");
    assert_eq!(leftovers(lab, &state), Vec::<String>::new());
}

#[test]
fn the_server_heals_the_labs_it_manages_and_tells_it_on_the_stream() {
    let lab = "sv-heal";
    let (_dir, state, server) = Serve::for_lab(lab);
    let events = server.events();
    let spec = containers_spec(lab, "10.234.15.0/24", 2)
        .replace("  - name: c2\n", "  - name: c2\n    restart: always\n");
    let (code, body) = server.put(lab, &spec);
    assert_eq!(code, 202, "{body}");
    let view = server.settle(lab, READY).unwrap();
    assert_eq!(view["phase"], "ready", "{view:#}");
    let before = view["workloads"][2].clone();
    assert_eq!(before["name"], "c2", "{view:#}");

    // c2 removed by hand comes back, at its address and MAC, counted.
    let rm = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "docker rm -f $(docker ps -q --filter label=io.hub.lab={lab} --filter name={lab}-c2)"
        ))
        .output()
        .unwrap();
    assert!(rm.status.success(), "{}", show(&rm));
    let mut after = serde_json::Value::Null;
    wait_for("c2 comes back, counted", Duration::from_secs(120), || {
        after = server.lab(lab).unwrap()["workloads"][2].clone();
        after["restarts"] == 1 && after["state"] == "running"
    });
    assert_eq!(after["address"], before["address"], "{after}");
    assert_eq!(after["mac"], before["mac"], "{after}");
    let (_, metrics) = server.curl(&["http://hub/metrics"]);
    assert!(
        metrics.contains("hub_workload_restarts_total{lab=\"sv-heal\"} 1"),
        "{metrics}"
    );

    let (code, body) = server.delete_and_wait(lab);
    assert_eq!(code, 200, "{body}");
    assert_eq!(leftovers(lab, &state), Vec::<String>::new());
    drop(server);
    let text = events.finish();
    let heals: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("data: ") && l.contains("\"kind\":\"heal\""))
        .collect();
    assert!(
        heals
            .iter()
            .any(|l| l.contains("\"workload\":\"c2\"") && l.contains("restarted")),
        "no heal event of c2 in the stream:\n{text}"
    );
}

#[test]
fn a_vm_lab_through_the_api_shows_its_vm_restarts_it_and_goes_away() {
    // One cold boot, then the restart's boot (under TCG about a minute each).
    let lab = "sg-vm";
    let (_dir, state, server) = Serve::for_lab(lab);
    let spec = format!(
        "name: {lab}\nsubnet: 10.202.40.0/24\nvms:\n  - name: vm1\n    \
         image: /var/cache/hub-test/debian-12.qcow2\n    memory_mb: 768\n    vcpus: 2\n"
    );
    let (code, body) = server.put(lab, &spec);
    assert_eq!(code, 202, "{body}");
    let view = server
        .settle(lab, Duration::from_secs(600))
        .expect("the lab exists");
    assert_eq!(view["phase"], "ready", "{view:#}");
    let vm = |view: &serde_json::Value| {
        view["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == "vm1")
            .unwrap_or_else(|| panic!("no vm1 in {view:#}"))
            .clone()
    };
    let vm1 = vm(&view);
    assert_eq!(vm1["kind"], "vm", "{vm1}");
    assert_eq!(vm1["state"], "running", "{vm1}");
    assert!(
        vm1["address"].as_str().unwrap().starts_with("10.202.40."),
        "{vm1}"
    );
    assert!(
        vm1["mac"].as_str().unwrap().starts_with("52:54:00:"),
        "{vm1}"
    );
    // No warm snapshot asked for: a cold boot, and the view says so.
    assert_eq!(vm1["start"], "cold", "{vm1}");
    assert_eq!(vm1["restarts"], 0, "{vm1}");

    // Restarted through the API: ready again, at the same address and MAC, counted. (The
    // answer comes once the VM is ready again: a shutdown and a boot under TCG.)
    let (code, body) = server.curl(&[
        "--max-time",
        "600",
        "-X",
        "POST",
        &format!("http://hub/labs/{lab}/workloads/vm1/restart"),
    ]);
    assert_eq!(code, 200, "{body}");
    let again = vm(&server.lab(lab).unwrap());
    assert_eq!(again["state"], "running", "{again}");
    assert_eq!(again["restarts"], 1, "{again}");
    assert_eq!(
        (&again["address"], &again["mac"]),
        (&vm1["address"], &vm1["mac"]),
        "{again}"
    );

    let (code, body) = server.delete_and_wait(lab);
    assert_eq!(code, 200, "{body}");
    assert_eq!(leftovers(lab, &state), Vec::<String>::new());
}
