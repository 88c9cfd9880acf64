//! The WireGuard gateway end to end, on the real host: a Docker bridge network with a busybox
//! httpd container, the gateway brought up for its bridge (the kernel's WireGuard where the
//! host has the module, else wireguard-go; and wireguard-go when forced), and a "remote" client in its own network namespace, joined to
//! the host only by a veth pair, running wireguard-go with the generated client config.
//!
//! Needs root, Docker (dockerd running), wireguard-tools, wireguard-go and the image
//! `hub-test/busybox:latest` (all from scripts/setup-host.sh). Resources: labs `t-wg-*`, lab
//! subnets 10.204.x.0/24, VPN 10.214.x.0/24, veths on 198.18.4.x/30. Everything is removed
//! at the end, also when a check fails (the `Cleanup` guard).

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hub_wg::{
    Gateway, GatewaySpec, KeyGen, OsKeyGen, PeerSpec, PublicKey, SeededKeyGen, WgConfig, WgError,
    WgMode, interface_name, write_secret,
};

const IMAGE: &str = "hub-test/busybox:latest";

/// Tests that add DOCKER-USER rules take this lock, so that the rule count the end-to-end
/// test compares is not changed by another test of this binary running beside it.
static RULES: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rules_lock() -> std::sync::MutexGuard<'static, ()> {
    RULES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs a command; returns (success, stdout, stderr). Panics only if it cannot start.
