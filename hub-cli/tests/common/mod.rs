//! Shared pieces of the `hub` CLI's tests on the real backends: running the `hub` binary,
//! looking for anything a lab left behind, and a guard that removes a lab whatever happens.
#![allow(dead_code)]

pub mod dockerd;
pub mod remote;
pub mod serve;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The `hub` binary of this package.
pub const HUB: &str = env!("CARGO_BIN_EXE_hub");

/// Runs `hub ARGS` with its state root at `state` (through `HUB_STATE_DIR`).
pub fn hub(state: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(HUB);
    cmd.args(args)
        .env("HUB_STATE_DIR", state)
        .env("HUB_BIN", HUB)
        .env_remove("HUB_CONFIG");
    cmd.output()
        .unwrap_or_else(|e| panic!("{HUB} could not be run: {e}"))
}

/// Polls `cond` every 100 ms until it holds; panics naming `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// stdout, stderr and code of an output, for messages.
pub fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn lines(cmd: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} could not be run: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// The names of the Docker containers carrying `lab`'s label, stopped ones too.
pub fn lab_containers(lab: &str) -> Vec<String> {
    let filter = format!("label=io.hub.lab={lab}");
    lines(
        "docker",
        &["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"],
    )
}

/// Everything of `lab` that still exists: containers and networks with its label, libvirt
/// domains named after it, its WireGuard interface, DOCKER-USER rules carrying its name, the
/// namespaces of `hub check`'s VPN clients, and
/// its lab directory under `state`.
pub fn leftovers(lab: &str, state: &Path) -> Vec<String> {
    let mut left = Vec::new();
    let filter = format!("label=io.hub.lab={lab}");
    for c in lab_containers(lab) {
        left.push(format!("container {c}"));
    }
    for n in lines(
        "docker",
        &[
            "network",
            "ls",
            "--filter",
            &filter,
            "--format",
            "{{.Name}}",
        ],
    ) {
        left.push(format!("network {n}"));
    }
    for d in lines(
        "virsh",
        &["-c", "qemu:///system", "list", "--all", "--name"],
    ) {
        if d.starts_with(&format!("{lab}-")) {
            left.push(format!("domain {d}"));
        }
    }
    let wg = hub_core::wg::interface_name(lab);
    if Path::new("/sys/class/net").join(&wg).exists() {
        left.push(format!("interface {wg}"));
    }
    let rules = Command::new("iptables")
        .args(["-S", "DOCKER-USER"])
        .output();
    if let Ok(r) = rules {
        for l in String::from_utf8_lossy(&r.stdout).lines() {
            if l.contains(&format!("hub:{lab}")) {
                left.push(format!("rule {l}"));
            }
        }
    }
    // `down` keeps the lab's identity (its keys) for the next `up`: anything else is left over.
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("hubck-{lab}.")) {
                left.push(format!("check namespace {name}"));
            }
        }
    }
    let dir = state.join(lab);
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let others: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != hub_core::runtime::IDENTITY_DIR)
            .collect();
        if !others.is_empty() {
            left.push(format!("lab directory {}: {others:?}", dir.display()));
        }
    }
    left
}

/// Removes the lab when dropped (test passed or failed).
pub struct LabGuard {
    pub lab: String,
    pub state: PathBuf,
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = hub(&self.state, &["down", "--lab", &self.lab]);
    }
}

/// A temporary directory QEMU's user can traverse (VM disks live below it).
pub fn tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod");
    d
}

/// The demo lab's spec with its name, subnets and port changed for a test.
pub fn demo_spec(lab: &str, subnet: &str, vpn_subnet: &str, port: u16) -> String {
    let demo = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/labs/demo.yaml"),
    )
    .expect("examples/labs/demo.yaml");
    let mut s = demo.clone();
    for (from, to) in [
        ("name: demo\n", format!("name: {lab}\n")),
        ("subnet: 172.19.5.0/24\n", format!("subnet: {subnet}\n")),
        (
            "  subnet: 10.10.0.0/24\n",
            format!("  subnet: {vpn_subnet}\n  listen_port: {port}\n"),
        ),
    ] {
        assert!(s.contains(from), "demo.yaml no longer has {from:?}");
        s = s.replace(from, &to);
    }
    s
}

/// Runs `PROGRAM ARGS` of the host inside the network namespace of container `container`
/// (`nsenter -t PID -n`), as a test breaks a lab on purpose (a DROP rule, forwarding off) or
/// asks from inside it (dig); the command must succeed. Returns its standard output.
pub fn in_container_netns(container: &str, program: &str, args: &[&str]) -> String {
    let pid = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Pid}}", container])
        .output()
        .expect("docker inspect");
    let pid = String::from_utf8_lossy(&pid.stdout).trim().to_string();
    let out = Command::new("nsenter")
        .args(["-t", &pid, "-n", program])
        .args(args)
        .output()
        .expect("nsenter");
    assert!(
        out.status.success(),
        "{program} {args:?} in {container}: {out:?}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether the row of check `name` in `hub check`'s table says it passed.
pub fn table_says_passed(table: &str, name: &str) -> bool {
    table
        .lines()
        .find(|l| l.starts_with(name))
        .is_some_and(|l| l.contains("pass"))
}

/// The names of the checks in a `hub check --json` report, in order, with whether each passed.
pub fn check_results(report: &serde_json::Value) -> Vec<(String, bool)> {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_string(),
                r["passed"] == true,
            )
        })
        .collect()
}

/// A "registry" this test owns on 127.0.0.1: it answers every request with 404, so that a pull
/// from it fails at once and reaches nothing else.
pub fn empty_registry() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut conn = conn;
            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut conn, &mut buf);
            let _ = std::io::Write::write_all(
                &mut conn,
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    port
}
