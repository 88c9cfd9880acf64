//! Real VMs on libvirt/QEMU (TCG here): one Debian 12 VM booted with cloud-init on a Docker
//! bridge, plus cheap tests that define domains without booting them.
//!
//! Needs root, libvirtd, dockerd, the image `hub-test/busybox` and the VM image
//! `/var/cache/hub-test/debian-12.qcow2` (all made by `scripts/setup-host.sh`); a test fails
//! with a message saying so when one is missing. Names start with `t-vm-`, subnets are in
//! 10.203.0.0/16.

use hub_runtime::wait::Deadline;
use hub_runtime::{PhaseReporter, ReadyPhase};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hub_libvirt::{
    LibvirtRuntime, SshTarget, ensure_lab_key, generate_ed25519, pin_host_key, ssh_command,
};
use hub_runtime::{
    ContainerSpec, LabContext, NetworkInfo, Runtime, RuntimeError, VirtType, VmSpec, WorkloadSpec,
    WorkloadState, derive_mac,
};
use tokio_util::sync::CancellationToken;

const BASE_IMAGE: &str = "/var/cache/hub-test/debian-12.qcow2";
const URI: &str = "qemu:///system";

fn run(cmd: &mut Command) -> (bool, String, String) {
    match cmd.output() {
        Ok(o) => (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
            String::from_utf8_lossy(&o.stderr).trim().to_string(),
        ),
        Err(e) => (false, String::new(), format!("could not run {cmd:?}: {e}")),
    }
}

fn virsh(args: &[&str]) -> (bool, String, String) {
    run(Command::new("virsh")
        .arg("-q")
        .arg("-c")
        .arg(URI)
        .args(args))
}

fn docker(args: &[&str]) -> (bool, String, String) {
    run(Command::new("docker").args(args))
}

/// Fails (never skips) with what to do when the host is not prepared.
fn require_host() {
    let (ok, _, err) = virsh(&["list", "--all", "--name"]);
    assert!(
        ok,
        "libvirt does not answer on {URI} ({err}); run scripts/setup-host.sh as root"
    );
    let (ok, _, err) = docker(&["version", "--format", "{{.Server.Version}}"]);
    assert!(
        ok,
        "dockerd does not answer ({err}); run scripts/setup-host.sh as root"
    );
    assert!(
        Path::new(BASE_IMAGE).is_file(),
        "the VM test image {BASE_IMAGE} is missing; run scripts/setup-host.sh (step 35-vm-image)"
    );
}

