//! `hub validate` and `hub graph`: exit codes and output for good and bad specs; the graph's
//! dot drawn for real by Graphviz.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn hub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hub"))
        .args(args)
        .env_remove("HUB_CONFIG")
        .env_remove("HUB_LOG")
        .output()
        .expect("the hub binary runs")
}

fn labs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/labs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_good_spec_prints_its_plan_and_exits_0() {
    let file = labs().join("valid-containers.yaml");
    let out = hub(&["validate", "-c", file.to_str().unwrap()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for want in [
        "lab t-hub-fixture: network t-hub-fixture-net (bridge) 10.205.10.0/24, domain fixture.lab",
        "DHCP range    10.205.10.220-10.205.10.254",
        "netd          10.205.10.2",
        "db      container  10.205.10.30 (auto)",
        "web     container  10.205.10.10",
        "worker  container  10.205.10.31 (auto)",
        "laptop  10.214.10.2",
        "phone   10.214.10.50",
    ] {
        assert!(stdout.contains(want), "{want:?} not in\n{stdout}");
    }
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn json_output_has_every_workload() {
    let file = labs().join("valid-containers.yaml");
    let out = hub(&["-c", file.to_str().unwrap(), "validate", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let names: Vec<&str> = v["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db", "web", "worker"]);
    assert_eq!(v["workloads"][1]["ip"], "10.205.10.10");
    assert_eq!(v["workloads"][0]["mac"].as_str().unwrap().len(), 17);
    assert_eq!(v["vpn"]["peers"][1]["address"], "10.214.10.50");
}

#[test]
fn a_bad_spec_prints_every_error_and_exits_1() {
    let file = labs().join("invalid-addresses.yaml");
    let shown = file.to_str().unwrap();
    let out = hub(&["validate", "--config", shown]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 10, "{stderr}");
    assert_eq!(
        lines[0],
        format!(
            "{shown}:17:9: containers[0].ip: address 10.205.13.5 is outside the lab subnet 10.205.12.0/24"
        )
    );
    assert!(
        lines[3].starts_with(&format!(
            "{shown}:26:9: containers[3].ip: address 10.205.12.1 is the gateway"
        )),
        "{}",
        lines[3]
    );
    assert_eq!(lines[9], format!("{shown}: 9 errors"));
}

#[test]
fn the_seed_example_fails_only_on_its_missing_image() {
    let file = labs().join("seed.yaml");
    let out = hub(&["validate", "-c", file.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    assert!(
        stderr.contains(":16:12: vms[0].image: VM image "),
        "{stderr}"
    );
    assert!(
        stderr.contains("images/debian-12.qcow2 does not exist"),
        "{stderr}"
    );
}

#[test]
fn a_syntax_error_names_the_place() {
    let file = labs().join("invalid-syntax.yaml");
    let out = hub(&["validate", "-c", file.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("{}:5:11: ", file.display())),
        "{stderr}"
    );
}

#[test]
fn a_missing_file_or_flag_is_reported() {
    let out = hub(&["validate", "-c", "/nonexistent/t-hub-cli.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("/nonexistent/t-hub-cli.yaml: cannot read the spec file"),
        "{}",
        text(&out.stderr)
    );

    let out = hub(&["validate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("needs a lab spec: pass -c FILE"),
        "{}",
        text(&out.stderr)
    );

    let out = hub(&["validate", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));

    let out = hub(&["--log-level", "no=such=level", "validate", "-c", "x"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn the_config_can_come_from_the_environment() {
    let file = labs().join("valid-small.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_hub"))
        .arg("validate")
        .env("HUB_CONFIG", &file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("lab t-hub-small"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn graphviz_draws_the_demo_lab() {
    let demo = labs().join("demo.yaml");
    let out = hub(&["graph", "-c", demo.to_str().unwrap(), "--format", "dot"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut dot = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("Graphviz's dot (installed by scripts/setup-host.sh)");
    dot.stdin
        .take()
        .expect("stdin")
        .write_all(&out.stdout)
        .expect("write to dot");
    let svg = dot.wait_with_output().expect("dot runs");
    let svg_text = text(&svg.stdout);
    assert!(
        svg.status.success(),
        "dot refused:\n{}\n{}",
        text(&svg.stderr),
        text(&out.stdout)
    );
    assert!(
        text(&svg.stderr).is_empty(),
        "dot warned: {}",
        text(&svg.stderr)
    );
    // Every part of the lab is a drawn node.
    for label in [
        "lab demo · 172.19.5.0/24",
        "gateway (host bridge)",
        "netd (DHCP + DNS)",
        "container 172.19.5.30",
        "vm 172.19.5.32",
        "WireGuard gateway",
        "peer laptop",
        "depends on",
    ] {
        assert!(svg_text.contains(label), "{label:?} not drawn:\n{svg_text}");
    }
}

#[test]
fn mermaid_is_the_default_and_a_bad_spec_names_its_mistakes() {
    let demo = labs().join("demo.yaml");
    let out = hub(&["graph", "-c", demo.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mermaid = text(&out.stdout);
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    assert!(
        mermaid.contains("w_vm1[\"vm1<br/>vm 172.19.5.32\"]"),
        "{mermaid}"
    );

    let bad = labs().join("invalid-addresses.yaml");
    let out = hub(&["graph", "-c", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("invalid-addresses.yaml:"), "{stderr}");
    assert!(stderr.contains(" error"), "{stderr}");
}
