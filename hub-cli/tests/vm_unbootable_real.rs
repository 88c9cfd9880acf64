//! A VM that cannot boot says so at once, through the `hub` binary on the real engines: a file
//! that is no disk image is refused by `validate` and by `up` before anything starts, and a
//! valid disk with nothing to boot fails `up` as soon as the firmware says `No bootable
//! device.` on the serial console, naming it, and leaves nothing behind.

mod common;

use common::{LabGuard, hub, leftovers, show};

fn spec(lab: &str, subnet: &str, image: &std::path::Path) -> String {
    format!(
        "name: {lab}\nsubnet: {subnet}\ncontainers:\n  - name: web\n    image: hub-test/busybox:latest\n    cmd: [\"sleep\", \"3600\"]\nvms:\n  - name: vm1\n    image: {}\n    memory_mb: 256\n    vcpus: 1\n",
        image.display()
    )
}

#[test]
fn a_disk_with_nothing_to_boot_fails_up_naming_the_firmware_message_and_leaves_nothing() {
    let lab = "t-hub-noboot";
    let dir = common::tempdir();
    let state = dir.path().join("state");
    let image = dir.path().join("empty.qcow2");
    let made = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&image)
        .arg("64M")
        .status()
        .expect("qemu-img runs");
    assert!(made.success());
    let file = dir.path().join("lab.yaml");
    std::fs::write(&file, spec(lab, "10.205.154.0/24", &image)).unwrap();
    let _guard = LabGuard {
        lab: lab.into(),
        state: state.clone(),
    };
    let out = hub(&state, &["up", "-c", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the guest cannot boot"), "{}", show(&out));
    assert!(err.contains("No bootable device"), "{}", show(&out));
    assert_eq!(leftovers(lab, &state), Vec::<String>::new());
}

#[test]
fn a_file_that_is_no_disk_image_is_refused_naming_why_and_leaves_nothing() {
    let lab = "t-hub-notdisk";
    let dir = common::tempdir();
    let state = dir.path().join("state");
    let image = dir.path().join("debian.qcow2");
    std::fs::write(&image, "this is a text file, not a disk\n").unwrap();
    let file = dir.path().join("lab.yaml");
    std::fs::write(&file, spec(lab, "10.205.155.0/24", &image)).unwrap();
    let _guard = LabGuard {
        lab: lab.into(),
        state: state.clone(),
    };
    let where_ = format!("{}:9:12: vms[0].image: VM image", file.display());
    let out = hub(&state, &["validate", "-c", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&where_), "{}", show(&out));
    assert!(
        err.contains("debian.qcow2 is not a disk image"),
        "{}",
        show(&out)
    );
    let out = hub(&state, &["up", "-c", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&where_), "{}", show(&out));
    assert!(err.contains("is not a disk image"), "{}", show(&out));
    assert!(!state.join(lab).exists(), "nothing was started");
    assert_eq!(leftovers(lab, &state), Vec::<String>::new());
}
