//! Quickstart: a lab of two containers built with the builder, used, then removed.
//!
//! `cargo run -p hub-examples --example quickstart` (as root, with dockerd running and the
//! `hub-test/busybox` image of scripts/setup-host.sh; `HUB_BIN` names the `hub` executable
//! netd's image is built from, e.g. `target/debug/hub`).

use hub_core::{Container, Hub};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let lab = Hub::builder()
        .name("quickstart")
        .network("10.77.0.0/24")
        .container(Container::new("web", "hub-test/busybox:latest").cmd([
            "sh",
            "-c",
            "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www",
        ]))
        .container(
            Container::new("client", "hub-test/busybox:latest")
                .cmd(["sleep", "3600"])
                .depends_on("web"),
        )
        .on_progress(|p| eprintln!("{p:?}"))
        .up()
        .await?;
    println!("web is at {}", lab.ip("web")?);
    let out = lab.exec("client", ["wget", "-qO-", "http://web/"]).await?;
    println!("client fetched: {}", out.stdout.trim());
    let report = lab.down().await?;
    println!("{report}");
    Ok(())
}
