//! netd against clients nobody here wrote: busybox `udhcpc`, ISC `dhclient`, `dig`, glibc's
//! `getent`, and perfdhcp for a DISCOVER flood. netd itself runs as the hub runs it: an image
//! built by `hub_docker::netd` from this package's `hub` binary, at `.2` on a real Docker
//! network. Needs dockerd and the images of scripts/setup/20-images.sh.
//!
//! Every test has its own lab name (`t-nd-*`) and a /24 inside 10.202.0.0/16, and removes
//! what it made when it ends, passed or failed.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use hub_docker::DockerRuntime;
use hub_docker::netd::{
    ensure_netd, ensure_netd_image, netd_image_ref, read_leases, update_netd_config,
};
use hub_net::AddrRange;
use hub_net::netd::{DnsRecord, MacAddr, NetdConfig, Reservation};
use hub_runtime::{LabContext, NetworkInfo};

const BUSYBOX: &str = "hub-test/busybox:latest";
const DEBIAN: &str = "hub-test/debian:latest";

/// Runs a command; returns (success, stdout, stderr).
fn run(cmd: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} could not be run: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn docker(args: &[&str]) -> (bool, String, String) {
    run("docker", args)
}

/// A lab network with netd on it; everything is removed on drop.
struct TestLab {
    name: String,
    net: String,
    prefix: String,
    dir: tempfile::TempDir,
    ctx: LabContext,
    config: NetdConfig,
    docker: DockerRuntime,
}

impl TestLab {
    /// Network `name` on 10.202.`third`.0/24, netd at .2 with the dynamic range
    /// .200-.`range_end`, records and reservations as given.
    async fn up(
        name: &str,
        third: u8,
        range_end: u8,
        records: &[(&str, u8)],
        reservations: &[(&str, u8, &str)],
    ) -> TestLab {
        let (ok, _, err) = docker(&["info", "--format", "{{.ServerVersion}}"]);
        assert!(
            ok,
            "Docker is not running (start dockerd, e.g. with scripts/setup-host.sh): {err}"
        );
        for image in [BUSYBOX, DEBIAN] {
            let (ok, _, _) = docker(&["image", "inspect", image]);
            assert!(
                ok,
                "image {image} is missing: run scripts/setup/20-images.sh"
            );
        }
        cleanup(name);
        let prefix = format!("10.202.{third}");
        let subnet = format!("{prefix}.0/24");
        let gateway = format!("{prefix}.1");
        let (ok, out, err) = docker(&[
            "network",
            "create",
            "--subnet",
            &subnet,
            "--gateway",
            &gateway,
            "--label",
            &format!("io.hub.lab={name}"),
            name,
        ]);
        assert!(ok, "network {name}: {err}");
        let id = out.trim().to_string();
        let dir = tempfile::tempdir().expect("temp dir");
        let domain = format!("{name}.lab");
        let mut config = NetdConfig::new(
            subnet.parse().expect("subnet"),
            AddrRange::new(ip(&prefix, 200), ip(&prefix, range_end)),
            &domain,
        );
        config.records = records
            .iter()
            .map(|(n, o)| DnsRecord {
                name: n.to_string(),
                ip: ip(&prefix, *o),
            })
            .collect();
        config.reservations = reservations
            .iter()
            .map(|(mac, o, host)| Reservation {
                mac: mac.parse().expect("mac"),
                ip: ip(&prefix, *o),
                hostname: Some(host.to_string()),
                router: hub_net::netd::ClientRouter::Segment,
            })
            .collect();
        let ctx = LabContext {
            name: name.to_string(),
            dir: dir.path().to_path_buf(),
            network: NetworkInfo {
                bridge: format!("br-{}", &id[..12]),
                id,
                name: name.to_string(),
                subnet: config.subnet,
                gateway: config.router,
                owned: true,
            },
            dns: vec![config.server_ip],
            domain,
            segments: Vec::new(),
        };
        let docker = DockerRuntime::connect().await.expect("connect to Docker");
        let lab = TestLab {
            name: name.to_string(),
            net: name.to_string(),
            prefix,
            dir,
            ctx,
            config,
            docker,
        };
        ensure_netd(&lab.docker, &lab.ctx, &lab.config, &hub_bin())
            .await
            .expect("ensure_netd");
        lab.wait_dns();
        lab
    }

    fn ip(&self, last: u8) -> Ipv4Addr {
        ip(&self.prefix, last)
    }

    fn netd_ip(&self) -> String {
        self.config.server_ip.to_string()
    }

