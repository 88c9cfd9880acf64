//! Fixtures for the hub's tests on the FakeRuntime.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hub_core::runtime::FakeRuntime;
use hub_core::scheduler::StaticMetrics;
use hub_core::testing::{FakeServices, TestHub};
use hub_core::{Container, HubBuilder, Progress, Vm, Vpn};

/// The fakes of [`TestHub`], and the progress events of every lab built from them.
pub struct Fx {
    pub hub: TestHub,
    pub rt: FakeRuntime,
    pub svc: FakeServices,
    pub events: Arc<Mutex<Vec<Progress>>>,
}

impl Fx {
    pub fn new() -> Self {
        let hub = TestHub::new();
        Fx {
            rt: hub.runtime.clone(),
            svc: hub.services.clone(),
            hub,
            events: Arc::default(),
        }
    }

    /// A host with plenty of room.
    pub fn big_host() -> Arc<StaticMetrics> {
        hub_core::testing::roomy_host()
    }

    /// A builder for `lab` on the fakes (no workloads yet).
    pub fn builder(&self, lab: &str, subnet: &str) -> HubBuilder {
        let events = self.events.clone();
        self.hub
            .builder()
            .name(lab)
            .network(subnet)
            .on_progress(move |p| {
                events
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(p.clone())
            })
    }

    /// A VM base image file (validation wants it to exist).
    pub fn image(&self) -> PathBuf {
        let p = self.hub.state_root().join("base.qcow2");
        std::fs::write(
            &p,
            b"QFI\xfb: only the qcow2 magic, all that validation reads",
        )
        .expect("image");
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
        self.hub.lab_dir(lab)
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
        // `down` keeps the lab's identity (its keys, its VPN port) for the next `up`.
        let left: Vec<_> = std::fs::read_dir(self.lab_dir(lab))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != hub_core::runtime::IDENTITY_DIR)
            .collect();
        assert!(
            left.is_empty(),
            "lab directory left: {}: {left:?}",
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
}
