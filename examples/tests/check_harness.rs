//! The test-harness pattern with checks: a lab built in Rust states what must and must not
//! work (`HubBuilder::check`), and the test asserts on the typed report of `lab.check()`: the
//! built-in checks and the lab's rules pass, and a rule that is wrong for this lab fails, by
//! name, with the reason.
//!
//! netd's image is built from the `hub` executable: `HUB_BIN` names it (`scripts/test.sh`
//! builds `hub-cli` and sets it), else `hub` on PATH.

use hub_core::check::CheckSource;
use hub_core::{Check, Container, Hub};

const BUSYBOX: &str = "hub-test/busybox:latest";

#[tokio::test]
async fn a_test_asserts_on_what_the_lab_proves() -> anyhow::Result<()> {
    let state = tempfile::tempdir()?;
    let lab = Hub::builder()
        .name("ck4")
        .network("10.232.4.0/24")
        .container(Container::new("db", BUSYBOX).cmd([
            "sh",
            "-c",
            "mkdir -p /www && echo db says hi > /www/index.html && exec httpd -f -p 80 -h /www",
        ]))
        .container(Container::new("app", BUSYBOX).cmd(["sleep", "3600"]))
        .check(
            Check::http("app", "db", "/")
                .name("app-reads-db")
                .expect("db says hi"),
        )
        .check(
            Check::tcp("app", "db", 5432)
                .name("no-postgres")
                .expect("blocked"),
        )
        // Wrong for this lab on purpose: db serves on 80 only.
        .check(Check::tcp("app", "db", 8080).name("db-on-8080"))
        .state_dir(state.path())
        .up()
        .await?;

    let report = lab.check().await?;
    assert!(!report.passed());
    let failed: Vec<_> = report.failures().collect();
    assert_eq!(failed.len(), 1, "{report:#?}");
    assert_eq!(failed[0].name, "db-on-8080");
    assert_eq!(failed[0].detail, "10.232.4.30:8080 refused the connection");
    let builtins = report
        .results
        .iter()
        .filter(|r| r.source == CheckSource::Builtin)
        .count();
    assert_eq!(
        builtins, 4,
        "app and db resolve and reach each other: {report:#?}"
    );
    assert!(report.result("app-reads-db").is_some_and(|r| r.passed));
    assert!(report.result("no-postgres").is_some_and(|r| r.passed));
    Ok(()) // dropping `lab` removes it
}
