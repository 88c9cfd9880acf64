//! Health and healing on the real engines, through `hub up --watch` as a child process: a
//! container removed by hand, netd removed by hand, the WireGuard interface deleted, and a VM
//! destroyed each come back within the backoff at their address and MAC, and the watcher's
//! events say so; a container whose image is gone ends `failed` with the reason after its
//! attempts; SIGTERM stops watching and leaves the lab up. The logic alone, on the fakes:
//! hub-core/tests/heal_fake.rs.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{HUB, LabGuard, hub, leftovers, show, wait_for};

/// `hub up --watch` running in the background, its stdout lines collected.
struct Watch {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// Its stdout is closed and every line read.
    ended: Arc<AtomicBool>,
}

impl Watch {
    /// Starts `hub up -c SPEC --watch` with a short interval and backoff.
    fn start(state: &Path, spec: &Path, log: &Path, extra: &[&str]) -> Watch {
        let mut child = Command::new(HUB)
            .args(["--log-level", "info", "up", "-c"])
            .arg(spec)
            .args([
                "--watch",
                "--heal-interval",
                "1s",
                "--restart-backoff",
                "1s",
            ])
            .args(["--restart-backoff-max", "2s", "--restart-attempts", "3"])
            .args(extra)
            .env("HUB_STATE_DIR", state)
            .env("HUB_BIN", HUB)
            .env_remove("HUB_CONFIG")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).expect("log"))
            .spawn()
            .expect("hub up --watch starts");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let out = child.stdout.take().expect("stdout");
        let (sink, ended) = (lines.clone(), Arc::new(AtomicBool::new(false)));
        let at_end = ended.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(l);
            }
            at_end.store(true, Ordering::SeqCst);
        });
        Watch {
            child,
            lines,
            ended,
        }
    }

    /// The first line containing every one of `parts`, waited for up to `limit`.
    fn line(&self, parts: &[&str], limit: Duration) -> String {
        let mut found = None;
        let what = format!("a line with {parts:?}");
        let (lines, ended) = (self.lines.clone(), self.ended.clone());
        wait_for(&what, limit, || {
            // Whether every line is in before looking: the last ones may come after the exit.
            let no_more = ended.load(Ordering::SeqCst);
            let l = lines.lock().unwrap_or_else(|e| e.into_inner());
            found = l
                .iter()
                .find(|l| parts.iter().all(|p| l.contains(p)))
                .cloned();
            assert!(
                found.is_some() || !no_more,
                "hub up --watch ended before {parts:?}:\n{}",
                l.join("\n")
            );
            found.is_some()
        });
        found.unwrap_or_default()
    }

    /// Every line so far.
    fn all(&self) -> String {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// SIGTERM; the exit code.
    fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(killed.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        self.exit_code("hub up --watch ends on SIGTERM")
    }

    /// Waits (up to 30 s) for the process to end; its exit code.
    fn exit_code(&mut self, what: &str) -> Option<i32> {
        let mut code = None;
        wait_for(what, Duration::from_secs(30), || {
            code = self.child.try_wait().ok().flatten().map(|s| s.code());
            code.is_some()
        });
        code.flatten()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A state root, a guard that takes `lab` down whatever happens, and the spec `body` written
/// in it.
fn setup(lab: &str, body: &str) -> (tempfile::TempDir, LabGuard, PathBuf) {
    let state = common::tempdir();
    let guard = LabGuard {
        lab: lab.into(),
        state: state.path().into(),
    };
    let spec = state.path().join(format!("{lab}.yaml"));
    std::fs::write(&spec, body).expect("spec");
    (state, guard, spec)
}

/// A tool's stdout; it must succeed.
fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    assert!(out.status.success(), "{cmd} {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A container's address and MAC on its lab network, as Docker says.
fn addr_mac(container: &str) -> String {
    run(
        "docker",
        &[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} ({{.MacAddress}}){{end}}",
            container,
        ],
    )
}

/// `hub status --json`.
fn status(state: &Path, lab: &str) -> serde_json::Value {
    let out = hub(state, &["status", "--lab", lab, "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    serde_json::from_slice(&out.stdout).expect("status json")
}

fn row(st: &serde_json::Value, name: &str) -> serde_json::Value {
    st["workloads"]
        .as_array()
        .and_then(|w| w.iter().find(|r| r["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("{name} not in {st}"))
}

/// A busybox image under a name no registry serves (a pull of it only meets a refused
/// connection on this host), removed when dropped.
struct DoomedImage(&'static str);

impl DoomedImage {
    fn tag(name: &'static str) -> Self {
        run("docker", &["tag", "hub-test/busybox:latest", name]);
        DoomedImage(name)
    }
}

impl Drop for DoomedImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", self.0]).output();
    }
}

#[test]
fn containers_netd_and_the_gateway_come_back_and_a_lost_image_ends_failed() {
    let lab = "hl-c";
    let image = DoomedImage::tag("localhost:1/hl-gone:latest");
    let (state, _guard, spec) = setup(
        lab,
        &format!(
            "name: {lab}\nsubnet: 10.233.10.0/24\ncontainers:\n  - name: web\n    \
             image: hub-test/busybox:latest\n    cmd: [\"sleep\", \"3600\"]\n    restart: always\n  \
             - name: gone\n    image: {}\n    cmd: [\"sleep\", \"3600\"]\n    restart: always\n\
             wireguard:\n  subnet: 10.233.11.0/24\n  endpoint: 198.18.12.1\n  listen_port: 51920\n  \
             peers: [{{name: p1}}]\n",
            image.0
        ),
    );
    let w = Watch::start(state.path(), &spec, &state.path().join("watch.log"), &[]);
    w.line(&["watch: lab watching"], Duration::from_secs(180));
    let web = addr_mac("hl-c-web");
    assert!(web.starts_with("10.233.10.30 ("), "{web}");

    // A container removed by hand is back within the backoff, same address and MAC.
    let t = std::time::Instant::now();
    run("docker", &["rm", "-f", "hl-c-web"]);
    w.line(
        &["watch: web drifted: the container is gone"],
        Duration::from_secs(20),
    );
    let back = w.line(&["watch: web restarted at"], Duration::from_secs(30));
    assert!(
        back.contains(&web) && back.ends_with("[restarts: 1]"),
        "{back}"
    );
    assert_eq!(addr_mac("hl-c-web"), web);
    eprintln!("heal_real: web back {:?} after docker rm -f", t.elapsed());

    // netd removed by hand is back, and answers for the lab's names again.
    run("docker", &["rm", "-f", "hl-c-netd"]);
    w.line(
        &["watch: netd restarted at 10.233.10.2"],
        Duration::from_secs(60),
    );
    wait_for("netd answers DNS again", Duration::from_secs(20), || {
        let dig = Command::new("dig")
            .args([
                "+short",
                "+time=1",
                "+tries=1",
                "@10.233.10.2",
                "web.hl-c.lab",
            ])
            .output();
        dig.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "10.233.10.30")
    });

    // The WireGuard interface deleted: back with the same key and port.
    let wg = hub_core::wg::interface_name(lab);
    let key = run("wg", &["show", &wg, "public-key"]);
    run("ip", &["link", "del", &wg]);
    w.line(
        &["watch: wireguard drifted: the WireGuard interface is gone"],
        Duration::from_secs(20),
    );
    w.line(
        &["watch: wireguard restarted at 10.233.11.1"],
        Duration::from_secs(60),
    );
    assert_eq!(run("wg", &["show", &wg, "public-key"]), key);
    assert_eq!(run("wg", &["show", &wg, "listen-port"]), "51920");

    // Its image gone, a container removed by hand cannot come back: failed, with the reason.
    run("docker", &["rmi", "-f", image.0]);
    run("docker", &["rm", "-f", "hl-c-gone"]);
    let failed = w.line(
        &["watch: gone failed: gave up after 3 attempts in a row"],
        Duration::from_secs(60),
    );
    assert!(
        failed.contains("hl-gone"),
        "the reason names the image: {failed}"
    );
    let attempts = w.all().matches("watch: gone restarting: attempt").count();
    assert_eq!(attempts, 3, "{}", w.all());
    let st = status(state.path(), lab);
    let gone = row(&st, "gone");
    assert_eq!(gone["state"], "failed", "{st}");
    assert!(
        gone["reason"]
            .as_str()
            .is_some_and(|r| r.contains("gave up after 3 attempts")),
        "{st}"
    );
    assert_eq!(row(&st, "web")["restarts"], 1, "{st}");
    assert_eq!(row(&st, "web")["state"], "running", "{st}");
    assert_eq!(row(&st, "netd")["restarts"], 1, "{st}");
    assert_eq!(st["vpn"]["restarts"], 1, "{st}");

    // SIGTERM stops watching and leaves the lab up.
    assert_eq!(w.terminate(), Some(0));
    assert_eq!(row(&status(state.path(), lab), "web")["state"], "running");
    let down = hub(state.path(), &["down", "--lab", lab]);
    assert!(down.status.success(), "{}", show(&down));
    assert_eq!(leftovers(lab, state.path()), Vec::<String>::new());
}

#[test]
fn a_destroyed_vm_comes_back_from_its_warm_snapshot_at_its_address_and_mac() {
    let lab = "hl-vm";
    let cache = common::tempdir();
    let (state, _guard, spec) = setup(
        lab,
        &format!(
            "name: {lab}\nsubnet: 10.233.20.0/24\nvms:\n  - name: vm1\n    \
             image: /var/cache/hub-test/debian-12.qcow2\n    memory_mb: 768\n    vcpus: 2\n    \
             warm: true\n    restart: on-failure\n"
        ),
    );
    let cache_dir = cache.path().to_str().expect("utf-8");
    let w = Watch::start(
        state.path(),
        &spec,
        &state.path().join("watch.log"),
        &["--warm-cache", cache_dir],
    );
    // The first up boots cold (under TCG, about 80 s) and saves the VM's warm snapshot.
    let t = std::time::Instant::now();
    w.line(&["watch: lab watching"], Duration::from_secs(600));
    eprintln!(
        "heal_real: the first up (cold boot, saved) took {:?}",
        t.elapsed()
    );
    let domain = format!("{lab}-vm1");
    let mac = |d: &str| {
        run("virsh", &["-c", "qemu:///system", "domiflist", d])
            .lines()
            .find_map(|l| {
                l.split_whitespace()
                    .find(|f| f.starts_with("52:54:00:"))
                    .map(String::from)
            })
            .expect("a MAC in domiflist")
    };
    let mac_before = mac(&domain);
    let planned = row(&status(state.path(), lab), "vm1");
    assert_eq!(planned["mac"], mac_before.as_str());
    assert_eq!(planned["address"], "10.233.20.30");

    // Destroyed (a crash to the hub): back from the warm snapshot, same address and MAC.
    let t = std::time::Instant::now();
    run("virsh", &["-c", "qemu:///system", "destroy", &domain]);
    w.line(
        &["watch: vm1 drifted: the vm is not running"],
        Duration::from_secs(20),
    );
    let back = w.line(&["watch: vm1 restarted at"], Duration::from_secs(300));
    assert!(
        back.contains(&format!("10.233.20.30 ({mac_before})")) && back.ends_with("[restarts: 1]"),
        "{back}"
    );
    assert_eq!(
        run("virsh", &["-c", "qemu:///system", "domstate", &domain]),
        "running"
    );
    assert_eq!(mac(&domain), mac_before);
    eprintln!("heal_real: vm1 back {:?} after virsh destroy", t.elapsed());
    let st = status(state.path(), lab);
    assert_eq!(
        row(&st, "vm1")["boot"],
        "restored from warm snapshot",
        "{st}"
    );
    assert_eq!(row(&st, "vm1")["restarts"], 1, "{st}");
    // The guest answers over SSH (its pinned host key) from its address.
    let spec_path = spec.to_str().expect("utf-8");
    let out = hub(
        state.path(),
        &["-c", spec_path, "exec", "vm1", "--", "hostname", "-I"],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("10.233.20.30"),
        "{}",
        show(&out)
    );

    assert_eq!(w.terminate(), Some(0));
    let down = hub(state.path(), &["down", "--lab", lab]);
    assert!(down.status.success(), "{}", show(&down));
    assert_eq!(leftovers(lab, state.path()), Vec::<String>::new());
}

#[test]
fn a_down_of_a_watched_lab_ends_the_watch_and_nothing_comes_back() {
    let lab = "hl-d";
    let (state, _guard, spec) = setup(
        lab,
        &format!(
            "name: {lab}\nsubnet: 10.233.30.0/24\ncontainers:\n  - name: web\n    \
             image: hub-test/busybox:latest\n    cmd: [\"sleep\", \"3600\"]\n    restart: always\n"
        ),
    );
    let mut w = Watch::start(state.path(), &spec, &state.path().join("watch.log"), &[]);
    w.line(&["watch: lab watching"], Duration::from_secs(180));
    // A plain down (no --wait) is never refused by the watcher's looks, and the watcher does
    // not bring back what the down removes.
    let down = hub(state.path(), &["down", "--lab", lab]);
    assert!(down.status.success(), "{}", show(&down));
    w.line(&["watch: lab lab-gone"], Duration::from_secs(30));
    let code = w.exit_code("hub up --watch ends after down");
    assert_eq!(code, Some(0), "{}", w.all());
    assert!(!w.all().contains("restarted"), "{}", w.all());
    assert_eq!(leftovers(lab, state.path()), Vec::<String>::new());
}
