//! `hub up` killed with SIGKILL, then `hub down`: nothing is left. Repeated on a
//! containers-only lab at random moments, with `down` once the killed up's work has settled and
//! with `down` right after the kill; and once on a lab with a VM, killed once its domain runs
//! on its overlay.

mod common;

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{HUB, LabGuard, hub, leftovers, show, wait_for};
use rand::Rng;

/// When `down` runs after the kill.
#[derive(Clone, Copy, Debug)]
enum Down {
    /// Once the killed up's children have exited and the lab's objects stopped changing.
    Settled,
    /// At once: whatever the daemons still finish for the dead process lands after it.
    Immediately,
}

/// Starts `hub up` in its own process group (so that its children can be waited for).
fn spawn_up(spec: &str, state: &Path) -> Child {
    Command::new(HUB)
        .args(["up", "-c", spec, "--state-dir"])
        .arg(state)
        .env("HUB_BIN", HUB)
        .env_remove("HUB_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("hub up starts")
}

/// The processes still in process group `pgid` (the killed hub's `virsh`, `qemu-img`, ...).
fn group_members(pgid: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2) == Some(&pgid.to_string().as_str()) && fields.first() != Some(&"Z") {
            found.push(head.to_string());
        }
    }
    found
}

/// Waits until the killed up's children have exited and the lab's objects (containers,
/// networks, domains, interface, rules, files) are the same on three polls in a row.
fn wait_settled(lab: &str, state: &Path, pgid: u32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !group_members(pgid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the killed up's children never ended: {:?}",
            group_members(pgid)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut last = leftovers(lab, state);
    let mut same = 0;
    while same < 3 {
        assert!(Instant::now() < deadline, "the lab never settled: {last:?}");
        std::thread::sleep(Duration::from_millis(250));
        let now = leftovers(lab, state);
        same = if now == last { same + 1 } else { 0 };
        last = now;
    }
}

/// Kills `child` (SIGKILL: no chance to clean up), runs `down` when `when` says, and asserts
/// nothing of the lab is left once everything settled.
fn kill_then_down(mut child: Child, lab: &str, state: &Path, when: Down, what: &str) {
    let pgid = child.id();
    let _ = child.kill();
    let _ = child.wait();
    if let Down::Settled = when {
        wait_settled(lab, state, pgid);
    }
    let down = hub(state, &["down", "--lab", lab]);
    assert!(
        down.status.success(),
        "down ({when:?}) after a kill {what} failed:\n{}",
        show(&down)
    );
    if let Down::Immediately = when {
        // What the daemons finished for the dead process after `down` would show up now.
        wait_settled(lab, state, pgid);
    }
    assert_eq!(
        leftovers(lab, state),
        Vec::<String>::new(),
        "left after a kill {what}, down {when:?}"
    );
}

fn kill_up_then_down(lab: &str, spec: &str, state: &Path, after: Duration, when: Down) {
    let child = spawn_up(spec, state);
    std::thread::sleep(after);
    kill_then_down(child, lab, state, when, &format!("at {after:?}"));
}

#[test]
fn killed_up_then_down_leaves_nothing_containers() {
    let lab = "t-hub-kill";
    let tmp = common::tempdir();
    let state = tmp.path().join("state");
    let spec = tmp.path().join("lab.yaml");
    let mut yaml = format!("name: {lab}\nsubnet: 10.205.101.0/24\ncontainers:\n");
    for i in 0..6 {
        yaml.push_str(&format!(
            "  - name: c{i}\n    image: hub-test/busybox:latest\n    cmd: [\"sleep\", \"3600\"]\n"
        ));
    }
    yaml.push_str(
        "wireguard:\n  subnet: 10.206.101.0/24\n  listen_port: 51906\n  peers:\n    - name: p1\n",
    );
    std::fs::write(&spec, yaml).expect("spec");
    let spec = spec.to_str().expect("utf-8");
    let _guard = LabGuard {
        lab: lab.into(),
        state: state.clone(),
    };
    let _ = hub(&state, &["down", "--lab", lab]);
    // Build netd's image once so that the kills land in the lab's own work.
    let warm = hub(&state, &["up", "-c", spec]);
    assert!(warm.status.success(), "{}", show(&warm));
    let full = hub(&state, &["down", "--lab", lab]);
    assert!(full.status.success(), "{}", show(&full));
    let mut rng = rand::rng();
    let mut moments = vec![Duration::from_millis(0)];
    for _ in 0..5 {
        moments.push(Duration::from_millis(rng.random_range(0..2500)));
    }
    for after in moments {
        kill_up_then_down(lab, spec, &state, after, Down::Settled);
    }
    // Down right after the kill, while the dead up's requests may still be in the daemons:
    // once at a random moment, once just as its first container appeared.
    let after = Duration::from_millis(rng.random_range(0..2500));
    kill_up_then_down(lab, spec, &state, after, Down::Immediately);
    let child = spawn_up(spec, &state);
    wait_for("a container of the lab", Duration::from_secs(60), || {
        leftovers(lab, &state)
            .iter()
            .any(|l| l.starts_with(&format!("container {lab}-c")))
    });
    kill_then_down(
        child,
        lab,
        &state,
        Down::Immediately,
        "as its first container appeared",
    );
}

#[test]
fn killed_up_then_down_leaves_nothing_with_a_vm() {
    let lab = "t-hub-killvm";
    let tmp = common::tempdir();
    let state = tmp.path().join("state");
    let spec = tmp.path().join("lab.yaml");
    let yaml = format!(
        "name: {lab}\nsubnet: 10.205.102.0/24\ncontainers:\n  - name: web\n    image: hub-test/busybox:latest\n    cmd: [\"sleep\", \"3600\"]\nvms:\n  - name: vm\n    image: /var/cache/hub-test/debian-12.qcow2\n    memory_mb: 512\n    vcpus: 1\n"
    );
    std::fs::write(&spec, yaml).expect("spec");
    let spec = spec.to_str().expect("utf-8");
    let _guard = LabGuard {
        lab: lab.into(),
        state: state.clone(),
    };
    let _ = hub(&state, &["down", "--lab", lab]);
    let child = spawn_up(spec, &state);
    let domain = format!("{lab}-vm");
    let overlay = state.join(lab).join("vms/vm/disk.qcow2");
    // Kill once the VM runs on its overlay: the cleanup then has a domain to destroy and
    // undefine, and a disk to delete.
    wait_for("the VM's domain running", Duration::from_secs(180), || {
        virsh_state(&domain).as_deref() == Some("running")
    });
    assert!(overlay.exists(), "no overlay at {}", overlay.display());
    kill_then_down(child, lab, &state, Down::Settled, "with the VM running");
    assert_eq!(virsh_state(&domain), None, "domain {domain} left");
    assert!(!overlay.exists(), "overlay left: {}", overlay.display());
}

/// The domain's state (`running`, `shut off`), or `None` when libvirt has no such domain.
fn virsh_state(domain: &str) -> Option<String> {
    let out = Command::new("virsh")
        .args(["-c", "qemu:///system", "domstate", domain])
        .output()
        .expect("virsh runs");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn ctrl_c_during_up_rolls_back_and_exits_130() {
    let lab = "t-hub-int";
    let tmp = common::tempdir();
    let state = tmp.path().join("state");
    let spec = tmp.path().join("lab.yaml");
    // A container whose healthcheck never passes keeps `up` waiting until it is interrupted.
    let yaml = format!(
        "name: {lab}\nsubnet: 10.205.104.0/24\ncontainers:\n  - name: ok\n    image: hub-test/busybox:latest\n    cmd: [\"sleep\", \"3600\"]\n  - name: never\n    image: hub-test/busybox:latest\n    cmd: [\"sleep\", \"3600\"]\n    healthcheck:\n      test: [\"false\"]\n      interval: 1s\n      retries: 1000\n"
    );
    std::fs::write(&spec, yaml).expect("spec");
    let _guard = LabGuard {
        lab: lab.into(),
        state: state.clone(),
    };
    let _ = hub(&state, &["down", "--lab", lab]);
    let child = Command::new(HUB)
        .args(["up", "-c", spec.to_str().expect("utf-8"), "--state-dir"])
        .arg(&state)
        .env("HUB_BIN", HUB)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hub up starts");
    // Wait until `up` is waiting for the never-healthy container (running, so started and
    // being waited for), then press Ctrl-C.
    let never = format!("{lab}-never");
    wait_for(
        "the never-healthy container running",
        Duration::from_secs(120),
        || {
            let o = Command::new("docker")
                .args(["inspect", "-f", "{{.State.Running}}", &never])
                .output()
                .expect("docker runs");
            String::from_utf8_lossy(&o.stdout).trim() == "true"
        },
    );
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let out = child.wait_with_output().expect("hub up ends");
    assert_eq!(out.status.code(), Some(130), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interrupted"),
        "{}",
        show(&out)
    );
    // Rolled back by itself: no down needed.
    assert_eq!(leftovers(lab, &state), Vec::<String>::new());
}
