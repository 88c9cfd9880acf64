//! Host ports on the fakes: a VPN port per lab (the first free from 51820, kept across
//! `down`/`up`), a taken port refused before anything starts naming what holds it, and the
//! containers' published ports checked the same way.

mod common;

use common::Fx;
use hub_core::host_ports::PortHolder;
use hub_core::runtime::Protocol;
use hub_core::services::VpnService;
use hub_core::spec::{LabSpec, SpecErrorKind};
use hub_core::{Container, HubError, Vpn};

fn vpn() -> Vpn {
    Vpn::new("10.216.0.0/24").peer("laptop")
}

/// Lab `lab` on `subnet` with a VPN of no given port, up.
async fn up_with_vpn(fx: &Fx, lab: &str, subnet: &str) -> hub_core::Lab {
    fx.builder(lab, subnet).vpn(vpn()).up().await.unwrap()
}

/// The spec errors of a failed `up`, else a panic.
fn spec_errors(r: Result<hub_core::Lab, HubError>) -> hub_core::spec::SpecErrors {
    match r {
        Err(HubError::Spec(e)) => e,
        Err(e) => panic!("expected spec errors, got {e}"),
        Ok(_) => panic!("expected spec errors, the lab came up"),
    }
}

#[tokio::test]
async fn two_labs_without_a_port_get_their_own_and_keep_them() {
    let fx = Fx::new();
    let a = up_with_vpn(&fx, "pa", "10.217.1.0/24").await;
    let b = up_with_vpn(&fx, "pb", "10.217.2.0/24").await;
    assert_eq!(fx.svc.vpn_port("pa"), Some(51820));
    assert_eq!(fx.svc.vpn_port("pb"), Some(51821));
    // `a` goes down: its port is free on the host but still kept for it, so a new lab
    // skips it, and `a` gets it back.
    a.down().await.unwrap();
    let c = up_with_vpn(&fx, "pc", "10.217.3.0/24").await;
    assert_eq!(fx.svc.vpn_port("pc"), Some(51822));
    let a = up_with_vpn(&fx, "pa", "10.217.1.0/24").await;
    assert_eq!(fx.svc.vpn_port("pa"), Some(51820));
    // An unchanged `up` of a running lab finds its own gateway on its port.
    let a2 = up_with_vpn(&fx, "pa", "10.217.1.0/24").await;
    assert!(a2.report().is_unchanged(), "{}", a2.report());
    assert_eq!(fx.svc.vpn_port("pa"), Some(51820));
    for lab in [a2.keep(), a, b, c] {
        lab.down().await.unwrap();
    }
    // `down --purge` forgets the port with the keys.
    fx.builder("pa", "10.217.1.0/24")
        .build()
        .unwrap()
        .purge()
        .await
        .unwrap();
    fx.hub.ports.take(
        Protocol::Udp,
        51820,
        PortHolder::Process {
            pid: 7,
            name: "other".into(),
            forwards_to: None,
        },
    );
    let c = up_with_vpn(&fx, "pc", "10.217.3.0/24").await;
    assert_eq!(
        fx.svc.vpn_port("pc"),
        Some(51822),
        "kept, not the first free"
    );
    c.down().await.unwrap();
}

#[tokio::test]
async fn a_given_port_that_another_lab_holds_is_refused_before_anything_starts() {
    let fx = Fx::new();
    let a = fx
        .builder("qa", "10.217.4.0/24")
        .vpn(vpn().listen_port(51900))
        .up()
        .await
        .unwrap();
    let yaml = "name: qb\nsubnet: 10.217.5.0/24\ncontainers:\n  - name: web\n    image: busybox\n\
                wireguard:\n  subnet: 10.216.0.0/24\n  listen_port: 51900\n  peers: [{name: p}]\n";
    let spec = LabSpec::from_yaml(yaml, "qb.yaml").unwrap();
    let errors = spec_errors(fx.hub.builder().spec(spec).up().await);
    assert_eq!(errors.len(), 1, "{errors}");
    let e = &errors.errors[0];
    assert_eq!(
        (e.kind, e.line, e.column, e.field.as_str()),
        (SpecErrorKind::PortInUse, 8, 16, "wireguard.listen_port"),
        "{e}"
    );
    // The fake gateway's interface is named as the real one is (`hubwg-qa`) when hub-wg is
    // built in.
    let interface = fx.svc.interface_name("qa").unwrap();
    assert!(
        e.to_string().starts_with(&format!(
            "qb.yaml:8:16: wireguard.listen_port: UDP port 51900 is taken by lab \"qa\"'s \
             WireGuard gateway (interface {interface})"
        )),
        "{e}"
    );
    assert!(fx.rt.workload_names("qb").is_empty());
    assert!(!fx.rt.has_network("qb"), "nothing starts");
    assert!(fx.svc.netd("qb").is_none());
    a.down().await.unwrap();
}

