//! How long a VM takes from nothing to SSH-ready, and how much of it is the hub's own work.
//!
//! `cargo bench -p hub-benches --bench vm_boot` (as root, after scripts/setup-host.sh).
//!
//! 1. The hub's work, each step repeated (median of `HUB_BENCH_ITERS`, default 10), beside two
//!    baselines measured in the same run: spawning `true` and the cheapest libvirt round trip
//!    (`virsh list`).
//! 2. Real boots, one after the other (`HUB_BENCH_BOOT_SAMPLES`, default 3; skip with
//!    `HUB_BENCH_BOOT=0`): create, `virsh start`, then the guest's phases (SSH, cloud-init), on
//!    a Docker bridge in 10.203.9.0/24; each step's median with its spread (min - max).
//! 3. Warm start beside cold (skip with `HUB_BENCH_WARM=0`): a warm VM's first start (cold
//!    boot, then its snapshot saved) and `HUB_BENCH_WARM_REPS` restores of it (default 5), each
//!    create to SSH-ready, on 10.203.10.0/24; `HUB_BENCH_WARM_VMS=3` does it with 3 VMs at
//!    once, as a lab's `up` brings them.

use hub_runtime::PhaseReporter;
use hub_runtime::wait::Deadline;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hub_libvirt::domain::{DomainConfig, domain_xml};
use hub_libvirt::overlay::{create_overlay, image_format};
use hub_libvirt::seed::{render_seed, seed_image};
use hub_libvirt::{DomainType, LibvirtRuntime, ensure_host_key, ensure_lab_key};
use hub_runtime::{LabContext, NetworkInfo, Runtime, VirtType, VmSpec, derive_mac};
use tokio_util::sync::CancellationToken;

const BASE_IMAGE: &str = "/var/cache/hub-test/debian-12.qcow2";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn time_n<F, Fut>(n: usize, mut f: F) -> Duration
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        f(i).await;
        v.push(t.elapsed());
    }
    median(v)
}

fn sh(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn lab(name: &str, dir: &Path, bridge: &str, subnet: &str) -> LabContext {
    let subnet: ipnet::Ipv4Net = subnet.parse().expect("subnet");
    LabContext {
        name: name.into(),
        dir: dir.to_path_buf(),
        network: NetworkInfo {
            id: name.into(),
            name: name.into(),
            bridge: bridge.into(),
            subnet,
            gateway: subnet.hosts().next().expect("gateway"),
            owned: true,
        },
        dns: Vec::new(),
        domain: format!("{name}.lab"),
        segments: Vec::new(),
    }
}

fn vm(lab: &LabContext, name: &str, ip: Ipv4Addr) -> VmSpec {
    let key = ensure_lab_key(&lab.dir, &lab.name).expect("lab key");
    let host = ensure_host_key(&lab.dir, name).expect("host key");
    VmSpec {
        name: name.into(),
        image: PathBuf::from(BASE_IMAGE),
        memory_mb: 1024,
        vcpus: 2,
        packages: Vec::new(),
        user: "hub".into(),
        ip: Some(ip),
        static_ip: true,
        mac: derive_mac(&lab.name, name, 0),
        cloud_init: None,
        runcmd: vec!["true".into()],
        files: Vec::new(),
        virt_type: VirtType::Auto,
        ssh_authorized_key: key.public_openssh,
        ssh_host_key_private: host.private_openssh,
        ssh_host_key_public: host.public_openssh,
        spec_hash: "bench".into(),
        warm: false,
        networks: Vec::new(),
        ip_forward: false,
        default_route: None,
    }
}

fn lab_dir() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("t-vm-bench-")
        .tempdir_in("/var/tmp")
        .expect("temp dir");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod");
    d
}

