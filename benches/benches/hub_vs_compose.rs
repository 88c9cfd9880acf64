//! `hub up` / `hub down` of a 20-container lab side by side with Debian's docker-compose on the
//! equivalent compose file (`docker-compose up -d`, `docker-compose down -t 0`), in one run,
//! plus the time of a second, unchanged `hub up`, and the engine's floor: the same 20
//! containers (same image, static IPs, a fresh network) created and started at full
//! parallelism straight through bollard, then removed with the network. Prints the figures,
//! the ratios and, from one extra instrumented round, the time of each of hub's phases
//! (`HUB_LOG=hub_timing=info`). `HUB_BENCH_FLOOR_VARIANTS=1` instead compares ways of
//! driving the engine (all at once, all creates before all starts, 8, 4 or 1 at a time) to
//! show which one is the floor.
//!
//! `cargo bench -p hub-benches --bench hub_vs_compose` (needs dockerd, docker-compose and the
//! `hub-test/busybox` image of scripts/setup/20-images.sh). `HUB_BENCH_ROUNDS` sets the rounds
//! (default 3); each figure is the median.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions,
};

const LAB: &str = "t-hub-bench";
const PROJECT: &str = "t-hub-bench-compose";
const N: usize = 20;
const FLOOR_NET: &str = "t-hub-bench-floor";
const IMAGE: &str = "hub-test/busybox:latest";

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

/// The `hub` executable, found (or built) once.
fn hub_exe() -> &'static Path {
    static HUB: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    HUB.get_or_init(hub_benches::hub_bin)
}

fn hub(state: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(hub_exe());
    c.args(args)
        .arg("--state-dir")
        .arg(state)
        .env("HUB_BIN", hub_exe());
    c
}

fn compose(file: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("docker-compose");
    c.arg("-f").arg(file).arg("-p").arg(PROJECT).args(args);
    c
}

/// The engine's floor: create the network, create+start the 20 containers all at once
/// (each create then its start), then remove them all at once (force) and the network.
/// Returns (up, down).
async fn floor(docker: &Docker) -> (Duration, Duration) {
    floor_with(docker, N, false).await
}

