//! netd against dnsmasq (Debian's dnsmasq-base 2.90, image hub-test/dnsmasq from
//! scripts/setup/25-dnsmasq-image.sh), in the same run, on the same Docker network
//! (10.202.0.0/16, server at .2, the host at .1 on the bridge):
//!
//! - DHCP: perfdhcp (kea-admin) on the host plays unique clients (random MACs) doing the full
//!   4-way exchange (DISCOVER/OFFER/REQUEST/ACK) at a fixed offered rate; we report the
//!   exchanges per second that completed and the drops. Each run starts from an empty lease
//!   table, and rate × seconds stays below the 65k-address dynamic range. A last run has 1,000
//!   clients coming back (a small lease table, where dnsmasq does its best). perfdhcp acts as a
//!   relay (giaddr = the bridge address), so both servers answer it by unicast. dnsmasq runs
//!   with `--no-ping` (by default it pings every new address before offering it, holding the
//!   offer for up to seconds; netd does not ping) and `--quiet-dhcp`; once keeping its lease
//!   file (rewritten whole on every change, as its default) like netd keeps its own, and once
//!   with `--leasefile-ro` (no lease file: dnsmasq's best case).
//! - DNS: dnsperf on the host, a mix of A, PTR and NXDOMAIN queries for the lab domain, as
//!   fast as the server answers, for a fixed time.
//!
//! Run with `cargo bench -p hub-benches --bench netd_vs_dnsmasq`. Needs dockerd, perfdhcp,
//! dnsperf and the image hub-test/dnsmasq:latest.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use hub_docker::DockerRuntime;
use hub_docker::netd::ensure_netd;
use hub_net::AddrRange;
use hub_net::netd::{DnsRecord, NetdConfig};
use hub_runtime::{LabContext, NetworkInfo};

const LAB: &str = "t-nd-bench";
const BRIDGE: &str = "t-nd-bench";
const SUBNET: &str = "10.202.0.0/16";
const SERVER: &str = "10.202.0.2";
const DOMAIN: &str = "bench.lab";
const DNSMASQ_IMAGE: &str = "hub-test/dnsmasq:latest";
/// (offered exchanges per second, seconds, distinct clients): unique clients (random MACs
/// out of a million) hand out at most 60,000 addresses per run; the last run has 1,000
/// clients coming back again and again (a small table: the condition of dnsmasq's usual
/// figure).
const DHCP_RUNS: [(u32, u32, u32); 3] = [
    (6_000, 8, 1_000_000),
    (12_000, 5, 1_000_000),
    (6_000, 5, 1_000),
];
const DNS_SECS: u32 = 10;

fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    match Command::new(cmd).args(args).output() {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => panic!("{cmd} could not be run ({e}); run scripts/setup-host.sh"),
    }
}

fn must(cmd: &str, args: &[&str]) -> String {
    let (ok, out) = run(cmd, args);
    assert!(ok, "{cmd} {args:?} failed:\n{out}");
    out
}

fn cleanup() {
    let (_, ids) = run(
        "docker",
        &["ps", "-aq", "--filter", &format!("label=io.hub.lab={LAB}")],
    );
    for id in ids.split_whitespace() {
        run("docker", &["rm", "-f", id]);
    }
    run("docker", &["network", "rm", LAB]);
}

struct Guard;
impl Drop for Guard {
    fn drop(&mut self) {
        cleanup();
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Server {
    Netd,
    /// dnsmasq keeping its lease file, as netd does.
    Dnsmasq,
    /// dnsmasq with `--leasefile-ro`: no lease file at all, its best case for DHCP.
    DnsmasqNoLeaseFile,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Netd => "netd",
            Server::Dnsmasq => "dnsmasq",
            Server::DnsmasqNoLeaseFile => "dnsmasq --leasefile-ro",
        }
    }

    fn container(self) -> String {
        match self {
            Server::Netd => format!("{LAB}-netd"),
            Server::Dnsmasq | Server::DnsmasqNoLeaseFile => format!("{LAB}-dnsmasq"),
        }
    }
}

/// The records both servers serve.
fn records() -> Vec<(String, Ipv4Addr)> {
    (10..60u8)
        .map(|i| (format!("host{i}"), Ipv4Addr::new(10, 202, 0, i)))
        .collect()
}

fn netd_config() -> NetdConfig {
    let mut c = NetdConfig::new(
        SUBNET.parse().expect("subnet"),
        AddrRange::new(
            Ipv4Addr::new(10, 202, 1, 0),
            Ipv4Addr::new(10, 202, 255, 254),
        ),
        DOMAIN,
    );
    c.records = records()
        .into_iter()
        .map(|(name, ip)| DnsRecord { name, ip })
        .collect();
    c
}