async fn hub_work(iters: usize) {
    let dir = lab_dir();
    let lab = lab("t-vm-bench", dir.path(), "br-t-vm-bench", "10.203.8.0/24");
    let spec = vm(&lab, "vm1", Ipv4Addr::new(10, 203, 8, 30));
    let rt = LibvirtRuntime::new();
    let base = Path::new(BASE_IMAGE);

    let spawn = time_n(iters, |_| async {
        tokio::process::Command::new("true")
            .status()
            .await
            .expect("true");
    })
    .await;
    let virsh_list = time_n(iters, |_| async {
        let out = tokio::process::Command::new("virsh")
            .args(["-q", "-c", "qemu:///system", "list", "--all", "--name"])
            .output()
            .await
            .expect("virsh");
        assert!(
            out.status.success(),
            "libvirt does not answer; run scripts/setup-host.sh"
        );
    })
    .await;
    let xml = time_n(iters, |i| {
        let cfg = DomainConfig {
            name: format!("t-vm-bench-{i}"),
            lab: lab.name.clone(),
            workload: "vm1".into(),
            lab_dir: lab.dir.clone(),
            spec_hash: "bench".into(),
            domain_type: DomainType::Qemu,
            memory_mib: 1024,
            vcpus: 2,
            overlay: dir.path().join("disk.qcow2"),
            seed: dir.path().join("seed.img"),
            console_log: dir.path().join("console.log"),
            nics: vec![hub_libvirt::domain::Nic {
                bridge: "br-t-vm-bench".into(),
                mac: spec.mac.to_string(),
            }],
            user: "hub".into(),
            ip: spec.ip,
            static_ip: true,
            uuid: hub_libvirt::domain_uuid(&lab.name, &format!("vm{i}")),
            boot: Default::default(),
            firmware_console: hub_libvirt::virt::firmware_console_available(),
            pool: None,
        };
        async move {
            std::hint::black_box(domain_xml(&cfg).expect("xml"));
        }
    })
    .await;
    let seed = time_n(iters, |_| async {
        let files = render_seed(&lab, &spec).expect("seed files");
        std::hint::black_box(seed_image("vm1", &files, 1).expect("seed image"));
    })
    .await;
    let format = image_format(base)
        .await
        .expect("base image (run scripts/setup-host.sh)");
    let overlay = time_n(iters, |i| {
        let path = dir.path().join(format!("o{i}.qcow2"));
        let format = format.clone();
        async move {
            create_overlay(base, &format, &path).await.expect("overlay");
        }
    })
    .await;
    let mut phases = Vec::new();
    let mut rounds = Vec::new();
    for _ in 0..iters {
        let t = Instant::now();
        let (h, p) = rt.create_vm(&lab, &spec).await.expect("create");
        rt.remove(&h).await.expect("remove");
        rounds.push(t.elapsed());
        phases.push(p);
    }
    let create_remove = median(rounds);
    let define = median(phases.iter().map(|p| p.define).collect());
    let create = median(phases.iter().map(|p| p.total()).collect());
    // How fast a VM that does not run is reported: the readiness wait on a domain that was
    // never started (its timeout a day long) until it fails.
    let mut stopped = Vec::new();
    for _ in 0..iters {
        let (h, _) = rt.create_vm(&lab, &spec).await.expect("create");
        let t = Instant::now();
        let r = rt
            .wait_ready_vm(
                &lab,
                &spec,
                &h,
                &Deadline::new(Duration::from_secs(24 * 3600), &CancellationToken::new()),
                &PhaseReporter::none(),
            )
            .await;
        stopped.push(t.elapsed());
        rt.remove(&h).await.expect("remove");
        assert!(
            matches!(r, Err(hub_runtime::RuntimeError::WorkloadFailed { .. })),
            "a VM that never started must fail its wait: {r:?}"
        );
    }
    let stopped = median(stopped);

    println!("hub work per VM (median of {iters}):");
    println!("  baseline: spawn `true`            {spawn:>10.2?}");
    println!("  baseline: virsh list round trip   {virsh_list:>10.2?}");
    println!("  domain XML (in-process)           {xml:>10.2?}");
    println!("  NoCloud seed, vfat (in-process)   {seed:>10.2?}");
    println!("  qcow2 overlay (qemu-img create)   {overlay:>10.2?}");
    println!("  virsh define                      {define:>10.2?}");
    println!("  create_vm total                   {create:>10.2?}");
    println!("  create_vm + remove                {create_remove:>10.2?}");
    println!("  a stopped VM's wait fails after   {stopped:>10.2?}  (baseline: virsh list above)");
}

/// The median and the spread (min-max) of `v`, for a table cell.
fn spread(v: &[Duration]) -> String {
    let mut v = v.to_vec();
    v.sort();
    format!(
        "{:>10.2?}  ({:.2?} - {:.2?})",
        v[v.len() / 2],
        v[0],
        v[v.len() - 1]
    )
}

