//! Fixtures for the hub's tests on the FakeRuntime.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hub_core::runtime::{FakeRuntime, WorkloadKind};
use hub_core::scheduler::{Node, NodeMetrics, StaticMetrics};
use hub_core::testing::FakeServices;
use hub_core::{Container, Hub, HubBuilder, Progress, Vm, Vpn};
use tempfile::TempDir;

/// A fake backend, fake services and a private state root.
pub struct Fx {
    pub rt: FakeRuntime,
    pub svc: FakeServices,
    pub root: TempDir,
    pub events: Arc<Mutex<Vec<Progress>>>,
}

impl Fx {
    pub fn new() -> Self {
        Fx {
            rt: FakeRuntime::new(),
            svc: FakeServices::new(),
            root: tempfile::tempdir().expect("temp dir"),
            events: Arc::default(),
        }
    }

    /// A host with plenty of room.
    pub fn big_host() -> Arc<StaticMetrics> {
        Arc::new(StaticMetrics(vec![Node {
            name: "localhost".into(),
            metrics: Ok(NodeMetrics {
                cpus: 64,
                memory_total_mb: 256 * 1024,
                memory_available_mb: 200 * 1024,
                load1: 0.5,
            }),
        }]))
    }

    /// A builder for `lab` on the fakes (no workloads yet).
    pub fn builder(&self, lab: &str, subnet: &str) -> HubBuilder {
        let events = self.events.clone();
        Hub::builder()
            .name(lab)
            .network(subnet)
            .container_runtime(Arc::new(self.rt.clone()))
            .vm_runtime(Arc::new(self.rt.clone()))
            .network_runtime(Arc::new(self.rt.clone()))
            .netd(Arc::new(self.svc.clone()))
            .vpn_gateway(Arc::new(self.svc.clone()))
            .state_dir(self.root.path())
            .metrics(Self::big_host())
            .on_progress(move |p| {
                events
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(p.clone())
            })
    }

    /// A VM base image file (validation wants it to exist).
    pub fn image(&self) -> PathBuf {
        let p = self.root.path().join("base.qcow2");
        std::fs::write(&p, b"not really qcow2").expect("image");
        p
    }

    /// The demo lab: two web containers, a db, one VM, one VPN peer.
    pub fn demo(&self, lab: &str, subnet: &str) -> HubBuilder {
        let image = self.image();
        self.builder(lab, subnet)
            .container(Container::new("db", "hub-test/busybox"))
            .container(Container::new("web1", "hub-test/busybox").depends_on("db"))
            .container(Container::new("web2", "hub-test/busybox").depends_on("db"))
            .vm(Vm::new("vm1", image).memory_mb(512).vcpus(1))
            .vpn(Vpn::new("10.215.0.0/24").peer("laptop"))
    }

    pub fn lab_dir(&self, lab: &str) -> PathBuf {
        self.root.path().join(lab)
    }

    /// Asserts nothing of `lab` is left anywhere.
    pub fn assert_nothing_left(&self, lab: &str) {
        assert_eq!(
            self.rt.workload_names(lab),
            Vec::<String>::new(),
            "workloads left"
        );
        assert!(!self.rt.has_network(lab), "network left");
        assert!(self.svc.netd(lab).is_none(), "netd left");
        assert!(!self.svc.vpn_up(lab), "vpn gateway left");
        assert!(
            !self.lab_dir(lab).exists(),
            "lab directory left: {}",
            self.lab_dir(lab).display()
        );
    }

    pub fn count_calls(&self, prefix: &str) -> usize {
        self.rt
            .calls()
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    }

    pub fn kinds(&self, lab: &str) -> usize {
        let _ = WorkloadKind::Vm;
        self.rt.workload_names(lab).len()
    }
}