async fn start(server: Server, docker: &DockerRuntime, ctx: &LabContext) {
    run("docker", &["rm", "-f", &server.container()]);
    match server {
        Server::Netd => {
            let _ = std::fs::remove_file(ctx.dir.join("netd").join("leases.json"));
            let hub = hub_benches::hub_bin();
            ensure_netd(docker, ctx, &netd_config(), &hub)
                .await
                .expect("netd starts");
        }
        Server::Dnsmasq | Server::DnsmasqNoLeaseFile => {
            let mut args: Vec<String> = [
                "run",
                "-d",
                "--name",
                &format!("{LAB}-dnsmasq"),
                "--network",
                LAB,
                "--ip",
                SERVER,
                "--cap-add",
                "NET_ADMIN",
                "--label",
                &format!("io.hub.lab={LAB}"),
                DNSMASQ_IMAGE,
                // --no-ping: by default dnsmasq pings each new address and holds the offer
                // for it (seconds); netd does not ping either.
                "--user=root",
                "--no-resolv",
                "--no-hosts",
                "--no-negcache",
                "--no-ping",
                // No log line per packet (netd logs them at debug level only).
                "--quiet-dhcp",
                &format!("--domain={DOMAIN}"),
                &format!("--local=/{DOMAIN}/"),
                "--dhcp-range=10.202.1.0,10.202.255.254,255.255.0.0,1h",
                "--dhcp-authoritative",
                "--dhcp-lease-max=200000",
                "--dhcp-leasefile=/tmp/leases",
                "--dhcp-option=option:router,10.202.0.1",
                &format!("--dhcp-option=option:dns-server,{SERVER}"),
                &format!("--host-record=gateway.{DOMAIN},10.202.0.1"),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            for (name, ip) in records() {
                args.push(format!("--host-record={name}.{DOMAIN},{ip}"));
            }
            if server == Server::DnsmasqNoLeaseFile {
                args.push("--leasefile-ro".into());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            must("docker", &args);
        }
    }
    // Ready when it answers DNS (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, out) = run(
            "dig",
            &[
                "+short",
                "+time=1",
                "+tries=1",
                &format!("@{SERVER}"),
                &format!("host10.{DOMAIN}"),
            ],
        );
        if out.trim() == "10.202.0.10" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not answer DNS in 30 s",
            server.name()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// perfdhcp's completed 4-way exchanges per second and drop ratio (%).
fn perfdhcp(rate: u32, secs: u32, clients: u32) -> (f64, f64, String) {
    let (_, out) = run(
        "timeout",
        &[
            &(secs + 30).to_string(),
            "perfdhcp",
            "-4",
            "-r",
            &rate.to_string(),
            "-R",
            &clients.to_string(),
            "-p",
            &secs.to_string(),
            "-l",
            BRIDGE,
            SERVER,
        ],
    );
    // Statistics for REQUEST-ACK: received packets over the run's length.
    let section = out
        .split("***Statistics for: REQUEST-ACK***")
        .nth(1)
        .unwrap_or("");
    let num = |key: &str, text: &str| -> f64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches('%').trim().parse().ok())
            .unwrap_or(f64::NAN)
    };
    let acked = num("received packets:", section);
    let disc = out
        .split("***Statistics for: DISCOVER-OFFER***")
        .nth(1)
        .unwrap_or("");
    let sent = num("sent packets:", disc);
    let drops = if sent > 0.0 {
        100.0 * (sent - acked) / sent
    } else {
        f64::NAN
    };
    (acked / f64::from(secs), drops, out)
}

