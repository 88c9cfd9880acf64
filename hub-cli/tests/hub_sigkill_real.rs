//! `hub up` killed with SIGKILL at a random moment, then `hub down`: nothing is left. Repeated
//! on a containers-only lab, and once on a lab with a VM (killed while it is being made or
//! booted).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{HUB, LabGuard, hub, leftovers, show};
use rand::Rng;

fn kill_up_then_down(
    lab: &str,
    spec: &str,
    state: &std::path::Path,
    after: Duration,
    settle: Duration,
) {
    let mut child = Command::new(HUB)
        .args(["up", "-c", spec, "--state-dir"])
        .arg(state)
        .env("HUB_BIN", HUB)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("hub up starts");
    std::thread::sleep(after);
    // SIGKILL: no chance to clean up.
    let _ = child.kill();
    let _ = child.wait();
    // Let the daemons finish what the dead process had asked of them.
    std::thread::sleep(settle);
    let down = hub(state, &["down", "--lab", lab]);
    assert!(
        down.status.success(),
        "down after a kill at {after:?} failed:\n{}",
        show(&down)
    );
    assert_eq!(
        leftovers(lab, state),
        Vec::<String>::new(),
        "left after a kill at {after:?}"
    );
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
        kill_up_then_down(lab, spec, &state, after, Duration::from_millis(700));
    }
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
    let after = Duration::from_millis(rand::rng().random_range(1500..8000));
    kill_up_then_down(lab, spec, &state, after, Duration::from_secs(3));
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
    // Wait until the lab's containers exist, then press Ctrl-C.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while leftovers(lab, &state)
        .iter()
        .filter(|l| l.starts_with("container"))
        .count()
        < 3
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the lab never came up far enough"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
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
