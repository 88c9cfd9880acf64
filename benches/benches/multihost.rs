//! A lab segment over three hosts (the multi-host fixture, scripts/test-hosts.sh) beside the
//! same segment on one host, in the same run: ping latency and the throughput of one TCP
//! stream (an HTTP GET of 64 MiB from busybox httpd), container to container, same host vs
//! host 1 to host 3 through the WireGuard mesh and its VXLAN; how long the mesh of three
//! hosts takes to ensure and to remove; and `hub up` / `hub down` of a lab of 12 containers
//! on this machine's engine alone beside the same lab spread over the three hosts (4 each,
//! this machine the primary with netd). Figures only: nothing is asserted about time.
//!
//! `cargo bench -p hub-benches --bench multihost` (`HUB_BENCH_LAB_REPS`, default 2, timed
//! rounds of each lab after an untimed one that copies the image to the hosts; HUB_BIN names
//! the `hub` to run, else it is built). Needs what the multihost_real test needs
//! (scripts/setup-host.sh: hub-test/host:12, hub-test/busybox, tcpdump); labs `hubmh-bench`
//! on 10.203.11.0/24 (WireGuard on UDP 52201), `hubmh-b1` on 10.203.13.0/24 and `hubmh-b3` on
//! 10.203.14.0/24 (mesh on UDP 52203). Starts the fixture and removes it at the end.

#[path = "../../hub-cli/tests/common/hosts.rs"]
mod hosts;
#[path = "../../hub-cli/tests/common/mesh_lab.rs"]
mod mesh_lab;

use std::time::{Duration, Instant};

use hosts::Hosts;
use mesh_lab::MeshLab;

const PINGS: &str = "20";
const STREAM_MIB: u32 = 64;

