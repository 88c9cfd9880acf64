//! Unit tests of the spec-to-Docker mapping, checked against what the FakeRuntime reports
//! for the same specs where the two must agree.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use bollard::models::{
    ContainerConfig, ContainerInspectResponse, ContainerState, ContainerStateStatusEnum,
    ContainerSummary, ContainerSummaryStateEnum, EndpointSettings, HostConfig, NetworkSettings,
    RestartPolicyNameEnum,
};
use hub_runtime::{
    ContainerSpec, FakeRuntime, Healthcheck, LabContext, Mount, NetworkSpec, Resources,
    RestartPolicy, Runtime, WorkloadSpec, WorkloadState, labels,
};

use super::*;

fn lab() -> LabContext {
    LabContext::for_tests("demo")
}

fn web() -> ContainerSpec {
    let mut c = ContainerSpec::new("web", "hub-test/busybox:latest");
    c.cmd = vec!["httpd".into(), "-f".into()];
    c.env = BTreeMap::from([("A".into(), "1".into())]);
    c.labels = BTreeMap::from([
        ("team".into(), "qa".into()),
        (labels::LAB.into(), "spoofed".into()),
    ]);
    c.ip = Some(Ipv4Addr::new(10, 99, 0, 40));
    c.mac = Some("02:42:0a:63:00:28".parse().unwrap());
    c.resources = Resources {
        cpus: Some(0.5),
        memory_mb: Some(64),
    };
    c.restart = RestartPolicy::UnlessStopped;
    c.cap_add = vec!["NET_ADMIN".into()];
    c.mounts = vec![
        Mount {
            source: PathBuf::from("/srv/www"),
            target: "/www".into(),
            read_only: true,
        },
        Mount {
            source: PathBuf::from("/srv/data"),
            target: "/data".into(),
            read_only: false,
        },
    ];
    c.healthcheck = Some(Healthcheck {
        test: vec!["test".into(), "-f".into(), "/tmp/ok".into()],
        interval: Duration::from_millis(200),
        timeout: Duration::from_secs(1),
        retries: 3,
        start_period: Duration::ZERO,
    });
    c.spec_hash = "abc123".into();
    c
}

#[test]
fn container_name_is_lab_dash_name() {
    assert_eq!(container_name("demo", "web"), "demo-web");
}

#[test]
fn bridge_name_is_short_stable_and_distinct() {
    for lab in [
        "demo",
        "t-dk-net24",
        "a-very-long-lab-name-with-many-parts",
        "Ünïcode lab",
        "",
    ] {
        let b = bridge_name(lab);
        assert!(b.len() <= 15, "{b} is longer than 15");
        assert!(
            b.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{b}"
        );
        assert_eq!(b, bridge_name(lab));
    }
    assert_ne!(bridge_name("t-dk-aaaa1"), bridge_name("t-dk-aaaa2"));
}

#[test]
fn hub_labels_win_over_user_labels() {
    let l = container_labels("demo", &web());
    assert_eq!(l[labels::LAB], "demo");
    assert_eq!(l[labels::WORKLOAD], "web");
    assert_eq!(l[labels::SPEC_HASH], "abc123");
    assert_eq!(l[labels::KIND], "container");
    assert_eq!(l["team"], "qa");
}

#[test]
fn container_body_carries_every_field() {
    let lab = lab();
    let b = container_body(&lab, &web());
    assert_eq!(b.image.as_deref(), Some("hub-test/busybox:latest"));
    assert_eq!(b.hostname.as_deref(), Some("web"));
    assert_eq!(b.cmd, Some(vec!["httpd".to_string(), "-f".to_string()]));
    assert_eq!(b.env, Some(vec!["A=1".to_string()]));
    let hc = b.host_config.as_ref().expect("host config");
    // On the lab network only, not also on the default bridge.
    assert_eq!(hc.network_mode.as_deref(), Some("demo-net"));
    assert_eq!(hc.nano_cpus, Some(500_000_000));
    assert_eq!(hc.memory, Some(64 * 1024 * 1024));
    assert_eq!(hc.cap_add, Some(vec!["NET_ADMIN".to_string()]));
    assert_eq!(
        hc.binds,
        Some(vec![
            "/srv/www:/www:ro".to_string(),
            "/srv/data:/data".to_string()
        ])
    );
    assert_eq!(hc.dns, Some(vec!["10.99.0.2".to_string()]));
    assert_eq!(hc.dns_search, Some(vec!["demo.lab".to_string()]));
    assert_eq!(
        hc.restart_policy.as_ref().and_then(|r| r.name),
        Some(RestartPolicyNameEnum::UNLESS_STOPPED)
    );
    let eps = b
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
        .expect("eps");
    assert_eq!(eps.len(), 1);
    let ep = &eps["demo-net"];
    assert_eq!(
        ep.ipam_config
            .as_ref()
            .and_then(|i| i.ipv4_address.as_deref()),
        Some("10.99.0.40")
    );
    assert_eq!(ep.mac_address.as_deref(), Some("02:42:0a:63:00:28"));
    let h = b.healthcheck.as_ref().expect("healthcheck");
    assert_eq!(
        h.test,
        Some(vec![
            "CMD".into(),
            "test".into(),
            "-f".into(),
            "/tmp/ok".into()
        ])
    );
    assert_eq!(h.interval, Some(200_000_000));
    assert_eq!(h.retries, Some(3));
}

