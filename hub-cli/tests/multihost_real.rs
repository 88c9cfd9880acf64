//! Labs over several hosts, on the multi-host fixture (scripts/test-hosts.sh: three "hosts",
//! each its own dockerd and libvirtd, reached over TLS only): the fixture's endpoints, image
//! copies between engines, and the cross-host lab segment (hub-mesh).
//!
//! One fixture serves every test of this binary: `main` starts it once, runs the tests in
//! order and removes the hosts at the end, whatever the tests did (hence `harness = false`).
//! `cargo test -p hub-cli --test multihost_real [NAME...]` runs the tests whose name contains
//! one of the NAMEs.

mod common;
#[path = "common/hosts.rs"]
mod hosts;
#[path = "common/mesh_lab.rs"]
mod mesh_lab;

use std::panic::AssertUnwindSafe;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hosts::{Hosts, UNDERLAY_BRIDGE};
use hub_docker::{DockerRuntime, PullProgress};
use mesh_lab::{BUSYBOX, MeshLab};
use tokio::runtime::Runtime;

type Test = hosts::HostTest;

fn main() {
    let tests: [(&str, Test); 9] = [
        (
            "fixture_hosts_answer_over_tls_only",
            fixture_hosts_answer_over_tls_only,
        ),
        (
            "image_is_copied_to_a_host_with_progress",
            image_is_copied_to_a_host_with_progress,
        ),
        (
            "mesh_joins_three_hosts_into_one_segment",
            mesh_joins_three_hosts_into_one_segment,
        ),
        (
            "mesh_failing_on_one_host_leaves_nothing_anywhere",
            mesh_failing_on_one_host_leaves_nothing_anywhere,
        ),
        (
            "hub_up_makes_one_segment_over_three_hosts",
            hub_up_makes_one_segment_over_three_hosts,
        ),
        (
            "hub_up_runs_a_vm_on_a_remote_host",
            hub_up_runs_a_vm_on_a_remote_host,
        ),
        (
            "hub_up_refuses_bad_hosts_leaving_nothing",
            hub_up_refuses_bad_hosts_leaving_nothing,
        ),
        (
            "hub_up_killed_then_down_leaves_nothing",
            hub_up_killed_then_down_leaves_nothing,
        ),
        ("hub_up_over_ssh_endpoints", hub_up_over_ssh_endpoints),
    ];
    hosts::run_tests(3, &tests);
}

/// Each host answers on its own Docker endpoint and its own libvirt, over TLS with the
/// fixture's CA; a client that trusts another CA is refused, with an error that says why.
fn fixture_hosts_answer_over_tls_only(fixture: &Hosts, rt: &Runtime) {
    for h in &fixture.hosts {
        let docker = rt
            .block_on(h.docker_with_ca(&h.cert_dir.join("ca.pem")))
            .unwrap_or_else(|e| panic!("host {}: Docker over TLS: {e}", h.name));
        let info = rt.block_on(docker.info()).expect("Docker's /info");
        assert_eq!(
            info.name.as_deref(),
            Some(h.name.as_str()),
            "each endpoint is its own engine"
        );
        let out = Command::new("virsh")
            .args(["-c", &h.libvirt_uri, "nodeinfo"])
            .output()
            .expect("virsh runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("CPU(s)"),
            "host {}: virsh -c {} nodeinfo: {}",
            h.name,
            h.libvirt_uri,
            String::from_utf8_lossy(&out.stderr)
        );
        let wrong = rt
            .block_on(h.docker_with_ca(&fixture.wrong_ca()))
            .map(|_| ())
            .expect_err("a client trusting another CA must be refused");
        // The reason sits down the source chain (bollard's own message says "Connect").
        let mut why = wrong.to_string();
        let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(&wrong);
        while let Some(c) = cause {
            why.push_str(&format!(": {c}"));
            cause = c.source();
        }
        assert!(
            why.contains("invalid peer certificate: UnknownIssuer"),
            "the error says the certificate is not trusted: {why}"
        );
        println!("  {}: a client trusting another CA: {why}", h.name);
    }
}

/// An image missing on a host is copied there from this machine's engine (save streamed into
/// load), with progress in bytes; an image nobody has is refused by name.
fn image_is_copied_to_a_host_with_progress(fixture: &Hosts, rt: &Runtime) {
    let h = &fixture.hosts[1];
    // The image the copy is tested with is made for the test, so the host cannot have it.
    let tag = "hubmh-copy-test:latest";
    let local = rt
        .block_on(DockerRuntime::connect())
        .expect("the local engine");
    let tagged = Command::new("docker")
        .args(["tag", BUSYBOX, tag])
        .status()
        .expect("docker tag runs");
    assert!(tagged.success(), "docker tag {BUSYBOX} {tag}");
    let events: Arc<Mutex<Vec<PullProgress>>> = Arc::default();
    let seen = Arc::clone(&events);
    let target = rt
        .block_on(h.runtime())
        .with_pull_progress(Arc::new(move |p| seen.lock().unwrap().push(p)));
    let result = rt.block_on(async {
        let before = target.image_exists(tag).await.unwrap();
        let copied = target.ensure_image_from(tag, &[&local]).await;
        let after = target.image_exists(tag).await.unwrap();
        let again = target.ensure_image_from(tag, &[&local]).await;
        let missing = target
            .ensure_image_from("hubmh-no-such-image:1", &[&local])
            .await;
        (before, copied, after, again, missing)
    });
    h.docker_cli(&["rmi", tag]);
    Command::new("docker")
        .args(["rmi", tag])
        .stdout(Stdio::null())
        .status()
        .ok();
    let (before, copied, after, again, missing) = result;
    assert!(!before, "host {} had {tag} before the copy", h.name);
    let bytes = copied.expect("the copy").expect("bytes were copied");
    assert!(after, "the image is on host {} after the copy", h.name);
    assert_eq!(
        again.expect("a second ensure"),
        None,
        "a second ensure copies nothing"
    );
    let events = events.lock().unwrap();
    let last = events.last().expect("progress was reported");
    assert_eq!(
        last.current,
        Some(bytes),
        "the last progress is every byte sent"
    );
    assert!(last.total.is_some_and(|t| t > 0), "{last:?}");
    assert!(
        events.windows(2).all(|w| w[0].current <= w[1].current),
        "progress only grows"
    );
    assert!(
        events
            .iter()
            .all(|e| e.status == hub_docker::TRANSFER_STATUS && e.image == tag)
    );
    let e = missing.expect_err("nobody has that image").to_string();
    assert!(
        e.contains("hubmh-no-such-image:1") && e.contains("none of the 1 other engines"),
        "{e}"
    );
}

/// tcpdump on the underlay bridge, bounded in packets and time, writing to a file.
fn capture(file: &std::path::Path) -> Child {
    Command::new("timeout")
        .args([
            "120",
            "tcpdump",
            "-i",
            UNDERLAY_BRIDGE,
            "-nn",
            "-U",
            "-c",
            "20000",
            "-w",
        ])
        .arg(file)
        .arg("udp")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump runs (scripts/setup-host.sh installs it)")
}

/// Stops a capture of [`capture`] (the process this test started, by its id).
fn stop_capture(mut tcpdump: Child) {
    Command::new("kill")
        .arg(tcpdump.id().to_string())
        .status()
        .ok();
    tcpdump.wait().ok();
}