fn try_run(program: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (run scripts/setup-host.sh): {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command that must succeed; returns its stdout.
fn run(program: &str, args: &[&str]) -> String {
    let (ok, stdout, stderr) = try_run(program, args);
    assert!(ok, "`{program} {}` failed: {stderr}", args.join(" "));
    stdout
}

/// Undo actions run in reverse order on drop, whether the test passed or panicked.
#[derive(Default)]
struct Cleanup(Vec<(String, Box<dyn FnOnce()>)>);

impl Cleanup {
    fn push(&mut self, what: &str, undo: impl FnOnce() + 'static) {
        self.0.push((what.to_string(), Box::new(undo)));
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        while let Some((what, undo)) = self.0.pop() {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(undo)).is_err() {
                eprintln!("cleanup of {what} panicked");
            }
        }
    }
}

/// A child process killed and reaped on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // SIGTERM first so that wireguard-go removes its socket; SIGKILL if it lingers.
        let _ = try_run("kill", &["-TERM", &self.0.id().to_string()]);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn require_docker_and_image() {
    let (ok, _, err) = try_run("docker", &["version"]);
    assert!(
        ok,
        "Docker must be running (scripts/setup-host.sh starts it): {err}"
    );
    let (ok, _, _) = try_run("docker", &["image", "inspect", IMAGE]);
    assert!(
        ok,
        "image {IMAGE} is missing: build it with `HUB_SETUP_ONLY=20-images scripts/setup-host.sh`"
    );
}

/// The rules of DOCKER-USER, as `iptables -S` prints them (without the chain line), except
/// those of labs other test suites bring up meanwhile (`hub:LAB` with LAB not `t-wg-*`):
/// they come and go on their own and must not be counted against ours. Every other rule,
/// this binary's labs' and the decoys', is kept.
fn docker_user_rules() -> Vec<String> {
    run("iptables", &["-w", "10", "-S", "DOCKER-USER"])
        .lines()
        .filter(|l| l.starts_with("-A "))
        .filter(|l| {
            let comment = l
                .split_once("--comment ")
                .map(|(_, rest)| rest.trim_start_matches('"'));
            match comment.and_then(|c| c.strip_prefix("hub:")) {
                Some(lab) => lab.starts_with("t-wg-"),
                None => true,
            }
        })
        .map(str::to_string)
        .collect()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "{what} not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The peers of a WireGuard interface with their latest handshake
/// (`wg show IF latest-handshakes`, which unlike `dump` does not print the private key).
fn handshakes(interface: &str) -> Vec<(PublicKey, u64)> {
    run("wg", &["show", interface, "latest-handshakes"])
        .lines()
        .map(|l| {
            let (key, time) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("unexpected line {l:?}"));
            (key.parse().unwrap(), time.trim().parse().unwrap())
        })
        .collect()
}

/// A lab network on a Docker bridge with one busybox httpd container serving `page`.
/// Returns the bridge name.
fn lab_network(
    cleanup: &mut Cleanup,
    name: &str,
    subnet: &str,
    web_ip: &str,
    page: &str,
) -> String {
    let web = format!("{name}-web");
    let _ = try_run("docker", &["rm", "-f", &web]);
    let _ = try_run("docker", &["network", "rm", name]);
    let gateway = subnet.replace(".0/24", ".1");
    let id = run(
        "docker",
        &[
            "network",
            "create",
            "--driver",
            "bridge",
            "--subnet",
            subnet,
            "--gateway",
            &gateway,
            name,
        ],
    );
    let net = name.to_string();
    cleanup.push("docker network", move || {
        let _ = try_run("docker", &["network", "rm", &net]);
    });
    let script = format!(
        "mkdir -p /tmp/www && echo '{page}' > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"
    );
    run(
        "docker",
        &[
            "run",
            "-d",
            "--name",
            &web,
            "--network",
            name,
            "--ip",
            web_ip,
            IMAGE,
            "sh",
            "-c",
            &script,
        ],
    );
    cleanup.push("web container", move || {
        let _ = try_run("docker", &["rm", "-f", &web]);
    });
    format!("br-{}", &id.trim()[..12])
}

/// The remote client: a network namespace joined to the host by a veth pair only.
struct Client {
    ns: String,
    interface: String,
}

impl Client {
    fn exec(&self, args: &[&str]) -> (bool, String, String) {
        let mut full = vec!["netns", "exec", &self.ns];
        full.extend_from_slice(args);
        try_run("ip", &full)
    }

    /// `GET url` from inside the namespace with curl; the body, or curl's error.
    fn fetch(&self, url: &str, timeout_s: u32) -> Result<String, String> {
        let t = timeout_s.to_string();
        let (ok, body, err) = self.exec(&["curl", "-sS", "--max-time", &t, url]);
        if ok {
            Ok(body.trim().to_string())
        } else {
            Err(format!("{body}{err}"))
        }
    }
}

/// Creates the namespace `ns` with a veth pair (`host_ip`/30 on the host side, `ns_ip`/30
/// inside) and starts wireguard-go in it with `config` (stripped, then `wg setconf`), its
/// Address and routes for its AllowedIPs added with `ip`.
fn start_client(
    cleanup: &mut Cleanup,
    tmp: &Path,
    short: &str,
    host_ip: &str,
    ns_ip: &str,
    config: &WgConfig,
) -> Client {
    let ns = format!("t-wg-{short}-c");
    let (veth_host, veth_ns) = (format!("twg{short}-h"), format!("twg{short}-n"));
    let interface = format!("wgc-{short}");
    let _ = try_run("ip", &["netns", "del", &ns]);
    let _ = try_run("ip", &["link", "del", &veth_host]);
    run("ip", &["netns", "add", &ns]);
    let (ns2, vh) = (ns.clone(), veth_host.clone());
    cleanup.push("client namespace", move || {
        let _ = try_run("ip", &["link", "del", &vh]);
        let _ = try_run("ip", &["netns", "del", &ns2]);
    });
    run(
        "ip",
        &[
            "link", "add", &veth_host, "type", "veth", "peer", "name", &veth_ns,
        ],
    );
    run("ip", &["link", "set", &veth_ns, "netns", &ns]);
    run(
        "ip",
        &["addr", "add", &format!("{host_ip}/30"), "dev", &veth_host],
    );
    run("ip", &["link", "set", &veth_host, "up"]);
    run(
        "ip",
        &[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ns_ip}/30"),
            "dev",
            &veth_ns,
        ],
    );
    run("ip", &["-n", &ns, "link", "set", &veth_ns, "up"]);
    run("ip", &["-n", &ns, "link", "set", "lo", "up"]);

    let socket = PathBuf::from(format!("/var/run/wireguard/{interface}.sock"));
    let _ = fs::remove_file(&socket); // left by an earlier run that was killed
    let log = fs::File::create(tmp.join(format!("{interface}.log"))).unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", &ns, "wireguard-go", "-f", &interface])
        .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
        .env("LOG_LEVEL", "error")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start wireguard-go");
    let guard = ChildGuard(child);
    cleanup.push("client wireguard-go", move || drop(guard));
    wait_for("the client's wireguard-go", Duration::from_secs(10), || {
        socket.exists() && try_run("ip", &["-n", &ns, "link", "show", &interface]).0
    });

    let stripped = tmp.join(format!("{interface}.setconf"));
    write_secret(&stripped, config.strip().as_bytes()).unwrap();
    let client = Client { ns, interface };
    let must = |args: &[&str]| {
        let (ok, _, err) = client.exec(args);
        assert!(ok, "{args:?} in the client namespace failed: {err}");
    };
    must(&[
        "wg",
        "setconf",
        &client.interface,
        stripped.to_str().unwrap(),
    ]);
    for address in &config.interface.addresses {
        must(&[
            "ip",
            "addr",
            "add",
            &address.to_string(),
            "dev",
            &client.interface,
        ]);
    }
    must(&["ip", "link", "set", &client.interface, "up"]);
    for net in &config.peers[0].allowed_ips {
        must(&[
            "ip",
            "route",
            "add",
            &net.to_string(),
            "dev",
            &client.interface,
        ]);
    }
    client
}

