//! A real VM on a lab network served by netd: it gets its reserved address by DHCP, resolves
//! a container by name through netd's DNS and reaches it. netd runs as the hub runs it (an
//! image built from this package's `hub` binary, at `.2`), which is why this test lives here
//! and not in hub-libvirt (whose own tests boot a VM with a static address).
//!
//! Needs root, dockerd, libvirtd, `hub-test/busybox` and `/var/cache/hub-test/debian-12.qcow2`
//! (scripts/setup-host.sh). Lab `t-vm-dhcp` on 10.203.5.0/24; everything is removed on drop.

use hub_runtime::PhaseReporter;
use hub_runtime::wait::Deadline;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hub_core::libvirt::{LibvirtRuntime, SshTarget, ensure_lab_key, ssh_command};
use hub_docker::DockerRuntime;
use hub_docker::netd::{ensure_netd, read_leases};
use hub_net::AddrRange;
use hub_net::netd::{NetdConfig, Reservation};
use hub_runtime::{LabContext, NetworkInfo, Runtime, VirtType, VmSpec, WorkloadSpec, derive_mac};
use tokio_util::sync::CancellationToken;

const LAB: &str = "t-vm-dhcp";
const BASE_IMAGE: &str = "/var/cache/hub-test/debian-12.qcow2";
const BUSYBOX: &str = "hub-test/busybox:latest";

fn run(cmd: &str, args: &[&str]) -> (bool, String, String) {
    match Command::new(cmd).args(args).output() {
        Ok(o) => (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
            String::from_utf8_lossy(&o.stderr).trim().to_string(),
        ),
        Err(e) => (false, String::new(), format!("{cmd} could not be run: {e}")),
    }
}

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 203, 5, last)
}

/// Removes the lab's domain, containers and network; harmless when absent. Runs again on drop.
struct Cleanup;

impl Cleanup {
    fn run(&self) {
        let domain = format!("{LAB}-vm1");
        if run("virsh", &["-c", "qemu:///system", "domstate", &domain]).0 {
            run("virsh", &["-c", "qemu:///system", "destroy", &domain]);
            run("virsh", &["-c", "qemu:///system", "undefine", &domain]);
        }
        let (_, ids, _) = run(
            "docker",
            &["ps", "-aq", "--filter", &format!("label=io.hub.lab={LAB}")],
        );
        for id in ids.split_whitespace() {
            run("docker", &["rm", "-f", id]);
        }
        run("docker", &["network", "rm", LAB]);
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.run();
    }
}

