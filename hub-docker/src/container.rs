//! Containers: the [`Runtime`] implementation.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::exec::StartExecResults;
use bollard::models::ExecConfig;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions,
    StopContainerOptionsBuilder,
};
use futures::StreamExt;
use hub_runtime::{
    ExecOutput, LabContext, Runtime, RuntimeError, RuntimeResult, WorkloadHandle, WorkloadKind,
    WorkloadSpec, WorkloadStatus, labels,
};
use tokio_util::sync::CancellationToken;

use crate::DockerRuntime;
use crate::error::{self, BACKEND, DockerError};
use crate::mapping::{
    container_body, container_name, requested_ip, status_from_inspect, status_from_summary,
};

/// The Docker name or id to address a handle's container by.
pub(crate) fn target(h: &WorkloadHandle) -> String {
    if h.id.is_empty() {
        container_name(&h.lab, &h.name)
    } else {
        h.id.clone()
    }
}

/// The error for a handle whose container is gone.
fn not_found(h: &WorkloadHandle) -> RuntimeError {
    RuntimeError::NotFound {
        lab: h.lab.clone(),
        what: "container",
        name: container_name(&h.lab, &h.name),
    }
}

/// Any other failure of `verb` (`starting`, `stopping`...) on a handle's container.
fn failed(h: &WorkloadHandle, verb: &str, e: bollard::errors::Error) -> RuntimeError {
    error::backend(
        &h.lab,
        format!("{verb} container {:?}", container_name(&h.lab, &h.name)),
        e,
    )
}

fn check_kind(h: &WorkloadHandle) -> RuntimeResult<()> {
    match h.kind {
        WorkloadKind::Container => Ok(()),
        kind => Err(error::own(
            &h.lab,
            format!("using workload {:?}", h.name),
            DockerError::NotAContainer {
                name: h.name.clone(),
                kind,
            },
        )),
    }
}

impl DockerRuntime {
    /// Every container of `lab` (found by its `io.hub.lab` label), removed with its anonymous
    /// volumes, then the lab's own network. Returns how many containers were removed. Running
    /// it twice is harmless; a network the lab only attached to stays.
    pub async fn remove_lab(&self, lab: &str) -> RuntimeResult<usize> {
        let all = self.list(lab).await?;
        let n = all.len();
        let removals = all.iter().map(|s| self.remove(&s.handle));
        for r in futures::future::join_all(removals).await {
            r?;
        }
        hub_runtime::NetworkRuntime::remove_network(self, lab).await?;
        Ok(n)
    }

    /// The last `tail` lines of the container's output (stdout and stderr interleaved).
    pub(crate) async fn tail_logs(&self, h: &WorkloadHandle, tail: usize) -> RuntimeResult<String> {
        let opts = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail(&tail.to_string())
            .build();
        let mut stream = self.docker.logs(&target(h), Some(opts));
        let mut out = String::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => out.push_str(&String::from_utf8_lossy(chunk.as_ref())),
                Err(e) if error::is_not_found(&e) => return Err(not_found(h)),
                Err(e) => {
                    return Err(error::backend(
                        &h.lab,
                        format!("reading the logs of {:?}", h.name),
                        e,
                    ));
                }
            }
        }
        Ok(out)
    }

    async fn create_once(
        &self,
        lab: &LabContext,
        spec: &hub_runtime::ContainerSpec,
    ) -> Result<String, bollard::errors::Error> {
        let name = container_name(&lab.name, &spec.name);
        let opts = CreateContainerOptionsBuilder::new().name(&name).build();
        let created = self
            .docker
            .create_container(Some(opts), container_body(lab, spec))
            .await?;
        for w in created.warnings.iter().filter(|w| !w.is_empty()) {
            tracing::warn!(lab = %lab.name, workload = %spec.name, "Docker: {w}");
        }
        Ok(created.id)
    }
}

impl DockerRuntime {
    /// The lab's containers, running or not, found by its label; only those of `kind` (the
    /// `io.hub.kind` label) when given.
    pub(crate) async fn lab_containers(
        &self,
        lab: &str,
        kind: Option<&str>,
    ) -> RuntimeResult<Vec<bollard::models::ContainerSummary>> {
        let mut marks = vec![format!("{}={lab}", labels::LAB)];
        marks.extend(kind.map(|k| format!("{}={k}", labels::KIND)));
        let filters = HashMap::from([("label", marks)]);
        let opts = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        self.docker
            .list_containers(Some(opts))
            .await
            .map_err(|e| error::backend(lab, "listing the lab's containers", e))
    }
}