/// The pid of the wireguard-go daemon serving `interface` on the host.
fn wireguard_go_pid(interface: &str) -> Option<u32> {
    fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_daemon = args.first()?.ends_with(b"wireguard-go")
                && args.get(1).copied() == Some(interface.as_bytes());
            is_daemon.then_some(pid)
        })
}

/// Whether this run forces wireguard-go (`HUB_WG_USERSPACE=1`).
fn forced_userspace() -> bool {
    std::env::var(hub_wg::FORCE_USERSPACE_ENV).is_ok_and(|v| v == "1")
}

/// The mode a new gateway must get here: wireguard-go when forced, else the kernel's
/// WireGuard when this host can make such an interface (probed the way the gateway does),
/// else wireguard-go.
fn expected_mode() -> WgMode {
    if forced_userspace() {
        return WgMode::Userspace;
    }
    let probe = "t-wg-probe";
    let _ = try_run("ip", &["link", "del", probe]);
    let (kernel, _, _) = try_run("ip", &["link", "add", probe, "type", "wireguard"]);
    if kernel {
        run("ip", &["link", "del", probe]);
        WgMode::Kernel
    } else {
        WgMode::Userspace
    }
}

/// Asserts that `interface` is served by what `mode` says: a wireguard-go daemon of its own,
/// or a kernel interface of type wireguard with no daemon.
fn assert_runs_as(interface: &str, mode: WgMode) {
    let details = run("ip", &["-d", "link", "show", "dev", interface]);
    match mode {
        WgMode::Userspace => {
            assert!(
                wireguard_go_pid(interface).is_some(),
                "no wireguard-go for {interface}"
            );
            assert!(!details.contains("wireguard"), "{details}");
        }
        WgMode::Kernel => {
            assert_eq!(wireguard_go_pid(interface), None, "{interface}");
            assert!(details.contains("wireguard"), "{details}");
        }
        other => panic!("a new gateway reported {other:?}"),
    }
}

fn spec(lab: &str, dir: &Path, n: u8, bridge: &str, peers: &[(&str, u8)]) -> GatewaySpec {
    GatewaySpec {
        lab: lab.into(),
        dir: dir.to_path_buf(),
        vpn_subnet: format!("10.214.{n}.0/24").parse().unwrap(),
        lab_subnet: format!("10.204.{n}.0/24").parse().unwrap(),
        segments: Vec::new(),
        bridge: bridge.into(),
        listen_port: 51840 + u16::from(n),
        endpoint: Some(format!("198.18.4.{}", 4 * n + 1)),
        dns: format!("10.204.{n}.2").parse().unwrap(),
        dns_search: Some(format!("{lab}.lab")),
        peers: peers
            .iter()
            .map(|(name, host)| PeerSpec::new(*name, format!("10.214.{n}.{host}").parse().unwrap()))
            .collect(),
    }
}