/// The average round trip busybox ping reports, in ms.
fn ping_avg(lab: &MeshLab, host: usize, from: &str, to: u8) -> f64 {
    let out = lab.exec(
        host,
        from,
        &[
            "ping",
            "-q",
            "-c",
            PINGS,
            "-i",
            "0.2",
            &lab.ip(to).to_string(),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // "round-trip min/avg/max = 0.071/0.105/0.170 ms"
    text.lines()
        .find_map(|l| l.split(" = ").nth(1))
        .and_then(|v| v.split('/').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("ping from {from} to .{to}: {text}"))
}

/// Mbit/s of one HTTP GET of the big file from `.to`, timed around the exec.
fn stream_mbits(lab: &MeshLab, host: usize, from: &str, to: u8) -> f64 {
    let url = format!("http://{}/big", lab.ip(to));
    let t = Instant::now();
    let out = lab.exec(host, from, &["wget", "-q", "-O", "/dev/null", &url]);
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "wget {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    f64::from(STREAM_MIB) * 8.388_608 / secs
}

/// Containers in the `hub up` comparison.
const LAB_CONTAINERS: usize = 12;

/// A lab of [`LAB_CONTAINERS`] busybox containers: on this machine alone (`fixture` `None`),
/// or with this machine as the primary and the containers pinned in turn to the fixture's hosts.
fn lab_spec(lab: &str, subnet: &str, fixture: Option<&Hosts>) -> String {
    let mut y = format!("name: {lab}\nsubnet: {subnet}\n");
    let names: Vec<String> = fixture.map_or_else(Vec::new, |f| {
        y.push_str("mesh: {port: 52203}\n");
        y.push_str(&f.hosts_yaml());
        f.hosts.iter().map(|h| h.name.clone()).collect()
    });
    y.push_str("containers:\n");
    for i in 0..LAB_CONTAINERS {
        let pin = if names.is_empty() {
            String::new()
        } else {
            format!(", host: {}", names[i % names.len()])
        };
        y.push_str(&format!(
            "  - {{name: c{i}, image: \"{}\", cmd: [sleep, \"3600\"]{pin}}}\n",
            mesh_lab::BUSYBOX
        ));
    }
    y
}

/// `hub up` then `hub down` of `spec`: (up, down).
fn up_down(
    hub: &std::path::Path,
    state: &std::path::Path,
    spec: &std::path::Path,
    lab: &str,
) -> (f64, f64) {
    let run = |args: &[&str]| {
        let t = Instant::now();
        let out = std::process::Command::new(hub)
            .args(args)
            .env("HUB_STATE_DIR", state)
            .env("HUB_BIN", hub)
            .output()
            .expect("hub runs");
        assert!(
            out.status.success(),
            "hub {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t.elapsed().as_secs_f64()
    };
    let up = run(&["up", "-c", &spec.to_string_lossy()]);
    let down = run(&["down", "--lab", lab]);
    (up, down)
}

/// The median of `v`.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `hub up` / `hub down` of the 12-container lab on one host beside three, in turns.
fn one_host_vs_three(fixture: &Hosts) {
    let reps: usize = std::env::var("HUB_BENCH_LAB_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let hub = hub_benches::hub_bin();
    let dir = tempfile::tempdir().expect("a folder");
    let one = dir.path().join("one.yaml");
    let three = dir.path().join("three.yaml");
    std::fs::write(&one, lab_spec("hubmh-b1", "10.203.13.0/24", None)).expect("spec");
    std::fs::write(
        &three,
        lab_spec("hubmh-b3", "10.203.14.0/24", Some(fixture)),
    )
    .expect("spec");
    // Untimed: the image reaches the hosts, netd's image is built.
    up_down(&hub, dir.path(), &one, "hubmh-b1");
    up_down(&hub, dir.path(), &three, "hubmh-b3");
    let (mut ones, mut threes) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        ones.push(up_down(&hub, dir.path(), &one, "hubmh-b1"));
        threes.push(up_down(&hub, dir.path(), &three, "hubmh-b3"));
    }
    let col = |v: &[(f64, f64)], up: bool| {
        median(v.iter().map(|(u, d)| if up { *u } else { *d }).collect())
    };
    println!("multihost: hub up / hub down of {LAB_CONTAINERS} containers, median of {reps}");
    println!(
        "  one host (this machine)                  up {:>6.2} s   down {:>6.2} s",
        col(&ones, true),
        col(&ones, false)
    );
    println!(
        "  three hosts (4 each, mesh, netd here)    up {:>6.2} s   down {:>6.2} s",
        col(&threes, true),
        col(&threes, false)
    );
}

fn main() {
    let fixture = Hosts::up(3);
    one_host_vs_three(&fixture);
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let t = Instant::now();
    let lab = rt.block_on(MeshLab::up(&fixture, "hubmh-bench", 11, 52201));
    let up = t.elapsed();
    let t = Instant::now();
    rt.block_on(hub_mesh::ensure(&lab.spec, &hub_wg::OsKeyGen, &lab.local))
        .expect("ensure again");
    let again = t.elapsed();
    let big = format!("dd if=/dev/zero of=/www/big bs=1048576 count={STREAM_MIB} 2>/dev/null");
    lab.run(
        0,
        "hubmh-b-near",
        20,
        &["httpd", "-f", "-p", "80", "-h", "/www"],
    );
    lab.run(0, "hubmh-b-client", 21, &["sleep", "900"]);
    lab.run(
        2,
        "hubmh-b-far",
        30,
        &["httpd", "-f", "-p", "80", "-h", "/www"],
    );
    lab.exec(0, "hubmh-b-near", &["sh", "-c", &big]);
    lab.exec(2, "hubmh-b-far", &["sh", "-c", &big]);
    // One warm-up round each (ARP, WireGuard handshakes).
    ping_avg(&lab, 0, "hubmh-b-client", 20);
    ping_avg(&lab, 0, "hubmh-b-client", 30);
    let near_ping = ping_avg(&lab, 0, "hubmh-b-client", 20);
    let far_ping = ping_avg(&lab, 0, "hubmh-b-client", 30);
    let near_tcp = stream_mbits(&lab, 0, "hubmh-b-client", 20);
    let far_tcp = stream_mbits(&lab, 0, "hubmh-b-client", 30);
    let t = Instant::now();
    rt.block_on(lab.down());
    let down: Duration = t.elapsed();
    fixture.down();
    println!(
        "multihost: mesh of 3 hosts (wireguard-go, lab MTU {})",
        lab.info.lab_mtu
    );
    println!(
        "  ensure (networks, image copies, agents)  {:>8.2} s",
        up.as_secs_f64()
    );
    println!(
        "  ensure again, unchanged                  {:>8.3} s",
        again.as_secs_f64()
    );
    println!(
        "  remove (agents, networks, containers)    {:>8.2} s",
        down.as_secs_f64()
    );
    println!("  ping avg, same host                      {near_ping:>8.3} ms");
    println!("  ping avg, host 1 -> host 3               {far_ping:>8.3} ms");
    println!("  TCP stream {STREAM_MIB} MiB, same host          {near_tcp:>8.0} Mbit/s");
    println!("  TCP stream {STREAM_MIB} MiB, host 1 -> host 3   {far_tcp:>8.0} Mbit/s");
}