#[async_trait]
impl Runtime for DockerRuntime {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn supports(&self, kind: WorkloadKind) -> bool {
        kind == WorkloadKind::Container
    }

    #[tracing::instrument(skip_all, fields(lab = %lab.name, workload = %spec.name()))]
    async fn create(&self, lab: &LabContext, spec: &WorkloadSpec) -> RuntimeResult<WorkloadHandle> {
        let WorkloadSpec::Container(c) = spec else {
            return Err(RuntimeError::Unsupported {
                backend: BACKEND,
                what: format!("{} {:?}", spec.kind(), spec.name()),
            });
        };
        let name = container_name(&lab.name, &c.name);
        let doing = format!("creating container {name:?}");
        self.ensure_volumes(&lab.name, c).await?;
        let mut pulled = false;
        let id = loop {
            match self.create_once(lab, c).await {
                Ok(id) => break id,
                // Try first, fetch on "no such image": a local image costs no extra call.
                Err(e) if error::is_no_such_image(&e) && !pulled => {
                    self.fetch_image(&lab.name, &c.name, &c.image).await?;
                    pulled = true;
                }
                Err(e) if error::is_no_such_image(&e) => {
                    return Err(RuntimeError::ImageUnavailable {
                        lab: lab.name.clone(),
                        workload: c.name.clone(),
                        image: c.image.clone(),
                        reason: error::message_of(&e).to_string(),
                    });
                }
                Err(e) if error::is_conflict(&e) => {
                    return Err(RuntimeError::NameTaken {
                        lab: lab.name.clone(),
                        what: "container",
                        name,
                    });
                }
                Err(e) if error::is_not_found(&e) && error::message_of(&e).contains("network") => {
                    return Err(RuntimeError::NotFound {
                        lab: lab.name.clone(),
                        what: "network",
                        name: lab.network.name.clone(),
                    });
                }
                Err(e) if error::is_address_in_use(&e) => {
                    return Err(error::address_in_use(
                        &lab.name,
                        &c.name,
                        c.ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
                    ));
                }
                Err(e) => return Err(error::backend(&lab.name, doing, e)),
            }
        };
        Ok(WorkloadHandle {
            lab: lab.name.clone(),
            name: c.name.clone(),
            kind: WorkloadKind::Container,
            id,
        })
    }

    #[tracing::instrument(skip_all, fields(lab = %h.lab, workload = %h.name))]
    async fn start(&self, h: &WorkloadHandle) -> RuntimeResult<()> {
        check_kind(h)?;
        self.unwire(h).await?;
        match self
            .docker
            .start_container(&target(h), None::<StartContainerOptions>)
            .await
        {
            Ok(()) => self.wire(h).await,
            Err(e) if error::is_address_in_use(&e) => {
                let ip = self
                    .docker
                    .inspect_container(&target(h), None::<InspectContainerOptions>)
                    .await
                    .ok()
                    .and_then(|i| requested_ip(&i))
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
                Err(error::address_in_use(&h.lab, &h.name, ip))
            }
            Err(e) if error::is_not_found(&e) => Err(not_found(h)),
            Err(e) => Err(failed(h, "starting", e)),
        }
    }