#[test]
fn remote_client_reaches_the_lab_and_peers_change_live() {
    require_docker_and_image();
    let _rules = rules_lock();
    let (lab, n) = ("t-wg-e2e", 1u8);
    let interface = interface_name(lab);
    let mut cleanup = Cleanup::default();
    let _ = Gateway::down(lab);
    cleanup.push("gateway", move || {
        if let Err(e) = Gateway::down(lab) {
            eprintln!("gateway down: {e}");
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let labdir = tmp.path().join("lab");
    let rules_before = docker_user_rules();

    let page = "lab page of t-wg-e2e";
    let bridge = lab_network(&mut cleanup, lab, "10.204.1.0/24", "10.204.1.10", page);
    // A rule of another lab whose name starts the same: `down` must leave it alone.
    let decoy = [
        "DOCKER-USER",
        "-i",
        "lo",
        "-o",
        "lo",
        "-m",
        "comment",
        "--comment",
        "hub:t-wg-e2e2",
        "-j",
        "ACCEPT",
    ];
    let mut insert = vec!["-w", "10", "-I"];
    insert.extend(decoy);
    run("iptables", &insert);
    cleanup.push("decoy rule", move || {
        let mut delete = vec!["-w", "10", "-D"];
        delete.extend(decoy);
        let _ = try_run("iptables", &delete);
    });

    // 1. Up with one peer and no endpoint in the spec: clients get the host's address.
    let mut first = spec(lab, &labdir, n, &bridge, &[("laptop", 2)]);
    first.endpoint = None;
    let info = Gateway::up(&first, &OsKeyGen).expect("gateway up");
    assert_eq!(info.interface, interface);
    let expected = expected_mode();
    assert_eq!(info.mode, expected, "the host's WireGuard");
    assert_runs_as(&interface, expected);
    assert_eq!(info.added, ["laptop"]);
    let (host, port) = info.endpoint.split_once(':').expect("host:port");
    assert_eq!(port, "51841");
    let host_line = run("ip", &["-4", "-o", "addr", "show", "scope", "global"])
        .lines()
        .find(|l| l.contains(&format!(" inet {host}/")))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("endpoint {host} is not an address of this host"));
    assert!(
        !host_line.contains("docker0") && !host_line.contains(" br-"),
        "endpoint {host} is on a bridge: {host_line}"
    );
    // The same lab with the endpoint the test's client can reach (the veth): only the
    // client config changes.
    let first = spec(lab, &labdir, n, &bridge, &[("laptop", 2)]);
    let again = Gateway::up(&first, &OsKeyGen).expect("gateway up with endpoint");
    assert_eq!(again.mode, WgMode::Existing);
    assert!(again.added.is_empty() && again.revoked.is_empty());
    assert_eq!(again.public_key, info.public_key);
    let info = again;
    assert_eq!(info.endpoint, "198.18.4.5:51841");
    assert_eq!(info.address.to_string(), "10.214.1.1/24");
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "1"
    );
    let comment = format!("\"hub:{lab}\"");
    let lab_rules: Vec<_> = docker_user_rules()
        .into_iter()
        .filter(|r| r.contains(&comment))
        .collect();
    assert_eq!(lab_rules.len(), 2, "{lab_rules:?}");
    assert!(
        lab_rules
            .iter()
            .any(|r| r.contains(&format!("-i {interface} -o {bridge} ")))
    );
    assert!(
        lab_rules
            .iter()
            .any(|r| r.contains(&format!("-i {bridge} -o {interface} ")))
    );

    // Files: keys (in the lab's identity, which `down` keeps) and configs 0600 in 0700
    // directories.
    let wg_dir = labdir.join("wg");
    let key_dir = labdir.join("identity/wg");
    for dir in [&key_dir, &key_dir.join("peers"), &wg_dir.join("clients")] {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
    }
    let laptop_key = key_dir.join("peers/laptop.key");
    let laptop_conf = info.client_configs["laptop"].clone();
    assert_eq!(laptop_conf, wg_dir.join("clients/laptop.conf"));
    for file in [&key_dir.join("gateway.key"), &laptop_key, &laptop_conf] {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    let config = WgConfig::parse(&fs::read_to_string(&laptop_conf).unwrap()).unwrap();
    assert_eq!(
        config.interface.private_key.public_key(),
        info.peers["laptop"]
    );
    assert_eq!(config.interface.addresses[0].to_string(), "10.214.1.2/32");
    assert_eq!(config.interface.dns[0].to_string(), "10.204.1.2");
    let peer = &config.peers[0];
    assert_eq!(peer.public_key, info.public_key);
    assert_eq!(peer.endpoint.as_deref(), Some("198.18.4.5:51841"));
    assert_eq!(peer.persistent_keepalive, Some(25));
    let allowed: Vec<String> = peer.allowed_ips.iter().map(ToString::to_string).collect();
    assert_eq!(allowed, ["10.204.1.0/24", "10.214.1.0/24"]);

    // wireguard-go runs detached: stdin /dev/null, output to the lab's log, not our stdio.
    let pid = wireguard_go_pid(&interface).expect("the gateway's wireguard-go daemon");
    let fd = |n: u32| fs::read_link(format!("/proc/{pid}/fd/{n}")).unwrap();
    assert_eq!(fd(0), PathBuf::from("/dev/null"));
    assert_eq!(fd(1), wg_dir.join("wireguard-go.log"));
    assert_eq!(fd(2), wg_dir.join("wireguard-go.log"));

    // 2. The remote client reaches the container by address and pings the gateway.
    let client = start_client(
        &mut cleanup,
        tmp.path(),
        "e2e",
        "198.18.4.5",
        "198.18.4.6",
        &config,
    );
    let url = "http://10.204.1.10/";
    let mut body = Err(String::new());
    for _ in 0..10 {
        body = client.fetch(url, 2);
        if body.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(body, Ok(page.to_string()), "fetch {url} through the tunnel");
    let (ok, out, err) = client.exec(&["busybox", "ping", "-c", "1", "-W", "3", "10.214.1.1"]);
    assert!(ok, "ping the gateway through the tunnel: {out}{err}");
    let laptop_pub = info.peers["laptop"];
    let handshake = |key: PublicKey| {
        handshakes(&interface)
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, t)| t)
    };
    let shake_before = handshake(laptop_pub).expect("laptop is a peer");
    assert!(shake_before > 0, "laptop has done a handshake");

    // 3. A second up with one more peer: same keys, same interface, laptop undisturbed.
    let ifindex = fs::read_to_string(format!("/sys/class/net/{interface}/ifindex")).unwrap();
    let key_bytes = fs::read(&laptop_key).unwrap();
    let conf_bytes = fs::read(&laptop_conf).unwrap();
    let conf_mtime = fs::metadata(&laptop_conf).unwrap().mtime_nsec();
    let second = spec(lab, &labdir, n, &bridge, &[("laptop", 2), ("phone", 3)]);
    // Another generator: existing keys must be reused, not regenerated.
    let info2 = Gateway::up(&second, &SeededKeyGen::new(42)).expect("second up");
    assert_eq!(info2.mode, WgMode::Existing);
    assert_eq!(info2.public_key, info.public_key, "the gateway key is kept");
    assert_eq!(info2.peers["laptop"], laptop_pub, "the laptop key is kept");
    assert_eq!(info2.added, ["phone"]);
    assert!(info2.revoked.is_empty());
    assert_eq!(
        fs::read_to_string(format!("/sys/class/net/{interface}/ifindex")).unwrap(),
        ifindex,
        "the interface was not recreated"
    );
    assert_eq!(fs::read(&laptop_key).unwrap(), key_bytes);
    assert_eq!(
        fs::read(&laptop_conf).unwrap(),
        conf_bytes,
        "laptop's config unchanged"
    );
    assert_eq!(fs::metadata(&laptop_conf).unwrap().mtime_nsec(), conf_mtime);
    let shake_after = handshake(laptop_pub).expect("laptop is still a peer");
    assert!(
        shake_after >= shake_before,
        "laptop's session survived adding a peer ({shake_before} -> {shake_after})"
    );
    assert!(handshake(info2.peers["phone"]).is_some());
    assert_eq!(mode(&info2.client_configs["phone"]), 0o600);
    assert_eq!(client.fetch(url, 3), Ok(page.to_string()));
    assert_eq!(
        docker_user_rules()
            .iter()
            .filter(|r| r.contains(&comment))
            .count(),
        2
    );

    // 4. The laptop removed from the spec is revoked and its files deleted.
    let third = spec(lab, &labdir, n, &bridge, &[("phone", 3)]);
    let info3 = Gateway::sync_peers(&third, &OsKeyGen).expect("sync peers");
    assert_eq!(info3.revoked, [laptop_pub]);
    assert_eq!(info3.forgotten, ["laptop"]);
    assert_eq!(info3.peers["phone"], info2.peers["phone"]);
    let peers: BTreeSet<String> = run("wg", &["show", &interface, "peers"])
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        !peers.contains(&laptop_pub.to_base64()),
        "laptop revoked: {peers:?}"
    );
    assert!(peers.contains(&info2.peers["phone"].to_base64()));
    assert!(!laptop_key.exists() && !laptop_conf.exists());
    assert!(
        client.fetch(url, 2).is_err(),
        "a revoked client gets nothing"
    );

    // 5. Down removes the interface and exactly the lab's rules; twice is harmless.
    let report = Gateway::down(lab).expect("down");
    assert!(report.interface_removed);
    assert_eq!(report.rules_removed, 2);
    assert!(!Path::new("/sys/class/net").join(&interface).exists());
    let mut rules_after = docker_user_rules();
    let decoy_rule = rules_after
        .iter()
        .position(|r| r.contains("hub:t-wg-e2e2"))
        .expect("the other lab's rule survives down");
    rules_after.remove(decoy_rule);
    assert_eq!(
        rules_after.len(),
        rules_before.len(),
        "{rules_before:?} vs {rules_after:?}"
    );
    // (wireguard-go exits when its interface goes; a kernel interface has none.)
    wait_for("wireguard-go to exit", Duration::from_secs(5), || {
        wireguard_go_pid(&interface).is_none()
    });
    let again = Gateway::down(lab).expect("second down");
    assert!(!again.interface_removed);
    assert_eq!(again.rules_removed, 0);

    // 6. The keys stay: an up after down (as after a reboot) serves the same keys.
    let revived = Gateway::up(&third, &OsKeyGen).expect("up after down");
    assert_eq!(revived.mode, expected);
    assert_runs_as(&interface, expected);
    assert_eq!(revived.public_key, info.public_key);
    assert_eq!(revived.peers["phone"], info2.peers["phone"]);
    assert_eq!(revived.added, ["phone"]);
    let report = Gateway::down(lab).expect("final down");
    assert!(report.interface_removed);
    assert_eq!(report.rules_removed, 2);
}

