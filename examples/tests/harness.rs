//! The test-harness pattern: a `#[tokio::test]` brings a lab up with the builder on the real
//! backends, uses it, and lets it drop; dropping removes everything.
//!
//! netd's image is built from the `hub` executable: `HUB_BIN` names it (`scripts/test.sh`
//! builds `hub-cli` and sets it), else `hub` on PATH (`cargo install --path hub-cli`).

use std::time::Duration;

use hub_core::spec::ContainerHealthcheck;
use hub_core::{Container, Hub};

const BUSYBOX: &str = "hub-test/busybox:latest";

fn leftovers(lab: &str) -> String {
    let out = std::process::Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label=io.hub.lab={lab}"),
            "--format",
            "{{.Names}}",
        ])
        .output()
        .expect("docker runs");
    let nets = std::process::Command::new("docker")
        .args([
            "network",
            "ls",
            "--filter",
            &format!("label=io.hub.lab={lab}"),
            "--format",
            "{{.Name}}",
        ])
        .output()
        .expect("docker runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&nets.stdout)
    )
}

#[tokio::test]
async fn a_lab_in_a_test_comes_up_and_is_removed_when_dropped() -> anyhow::Result<()> {
    let lab_name = "t-hub-harness";
    let state = tempfile::tempdir()?;
    let lab = Hub::builder()
        .name(lab_name)
        .network("10.205.103.0/24")
        // db takes a while before it serves its page (as a database does before it takes
        // connections), and is ready once it serves it.
        .container(
            Container::new("db", BUSYBOX)
                .cmd([
                    "sh",
                    "-c",
                    "sleep 2 && mkdir -p /www && echo db says hi > /www/index.html && exec httpd -f -p 80 -h /www",
                ])
                .healthcheck(
                    ContainerHealthcheck::new(["wget", "-qO-", "http://127.0.0.1/"])
                        .interval(Duration::from_secs(1))
                        .retries(30),
                ),
        )
        // app fetches db's page once, as it starts, and exits (failing the up) when db does
        // not answer yet: it can only come up if it was started after db was ready.
        .container(
            Container::new("app", BUSYBOX)
                .cmd([
                    "sh",
                    "-c",
                    "wget -qO /tmp/from-db http://db/ || exit 1; exec sleep 3600",
                ])
                .depends_on("db"),
        )
        .state_dir(state.path())
        .up()
        .await?; // returns when every workload is ready
    let out = lab.exec("app", ["cat", "/tmp/from-db"]).await?;
    assert!(
        out.stdout.contains("db says hi"),
        "what app got as it started: {out:?}"
    );
    assert_eq!(lab.ip("db")?.to_string(), "10.205.103.30");
    assert!(!leftovers(lab_name).is_empty());
    drop(lab); // removes the lab, on this current-thread runtime too
    assert_eq!(leftovers(lab_name), "");
    assert!(!state.path().join(lab_name).exists());
    Ok(())
}
