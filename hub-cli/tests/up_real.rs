//! Behaviours of `hub up` that the fault tests check on the fakes, once each on the real
//! engines: a failed `up` rolls back everything it made, the lab lock between two real `hub up`
//! processes (and its release when the holder is SIGKILLed), and `attach_to` (the lab joins an
//! existing network and `down` never removes it).

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{HUB, LabGuard, hub, leftovers, show, wait_for};

/// Waits for `child` to exit, at most `limit` (killing it past that).
fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hub up did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs")
}

#[test]
fn a_failed_up_rolls_back_everything_it_made() {
    let lab = "t-hub-rollback";
    let tmp = common::tempdir();
    let state = tmp.path().join("state");
    let spec = tmp.path().join("lab.yaml");
    let missing = format!(
        "127.0.0.1:{}/hub-test/t-hub-missing:1",
        common::empty_registry()
    );
    let mut yaml = format!("name: {lab}\nsubnet: 10.205.160.0/24\ncontainers:\n");
    for i in 0..3 {
        yaml.push_str(&format!(
            "  - name: c{i}\n    image: hub-test/busybox:latest\n    cmd: [\"sleep\", \"3600\"]\n"
        ));
    }
    // The last container's image is in no store: its pull fails.
    yaml.push_str(&format!(
        "  - name: last\n    image: {missing}\n    depends_on: [c0, c1, c2]\n"
    ));
    yaml.push_str(
        "wireguard:\n  subnet: 10.206.160.0/24\n  listen_port: 51960\n  peers:\n    - name: p1\n",
    );
    std::fs::write(&spec, yaml).expect("spec");
    let _guard = LabGuard {
        lab: lab.into(),
        state: state.clone(),
    };
    let _ = hub(&state, &["down", "--lab", lab]);
    let since = unix_now();

    let up = hub(&state, &["up", "-c", spec.to_str().expect("utf-8")]);
    assert_eq!(up.status.code(), Some(1), "{}", show(&up));
    let err = String::from_utf8_lossy(&up.stderr);
    assert!(
        err.contains(&missing),
        "the error names the image: {}",
        show(&up)
    );

    // The up did make the lab before it failed: netd and the three containers were created
    // (the last one waited for them), then removed.
    let events = docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &unix_now(),
        "--filter",
        &format!("label=io.hub.lab={lab}"),
        "--filter",
        "type=container",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    let events = String::from_utf8_lossy(&events.stdout);
    for name in ["netd", "c0", "c1", "c2"] {
        for action in ["create", "destroy"] {
            let line = format!("{action} {lab}-{name}");
            assert!(
                events.lines().any(|l| l == line),
                "no {line:?} among the lab's events:\n{events}"
            );
        }
    }
    // Nothing is left: containers (netd included), network, domains, the lab directory (and
    // so any overlay), the WireGuard interface and its rules.
    assert_eq!(leftovers(lab, &state), Vec::<String>::new());
    let nets = docker(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !String::from_utf8_lossy(&nets.stdout)
            .lines()
            .any(|n| n == lab),
        "network {lab} left"
    );
}

/// Now, as `docker events --since` takes it (seconds since the epoch, with fraction).
fn unix_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

