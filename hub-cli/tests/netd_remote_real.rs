//! netd on another machine's engine (a remote primary host), on the multi-host fixture
//! (scripts/test-hosts.sh): netd runs on fixture host 1, reached over TCP with TLS only, its
//! folder in the lab's volume there (no bind mount: that would name a folder of the host),
//! its config copied in and its leases read back through Docker's archive API.
//!
//! One fixture host for the binary: `main` starts it (or reuses it, under the fixture's lock),
//! runs the tests in order and removes the fixture at the end, whatever the tests did (hence
//! `harness = false`). `cargo test -p hub-cli --test netd_remote_real [NAME...]` runs the
//! tests whose name contains one of the NAMEs.

mod common;
#[path = "common/hosts.rs"]
mod hosts;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hosts::{Hosts, TestHost};
use hub_docker::DockerRuntime;
use hub_docker::netd::{
    NetdStorage, ensure_netd_image, ensure_netd_with, netd_image_ref, netd_volume_name,
    read_leases_from, read_netd_file_from, read_netd_stats_from, remove_netd,
};
use hub_net::AddrRange;
use hub_net::netd::{ClientRouter, DnsRecord, MacAddr, NetdConfig, Reservation};
use hub_runtime::{LabContext, NetworkRuntime, NetworkSpec};
use tokio::runtime::Runtime;

type Test = hosts::HostTest;

/// The lab of this binary: its name, /24 (10.231.7.0/24 exists only in host 1's engine) and
/// domain.
const LAB: &str = "netdr";
const PREFIX: &str = "10.231.7";
const DOMAIN: &str = "netdr.lab";
/// The clients' image (built by scripts/setup-host.sh here, copied to the host).
const BUSYBOX: &str = "hub-test/busybox:latest";
/// The reserved client's MAC and address (`.30`, named `resv`).
const RESERVED_MAC: &str = "02:42:0a:e7:07:1e";

fn main() {
    let tests: [(&str, Test); 1] = [(
        "netd_on_a_remote_host_serves_from_its_volume",
        netd_on_a_remote_host_serves_from_its_volume,
    )];
    hosts::run_tests(1, &tests);
}

fn ip(last: u8) -> Ipv4Addr {
    format!("{PREFIX}.{last}").parse().expect("an address")
}

fn hub_bin() -> PathBuf {
    PathBuf::from(common::HUB)
}

/// Everything of the lab on the host, removed when dropped (passed or failed): its
/// containers and volumes (by the lab's label) and its network. Nothing of another lab.
struct Cleanup<'a>(&'a TestHost);

impl Cleanup<'_> {
    fn run(&self) {
        let h = self.0;
        let label = format!("label=io.hub.lab={LAB}");
        let ids = h.docker_ok(&["ps", "-aq", "--filter", &label]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-fv"];
            args.extend(ids);
            h.docker_cli(&args);
        }
        let vols = h.docker_ok(&["volume", "ls", "-q", "--filter", &label]);
        for v in vols.split_whitespace() {
            h.docker_cli(&["volume", "rm", v]);
        }
        h.docker_cli(&["network", "rm", &format!("{LAB}-net")]);
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.run();
    }
}

/// Whether netd answers `name` with `want`, asked by busybox `nslookup` in `container`.
fn resolves(h: &TestHost, container: &str, name: &str, want: Ipv4Addr) -> bool {
    let out = h.exec(container, &["nslookup", name, &ip(2).to_string()]);
    // busybox prints the server's address too ("Address: 10.231.7.2:53"): the answer is the
    // address after the name.
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success()
        && text
            .split_once(name)
            .is_some_and(|(_, answer)| answer.contains(&want.to_string()))
}

/// `docker inspect -f FORMAT NAME` on the host, trimmed.
fn inspect(h: &TestHost, name: &str, format: &str) -> String {
    h.docker_ok(&["inspect", "-f", format, name])
        .trim()
        .to_string()
}