/// How many packets of `file` match the tcpdump `filter`.
fn count(file: &std::path::Path, filter: &str) -> usize {
    let out = Command::new("tcpdump")
        .args(["-nn", "-r"])
        .arg(file)
        .arg(filter)
        .output()
        .expect("tcpdump runs");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn links(h: &hosts::TestHost) -> String {
    h.inspect_from_outside(&["ip", "-br", "link"])
}

/// No mesh interface, and no container or network of `lab`, on any host.
fn assert_nothing_left(fixture: &Hosts, lab: &str) {
    let label = format!("label=io.hub.lab={lab}");
    for h in &fixture.hosts {
        let l = links(h);
        assert!(
            !l.contains("hubmw-") && !l.contains("hubmx-"),
            "host {}: interfaces left: {l}",
            h.name
        );
        let left = h.docker_ok(&["ps", "-aq", "--filter", &label]);
        assert!(
            left.trim().is_empty(),
            "host {}: containers left: {left}",
            h.name
        );
        let volumes = h.docker_ok(&["volume", "ls", "-q", "--filter", &label]);
        assert!(
            volumes.trim().is_empty(),
            "host {}: volumes left: {volumes}",
            h.name
        );
        let nets = h.docker_ok(&["network", "ls", "-q", "--filter", &label]);
        assert!(
            nets.trim().is_empty(),
            "host {}: networks left: {nets}",
            h.name
        );
        let domains = virsh_on(h, &["list", "--all", "--name"]);
        assert!(
            !domains
                .lines()
                .any(|d| d.trim().starts_with(&format!("{lab}-"))),
            "host {}: domains left: {domains}",
            h.name
        );
        let pools = virsh_on(h, &["pool-list", "--all", "--name"]);
        assert!(
            !pools
                .lines()
                .any(|p| p.trim() == hub_core::libvirt::remote::lab_pool(lab)),
            "host {}: the lab's storage pool is left: {pools}",
            h.name
        );
    }
}

/// `virsh -c URI ARGS` on host `h`'s libvirt (over TLS), which must succeed; its stdout.
fn virsh_on(h: &hosts::TestHost, args: &[&str]) -> String {
    let out = Command::new("virsh")
        .args(["-c", &h.libvirt_uri])
        .args(args)
        .output()
        .expect("virsh runs");
    assert!(
        out.status.success(),
        "host {}: virsh {args:?}: {}",
        h.name,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Three hosts joined into one lab segment: a container on host 1 reaches one on host 3 by
/// address (ping, a page, a 1 MiB file in full-size frames); the underlay carries WireGuard and
/// never a VXLAN packet; ensure is idempotent; after the agent on host 2 is killed, remove
/// still leaves nothing on any host.
fn mesh_joins_three_hosts_into_one_segment(fixture: &Hosts, rt: &Runtime) {
    let lab = rt.block_on(MeshLab::up(fixture, "hubmh-seg", 10, 52200));
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| check_segment(&lab, rt)));
    rt.block_on(lab.down());
    assert_nothing_left(fixture, "hubmh-seg");
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

fn check_segment(lab: &MeshLab, rt: &Runtime) {
    assert_eq!(lab.info.lab_mtu, 1370);
    for (h, info) in lab.hosts.iter().zip(&lab.info.hosts) {
        assert!(
            info.ready.contains("wireguard-go"),
            "host {}: {}",
            h.name,
            info.ready
        );
        let l = links(h);
        assert!(
            l.contains(&lab.info.wg_interface) && l.contains(&lab.info.vxlan_interface),
            "host {}: {l}",
            h.name
        );
        let key = lab
            .dir
            .path()
            .join(format!("identity/wg/mesh/{}.key", h.name));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&key).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{}", key.display());
    }
    // Unchanged: ensure again leaves the agents as they are.
    let ids = |lab: &MeshLab| -> Vec<String> {
        lab.hosts
            .iter()
            .map(|h| h.docker_ok(&["ps", "-q", "--filter", "label=io.hub.kind=mesh"]))
            .collect()
    };
    let before = ids(lab);
    rt.block_on(hub_mesh::ensure(&lab.spec, &hub_wg::OsKeyGen, &lab.local))
        .expect("a second ensure");
    assert_eq!(before, ids(lab), "a second ensure replaced agents");

    lab.run(
        2,
        "hubmh-web",
        30,
        &["httpd", "-f", "-p", "80", "-h", "/www"],
    );
    lab.run(0, "hubmh-client", 10, &["sleep", "600"]);
    let made = lab.exec(
        2,
        "hubmh-web",
        &["dd", "if=/dev/zero", "of=/www/big", "bs=1024", "count=1024"],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    let pcap = lab.dir.path().join("underlay.pcap");
    let tcpdump = capture(&pcap);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let web = lab.ip(30).to_string();
    let ping = lab.exec(0, "hubmh-client", &["ping", "-c", "3", "-W", "5", &web]);
    let page = lab.exec(
        0,
        "hubmh-client",
        &["wget", "-q", "-O", "-", &format!("http://{web}/")],
    );
    let big = lab.exec(
        0,
        "hubmh-client",
        &[
            "sh",
            "-c",
            &format!("wget -q -O - http://{web}/big | wc -c"),
        ],
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    stop_capture(tcpdump);
    assert!(
        ping.status.success(),
        "ping host 1 -> host 3: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    assert!(
        String::from_utf8_lossy(&page.stdout).contains("hub-test busybox"),
        "the page from host 3: {}",
        String::from_utf8_lossy(&page.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&big.stdout).trim(),
        "1048576",
        "1 MiB across hosts"
    );
    let wireguard = count(&pcap, "udp port 52200");
    let vxlan = count(&pcap, "udp port 4789");
    assert!(
        wireguard > 10,
        "the traffic crossed the underlay in WireGuard: {wireguard} packets"
    );
    assert_eq!(vxlan, 0, "raw VXLAN on the underlay");

    // An agent killed (as by a crash) leaves its VXLAN device; remove still finds it.
    lab.hosts[1].docker_ok(&["kill", "-s", "KILL", &hub_mesh::container_name(&lab.lab)]);
    let l = links(&lab.hosts[1]);
    assert!(
        l.contains(&lab.info.vxlan_interface),
        "the killed agent left its VXLAN device: {l}"
    );
}

/// A mesh that cannot be made on host 3 (its bridge does not exist) fails naming host 3 and
/// the reason, and leaves nothing on any host, not even on the two where its agent was up.
fn mesh_failing_on_one_host_leaves_nothing_anywhere(fixture: &Hosts, rt: &Runtime) {
    let lab = "hubmh-bad";
    let dir = tempfile::tempdir().unwrap();
    let local = rt
        .block_on(DockerRuntime::connect())
        .expect("the local engine");
    let mut spec =
        hub_mesh::MeshSpec::new(lab, dir.path(), "10.203.12.0/24".parse().unwrap(), 52202);
    for (i, h) in fixture.hosts.iter().enumerate() {
        // Hosts 1 and 2: the nested engine's default bridge, which exists; host 3: none.
        let bridge = if i < 2 { "docker0" } else { "hubmh-nobr" };
        spec = spec.host(hub_mesh::MeshHost::new(
            h.name.as_str(),
            rt.block_on(h.runtime()),
            h.address,
            bridge,
        ));
    }
    let t = Instant::now();
    let err = rt
        .block_on(hub_mesh::ensure(&spec, &hub_wg::OsKeyGen, &local))
        .expect_err("host 3 has no such bridge")
        .to_string();
    println!(
        "  refused and rolled back in {:.1?}: {}",
        t.elapsed(),
        err.lines().next().unwrap_or_default()
    );
    assert!(
        err.contains("host \"hubmh-h3\"")
            && err.contains("the lab bridge hubmh-nobr does not exist"),
        "{err}"
    );
    assert_nothing_left(fixture, lab);
}

/// A lab of the `hub` binary on the fixture: its state root, a folder for its specs, and a
/// guard that takes it down whatever happens. (`up` copies a workload's image to a host that
/// lacks it.)
fn cli_lab(lab: &str) -> (tempfile::TempDir, tempfile::TempDir, common::LabGuard) {
    let state = tempfile::tempdir().expect("state");
    let dir = tempfile::tempdir().expect("specs");
    let guard = common::LabGuard {
        lab: lab.into(),
        state: state.path().to_path_buf(),
    };
    (state, dir, guard)
}

/// [`assert_nothing_left`] on the fixture's hosts, and nothing of `lab` on this machine either
/// (containers, networks, the lab folder, mesh interfaces).
fn assert_nothing_left_anywhere(fixture: &Hosts, lab: &str, state: &std::path::Path, when: &str) {
    assert_nothing_left(fixture, lab);
    assert_eq!(
        common::leftovers(lab, state),
        Vec::<String>::new(),
        "{when}"
    );
    let here = Command::new("ip")
        .args(["-br", "link"])
        .output()
        .expect("ip runs");
    let here = String::from_utf8_lossy(&here.stdout);
    assert!(
        !here.contains(&hub_mesh::wg_interface(lab))
            && !here.contains(&hub_mesh::vxlan_interface(lab)),
        "{when}: interfaces left on this machine: {here}"
    );
}

/// The spec of lab `lab` over the fixture's three hosts, host 1 the primary (netd and the VPN
/// gateway run there, another machine to the hub), with `containers` (YAML flow mappings).
fn hub_spec(fixture: &Hosts, lab: &str, containers: &[String]) -> String {
    let mut y = format!("name: {lab}\nsubnet: 10.205.30.0/24\n");
    y.push_str(&fixture.fixture_hosts_yaml());
    y.push_str("containers:\n");
    for c in containers {
        y.push_str(&format!("  - {c}\n"));
    }
    y
}

/// The result of `hub check --json` named `name` (the lab's other rules may fail: probes
/// from containers on other hosts are not run from here).
fn check_result(st: &std::path::Path, spec: &str, name: &str) -> serde_json::Value {
    let out = common::hub(st, &["check", "-c", spec, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("hub check --json: {e}: {}", common::show(&out)));
    report["results"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no check {name:?} in {report:#}"))
}

/// `docker exec` on a fixture host.
fn exec_on(h: &hosts::TestHost, container: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["exec", container];
    all.extend_from_slice(args);
    h.docker_cli(&all)
}

/// The image the main test's workloads run: `hub-test/busybox` under a name no fixture host
/// has, so that `up` must copy it to each.
const UP_IMAGE: &str = "hubmh-up-busybox:1";
/// The main test's VPN: its clients' subnet and the gateway's port.
const VPN_SUBNET: &str = "10.205.39.0/24";
const VPN_PORT: u16 = 51938;
/// The main test's mesh port (`mesh.port` in its spec).
const MESH_PORT: u16 = 52310;

/// Issue 11's main test, through the `hub` binary: a lab of 4 containers over the 3 fixture
/// hosts, host 1 the primary (netd and the VPN gateway's container run there; nothing of the
/// lab on this machine), is one L2 segment: `up` copies the workloads' image to every host
/// that lacks it; `status` shows the placement; a container on host 1 fetches a page from one
/// on host 3 by name (netd's DNS across the VXLAN in WireGuard), and no VXLAN packet crosses
/// the underlay unencrypted; busybox udhcpc on host 2 gets its lease from netd on host 1
/// across the segment, with the segment's MTU (option 26); a road-warrior WireGuard client on
/// the hosts' LAN, told host 1's address, reaches a workload on every host by name, every host
/// routing it to the gateway at `.3`; an unchanged re-up changes nothing; host 3's workloads
/// leaving the spec leave host 3; `down` leaves nothing on any host.
fn hub_up_makes_one_segment_over_three_hosts(fixture: &Hosts, _rt: &Runtime) {
    let lab = "mwseg";
    let (state, dir, _guard) = cli_lab(lab);
    let tagged = Command::new("docker")
        .args(["tag", BUSYBOX, UP_IMAGE])
        .status()
        .expect("docker tag runs");
    assert!(tagged.success(), "docker tag {BUSYBOX} {UP_IMAGE}");
    for h in &fixture.hosts {
        h.docker_cli(&["rmi", UP_IMAGE]);
    }
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        one_segment_over_three_hosts(fixture, lab, state.path(), dir.path())
    }));
    for h in &fixture.hosts {
        h.docker_cli(&["rmi", UP_IMAGE]);
    }
    Command::new("docker")
        .args(["rmi", UP_IMAGE])
        .stdout(Stdio::null())
        .status()
        .ok();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

fn one_segment_over_three_hosts(
    fixture: &Hosts,
    lab: &str,
    st: &std::path::Path,
    dir: &std::path::Path,
) {
    let [h1, h2, h3] = [0, 1, 2].map(|i| fixture.hosts[i].name.clone());
    let c = |name: &str, host: &str, cmd: &str| {
        format!("{{name: {name}, image: \"{UP_IMAGE}\", cmd: [sh, -c, \"{cmd}\"], host: {host}}}")
    };
    let all = [
        // Each serves the image's page, so the VPN client can fetch it from every host.
        c("client", &h1, "httpd -f -p 80 -h /www"),
        c("two", &h2, "httpd -f -p 80 -h /www"),
        c("web", &h3, "httpd -f -p 80 -h /www"),
        c("four", &h3, "sleep 3600"),
    ];
    // No `endpoint`: clients are told the primary's underlay address.
    let extra = format!(
        "wireguard:\n  subnet: {VPN_SUBNET}\n  listen_port: {VPN_PORT}\n  \
         peers: [{{name: laptop}}]\nmesh: {{port: {MESH_PORT}}}\n"
    );
    let spec_of = |containers: &[String]| hub_spec(fixture, lab, containers) + &extra;
    let spec = dir.join("spec.yaml");
    std::fs::write(&spec, spec_of(&all)).unwrap();
    let spec = spec.to_string_lossy().into_owned();

    let t = Instant::now();
    let up = common::hub(st, &["up", "-c", &spec]);
    assert!(up.status.success(), "{}", common::show(&up));
    println!(
        "  hub up over 3 hosts with the segment: {:.1?}",
        t.elapsed()
    );
    // The image was copied to each host, with a line saying so.
    let said = String::from_utf8_lossy(&up.stderr);
    assert!(
        said.contains(&format!("copied {UP_IMAGE} from another host")),
        "{}",
        common::show(&up)
    );
    for h in &fixture.hosts {
        let has = h.docker_cli(&["image", "inspect", UP_IMAGE]);
        assert!(has.status.success(), "host {} lacks {UP_IMAGE}", h.name);
    }

    let status = common::hub(st, &["status", "-c", &spec]);
    assert!(status.status.success(), "{}", common::show(&status));
    let text = String::from_utf8_lossy(&status.stdout);
    for (name, host) in [("client", &h1), ("two", &h2), ("web", &h3), ("four", &h3)] {
        let row = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row {name} in {text}"));
        assert!(
            row.contains("running") && row.split_whitespace().last() == Some(host.as_str()),
            "{row}"
        );
    }
    assert!(
        !text.contains("hub-mesh"),
        "the agent is no workload: {text}"
    );

    // Every host's copy of the lab network has the segment's MTU, and the mesh listens on the
    // spec's port.
    for h in &fixture.hosts {
        let mtu = h.docker_ok(&[
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("label=io.hub.lab={lab}"),
        ]);
        let id = mtu.lines().next().expect("the lab network");
        let opts = h.docker_ok(&["network", "inspect", "-f", "{{json .Options}}", id]);
        assert!(
            opts.contains("\"com.docker.network.driver.mtu\":\"1370\""),
            "host {}: {opts}",
            h.name
        );
        // wireguard-go's control socket is in the agent's own file system.
        let wg = h.docker_ok(&[
            "exec",
            &hub_mesh::container_name(lab),
            "wg",
            "show",
            &hub_mesh::wg_interface(lab),
            "listen-port",
        ]);
        assert_eq!(wg.trim(), MESH_PORT.to_string(), "host {}", h.name);
        // Every host sends the VPN's clients to the gateway's container at .3.
        let routes = h.inspect_from_outside(&["ip", "route"]);
        assert!(
            routes.contains(&format!("{VPN_SUBNET} via 10.205.30.3 dev ")),
            "host {}: {routes}",
            h.name
        );
    }
    // netd and the VPN gateway run on host 1, the primary; nothing of the lab on this machine.
    let services = fixture.hosts[0].docker_ok(&[
        "ps",
        "--format",
        "{{.Names}}",
        "--filter",
        &format!("label=io.hub.lab={lab}"),
    ]);
    for want in [format!("{lab}-netd"), hub_mesh::gateway_container_name(lab)] {
        assert!(
            services.lines().any(|l| l == want),
            "{want} on host 1: {services}"
        );
    }
    let gw_ip = fixture.hosts[0].docker_ok(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &hub_mesh::gateway_container_name(lab),
    ]);
    assert_eq!(gw_ip.trim(), "10.205.30.3", "the gateway's address");
    let here = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=io.hub.lab={lab}")])
        .output()
        .expect("docker runs");
    assert!(
        String::from_utf8_lossy(&here.stdout).trim().is_empty(),
        "the lab put containers on this machine"
    );

    let client = format!("{lab}-client");
    let pcap = dir.join("underlay.pcap");
    let tcpdump = capture(&pcap);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let page = exec_on(
        &fixture.hosts[0],
        &client,
        &["wget", "-q", "-O", "-", "http://web/"],
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    stop_capture(tcpdump);
    assert!(
        String::from_utf8_lossy(&page.stdout).contains("hub-test busybox"),
        "the page from host 3 by name: {}",
        String::from_utf8_lossy(&page.stderr)
    );
    let vxlan = count(&pcap, "udp port 4789");
    let mesh = count(&pcap, &format!("udp port {MESH_PORT}"));
    assert!(mesh > 0, "the fetch crossed the underlay in the mesh");
    assert_eq!(vxlan, 0, "raw VXLAN on the underlay");
    println!("  underlay: {mesh} WireGuard packets of the mesh, {vxlan} VXLAN");

    // A real DHCP client on host 2 gets its lease from netd on the primary, across the
    // segment, with the segment's MTU.
    let lease = fixture.hosts[1].udhcpc(&format!("{lab}-two"));
    println!("  udhcpc on {h2}: {lease:?}");
    assert_eq!(
        lease.get("serverid").map(String::as_str),
        Some("10.205.30.2")
    );
    assert_eq!(lease.get("dns").map(String::as_str), Some("10.205.30.2"));
    assert_eq!(lease.get("mtu").map(String::as_str), Some("1370"));
    assert_eq!(lease.get("router").map(String::as_str), Some("10.205.30.1"));
    let ip: std::net::Ipv4Addr = lease["ip"].parse().expect("an address");
    assert!(
        ip.octets()[..3] == [10, 205, 30] && ip.octets()[3] >= 200,
        "{ip}"
    );

    // `hub check` asks the primary whether the gateway's container runs.
    let gw = check_result(st, &spec, "the VPN gateway is up");
    assert_eq!(gw["passed"], true, "{gw}");

    // A road-warrior client (a namespace with the peer's real config) reaches a workload on
    // every host by name; every host sends its answers to the gateway.
    road_warrior_reaches_every_host(fixture, lab, st, dir);

    // An unchanged re-up changes nothing: every container of the lab on every host (the
    // workloads, the mesh agents, netd and the gateway on host 1) is the same.
    let label = format!("label=io.hub.lab={lab}");
    let agents = |h: &hosts::TestHost| h.docker_ok(&["ps", "-q", "--filter", &label]);
    let before: Vec<String> = fixture.hosts.iter().map(agents).collect();
    let again = common::hub(st, &["up", "-c", &spec]);
    assert!(again.status.success(), "{}", common::show(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("no change"),
        "{}",
        common::show(&again)
    );
    let after: Vec<String> = fixture.hosts.iter().map(agents).collect();
    assert_eq!(before, after, "an unchanged re-up replaced containers");

    // Host 3's workloads leave the spec: they leave host 3.
    std::fs::write(&spec, spec_of(&all[..2])).unwrap();
    let less = common::hub(st, &["up", "-c", &spec]);
    assert!(less.status.success(), "{}", common::show(&less));
    let on3 = fixture.hosts[2].docker_ok(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}}",
        "--filter",
        &format!("label=io.hub.lab={lab}"),
        "--filter",
        "label=io.hub.kind=container",
    ]);
    assert!(on3.trim().is_empty(), "left on host 3: {on3}");

    let t = Instant::now();
    let down = common::hub(st, &["down", "--lab", lab]);
    assert!(down.status.success(), "{}", common::show(&down));
    println!("  hub down over 3 hosts: {:.1?}", t.elapsed());
    assert_nothing_left_anywhere(fixture, lab, st, "after down");
    for h in &fixture.hosts {
        let routes = h.inspect_from_outside(&["ip", "route"]);
        assert!(
            !routes.contains(VPN_SUBNET),
            "host {}: the VPN's route is left: {routes}",
            h.name
        );
    }
}

/// The Debian 12 cloud-init image of scripts/setup/35-vm-image.sh.
const VM_IMAGE: &str = "/var/cache/hub-test/debian-12.qcow2";

/// The line of `text` that contains `what` (for the progress lines `up` prints).
fn line_with<'a>(text: &'a str, what: &str) -> Option<&'a str> {
    text.lines().find(|l| l.contains(what)).map(str::trim)
}