    fn fqdn(&self, n: &str) -> String {
        format!("{n}.{}", self.ctx.domain)
    }

    /// Waits (bounded) until netd answers DNS.
    fn wait_dns(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let target = format!("@{}", self.netd_ip());
        let name = self.fqdn("netd");
        loop {
            let (_, out, _) = run("dig", &["+short", "+time=1", "+tries=1", &target, &name]);
            if out.trim() == self.netd_ip() {
                return;
            }
            let (_, logs, logerr) = docker(&["logs", &format!("{}-netd", self.name)]);
            assert!(
                Instant::now() < deadline,
                "netd of {} did not answer DNS in 30 s; logs:\n{logs}{logerr}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Runs `script` in a client container on the lab network (NET_ADMIN, netd as resolver).
    fn client(&self, image: &str, tag: &str, script: &str) -> String {
        let name = format!("{}-{tag}", self.name);
        let (ok, out, err) = run(
            "timeout",
            &[
                "120",
                "docker",
                "run",
                "--rm",
                "--name",
                &name,
                "--network",
                &self.net,
                "--cap-add",
                "NET_ADMIN",
                "--dns",
                &self.netd_ip(),
                "--label",
                &format!("io.hub.lab={}", self.name),
                image,
                "sh",
                "-c",
                script,
            ],
        );
        assert!(ok, "client {name} failed:\n{out}\n{err}");
        out
    }

    fn dig(&self, args: &[&str]) -> String {
        let target = format!("@{}", self.netd_ip());
        let mut all = vec!["+time=2", "+tries=2", target.as_str()];
        all.extend_from_slice(args);
        let (ok, out, err) = run("dig", &all);
        assert!(ok, "dig {args:?}: {out}{err}");
        out
    }
}

impl TestLab {
    /// Starts `image` with `args` as `NAME-TAG` at `.last` of the lab network (detached).
    fn run_at(&self, tag: &str, last: u8, image: &str, args: &[&str]) {
        let name = format!("{}-{tag}", self.name);
        let ip = self.ip(last).to_string();
        let label = format!("io.hub.lab={}", self.name);
        let mut all = vec![
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            &self.net,
            "--ip",
            &ip,
            "--label",
            &label,
            image,
        ];
        all.extend_from_slice(args);
        let (ok, _, err) = docker(&all);
        assert!(
            ok,
            "{name} ({image}; for hub-test images run scripts/setup/): {err}"
        );
    }

    /// Debian's dnsmasq at `.last`, answering every name under `outside.test` with
    /// 192.0.2.77: an upstream resolver.
    fn upstream_at(&self, last: u8) {
        self.run_at(
            "upstream",
            last,
            "hub-test/dnsmasq:latest",
            &[
                "--user=root",
                "--no-resolv",
                "--no-hosts",
                "--address=/outside.test/192.0.2.77",
            ],
        );
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        cleanup(&self.name);
        let _ = &self.dir;
    }
}

/// Removes a lab's containers and network (found by label and name); harmless when absent.
fn cleanup(name: &str) {
    let (_, ids, _) = docker(&["ps", "-aq", "--filter", &format!("label=io.hub.lab={name}")]);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids);
        docker(&args);
    }
    docker(&["network", "rm", name]);
}

fn ip(prefix: &str, last: u8) -> Ipv4Addr {
    format!("{prefix}.{last}").parse().expect("address")
}

fn hub_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hub"))
}

/// The value of `key=` in udhcpc's script output line.
fn field<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with("BOUND"))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{key}=")))
        })
        .unwrap_or_else(|| panic!("no {key}= in udhcpc output:\n{out}"))
}

/// A udhcpc script that prints what the server handed out.
const UDHCPC_SCRIPT: &str = r#"printf '#!/bin/sh\n[ "$1" = bound ] && echo "BOUND ip=$ip router=$router dns=$dns domain=$domain mask=$mask lease=$lease"\nexit 0\n' > /tmp/s; chmod +x /tmp/s"#;

/// Shell commands that give eth0 the MAC `mac` (nothing for `None`).
fn set_mac(mac: Option<&str>) -> String {
    mac.map(|m| {
        format!("ip link set eth0 down; ip link set eth0 address {m}; ip link set eth0 up; ")
    })
    .unwrap_or_default()
}

fn udhcpc(mac: Option<&str>) -> String {
    udhcpc_args(mac, "-t 5 -T 1")
}