#[test]
fn refused_bring_ups_leave_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = "t-wg-refuse";
    let interface = interface_name(lab);
    let rules = || {
        docker_user_rules()
            .into_iter()
            .filter(|r| r.contains("hub:t-wg-refuse"))
            .count()
    };

    // A bridge that does not exist.
    let missing = spec(lab, tmp.path(), 2, "br-t-wg-nope", &[("a", 2)]);
    match Gateway::up(&missing, &OsKeyGen) {
        Err(e @ WgError::NoBridge { .. }) => assert!(e.to_string().contains("br-t-wg-nope"), "{e}"),
        other => panic!("expected NoBridge, got {other:?}"),
    }
    // An inconsistent spec, on a bridge that exists.
    let mut bad = spec(lab, tmp.path(), 2, "docker0", &[("a", 2), ("b", 2)]);
    bad.vpn_subnet = "10.204.2.0/24".parse().unwrap();
    match Gateway::up(&bad, &OsKeyGen) {
        Err(e @ WgError::InvalidSpec { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("overlaps") && text.contains("both have address"),
                "{text}"
            );
        }
        other => panic!("expected InvalidSpec, got {other:?}"),
    }
    // Syncing peers of a gateway that is not up.
    let ok = spec(lab, tmp.path(), 2, "docker0", &[("a", 2)]);
    assert!(matches!(
        Gateway::sync_peers(&ok, &OsKeyGen),
        Err(WgError::NoInterface { .. })
    ));

    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "no files written"
    );
    assert!(!Path::new("/sys/class/net").join(&interface).exists());
    assert_eq!(rules(), 0);
    let report = Gateway::down(lab).unwrap();
    assert!(!report.interface_removed);
    assert_eq!(report.rules_removed, 0);
    assert!(matches!(
        Gateway::down("../x"),
        Err(WgError::InvalidName { .. })
    ));
    let _ = OsKeyGen.generate().unwrap();
}

