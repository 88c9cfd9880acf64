//! The multi-host fixture for tests and benches: `scripts/test-hosts.sh up N` starts N "hosts"
//! (containers of hub-test/host:12, each with its own dockerd and libvirtd, TLS on both, and
//! sshd) on the Docker network `hubmh-underlay`; this module starts them once per test binary
//! and gives each host's name, Docker endpoint and cert directory, libvirt URI, SSH endpoint
//! and underlay address.
//! Tests reach a host only through those endpoints, as the hub does.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use bollard::Docker;
use hub_docker::DockerRuntime;

/// The Linux bridge of the hosts' underlay network on this machine (captures go there).
pub const UNDERLAY_BRIDGE: &str = "hubmh-underlay";

/// The repository's `scripts/test-hosts.sh`.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts/test-hosts.sh")
        .canonicalize()
        .expect("scripts/test-hosts.sh is in the repository")
}

/// One host of the fixture.
#[derive(Clone, Debug)]
pub struct TestHost {
    /// Its name (`hubmh-h1`), also its Docker Engine's name.
    pub name: String,
    /// Its address on the underlay.
    pub address: Ipv4Addr,
    /// `tcp://ADDRESS:2376`.
    pub docker_endpoint: String,
    /// The client's cert directory: `ca.pem`, `cert.pem`, `key.pem` (Docker's names) and
    /// `cacert.pem`, `clientcert.pem`, `clientkey.pem` (libvirt's).
    pub cert_dir: PathBuf,
    /// `qemu+tls://ADDRESS/system?pkipath=CERT_DIR`.
    pub libvirt_uri: String,
    /// `ssh://root@ADDRESS:22`: its sshd, which reaches its Docker Engine (`docker system
    /// dial-stdio`) and its libvirt.
    pub ssh_endpoint: String,
    /// The fixture's SSH folder: the client key `id_ed25519` (0600) and `known_hosts` with
    /// every host's own key.
    pub ssh_dir: PathBuf,
}

impl TestHost {
    /// The client key every host authorises for root.
    pub fn ssh_key(&self) -> PathBuf {
        self.ssh_dir.join("id_ed25519")
    }

    /// A known_hosts file holding every host's key.
    pub fn known_hosts(&self) -> PathBuf {
        self.ssh_dir.join("known_hosts")
    }

    /// A bollard client for this host's engine over TLS, trusting `ca` (the fixture's own CA
    /// is `cert_dir/ca.pem`), with the API version negotiated.
    pub async fn docker_with_ca(&self, ca: &Path) -> Result<Docker, bollard::errors::Error> {
        let d = &self.cert_dir;
        Docker::connect_with_ssl(
            &self.docker_endpoint,
            &d.join("key.pem"),
            &d.join("cert.pem"),
            ca,
            120,
            bollard::API_DEFAULT_VERSION,
        )?
        .negotiate_version()
        .await
    }

    /// This host's engine as the hub's Docker runtime.
    pub async fn runtime(&self) -> DockerRuntime {
        let docker = self
            .docker_with_ca(&self.cert_dir.join("ca.pem"))
            .await
            .unwrap_or_else(|e| panic!("host {}: Docker over TLS: {e}", self.name));
        DockerRuntime::from_client(docker)
    }

    /// The `docker` CLI against this host's engine, over TLS.
    pub fn docker_cli(&self, args: &[&str]) -> Output {
        let d = &self.cert_dir;
        Command::new("docker")
            .arg("--tlsverify")
            .arg("--tlscacert")
            .arg(d.join("ca.pem"))
            .arg("--tlscert")
            .arg(d.join("cert.pem"))
            .arg("--tlskey")
            .arg(d.join("key.pem"))
            .args(["-H", &self.docker_endpoint])
            .args(args)
            .output()
            .expect("docker (the CLI) runs")
    }

