//! Segment networks come and go with the spec (issue 14, part 2) on the real Docker Engine,
//! through the `hub` binary: a failed `up` that made a new segment's network removes it in its
//! rollback (the lab's other networks and netd stay, and the next `up` serves the segments
//! again); a segment that leaves the spec loses its network at the next `up`, but not while a
//! container outside the lab still uses it.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{LabGuard, hub, leftovers, show};

const LAB: &str = "sg2";

/// The lab with the segments `segs` (of dmz, internal, extra) and one container on each;
/// `extra_image` is the image of the container on `extra`.
fn spec(segs: &[&str], extra_image: &str) -> String {
    let mut y = format!("name: {LAB}\nnetworks:\n");
    for (i, s) in segs.iter().enumerate() {
        y.push_str(&format!(
            "  - name: {s}\n    subnet: 10.231.{}.0/24\n",
            21 + i
        ));
    }
    y.push_str("containers:\n");
    for s in segs {
        let image = if *s == "extra" {
            extra_image
        } else {
            "hub-test/busybox:latest"
        };
        y.push_str(&format!(
            "  - name: on-{s}\n    image: {image}\n    cmd: [\"sleep\", \"3600\"]\n    networks: [{s}]\n"
        ));
    }
    y
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs")
}

/// Whether the Docker network `name` exists.
fn network_exists(name: &str) -> bool {
    docker(&["network", "inspect", name]).status.success()
}

/// The networks netd is joined to, sorted.
fn netd_networks() -> Vec<String> {
    let out = docker(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        &format!("{LAB}-netd"),
    ]);
    assert!(out.status.success(), "{out:?}");
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

fn up(state: &Path, path: &Path, yaml: &str) -> Output {
    std::fs::write(path, yaml).expect("spec");
    hub(state, &["up", "-c", path.to_str().expect("utf-8")])
}

#[test]
fn segment_networks_follow_the_spec_and_the_rollback() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state");
    let path = dir.path().join("lab.yaml");
    let _guard = LabGuard {
        lab: LAB.into(),
        state: state.clone(),
    };
    let _ = hub(&state, &["down", "--lab", LAB]);
    let (dmz, internal, extra) = (
        format!("{LAB}-dmz"),
        format!("{LAB}-internal"),
        format!("{LAB}-extra"),
    );
    let busybox = "hub-test/busybox:latest";

    let first = up(&state, &path, &spec(&["dmz", "internal"], busybox));
    assert!(first.status.success(), "{}", show(&first));
    assert!(network_exists(&dmz) && network_exists(&internal));
    assert_eq!(netd_networks(), [dmz.as_str(), internal.as_str()]);

    // A new segment whose only container cannot be pulled: the up fails, and its rollback
    // removes the new segment's network (netd was joined to it) but nothing that was there.
    let missing = format!(
        "127.0.0.1:{}/hub-test/sg-missing:1",
        common::empty_registry()
    );
    let failed = up(
        &state,
        &path,
        &spec(&["dmz", "internal", "extra"], &missing),
    );
    assert_eq!(failed.status.code(), Some(1), "{}", show(&failed));
    assert!(!network_exists(&extra), "{}", show(&failed));
    assert!(network_exists(&dmz) && network_exists(&internal));

    // The spec as it was: netd serves its two segments again.
    let again = up(&state, &path, &spec(&["dmz", "internal"], busybox));
    assert!(again.status.success(), "{}", show(&again));
    assert_eq!(netd_networks(), [dmz.as_str(), internal.as_str()]);

    // `internal` leaves the spec while a container from outside the lab is on it: its
    // network stays; once that container is gone, the next up removes it.
    let outsider = format!("{LAB}-outsider");
    let _ = docker(&["rm", "-f", &outsider]);
    let run = docker(&[
        "run",
        "-d",
        "--name",
        &outsider,
        "--network",
        &internal,
        busybox,
        "sleep",
        "3600",
    ]);
    assert!(run.status.success(), "{run:?}");
    let kept = up(&state, &path, &spec(&["dmz"], busybox));
    let _ = docker(&["rm", "-f", &outsider]);
    assert!(kept.status.success(), "{}", show(&kept));
    assert!(network_exists(&internal), "an outsider still uses it");
    assert_eq!(netd_networks(), [dmz.as_str()]);
    let pruned = up(&state, &path, &spec(&["dmz"], busybox));
    assert!(pruned.status.success(), "{}", show(&pruned));
    assert!(!network_exists(&internal), "{}", show(&pruned));
    assert!(network_exists(&dmz));

    let down = hub(&state, &["down", "--lab", LAB]);
    assert!(down.status.success(), "{}", show(&down));
    assert_eq!(leftovers(LAB, &state), Vec::<String>::new());
}