/// Issue 11's VM on a remote host, through the `hub` binary: a lab over the fixture's hosts
/// only (host 1 the primary: netd; this machine is not on the lab network, so SSH to the VM
/// goes through `hub relay`), with `web` (busybox httpd) pinned to host 3 and a
/// Debian VM pinned to host 2, whose libvirt (qemu+tls) is the only one given. `up` uploads
/// the base image to host 2's `hub-images` pool (with progress) and boots the VM cold from
/// volumes of the lab's pool there; `status` shows it running on host 2 at its reserved
/// address; its lease came from netd on host 1, with host 2's gateway as its router and
/// the segment's MTU (option 26), which the guest applied; it fetches the page of `web` on
/// host 3 by name. `down` leaves no domain, volume or pool of the lab on any host, while the
/// base image stays cached; a second `up` reuses it (nothing sent) and, SIGKILLed once the
/// VM's volumes exist, is cleaned up by `down` too.
fn hub_up_runs_a_vm_on_a_remote_host(fixture: &Hosts, _rt: &Runtime) {
    let lab = "mwvm";
    let (state, dir, _guard) = cli_lab(lab);
    let st = state.path();
    let [h2, h3] = [&fixture.hosts[1], &fixture.hosts[2]];
    let web = format!(
        "{{name: web, image: \"{BUSYBOX}\", cmd: [httpd, -f, -p, \"80\", -h, /www], host: {}}}",
        h3.name
    );
    let spec_text = hub_spec(fixture, lab, &[web]).replace(
        &format!("libvirt: none\n    address: {}", h2.address),
        &format!("libvirt: {}\n    address: {}", h2.libvirt_uri, h2.address),
    ) + &format!(
        "vms:\n  - {{name: vm, image: {VM_IMAGE}, memory_mb: 1024, vcpus: 2, host: {}}}\n",
        h2.name
    );
    assert!(spec_text.contains(&h2.libvirt_uri), "{spec_text}");
    let spec = dir.path().join("spec.yaml");
    std::fs::write(&spec, &spec_text).unwrap();
    let spec = spec.to_string_lossy().into_owned();
    let pool = hub_core::libvirt::remote::lab_pool(lab);
    let images = |h: &hosts::TestHost| {
        let out = Command::new("virsh")
            .args(["-c", &h.libvirt_uri, "vol-list", "--pool", "hub-images"])
            .output()
            .expect("virsh runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    let t = Instant::now();
    let up = common::hub(st, &["up", "-c", &spec]);
    let took = t.elapsed();
    assert!(up.status.success(), "{}", common::show(&up));
    let said = String::from_utf8_lossy(&up.stderr).into_owned();
    // The base image was either sent now or found cached by an earlier run on these hosts.
    let upload = line_with(&said, &format!("uploaded {VM_IMAGE} to host {}", h2.name))
        .or_else(|| line_with(&said, &format!("{VM_IMAGE} already on host {}", h2.name)))
        .unwrap_or_else(|| panic!("no upload line: {}", common::show(&up)))
        .to_string();
    let ready = line_with(&said, "✔ vm ")
        .unwrap_or_else(|| panic!("no ready line for vm: {}", common::show(&up)))
        .to_string();
    assert!(
        ready.contains("cold boot on a remote libvirt"),
        "the boot says where it runs: {ready}"
    );
    assert!(
        !said.contains("· vm: vm: kernel"),
        "the console log of a remote VM is not read: {said}"
    );
    println!("  hub up (VM on host 2, web on host 3): {took:.1?}");
    println!("  {upload}");
    // The boot's phases as `up` told them (no `kernel`: the console log is not read).
    for phase in said.lines().filter(|l| l.contains("· vm:")) {
        println!("  {}", phase.trim());
    }
    println!("  {ready}");
    let cached = images(h2);
    assert!(cached.contains("sha256-"), "host 2's image cache: {cached}");
    let volumes = virsh_on(h2, &["vol-list", "--pool", &pool]);
    assert!(
        volumes.contains("vm-disk.qcow2") && volumes.contains("vm-seed.img"),
        "the VM's volumes on host 2: {volumes}"
    );
    let domains = virsh_on(h2, &["list", "--name"]);
    assert!(
        domains.lines().any(|d| d.trim() == format!("{lab}-vm")),
        "the domain runs on host 2: {domains}"
    );

    // `status`: the VM runs on host 2, at its reserved address.
    let status = common::hub(st, &["status", "-c", &spec]);
    assert!(status.status.success(), "{}", common::show(&status));
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    let row = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("vm"))
        .unwrap_or_else(|| panic!("no row vm in {text}"));
    assert!(
        row.contains("running") && row.split_whitespace().last() == Some(h2.name.as_str()),
        "{row}"
    );
    let ip = row
        .split_whitespace()
        .find(|w| w.starts_with("10.205.30."))
        .unwrap_or_else(|| panic!("no address in {row}"))
        .to_string();
    println!("  status: {row}");

    // netd on host 1, the primary, holds the reservation (router: host 2's gateway) and the
    // lease; its files are read from its container there.
    let netd_file = |file: &str| {
        let out = fixture.hosts[0].docker_cli(&["cp", &format!("{lab}-netd:/netd/{file}"), "-"]);
        assert!(out.status.success(), "{}", common::show(&out));
        let mut tar = tar::Archive::new(&out.stdout[..]);
        let mut entry = tar
            .entries()
            .expect("a tar")
            .next()
            .expect("one file")
            .expect("an entry");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).expect("UTF-8");
        text
    };
    let config = netd_file("netd.json");
    let config: serde_json::Value = serde_json::from_str(&config).expect("netd's config is JSON");
    let reservation = config["reservations"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["ip"] == ip.as_str()))
        .unwrap_or_else(|| panic!("no reservation for {ip}: {config}"));
    // Host 2 is the second host of the spec: its gateway is .4.
    let gateway = "10.205.30.4";
    assert_eq!(
        reservation["router"]["via"], gateway,
        "the VM's router is its own host's gateway: {reservation}"
    );
    assert_eq!(config["mtu"], 1370, "netd hands out the segment's MTU");
    let leases = netd_file("leases.json");
    assert!(
        leases.contains(&ip),
        "netd on the primary leased {ip}: {leases}"
    );

    // This machine is not on the lab network (no address of it, no route into it): SSH to the
    // VM went through `hub relay` (netd's container on host 1).
    let addrs = Command::new("ip")
        .args(["-o", "-4", "addr"])
        .output()
        .expect("ip runs");
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    assert!(
        !addrs.contains(" 10.205.30."),
        "on the lab network: {addrs}"
    );
    let route = Command::new("ip")
        .args(["route", "get", &ip])
        .output()
        .expect("ip runs");
    let route = String::from_utf8_lossy(&route.stdout);
    assert!(!route.contains("br-"), "a route into the lab: {route}");

    // `hub check` reads the lease out of netd's volume on host 1.
    let held = check_result(st, &spec, "vm holds its lease");
    assert_eq!(held["passed"], true, "{held}");
    println!("  hub check: vm holds its lease: {}", held["detail"]);

    // In the guest: the lease's server, router and MTU, applied; `web` on host 3 by name.
    let check = "ip -o link show eth0; ip route show default; \
                 cat /var/lib/dhcp/dhclient*.leases 2>/dev/null | tail -n 20; \
                 getent hosts web; \
                 exec 3<>/dev/tcp/web/80 && printf 'GET / HTTP/1.0\\r\\nHost: web\\r\\n\\r\\n' >&3 && cat <&3";
    let out = common::hub(st, &["exec", "-c", &spec, "vm", "--", "bash", "-c", check]);
    let guest = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", common::show(&out));
    assert!(guest.contains("mtu 1370"), "the guest's MTU: {guest}");
    assert!(
        guest.contains(&format!("default via {gateway}")),
        "the guest's default route: {guest}"
    );
    assert!(
        guest.contains("option dhcp-server-identifier 10.205.30.2;")
            && guest.contains("option interface-mtu 1370;")
            && guest.contains(&format!("option routers {gateway};")),
        "the guest's lease came from netd (10.205.30.2) with option 26: {guest}"
    );
    assert!(
        guest.contains("hub-test busybox"),
        "the VM fetched web's page on host 3 by name: {guest}"
    );
    println!("  the guest: MTU 1370, default via {gateway}, lease from netd; fetched web by name");

    // `hub logs` says why it cannot read the console log.
    let logs = common::hub(st, &["logs", "-c", &spec, "vm"]);
    assert!(
        !logs.status.success()
            && String::from_utf8_lossy(&logs.stderr).contains("runs on a remote libvirt"),
        "{}",
        common::show(&logs)
    );

    let down = common::hub(st, &["down", "--lab", lab]);
    assert!(down.status.success(), "{}", common::show(&down));
    assert_nothing_left_anywhere(fixture, lab, st, "after down");
    let relays = Command::new("pgrep")
        .args(["-f", &format!("relay --lab-dir {}", st.join(lab).display())])
        .output()
        .expect("pgrep runs");
    assert!(
        String::from_utf8_lossy(&relays.stdout).trim().is_empty(),
        "hub relay processes left: {}",
        String::from_utf8_lossy(&relays.stdout)
    );
    let still = images(h2);
    assert_eq!(still, cached, "the base image stays cached on host 2");

    // A second `up` finds the image on host 2 and sends nothing; killed once the VM's volumes
    // exist (before its boot is waited for), then `down`: nothing of the lab left.
    let mut again = Command::new(common::HUB)
        .args(["up", "-c", &spec])
        .env("HUB_STATE_DIR", st)
        .env("HUB_BIN", common::HUB)
        .env_remove("HUB_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hub runs");
    let stderr = again.stderr.take().expect("piped");
    let said = Arc::new(Mutex::new(String::new()));
    let reader = {
        let said = said.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let mut s = said.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        })
    };
    let reused = format!("{VM_IMAGE} already on host {}", h2.name);
    common::wait_for(
        "the second up reuses the image and makes the VM's volumes",
        std::time::Duration::from_secs(120),
        || {
            said.lock().unwrap().contains(&reused)
                && Command::new("virsh")
                    .args(["-c", &h2.libvirt_uri, "vol-list", "--pool", &pool])
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("vm-seed.img"))
        },
    );
    // SIGKILL to the process this test started, by its id.
    again.kill().ok();
    again.wait().ok();
    reader.join().ok();
    let said = said.lock().unwrap().clone();
    assert!(
        !said.contains(&format!("uploaded {VM_IMAGE}")),
        "the second up sent the image again: {said}"
    );
    println!(
        "  second up: {}",
        line_with(&said, &reused).unwrap_or_default()
    );
    let down = common::hub(st, &["down", "--lab", lab]);
    assert!(down.status.success(), "{}", common::show(&down));
    assert!(
        String::from_utf8_lossy(&down.stderr)
            .contains(&format!("VM storage on host \"{}\"", h2.name))
            || String::from_utf8_lossy(&down.stdout).contains("VM storage"),
        "{}",
        common::show(&down)
    );
    assert_nothing_left_anywhere(fixture, lab, st, "after the killed up and down");
    assert_eq!(images(h2), cached, "the cache is unchanged");
}

