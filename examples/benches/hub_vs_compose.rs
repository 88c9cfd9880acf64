//! `hub up` / `hub down` of a 20-container lab side by side with Debian's docker-compose on the
//! equivalent compose file (`docker-compose up -d`, `docker-compose down -t 0`), in one run,
//! plus the time of a second, unchanged `hub up`. Prints the figures and the ratios.
//!
//! `cargo bench -p hub-examples --bench hub_vs_compose` (needs dockerd, docker-compose and the
//! `hub-test/busybox` image of scripts/setup/20-images.sh). `HUB_BENCH_ROUNDS` sets the rounds
//! (default 3); each figure is the median.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const HUB: &str = env!("CARGO_BIN_EXE_hub");
const LAB: &str = "t-hub-bench";
const PROJECT: &str = "t-hub-bench-compose";
const N: usize = 20;

fn run(cmd: &mut Command) -> (Duration, Output) {
    let t = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} could not be run: {e}"));
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (took, out)
}

fn hub(state: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(HUB);
    c.args(args)
        .arg("--state-dir")
        .arg(state)
        .env("HUB_BIN", HUB);
    c
}

fn compose(file: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("docker-compose");
    c.arg("-f").arg(file).arg("-p").arg(PROJECT).args(args);
    c
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("HUB_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let tmp = tempfile::tempdir().expect("temp dir");
    let state = tmp.path().join("state");
    let spec = tmp.path().join("lab.yaml");
    let compose_file = tmp.path().join("docker-compose.yml");

    let mut yaml = format!("name: {LAB}\nsubnet: 10.205.110.0/24\ncontainers:\n");
    let mut cyaml = String::from(
        "version: \"2.4\"\nnetworks:\n  lab:\n    ipam:\n      config:\n        - subnet: 10.205.111.0/24\nservices:\n",
    );
    for i in 0..N {
        yaml.push_str(&format!(
            "  - name: c{i}\n    image: hub-test/busybox:latest\n    cmd: [\"sleep\", \"3600\"]\n    ip: 10.205.110.{}\n",
            30 + i
        ));
        cyaml.push_str(&format!(
            "  c{i}:\n    image: hub-test/busybox:latest\n    command: [\"sleep\", \"3600\"]\n    networks:\n      lab:\n        ipv4_address: 10.205.111.{}\n",
            30 + i
        ));
    }
    std::fs::write(&spec, yaml).expect("spec");
    std::fs::write(&compose_file, cyaml).expect("compose file");
    let spec_s = spec.to_str().expect("utf-8");

    // Clean slate, and netd's image built once (as on any machine after the first up).
    let _ = hub(&state, &["down", "--lab", LAB]).output();
    let _ = compose(&compose_file, &["down", "-t", "0"]).output();
    run(&mut hub(&state, &["up", "-c", spec_s]));
    run(&mut hub(&state, &["down", "--lab", LAB]));

    let (mut hub_up, mut hub_again, mut hub_down, mut c_up, mut c_down) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let (t, _) = run(&mut hub(&state, &["up", "-c", spec_s]));
        hub_up.push(t);
        let (t, out) = run(&mut hub(&state, &["up", "-c", spec_s]));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("no change"),
            "the second up changed something"
        );
        hub_again.push(t);
        let (t, _) = run(&mut hub(&state, &["down", "--lab", LAB]));
        hub_down.push(t);
        let (t, _) = run(&mut compose(&compose_file, &["up", "-d"]));
        c_up.push(t);
        let (t, _) = run(&mut compose(&compose_file, &["down", "-t", "0"]));
        c_down.push(t);
        eprintln!(
            "round {}: hub up {:.2}s again {:.3}s down {:.2}s | compose up {:.2}s down {:.2}s",
            r + 1,
            hub_up[r].as_secs_f64(),
            hub_again[r].as_secs_f64(),
            hub_down[r].as_secs_f64(),
            c_up[r].as_secs_f64(),
            c_down[r].as_secs_f64()
        );
    }
    let (hu, ha, hd, cu, cd) = (
        median(hub_up),
        median(hub_again),
        median(hub_down),
        median(c_up),
        median(c_down),
    );
    println!("hub_vs_compose: {N} containers, median of {rounds} rounds");
    println!(
        "  {:<26} {:>9} {:>16} {:>9}",
        "", "hub", "docker-compose", "ratio"
    );
    println!(
        "  {:<26} {:>8.2}s {:>15.2}s {:>8.2}x",
        "up (from nothing)",
        hu.as_secs_f64(),
        cu.as_secs_f64(),
        cu.as_secs_f64() / hu.as_secs_f64()
    );
    println!(
        "  {:<26} {:>8.2}s {:>15.2}s {:>8.2}x",
        "down",
        hd.as_secs_f64(),
        cd.as_secs_f64(),
        cd.as_secs_f64() / hd.as_secs_f64()
    );
    println!(
        "  {:<26} {:>8.3}s",
        "second, unchanged up",
        ha.as_secs_f64()
    );
    println!("  (ratio = docker-compose time / hub time; hub's up includes its netd container)");
}