/// sha256sum of a file (the system tool: the test profile builds sha2 without optimisation, and
/// the base image is half a gigabyte).
fn sha256(path: &str) -> String {
    let (ok, out, err) = run(Command::new("sha256sum").arg(path));
    assert!(ok, "sha256sum {path}: {err}");
    out.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn domain_exists(name: &str) -> bool {
    virsh(&["domstate", name]).0
}

/// Removes the test's domains, containers and network, now and again when dropped (even when
/// the test panics).
struct Cleanup {
    domains: Vec<String>,
    containers: Vec<String>,
    network: Option<String>,
}

impl Cleanup {
    fn run(&self) {
        for d in &self.domains {
            if domain_exists(d) {
                let _ = virsh(&["destroy", d]);
                let _ = virsh(&["undefine", d]);
            }
        }
        for c in &self.containers {
            let _ = docker(&["rm", "-f", c]);
        }
        if let Some(n) = &self.network {
            let _ = docker(&["network", "rm", n]);
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.run();
    }
}

/// A lab directory QEMU's unprivileged user can reach (tempdirs are 0700).
fn lab_dir(name: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir_in("/var/tmp")
        .expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod");
    dir
}

fn lab(name: &str, dir: &Path, bridge: &str, subnet: &str) -> LabContext {
    let subnet: ipnet::Ipv4Net = subnet.parse().expect("subnet");
    let gateway = subnet.hosts().next().expect("gateway");
    LabContext {
        name: name.to_string(),
        dir: dir.to_path_buf(),
        network: NetworkInfo {
            id: format!("{name}-net"),
            name: format!("{name}-net"),
            bridge: bridge.to_string(),
            subnet,
            gateway,
            owned: true,
        },
        dns: Vec::new(),
        domain: format!("{name}.lab"),
        segments: Vec::new(),
    }
}

fn vm_spec(lab: &LabContext, name: &str, ip: Option<Ipv4Addr>) -> VmSpec {
    let key = ensure_lab_key(&lab.dir, &lab.name).expect("lab key");
    VmSpec {
        name: name.to_string(),
        image: PathBuf::from(BASE_IMAGE),
        memory_mb: 1024,
        vcpus: 2,
        packages: Vec::new(),
        user: "hub".into(),
        ip,
        static_ip: ip.is_some(),
        mac: derive_mac(&lab.name, name, 0),
        cloud_init: None,
        runcmd: Vec::new(),
        files: Vec::new(),
        virt_type: VirtType::Auto,
        ssh_authorized_key: key.public_openssh,
        // Left empty: the runtime makes (and keeps) the host key in the lab directory.
        ssh_host_key_private: String::new(),
        ssh_host_key_public: String::new(),
        spec_hash: format!("hash-of-{name}"),
        warm: false,
        networks: Vec::new(),
        ip_forward: false,
        default_route: None,
    }
}

fn files_of(dir: &Path, vm: &str) -> Vec<PathBuf> {
    let d = dir.join("vms").join(vm);
    std::fs::read_dir(&d)
        .map(|it| it.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// The full path: a VM boots from the test image on a Docker bridge with a static address,
/// runs cloud-init, answers SSH with the pinned host key, reaches a container; the base image is
/// untouched and nothing is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t_vm_boots_with_cloud_init_answers_ssh_and_reaches_a_container() {
    require_host();
    let lab_name = "t-vm-boot";
    let net = "t-vm-boot-net";
    let web = "t-vm-boot-web";
    let domain = format!("{lab_name}-vm1");
    let cleanup = Cleanup {
        domains: vec![domain.clone()],
        containers: vec![web.into()],
        network: Some(net.into()),
    };
    cleanup.run();

    let base_before = sha256(BASE_IMAGE);
    let (ok, id, err) = docker(&[
        "network",
        "create",
        "--subnet",
        "10.203.1.0/24",
        "--gateway",
        "10.203.1.1",
        net,
    ]);
    assert!(ok, "docker network create: {err}");
    let bridge = format!("br-{}", &id[..12]);
    let (ok, _, err) = docker(&[
        "run",
        "-d",
        "--name",
        web,
        "--network",
        net,
        "--ip",
        "10.203.1.10",
        "hub-test/busybox:latest",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    assert!(
        ok,
        "docker run hub-test/busybox (built by scripts/setup-host.sh): {err}"
    );

    let dir = lab_dir(lab_name);
    let lab = lab(lab_name, dir.path(), &bridge, "10.203.1.0/24");
    let ip = Ipv4Addr::new(10, 203, 1, 30);
    let mut vm = vm_spec(&lab, "vm1", Some(ip));
    vm.runcmd = vec!["echo \"marker-$(hostname)\" > /var/tmp/hub-marker".into()];
    let rt = LibvirtRuntime::connect().await.expect("libvirt answers");

    let t0 = Instant::now();
    let (handle, created) = rt.create_vm(&lab, &vm).await.expect("create");
    let t_created = t0.elapsed();
    assert_eq!(handle.id, domain);
    let seed = dir.path().join("vms/vm1/seed.img");
    assert_eq!(
        std::fs::metadata(&seed).expect("seed").permissions().mode() & 0o777,
        0o600
    );
    let t1 = Instant::now();
    rt.start(&handle).await.expect("start");
    let t_started = t1.elapsed();
    let t2 = Instant::now();
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = told.clone();
    let reporter = PhaseReporter::new(move |phase: ReadyPhase, after| {
        sink.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((phase, after));
    });
    let ready = rt
        .wait_ready_vm(
            &lab,
            &vm,
            &handle,
            &Deadline::new(Duration::from_secs(300), &CancellationToken::new()),
            &reporter,
        )
        .await;
    let t_ready = t2.elapsed();
    if let Err(e) = &ready {
        panic!("VM not ready: {e}");
    }
    let ready = ready.unwrap_or_default();
    eprintln!(
        "vm boot phases: hub work (create) {:.0?} [prepare {:.0?}, overlay {:.0?}, seed {:.0?}, xml {:.0?}, \
         define {:.0?}]; virsh start {:.0?}; guest: address {:.0?}, ssh {:.1?}, cloud-init done {:.1?}; \
         start to SSH-ready {:.1?}",
        t_created,
        created.prepare,
        created.overlay,
        created.seed,
        created.xml,
        created.define,
        t_started,
        ready.address,
        ready.ssh,
        ready.cloud_init,
        t_started + t_ready,
    );
    // The boot phases were told as they passed, in order, each once: the firmware (the domain
    // runs), the kernel (its lines on the serial console), the lease (the guest answers from
    // its address), SSH, and cloud-init still running after SSH answered.
    let told = told.lock().unwrap_or_else(|e| e.into_inner()).clone();
    eprintln!("told phases: {told:?}");
    let names: Vec<String> = told.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(
        names[..4],
        ["firmware", "kernel", "lease 10.203.1.30", "SSH"],
        "{told:?}"
    );
    assert!(
        told.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
        "{told:?}"
    );
    assert_eq!(told[3].1, ready.ssh, "SSH is told when it is reached");

    // cloud-init ran the runcmd; ssh reads its marker, checking the pinned host key.
    let target = SshTarget {
        user: "hub".into(),
        addr: ip,
        proxy: None,
    };
    let (ok, out, err) = run(&mut ssh_command(
        dir.path(),
        &target,
        Some("cat /var/tmp/hub-marker"),
    ));
    assert!(ok, "ssh cat marker: {err}");
    assert_eq!(out, "marker-vm1");
    let (ok, out, err) = run(&mut rt
        .ssh_command(&handle, Some("hostname"))
        .await
        .expect("ssh via the runtime"));
    assert!(ok && out == "vm1", "hostname over ssh: {out:?} {err}");

    // The same ssh with another key pinned for the address is refused.
    let wrong = lab_dir("t-vm-boot-wrong");
    let key = hub_libvirt::lab_key_path(dir.path());
    let wrong_key = hub_libvirt::lab_key_path(wrong.path());
    std::fs::create_dir_all(wrong_key.parent().expect("key folder")).expect("mkdir");
    std::fs::copy(&key, &wrong_key).expect("copy key");
    let other = generate_ed25519("impostor").expect("key");
    pin_host_key(wrong.path(), ip, &other.public_openssh).expect("pin");
    let (ok, _, err) = run(&mut ssh_command(wrong.path(), &target, Some("true")));
    assert!(
        !ok && err.contains("Host key verification failed"),
        "ssh with the wrong host key pinned: ok={ok} {err}"
    );

    // The VM reaches the container by address (bash's /dev/tcp: the image has no wget).
    let get =
        "exec 3<>/dev/tcp/10.203.1.10/80 && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3";
    let out = rt
        .exec(&lab, &handle, &["bash".into(), "-c".into(), get.into()])
        .await
        .expect("exec");
    assert_eq!(out.exit_code, 0, "{out:?}");
    assert!(out.stdout.contains("hub-test busybox"), "{out:?}");

    // Status, listing and the console log, all from libvirt.
    let status = rt.inspect(&handle).await.expect("inspect");
    assert_eq!(status.state, WorkloadState::Running);
    assert_eq!(status.ip, Some(ip));
    assert_eq!(status.mac, Some(vm.mac));
    let listed = rt.list(lab_name).await.expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|s| s.handle.name.as_str())
            .collect::<Vec<_>>(),
        ["vm1"]
    );
    let logs = rt.logs(&lab, &handle, 400).await.expect("logs");
    assert!(logs.contains("Cloud-init v."), "console log: {logs}");

    let t3 = Instant::now();
    rt.stop(&handle, Duration::from_secs(60))
        .await
        .expect("stop");
    eprintln!("vm stop (ACPI shutdown): {:.1?}", t3.elapsed());
    assert_eq!(
        rt.inspect(&handle).await.expect("inspect").state,
        WorkloadState::Stopped
    );
    rt.remove(&handle).await.expect("remove");

    assert!(!domain_exists(&domain), "domain {domain} left behind");
    assert!(
        files_of(dir.path(), "vm1").is_empty(),
        "files left: {:?}",
        files_of(dir.path(), "vm1")
    );
    assert!(!dir.path().join("vms/vm1").exists());
    let known = std::fs::read_to_string(dir.path().join("ssh/known_hosts")).unwrap_or_default();
    assert!(
        !known.contains("10.203.1.30"),
        "known_hosts still pins the VM: {known}"
    );
    rt.remove(&handle)
        .await
        .expect("removing twice is harmless");
    assert_eq!(
        sha256(BASE_IMAGE),
        base_before,
        "the base image was written to"
    );
}

/// Define, list, inspect and remove without booting: the domain carries the hub's metadata,
/// foreign domains are left alone, a taken name is refused, nothing is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t_vm_defines_lists_and_removes_without_booting() {
    require_host();
    let lab_name = "t-vm-def";
    let foreign = "t-vm-def-foreign";
    let cleanup = Cleanup {
        domains: vec![
            format!("{lab_name}-a"),
            format!("{lab_name}-b"),
            foreign.to_string(),
        ],
        containers: Vec::new(),
        network: None,
    };
    cleanup.run();
    let dir = lab_dir(lab_name);
    let lab = lab(lab_name, dir.path(), "br-t-vm-none", "10.203.2.0/24");
    let rt = LibvirtRuntime::connect().await.expect("libvirt answers");

    // A domain with the lab's prefix but no hub metadata.
    let xml = dir.path().join("foreign.xml");
    std::fs::write(
        &xml,
        format!("<domain type='qemu'><name>{foreign}</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>"),
    )
    .expect("write");
    let (ok, _, err) = virsh(&["define", &xml.to_string_lossy()]);
    assert!(ok, "define the foreign domain: {err}");

    let a = vm_spec(&lab, "a", Some(Ipv4Addr::new(10, 203, 2, 30)));
    let mut b = vm_spec(&lab, "b", None);
    b.static_ip = false;
    let ha = rt
        .create(&lab, &WorkloadSpec::Vm(a.clone()))
        .await
        .expect("create a");
    let hb = rt
        .create(&lab, &WorkloadSpec::Vm(b.clone()))
        .await
        .expect("create b");

    let (ok, dumped, err) = virsh(&["dumpxml", &ha.id]);
    assert!(ok, "{err}");
    assert!(dumped.contains("<cpu mode='maximum'"), "{dumped}");
    assert!(dumped.contains(hub_runtime::labels::LIBVIRT_NS), "{dumped}");
    assert!(dumped.contains("type='qemu'"), "{dumped}");

    let mut names: Vec<String> = rt
        .list(lab_name)
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.handle.name)
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
    let st = rt.inspect(&ha).await.expect("inspect");
    assert_eq!(st.state, WorkloadState::Created);
    assert_eq!(st.spec_hash.as_deref(), Some("hash-of-a"));
    assert_eq!(st.ip, Some(Ipv4Addr::new(10, 203, 2, 30)));

    // Readiness of a VM that is not running fails at once, saying so; a cancelled wait says
    // that; the console of a VM that never ran is empty; stopping it is harmless.
    // A timeout longer than any test run: a wait that missed the domain's state would end
    // in `Timeout` (or hang, bounded here), not in `WorkloadFailed`.
    let spec_a = WorkloadSpec::Vm(a.clone());
    let err = tokio::time::timeout(
        Duration::from_secs(120),
        rt.wait_ready(
            &lab,
            &spec_a,
            &ha,
            Duration::from_secs(24 * 3600),
            CancellationToken::new(),
        ),
    )
    .await
    .expect("it waited instead of failing at once")
    .unwrap_err();
    assert!(matches!(err, RuntimeError::WorkloadFailed { .. }), "{err}");
    assert!(err.to_string().contains("not running"), "{err}");
    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = rt
        .wait_ready(&lab, &spec_a, &ha, Duration::from_secs(30), cancel)
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::Cancelled { .. }), "{err}");
    assert_eq!(rt.logs(&lab, &ha, 10).await.expect("logs"), "");
    rt.stop(&ha, Duration::from_secs(1))
        .await
        .expect("stop a VM that does not run");

    let again = rt
        .create(&lab, &WorkloadSpec::Vm(a.clone()))
        .await
        .unwrap_err();
    assert!(matches!(again, RuntimeError::NameTaken { .. }), "{again}");
    let mut foreign_handle = ha.clone();
    foreign_handle.id = foreign.to_string();
    let refused = rt.remove(&foreign_handle).await.unwrap_err();
    assert!(
        matches!(refused, RuntimeError::NameTaken { .. }),
        "{refused}"
    );
    assert!(domain_exists(foreign), "a foreign domain was removed");

    for h in [&ha, &hb] {
        let mut files: Vec<String> = files_of(dir.path(), &h.name)
            .iter()
            .map(|p| {
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        files.sort();
        assert_eq!(files, ["disk.qcow2", "seed.img"], "files of {}", h.name);
        rt.remove(h).await.expect("remove");
        assert!(!domain_exists(&h.id));
        assert!(!dir.path().join("vms").join(&h.name).exists());
    }
    assert!(rt.list(lab_name).await.expect("list").is_empty());
    drop(cleanup);
    assert!(!domain_exists(foreign));
}

/// Bad specs are refused with errors naming the problem, leaving no domain and no files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t_vm_bad_specs_leave_nothing_behind() {
    require_host();
    let lab_name = "t-vm-bad";
    let cleanup = Cleanup {
        domains: vec![format!("{lab_name}-vm1")],
        containers: Vec::new(),
        network: None,
    };
    cleanup.run();
    let dir = lab_dir(lab_name);
    let lab = lab(lab_name, dir.path(), "br-t-vm-none", "10.203.3.0/24");
    let rt = LibvirtRuntime::connect().await.expect("libvirt answers");

    let mut vm = vm_spec(&lab, "vm1", Some(Ipv4Addr::new(10, 203, 3, 30)));
    vm.image = dir.path().join("no-such-image.qcow2");
    let err = rt.create(&lab, &WorkloadSpec::Vm(vm)).await.unwrap_err();
    assert!(
        matches!(err, RuntimeError::ImageUnavailable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("no-such-image.qcow2"), "{err}");

    let mut vm = vm_spec(&lab, "vm1", Some(Ipv4Addr::new(10, 99, 0, 30)));
    let err = rt
        .create(&lab, &WorkloadSpec::Vm(vm.clone()))
        .await
        .unwrap_err();
    let chain = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(|s| s.to_string())
            .unwrap_or_default()
    );
    assert!(
        chain.contains("is outside the subnet 10.203.3.0/24"),
        "{chain}"
    );

    vm.ip = Some(Ipv4Addr::new(10, 203, 3, 30));
    vm.mac = "01:00:5e:00:00:01".parse().unwrap();
    let err = rt
        .create(&lab, &WorkloadSpec::Vm(vm.clone()))
        .await
        .unwrap_err();
    let chain = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(|s| s.to_string())
            .unwrap_or_default()
    );
    assert!(chain.contains("multicast"), "{chain}");

    vm.mac = derive_mac(lab_name, "vm1", 0);
    vm.name = "Bad_Name".into();
    assert!(rt.create(&lab, &WorkloadSpec::Vm(vm)).await.is_err());

    let err = rt
        .create(&lab, &WorkloadSpec::Container(ContainerSpec::new("c", "x")))
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::Unsupported { .. }), "{err}");

    assert!(!domain_exists(&format!("{lab_name}-vm1")));
    assert!(files_of(dir.path(), "vm1").is_empty());
}