#[test]
fn two_real_ups_of_one_lab_one_refused_one_waits_lock_released_on_sigkill() {
    let lab = "t-hub-lock";
    let tmp = common::tempdir();
    let state = tmp.path().join("state");
    let holding = tmp.path().join("holding.yaml");
    let plain = tmp.path().join("plain.yaml");
    let ok = "  - name: ok\n    image: hub-test/busybox:latest\n    cmd: [\"sleep\", \"3600\"]\n";
    // A container whose healthcheck never passes keeps the first up (and its lock) waiting.
    let never = "  - name: never\n    image: hub-test/busybox:latest\n    cmd: [\"sleep\", \"3600\"]\n    healthcheck:\n      test: [\"false\"]\n      interval: 1s\n      retries: 1000\n";
    let head = format!("name: {lab}\nsubnet: 10.205.161.0/24\ncontainers:\n");
    std::fs::write(&holding, format!("{head}{ok}{never}")).expect("spec");
    std::fs::write(&plain, format!("{head}{ok}")).expect("spec");
    let _guard = LabGuard {
        lab: lab.into(),
        state: state.clone(),
    };
    let _ = hub(&state, &["down", "--lab", lab]);

    let spawn_up = |spec: &Path, extra: &[&str], log: &Path| -> Child {
        Command::new(HUB)
            .args(["--log-level", "info", "up", "-c"])
            .arg(spec)
            .args(extra)
            .arg("--state-dir")
            .arg(&state)
            .env("HUB_BIN", HUB)
            .env_remove("HUB_CONFIG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("log"))
            .spawn()
            .expect("hub up starts")
    };
    let mut holder = spawn_up(&holding, &[], &tmp.path().join("holder.log"));
    let pid = holder.id();
    let lock = hub_core::state::LabLock::path(&state, lab);
    wait_for(
        "the first up takes the lock",
        Duration::from_secs(60),
        || std::fs::read_to_string(&lock).is_ok_and(|s| s.trim() == pid.to_string()),
    );

    // A second up without --wait fails at once, naming the holder's pid.
    let refused = hub(&state, &["up", "-c", holding.to_str().expect("utf-8")]);
    assert!(!refused.status.success(), "{}", show(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(&format!("process {pid}")),
        "{}",
        show(&refused)
    );

    // A third one with --wait waits for it...
    let waiter_log = tmp.path().join("waiter.log");
    let mut waiter = spawn_up(&plain, &["--wait"], &waiter_log);
    wait_for("the waiting up says so", Duration::from_secs(30), || {
        std::fs::read_to_string(&waiter_log)
            .is_ok_and(|s| s.contains("waiting for the lab lock") && s.contains(&pid.to_string()))
    });
    assert!(
        waiter.try_wait().expect("try_wait").is_none(),
        "the waiting up ended while the lock was held"
    );
    assert!(holder.try_wait().expect("try_wait").is_none());

    // ...and takes the lock once the holder is SIGKILLed (no chance to unlock by itself).
    holder.kill().expect("SIGKILL");
    let _ = holder.wait();
    let status = wait_exit(&mut waiter, Duration::from_secs(180));
    let log = std::fs::read_to_string(&waiter_log).unwrap_or_default();
    assert!(status.success(), "the waiting up failed: {status}\n{log}");
    let st = hub(&state, &["status", "--lab", lab, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&st.stdout).expect("status --json");
    let names: Vec<&str> = json["workloads"]
        .as_array()
        .expect("workloads")
        .iter()
        .filter_map(|w| w["name"].as_str())
        .collect();
    assert!(names.contains(&"ok") && !names.contains(&"never"), "{json}");

    let down = hub(&state, &["down", "--lab", lab]);
    assert!(down.status.success(), "{}", show(&down));
    assert_eq!(leftovers(lab, &state), Vec::<String>::new());
}

/// Removes the test's own Docker network when dropped.
struct NetGuard(&'static str);

impl Drop for NetGuard {
    fn drop(&mut self) {
        let _ = docker(&["network", "rm", self.0]);
    }
}

#[test]
fn attach_to_uses_the_existing_network_and_down_keeps_it() {
    let lab = "t-hub-attach";
    let net = "t-hub-att-net";
    let tmp = common::tempdir();
    let state = tmp.path().join("state");
    let spec = tmp.path().join("lab.yaml");
    let _guard = LabGuard {
        lab: lab.into(),
        state: state.clone(),
    };
    let _ = hub(&state, &["down", "--lab", lab]);
    let _ = docker(&["network", "rm", net]);
    let made = docker(&[
        "network",
        "create",
        "--subnet",
        "10.205.162.0/24",
        "--label",
        "t-hub-test=attach",
        net,
    ]);
    assert!(made.status.success(), "{}", show(&made));
    let _net = NetGuard(net);
    let id = String::from_utf8_lossy(&made.stdout).trim().to_string();
    std::fs::write(
        &spec,
        format!(
            "name: {lab}\nsubnet: 10.205.162.0/24\nattach_to: {net}\ncontainers:\n  - name: a\n    image: hub-test/busybox:latest\n    cmd: [\"sleep\", \"3600\"]\n  - name: b\n    image: hub-test/busybox:latest\n    cmd: [\"sleep\", \"3600\"]\n"
        ),
    )
    .expect("spec");

    let up = hub(&state, &["up", "-c", spec.to_str().expect("utf-8")]);
    assert!(up.status.success(), "{}", show(&up));
    // Every container of the lab (netd too) is on that network and on no other; the lab made
    // no network of its own.
    let ps = docker(&[
        "ps",
        "--filter",
        &format!("label=io.hub.lab={lab}"),
        "--format",
        "{{.Names}} {{.Networks}}",
    ]);
    let ps = String::from_utf8_lossy(&ps.stdout);
    let mut names: Vec<&str> = ps.lines().filter_map(|l| l.split(' ').next()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("{lab}-a"),
            format!("{lab}-b"),
            format!("{lab}-netd")
        ],
        "{ps}"
    );
    for l in ps.lines() {
        assert!(l.ends_with(&format!(" {net}")), "not only on {net}: {l}");
    }
    let ip = docker(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
        &format!("{lab}-a"),
    ]);
    assert_eq!(String::from_utf8_lossy(&ip.stdout).trim(), "10.205.162.30");
    assert!(
        leftovers(lab, &state)
            .iter()
            .all(|l| !l.starts_with("network")),
        "the lab made a network of its own: {:?}",
        leftovers(lab, &state)
    );

    let down = hub(&state, &["down", "--lab", lab]);
    assert!(down.status.success(), "{}", show(&down));
    assert_eq!(leftovers(lab, &state), Vec::<String>::new());
    let still = docker(&["network", "inspect", "-f", "{{.Id}}", net]);
    assert!(
        still.status.success(),
        "down removed {net}: {}",
        show(&still)
    );
    assert_eq!(String::from_utf8_lossy(&still.stdout).trim(), id);
}
