//! A lab segment over three hosts (the multi-host fixture, scripts/test-hosts.sh) beside the
//! same segment on one host, in the same run: ping latency and the throughput of one TCP
//! stream (an HTTP GET of 64 MiB from busybox httpd), container to container, same host vs
//! host 1 to host 3 through the WireGuard mesh and its VXLAN; and how long the mesh of three
//! hosts takes to ensure and to remove. Figures only: nothing is asserted about time.
//!
//! `cargo bench -p hub-benches --bench multihost`. Needs what the multihost_real test needs
//! (scripts/setup-host.sh: hub-test/host:12, hub-test/busybox, tcpdump); lab `hubmh-bench` on
//! 10.203.11.0/24, WireGuard on UDP 52201. Starts the fixture and removes it at the end.

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

fn main() {
    let fixture = Hosts::up(3);
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