#[test]
fn minimal_container_sets_no_optional_fields() {
    let mut lab = lab();
    lab.dns.clear();
    let b = container_body(&lab, &ContainerSpec::new("a", "img"));
    assert_eq!(b.cmd, None);
    assert_eq!(b.env, None);
    assert!(b.healthcheck.is_none());
    let hc = b.host_config.expect("host config");
    assert_eq!(
        (hc.dns, hc.dns_search, hc.binds, hc.cap_add),
        (None, None, None, None)
    );
    assert_eq!((hc.nano_cpus, hc.memory), (None, None));
    let eps = b
        .networking_config
        .and_then(|n| n.endpoints_config)
        .expect("eps");
    assert!(eps["demo-net"].ipam_config.is_none());
}

#[test]
fn shell_form_healthcheck_passes_through() {
    let h = Healthcheck {
        test: vec!["CMD-SHELL".into(), "wget -q -O- localhost".into()],
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        retries: 1,
        start_period: Duration::from_secs(2),
    };
    let c = health_config(&h);
    assert_eq!(c.test, Some(h.test.clone()));
    assert_eq!(c.start_period, Some(2_000_000_000));
}

#[test]
fn network_request_has_subnet_gateway_bridge_and_labels() {
    let spec = NetworkSpec {
        lab: "demo".into(),
        name: "demo-net".into(),
        subnet: "10.201.9.0/24".parse().expect("subnet"),
        gateway: Ipv4Addr::new(10, 201, 9, 1),
        attach_to: None,
        labels: BTreeMap::from([("x".into(), "y".into())]),
        mtu: Some(1370),
    };
    let r = network_request(&spec);
    assert_eq!(r.name, "demo-net");
    assert_eq!(r.driver.as_deref(), Some("bridge"));
    let cfg = &r
        .ipam
        .as_ref()
        .and_then(|i| i.config.as_ref())
        .expect("ipam")[0];
    assert_eq!(cfg.subnet.as_deref(), Some("10.201.9.0/24"));
    assert_eq!(cfg.gateway.as_deref(), Some("10.201.9.1"));
    let opts = r.options.as_ref().expect("options");
    assert_eq!(opts[BRIDGE_NAME_OPTION], bridge_name("demo"));
    assert_eq!(opts[crate::mapping::MTU_OPTION], "1370");
    let l = r.labels.as_ref().expect("labels");
    assert_eq!(l[labels::LAB], "demo");
    assert_eq!(l[labels::OWNED], "true");
    assert_eq!(l["x"], "y");
}

#[test]
fn states_map() {
    assert_eq!(
        state_of(Some("running"), Some("none")),
        WorkloadState::Running
    );
    assert_eq!(
        state_of(Some("running"), Some("healthy")),
        WorkloadState::Running
    );
    assert_eq!(
        state_of(Some("running"), Some("starting")),
        WorkloadState::Starting
    );
    assert_eq!(
        state_of(Some("running"), Some("unhealthy")),
        WorkloadState::Unhealthy
    );
    assert_eq!(state_of(Some("exited"), None), WorkloadState::Stopped);
    assert_eq!(state_of(Some("created"), None), WorkloadState::Created);
    assert_eq!(state_of(Some("paused"), None), WorkloadState::Unknown);
}

#[test]
fn image_references_get_a_tag() {
    assert_eq!(normalize_image("busybox"), "busybox:latest");
    assert_eq!(normalize_image("hub-test/busybox:1"), "hub-test/busybox:1");
    assert_eq!(
        normalize_image("localhost:5000/x"),
        "localhost:5000/x:latest"
    );
    assert_eq!(normalize_image("x@sha256:00"), "x@sha256:00");
    assert_eq!(
        split_reference("hub/netd:abc"),
        ("hub/netd".into(), "abc".into())
    );
    assert_eq!(
        split_reference("localhost:5000/x"),
        ("localhost:5000/x".into(), "latest".into())
    );
}