/// Issue 11's netd on a remote primary, through hub-docker on host 1's TLS endpoint: the lab
/// network is made there; netd comes up with a reservation and a DNS record (its image
/// imported into that engine), its folder the lab's volume `netdr-netd.state` and its config
/// the local record's copy; busybox udhcpc clients on that host get the reserved and a
/// dynamic address, which are then read back through the archive API with netd's counts; two
/// config changes of one length (a new record, then its new address) are answered without
/// netd being replaced; removal leaves no container and no volume of netd, and keeps the
/// user's volume; a lab without netd is an error naming the lab and the host.
fn netd_on_a_remote_host_serves_from_its_volume(fixture: &Hosts, rt: &Runtime) {
    let h = &fixture.hosts[0];
    let cleanup = Cleanup(h);
    cleanup.run();
    let docker = rt.block_on(h.runtime());
    let local = rt
        .block_on(DockerRuntime::connect())
        .expect("this machine's Docker Engine");
    rt.block_on(docker.ensure_image_from(BUSYBOX, &[&local]))
        .unwrap_or_else(|e| panic!("host {}: copying {BUSYBOX}: {e}", h.name));
    let storage = NetdStorage::Volume {
        host: h.name.clone(),
    };
    let network = rt
        .block_on(docker.ensure_network(&NetworkSpec {
            lab: LAB.into(),
            name: format!("{LAB}-net"),
            subnet: format!("{PREFIX}.0/24").parse().expect("a subnet"),
            gateway: ip(1),
            attach_to: None,
            labels: Default::default(),
            mtu: None,
        }))
        .unwrap_or_else(|e| panic!("the lab network on {}: {e}", h.name));
    let dir = tempfile::tempdir().expect("a lab directory");
    let ctx = LabContext {
        name: LAB.into(),
        dir: dir.path().to_path_buf(),
        network,
        dns: vec![ip(2)],
        domain: DOMAIN.into(),
        segments: Vec::new(),
    };
    let mut config = NetdConfig::new(
        format!("{PREFIX}.0/24").parse().expect("a subnet"),
        AddrRange::new(ip(200), ip(250)),
        DOMAIN,
    );
    config.records = vec![DnsRecord {
        name: "web".into(),
        ip: ip(40),
    }];
    let mac: MacAddr = RESERVED_MAC.parse().expect("a MAC");
    config.reservations = vec![Reservation {
        mac,
        ip: ip(30),
        hostname: Some("resv".into()),
        router: ClientRouter::Segment,
    }];

    let ensure = |config: &NetdConfig| {
        rt.block_on(ensure_netd_with(
            &docker,
            &ctx,
            config,
            &hub_bin(),
            &[],
            &storage,
        ))
        .unwrap_or_else(|e| panic!("netd on {}: {e}", h.name))
    };

    // Up: the image is imported into the host's engine; the folder is the lab's volume.
    let t = Instant::now();
    let info = ensure(&config);
    println!(
        "netd up on {} in {:.1?} (image import included)",
        h.name,
        t.elapsed()
    );
    let volume = netd_volume_name(LAB);
    assert_eq!(volume, "netdr-netd.state");
    assert_eq!(info.volume.as_deref(), Some(volume.as_str()));
    let netd = format!("{LAB}-netd");
    assert_eq!(
        inspect(
            h,
            &netd,
            "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}};{{end}}"
        ),
        format!("volume {volume} /netd;"),
        "netd's only mount is its volume"
    );
    let reference = netd_image_ref(&hub_bin()).expect("the image reference");
    assert_eq!(inspect(h, &netd, "{{.Config.Image}}"), reference);
    let t = Instant::now();
    assert_eq!(
        rt.block_on(ensure_netd_image(&docker, &hub_bin()))
            .expect("the image again"),
        reference
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the image is not imported twice ({:.1?})",
        t.elapsed()
    );
    let label = format!("label=io.hub.lab={LAB}");
    assert_eq!(
        h.docker_ok(&["volume", "ls", "-q", "--filter", &label])
            .trim(),
        volume,
        "the volume carries the lab's label"
    );
    // The local record is what netd got.
    let record_is_netds = || {
        let record = std::fs::read(dir.path().join("netd/netd.json")).expect("the local record");
        let copied = rt
            .block_on(read_netd_file_from(&docker, LAB, &h.name, "netd.json"))
            .expect("reading netd.json back");
        assert_eq!(copied.as_deref(), Some(record.as_slice()));
    };
    record_is_netds();
    assert_eq!(
        rt.block_on(read_netd_file_from(
            &docker,
            LAB,
            &h.name,
            "leases.none.json"
        ))
        .expect("reading a file netd never wrote"),
        None
    );

    // Clients on the host: the reserved one and a dynamic one.
    // NET_ADMIN: the reserved client takes its MAC itself (the host's engine, API 1.41, has no
    // per-network MAC for the CLI here).
    let lab_label = format!("io.hub.lab={LAB}");
    let net = format!("{LAB}-net");
    for name in ["netdr-resv", "netdr-dyn"] {
        h.docker_ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--label",
            &lab_label,
            "--network",
            &net,
            "--cap-add",
            "NET_ADMIN",
            BUSYBOX,
            "sleep",
            "600",
        ]);
    }
    let set_mac = format!(
        "ip link set eth0 down && ip link set eth0 address {RESERVED_MAC} && ip link set eth0 up"
    );
    let out = h.exec("netdr-resv", &["sh", "-c", &set_mac]);
    assert!(out.status.success(), "{}", common::show(&out));
    common::wait_for(
        "netd answers DNS on host 1",
        Duration::from_secs(30),
        || resolves(h, "netdr-resv", &format!("web.{DOMAIN}"), ip(40)),
    );
    let resv = h.udhcpc("netdr-resv");
    assert_eq!(resv["ip"], ip(30).to_string(), "{resv:?}");
    assert_eq!(resv["router"], ip(1).to_string(), "{resv:?}");
    assert_eq!(resv["dns"], ip(2).to_string(), "{resv:?}");
    assert_eq!(resv["domain"], DOMAIN, "{resv:?}");
    let dynamic: Ipv4Addr = h.udhcpc("netdr-dyn")["ip"].parse().expect("an address");
    assert!(config.dhcp_range.contains(dynamic), "{dynamic}");

    // The leases and counts, read back through the archive API.
    let t = Instant::now();
    let mut leases = Vec::new();
    common::wait_for(
        "both leases in netd's lease file",
        Duration::from_secs(10),
        || {
            leases = rt
                .block_on(read_leases_from(&docker, LAB, &h.name))
                .expect("reading the leases");
            leases.len() == 2
        },
    );
    println!("leases read back after {:.1?}", t.elapsed());
    assert!(
        leases
            .iter()
            .any(|l| l.mac == mac && l.ip == ip(30) && l.hostname.as_deref() == Some("resv")),
        "{leases:?}"
    );
    assert!(leases.iter().any(|l| l.ip == dynamic), "{leases:?}");
    common::wait_for("netd's counts", Duration::from_secs(10), || {
        let s = rt
            .block_on(read_netd_stats_from(&docker, LAB, &h.name))
            .expect("reading the counts");
        // Two DISCOVERs and two REQUESTs at least; the lookups above.
        s.dhcp_messages >= 4 && s.dns_udp_queries >= 1
    });

    // Config changes reach the running netd: a new record, then its new address (a config of
    // the same length, written within moments of the first).
    let (id, started) = (
        inspect(h, &netd, "{{.Id}}"),
        inspect(h, &netd, "{{.State.StartedAt}}"),
    );
    let late = format!("late.{DOMAIN}");
    assert!(!resolves(h, "netdr-resv", &late, ip(41)), "no record yet");
    for last in [41, 42] {
        config.records = vec![
            DnsRecord {
                name: "web".into(),
                ip: ip(40),
            },
            DnsRecord {
                name: "late".into(),
                ip: ip(last),
            },
        ];
        let again = ensure(&config);
        assert_eq!(again.handle.id, id, "netd was not replaced");
    }
    let t = Instant::now();
    common::wait_for(
        "netd answers the changed record",
        Duration::from_secs(10),
        || resolves(h, "netdr-resv", &late, ip(42)),
    );
    println!("the changed record was answered after {:.1?}", t.elapsed());
    assert_eq!(inspect(h, &netd, "{{.Id}}"), id);
    assert_eq!(inspect(h, &netd, "{{.State.StartedAt}}"), started);
    assert_eq!(inspect(h, &netd, "{{.RestartCount}}"), "0");
    record_is_netds();
    // The copy's mtime has nanoseconds (the PAX record), so two copies of one length within a
    // second still look new to netd.
    let mounted = format!("{volume}:/v:ro");
    let mtime = h.docker_ok(&[
        "run",
        "--rm",
        "--label",
        &lab_label,
        "-v",
        &mounted,
        BUSYBOX,
        "stat",
        "-c",
        "%y",
        "/v/netd.json",
    ]);
    let fraction = mtime
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.split_once('.'))
        .map(|(_, f)| f.to_string())
        .unwrap_or_default();
    assert!(
        fraction.len() == 9 && fraction != "000000000",
        "netd.json's mtime: {mtime}"
    );

    // Removal: netd's container and volume go, the user's volume stays.
    h.docker_ok(&["rm", "-f", "netdr-resv", "netdr-dyn"]);
    h.docker_ok(&["volume", "create", "--label", &lab_label, "netdr-data"]);
    assert!(
        rt.block_on(remove_netd(&docker, LAB, &storage))
            .expect("removing netd"),
        "there was a netd"
    );
    assert_eq!(h.docker_ok(&["ps", "-aq", "--filter", &label]).trim(), "");
    assert_eq!(
        h.docker_ok(&["volume", "ls", "-q", "--filter", &label])
            .trim(),
        "netdr-data",
        "only the user's volume is left"
    );
    assert!(
        !rt.block_on(remove_netd(&docker, LAB, &storage))
            .expect("removing netd again"),
        "a second removal finds nothing"
    );
    let err = rt
        .block_on(read_leases_from(&docker, LAB, &h.name))
        .expect_err("a lab without netd")
        .to_string();
    assert!(err.contains(LAB) && err.contains(&h.name), "{err}");
    h.docker_ok(&["volume", "rm", "netdr-data"]);
    rt.block_on(docker.remove_network(LAB))
        .expect("removing the lab network");
    assert_eq!(
        h.docker_ok(&["network", "ls", "-q", "--filter", &label])
            .trim(),
        "",
        "the lab network is gone"
    );
    drop(cleanup);
}
