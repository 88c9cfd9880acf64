//! Several segments in one lab (issue 14, part 2) on the real Docker Engine, through the `hub`
//! binary: a DMZ and an internal segment with a router container between them. Each
//! container's interfaces come in the spec's order with their derived MACs; a DMZ host
//! reaches an internal one through the router (and not once the router stops forwarding);
//! netd answers `NAME.SEGMENT.LAB.lab` on both segments and a plain name with the address on
//! the asker's own segment; a WireGuard client's AllowedIPs cover every segment and it reaches
//! a third one; netd's DHCP answers on every segment with that segment's pool, router and
//! DNS (busybox udhcpc); `down`, without the state file, removes every segment's network.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::remote::RemoteClient;
use common::{LabGuard, hub, leftovers, show};

const LAB: &str = "sg1";

/// The lab: `fw` routes between `dmz` and `internal` and is both segments' gateway.
fn spec(forward: bool) -> String {
    format!(
        r#"name: {LAB}
networks:
  - name: dmz
    subnet: 10.231.1.0/24
    gateway: fw
  - name: internal
    subnet: 10.231.2.0/24
    gateway: fw
  - name: mgmt
    subnet: 10.231.3.0/24
containers:
  - name: fw
    image: hub-test/busybox:latest
    cmd: ["sleep", "3600"]
    networks: [dmz, internal]
    ip_forward: {forward}
  - name: web
    image: hub-test/busybox:latest
    cmd: ["sh", "-c", "mkdir -p /www && echo dmz-web > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks: {{dmz: 10.231.1.40}}
  - name: db
    image: hub-test/busybox:latest
    cmd: ["sh", "-c", "mkdir -p /www && echo internal-db > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks: [internal]
  - name: probe-dmz
    image: hub-test/debian:latest
    cmd: ["sleep", "3600"]
    networks: [dmz]
  - name: probe-int
    image: hub-test/debian:latest
    cmd: ["sleep", "3600"]
    networks: [internal]
  - name: admin
    image: hub-test/busybox:latest
    cmd: ["sh", "-c", "mkdir -p /www && echo mgmt-admin > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks: [mgmt]
wireguard:
  subnet: 10.231.100.0/24
  listen_port: 51910
  endpoint: 198.18.231.1
  peers: [{{name: laptop}}]
"#
    )
}

/// `docker exec LAB-NAME ARGS`.
fn exec(name: &str, args: &[&str]) -> Output {
    Command::new("docker")
        .arg("exec")
        .arg(format!("{LAB}-{name}"))
        .args(args)
        .output()
        .expect("docker exec")
}

/// The stdout of `docker exec`, which must succeed.
fn exec_ok(name: &str, args: &[&str]) -> String {
    let out = exec(name, args);
    assert!(out.status.success(), "{name} {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The plan `hub validate --json` prints for the spec at `path`.
fn plan(state: &Path, path: &str) -> serde_json::Value {
    let out = hub(state, &["validate", "-c", path, "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    serde_json::from_slice(&out.stdout).expect("plan JSON")
}

/// `(segment, address, MAC)` of each interface of `name` in the plan.
fn interfaces(plan: &serde_json::Value, name: &str) -> Vec<(String, String, String)> {
    let w = plan["workloads"]
        .as_array()
        .and_then(|l| l.iter().find(|w| w["name"] == name))
        .unwrap_or_else(|| panic!("{name} not in {plan}"));
    w["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .map(|i| {
            let s = |k: &str| i[k].as_str().expect(k).to_string();
            (s("network"), s("ip"), s("mac"))
        })
        .collect()
}

/// `dig +short NAME` from the container `from`, through its resolver (netd).
fn dig(from: &str, name: &str) -> String {
    exec_ok(from, &["dig", "+short", "+time=2", "+tries=2", name])
}

/// What `from` fetches from `http://ip/` within 5 s (an empty string when it cannot).
/// (busybox's own `wget -T` crashes in the test image: `timeout` bounds it instead.)
fn fetch(from: &str, ip: &str) -> String {
    let url = format!("http://{ip}/");
    let out = exec(from, &["timeout", "5", "wget", "-q", "-O-", &url]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// What busybox `udhcpc` on `NAME`'s eth0 is given (`ip`, `router`, `dns`, `serverid`): its
/// script prints the variables and changes nothing on the interface.
fn udhcpc(name: &str) -> std::collections::BTreeMap<String, String> {
    let out = exec_ok(
        name,
        &[
            "sh",
            "-c",
            "printf '#!/bin/sh\\n[ \"$1\" = bound ] && echo \"ip=$ip router=$router dns=$dns serverid=$serverid\"\\nexit 0\\n' > /tmp/u \
             && chmod +x /tmp/u && busybox udhcpc -f -q -n -t 5 -i eth0 -s /tmp/u",
        ],
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("ip="))
        .unwrap_or_else(|| panic!("{name}: no lease in {out:?}"));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn two_segments_with_a_router_between_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state");
    let path = dir.path().join("lab.yaml");
    std::fs::write(&path, spec(true)).expect("spec");
    let path = path.display().to_string();
    let _guard = LabGuard {
        lab: LAB.into(),
        state: state.clone(),
    };
    let _ = hub(&state, &["down", "--lab", LAB]);

    let up = hub(&state, &["up", "-c", &path]);
    assert!(up.status.success(), "{}", show(&up));
    let plan = plan(&state, &path);

    // Interfaces in the spec's order, each with its derived MAC.
    let fw = interfaces(&plan, "fw");
    assert_eq!(
        fw.iter().map(|i| i.0.as_str()).collect::<Vec<_>>(),
        ["dmz", "internal"]
    );
    for (k, (seg, ip, mac)) in fw.iter().enumerate() {
        let ifname = format!("eth{k}");
        let addr = exec_ok("fw", &["ip", "-o", "-4", "addr", "show", "dev", &ifname]);
        assert!(
            addr.contains(&format!("inet {ip}/24")),
            "{ifname} ({seg}): {addr}"
        );
        let link = exec_ok("fw", &["cat", &format!("/sys/class/net/{ifname}/address")]);
        assert_eq!(&link, mac, "{ifname} ({seg})");
    }
    assert_ne!(fw[0].2, fw[1].2, "each interface has its own MAC");
    let links = exec_ok("fw", &["ls", "/sys/class/net"]);
    assert_eq!(
        links.split_whitespace().collect::<Vec<_>>(),
        ["eth0", "eth1", "lo"],
        "fw joins its two networks and no other"
    );
    let db = interfaces(&plan, "db");
    assert_eq!(db.len(), 1, "db joins internal only: {db:?}");
    assert_eq!(db[0].0, "internal");
    let web = interfaces(&plan, "web");
    assert_eq!(web[0].1, "10.231.1.40");
    let web_links = exec_ok("web", &["ls", "/sys/class/net"]);
    assert_eq!(web_links.split_whitespace().count(), 2, "{web_links}");

    // `hub status` shows each workload's address on each of its segments.
    let st = hub(&state, &["status", "--lab", LAB, "--json"]);
    assert!(st.status.success(), "{}", show(&st));
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).expect("status JSON");
    let row = st["workloads"]
        .as_array()
        .and_then(|l| l.iter().find(|w| w["name"] == "fw"))
        .cloned()
        .unwrap_or_else(|| panic!("fw not in {st}"));
    let shown: Vec<(String, String, String)> = row["addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .map(|a| {
            let s = |k: &str| a[k].as_str().expect(k).to_string();
            (s("segment"), s("address"), s("mac"))
        })
        .collect();
    assert_eq!(shown, fw, "{row}");
    let table = hub(&state, &["status", "--lab", LAB]);
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(
        table.contains(&format!("dmz {}, internal {}", fw[0].1, fw[1].1)),
        "{table}"
    );

    // The segments' default routes go to the router.
    let route = exec_ok("web", &["ip", "route", "show", "default"]);
    assert!(route.contains(&format!("via {}", fw[0].1)), "{route}");
    let route = exec_ok("db", &["ip", "route", "show", "default"]);
    assert!(route.contains(&format!("via {}", fw[1].1)), "{route}");

    // The DMZ reaches the internal segment through the router, and back.
    assert_eq!(fetch("web", &db[0].1), "internal-db");
    assert_eq!(fetch("db", "10.231.1.40"), "dmz-web");

    // Names per segment, from both segments; the plain name is the asker's own segment's.
    let domain = format!("{LAB}.lab");
    for probe in ["probe-dmz", "probe-int"] {
        assert_eq!(dig(probe, &format!("fw.dmz.{domain}")), fw[0].1, "{probe}");
        assert_eq!(
            dig(probe, &format!("fw.internal.{domain}")),
            fw[1].1,
            "{probe}"
        );
        assert_eq!(dig(probe, &format!("db.{domain}")), db[0].1, "{probe}");
        assert_eq!(
            dig(probe, &format!("web.dmz.{domain}")),
            "10.231.1.40",
            "{probe}"
        );
    }
    assert_eq!(dig("probe-dmz", &format!("fw.{domain}")), fw[0].1);
    assert_eq!(dig("probe-int", &format!("fw.{domain}")), fw[1].1);
    // A name with no address on the asker's segment still answers (through the router).
    assert_eq!(dig("probe-dmz", &format!("db.{domain}")), db[0].1);

    // netd's DHCP hands out the dmz's gateway workload as the router (busybox udhcpc, whose
    // script prints what it was given and changes nothing).
    let lease = exec_ok(
        "web",
        &[
            "sh",
            "-c",
            "printf '#!/bin/sh\\n[ \"$1\" = bound ] && echo \"router=$router ip=$ip\"\\nexit 0\\n' > /tmp/s \
             && chmod +x /tmp/s && udhcpc -f -q -n -t 3 -i eth0 -s /tmp/s",
        ],
    );
    assert!(
        lease.contains(&format!("router={} ip=10.231.1.2", fw[0].1)),
        "{lease}"
    );

    // Every segment has its own DHCP: netd answers on each interface with that segment's
    // pool, its router (the gateway workload, else the bridge) and its own address there as
    // server and DNS; the leases land in each segment's lease file.
    let segs = plan["segments"].as_array().expect("segments").clone();
    let netd_dir = state.join(LAB).join("netd");
    for (who, seg, router) in [
        ("db", "internal", fw[1].1.clone()),
        ("admin", "mgmt", "10.231.3.1".to_string()),
        ("web", "dmz", fw[0].1.clone()),
    ] {
        let got = udhcpc(who);
        let s = segs
            .iter()
            .find(|s| s["name"] == seg)
            .unwrap_or_else(|| panic!("{seg} not in {plan}"));
        let netd = s["netd"].as_str().expect("netd").to_string();
        assert_eq!(got["router"], router, "{who} on {seg}: {got:?}");
        assert_eq!(got["serverid"], netd, "{who} on {seg}: {got:?}");
        assert_eq!(got["dns"], netd, "{who} on {seg}: {got:?}");
        let ip: std::net::Ipv4Addr = got["ip"].parse().expect("leased address");
        let range = &s["dhcp_range"];
        let (lo, hi): (std::net::Ipv4Addr, std::net::Ipv4Addr) = (
            range["start"]
                .as_str()
                .expect("start")
                .parse()
                .expect("start"),
            range["end"].as_str().expect("end").parse().expect("end"),
        );
        assert!(lo <= ip && ip <= hi, "{who} on {seg}: {ip} outside {range}");
        // The same client asking again keeps its address.
        assert_eq!(udhcpc(who)["ip"], got["ip"], "{who} on {seg}");
        let mac = &interfaces(&plan, who)[0].2;
        let file = if seg == "dmz" {
            netd_dir.join("leases.json")
        } else {
            netd_dir.join(format!("leases.{seg}.json"))
        };
        let mut leases = String::new();
        for _ in 0..20 {
            leases = std::fs::read_to_string(&file).unwrap_or_default();
            if leases.contains(mac.as_str()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(
            leases.contains(mac.as_str()) && leases.contains(&got["ip"]),
            "{who}'s lease in {}: {leases}",
            file.display()
        );
    }

    // A VPN client routes every segment through the tunnel and reaches each one's hosts.
    let conf = hub(&state, &["vpn", "config", "--lab", LAB, "laptop"]);
    assert!(conf.status.success(), "{}", show(&conf));
    let text = String::from_utf8_lossy(&conf.stdout).into_owned();
    assert!(
        text.contains("AllowedIPs = 10.231.1.0/24, 10.231.2.0/24, 10.231.3.0/24, 10.231.100.0/24"),
        "{text}"
    );
    let client = RemoteClient::start(
        "sg1-ns",
        "vhubsg1",
        "198.18.231.1/30",
        "198.18.231.2/30",
        &text,
        &domain,
        dir.path(),
    );
    let admin = interfaces(&plan, "admin");
    let url = format!("http://{}/", admin[0].1);
    let page = client.fetch_until(&url, |p| p.trim() == "mgmt-admin");
    assert_eq!(
        page.trim(),
        "mgmt-admin",
        "the third segment through the tunnel"
    );
    let dig = client.exec(&["dig", "+short", &format!("admin.mgmt.{domain}")]);
    assert_eq!(String::from_utf8_lossy(&dig.stdout).trim(), admin[0].1);
    let by_addr = client.exec(&["curl", "-s", "--max-time", "5", "http://10.231.1.40/"]);
    assert_eq!(String::from_utf8_lossy(&by_addr.stdout).trim(), "dmz-web");
    drop(client);

    // The router stops forwarding: the segments no longer reach each other.
    std::fs::write(&path, spec(false)).expect("spec");
    let up = hub(&state, &["up", "-c", &path]);
    assert!(up.status.success(), "{}", show(&up));
    assert_eq!(
        exec_ok("fw", &["cat", "/proc/sys/net/ipv4/ip_forward"]),
        "0"
    );
    assert_eq!(fetch("web", &db[0].1), "", "no forwarding, no way through");
    // The router itself, on both segments, is still reached (eth0/eth1 again in order).
    let addr = exec_ok("fw", &["ip", "-o", "-4", "addr", "show", "dev", "eth1"]);
    assert!(addr.contains(&fw[1].1), "{addr}");

    // As after a crash that lost the state file: `down` finds every segment by its marks.
    std::fs::remove_file(state.join(LAB).join("state.json")).expect("state file");
    let down = hub(&state, &["down", "--lab", LAB]);
    assert!(down.status.success(), "{}", show(&down));
    assert_eq!(leftovers(LAB, &state), Vec::<String>::new());
}