/// The floor with at most `limit` containers in flight, and with all creates before all
/// starts when `two_phase`.
async fn floor_with(docker: &Docker, limit: usize, two_phase: bool) -> (Duration, Duration) {
    let slots = tokio::sync::Semaphore::new(limit);
    let slots = &slots;
    let t = Instant::now();
    docker
        .create_network(NetworkCreateRequest {
            name: FLOOR_NET.into(),
            driver: Some("bridge".into()),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some("10.205.112.0/24".into()),
                    gateway: Some("10.205.112.1".into()),
                    ..Default::default()
                }]),
                options: None,
            }),
            ..Default::default()
        })
        .await
        .expect("floor: create the network");
    let ups = (0..N).map(|i| async move {
        let _slot = slots.acquire().await.expect("semaphore");
        let name = format!("{FLOOR_NET}-c{i}");
        let body = ContainerCreateBody {
            image: Some(IMAGE.into()),
            cmd: Some(vec!["sleep".into(), "3600".into()]),
            host_config: Some(HostConfig {
                network_mode: Some(FLOOR_NET.into()),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    FLOOR_NET.to_string(),
                    EndpointSettings {
                        ipam_config: Some(EndpointIpamConfig {
                            ipv4_address: Some(format!("10.205.112.{}", 30 + i)),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::new().name(&name).build();
        docker
            .create_container(Some(opts), body)
            .await
            .unwrap_or_else(|e| panic!("floor: create {name}: {e}"));
        if !two_phase {
            start(docker, &name).await;
        }
    });
    futures::future::join_all(ups).await;
    if two_phase {
        let starts = (0..N).map(|i| async move {
            let _slot = slots.acquire().await.expect("semaphore");
            start(docker, &format!("{FLOOR_NET}-c{i}")).await;
        });
        futures::future::join_all(starts).await;
    }
    let up = t.elapsed();
    let t = Instant::now();
    floor_remove(docker).await;
    (up, t.elapsed())
}

async fn start(docker: &Docker, name: &str) {
    docker
        .start_container(name, None::<StartContainerOptions>)
        .await
        .unwrap_or_else(|e| panic!("floor: start {name}: {e}"));
}

/// Removes the floor's containers (force, in parallel) and its network; what is missing is
/// fine.
async fn floor_remove(docker: &Docker) {
    let removals = (0..N).map(|i| async move {
        let name = format!("{FLOOR_NET}-c{i}");
        let opts = RemoveContainerOptionsBuilder::new().force(true).build();
        let _ = docker.remove_container(&name, Some(opts)).await;
    });
    futures::future::join_all(removals).await;
    let _ = docker.remove_network(FLOOR_NET).await;
}

/// The `phase=... ms=...` lines hub logs under `HUB_LOG=hub_timing=info`, as (phase, ms).
fn phases(stderr: &[u8]) -> Vec<(String, String)> {
    // Without the terminal colours (ESC [ ... m).
    let mut text = String::new();
    let mut in_escape = false;
    for c in String::from_utf8_lossy(stderr).chars() {
        match (in_escape, c) {
            (false, '\u{1b}') => in_escape = true,
            (false, c) => text.push(c),
            (true, 'm') => in_escape = false,
            (true, _) => {}
        }
    }
    text.lines()
        .filter_map(|l| {
            let field = |k: &str| {
                let at = l.find(&format!(" {k}="))? + k.len() + 2;
                Some(
                    l[at..]
                        .split_whitespace()
                        .next()?
                        .trim_matches('"')
                        .to_string(),
                )
            };
            Some((field("phase")?, field("ms")?))
        })
        .collect()
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
            "  - name: c{i}\n    image: {IMAGE}\n    cmd: [\"sleep\", \"3600\"]\n    ip: 10.205.110.{}\n",
            30 + i
        ));
        cyaml.push_str(&format!(
            "  c{i}:\n    image: {IMAGE}\n    command: [\"sleep\", \"3600\"]\n    networks:\n      lab:\n        ipv4_address: 10.205.111.{}\n",
            30 + i
        ));
    }
    std::fs::write(&spec, yaml).expect("spec");
    std::fs::write(&compose_file, cyaml).expect("compose file");
    let spec_s = spec.to_str().expect("utf-8");

    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let docker = Docker::connect_with_local_defaults().expect("connecting to dockerd");

    // Clean slate, and netd's image built once (as on any machine after the first up).
    let _ = hub(&state, &["down", "--lab", LAB]).output();
    let _ = compose(&compose_file, &["down", "-t", "0"]).output();
    rt.block_on(floor_remove(&docker));
    if std::env::var_os("HUB_BENCH_FLOOR_VARIANTS").is_some() {
        for (limit, two_phase) in [(N, false), (N, true), (8, false), (4, false), (1, false)] {
            for _ in 0..2 {
                let (u, d) = rt.block_on(floor_with(&docker, limit, two_phase));
                println!(
                    "floor limit {limit:>2} two-phase {two_phase:<5}: up {:.2}s down {:.2}s",
                    u.as_secs_f64(),
                    d.as_secs_f64()
                );
            }
        }
        return;
    }
    run(&mut hub(&state, &["up", "-c", spec_s]));
    run(&mut hub(&state, &["down", "--lab", LAB]));

    let (mut hub_up, mut hub_again, mut hub_down, mut c_up, mut c_down) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut f_up, mut f_down) = (Vec::new(), Vec::new());
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
        let (u, d) = rt.block_on(floor(&docker));
        f_up.push(u);
        f_down.push(d);
        eprintln!(
            "round {}: hub up {:.2}s again {:.3}s down {:.2}s | compose up {:.2}s down {:.2}s \
             | floor up {:.2}s down {:.2}s",
            r + 1,
            hub_up[r].as_secs_f64(),
            hub_again[r].as_secs_f64(),
            hub_down[r].as_secs_f64(),
            c_up[r].as_secs_f64(),
            c_down[r].as_secs_f64(),
            f_up[r].as_secs_f64(),
            f_down[r].as_secs_f64()
        );
    }

    // One more, instrumented round: hub's phases.
    let timed = |args: &[&str]| {
        let mut c = hub(&state, args);
        c.env("HUB_LOG", "warn,hub_timing=info");
        let (t, out) = run(&mut c);
        (t, phases(&out.stderr))
    };
    let t = Instant::now();
    let image_ref = hub_docker::netd::netd_image_ref(hub_exe()).expect("hashing hub");
    let hash_took = t.elapsed();
    let (up_t, up_phases) = timed(&["up", "-c", spec_s]);
    let (down_t, down_phases) = timed(&["down", "--lab", LAB]);

    let (hu, ha, hd, cu, cd, fu, fd) = (
        median(hub_up),
        median(hub_again),
        median(hub_down),
        median(c_up),
        median(c_down),
        median(f_up),
        median(f_down),
    );
    println!("hub_vs_compose: {N} containers, median of {rounds} rounds");
    println!(
        "  {:<22} {:>8} {:>15} {:>12} {:>14} {:>14}",
        "", "hub", "docker-compose", "engine floor", "compose/hub", "compose/floor"
    );
    for (what, h, c, f) in [("up (from nothing)", hu, cu, fu), ("down", hd, cd, fd)] {
        println!(
            "  {:<22} {:>7.2}s {:>14.2}s {:>11.2}s {:>13.2}x {:>13.2}x",
            what,
            h.as_secs_f64(),
            c.as_secs_f64(),
            f.as_secs_f64(),
            c.as_secs_f64() / h.as_secs_f64(),
            c.as_secs_f64() / f.as_secs_f64()
        );
    }
    println!(
        "  {:<26} {:>8.3}s",
        "second, unchanged up",
        ha.as_secs_f64()
    );
    println!(
        "  (compose/hub = docker-compose time / hub time, hub's up includes its netd container; \
         compose/floor = the most any tool could gain over docker-compose: the floor is the same \
         20 containers through bollard at full parallelism, no process start, no netd)"
    );
    println!(
        "  hashing the hub binary for the netd image tag ({image_ref}): {} ms",
        hash_took.as_millis()
    );
    for (what, total, ph) in [("up", up_t, up_phases), ("down", down_t, down_phases)] {
        println!(
            "  hub {what} phases (one extra round, {:.2}s wall):",
            total.as_secs_f64()
        );
        for (phase, ms) in ph {
            println!("    {phase:<28} {ms:>6} ms");
        }
    }
}