#[test]
fn a_failed_bring_up_removes_what_it_made() {
    require_docker_and_image();
    let _rules = rules_lock();
    let (first, second) = ("t-wg-port-a", "t-wg-port-b");
    let mut cleanup = Cleanup::default();
    for lab in [first, second] {
        let _ = Gateway::down(lab);
        cleanup.push("gateway", move || {
            let _ = Gateway::down(lab);
        });
    }
    let rules_before = docker_user_rules();
    let tmp = tempfile::tempdir().unwrap();
    // Two labs on the same listen port: the second cannot bind it.
    let mut a = spec(first, &tmp.path().join("a"), 3, "docker0", &[("p", 2)]);
    let mut b = spec(second, &tmp.path().join("b"), 4, "docker0", &[("p", 2)]);
    a.listen_port = 51850;
    b.listen_port = 51850;
    let up = Gateway::up(&a, &OsKeyGen).expect("first gateway up");
    match Gateway::up(&b, &OsKeyGen) {
        Err(e @ WgError::Command { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(&interface_name(second)) && text.contains("wg setconf"),
                "{text}"
            );
        }
        other => panic!("expected the second gateway to fail on its port, got {other:?}"),
    }
    assert!(
        !Path::new("/sys/class/net")
            .join(interface_name(second))
            .exists(),
        "the failed gateway's interface was removed"
    );
    assert!(
        docker_user_rules()
            .iter()
            .all(|r| !r.contains("hub:t-wg-port-b")),
        "the failed gateway left no rule"
    );
    assert!(
        Path::new("/sys/class/net").join(&up.interface).exists(),
        "the first one runs on"
    );

    // The running gateway follows a changed spec in place: new port, new VPN subnet, and a
    // new key when its key file was deleted.
    fs::remove_file(tmp.path().join("a/identity/wg/gateway.key")).unwrap();
    a.listen_port = 51851;
    a.vpn_subnet = "10.214.5.0/24".parse().unwrap();
    a.peers = vec![PeerSpec::new("p", "10.214.5.2".parse().unwrap())];
    let changed = Gateway::up(&a, &OsKeyGen).expect("changed spec");
    assert_eq!(changed.mode, WgMode::Existing);
    assert_ne!(changed.public_key, up.public_key);
    let show = |what: &str| run("wg", &["show", &up.interface, what]).trim().to_string();
    assert_eq!(show("public-key"), changed.public_key.to_base64());
    assert_eq!(show("listen-port"), "51851");
    assert_eq!(
        show("allowed-ips"),
        format!("{}\t10.214.5.2/32", changed.peers["p"])
    );
    let addresses = run("ip", &["-4", "-o", "addr", "show", "dev", &up.interface]);
    let addresses: Vec<&str> = addresses
        .lines()
        .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1))
        .collect();
    assert_eq!(addresses, ["10.214.5.1/24"]);
    assert_eq!(Gateway::down(first).unwrap().rules_removed, 2);
    assert_eq!(docker_user_rules(), rules_before);
}