/// udhcpc with the MAC `mac` and the further arguments `args`, printing what it got.
fn udhcpc_args(mac: Option<&str>, args: &str) -> String {
    let set_mac = set_mac(mac);
    format!(
        "{UDHCPC_SCRIPT}; ip addr flush dev eth0; {set_mac}udhcpc -i eth0 -n -q -f -s /tmp/s {args}"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn udhcpc_gets_a_dynamic_address_with_router_and_dns() {
    let lab = TestLab::up("t-nd-udhcpc", 1, 254, &[], &[]).await;
    let out = lab.client(BUSYBOX, "c1", &udhcpc(None));
    let got: Ipv4Addr = field(&out, "ip").parse().expect("ip");
    assert!(
        lab.config.dhcp_range.contains(got),
        "{got} is outside the dynamic range:\n{out}"
    );
    assert_eq!(field(&out, "router"), lab.ip(1).to_string());
    assert_eq!(field(&out, "dns"), lab.netd_ip());
    assert_eq!(field(&out, "domain"), lab.ctx.domain);
    assert_eq!(field(&out, "mask"), "24");
    assert_eq!(field(&out, "lease"), "3600");
    // The hub can read who got what.
    let leases = read_leases(lab.dir.path()).expect("leases");
    assert!(leases.iter().any(|l| l.ip == got), "{leases:?}");
    // The image is tagged by the binary's hash and not rebuilt for the same binary; the
    // container carries the lab's labels with role netd.
    let reference = netd_image_ref(&hub_bin()).expect("hash");
    let image_id = |r: &str| docker(&["image", "inspect", "-f", "{{.Id}}", r]).1;
    let before = image_id(&reference);
    assert_eq!(
        ensure_netd_image(&lab.docker, &hub_bin())
            .await
            .expect("image"),
        reference
    );
    assert_eq!(image_id(&reference), before);
    let (_, labels, _) = docker(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"io.hub.lab\"}} {{index .Config.Labels \"io.hub.kind\"}} {{.Config.Image}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.CapAdd}}",
        "t-nd-udhcpc-netd",
    ]);
    assert_eq!(
        labels.trim(),
        format!("t-nd-udhcpc netd {reference} unless-stopped [NET_ADMIN NET_RAW]")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dhclient_gets_dynamic_and_reserved_addresses() {
    let reserved_mac = "02:42:0a:ca:02:1e";
    let lab = TestLab::up("t-nd-dhclient", 2, 254, &[], &[(reserved_mac, 30, "resv")]).await;
    let script = |mac: Option<&str>| {
        let set_mac = set_mac(mac);
        format!(
            "ip addr flush dev eth0; {set_mac}timeout 40 dhclient -1 -v eth0 2>&1; \
             echo ADDR $(ip -4 -o addr show eth0 | awk '{{print $4}}'); \
             echo ROUTE $(ip route show default); cat /etc/resolv.conf"
        )
    };
    let out = lab.client(DEBIAN, "dyn", &script(None));
    let addr = out
        .lines()
        .find_map(|l| l.strip_prefix("ADDR "))
        .expect("ADDR line");
    let (got, mask) = addr
        .split_once('/')
        .unwrap_or_else(|| panic!("no address:\n{out}"));
    let got: Ipv4Addr = got.parse().expect("ip");
    assert!(lab.config.dhcp_range.contains(got), "{got}:\n{out}");
    assert_eq!(mask, "24");
    assert!(
        out.contains(&format!("ROUTE default via {}", lab.ip(1))),
        "{out}"
    );
    assert!(
        out.contains(&format!("nameserver {}", lab.netd_ip())),
        "{out}"
    );
    assert!(out.contains(&format!("search {}", lab.ctx.domain)), "{out}");

    let out = lab.client(DEBIAN, "resv", &script(Some(reserved_mac)));
    assert!(
        out.contains(&format!("ADDR {}/24", lab.ip(30))),
        "reserved client:\n{out}"
    );
    let mac: MacAddr = reserved_mac.parse().expect("mac");
    let leases = read_leases(lab.dir.path()).expect("leases");
    assert!(
        leases.iter().any(|l| l.mac == mac && l.ip == lab.ip(30)),
        "{leases:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dig_and_getent_resolve_lab_names_forward_and_reverse() {
    let lab = TestLab::up("t-nd-dns", 3, 254, &[("alpha", 10), ("beta", 11)], &[]).await;
    let net = lab.net.clone();
    // Two containers at their record's address, resolving through Docker's embedded DNS,
    // which forwards to netd (their DNS server).
    let start = |tag: &str, last: u8| {
        let name = format!("{}-{tag}", lab.name);
        let (ok, _, err) = docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            &net,
            "--ip",
            &lab.ip(last).to_string(),
            "--dns",
            &lab.netd_ip(),
            "--label",
            &format!("io.hub.lab={}", lab.name),
            DEBIAN,
            "sleep",
            "300",
        ]);
        assert!(ok, "{name}: {err}");
        name
    };
    let alpha = start("alpha", 10);
    let _beta = start("beta", 11);
    let exec = |c: &str, cmd: &str| {
        let (_, out, err) = docker(&["exec", c, "sh", "-c", cmd]);
        format!("{out}{err}")
    };
    let out = exec(&alpha, &format!("getent hosts {}", lab.fqdn("beta")));
    assert!(out.contains(&lab.ip(11).to_string()), "getent beta: {out}");
    let out = exec(&alpha, &format!("getent hosts {}", lab.fqdn("gateway")));
    assert!(
        out.contains(&lab.ip(1).to_string()),
        "getent gateway: {out}"
    );
    let out = exec(&alpha, &format!("getent hosts {}", lab.fqdn("nobody")));
    assert!(
        !out.contains(&lab.prefix),
        "getent of an unknown name: {out}"
    );
    // dig inside a container, straight at netd.
    let out = exec(
        &alpha,
        &format!("dig +short @{} {}", lab.netd_ip(), lab.fqdn("beta")),
    );
    assert_eq!(out.trim(), lab.ip(11).to_string());
    let out = exec(
        &alpha,
        &format!("dig +short @{} -x {}", lab.netd_ip(), lab.ip(11)),
    );
    assert_eq!(out.trim(), format!("{}.", lab.fqdn("beta")));
    let out = exec(
        &alpha,
        &format!("dig +short @{} -x {}", lab.netd_ip(), lab.ip(1)),
    );
    assert_eq!(out.trim(), format!("{}.", lab.fqdn("gateway")));
    // Status codes, over UDP and TCP.
    let out = lab.dig(&[&lab.fqdn("nobody")]);
    assert!(
        out.contains("status: NXDOMAIN") && out.contains(" aa"),
        "{out}"
    );
    let out = lab.dig(&["example.com"]);
    assert!(out.contains("status: REFUSED"), "{out}");
    let out = lab.dig(&["+tcp", "+short", &lab.fqdn("alpha")]);
    assert_eq!(out.trim(), lab.ip(10).to_string());
    let out = lab.dig(&["+tcp", &lab.fqdn("nobody")]);
    assert!(out.contains("status: NXDOMAIN"), "{out}");

    // Records follow the config: a new name appears within a few seconds.
    let mut cfg = lab.config.clone();
    cfg.records.push(DnsRecord {
        name: "gamma".into(),
        ip: lab.ip(12),
    });
    update_netd_config(lab.dir.path(), &cfg).expect("update config");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = lab.dig(&["+short", &lab.fqdn("gamma")]);
        if out.trim() == lab.ip(12).to_string() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "gamma did not appear after a config update: {out}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = exec(&alpha, &format!("getent hosts {}", lab.fqdn("gamma")));
    assert!(out.contains(&lab.ip(12).to_string()), "getent gamma: {out}");

    // SIGHUP reloads (and does not stop netd, which runs as PID 1).
    let netd = format!("{}-netd", lab.name);
    let (ok, _, err) = docker(&["kill", "-s", "HUP", &netd]);
    assert!(ok, "SIGHUP: {err}");
    std::thread::sleep(Duration::from_millis(500));
    let (_, running, _) = docker(&[
        "inspect",
        "-f",
        "{{.State.Running}} {{.RestartCount}}",
        &netd,
    ]);
    assert_eq!(running.trim(), "true 0", "netd after SIGHUP");
    let (_, logs, logerr) = docker(&["logs", &netd]);
    assert!(
        format!("{logs}{logerr}").contains("SIGHUP: reloading"),
        "{logs}{logerr}"
    );
    let out = lab.dig(&["+short", &lab.fqdn("gamma")]);
    assert_eq!(out.trim(), lab.ip(12).to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lease_survives_a_restart_of_netd() {
    let lab = TestLab::up("t-nd-restart", 4, 254, &[], &[]).await;
    let mac_a = "02:42:0a:ca:04:0a";
    let out = lab.client(BUSYBOX, "a1", &udhcpc(Some(mac_a)));
    let first: Ipv4Addr = field(&out, "ip").parse().expect("ip");
    let (ok, _, err) = docker(&["restart", "-t", "5", &format!("{}-netd", lab.name)]);
    assert!(ok, "restart: {err}");
    lab.wait_dns();
    // A new client must not get the address A holds (a netd that forgot would hand it out:
    // it is the first of the range) ...
    let out = lab.client(BUSYBOX, "b1", &udhcpc(Some("02:42:0a:ca:04:0b")));
    let other: Ipv4Addr = field(&out, "ip").parse().expect("ip");
    assert_ne!(
        other, first,
        "netd forgot the lease of {mac_a} across a restart"
    );
    // ... and A gets its address back.
    let out = lab.client(BUSYBOX, "a2", &udhcpc(Some(mac_a)));
    assert_eq!(field(&out, "ip"), first.to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_discover_flood_exhausts_only_the_dynamic_range() {
    let reserved_mac = "02:42:0a:ca:05:1e";
    // 20 dynamic addresses.
    let lab = TestLab::up("t-nd-flood", 5, 219, &[], &[(reserved_mac, 30, "resv")]).await;
    // perfdhcp on the host (the bridge, .1) plays 2,000 clients with random MACs, at most
    // 500/s for 4 s; netd sees them through the relay address.
    let (_, out, err) = run(
        "timeout",
        &[
            "30",
            "perfdhcp",
            "-4",
            "-r",
            "500",
            "-R",
            "100000",
            "-n",
            "2000",
            "-p",
            "4",
            "-l",
            &lab.ctx.network.bridge,
            &lab.netd_ip(),
        ],
    );
    assert!(
        out.contains("sent packets"),
        "perfdhcp did not run: {out}{err}"
    );
    // Every dynamic address is leased (so no pending offer is left to recycle).
    let leases = read_leases(lab.dir.path()).expect("leases");
    assert_eq!(leases.len(), 20, "{leases:?}");
    assert!(
        leases.iter().all(|l| lab.config.dhcp_range.contains(l.ip)),
        "{leases:?}"
    );
    // The range is exhausted: an unknown client gets nothing ...
    let (ok, out, _) = run(
        "timeout",
        &[
            "60",
            "docker",
            "run",
            "--rm",
            "--name",
            "t-nd-flood-late",
            "--network",
            &lab.net,
            "--cap-add",
            "NET_ADMIN",
            "--label",
            "io.hub.lab=t-nd-flood",
            BUSYBOX,
            "sh",
            "-c",
            &udhcpc(Some("02:42:0a:ca:05:99")),
        ],
    );
    assert!(
        !ok && !out.contains("BOUND"),
        "an unknown client got an address after the flood:\n{out}"
    );
    // ... but the reserved client still gets its address, from a real client.
    let out = lab.client(BUSYBOX, "resv", &udhcpc(Some(reserved_mac)));
    assert_eq!(field(&out, "ip"), lab.ip(30).to_string(), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn names_outside_the_lab_go_to_the_upstream() {
    // The upstream: Debian's dnsmasq at .3 on the lab network, answering one outside name.
    let name = "t-nd-fwd";
    let upstream = "10.202.6.3";
    cleanup(name);
    let mut lab = TestLab::up(name, 6, 254, &[("web", 10)], &[]).await;
    lab.upstream_at(3);
    lab.config.upstreams = vec![format!("{upstream}:53").parse().expect("addr")];
    update_netd_config(lab.dir.path(), &lab.config).expect("update config");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = lab.dig(&["+short", "www.outside.test"]);
        if out.trim() == "192.0.2.77" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "www.outside.test was not forwarded: {out}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // Over TCP too, and lab names stay netd's own.
    let out = lab.dig(&["+tcp", "+short", "www.outside.test"]);
    assert_eq!(out.trim(), "192.0.2.77");
    let out = lab.dig(&["+short", &lab.fqdn("web")]);
    assert_eq!(out.trim(), lab.ip(10).to_string());
    let out = lab.dig(&[&lab.fqdn("nobody")]);
    assert!(out.contains("status: NXDOMAIN"), "{out}");
}

#[test]
fn hub_netd_refuses_a_bad_config_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = NetdConfig::new(
        "10.202.9.0/24".parse().expect("subnet"),
        AddrRange::new(ip("10.202.9", 200), ip("10.202.9", 254)),
        "bad.lab",
    );
    cfg.reservations.push(Reservation {
        mac: "02:00:00:00:00:01".parse().expect("mac"),
        ip: ip("10.202.9", 210),
        hostname: None,
        router: hub_net::netd::ClientRouter::Segment,
    });
    let path = dir.path().join("netd.json");
    std::fs::write(&path, cfg.to_json()).expect("write config");
    let out = Command::new(hub_bin())
        .args(["netd", "--config"])
        .arg(&path)
        .output()
        .expect("run hub");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("lies inside the dhcp_range"), "{err}");
    assert!(err.contains("netd.json"), "{err}");
    // No config at all: a usage error.
    let out = Command::new(hub_bin())
        .arg("netd")
        .env_remove("HUB_CONFIG")
        .output()
        .expect("run hub");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config FILE"));
}

/// A DHCPDISCOVER from `mac` (BOOTREQUEST, Ethernet, broadcast flag, option 53 only).
fn discover_bytes(mac: [u8; 6], xid: u32) -> Vec<u8> {
    let mut p = vec![0u8; 240];
    p[..4].copy_from_slice(&[1, 1, 6, 0]);
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[10] = 0x80;
    p[28..34].copy_from_slice(&mac);
    p[236..240].copy_from_slice(&[99, 130, 83, 99]);
    p.extend_from_slice(&[53, 1, 1, 255]);
    p.resize(300, 0);
    p
}

/// Sends `count` DISCOVERs from distinct random MACs to netd's DHCP port, from the host
/// (the lab bridge): a flood at the lab this test made, nothing else.
fn discover_flood(netd: &str, count: usize) {
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp socket");
    let mut macs = std::collections::HashSet::new();
    while macs.len() < count {
        let mut mac: [u8; 6] = rand::random();
        mac[0] = (mac[0] & 0xfc) | 0x02; // unicast, locally administered
        macs.insert(mac);
    }
    for mac in macs {
        sock.send_to(&discover_bytes(mac, rand::random()), (netd, 67))
            .expect("send a DISCOVER");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn real_clients_get_a_lease_at_once_right_after_a_discover_flood() {
    let reserved_mac = "02:42:0a:ca:0b:1e";
    // 55 dynamic addresses, as a /24 lab has; 1,000 DISCOVERs from random MACs hold them all
    // in pending offers.
    let lab = TestLab::up(
        "t-nd-offerflood",
        11,
        254,
        &[],
        &[(reserved_mac, 30, "resv")],
    )
    .await;
    discover_flood(&lab.netd_ip(), 1_000);
    // udhcpc: one run, at most 3 DISCOVERs 2 s apart (before, the flood's offers held the
    // whole range for a minute).
    // (Each client has its own MAC: containers run one after the other would share one.)
    let out = lab.client(
        BUSYBOX,
        "udhcpc",
        &udhcpc_args(Some("02:42:0a:ca:0b:01"), "-t 3 -T 2"),
    );
    let got: Ipv4Addr = field(&out, "ip").parse().expect("ip");
    assert!(lab.config.dhcp_range.contains(got), "{got}:\n{out}");
    discover_flood(&lab.netd_ip(), 1_000);
    // dhclient: its first try (-1, cut off after 20 s), with a flood just before it.
    let (got, out) = dhclient_lease(&lab, "dhclient", "02:42:0a:ca:0b:02", "");
    assert!(lab.config.dhcp_range.contains(got), "{got}:\n{out}");
    // The workload's reservation is untouched by the flood.
    let out = lab.client(BUSYBOX, "resv", &udhcpc(Some(reserved_mac)));
    assert_eq!(field(&out, "ip"), lab.ip(30).to_string(), "{out}");
}

/// Runs `dhclient -1` (one try, cut off after 20 s) in a Debian container with the MAC `mac`
/// and the dhclient.conf `conf`; returns the address it got and its output.
fn dhclient_lease(lab: &TestLab, tag: &str, mac: &str, conf: &str) -> (Ipv4Addr, String) {
    let out = lab.client(
        DEBIAN,
        tag,
        &format!(
            "ip addr flush dev eth0; {}printf '%s\\n' '{conf}' > /tmp/dh.conf; \
             timeout 20 dhclient -1 -v -cf /tmp/dh.conf eth0 2>&1; \
             echo ADDR $(ip -4 -o addr show eth0 | awk '{{print $4}}')",
            set_mac(Some(mac))
        ),
    );
    let ip = out
        .lines()
        .find_map(|l| l.strip_prefix("ADDR "))
        .and_then(|a| a.split_once('/'))
        .and_then(|(ip, _)| ip.parse().ok())
        .unwrap_or_else(|| panic!("dhclient got no address:\n{out}"));
    (ip, out)
}

/// Polls `dig +short` (bounded) until it prints `want`; returns the last output.
fn dig_until(lab: &TestLab, args: &[&str], want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut all = vec!["+short"];
        all.extend_from_slice(args);
        let out = lab.dig(&all);
        if out.trim() == want || Instant::now() > deadline {
            return out.trim().to_string();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamic_clients_get_their_host_names_first_come_first_served() {
    let lab = TestLab::up("t-nd-names", 12, 254, &[("web", 10)], &[]).await;
    // dhclient sends `laptop` (dhclient.conf `send host-name`).
    // Every client has its own MAC (containers run one after the other would share one).
    let (laptop, _) = dhclient_lease(
        &lab,
        "laptop",
        "02:42:0a:ca:0c:01",
        "send host-name \"Laptop\";",
    );
    let laptop = laptop.to_string();
    let fq = lab.fqdn("laptop");
    assert_eq!(dig_until(&lab, &[&fq], &laptop), laptop);
    assert_eq!(
        dig_until(&lab, &["-x", &laptop], &format!("{fq}.")),
        format!("{fq}.")
    );
    // udhcpc asks for the same name (option 12): it gets a lease, the name stays the first's.
    let udhcpc_named = |tag: &str, last: u8, opt: &str| {
        let mac = format!("02:42:0a:ca:0c:{last:02x}");
        let out = lab.client(
            BUSYBOX,
            tag,
            &udhcpc_args(Some(&mac), &format!("-t 5 -T 1 {opt}")),
        );
        field(&out, "ip").to_string()
    };
    let second = udhcpc_named("second", 2, "-x hostname:laptop");
    assert_ne!(second, laptop);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(lab.dig(&["+short", &fq]).trim(), laptop);
    let out = lab.dig(&["-x", &second]);
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    // A workload's name is never taken nor joined.
    let web = udhcpc_named("web", 3, "-x hostname:web");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        lab.dig(&["+short", &lab.fqdn("web")]).trim(),
        lab.ip(10).to_string()
    );
    assert!(lab.dig(&["-x", &web]).contains("status: NXDOMAIN"));
    // A free name is served, from option 12 (sanitised) or the FQDN of option 81.
    let printer = udhcpc_named("printer", 4, "-x hostname:Printer_1");
    assert_eq!(
        dig_until(&lab, &[&lab.fqdn("printer-1")], &printer),
        printer
    );
    let scanner = udhcpc_named("scanner", 5, "-F scanner.elsewhere.example");
    assert_eq!(dig_until(&lab, &[&lab.fqdn("scanner")], &scanner), scanner);
    // The lease file says who holds which name, and that the second claimant has none.
    let leases = read_leases(lab.dir.path()).expect("leases");
    let name_of = |ip: &str| {
        leases
            .iter()
            .find(|l| l.ip.to_string() == ip)
            .unwrap_or_else(|| panic!("no lease for {ip}: {leases:?}"))
            .hostname
            .clone()
    };
    assert_eq!(name_of(&laptop).as_deref(), Some("laptop"));
    assert_eq!(name_of(&second), None);
    assert_eq!(name_of(&web), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_in_use_by_an_unknown_device_is_not_offered() {
    let name = "t-nd-arp";
    let lab = TestLab::up(name, 13, 254, &[], &[]).await;
    // A device netd does not know sits on the first dynamic address.
    let squatter = lab.ip(200);
    lab.run_at("squatter", 200, BUSYBOX, &["sleep", "300"]);
    let out = lab.client(BUSYBOX, "c1", &udhcpc(None));
    let got: Ipv4Addr = field(&out, "ip").parse().expect("ip");
    assert_ne!(got, squatter, "netd offered an address in use:\n{out}");
    assert!(lab.config.dhcp_range.contains(got), "{got}");
    let (_, logs, logerr) = docker(&["logs", &format!("{name}-netd")]);
    let logs = format!("{logs}{logerr}");
    assert!(
        logs.lines()
            .any(|l| l.contains("address in use") && l.contains(&squatter.to_string())),
        "netd's log does not name the address in use:\n{logs}"
    );
}

/// A DNS query (RD set) for `name`, type A, id `id`.
fn dns_query(name: &str, id: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Floods netd from one UDP socket of the host with queries for distinct names
/// `fl-N.SUFFIX`, 500 every 100 ms (5,000/s) for `secs`, and counts the answers (until 2 s
/// after the last query). Returns (sent, answered).
fn udp_query_flood(netd: &str, suffix: &str, secs: u64) -> (usize, usize) {
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp socket");
    sock.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 1500];
    let (mut sent, mut answered) = (0usize, 0usize);
    let drain = |answered: &mut usize, buf: &mut [u8]| {
        while sock.recv(buf).is_ok() {
            *answered += 1;
        }
    };
    for round in 0..secs * 10 {
        let tick = Instant::now();
        for i in 0..500u64 {
            let n = round * 500 + i;
            let q = dns_query(&format!("fl-{n}.{suffix}"), n as u16);
            sent += usize::from(sock.send_to(&q, (netd, 53)).is_ok());
        }
        while tick.elapsed() < Duration::from_millis(100) {
            drain(&mut answered, &mut buf);
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    for _ in 0..400 {
        drain(&mut answered, &mut buf);
        std::thread::sleep(Duration::from_millis(5));
    }
    (sent, answered)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_flooding_dns_is_slowed_and_another_is_still_answered() {
    use hub_net::netd::dns::limits::{SLOW_BURST, SLOW_PER_SEC, TCP_PER_CLIENT};
    let name = "t-nd-dnsflood";
    let upstream = "10.202.14.3";
    let mut lab = TestLab::up(name, 14, 254, &[("web", 10)], &[]).await;
    lab.upstream_at(3);
    // The first upstream is an address nobody has: each forward holds its slot for the
    // whole upstream timeout before the second upstream answers.
    lab.config.upstreams = vec![
        "10.202.14.9:53".parse().expect("addr"),
        format!("{upstream}:53").parse().expect("addr"),
    ];
    update_netd_config(lab.dir.path(), &lab.config).expect("update config");
    assert_eq!(
        dig_until(
            &lab,
            &["+time=5", "+tries=1", "www.outside.test"],
            "192.0.2.77"
        ),
        "192.0.2.77"
    );
    let netd = lab.netd_ip();
    let client = |tag: &str, script: &str| {
        let out = lab.client(DEBIAN, tag, script);
        out.lines().map(str::to_string).collect::<Vec<_>>()
    };

    // Forwarded queries: the host floods outside names, more than every forward slot.
    let flood = {
        let netd = netd.clone();
        std::thread::spawn(move || udp_query_flood(&netd, "outside.test", 8))
    };
    std::thread::sleep(Duration::from_millis(500));
    let out = client(
        "fwd",
        &format!("dig +short +time=8 +tries=1 @{netd} other.outside.test"),
    );
    assert_eq!(
        out,
        vec!["192.0.2.77"],
        "the second client's forward was not answered"
    );
    let (sent, answered) = flood.join().expect("flood thread");
    assert!(
        answered < sent,
        "every flooded forward was answered ({answered} of {sent})"
    );

    // TCP: the host opens more connections than one client may hold; the rest are closed.
    let conns: Vec<std::net::TcpStream> = (0..TCP_PER_CLIENT + 12)
        .map(|_| std::net::TcpStream::connect((netd.as_str(), 53)).expect("connect"))
        .collect();
    // Those netd closed read end-of-file; the kept ones (idle for 10 s) have nothing yet.
    std::thread::sleep(Duration::from_secs(1));
    let closed = conns
        .iter()
        .filter(|c| {
            c.set_nonblocking(true).expect("nonblocking");
            matches!(std::io::Read::read(&mut &**c, &mut [0u8; 1]), Ok(0))
        })
        .count();
    assert_eq!(
        closed, 12,
        "netd kept more than {TCP_PER_CLIENT} connections of one client"
    );
    let web = lab.ip(10).to_string();
    let out = client(
        "tcp",
        &format!(
            "dig +tcp +short +time=3 +tries=1 @{netd} {}",
            lab.fqdn("web")
        ),
    );
    assert_eq!(
        out,
        vec![web.clone()],
        "the second client was not answered over TCP"
    );
    drop(conns);

    // Queries past the answer cache: the host floods distinct lab names (NXDOMAIN) while the
    // second client asks again and again.
    let domain = lab.ctx.domain.clone();
    let started = Instant::now();
    let flood = {
        let netd = netd.clone();
        std::thread::spawn(move || udp_query_flood(&netd, &domain, 6))
    };
    let out = client(
        "udp",
        &format!(
            "for i in $(seq 1 20); do dig +short +time=2 +tries=1 @{netd} {}; done",
            lab.fqdn("web")
        ),
    );
    let (sent, answered) = flood.join().expect("flood thread");
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(out, vec![web; 20], "the second client lost answers");
    let bound = f64::from(SLOW_BURST) + f64::from(SLOW_PER_SEC) * (secs + 1.0);
    assert!(
        (answered as f64) <= bound && answered < sent,
        "the flooding client had {answered} of {sent} answered in {secs:.1} s, over its budget"
    );
}