/// `samples` real boots of the same VM, one after the other: each from nothing (create,
/// `virsh start`) to ready, then removed.
async fn boots(samples: usize) {
    let net = "t-vm-bench-net";
    let _ = Command::new("docker").args(["network", "rm", net]).output();
    let id =
        sh(Command::new("docker").args(["network", "create", "--subnet", "10.203.9.0/24", net]));
    let dir = lab_dir();
    let lab = lab(
        "t-vm-bboot",
        dir.path(),
        &format!("br-{}", &id[..12]),
        "10.203.9.0/24",
    );
    let spec = vm(&lab, "vm1", Ipv4Addr::new(10, 203, 9, 30));
    let rt = LibvirtRuntime::new();
    let (mut create, mut define, mut start) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ssh, mut cloud_init, mut total, mut share) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..samples {
        let _ = Command::new("virsh")
            .args(["-c", "qemu:///system", "destroy", "t-vm-bboot-vm1"])
            .output();
        let _ = Command::new("virsh")
            .args(["-c", "qemu:///system", "undefine", "t-vm-bboot-vm1"])
            .output();
        let t = Instant::now();
        let (h, created) = rt.create_vm(&lab, &spec).await.expect("create");
        let t_create = t.elapsed();
        let t = Instant::now();
        rt.start(&h).await.expect("start");
        let t_start = t.elapsed();
        let ready = rt
            .wait_ready_vm(
                &lab,
                &spec,
                &h,
                &Deadline::new(Duration::from_secs(600), &CancellationToken::new()),
                &PhaseReporter::none(),
            )
            .await;
        let _ = rt.stop(&h, Duration::from_secs(1)).await;
        let _ = rt.remove(&h).await;
        let ready = match ready {
            Ok(r) => r,
            Err(e) => {
                let _ = Command::new("docker").args(["network", "rm", net]).output();
                panic!("VM ready: {e}");
            }
        };
        let all = t_create + t_start + ready.cloud_init;
        create.push(t_create);
        define.push(created.define);
        start.push(t_start);
        ssh.push(ready.ssh);
        cloud_init.push(ready.cloud_init);
        total.push(all);
        share.push(100.0 * (t_create + t_start).as_secs_f64() / all.as_secs_f64());
    }
    let _ = Command::new("docker").args(["network", "rm", net]).output();
    share.sort_by(f64::total_cmp);
    println!(
        "{samples} boot(s) (Debian 12, 1024 MiB, 2 vCPUs, TCG), one after the other: median (min - max)"
    );
    println!("  hub: create_vm                    {}", spread(&create));
    println!("    of which virsh define           {}", spread(&define));
    println!("  hub: virsh start                  {}", spread(&start));
    println!("  guest: SSH answers, after start   {}", spread(&ssh));
    println!(
        "  guest: cloud-init done (ready)    {}",
        spread(&cloud_init)
    );
    println!("  nothing to SSH-ready              {}", spread(&total));
    println!(
        "  hub's own work                    {:>9.1}%  ({:.1}% - {:.1}%)",
        share[share.len() / 2],
        share[0],
        share[share.len() - 1]
    );
}

/// One VM from nothing to SSH-ready: create, start, wait (the readiness wait of a warm VM that
/// booted cold includes saving its snapshot).
/// One VM from nothing to SSH-ready: the total, how it booted, and where the time went
/// (create, which restores a warm VM; then start to SSH answering; then to ready).
async fn up_to_ready(
    rt: &LibvirtRuntime,
    lab: &LabContext,
    spec: &VmSpec,
) -> (Duration, String, [Duration; 3]) {
    let t = Instant::now();
    let (h, _) = rt.create_vm(lab, spec).await.expect("create");
    let created = t.elapsed();
    rt.start(&h).await.expect("start");
    let ready = rt
        .wait_ready_vm(
            lab,
            spec,
            &h,
            &Deadline::new(Duration::from_secs(900), &CancellationToken::new()),
            &PhaseReporter::none(),
        )
        .await;
    let took = t.elapsed();
    let boot = rt
        .inspect(&h)
        .await
        .ok()
        .and_then(|s| s.boot)
        .unwrap_or_default();
    let _ = rt.remove(&h).await;
    let ready = ready.expect("VM ready");
    let waited = took - created;
    (took, boot, [created, waited.min(ready.ssh), waited])
}

