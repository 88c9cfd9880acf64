//! The test-harness pattern with a warm VM: the first run of this test boots the VM cold and
//! saves a snapshot of it in the warm cache; every later run restores it in seconds. The VM is
//! the same each time (name, MAC, address, host key), so the test sees the same machine.
//!
//! netd's image is built from the `hub` executable: `HUB_BIN` names it (`scripts/test.sh`
//! builds `hub-cli` and sets it), else `hub` on PATH (`cargo install --path hub-cli`).

use hub_core::{Container, Hub, Vm};

#[tokio::test(flavor = "multi_thread")]
async fn a_test_with_a_warm_vm() -> anyhow::Result<()> {
    let state = tempfile::tempdir()?;
    // QEMU's user must reach the VM's disk below the state root: tempdirs are 0700.
    std::fs::set_permissions(
        state.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o711),
    )?;
    let lab = Hub::builder()
        .name("t-hub-warm-harness")
        .network("10.205.104.0/24")
        .container(Container::new("db", "hub-test/busybox:latest").cmd([
            "sh",
            "-c",
            "mkdir -p /www && echo db says hi > /www/index.html && exec httpd -f -p 80 -h /www",
        ]))
        .vm(Vm::new("agent", "/var/cache/hub-test/debian-12.qcow2")
            .memory_mb(768)
            .vcpus(2)
            .warm(true))
        .state_dir(state.path())
        .up()
        .await?; // cold the first time (then saved), restored from the snapshot after that
    let out = lab.ssh("agent", "getent hosts db").await?;
    assert!(out.stdout.contains(&lab.ip("db")?.to_string()), "{out:?}");
    let boot = lab
        .workloads()
        .iter()
        .find(|w| w.name == "agent")
        .and_then(|w| w.boot.clone())
        .unwrap_or_default();
    assert!(
        boot == "restored from warm snapshot" || boot.starts_with("cold boot (no warm snapshot"),
        "{boot}"
    );
    Ok(()) // dropping `lab` removes it; the snapshot stays in the cache
}