/// dnsperf's queries per second and lost ratio (%).
fn dnsperf(file: &str) -> (f64, f64, String) {
    let (_, out) = run(
        "timeout",
        &[
            &(DNS_SECS + 30).to_string(),
            "dnsperf",
            "-s",
            SERVER,
            "-d",
            file,
            "-l",
            &DNS_SECS.to_string(),
            "-c",
            "8",
            "-q",
            "500",
            "-Q",
            "1000000",
        ],
    );
    let qps = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Queries per second:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN);
    let lost = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Queries lost:"))
        .and_then(|v| v.split('(').nth(1))
        .and_then(|v| v.trim_end_matches(")").trim_end_matches('%').parse().ok())
        .unwrap_or(f64::NAN);
    (qps, lost, out)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: then only check
    // that the bench builds.
    if !std::env::args().any(|a| a == "--bench") {
        println!("netd_vs_dnsmasq: run with `cargo bench` to measure");
        return;
    }
    must("docker", &["info", "--format", "{{.ServerVersion}}"]);
    must("docker", &["image", "inspect", DNSMASQ_IMAGE]);
    for tool in ["perfdhcp", "dnsperf", "dig"] {
        assert!(
            run("sh", &["-c", &format!("command -v {tool}")]).0,
            "{tool} is missing; run scripts/setup-host.sh"
        );
    }
    cleanup();
    let guard = Guard;
    let id = must(
        "docker",
        &[
            "network",
            "create",
            "--subnet",
            SUBNET,
            "--gateway",
            "10.202.0.1",
            "-o",
            &format!("com.docker.network.bridge.name={BRIDGE}"),
            "--label",
            &format!("io.hub.lab={LAB}"),
            LAB,
        ],
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = netd_config();
    let ctx = LabContext {
        name: LAB.into(),
        dir: dir.path().to_path_buf(),
        network: NetworkInfo {
            id: id.trim().to_string(),
            name: LAB.into(),
            bridge: BRIDGE.into(),
            subnet: cfg.subnet,
            gateway: cfg.router,
            owned: true,
        },
        dns: vec![cfg.server_ip],
        domain: DOMAIN.into(),
        segments: Vec::new(),
    };
    let queries = dir.path().join("queries.txt");
    let mut q = String::new();
    for (name, ip) in records() {
        let o = ip.octets();
        q.push_str(&format!(
            "{name}.{DOMAIN} A\n{}.{}.{}.{}.in-addr.arpa PTR\nmissing-{name}.{DOMAIN} A\n",
            o[3], o[2], o[1], o[0]
        ));
    }
    std::fs::write(&queries, q).expect("query file");
    let queries = queries.to_string_lossy().into_owned();

    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let docker = rt.block_on(DockerRuntime::connect()).expect("Docker");
    let mut rows = Vec::new();
    // Runs whose tool output held no numbers: the bench then fails rather than print NaN.
    let mut measured_nothing = Vec::new();
    for server in [Server::Netd, Server::Dnsmasq, Server::DnsmasqNoLeaseFile] {
        let mut dhcp = Vec::new();
        for (rate, secs, clients) in DHCP_RUNS {
            rt.block_on(start(server, &docker, &ctx));
            let (xps, drops, out) = perfdhcp(rate, secs, clients);
            if xps.is_nan() || drops.is_nan() {
                measured_nothing.push(format!(
                    "{} perfdhcp {rate}/s: no statistics in its output:\n{out}",
                    server.name()
                ));
            }
            dhcp.push((rate, xps, drops));
        }
        // The lease file does not matter to DNS: dnsmasq's DNS is measured once.
        let dns = if server == Server::DnsmasqNoLeaseFile {
            None
        } else {
            let (qps, lost, out) = dnsperf(&queries);
            if qps.is_nan() || lost.is_nan() {
                measured_nothing.push(format!(
                    "{} dnsperf: no statistics in its output:\n{out}",
                    server.name()
                ));
            }
            Some((qps, lost))
        };
        rows.push((server.name(), dhcp, dns));
        run("docker", &["rm", "-f", &server.container()]);
    }
    println!(
        "\nnetd vs dnsmasq 2.90 on one Docker bridge ({SUBNET}), perfdhcp and dnsperf on the host"
    );
    let title = |(rate, secs, clients): (u32, u32, u32)| {
        let who = if clients >= 1_000_000 {
            "unique".to_string()
        } else {
            format!("{clients} returning")
        };
        format!("DHCP {rate}/s, {secs} s, {who}")
    };
    println!(
        "{:<24} {:>30} {:>30} {:>30} {:>24}",
        "server",
        title(DHCP_RUNS[0]),
        title(DHCP_RUNS[1]),
        title(DHCP_RUNS[2]),
        format!("DNS, {DNS_SECS} s")
    );
    for (name, dhcp, dns) in rows {
        let cell = |(_, x, d): (u32, f64, f64)| format!("{x:.0} exch/s, {d:.1}% dropped");
        let dns = dns.map_or("-".to_string(), |(q, l)| {
            format!("{q:.0} q/s, {l:.2}% lost")
        });
        println!(
            "{:<24} {:>30} {:>30} {:>30} {:>24}",
            name,
            cell(dhcp[0]),
            cell(dhcp[1]),
            cell(dhcp[2]),
            dns
        );
    }
    if !measured_nothing.is_empty() {
        for m in &measured_nothing {
            eprintln!("{m}");
        }
        eprintln!(
            "netd_vs_dnsmasq: {} run(s) measured nothing (NaN above); failing",
            measured_nothing.len()
        );
        // `exit` runs no destructors: clean up first, or the network stays behind.
        drop(guard);
        std::process::exit(1);
    }
}