/// Cold boot beside warm restores of the same VM, in one run: the first `up` of a warm VM boots
/// cold and saves its snapshot; the next ones restore it (`HUB_BENCH_WARM_REPS`, default 5).
async fn warm_vs_cold() {
    let net = "t-vm-bench-warm";
    let _ = Command::new("docker").args(["network", "rm", net]).output();
    let id =
        sh(Command::new("docker").args(["network", "create", "--subnet", "10.203.10.0/24", net]));
    let dir = lab_dir();
    let cache_dir = dir.path().join("warm-cache");
    let lab = lab(
        "t-vm-bwarm",
        dir.path(),
        &format!("br-{}", &id[..12]),
        "10.203.10.0/24",
    );
    let n_vms: u8 = std::env::var("HUB_BENCH_WARM_VMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1u8)
        .clamp(1, 8);
    let specs: Vec<VmSpec> = (0..n_vms)
        .map(|i| {
            let mut s = vm(
                &lab,
                &format!("vm{}", i + 1),
                Ipv4Addr::new(10, 203, 10, 30 + i),
            );
            s.warm = true;
            s
        })
        .collect();
    let rt = LibvirtRuntime::new().with_warm_cache(hub_libvirt::WarmCache::new(&cache_dir));
    let reps: usize = std::env::var("HUB_BENCH_WARM_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    // All VMs at once, as `up` brings them; the time is the slowest one's, to SSH-ready (each
    // VM's removal after it, in `up_to_ready`, is not counted).
    let all = || async {
        let boots =
            futures::future::join_all(specs.iter().map(|s| up_to_ready(&rt, &lab, s))).await;
        // The slowest VM's parts.
        let parts = boots.iter().map(|b| b.2).max().unwrap_or_default();
        (
            boots.iter().map(|b| b.0).max().unwrap_or_default(),
            boots.into_iter().map(|(_, b, _)| b).collect::<Vec<_>>(),
            parts,
        )
    };
    let (cold, cold_boots, _) = all().await;
    let cold_boot = cold_boots.join("; ");
    let entry = rt.warm_cache().list().expect("cache").into_iter().next();
    let mut warm = Vec::new();
    let mut parts = Vec::new();
    for _ in 0..reps {
        let (t, boots, p) = all().await;
        parts.push(p);
        assert!(
            boots.iter().all(|b| b == "restored from warm snapshot"),
            "a warm round booted cold: {boots:?}"
        );
        warm.push(t);
    }
    let _ = Command::new("docker").args(["network", "rm", net]).output();
    warm.sort();
    let med = warm[warm.len() / 2];
    println!(
        "warm vs cold, {n_vms} VM(s) at once (Debian 12, 1024 MiB, 2 vCPUs each, TCG), create to SSH-ready:"
    );
    println!("  cold (then saved)                 {cold:>10.2?}  ({cold_boot})");
    if let Some(e) = entry {
        println!(
            "  snapshot: save {:.2?}, entry {:.0} MiB",
            e.save_time,
            e.size as f64 / (1u64 << 20) as f64
        );
    }
    println!(
        "  warm, median of {reps}               {med:>10.2?}  (min {:.2?}, max {:.2?})",
        warm[0],
        warm[warm.len() - 1]
    );
    let part = |i: usize| median(parts.iter().map(|p: &[Duration; 3]| p[i]).collect());
    println!(
        "    of which create + restore        {:>10.2?}; then SSH answers after {:.2?}, ready after {:.2?} (medians, slowest VM)",
        part(0),
        part(1),
        part(2)
    );
    println!(
        "  cold / warm                       {:>10.1}x",
        cold.as_secs_f64() / med.as_secs_f64()
    );
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let iters = std::env::var("HUB_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10usize)
        .max(1);
    rt.block_on(hub_work(iters));
    if std::env::var("HUB_BENCH_BOOT").as_deref() != Ok("0") {
        let samples = std::env::var("HUB_BENCH_BOOT_SAMPLES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3usize)
            .max(1);
        rt.block_on(boots(samples));
    }
    if std::env::var("HUB_BENCH_WARM").as_deref() != Ok("0") {
        rt.block_on(warm_vs_cold());
    }
}
