use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::error::{RuntimeError, RuntimeResult};
use crate::phase::PhaseReporter;
use crate::spec::{LabContext, WorkloadKind, WorkloadSpec};
use crate::status::{ExecOutput, WorkloadHandle, WorkloadStatus};

/// Log text as a workload writes it (see [`Runtime::follow_logs`]); dropping it stops the
/// backend's follower.
pub type LogStream = tokio::sync::mpsc::Receiver<RuntimeResult<String>>;

#[cfg(feature = "mock")]
pub use crate::network::MockNetworkRuntime;

/// One backend that runs workloads of some kinds. Object-safe: `hub-core` holds
/// `Arc<dyn Runtime>` per kind.
///
/// Every method is idempotent where it can be: removing what is gone is `Ok`.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Runtime: Send + Sync {
    /// The backend's name (`docker`, `libvirt`, `fake`), for messages.
    fn backend(&self) -> &'static str;
    /// Whether it runs this kind of workload.
    fn supports(&self, kind: WorkloadKind) -> bool;
    /// Creates the workload (not started), marked with the lab's labels or metadata.
    async fn create(&self, lab: &LabContext, spec: &WorkloadSpec) -> RuntimeResult<WorkloadHandle>;
    /// Starts it.
    async fn start(&self, handle: &WorkloadHandle) -> RuntimeResult<()>;
    /// Waits until it is ready (running and healthy; for VMs: SSH answers with the expected host
    /// key and cloud-init finished), up to `timeout`, or until `cancel` fires.
    async fn wait_ready(
        &self,
        lab: &LabContext,
        spec: &WorkloadSpec,
        handle: &WorkloadHandle,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> RuntimeResult<()>;
    /// [`Runtime::wait_ready`], telling `phases` each phase of readiness as it passes (a VM:
    /// firmware, kernel, lease, SSH, cloud-init), so that a long wait is visibly alive.
    /// Backends that have no phases to tell keep this default: the plain wait.
    #[allow(clippy::too_many_arguments)]
    async fn wait_ready_reporting(
        &self,
        lab: &LabContext,
        spec: &WorkloadSpec,
        handle: &WorkloadHandle,
        timeout: Duration,
        cancel: CancellationToken,
        phases: PhaseReporter,
    ) -> RuntimeResult<()> {
        let _ = phases;
        self.wait_ready(lab, spec, handle, timeout, cancel).await
    }
    /// Stops it, waiting up to `grace` before killing.
    async fn stop(&self, handle: &WorkloadHandle, grace: Duration) -> RuntimeResult<()>;
    /// Removes it and everything the backend made for it (overlays, seeds). Gone is `Ok`.
    async fn remove(&self, handle: &WorkloadHandle) -> RuntimeResult<()>;
    /// Its current status.
    async fn inspect(&self, handle: &WorkloadHandle) -> RuntimeResult<WorkloadStatus>;
    /// The names of the labs this backend holds anything of (workloads, and for Docker
    /// networks and volumes), found by their marks. A backend that cannot tell says none.
    async fn labs(&self) -> RuntimeResult<Vec<String>> {
        Ok(Vec::new())
    }
    /// Every workload of the lab this backend holds, found by its marks.
    async fn list(&self, lab: &str) -> RuntimeResult<Vec<WorkloadStatus>>;
    /// The last `tail` lines of its logs (console log for VMs).
    async fn logs(
        &self,
        lab: &LabContext,
        handle: &WorkloadHandle,
        tail: usize,
    ) -> RuntimeResult<String>;
    /// The last `tail` lines of its logs, then what it writes from now on, as it comes, until
    /// the workload stops or the receiver is dropped. Backends that cannot follow say
    /// [`RuntimeError::Unsupported`].
    async fn follow_logs(
        &self,
        lab: &LabContext,
        handle: &WorkloadHandle,
        tail: usize,
    ) -> RuntimeResult<LogStream> {
        let _ = (lab, tail);
        Err(RuntimeError::Unsupported {
            backend: self.backend(),
            what: format!("following the logs of {:?}", handle.name),
        })
    }
    /// The network namespace its processes run in (a container's `/proc/PID/ns/net`), where
    /// the hub can run a probe of its own without anything of the workload's image. `None`:
    /// it has no namespace of this host (a VM has its own kernel) or the backend cannot tell.
    async fn net_namespace(
        &self,
        handle: &WorkloadHandle,
    ) -> RuntimeResult<Option<std::path::PathBuf>> {
        let _ = handle;
        Ok(None)
    }
    /// Runs a command in it and collects the output.
    async fn exec(
        &self,
        lab: &LabContext,
        handle: &WorkloadHandle,
        cmd: &[String],
    ) -> RuntimeResult<ExecOutput>;
}
