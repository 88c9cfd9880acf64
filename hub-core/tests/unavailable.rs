//! A backend whose daemon does not answer: labs that do not need it still come up and go
//! down; a lab that needs it fails clearly, before anything starts.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::Fx;
use hub_core::runtime::{
    ExecOutput, LabContext, Runtime, RuntimeError, RuntimeResult, WorkloadHandle, WorkloadKind,
    WorkloadSpec, WorkloadStatus,
};
use hub_core::{Container, Vm};
use tokio_util::sync::CancellationToken;

/// libvirt with libvirtd stopped.
struct Dead;

fn dead<T>() -> RuntimeResult<T> {
    Err(RuntimeError::DaemonUnavailable {
        backend: "libvirt",
        hint: "start libvirtd".into(),
        source: None,
    })
}

#[async_trait]
impl Runtime for Dead {
    fn backend(&self) -> &'static str {
        "libvirt"
    }
    fn supports(&self, kind: WorkloadKind) -> bool {
        kind == WorkloadKind::Vm
    }
    async fn create(&self, _: &LabContext, _: &WorkloadSpec) -> RuntimeResult<WorkloadHandle> {
        dead()
    }
    async fn start(&self, _: &WorkloadHandle) -> RuntimeResult<()> {
        dead()
    }
    async fn wait_ready(
        &self,
        _: &LabContext,
        _: &WorkloadSpec,
        _: &WorkloadHandle,
        _: Duration,
        _: CancellationToken,
    ) -> RuntimeResult<()> {
        dead()
    }
    async fn stop(&self, _: &WorkloadHandle, _: Duration) -> RuntimeResult<()> {
        dead()
    }
    async fn remove(&self, _: &WorkloadHandle) -> RuntimeResult<()> {
        dead()
    }
    async fn inspect(&self, _: &WorkloadHandle) -> RuntimeResult<WorkloadStatus> {
        dead()
    }
    async fn list(&self, _: &str) -> RuntimeResult<Vec<WorkloadStatus>> {
        dead()
    }
    async fn logs(&self, _: &LabContext, _: &WorkloadHandle, _: usize) -> RuntimeResult<String> {
        dead()
    }
    async fn exec(
        &self,
        _: &LabContext,
        _: &WorkloadHandle,
        _: &[String],
    ) -> RuntimeResult<ExecOutput> {
        dead()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_lab_does_not_need_the_vm_backend() {
    let fx = Fx::new();
    let lab = fx
        .builder("t-hub-f-novirt", "10.205.40.0/24")
        .vm_runtime(Arc::new(Dead))
        .container(Container::new("a", "img"))
        .up()
        .await
        .expect("up without libvirt");
    let report = lab.down().await.expect("down without libvirt");
    assert!(
        report.removed.iter().any(|r| r == "container \"a\""),
        "{report}"
    );
    fx.assert_nothing_left("t-hub-f-novirt");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lab_with_a_vm_fails_clearly_when_the_vm_backend_is_down() {
    let fx = Fx::new();
    let image = fx.image();
    let err = fx
        .builder("t-hub-f-novirt2", "10.205.41.0/24")
        .vm_runtime(Arc::new(Dead))
        .container(Container::new("a", "img"))
        .vm(Vm::new("v", image))
        .up()
        .await
        .expect_err("needs libvirt");
    let msg = err.to_string();
    assert!(msg.contains("libvirt"), "{msg}");
    assert!(
        fx.rt.calls().is_empty(),
        "something started: {:?}",
        fx.rt.calls()
    );
}
