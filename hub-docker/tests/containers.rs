//! Containers on the real Docker Engine: twenty at once answering HTTP, labels, conflicts,
//! readiness, exec, logs, limits, images.

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::registry::Registry;
use common::{BUSYBOX, Cleanup, docker, http_from, httpd, lab_ctx, network, sleeper, up};
use hub_docker::DockerRuntime;
use hub_docker::bollard::query_parameters::InspectContainerOptions;
use hub_net::{AddressPlan, IpAllocator, IpPool};
use hub_runtime::{
    ContainerSpec, Healthcheck, LabContext, Mount, Resources, RestartPolicy, Runtime, RuntimeError,
    RuntimeResult, WorkloadHandle, WorkloadSpec, WorkloadState, labels,
};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread")]
async fn t_dk_twenty_containers_in_parallel_answer_http() {
    let d = docker().await;
    let lab = "t-dk-twenty";
    let _guard = Cleanup::new(lab).await;
    let info = network(&d, lab, "10.201.2.0/24").await;
    let ctx = lab_ctx(lab, info.clone());

    // Ten static addresses, ten allocated by the pool from the plan's static range.
    let plan = AddressPlan::new(info.subnet).expect("plan");
    let pool = IpPool::for_plan(&plan);
    let statics: Vec<Ipv4Addr> = (100..110).map(|i| Ipv4Addr::new(10, 201, 2, i)).collect();
    for ip in &statics {
        plan.check_static(*ip)
            .expect("static address fits the plan");
        pool.reserve(*ip).expect("reserve");
    }
    let mut specs = Vec::new();
    for (i, ip) in statics.iter().enumerate() {
        specs.push(httpd(&format!("static{i}"), Some(*ip)));
    }
    for i in 0..10 {
        specs.push(httpd(
            &format!("alloc{i}"),
            Some(pool.allocate().expect("allocate")),
        ));
    }
    let client_ip = pool.allocate().expect("allocate client");

    let ups = specs.iter().cloned().map(|s| up(&d, &ctx, s));
    let handles: Vec<_> = futures::future::join_all(ups)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("all 20 up");
    assert_eq!(handles.len(), 20);
    let client = up(&d, &ctx, sleeper("client", Some(client_ip)))
        .await
        .expect("client up");

    let ips: Vec<Ipv4Addr> = specs.iter().map(|s| s.ip.expect("ip")).collect();
    let answers = http_from(&d, &ctx, &client, &ips).await;
    assert_eq!(answers.len(), 20, "{answers:?}");
    for (spec, (ip, body)) in specs.iter().zip(&answers) {
        assert_eq!(Some(*ip), spec.ip);
        assert_eq!(body, &format!("hello from {}", spec.name), "at {ip}");
    }

    // Labels, addresses, and only the lab network.
    let listed = d.list(lab).await.expect("list");
    assert_eq!(listed.len(), 21);
    for spec in &specs {
        let st = listed
            .iter()
            .find(|s| s.handle.name == spec.name)
            .expect("listed");
        assert_eq!(st.state, WorkloadState::Running);
        assert_eq!(st.ip, spec.ip);
        assert_eq!(st.spec_hash.as_deref(), Some(spec.spec_hash.as_str()));
        assert_eq!(st.role.map(|r| r.as_str()), Some("container"));
    }
    let i = d
        .client()
        .inspect_container(&handles[0].id, None::<InspectContainerOptions>)
        .await
        .expect("inspect");
    let l = i.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(l.get(labels::LAB).map(String::as_str), Some(lab));
    assert_eq!(l.get(labels::WORKLOAD).map(String::as_str), Some("static0"));
    assert_eq!(i.name.as_deref(), Some("/t-dk-twenty-static0"));
    let nets: Vec<String> = i
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_keys()
        .collect();
    assert_eq!(nets, vec![info.name.clone()], "on the lab network only");

    assert_eq!(d.remove_lab(lab).await.expect("remove lab"), 21);
    assert!(
        d.list(lab).await.expect("list").is_empty(),
        "no container left"
    );
    assert!(
        hub_runtime::NetworkRuntime::find_network(&d, lab)
            .await
            .expect("find")
            .is_none(),
        "no network left"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn t_dk_name_and_address_conflicts_are_clear() {
    let d = docker().await;
    let lab = "t-dk-conflict";
    let _guard = Cleanup::new(lab).await;
    let ctx = lab_ctx(lab, network(&d, lab, "10.201.3.0/24").await);
    let ip: Ipv4Addr = "10.201.3.40".parse().unwrap();
    up(&d, &ctx, sleeper("web", Some(ip)))
        .await
        .expect("first web");

    let err = d
        .create(&ctx, &WorkloadSpec::Container(sleeper("web", None)))
        .await
        .expect_err("name taken");
    assert!(
        matches!(
            err,
            RuntimeError::NameTaken {
                what: "container",
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(lab) && text.contains("t-dk-conflict-web"),
        "{text}"
    );

    let other = d
        .create(&ctx, &WorkloadSpec::Container(sleeper("other", Some(ip))))
        .await
        .expect("create");
    let err = d.start(&other).await.expect_err("address in use");
    match &err {
        RuntimeError::AddressInUse {
            workload,
            address,
            lab: l,
        } => {
            assert_eq!(
                (workload.as_str(), *address, l.as_str()),
                ("other", ip, lab)
            );
        }
        e => panic!("expected AddressInUse, got {e:?}"),
    }
    assert!(err.to_string().contains("10.201.3.40"), "{err}");

    // A fixed MAC is the container's MAC. Not of Docker's own 02:42:<IP> form, which Docker
    // would pick by itself for this address and so would prove nothing.
    let mut m = sleeper("mac", Some("10.201.3.41".parse().unwrap()));
    m.mac = Some("52:54:00:c9:03:29".parse().unwrap());
    let h = up(&d, &ctx, m).await.expect("mac container");
    assert_eq!(
        d.inspect(&h)
            .await
            .expect("inspect")
            .mac
            .map(|m| m.to_string())
            .as_deref(),
        Some("52:54:00:c9:03:29")
    );
    let out = d
        .exec(
            &ctx,
            &h,
            &["cat".into(), "/sys/class/net/eth0/address".into()],
        )
        .await
        .expect("exec");
    assert_eq!(out.stdout.trim(), "52:54:00:c9:03:29");
}

/// Waits for a container to be ready, without cancellation.
async fn wait(
    d: &DockerRuntime,
    ctx: &LabContext,
    ws: &WorkloadSpec,
    h: &WorkloadHandle,
    timeout: Duration,
) -> RuntimeResult<()> {
    d.wait_ready(ctx, ws, h, timeout, CancellationToken::new())
        .await
}

fn health(test: &[&str], interval: Duration, retries: u32) -> Healthcheck {
    Healthcheck {
        test: test.iter().map(|s| s.to_string()).collect(),
        interval,
        timeout: Duration::from_secs(2),
        retries,
        start_period: Duration::ZERO,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn t_dk_readiness_waits_for_health_and_fails_early() {
    let d = docker().await;
    let lab = "t-dk-ready";
    let _guard = Cleanup::new(lab).await;
    let ctx = lab_ctx(lab, network(&d, lab, "10.201.6.0/24").await);
    let start = |spec: ContainerSpec| {
        let d = d.clone();
        let ctx = ctx.clone();
        async move {
            let ws = WorkloadSpec::Container(spec);
            let h = d.create(&ctx, &ws).await.expect("create");
            d.start(&h).await.expect("start");
            (ws, h)
        }
    };

    // Becomes healthy after a second.
    let mut s = ContainerSpec::new("healthy", BUSYBOX);
    s.cmd = vec![
        "sh".into(),
        "-c".into(),
        "sleep 1; touch /tmp/ok; exec sleep 600".into(),
    ];
    // Enough retries that the first second of failed checks does not make it unhealthy.
    s.healthcheck = Some(health(
        &["test", "-f", "/tmp/ok"],
        Duration::from_millis(200),
        15,
    ));
    let (ws, h) = start(s).await;
    wait(&d, &ctx, &ws, &h, Duration::from_secs(30))
        .await
        .expect("healthy");
    assert_eq!(
        d.inspect(&h).await.expect("inspect").state,
        WorkloadState::Running
    );
    // A timeout too long for the clock to add means no deadline, not a panic.
    wait(&d, &ctx, &ws, &h, Duration::MAX)
        .await
        .expect("ready, with a timeout that does not fit the clock");

    // Exits while its healthcheck is still starting: fails early with the exit code and log.
    let mut s = ContainerSpec::new("exits", BUSYBOX);
    s.cmd = vec![
        "sh".into(),
        "-c".into(),
        "echo boom-line; sleep 0.5; exit 3".into(),
    ];
    s.healthcheck = Some(health(&["true"], Duration::from_secs(60), 3));
    let (ws, h) = start(s).await;
    let err = wait(&d, &ctx, &ws, &h, Duration::from_secs(30))
        .await
        .expect_err("exits");
    let text = err.to_string();
    assert!(
        matches!(err, RuntimeError::WorkloadFailed { .. }),
        "{err:?}"
    );
    assert!(
        text.contains("exit code 3") && text.contains("boom-line") && text.contains("\"exits\""),
        "{text}"
    );
    let st = d.inspect(&h).await.expect("inspect");
    assert_eq!((st.state, st.exit_code), (WorkloadState::Stopped, Some(3)));

    // Already exited when the wait begins (no healthcheck): fails with the exit code.
    let mut s = ContainerSpec::new("gone", BUSYBOX);
    s.cmd = vec!["sh".into(), "-c".into(), "exit 4".into()];
    let (ws, h) = start(s).await;
    for _ in 0..100 {
        if d.inspect(&h).await.expect("inspect").state == WorkloadState::Stopped {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let err = wait(&d, &ctx, &ws, &h, Duration::from_secs(30))
        .await
        .expect_err("exited");
    assert!(err.to_string().contains("exit code 4"), "{err}");

    // Unhealthy: fails with the check's output.
    let mut s = sleeper("sick", None);
    s.healthcheck = Some(health(
        &["sh", "-c", "echo sick-check; exit 1"],
        Duration::from_millis(200),
        1,
    ));
    let (ws, h) = start(s).await;
    let err = wait(&d, &ctx, &ws, &h, Duration::from_secs(30))
        .await
        .expect_err("unhealthy");
    assert!(
        err.to_string().contains("unhealthy") && err.to_string().contains("sick-check"),
        "{err}"
    );

    // Never healthy in time: times out, saying what it saw.
    let mut s = sleeper("slow", None);
    s.healthcheck = Some(health(&["true"], Duration::from_secs(60), 3));
    let (ws, h) = start(s).await;
    let err = wait(&d, &ctx, &ws, &h, Duration::from_millis(800))
        .await
        .expect_err("timeout");
    assert!(matches!(err, RuntimeError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("starting"), "{err}");

    // Cancelled while waiting.
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c2.cancel();
    });
    let err = d
        .wait_ready(&ctx, &ws, &h, Duration::from_secs(60), cancel)
        .await
        .expect_err("cancelled");
    assert!(matches!(err, RuntimeError::Cancelled { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn t_dk_exec_logs_limits_dns_mounts_stop_remove() {
    let d = docker().await;
    let lab = "t-dk-ops";
    let _guard = Cleanup::new(lab).await;
    let mut ctx = lab_ctx(lab, network(&d, lab, "10.201.7.0/24").await);
    ctx.dns = vec!["10.201.7.2".parse().unwrap()];

    let dir = std::env::temp_dir().join(format!("t-dk-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("hello.txt"), "mounted-content\n").expect("write");

    let mut s = ContainerSpec::new("box", BUSYBOX);
    s.cmd = vec![
        "sh".into(),
        "-c".into(),
        "for i in 1 2 3 4 5; do echo line$i; done; exec sleep 600".into(),
    ];
    s.env.insert("FOO".into(), "bar".into());
    s.labels.insert("team".into(), "qa".into());
    s.resources = Resources {
        cpus: Some(0.5),
        memory_mb: Some(64),
    };
    s.restart = RestartPolicy::UnlessStopped;
    s.cap_add = vec!["NET_ADMIN".into()];
    s.mounts = vec![Mount {
        source: dir.clone(),
        target: "/mnt/data".into(),
        read_only: true,
    }];
    let h = up(&d, &ctx, s).await.expect("up");

    let sh = |c: &str| vec!["sh".to_string(), "-c".to_string(), c.to_string()];
    let out = d
        .exec(&ctx, &h, &sh("echo out; echo err >&2; exit 7"))
        .await
        .expect("exec");
    assert_eq!(
        (out.exit_code, out.stdout.as_str(), out.stderr.as_str()),
        (7, "out\n", "err\n")
    );
    assert_eq!(
        d.exec(&ctx, &h, &sh("echo $FOO"))
            .await
            .expect("env")
            .stdout,
        "bar\n"
    );
    assert_eq!(
        d.exec(&ctx, &h, &sh("cat /mnt/data/hello.txt"))
            .await
            .expect("mount")
            .stdout,
        "mounted-content\n"
    );
    let ro = d
        .exec(&ctx, &h, &sh("touch /mnt/data/x"))
        .await
        .expect("ro");
    assert_ne!(ro.exit_code, 0, "the mount is read-only");
    let resolv = d
        .exec(&ctx, &h, &sh("cat /etc/resolv.conf"))
        .await
        .expect("resolv")
        .stdout;
    assert!(resolv.contains("t-dk-ops.lab"), "{resolv}");

    // Logs: the last lines only (wait for the loop to have printed).
    let mut logs = String::new();
    for _ in 0..50 {
        logs = d.logs(&ctx, &h, 2).await.expect("logs");
        if logs.contains("line5") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(logs, "line4\nline5\n");

    let i = d
        .client()
        .inspect_container(&h.id, None::<InspectContainerOptions>)
        .await
        .expect("inspect");
    let hc = i.host_config.expect("host config");
    assert_eq!(hc.nano_cpus, Some(500_000_000));
    assert_eq!(hc.memory, Some(64 * 1024 * 1024));
    assert_eq!(hc.cap_add, Some(vec!["NET_ADMIN".to_string()]));
    assert_eq!(hc.dns, Some(vec!["10.201.7.2".to_string()]));
    assert_eq!(
        hc.restart_policy
            .and_then(|r| r.name)
            .map(|n| n.to_string())
            .as_deref(),
        Some("unless-stopped")
    );
    let l = i.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(l.get("team").map(String::as_str), Some("qa"));

    d.stop(&h, Duration::from_secs(1)).await.expect("stop");
    let st = d.inspect(&h).await.expect("inspect stopped");
    assert_eq!(st.state, WorkloadState::Stopped);
    assert!(st.exit_code.is_some());
    d.stop(&h, Duration::from_secs(1))
        .await
        .expect("stopping again is fine");

    d.remove(&h).await.expect("remove");
    let err = d.inspect(&h).await.expect_err("gone");
    assert!(matches!(err, RuntimeError::NotFound { .. }), "{err:?}");
    d.remove(&h).await.expect("removing again is fine");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn t_dk_missing_image_is_a_clear_error() {
    // A registry of the test's own that has no image: the pull fails, and reaches nothing else.
    let registry = Registry::start(None);
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let d = docker()
        .await
        .with_pull_progress(Arc::new(move |_p| {
            seen.fetch_add(1, Ordering::Relaxed);
        }))
        .with_pull_idle_timeout(Duration::from_secs(10));
    let lab = "t-dk-image";
    let _guard = Cleanup::new(lab).await;
    let ctx = lab_ctx(lab, network(&d, lab, "10.201.8.0/24").await);
    let image = format!("{}/hub-test/t-dk-no-such-image:1", registry.host);
    let spec = WorkloadSpec::Container(ContainerSpec::new("ghost", &image));
    let err = d.create(&ctx, &spec).await.expect_err("no such image");
    match &err {
        RuntimeError::ImageUnavailable {
            image: i, workload, ..
        } => {
            assert_eq!((i.as_str(), workload.as_str()), (image.as_str(), "ghost"));
        }
        e => panic!("expected ImageUnavailable, got {e:?}"),
    }
    assert!(err.to_string().contains(&image), "{err}");
    // Nothing was downloaded: no layer progress was reported.
    assert_eq!(
        calls.load(Ordering::Relaxed),
        0,
        "progress of a failed pull"
    );
    assert!(
        d.list(lab).await.expect("list").is_empty(),
        "nothing half-made"
    );
    assert!(d.image_exists(BUSYBOX).await.expect("exists"));
    assert!(!d.image_exists(&image).await.expect("exists"));
}

#[tokio::test(flavor = "multi_thread")]
async fn t_dk_a_pull_reports_its_progress() {
    let registry = Registry::start(Some(("hub-test/t-dk-pulled", "1")));
    let image = format!("{}/hub-test/t-dk-pulled:1", registry.host);
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = events.clone();
    let d = docker()
        .await
        .with_pull_progress(Arc::new(move |p| {
            seen.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(p.clone());
        }))
        .with_pull_idle_timeout(Duration::from_secs(10));
    let mut guard = Cleanup::new("t-dk-pull").await;
    guard.image(&image).await;
    d.ensure_image("t-dk-pull", "puller", &image)
        .await
        .expect("pull from the test's registry");
    assert!(d.image_exists(&image).await.expect("exists"));
    let shared = events;
    let events = shared.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(!events.is_empty(), "no progress reported");
    assert!(events.iter().all(|p| p.image == image), "{events:?}");
    // Per-layer messages, the layer finished, and at least one with byte counts.
    let layer_done = events
        .iter()
        .any(|p| p.layer.is_some() && p.status == "Pull complete");
    assert!(layer_done, "{events:?}");
    assert!(
        events
            .iter()
            .any(|p| p.total.is_some_and(|t| t > 0) && p.current.is_some()),
        "no byte counts: {events:?}"
    );
    // A second ensure finds it local: no pull, no progress.
    d.ensure_image("t-dk-pull", "puller", &image)
        .await
        .expect("local");
    assert_eq!(
        shared.lock().unwrap_or_else(|e| e.into_inner()).len(),
        events.len(),
        "a local image was pulled again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn t_dk_import_image_from_tar() {
    let d = docker().await;
    let lab = "t-dk-import";
    let image = "hub-test/t-dk-import:v1";
    let mut guard = Cleanup::new(lab).await;
    guard.image(image).await;
    let ctx = lab_ctx(lab, network(&d, lab, "10.201.9.0/24").await);

    let root = std::env::temp_dir().join(format!("t-dk-import-{}", std::process::id()));
    std::fs::create_dir_all(root.join("bin")).expect("root");
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static is installed");
    std::fs::write(root.join("hello.txt"), "imported\n").expect("write");
    let tar = std::process::Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["-c", "."])
        .output()
        .expect("tar");
    let _ = std::fs::remove_dir_all(&root);
    assert!(tar.status.success());

    let changes = vec![
        r#"CMD ["/bin/busybox", "sleep", "600"]"#.to_string(),
        "LABEL io.hub.recipe=t-dk".to_string(),
    ];
    let id = d
        .import_image_from_tar(tar.stdout.into(), image, &changes)
        .await
        .expect("import");
    assert!(id.starts_with("sha256:"), "{id}");
    let img = d
        .client()
        .inspect_image(image)
        .await
        .expect("inspect image");
    let labels = img.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(
        labels.get("io.hub.recipe").map(String::as_str),
        Some("t-dk")
    );

    let h = up(&d, &ctx, ContainerSpec::new("imported", image))
        .await
        .expect("run the imported image");
    let out = d
        .exec(
            &ctx,
            &h,
            &["/bin/busybox".into(), "cat".into(), "/hello.txt".into()],
        )
        .await
        .expect("exec");
    assert_eq!(out.stdout, "imported\n");
}