fn ssh(dir: &Path, target: &SshTarget, cmd: &str) -> String {
    let out = ssh_command(dir, target, Some(cmd))
        .output()
        .expect("ssh runs");
    assert!(
        out.status.success(),
        "ssh {cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t_vm_gets_its_reserved_address_from_netd_and_reaches_a_container_by_name() {
    let (ok, _, err) = run(
        "virsh",
        &["-c", "qemu:///system", "list", "--all", "--name"],
    );
    assert!(
        ok,
        "libvirt does not answer ({err}); run scripts/setup-host.sh as root"
    );
    let (ok, _, err) = run("docker", &["image", "inspect", BUSYBOX]);
    assert!(
        ok,
        "image {BUSYBOX} is missing ({err}); run scripts/setup-host.sh"
    );
    assert!(
        Path::new(BASE_IMAGE).is_file(),
        "{BASE_IMAGE} is missing; run scripts/setup-host.sh"
    );
    let cleanup = Cleanup;
    cleanup.run();

    let (ok, id, err) = run(
        "docker",
        &[
            "network",
            "create",
            "--subnet",
            "10.203.5.0/24",
            "--gateway",
            "10.203.5.1",
            "--label",
            &format!("io.hub.lab={LAB}"),
            LAB,
        ],
    );
    assert!(ok, "docker network create: {err}");
    let (ok, _, err) = run(
        "docker",
        &[
            "run",
            "-d",
            "--name",
            &format!("{LAB}-web"),
            "--label",
            &format!("io.hub.lab={LAB}"),
            "--network",
            LAB,
            "--ip",
            "10.203.5.10",
            BUSYBOX,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ],
    );
    assert!(ok, "docker run web: {err}");

    // QEMU's user must reach the lab directory: tempdirs are 0700.
    let dir = tempfile::Builder::new()
        .prefix("t-vm-dhcp-")
        .tempdir_in("/var/tmp")
        .expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod");
    let domain = format!("{LAB}.lab");
    let mac = derive_mac(LAB, "vm1", 0).to_string();
    let mut config = NetdConfig::new(
        "10.203.5.0/24".parse().expect("subnet"),
        AddrRange::new(ip(200), ip(250)),
        &domain,
    );
    config.records = vec![hub_net::netd::DnsRecord {
        name: "web".into(),
        ip: ip(10),
    }];
    config.reservations = vec![Reservation {
        mac: mac.parse().expect("mac"),
        ip: ip(30),
        hostname: Some("vm1".into()),
        router: hub_net::netd::ClientRouter::Segment,
    }];
    let lab = LabContext {
        name: LAB.into(),
        dir: dir.path().to_path_buf(),
        network: NetworkInfo {
            bridge: format!("br-{}", &id[..12]),
            id: id.clone(),
            name: LAB.into(),
            subnet: config.subnet,
            gateway: config.router,
            owned: true,
        },
        dns: vec![config.server_ip],
        domain: domain.clone(),
        segments: Vec::new(),
    };
    let docker = DockerRuntime::connect().await.expect("connect to Docker");
    ensure_netd(
        &docker,
        &lab,
        &config,
        &PathBuf::from(env!("CARGO_BIN_EXE_hub")),
    )
    .await
    .expect("netd");

    let key = ensure_lab_key(&lab.dir, LAB).expect("lab key");
    let vm = VmSpec {
        name: "vm1".into(),
        image: BASE_IMAGE.into(),
        memory_mb: 1024,
        vcpus: 2,
        packages: Vec::new(),
        user: "hub".into(),
        ip: Some(ip(30)),
        static_ip: false,
        mac: mac.parse().expect("mac"),
        cloud_init: None,
        runcmd: vec!["echo dhcp-marker > /var/tmp/hub-marker".into()],
        files: Vec::new(),
        virt_type: VirtType::Auto,
        ssh_authorized_key: key.public_openssh,
        ssh_host_key_private: String::new(),
        ssh_host_key_public: String::new(),
        spec_hash: "t-vm-dhcp".into(),
        warm: false,
        networks: Vec::new(),
        ip_forward: false,
        default_route: None,
    };
    let rt = LibvirtRuntime::connect().await.expect("libvirt");
    let spec = WorkloadSpec::Vm(vm.clone());
    let h = rt.create(&lab, &spec).await.expect("create");
    let t = Instant::now();
    rt.start(&h).await.expect("start");
    let ready = rt
        .wait_ready_vm(
            &lab,
            &vm,
            &h,
            &Deadline::new(Duration::from_secs(300), &CancellationToken::new()),
            &PhaseReporter::none(),
        )
        .await;
    if let Err(e) = &ready {
        let (_, logs, _) = run("docker", &["logs", "--tail", "30", &format!("{LAB}-netd")]);
        panic!("VM not ready: {e}\n--- netd logs ---\n{logs}");
    }
    eprintln!(
        "DHCP VM: start to SSH-ready {:.1?} ({:?})",
        t.elapsed(),
        ready.unwrap_or_default()
    );

    let target = SshTarget {
        user: "hub".into(),
        addr: ip(30),
        proxy: None,
    };
    assert_eq!(
        ssh(dir.path(), &target, "cat /var/tmp/hub-marker"),
        "dhcp-marker"
    );
    // The address is a DHCP lease (dynamic), and netd recorded it for the VM's MAC.
    let addr = ssh(dir.path(), &target, "ip -4 -o addr show dev eth0");
    assert!(
        addr.contains("10.203.5.30/24") && addr.contains("dynamic"),
        "eth0: {addr}"
    );
    let leases = read_leases(&lab.dir).expect("leases");
    assert!(
        leases
            .iter()
            .any(|l| l.ip == ip(30) && l.mac.to_string() == mac),
        "netd leases: {leases:?}"
    );
    // netd's DNS resolves the container, and the VM reaches it by name.
    let resolved = ssh(dir.path(), &target, &format!("getent hosts web.{domain}"));
    assert!(resolved.starts_with("10.203.5.10 "), "getent: {resolved}");
    let page = ssh(
        dir.path(),
        &target,
        &format!(
            "exec 3<>/dev/tcp/web.{domain}/80 && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"
        ),
    );
    assert!(page.contains("hub-test busybox"), "HTTP by name: {page}");

    rt.stop(&h, Duration::from_secs(30)).await.expect("stop");
    rt.remove(&h).await.expect("remove");
    assert!(
        !run("virsh", &["-c", "qemu:///system", "domstate", &h.id]).0,
        "domain left behind"
    );
    assert!(!dir.path().join("vms/vm1").exists(), "VM files left behind");
}