/// The VPN client of lab `lab`, on the hosts' underlay, fetches the page of `web` (host 3),
/// `client` (host 1) and `two` (host 2) by name through the gateway on host 1 (bounded retries
/// while the tunnel comes up).
fn road_warrior_reaches_every_host(
    fixture: &Hosts,
    lab: &str,
    st: &std::path::Path,
    dir: &std::path::Path,
) {
    let conf = common::hub(st, &["vpn", "config", "--lab", lab, "laptop"]);
    assert!(conf.status.success(), "{}", common::show(&conf));
    let text = String::from_utf8_lossy(&conf.stdout).into_owned();
    let domain = format!("{lab}.lab");
    let endpoint = format!("Endpoint = {}:{VPN_PORT}", fixture.hosts[0].address);
    assert!(text.contains(&endpoint), "{endpoint} in {text}");
    // The client is a laptop on the hosts' LAN: .250 of the underlay.
    let o = fixture.hosts[0].address.octets();
    let address = format!("{}.{}.{}.250/24", o[0], o[1], o[2]);
    let vpn = common::remote::RemoteClient::on_bridge(
        "mwseg-ns",
        "vhubmw",
        hosts::UNDERLAY_BRIDGE,
        &address,
        &text,
        &domain,
        dir,
    );
    let page = vpn.fetch_until("http://web/", |p| p.contains("hub-test busybox"));
    assert!(
        page.contains("hub-test busybox"),
        "the VPN client fetched web on {} by name: {page:?}",
        fixture.hosts[2].name
    );
    for (name, h) in [("client", 0), ("two", 1)] {
        let o = vpn.try_exec(&["curl", "-s", "--max-time", "5", &format!("http://{name}/")]);
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("hub-test busybox"),
            "the VPN client fetched {name} on {} by name: {}",
            fixture.hosts[h].name,
            common::show(&o)
        );
    }
    println!("  a road-warrior client reached client, two and web on the three hosts");
}

