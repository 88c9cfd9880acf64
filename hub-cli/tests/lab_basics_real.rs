//! Issue 14's basics on the real engines, through the `hub` binary: two labs with a VPN on
//! one host get distinct ports (a port another lab or a process holds is refused before
//! anything starts, naming the holder), a container's published port serves a bind-mounted
//! file to a client on the host, and a named volume keeps its data across
//! `down --keep-volumes` and goes with a plain `down`.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{LabGuard, hub, leftovers, show};

fn write_spec(dir: &Path, lab: &str, body: &str) -> String {
    let path = dir.join(format!("{lab}.yaml"));
    std::fs::write(&path, body).expect("spec");
    path.display().to_string()
}

fn vpn_lab(lab: &str, subnet: &str, vpn: &str, port: Option<u16>) -> String {
    let port = port.map_or(String::new(), |p| format!("  listen_port: {p}\n"));
    format!(
        "name: {lab}\nsubnet: {subnet}\ncontainers:\n  - name: c1\n    image: hub-test/busybox:latest\n    \
         cmd: [\"sleep\", \"3600\"]\nwireguard:\n  subnet: {vpn}\n  endpoint: 198.18.14.1\n{port}  \
         peers: [{{name: p1}}]\n"
    )
}

/// `docker ARGS`'s stdout; the command must succeed.
fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `hub ls --json` with the state root `state`.
fn ls_json(state: &Path) -> serde_json::Value {
    let out = hub(state, &["ls", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    serde_json::from_slice(&out.stdout).expect("hub ls --json")
}

/// The entry of `lab` in `hub ls --json`.
fn ls_entry(ls: &serde_json::Value, lab: &str) -> serde_json::Value {
    ls.as_array()
        .and_then(|l| l.iter().find(|e| e["name"] == lab))
        .cloned()
        .unwrap_or_else(|| panic!("{lab} not in {ls}"))
}

/// The listen port of a WireGuard interface, as `wg` says.
fn wg_port(interface: &str) -> u16 {
    let out = Command::new("wg")
        .args(["show", interface, "listen-port"])
        .output()
        .expect("wg");
    assert!(out.status.success(), "wg show {interface}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a port")
}

#[test]
fn two_vpn_labs_get_their_own_ports_and_a_taken_port_is_refused() {
    let state = common::tempdir();
    let specs = tempfile::tempdir().unwrap();
    let (a, b, c) = ("lb14-va", "lb14-vb", "lb14-vc");
    let _guards: Vec<LabGuard> = [a, b, c]
        .iter()
        .map(|l| LabGuard {
            lab: (*l).into(),
            state: state.path().into(),
        })
        .collect();
    let spec_a = write_spec(
        specs.path(),
        a,
        &vpn_lab(a, "10.218.1.0/24", "10.219.1.0/24", None),
    );
    let spec_b = write_spec(
        specs.path(),
        b,
        &vpn_lab(b, "10.218.2.0/24", "10.219.2.0/24", None),
    );
    let up = hub(state.path(), &["up", "-c", &spec_a]);
    assert!(up.status.success(), "{}", show(&up));
    let up = hub(state.path(), &["up", "-c", &spec_b]);
    assert!(
        up.status.success(),
        "the second lab comes up: {}",
        show(&up)
    );
    let (port_a, port_b) = (
        wg_port(&hub_core::wg::interface_name(a)),
        wg_port(&hub_core::wg::interface_name(b)),
    );
    assert_ne!(port_a, port_b);
    assert!(port_a >= 51820 && port_b >= 51820, "{port_a} {port_b}");
    let config = std::fs::read_to_string(state.path().join(b).join("wg/clients/p1.conf"))
        .expect("client config");
    assert!(
        config.contains(&format!("Endpoint = 198.18.14.1:{port_b}")),
        "{config}"
    );
    // netd resolves, and the lab's domain is the search domain: `ssh c1` works over the VPN.
    assert!(
        config.contains(&format!("DNS = 10.218.2.2, {b}.lab\n")),
        "{config}"
    );

    // `hub ls` lists both from their marks, with what runs of them.
    let ls = ls_json(state.path());
    for lab in [a, b] {
        assert_eq!(
            ls_entry(&ls, lab),
            serde_json::json!({"name": lab, "state": "up", "containers": 1, "vms": 0,
                "netd": true, "vpn": true, "state_file": true}),
            "{ls}"
        );
    }
    // From another state root, they are still found by their marks (without a state file).
    let elsewhere = tempfile::tempdir().unwrap();
    let ls = ls_json(elsewhere.path());
    assert_eq!(ls_entry(&ls, a)["state_file"], false, "{ls}");
    assert_eq!(ls_entry(&ls, a)["state"], "up", "{ls}");

    // The port is kept for the lab across down/up.
    let down = hub(state.path(), &["down", "--lab", b]);
    assert!(down.status.success(), "{}", show(&down));
    let ls = ls_json(state.path());
    assert_eq!(
        ls_entry(&ls, b)["state"],
        "down",
        "its identity is kept: {ls}"
    );
    let up = hub(state.path(), &["up", "-c", &spec_b]);
    assert!(up.status.success(), "{}", show(&up));
    assert_eq!(wg_port(&hub_core::wg::interface_name(b)), port_b);

    // A spec that asks for lab a's port is refused before anything starts.
    let spec_c = write_spec(
        specs.path(),
        c,
        &vpn_lab(c, "10.218.3.0/24", "10.219.3.0/24", Some(port_a)),
    );
    let refused = hub(state.path(), &["up", "-c", &spec_c]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{}", show(&refused));
    assert!(
        err.contains(&format!(
            "{spec_c}:10:16: wireguard.listen_port: UDP port {port_a} is taken by lab \"{a}\"'s \
             WireGuard gateway (interface hubwg-{a})"
        )),
        "{err}"
    );
    assert_eq!(leftovers(c, state.path()), Vec::<String>::new());

    // And one a process of this host holds names the process.
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let held = socket.local_addr().unwrap().port();
    std::fs::write(
        &spec_c,
        vpn_lab(c, "10.218.3.0/24", "10.219.3.0/24", Some(held)),
    )
    .unwrap();
    let refused = hub(state.path(), &["up", "-c", &spec_c]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{}", show(&refused));
    assert!(
        err.contains(&format!(
            "{spec_c}:10:16: wireguard.listen_port: UDP port {held} is taken by process \
             lab_basics_real (pid {})",
            std::process::id()
        )),
        "{err}"
    );
    assert_eq!(leftovers(c, state.path()), Vec::<String>::new());

    for lab in [a, b] {
        let down = hub(state.path(), &["down", "--lab", lab]);
        assert!(down.status.success(), "{}", show(&down));
        assert_eq!(leftovers(lab, state.path()), Vec::<String>::new());
    }
}

/// A free TCP port of 127.0.0.1 (free when this returns; the test that uses it made nothing
/// else bind ports).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16) -> std::io::Result<String> {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

#[test]
fn a_published_port_serves_a_bind_mounted_file_and_a_taken_one_is_refused() {
    let state = common::tempdir();
    let specs = tempfile::tempdir().unwrap();
    let lab = "lb14-web";
    let _guard = LabGuard {
        lab: lab.into(),
        state: state.path().into(),
    };
    std::fs::create_dir(specs.path().join("www")).unwrap();
    let token = format!("served-from-the-spec-folder-{}", std::process::id());
    std::fs::write(specs.path().join("www/index.html"), &token).unwrap();
    let port = free_port();
    let body = |port: u16| {
        format!(
            "name: {lab}\nsubnet: 10.218.4.0/24\ncontainers:\n  - name: web\n    \
             image: hub-test/busybox:latest\n    cmd: [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n    \
             ports: [\"127.0.0.1:{port}:80\"]\n    volumes: [\"./www:/www:ro\"]\n  - name: keeper\n    \
             image: hub-test/busybox:latest\n    volumes: [\"notes:/data\"]\n    \
             cmd: [\"sh\", \"-c\", \"test -f /data/x || cat /proc/sys/kernel/random/uuid > /data/x; exec sleep 3600\"]\n  \
             - name: ticker\n    image: hub-test/busybox:latest\n    \
             cmd: [\"sh\", \"-c\", \"i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done\"]\n"
        )
    };
    let spec = write_spec(specs.path(), lab, &body(port));

    // A port this process holds is refused, naming it, before anything starts.
    let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let held = holder.local_addr().unwrap().port();
    std::fs::write(&spec, body(held)).unwrap();
    let refused = hub(state.path(), &["up", "-c", &spec]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{}", show(&refused));
    assert!(
        err.contains(&format!(
            "{spec}:7:13: containers[0].ports[0]: host port {held}/tcp on 127.0.0.1 is taken by \
             process"
        )) && err.contains(&format!("(pid {})", std::process::id())),
        "{err}"
    );
    assert_eq!(leftovers(lab, state.path()), Vec::<String>::new());
    drop(holder);

    std::fs::write(&spec, body(port)).unwrap();
    let up = hub(state.path(), &["up", "-c", &spec]);
    assert!(up.status.success(), "{}", show(&up));
    let mut got = String::new();
    common::wait_for(
        "the published port answers",
        Duration::from_secs(20),
        || match http_get(port) {
            Ok(b) if b.contains("200 OK") => {
                got = b;
                true
            }
            _ => false,
        },
    );
    assert!(got.contains(&token), "{got}");
    // `hub logs -f` keeps printing what the container writes.
    let mut follow = Command::new(common::HUB)
        .args(["logs", "--lab", lab, "ticker", "-f", "--tail", "1"])
        .env("HUB_STATE_DIR", state.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("hub logs -f");
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut ticks: Vec<u64> = Vec::new();
    while ticks.len() < 6 {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => ticks.extend(l.strip_prefix("tick ").and_then(|n| n.parse::<u64>().ok())),
            Err(_) => break, // ended, or nothing for 20 s: the assertion below says so
        }
    }
    follow.kill().expect("stop hub logs -f");
    let _ = follow.wait();
    assert_eq!(ticks.len(), 6, "{ticks:?}");
    assert!(
        ticks.windows(2).all(|w| w[1] == w[0] + 1),
        "one line after the other, as written: {ticks:?}"
    );

    // A second, unchanged up finds the lab's own container on the port: not a conflict.
    let again = hub(state.path(), &["up", "-c", &spec]);
    assert!(again.status.success(), "{}", show(&again));

    // The named volume is the lab's: kept by `down --keep-volumes` with its data, removed by
    // a plain `down`.
    let note = || docker(&["exec", &format!("{lab}-keeper"), "cat", "/data/x"]);
    let first = note();
    assert!(!first.trim().is_empty());
    let down = hub(state.path(), &["down", "--lab", lab, "--keep-volumes"]);
    assert!(down.status.success(), "{}", show(&down));
    assert_eq!(
        docker(&[
            "volume",
            "inspect",
            "-f",
            "{{index .Labels \"io.hub.lab\"}}",
            &format!("{lab}-notes")
        ])
        .trim(),
        lab
    );
    let up = hub(state.path(), &["up", "-c", &spec]);
    assert!(up.status.success(), "{}", show(&up));
    assert_eq!(note(), first, "the data outlived the container");

    let down = hub(state.path(), &["down", "--lab", lab]);
    assert!(down.status.success(), "{}", show(&down));
    assert!(
        String::from_utf8_lossy(&down.stdout).contains(&format!("volume {lab}-notes")),
        "{}",
        show(&down)
    );
    assert_eq!(leftovers(lab, state.path()), Vec::<String>::new());
    let gone = Command::new("docker")
        .args(["volume", "inspect", &format!("{lab}-notes")])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "the volume is removed");
    assert!(http_get(port).is_err(), "the port is closed after down");
}
