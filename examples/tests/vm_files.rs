//! `files:` on a VM, on a real guest: a file of the spec's folder lands in the VM with its
//! mode and owner (cloud-init `write_files`, deferred until the user exists). The VM is warm
//! (as in `warm_vm.rs`): the first run boots it cold and saves it, later runs restore it in
//! seconds, and the file is part of the saved guest (and of the cache key).
//!
//! netd's image is built from the `hub` executable: `HUB_BIN` names it (`scripts/test.sh`
//! builds `hub-cli` and sets it), else `hub` on PATH (`cargo install --path hub-cli`).

use hub_core::spec::VmFile;
use hub_core::{Hub, LabSpec, Vm};

#[tokio::test(flavor = "multi_thread")]
async fn a_spec_file_is_in_the_vm_with_its_mode_and_owner() -> anyhow::Result<()> {
    let state = tempfile::tempdir()?;
    // QEMU's user must reach the VM's disk below the state root: tempdirs are 0700.
    std::fs::set_permissions(
        state.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o711),
    )?;
    // The spec's folder; the same content on every run, so the warm entry is reused.
    let folder = tempfile::tempdir()?;
    std::fs::create_dir(folder.path().join("conf"))?;
    std::fs::write(
        folder.path().join("conf/note.txt"),
        "written by cloud-init from the spec's folder\nsecond line\n",
    )?;
    // Relative sources are read from the spec's folder (a file's folder, or `base_dir`).
    let spec = LabSpec::new("t-hub-vm-files", "10.218.9.0/24")
        .base_dir(folder.path())
        .vm(Vm::new("files", "/var/cache/hub-test/debian-12.qcow2")
            .memory_mb(768)
            .vcpus(2)
            .warm(true)
            .file(
                VmFile::new("./conf/note.txt", "/etc/hub-note")
                    .mode("0640")
                    .owner("hub:hub"),
            ));
    let lab = Hub::builder()
        .spec(spec)
        .state_dir(state.path())
        .up()
        .await?;
    let out = lab
        .ssh(
            "files",
            "stat -c '%a %U:%G' /etc/hub-note && sudo cat /etc/hub-note",
        )
        .await?;
    assert_eq!(
        out.stdout, "640 hub:hub\nwritten by cloud-init from the spec's folder\nsecond line\n",
        "{out:?}"
    );
    Ok(())
}