/// Bad hosts through the `hub` binary: an unreachable host, a TLS folder of another CA, a VM
/// pinned to a host given `libvirt: none`, two hosts with one underlay address: each refused with an error naming the host, and nothing of
/// the lab left on this machine or any fixture host.
fn hub_up_refuses_bad_hosts_leaving_nothing(fixture: &Hosts, _rt: &Runtime) {
    let lab = "mwbad";
    let state = tempfile::tempdir().expect("state");
    let dir = tempfile::tempdir().expect("specs");
    let _guard = common::LabGuard {
        lab: lab.into(),
        state: state.path().to_path_buf(),
    };
    let st = state.path();
    let h3 = &fixture.hosts[2];
    let containers = [format!(
        "{{name: one, image: \"{BUSYBOX}\", cmd: [sleep, \"3600\"], host: {}}}",
        fixture.hosts[0].name
    )];
    let good = hub_spec(fixture, lab, &containers);
    let wrong_tls = dir.path().join("wrong-tls");
    std::fs::create_dir(&wrong_tls).unwrap();
    std::fs::copy(fixture.wrong_ca(), wrong_tls.join("ca.pem")).unwrap();
    for f in ["cert.pem", "key.pem"] {
        std::fs::copy(h3.cert_dir.join(f), wrong_tls.join(f)).unwrap();
    }
    // Unreachable: a port of host 3's own address where nothing listens (traffic stays on the
    // fixture's underlay; an address outside it would go wherever this machine routes).
    let closed = format!("tcp://{}:2399", h3.address);
    let cases = [
        (
            "unreachable",
            good.replace(&h3.docker_endpoint, &closed),
            format!("host {:?}", h3.name),
            closed.as_str(),
        ),
        (
            "wrong TLS folder",
            {
                // Host 3's `tls:` only (the hosts share one folder): the last one of the spec.
                let tls = format!("tls: {}", h3.cert_dir.display());
                let at = good.rfind(&tls).expect("host 3's tls");
                format!(
                    "{}tls: {}{}",
                    &good[..at],
                    wrong_tls.display(),
                    &good[at + tls.len()..]
                )
            },
            format!("host {:?}", h3.name),
            "UnknownIssuer",
        ),
        (
            "no host reached",
            good.replace(
                &format!("tls: {}", h3.cert_dir.display()),
                &format!("tls: {}", wrong_tls.display()),
            ),
            format!("host {:?} cannot be reached", fixture.hosts[0].name),
            "UnknownIssuer",
        ),
        (
            "a host with `libvirt: none` asked to run a VM",
            good.clone()
                + &format!(
                    "vms:\n  - {{name: v1, image: {VM_IMAGE}, host: {}}}\n",
                    h3.name
                ),
            format!("host \"{}\" has no libvirt to run a VM", h3.name),
            "give it `libvirt:`",
        ),
        (
            "one address twice",
            good.replace(
                &format!("address: {}", h3.address),
                &format!("address: {}", fixture.hosts[1].address),
            ),
            // A spec error: file, line and column of host 3's `address:`.
            "spec.yaml:18:14: hosts[2].address".to_string(),
            "each host has its own underlay address",
        ),
    ];
    for (what, yaml, names, says) in cases {
        assert_ne!(yaml, good, "{what}: the spec was changed");
        let spec = dir.path().join("spec.yaml");
        std::fs::write(&spec, yaml).unwrap();
        let out = common::hub(st, &["up", "-c", &spec.to_string_lossy()]);
        let err = String::from_utf8_lossy(&out.stderr);
        println!("  {what}: {}", err.lines().last().unwrap_or_default());
        assert_ne!(out.status.code(), Some(0), "{what}: {}", common::show(&out));
        assert!(
            err.contains(&names) && err.contains(says),
            "{what}: the error names {names} and says {says:?}: {}",
            common::show(&out)
        );
        assert_nothing_left_anywhere(fixture, lab, st, what);
    }
}

