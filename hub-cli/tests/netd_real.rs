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

fn udhcpc(mac: Option<&str>) -> String {
    let set_mac = mac
        .map(|m| {
            format!("ip link set eth0 down; ip link set eth0 address {m}; ip link set eth0 up; ")
        })
        .unwrap_or_default();
    format!(
        "{UDHCPC_SCRIPT}; ip addr flush dev eth0; {set_mac}udhcpc -i eth0 -n -q -f -t 5 -T 1 -s /tmp/s"
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
        format!("t-nd-udhcpc netd {reference} unless-stopped [NET_ADMIN]")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dhclient_gets_dynamic_and_reserved_addresses() {
    let reserved_mac = "02:42:0a:ca:02:1e";
    let lab = TestLab::up("t-nd-dhclient", 2, 254, &[], &[(reserved_mac, 30, "resv")]).await;
    let script = |mac: Option<&str>| {
        let set_mac = mac
            .map(|m| {
                format!(
                    "ip link set eth0 down; ip link set eth0 address {m}; ip link set eth0 up; "
                )
            })
            .unwrap_or_default();
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
    let leases = read_leases(lab.dir.path()).expect("leases");
    assert!(
        !leases.is_empty() && leases.len() <= 20,
        "{} leases: {leases:?}",
        leases.len()
    );
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
    let (ok, _, err) = docker(&[
        "run",
        "-d",
        "--name",
        &format!("{name}-upstream"),
        "--network",
        &lab.net,
        "--ip",
        upstream,
        "--label",
        &format!("io.hub.lab={name}"),
        "hub-test/dnsmasq:latest",
        "--user=root",
        "--no-resolv",
        "--no-hosts",
        "--address=/outside.test/192.0.2.77",
    ]);
    assert!(
        ok,
        "upstream dnsmasq (run scripts/setup/25-dnsmasq-image.sh): {err}"
    );
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
