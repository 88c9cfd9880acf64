//! The lab network on the real Docker Engine: create, reuse, attach, refuse overlaps; and the
//! errors when no daemon answers.

mod common;

use std::path::Path;

use common::{Cleanup, docker, lab_ctx, net_spec, sleeper, up};
use hub_docker::bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use hub_docker::bollard::query_parameters::InspectNetworkOptions;
use hub_docker::{DockerRuntime, mapping};
use hub_runtime::{NetworkRuntime, Runtime, RuntimeError, WorkloadKind, labels};

async fn foreign_network(d: &DockerRuntime, name: &str, subnet: &str) -> String {
    let req = NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".into()),
        ipam: Some(Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    d.client()
        .create_network(req)
        .await
        .expect("create the foreign network")
        .id
}

fn interface_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

#[tokio::test(flavor = "multi_thread")]
async fn t_dk_net24_is_created_reused_found_and_removed() {
    let d = docker().await;
    assert!(d.supports(WorkloadKind::Container) && !d.supports(WorkloadKind::Vm));
    assert_eq!(d.backend(), "docker");
    let lab = "t-dk-net24";
    let _guard = Cleanup::new(lab).await;
    let spec = net_spec(lab, "10.201.1.0/24");

    let info = d.ensure_network(&spec).await.expect("create");
    assert!(info.owned);
    assert_eq!(info.name, "t-dk-net24-net");
    assert_eq!(info.subnet.to_string(), "10.201.1.0/24");
    assert_eq!(info.gateway.to_string(), "10.201.1.1");
    assert_eq!(info.bridge, mapping::bridge_name(lab));
    assert!(info.bridge.len() <= 15);
    assert!(
        interface_exists(&info.bridge),
        "bridge {} is not a host interface",
        info.bridge
    );

    let net = d
        .client()
        .inspect_network(&info.id, None::<InspectNetworkOptions>)
        .await
        .expect("inspect");
    let l = net.labels.unwrap_or_default();
    assert_eq!(l.get(labels::LAB).map(String::as_str), Some(lab));
    assert!(l.contains_key(labels::OWNED));

    let again = d.ensure_network(&spec).await.expect("second ensure");
    assert_eq!(again.id, info.id, "an existing lab network is reused");
    let found = d
        .find_network(lab)
        .await
        .expect("find")
        .expect("found by label");
    assert_eq!(found.id, info.id);
    assert_eq!(found.bridge, info.bridge);

    let mut other = spec.clone();
    other.subnet = "10.201.11.0/24".parse().unwrap();
    let err = d
        .ensure_network(&other)
        .await
        .expect_err("same lab, other subnet");
    assert!(err.to_string().contains(lab), "{err}");

    assert!(d.remove_network(lab).await.expect("remove"));
    assert!(!d.remove_network(lab).await.expect("remove again"));
    assert!(d.find_network(lab).await.expect("find").is_none());
    assert!(
        !interface_exists(&info.bridge),
        "bridge {} is still there",
        info.bridge
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn t_dk_attach_uses_a_foreign_network_and_leaves_it() {
    let d = docker().await;
    let lab = "t-dk-attach";
    let foreign = "t-dk-foreign-net";
    let mut guard = Cleanup::new(lab).await;
    guard.network(foreign).await;
    let id = foreign_network(&d, foreign, "10.201.4.0/24").await;

    let mut spec = net_spec(lab, "10.201.4.0/24");
    spec.attach_to = Some(foreign.to_string());
    let info = d.ensure_network(&spec).await.expect("attach");
    assert!(!info.owned);
    assert_eq!(info.id, id);
    assert_eq!(info.name, foreign);
    assert_eq!(info.bridge, format!("br-{}", &id[..12]));
    assert!(
        interface_exists(&info.bridge),
        "bridge {} is not a host interface",
        info.bridge
    );

    let ctx = lab_ctx(lab, info.clone());
    let h = up(
        &d,
        &ctx,
        sleeper("box", Some("10.201.4.20".parse().unwrap())),
    )
    .await
    .expect("container up");
    let st = d.inspect(&h).await.expect("inspect");
    assert_eq!(st.ip, Some("10.201.4.20".parse().unwrap()));

    assert_eq!(d.remove_lab(lab).await.expect("remove lab"), 1);
    assert!(d.list(lab).await.expect("list").is_empty());
    d.client()
        .inspect_network(foreign, None::<InspectNetworkOptions>)
        .await
        .expect("the foreign network stays");

    let mut wrong = spec.clone();
    wrong.subnet = "10.201.14.0/24".parse().unwrap();
    let err = d.ensure_network(&wrong).await.expect_err("subnet mismatch");
    let text = format!(
        "{err} {}",
        std::error::Error::source(&err)
            .map(|s| s.to_string())
            .unwrap_or_default()
    );
    assert!(
        text.contains("10.201.4.0/24") && text.contains(foreign),
        "{text}"
    );

    let mut missing = spec.clone();
    missing.attach_to = Some("t-dk-no-such-net".into());
    let err = d
        .ensure_network(&missing)
        .await
        .expect_err("missing network");
    assert!(
        matches!(
            err,
            RuntimeError::NotFound {
                what: "network",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn t_dk_overlap_is_refused_naming_the_other_network() {
    let d = docker().await;
    let lab = "t-dk-overlap";
    let other = "t-dk-ovl-other";
    let mut guard = Cleanup::new(lab).await;
    guard.network(other).await;
    foreign_network(&d, other, "10.201.5.0/24").await;

    let err = d
        .ensure_network(&net_spec(lab, "10.201.5.128/25"))
        .await
        .expect_err("overlap");
    match &err {
        RuntimeError::SubnetOverlap {
            other: name,
            other_subnet,
            ..
        } => {
            assert_eq!(name, other);
            assert_eq!(other_subnet.to_string(), "10.201.5.0/24");
        }
        e => panic!("expected SubnetOverlap, got {e:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(other) && text.contains(lab), "{text}");
    assert!(
        d.find_network(lab).await.expect("find").is_none(),
        "nothing half-made"
    );

    let mut taken = net_spec("t-dk-nametaken", "10.201.10.0/24");
    taken.name = other.to_string();
    let err = d.ensure_network(&taken).await.expect_err("name taken");
    assert!(
        matches!(
            err,
            RuntimeError::NameTaken {
                what: "network",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn t_dk_missing_daemon_says_how_to_start_it() {
    let err = DockerRuntime::connect_with_socket("/tmp/t-dk-no-daemon.sock")
        .await
        .expect_err("no socket");
    assert!(
        matches!(err, RuntimeError::DaemonUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("setup-host.sh"), "{err}");

    // A socket file nobody listens on: connection refused.
    let dir = std::env::temp_dir().join(format!("t-dk-refused-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("docker.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind a socket"));
    let err = DockerRuntime::connect_with_socket(path.to_str().expect("utf-8 path"))
        .await
        .expect_err("refused");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        matches!(err, RuntimeError::DaemonUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("start dockerd"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn t_dk_a_vpn_gateway_container_goes_with_the_lab_network() {
    use hub_docker::bollard::models::{
        ContainerCreateBody, EndpointSettings, HostConfig, NetworkingConfig,
    };
    use hub_docker::bollard::query_parameters::CreateContainerOptionsBuilder;
    use std::collections::HashMap;

    let d = docker().await;
    let lab = "t-dk-netgw";
    let _guard = Cleanup::new(lab).await;
    let info = d
        .ensure_network(&net_spec(lab, "10.201.7.0/24"))
        .await
        .expect("create");
    // What hub-mesh makes on a lab's primary: a container of kind `vpn` on the lab network,
    // which no listing of workloads shows.
    let name = format!("hub-vpn-{lab}");
    let body = ContainerCreateBody {
        image: Some(common::BUSYBOX.into()),
        cmd: Some(vec!["sleep".into(), "600".into()]),
        labels: Some(HashMap::from([
            (labels::LAB.to_string(), lab.to_string()),
            (labels::KIND.to_string(), labels::KIND_VPN.to_string()),
        ])),
        host_config: Some(HostConfig {
            network_mode: Some(info.name.clone()),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                info.name.clone(),
                EndpointSettings::default(),
            )])),
        }),
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::new().name(&name).build();
    d.client()
        .create_container(Some(opts), body)
        .await
        .expect("create the gateway");
    d.client()
        .start_container(&name, None)
        .await
        .expect("start the gateway");
    assert!(d.list(lab).await.expect("list").is_empty(), "no workload");

    assert!(d.remove_network(lab).await.expect("remove"));
    assert!(d.find_network(lab).await.expect("find").is_none());
    let gone = d
        .client()
        .inspect_container(&name, None)
        .await
        .expect_err("the gateway went with the network");
    assert!(
        gone.to_string().contains("404") || gone.to_string().contains("No such"),
        "{gone}"
    );
}