/// `HUB_WG_USERSPACE=1` makes the gateway use wireguard-go even where the kernel has
/// WireGuard. The variable is read by the process, so the check runs in a child of this test
/// binary started with it set (this test itself, filtered to run alone).
#[test]
fn forcing_userspace_uses_wireguard_go() {
    const NAME: &str = "forcing_userspace_uses_wireguard_go";
    if !forced_userspace() {
        // The child adds rules of its own: hold this process's rule lock while it runs, so
        // the tests here that compare the whole chain do not see them.
        let _rules = rules_lock();
        let out = Command::new(std::env::current_exe().expect("test binary"))
            .args([NAME, "--exact", "--nocapture", "--test-threads", "1"])
            .env(hub_wg::FORCE_USERSPACE_ENV, "1")
            .output()
            .expect("the test binary runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "the forced run failed:\n{text}");
        assert!(
            text.contains("1 passed"),
            "the forced run ran nothing:\n{text}"
        );
        return;
    }
    let _rules = rules_lock();
    let lab = "t-wg-forced";
    let interface = interface_name(lab);
    let mut cleanup = Cleanup::default();
    let _ = Gateway::down(lab);
    cleanup.push("gateway", move || {
        let _ = Gateway::down(lab);
    });
    let tmp = tempfile::tempdir().unwrap();
    let gw = spec(lab, tmp.path(), 6, "docker0", &[("p", 2)]);
    let info = Gateway::up(&gw, &OsKeyGen).expect("gateway up");
    assert_eq!(info.mode, WgMode::Userspace);
    assert_runs_as(&interface, WgMode::Userspace);
    let report = Gateway::down(lab).expect("down");
    assert!(report.interface_removed);
    wait_for("wireguard-go to exit", Duration::from_secs(5), || {
        wireguard_go_pid(&interface).is_none()
    });
}