    /// [`TestHost::docker_cli`] that must succeed; its stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker_cli(args);
        assert!(
            out.status.success(),
            "host {}: docker {args:?} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `docker exec CONTAINER ARGS` on this host's engine.
    pub fn exec(&self, container: &str, args: &[&str]) -> Output {
        let mut all = vec!["exec", container];
        all.extend_from_slice(args);
        self.docker_cli(&all)
    }

    /// What busybox `udhcpc` in `container` on this host is given on eth0 (`ip`, `mtu`,
    /// `router`, `dns`, `domain`, `serverid`): its script prints the variables and changes
    /// nothing on the interface.
    pub fn udhcpc(&self, container: &str) -> std::collections::BTreeMap<String, String> {
        let out = self.exec(
            container,
            &[
                "sh",
                "-c",
                "printf '#!/bin/sh\\n[ \"$1\" = bound ] && echo \"ip=$ip mtu=$mtu router=$router dns=$dns domain=$domain serverid=$serverid\"\\nexit 0\\n' > /tmp/u \
                 && chmod +x /tmp/u && udhcpc -f -q -n -t 5 -i eth0 -s /tmp/u",
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("ip="))
            .unwrap_or_else(|| {
                panic!(
                    "{container} on {}: no lease: exit {:?}\n{text}\n{}",
                    self.name,
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        line.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// What this host's own kernel shows (`ip -br link`, ...), read from outside, for checks
    /// of what the hub left there; the hub itself never does this.
    pub fn inspect_from_outside(&self, args: &[&str]) -> String {
        let out = Command::new("docker")
            .args(["exec", &self.name])
            .args(args)
            .output()
            .expect("docker exec runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The fixture's hosts.
#[derive(Debug)]
pub struct Hosts {
    /// Hosts 1..N, in order.
    pub hosts: Vec<TestHost>,
    /// Held (flock) while the fixture exists.
    _lock: std::fs::File,
}

impl Hosts {
    /// Starts (or reuses) `n` hosts and waits until the Docker Engine and libvirtd of each
    /// answer over TLS.
    pub fn up(n: usize) -> Hosts {
        // The hosts' names and underlay are the same for every run on this machine: one
        // fixture at a time (another checkout's tests wait here).
        let lock = std::fs::File::create("/tmp/hub-fixture.lock").expect("the fixture's lock file");
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .expect("the fixture's lock");
        let out = Command::new("bash")
            .arg(script())
            .args(["up", &n.to_string()])
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "scripts/test-hosts.sh up {n} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let hosts = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                assert_eq!(f.len(), 7, "a host line of test-hosts.sh: {l:?}");
                TestHost {
                    name: f[0].into(),
                    address: f[1].parse().expect("an IPv4 address"),
                    docker_endpoint: f[2].into(),
                    cert_dir: f[3].into(),
                    libvirt_uri: f[4].into(),
                    ssh_endpoint: f[5].into(),
                    ssh_dir: f[6].into(),
                }
            })
            .collect::<Vec<_>>();
        assert_eq!(hosts.len(), n, "test-hosts.sh gave {} hosts", hosts.len());
        Hosts { hosts, _lock: lock }
    }

    /// This machine's address on the underlay (the Docker network's gateway).
    pub fn underlay_gateway(&self) -> String {
        let out = Command::new("docker")
            .args([
                "network",
                "inspect",
                "-f",
                "{{(index .IPAM.Config 0).Gateway}}",
                UNDERLAY_BRIDGE,
            ])
            .output()
            .expect("docker runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The `hosts:` section of a spec over this machine's engine (`local`, the primary, at its
    /// underlay address) and every fixture host (its TLS endpoint); none runs VMs.
    pub fn hosts_yaml(&self) -> String {
        let local = format!(
            "hosts:\n  - name: local\n    libvirt: none\n    address: {}\n",
            self.underlay_gateway()
        );
        local + self.fixture_hosts_yaml().trim_start_matches("hosts:\n")
    }

    /// The `hosts:` section of a spec over the fixture's hosts only (each by its TLS endpoint,
    /// none running VMs): host 1, another machine to the hub, is the primary.
    pub fn fixture_hosts_yaml(&self) -> String {
        let mut y = String::from("hosts:\n");
        for h in &self.hosts {
            y.push_str(&format!(
                "  - name: {}\n    docker: {}\n    tls: {}\n    libvirt: none\n    address: {}\n",
                h.name,
                h.docker_endpoint,
                h.cert_dir.display(),
                h.address
            ));
        }
        y
    }

    /// Removes every host and the underlay.
    pub fn down(&self) {
        let out = Command::new("bash")
            .arg(script())
            .arg("down")
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "scripts/test-hosts.sh down failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A CA that signed nothing of the fixture (for tests of a wrong CA).
    pub fn wrong_ca(&self) -> PathBuf {
        self.hosts[0]
            .cert_dir
            .parent()
            .expect("the cert dir is in the fixture folder")
            .join("wrong-ca/ca.pem")
    }
}

/// A test of a binary on the fixture.
pub type HostTest = fn(&Hosts, &tokio::runtime::Runtime);

/// The `main` of a test binary on the fixture (`harness = false`): starts `n` hosts once,
/// runs those of `tests` whose name contains one of the names on the command line (all without
/// any), in order, each under `catch_unwind`, removes the fixture at the end whatever the
/// tests did, and exits with 101 when one failed.
pub fn run_tests(n: usize, tests: &[(&str, HostTest)]) {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let chosen: Vec<_> = tests
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    let total = chosen.len();
    println!("\nrunning {total} tests");
    if chosen.is_empty() {
        return;
    }
    let start = Instant::now();
    let fixture = Hosts::up(n);
    let plural = if n == 1 { "" } else { "s" };
    println!("fixture: {n} host{plural} up in {:.1?}", start.elapsed());
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let mut failed = Vec::new();
    for (name, test) in chosen {
        let t = Instant::now();
        let ok = std::panic::catch_unwind(AssertUnwindSafe(|| test(&fixture, &rt))).is_ok();
        println!(
            "test {name} ... {} ({:.1?})",
            if ok { "ok" } else { "FAILED" },
            t.elapsed()
        );
        if !ok {
            failed.push(*name);
        }
    }
    fixture.down();
    println!(
        "\ntest result: {}. {} passed; {} failed; finished in {:.1?}",
        if failed.is_empty() { "ok" } else { "FAILED" },
        total - failed.len(),
        failed.len(),
        start.elapsed()
    );
    if !failed.is_empty() {
        eprintln!("failed: {failed:?}");
        std::process::exit(101);
    }
}