/// `hub up` of a lab over the hosts (with a VPN, host 1 the primary) SIGKILLed at three random
/// moments of its run (before the networks, around the segment, among the workloads, as it
/// falls), then `hub down --lab`: nothing left on this machine or any host, each time.
fn hub_up_killed_then_down_leaves_nothing(fixture: &Hosts, _rt: &Runtime) {
    let lab = "mwkill";
    let (state, dir, _guard) = cli_lab(lab);
    let st = state.path();
    let containers: Vec<String> = fixture
        .hosts
        .iter()
        .map(|h| {
            format!(
                "{{name: c-{}, image: \"{BUSYBOX}\", cmd: [sleep, \"3600\"], host: {}}}",
                h.name.trim_start_matches("hubmh-"),
                h.name
            )
        })
        .collect();
    let spec = dir.path().join("spec.yaml");
    // With a VPN: its gateway's container on host 1 must go too.
    let vpn =
        "wireguard:\n  subnet: 10.205.38.0/24\n  listen_port: 51937\n  peers: [{name: laptop}]\n";
    std::fs::write(&spec, hub_spec(fixture, lab, &containers) + vpn).unwrap();
    // Three random moments over the whole `up` (netd, the mesh, the gateway and the workloads
    // on three hosts take 4 to 7 s here), printed with each result.
    use rand::Rng as _;
    let mut rng = rand::rng();
    let moments: Vec<u64> = (0..3).map(|_| rng.random_range(300..7000)).collect();
    for ms in moments {
        let mut up = Command::new(common::HUB)
            .args(["up", "-c", &spec.to_string_lossy()])
            .env("HUB_STATE_DIR", st)
            .env("HUB_BIN", common::HUB)
            .env_remove("HUB_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("hub runs");
        std::thread::sleep(std::time::Duration::from_millis(ms));
        // SIGKILL to the process this test started, by its id.
        up.kill().ok();
        up.wait().ok();
        let down = common::hub(st, &["down", "--lab", lab]);
        assert!(
            down.status.success(),
            "killed at {ms} ms: {}",
            common::show(&down)
        );
        assert_nothing_left_anywhere(fixture, lab, st, &format!("killed at {ms} ms"));
        println!("  killed at {ms} ms: down left nothing");
    }
}

/// A lab over this machine (the primary) and fixture hosts 2 and 3 reached by `ssh://` only
/// (`docker system dial-stdio` through their sshd, host keys checked against a known_hosts
/// file given relative to the spec): the workloads' image is copied to both over SSH, a
/// container on host 2 fetches the page of `web` on host 3 by name across the mesh, and no ssh
/// process is left here or dial-stdio on the hosts once `hub` exits; the VPN's gateway, a
/// container on this machine (the primary), carries a road-warrior client to `web` on host 3,
/// and an unchanged re-up keeps it; `down` leaves nothing.
/// known_hosts without host 3's key, or with another key for it, is refused naming host 3 and
/// its endpoint, saying what to do, with nothing made anywhere and the file unchanged; a user
/// outside host 2's docker group gets the engine's refusal and advice. libvirt
/// over SSH with the fixture's files (`qemu+libssh://...?known_hosts=...`) answers, and refuses
/// a host whose key it does not hold.
fn hub_up_over_ssh_endpoints(fixture: &Hosts, _rt: &Runtime) {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    /// The ssh children of `hub` on this machine for `hosts` (their command line holds the
    /// hub's remote command and the host's address).
    fn ssh_children(hosts: &[&hosts::TestHost]) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains("hub-ssh-ready")
                && hosts
                    .iter()
                    .any(|h| cmd.contains(&format!(" {} ", h.address)))
            {
                found.push(cmd);
            }
        }
        found
    }
    /// Waits (bounded) until no ssh child of `hub` runs here and no dial-stdio on the hosts.
    fn no_ssh_left(hosts: &[&hosts::TestHost], when: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let here = ssh_children(hosts);
            let there: Vec<String> = hosts
                .iter()
                .map(|h| h.inspect_from_outside(&["pgrep", "-fa", "system dial-stdio"]))
                .filter(|p| !p.trim().is_empty())
                .collect();
            if here.is_empty() && there.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{when}: ssh left here {here:?}, dial-stdio left on the hosts {there:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    let lab = "mwssh";
    let image = "hubmh-ssh-busybox:1";
    let (state, dir, _guard) = cli_lab(lab);
    let st = state.path();
    let (h2, h3) = (&fixture.hosts[1], &fixture.hosts[2]);
    let ssh_hosts = [h2, h3];
    // The spec's SSH files, relative to its folder: the fixture's client key and known_hosts.
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::copy(h2.ssh_key(), keys.join("id")).unwrap();
    std::fs::set_permissions(keys.join("id"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let all_keys = std::fs::read_to_string(h2.known_hosts()).expect("the fixture's known_hosts");
    let key_of = |h: &hosts::TestHost| {
        all_keys
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&h.address.to_string()))
            .unwrap_or_else(|| panic!("no key of {} in {all_keys}", h.name))
            .to_string()
    };
    std::fs::write(keys.join("known_hosts"), &all_keys).unwrap();
    let spec_with = |known_hosts: &str| {
        let mut y = format!(
            "name: {lab}\nsubnet: 10.205.40.0/24\nhosts:\n  - name: local\n    libvirt: none\n    \
             address: {}\n",
            fixture.underlay_gateway()
        );
        for h in ssh_hosts {
            y.push_str(&format!(
                "  - name: {}\n    docker: {}\n    ssh_key: keys/id\n    known_hosts: \
                 keys/{known_hosts}\n    libvirt: none\n    address: {}\n",
                h.name, h.ssh_endpoint, h.address
            ));
        }
        // A VPN whose gateway is a container on this machine, the primary; its client is
        // routed here through a veth pair (this machine's end: the endpoint).
        y.push_str(
            "wireguard:\n  subnet: 10.205.49.0/24\n  listen_port: 51939\n  endpoint: \
             198.18.239.1\n  peers: [{name: laptop}]\n",
        );
        y.push_str(&format!(
            "mesh: {{port: 52330}}\ncontainers:\n  - {{name: client, image: \"{image}\", cmd: \
             [sleep, \"3600\"], host: {}}}\n  - {{name: web, image: \"{image}\", cmd: [httpd, -f, \
             -p, \"80\", -h, /www], host: {}}}\n",
            h2.name, h3.name
        ));
        y
    };
    let spec = dir.path().join("spec.yaml");
    let spec_arg = spec.to_string_lossy().into_owned();
    // An image no fixture host has: `up` copies it to both over SSH.
    let tagged = Command::new("docker")
        .args(["tag", BUSYBOX, image])
        .status()
        .expect("docker tag runs");
    assert!(tagged.success(), "docker tag {BUSYBOX} {image}");
    let untag = || {
        for h in ssh_hosts {
            h.docker_cli(&["rmi", image]);
        }
    };
    untag();

    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        std::fs::write(&spec, spec_with("known_hosts")).unwrap();
        let t = Instant::now();
        let up = common::hub(st, &["up", "-c", &spec_arg]);
        assert!(up.status.success(), "{}", common::show(&up));
        println!(
            "  hub up over this machine and 2 hosts by ssh://: {:.1?}",
            t.elapsed()
        );
        let said = String::from_utf8_lossy(&up.stderr);
        assert!(
            said.contains(&format!("copied {image} from another host")),
            "{}",
            common::show(&up)
        );
        no_ssh_left(&ssh_hosts, "after up");

        let status = common::hub(st, &["status", "-c", &spec_arg]);
        assert!(status.status.success(), "{}", common::show(&status));
        let text = String::from_utf8_lossy(&status.stdout);
        for (name, host) in [("client", h2), ("web", h3)] {
            let row = text
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("no row {name} in {text}"));
            assert!(
                row.contains("running") && row.split_whitespace().last() == Some(&*host.name),
                "{row}"
            );
        }
        // Host 2 reaches host 3 by name through netd's DNS on this machine, across the mesh.
        let page = exec_on(
            h2,
            &format!("{lab}-client"),
            &["wget", "-q", "-O", "-", "http://web/"],
        );
        assert!(
            String::from_utf8_lossy(&page.stdout).contains("hub-test busybox"),
            "the page of web on {} by name from {}: {}",
            h3.name,
            h2.name,
            common::show(&page)
        );
        no_ssh_left(&ssh_hosts, "after status");

        // The gateway's container on this machine: a client routed here fetches web on host 3
        // by name; an unchanged re-up keeps the gateway and its port (Docker's proxy to the
        // lab's .3 is the lab's own).
        let gateway = hub_mesh::gateway_container_name(lab);
        let id = |what: &str| {
            let o = Command::new("docker")
                .args(["inspect", "-f", "{{.Id}}", &gateway])
                .output()
                .expect("docker runs");
            assert!(o.status.success(), "{what}: {}", common::show(&o));
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        let first = id("after up");
        let conf = common::hub(st, &["vpn", "config", "--lab", lab, "laptop"]);
        assert!(conf.status.success(), "{}", common::show(&conf));
        let config = String::from_utf8_lossy(&conf.stdout).into_owned();
        assert!(config.contains("Endpoint = 198.18.239.1:51939"), "{config}");
        let vpn = common::remote::RemoteClient::start(
            "mwssh-ns",
            "vhubms",
            "198.18.239.1/30",
            "198.18.239.2/30",
            &config,
            &format!("{lab}.lab"),
            dir.path(),
        );
        let page = vpn.fetch_until("http://web/", |p| p.contains("hub-test busybox"));
        drop(vpn);
        assert!(
            page.contains("hub-test busybox"),
            "the VPN client fetched web on {} through this machine's gateway: {page:?}",
            h3.name
        );
        let again = common::hub(st, &["up", "-c", &spec_arg]);
        assert!(
            again.status.success() && String::from_utf8_lossy(&again.stdout).contains("no change"),
            "{}",
            common::show(&again)
        );
        assert_eq!(
            id("after the re-up"),
            first,
            "the re-up replaced the gateway"
        );
        println!("  a VPN client reached web on host 3 through the gateway on this machine");

        let t = Instant::now();
        let down = common::hub(st, &["down", "--lab", lab]);
        assert!(down.status.success(), "{}", common::show(&down));
        println!("  hub down over ssh://: {:.1?}", t.elapsed());
        assert_nothing_left_anywhere(fixture, lab, st, "after down");
        no_ssh_left(&ssh_hosts, "after down");

        // Host keys are checked, never accepted: host 3's key missing, then another key for it.
        let changed = key_of(h3).replace(
            key_of(h3).split_whitespace().nth(2).unwrap(),
            key_of(h2).split_whitespace().nth(2).unwrap(),
        );
        for (what, file, content, says) in [
            (
                "host 3's key unknown",
                "known_hosts_h2",
                format!("{}\n", key_of(h2)),
                format!("holds no key for {}", h3.address),
            ),
            (
                "host 3's key changed",
                "known_hosts_changed",
                format!("{}\n{changed}\n", key_of(h2)),
                "is not the one".to_string(),
            ),
        ] {
            std::fs::write(keys.join(file), &content).unwrap();
            std::fs::write(&spec, spec_with(file)).unwrap();
            let t = Instant::now();
            let out = common::hub(st, &["up", "-c", &spec_arg]);
            let err = String::from_utf8_lossy(&out.stderr);
            println!("  {what}: refused in {:.1?}: {}", t.elapsed(), err.trim());
            assert_ne!(out.status.code(), Some(0), "{what}: {}", common::show(&out));
            assert!(
                err.contains(&format!("host \"{}\" cannot be reached", h3.name))
                    && err.contains(&h3.ssh_endpoint)
                    && err.contains("Host key verification failed")
                    && err.contains(&says)
                    && err.contains("never accepts a host key")
                    && !err.contains(&format!("host \"{}\"", h2.name))
                    && err.contains("nothing was created"),
                "{what}: {}",
                common::show(&out)
            );
            assert_eq!(
                std::fs::read_to_string(keys.join(file)).unwrap(),
                content,
                "{what}: ssh changed the known_hosts file"
            );
            assert_nothing_left_anywhere(fixture, lab, st, what);
            no_ssh_left(&ssh_hosts, what);
        }

        // A user who may not use host 2's Docker socket gets through ssh, and the engine's
        // refusal comes back with advice.
        let made = h2.inspect_from_outside(&[
            "sh",
            "-c",
            "id nodock >/dev/null 2>&1 || useradd -m -p '*' -s /bin/sh nodock; \
             install -d -m 700 -o nodock /home/nodock/.ssh && \
             install -m 600 -o nodock /root/.ssh/authorized_keys /home/nodock/.ssh/ && echo made",
        ]);
        assert_eq!(made.trim(), "made", "a user without Docker on {}", h2.name);
        let nodock = h2.ssh_endpoint.replace("root@", "nodock@");
        std::fs::write(
            &spec,
            spec_with("known_hosts").replace(&h2.ssh_endpoint, &nodock),
        )
        .unwrap();
        let out = common::hub(st, &["up", "-c", &spec_arg]);
        let err = String::from_utf8_lossy(&out.stderr);
        println!("  a user outside the docker group: {}", err.trim());
        assert!(
            !out.status.success()
                && err.contains(&format!("host \"{}\" cannot be reached", h2.name))
                && err.contains(&nodock)
                && err.contains("closed the connection before answering")
                && err.contains("permission denied")
                && err.contains("docker group"),
            "{}",
            common::show(&out)
        );
        assert_nothing_left_anywhere(fixture, lab, st, "a user outside the docker group");
        no_ssh_left(&ssh_hosts, "a user outside the docker group");

        // libvirt over SSH (libvirt's own transport; the spec passes the URI to virsh): the
        // libssh transport checks the host key against the file its URI names.
        let virsh = |h: &hosts::TestHost, known_hosts: &std::path::Path| {
            let uri = format!(
                "qemu+libssh://root@{}/system?keyfile={}&known_hosts={}&known_hosts_verify=normal&sshauth=privkey",
                h.address,
                keys.join("id").display(),
                known_hosts.display()
            );
            Command::new("virsh")
                .args(["-c", &uri, "nodeinfo"])
                .stdin(Stdio::null())
                .output()
                .expect("virsh runs")
        };
        let ok = virsh(h2, &keys.join("known_hosts"));
        assert!(
            ok.status.success() && String::from_utf8_lossy(&ok.stdout).contains("CPU(s)"),
            "virsh over libssh: {}",
            common::show(&ok)
        );
        let unknown = virsh(h3, &keys.join("known_hosts_h2"));
        assert!(!unknown.status.success(), "{}", common::show(&unknown));
        println!(
            "  libvirt over ssh to a host of unknown key: {}",
            String::from_utf8_lossy(&unknown.stderr).trim()
        );
        assert_eq!(
            std::fs::read_to_string(keys.join("known_hosts_h2")).unwrap(),
            format!("{}\n", key_of(h2)),
            "libvirt changed the known_hosts file"
        );
    }));
    untag();
    Command::new("docker")
        .args(["rmi", image])
        .stdout(Stdio::null())
        .status()
        .ok();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}