    async fn wait_ready(
        &self,
        lab: &LabContext,
        spec: &WorkloadSpec,
        h: &WorkloadHandle,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> RuntimeResult<()> {
        check_kind(h)?;
        let wants_health = match spec {
            WorkloadSpec::Container(c) => c.healthcheck.is_some(),
            WorkloadSpec::Vm(_) => false,
        };
        crate::ready::wait_ready(self, &lab.name, h, wants_health, timeout, cancel).await
    }

    #[tracing::instrument(skip_all, fields(lab = %h.lab, workload = %h.name))]
    async fn stop(&self, h: &WorkloadHandle, grace: Duration) -> RuntimeResult<()> {
        check_kind(h)?;
        let secs = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let opts = StopContainerOptionsBuilder::new().t(secs).build();
        match self.docker.stop_container(&target(h), Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if error::is_not_found(&e) => Ok(()),
            Err(e) => Err(failed(h, "stopping", e)),
        }
    }

    #[tracing::instrument(skip_all, fields(lab = %h.lab, workload = %h.name))]
    async fn remove(&self, h: &WorkloadHandle) -> RuntimeResult<()> {
        check_kind(h)?;
        let opts = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(&target(h), Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if error::is_not_found(&e) => Ok(()),
            // "removal of container ... is already in progress": someone else removes it.
            Err(e)
                if error::is_conflict(&e)
                    && error::message_of(&e).contains("already in progress") =>
            {
                Ok(())
            }
            Err(e) => Err(failed(h, "removing", e)),
        }
    }

    async fn inspect(&self, h: &WorkloadHandle) -> RuntimeResult<WorkloadStatus> {
        check_kind(h)?;
        match self
            .docker
            .inspect_container(&target(h), None::<InspectContainerOptions>)
            .await
        {
            Ok(i) => Ok(status_from_inspect(&h.lab, &i)),
            Err(e) if error::is_not_found(&e) => Err(not_found(h)),
            Err(e) => Err(failed(h, "inspecting", e)),
        }
    }

    async fn labs(&self) -> RuntimeResult<Vec<String>> {
        self.all_labs().await
    }

    async fn net_namespace(&self, h: &WorkloadHandle) -> RuntimeResult<Option<std::path::PathBuf>> {
        check_kind(h)?;
        let i = match self
            .docker
            .inspect_container(&target(h), None::<InspectContainerOptions>)
            .await
        {
            Ok(i) => i,
            Err(e) if error::is_not_found(&e) => return Err(not_found(h)),
            Err(e) => return Err(failed(h, "inspecting", e)),
        };
        // A stopped container has pid 0: no namespace to enter.
        Ok(i.state
            .and_then(|s| s.pid)
            .filter(|pid| *pid > 0)
            .map(|pid| std::path::PathBuf::from(format!("/proc/{pid}/ns/net"))))
    }

    async fn list(&self, lab: &str) -> RuntimeResult<Vec<WorkloadStatus>> {
        let found = self.lab_containers(lab, None).await?;
        // The lab's mesh agent and VPN gateway (hub-mesh) carry the lab's label but are no
        // workloads.
        Ok(found
            .iter()
            .filter(|s| {
                s.labels
                    .as_ref()
                    .and_then(|l| l.get(labels::KIND))
                    .is_none_or(|k| k != labels::KIND_MESH && k != labels::KIND_VPN)
            })
            .map(|s| status_from_summary(lab, s))
            .collect())
    }

    async fn logs(
        &self,
        _lab: &LabContext,
        h: &WorkloadHandle,
        tail: usize,
    ) -> RuntimeResult<String> {
        check_kind(h)?;
        self.tail_logs(h, tail).await
    }

    async fn follow_logs(
        &self,
        _lab: &LabContext,
        h: &WorkloadHandle,
        tail: usize,
    ) -> RuntimeResult<hub_runtime::LogStream> {
        check_kind(h)?;
        self.follow(h, tail)
    }

    #[tracing::instrument(skip_all, fields(lab = %h.lab, workload = %h.name))]
    async fn exec(
        &self,
        _lab: &LabContext,
        h: &WorkloadHandle,
        cmd: &[String],
    ) -> RuntimeResult<ExecOutput> {
        check_kind(h)?;
        let doing = format!(
            "running {cmd:?} in container {:?}",
            container_name(&h.lab, &h.name)
        );
        let config = ExecConfig {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(cmd.to_vec()),
            ..Default::default()
        };
        let created = match self.docker.create_exec(&target(h), config).await {
            Ok(c) => c,
            Err(e) if error::is_not_found(&e) => return Err(not_found(h)),
            Err(e) => return Err(error::backend(&h.lab, doing, e)),
        };
        let mut out = ExecOutput {
            exit_code: -1,
            stdout: String::new(),
            stderr: String::new(),
        };
        match self.docker.start_exec(&created.id, None).await {
            Ok(StartExecResults::Attached { mut output, .. }) => {
                while let Some(item) = output.next().await {
                    match item.map_err(|e| error::backend(&h.lab, doing.clone(), e))? {
                        LogOutput::StdErr { message } => {
                            out.stderr.push_str(&String::from_utf8_lossy(&message))
                        }
                        LogOutput::StdOut { message } | LogOutput::Console { message } => {
                            out.stdout.push_str(&String::from_utf8_lossy(&message))
                        }
                        LogOutput::StdIn { .. } => {}
                    }
                }
            }
            Ok(StartExecResults::Detached) => {}
            Err(e) => return Err(error::backend(&h.lab, doing, e)),
        }
        let inspected = self
            .docker
            .inspect_exec(&created.id)
            .await
            .map_err(|e| error::backend(&h.lab, doing.clone(), e))?;
        out.exit_code = inspected.exit_code.ok_or_else(|| {
            error::own(
                &h.lab,
                doing,
                DockerError::Incomplete {
                    what: "exec exit code",
                },
            )
        })?;
        Ok(out)
    }
}