/// What Docker would answer for a container created from `container_body`, running.
fn inspect_of(lab: &LabContext, spec: &ContainerSpec) -> ContainerInspectResponse {
    let body = container_body(lab, spec);
    let mut eps: HashMap<String, EndpointSettings> = body
        .networking_config
        .clone()
        .and_then(|n| n.endpoints_config)
        .unwrap_or_default();
    for ep in eps.values_mut() {
        ep.ip_address = spec.ip.map(|i| i.to_string());
    }
    ContainerInspectResponse {
        id: Some("cafe".into()),
        name: Some(format!("/{}", container_name(&lab.name, &spec.name))),
        state: Some(ContainerState {
            status: Some(ContainerStateStatusEnum::RUNNING),
            exit_code: Some(0),
            ..Default::default()
        }),
        config: Some(ContainerConfig {
            labels: body.labels.clone(),
            ..Default::default()
        }),
        host_config: Some(HostConfig {
            network_mode: Some(lab.network.name.clone()),
            ..Default::default()
        }),
        network_settings: Some(NetworkSettings {
            networks: Some(eps),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn docker_status_agrees_with_the_fake_runtime() {
    let lab = lab();
    let mut spec = web();
    spec.healthcheck = None;
    let fake = FakeRuntime::new();
    let ws = WorkloadSpec::Container(spec.clone());
    let h = fake.create(&lab, &ws).await.expect("fake create");
    fake.start(&h).await.expect("fake start");
    let from_fake = fake.inspect(&h).await.expect("fake inspect");
    let from_docker = status_from_inspect(&lab.name, &inspect_of(&lab, &spec));
    assert_eq!(from_docker.handle.name, from_fake.handle.name);
    assert_eq!(from_docker.handle.lab, from_fake.handle.lab);
    assert_eq!(from_docker.handle.kind, from_fake.handle.kind);
    assert_eq!(from_docker.state, from_fake.state);
    assert_eq!(from_docker.ip, from_fake.ip);
    assert_eq!(from_docker.mac, from_fake.mac);
    assert_eq!(from_docker.spec_hash, from_fake.spec_hash);
    assert_eq!(from_docker.role, from_fake.role);
    assert_eq!(from_docker.handle.id, "cafe");
}

#[test]
fn summary_status_reads_labels_health_and_exit_code() {
    let lab = lab();
    let body = container_body(&lab, &web());
    let mut s = ContainerSummary {
        id: Some("beef".into()),
        names: Some(vec!["/demo-web".into()]),
        labels: body.labels,
        state: Some(ContainerSummaryStateEnum::RUNNING),
        status: Some("Up 3 seconds (health: starting)".into()),
        ..Default::default()
    };
    let st = status_from_summary("demo", &s);
    assert_eq!(st.handle.name, "web");
    assert_eq!(st.state, WorkloadState::Starting);
    assert_eq!(st.spec_hash.as_deref(), Some("abc123"));
    s.state = Some(ContainerSummaryStateEnum::EXITED);
    s.status = Some("Exited (3) 2 seconds ago".into());
    let st = status_from_summary("demo", &s);
    assert_eq!((st.state, st.exit_code), (WorkloadState::Stopped, Some(3)));
}

#[test]
fn published_ports_and_named_volumes_map_to_docker() {
    let mut c = ContainerSpec::new("dns", "hub-test/busybox:latest");
    c.ports = [
        "8080:80",
        "127.0.0.1:5353:53/udp",
        "127.0.0.1:5354:53/udp",
        "9000",
    ]
    .iter()
    .map(|p| p.parse().unwrap())
    .collect();
    c.volumes = vec![hub_runtime::VolumeMount {
        name: "data".into(),
        target: "/var/lib/data".into(),
        read_only: true,
    }];
    let body = container_body(&lab(), &c);
    assert_eq!(
        body.exposed_ports.clone().unwrap(),
        ["53/udp", "80/tcp", "9000/tcp"]
    );
    let hc = body.host_config.unwrap();
    let ports = hc.port_bindings.unwrap();
    let bound = |key: &str| -> Vec<(Option<String>, Option<String>)> {
        ports[key]
            .clone()
            .unwrap()
            .into_iter()
            .map(|b| (b.host_ip, b.host_port))
            .collect()
    };
    assert_eq!(bound("80/tcp"), [(None, Some("8080".into()))]);
    assert_eq!(
        bound("53/udp"),
        [
            (Some("127.0.0.1".into()), Some("5353".into())),
            (Some("127.0.0.1".into()), Some("5354".into()))
        ]
    );
    assert_eq!(
        bound("9000/tcp"),
        [(None, Some(String::new()))],
        "engine's choice"
    );
    assert_eq!(hc.binds.unwrap(), ["demo-data:/var/lib/data:ro"]);
}
