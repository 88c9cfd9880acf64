//! Bring up and remove N containers through hub-docker and, in the same run, through a plain
//! bollard loop at full parallelism (the baseline); prints the medians and their ratio. Both
//! have the same finish line: each container seen running by an inspect after its start
//! (what hub-docker's readiness wait checks for a container without a healthcheck).
//!
//! `cargo bench -p hub-benches --bench containers` (HUB_BENCH_REPS sets the repetitions, 5 by
//! default). Needs the Docker Engine and hub-test/busybox (scripts/setup-host.sh).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use hub_docker::DockerRuntime;
use hub_docker::bollard::Docker;
use hub_docker::bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, NetworkingConfig,
};
use hub_docker::bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, RemoveContainerOptionsBuilder,
    StartContainerOptions,
};
use hub_runtime::{
    ContainerSpec, LabContext, NetworkInfo, NetworkRuntime, NetworkSpec, Runtime, WorkloadSpec,
};
use tokio_util::sync::CancellationToken;

const IMAGE: &str = "hub-test/busybox:latest";

fn ip(net: &NetworkInfo, i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.subnet.network()) + 30 + i as u32)
}

/// One round through hub-docker: create + start + wait_ready for all, then remove all.
async fn hub_round(d: &DockerRuntime, lab: &LabContext, n: usize) -> (Duration, Duration) {
    let t0 = Instant::now();
    let ups = (0..n).map(|i| async move {
        let mut c = ContainerSpec::new(format!("c{i}"), IMAGE);
        c.cmd = vec!["sleep".into(), "600".into()];
        c.ip = Some(ip(&lab.network, i));
        let ws = WorkloadSpec::Container(c);
        let h = d.create(lab, &ws).await.expect("create");
        d.start(&h).await.expect("start");
        d.wait_ready(
            lab,
            &ws,
            &h,
            Duration::from_secs(60),
            CancellationToken::new(),
        )
        .await
        .expect("ready");
        h
    });
    let handles = futures::future::join_all(ups).await;
    let up = t0.elapsed();
    for r in futures::future::join_all(handles.iter().map(|h| d.remove(h))).await {
        r.expect("remove");
    }
    (up, t0.elapsed())
}

/// The same through bare bollard calls.
async fn bollard_round(
    docker: &Docker,
    net: &NetworkInfo,
    prefix: &str,
    n: usize,
) -> (Duration, Duration) {
    let t0 = Instant::now();
    let ups = (0..n).map(|i| async move {
        let name = format!("{prefix}-c{i}");
        let body = ContainerCreateBody {
            image: Some(IMAGE.into()),
            cmd: Some(vec!["sleep".into(), "600".into()]),
            host_config: Some(HostConfig {
                network_mode: Some(net.name.clone()),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    net.name.clone(),
                    EndpointSettings {
                        ipam_config: Some(EndpointIpamConfig {
                            ipv4_address: Some(ip(net, i).to_string()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::new().name(&name).build();
        let id = docker
            .create_container(Some(opts), body)
            .await
            .expect("create")
            .id;
        docker
            .start_container(&id, None::<StartContainerOptions>)
            .await
            .expect("start");
        // The same finish line as the hub's readiness wait: an inspect says it runs.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let i = docker
                .inspect_container(&id, None::<InspectContainerOptions>)
                .await
                .expect("inspect");
            if i.state.and_then(|s| s.running) == Some(true) {
                break;
            }
            assert!(Instant::now() < deadline, "{name} never ran");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        id
    });
    let ids = futures::future::join_all(ups).await;
    let up = t0.elapsed();
    let rm = ids.iter().map(|id| {
        let opts = RemoveContainerOptionsBuilder::new().force(true).build();
        docker.remove_container(id, Some(opts))
    });
    for r in futures::future::join_all(rm).await {
        r.expect("remove");
    }
    (up, t0.elapsed())
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn network(d: &DockerRuntime, lab: &str, subnet: &str) -> NetworkInfo {
    let subnet: ipnet::Ipv4Net = subnet.parse().expect("subnet");
    d.remove_lab(lab).await.expect("clean before");
    d.ensure_network(&NetworkSpec {
        lab: lab.into(),
        name: format!("{lab}-net"),
        subnet,
        gateway: Ipv4Addr::from(u32::from(subnet.network()) + 1),
        attach_to: None,
        labels: Default::default(),
        mtu: None,
    })
    .await
    .expect("bench network")
}

async fn run() {
    let reps: usize = std::env::var("HUB_BENCH_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let d = DockerRuntime::connect()
        .await
        .expect("Docker Engine (run scripts/setup-host.sh)");
    let plain = Docker::connect_with_local_defaults()
        .expect("docker client")
        .negotiate_version()
        .await
        .expect("negotiate");
    // Both loops get a network of their own, made outside the timings; the baseline's carries
    // the lab label too so that cleanup finds it.
    let hub_lab = "t-dk-bench-hub";
    let base_lab = "t-dk-bench-base";
    let hub_net = network(&d, hub_lab, "10.201.250.0/24").await;
    let base_net = network(&d, base_lab, "10.201.251.0/24").await;
    let ctx = LabContext {
        name: hub_lab.into(),
        dir: std::env::temp_dir().join(hub_lab),
        network: hub_net.clone(),
        dns: Vec::new(),
        domain: format!("{hub_lab}.lab"),
        segments: Vec::new(),
    };
    // Warm up both paths (image metadata, first connections).
    hub_round(&d, &ctx, 2).await;
    bollard_round(&plain, &base_net, base_lab, 2).await;

    println!(
        "containers: create + start + seen running (hub: wait_ready; bollard: inspect until \
         running) then remove, all in parallel; median of {reps}"
    );
    println!(
        "{:>3} {:>12} {:>12} {:>14} {:>14} {:>7} {:>7}",
        "N", "hub up ms", "bollard up", "hub total ms", "bollard total", "up x", "total x"
    );
    for n in [1usize, 10, 20] {
        let (mut hu, mut ht, mut bu, mut bt) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in 0..reps {
            // Alternate which goes first, so neither always runs on a warmer engine.
            let (h, b) = if r % 2 == 0 {
                let h = hub_round(&d, &ctx, n).await;
                (h, bollard_round(&plain, &base_net, base_lab, n).await)
            } else {
                let b = bollard_round(&plain, &base_net, base_lab, n).await;
                (hub_round(&d, &ctx, n).await, b)
            };
            hu.push(h.0);
            ht.push(h.1);
            bu.push(b.0);
            bt.push(b.1);
        }
        let (hu, ht, bu, bt) = (
            median(&mut hu),
            median(&mut ht),
            median(&mut bu),
            median(&mut bt),
        );
        println!(
            "{n:>3} {:>12.1} {:>12.1} {:>14.1} {:>14.1} {:>7.3} {:>7.3}",
            ms(hu),
            ms(bu),
            ms(ht),
            ms(bt),
            ms(hu) / ms(bu),
            ms(ht) / ms(bt)
        );
    }
    d.remove_lab(hub_lab).await.expect("clean hub lab");
    d.remove_lab(base_lab).await.expect("clean baseline lab");
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run());
}