#[tokio::test]
async fn a_given_port_a_process_holds_names_the_process() {
    let fx = Fx::new();
    fx.hub.ports.take(
        Protocol::Udp,
        51901,
        PortHolder::Process {
            pid: 4242,
            name: "openvpn".into(),
            forwards_to: None,
        },
    );
    let errors = spec_errors(
        fx.builder("qc", "10.217.6.0/24")
            .vpn(vpn().listen_port(51901))
            .up()
            .await,
    );
    let shown = errors.to_string();
    assert!(
        shown.contains("<builder>: wireguard.listen_port: UDP port 51901 is taken by process openvpn (pid 4242)"),
        "{shown}"
    );
    assert!(!fx.rt.has_network("qc"));
}

#[tokio::test]
async fn a_published_port_that_is_taken_is_refused_with_its_place() {
    let fx = Fx::new();
    fx.hub.ports.take(
        Protocol::Tcp,
        18080,
        PortHolder::Process {
            pid: 99,
            name: "nginx".into(),
            forwards_to: None,
        },
    );
    let yaml = "name: qd\nsubnet: 10.217.7.0/24\ncontainers:\n  - name: web\n    image: busybox\n    \
                ports: [\"18081:80\", \"18080:80\"]\n";
    let spec = LabSpec::from_yaml(yaml, "qd.yaml").unwrap();
    let errors = spec_errors(fx.hub.builder().spec(spec).up().await);
    assert_eq!(errors.len(), 1, "{errors}");
    assert_eq!(
        errors.errors[0].to_string(),
        "qd.yaml:6:25: containers[0].ports[1]: host port 18080/tcp on 0.0.0.0 is taken by \
         process nginx (pid 99); publish the container on another host port"
    );
    assert!(!fx.rt.has_network("qd"));
    // Docker's proxy for a container of this very lab is the lab's own.
    fx.hub.ports.take(
        Protocol::Tcp,
        18080,
        PortHolder::Process {
            pid: 99,
            name: "docker-proxy".into(),
            forwards_to: Some("10.217.7.30".parse().unwrap()),
        },
    );
    let lab = fx
        .builder("qd", "10.217.7.0/24")
        .container(Container::new("web", "busybox").port("18080:80"))
        .up()
        .await
        .unwrap();
    lab.down().await.unwrap();
}

#[tokio::test]
async fn named_volumes_belong_to_the_lab_and_down_removes_them_unless_kept() {
    let fx = Fx::new();
    let lab = || {
        fx.builder("qv", "10.217.8.0/24")
            .container(Container::new("db", "busybox").volume("data:/var/lib/data"))
            .container(Container::new("web", "busybox").volume("data:/srv:ro"))
    };
    let up = lab().up().await.unwrap();
    assert_eq!(fx.rt.volume_names("qv"), ["data"]);
    up.keep();
    let report = lab()
        .keep_volumes(true)
        .build()
        .unwrap()
        .down()
        .await
        .unwrap();
    assert!(!report.to_string().contains("volume"), "{report}");
    assert_eq!(fx.rt.volume_names("qv"), ["data"], "kept");
    lab().up().await.unwrap().keep();
    let report = lab().build().unwrap().down().await.unwrap();
    assert!(report.to_string().contains("volume data"), "{report}");
    assert!(fx.rt.volume_names("qv").is_empty());
}
