//! The mesh agent on one host: a container of the mesh image, named `hub-mesh-<lab>` and
//! labelled with the lab, on the host's network with NET_ADMIN and `/dev/net/tun`. Its
//! settings and key are copied into it (`/mesh/env`, `/mesh/wg.conf` at 0600) between create
//! and start, so the key never appears in the container's config, command line or logs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, DeviceMapping, HostConfig, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder, UploadToContainerOptionsBuilder,
    WaitContainerOptions,
};
use futures::StreamExt as _;
use hub_runtime::{RuntimeError, labels};

use crate::error::{MeshError, MeshResult};
use crate::image::AGENT_PATH;

/// The `io.hub.kind` label of mesh containers.
pub const MESH_KIND: &str = labels::KIND_MESH;
/// How long an agent may take to report ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Seconds a stopping agent gets to remove its interfaces before it is killed.
const STOP_SECONDS: i32 = 10;

/// The agent container of `lab` on every host.
pub fn container_name(lab: &str) -> String {
    format!("hub-mesh-{lab}")
}

/// What one host's agent needs: its settings (public) and its WireGuard config (secret).
pub(crate) struct AgentConfig {
    /// `/mesh/env`: shell assignments of names, addresses, MTUs and peers.
    pub env: String,
    /// `/mesh/wg.conf`: `wg setconf` input with the host's private key.
    pub wg_conf: String,
    /// The hash of everything but the private key, kept as a label to tell an unchanged
    /// agent from one to replace.
    pub hash: String,
}

/// One host as the agent functions see it, and which of the lab's containers they handle:
/// the mesh agent's ([`Target::mesh`]) or the VPN gateway's (`gateway.rs`).
pub(crate) struct Target<'a> {
    pub lab: &'a str,
    pub host: &'a str,
    pub docker: &'a Docker,
    /// The `io.hub.kind` label of the containers.
    pub kind: &'static str,
    /// What runs in them, for errors ("mesh agent").
    pub what: &'static str,
    /// The first words of the line the container prints when it is ready.
    pub ready: &'static str,
}

/// A file copied into a container between create and start: its path in the container, its
/// contents, its mode.
pub(crate) type FileIn = (String, String, u32);

/// A container to run: its name, what it is made from, and the files copied into it between
/// create and start.
pub(crate) struct Launch {
    pub name: String,
    pub body: ContainerCreateBody,
    pub files: Vec<FileIn>,
    /// The hash of what it is made from, kept as a label to tell an unchanged container from
    /// one to replace.
    pub hash: String,
}

impl<'a> Target<'a> {
    /// The mesh agent of `lab` on `host`.
    pub fn mesh(lab: &'a str, host: &'a str, docker: &'a Docker) -> Self {
        Target {
            lab,
            host,
            docker,
            kind: MESH_KIND,
            what: "mesh agent",
            ready: "hub-mesh ready",
        }
    }

    fn failed(&self, doing: impl Into<String>, e: bollard::errors::Error) -> MeshError {
        MeshError::Host {
            lab: self.lab.to_string(),
            host: self.host.to_string(),
            doing: doing.into(),
            source: Box::new(RuntimeError::Backend {
                lab: self.lab.to_string(),
                context: format!("the lab's {}", self.what),
                source: Box::new(e),
            }),
        }
    }

    fn agent_error(&self, reason: impl Into<String>, log: String) -> MeshError {
        MeshError::Agent {
            lab: self.lab.to_string(),
            host: self.host.to_string(),
            what: self.what,
            reason: reason.into(),
            log,
        }
    }

    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (labels::LAB.to_string(), self.lab.to_string()),
            (labels::KIND.to_string(), self.kind.to_string()),
        ])
    }

    /// The lab's containers of this kind on this host, running or not.
    async fn list(&self) -> MeshResult<Vec<(String, Option<String>)>> {
        let filters = HashMap::from([(
            "label",
            vec![
                format!("{}={}", labels::LAB, self.lab),
                format!("{}={}", labels::KIND, self.kind),
            ],
        )]);
        let opts = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let found = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(|e| self.failed(format!("listing the {} containers", self.what), e))?;
        Ok(found
            .into_iter()
            .filter_map(|c| {
                let id = c.id?;
                let running = c.state.map(|s| s.to_string()) == Some("running".into());
                let hash = c.labels.and_then(|mut l| l.remove(labels::SPEC_HASH));
                Some((id, if running { hash } else { None }))
            })
            .collect())
    }

    /// Makes the agent run with `cfg` from `image`: nothing to do when it already does;
    /// otherwise the old agent is stopped (removing its interfaces) and a new one started.
    /// Returns the agent's "ready" line.
    pub async fn ensure(&self, image: &str, cfg: &AgentConfig) -> MeshResult<String> {
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            host_config: Some(HostConfig {
                network_mode: Some("host".into()),
                cap_add: Some(vec!["NET_ADMIN".into()]),
                devices: Some(vec![tun_device()]),
                // After a host's reboot the agent makes the interfaces again.
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.run(Launch {
            name: container_name(self.lab),
            body,
            files: vec![
                ("mesh/env".into(), cfg.env.clone(), 0o644),
                ("mesh/wg.conf".into(), cfg.wg_conf.clone(), 0o600),
            ],
            hash: cfg.hash.clone(),
        })
        .await
    }

    /// Makes `launch` run: nothing to do when the one container of this kind runs with its
    /// hash; otherwise the old ones are stopped and removed, and a new one is created, given
    /// its files, started and waited for until it prints its ready line (returned). One that
    /// does not come up is removed again.
    pub async fn run(&self, launch: Launch) -> MeshResult<String> {
        let existing = self.list().await?;
        if existing.len() == 1 && existing[0].1.as_deref() == Some(launch.hash.as_str()) {
            return self.ready_line(&existing[0].0).await;
        }
        for (id, _) in &existing {
            self.stop_and_remove(id).await?;
        }
        let Launch {
            name,
            mut body,
            files,
            hash,
        } = launch;
        let mut labels = self.labels();
        labels.insert(labels::SPEC_HASH.to_string(), hash);
        body.labels = Some(labels);
        self.create(&name, body).await?;
        let started = async {
            self.upload(&name, &files).await?;
            self.start(&name).await?;
            self.wait_ready(&name).await
        };
        match started.await {
            Ok(line) => Ok(line),
            Err(e) => {
                // Nothing half-made: the container that did not come up goes.
                let _ = self.stop_and_remove(&name).await;
                Err(e)
            }
        }
    }

    async fn create(&self, name: &str, body: ContainerCreateBody) -> MeshResult<()> {
        let opts = CreateContainerOptionsBuilder::new().name(name).build();
        self.docker
            .create_container(Some(opts), body)
            .await
            .map(|_| ())
            .map_err(|e| self.failed(format!("creating container {name}"), e))
    }

    async fn start(&self, name: &str) -> MeshResult<()> {
        self.docker
            .start_container(name, None)
            .await
            .map_err(|e| self.failed(format!("starting container {name}"), e))
    }

    /// Copies `files` (path, contents, mode) into the created container.
    async fn upload(&self, name: &str, files: &[FileIn]) -> MeshResult<()> {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, data, mode) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(*mode);
            h.set_cksum();
            tar.append_data(&mut h, path, data.as_bytes())
                .map_err(|e| {
                    self.agent_error(format!("config could not be packed: {e}"), String::new())
                })?;
        }
        let tar = tar.into_inner().map_err(|e| {
            self.agent_error(format!("config could not be packed: {e}"), String::new())
        })?;
        let opts = UploadToContainerOptionsBuilder::new().path("/").build();
        self.docker
            .upload_to_container(name, Some(opts), bollard::body_full(tar.into()))
            .await
            .map_err(|e| self.failed(format!("copying the config into {name}"), e))
    }

    async fn log(&self, name: &str) -> String {
        let opts = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail("50")
            .build();
        let mut out = String::new();
        let mut logs = self.docker.logs(name, Some(opts));
        while let Some(Ok(chunk)) = logs.next().await {
            out.push_str(&chunk.to_string());
        }
        out
    }

    async fn ready_line(&self, name: &str) -> MeshResult<String> {
        let log = self.log(name).await;
        match log.lines().rev().find(|l| l.starts_with(self.ready)) {
            Some(l) => Ok(l.to_string()),
            None => Err(self.agent_error("runs but never reported ready", log)),
        }
    }

    async fn wait_ready(&self, name: &str) -> MeshResult<String> {
        let start = Instant::now();
        loop {
            if let Ok(line) = self.ready_line(name).await {
                return Ok(line);
            }
            let info = self
                .docker
                .inspect_container(name, None)
                .await
                .map_err(|e| self.failed(format!("inspecting {name}"), e))?;
            let running = info.state.and_then(|s| s.running).unwrap_or(false);
            // The restart policy brings a failed agent back at once: one restart is a failure.
            let restarted = info.restart_count.unwrap_or(0) > 0;
            if !running || restarted {
                return Err(self.agent_error("stopped while setting up", self.log(name).await));
            }
            if start.elapsed() > READY_TIMEOUT {
                return Err(self.agent_error(
                    format!("did not report ready within {READY_TIMEOUT:?}"),
                    self.log(name).await,
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops a container (a mesh agent then removes its interfaces) and removes it; gone is Ok.
    async fn stop_and_remove(&self, id: &str) -> MeshResult<()> {
        let stop = StopContainerOptionsBuilder::new().t(STOP_SECONDS).build();
        match self.docker.stop_container(id, Some(stop)).await {
            Ok(()) => {}
            Err(e) if status(&e) == Some(404) => return Ok(()),
            Err(e) if status(&e) == Some(304) => {}
            Err(e) => {
                return Err(self.failed(format!("stopping the {} container {id}", self.what), e));
            }
        }
        let rm = RemoveContainerOptionsBuilder::new().force(true).build();
        match self.docker.remove_container(id, Some(rm)).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(self.failed(format!("removing the {} container {id}", self.what), e)),
        }
    }

    /// Stops and removes the lab's containers of this kind; returns how many there were.
    pub async fn remove_all(&self) -> MeshResult<usize> {
        let existing = self.list().await?;
        for (id, _) in &existing {
            self.stop_and_remove(id).await?;
        }
        Ok(existing.len())
    }

    /// Whether one of the lab's containers of this kind runs.
    pub async fn running(&self) -> MeshResult<bool> {
        Ok(self.list().await?.iter().any(|(_, hash)| hash.is_some()))
    }

    /// Whether one of the lab's containers of this kind runs, made with `hash`.
    pub async fn running_with(&self, hash: &str) -> MeshResult<bool> {
        Ok(self
            .list()
            .await?
            .iter()
            .any(|(_, h)| h.as_deref() == Some(hash)))
    }

    /// Removes the lab's agents and then, with a short-lived container of `image` (when the
    /// host has one), the lab's interfaces a killed agent may have left. Returns how many
    /// agent containers there were.
    pub async fn remove(&self, image: Option<&str>, wg: &str, vx: &str) -> MeshResult<usize> {
        let removed = self.remove_all().await?;
        if let Some(image) = image {
            self.clean_interfaces(image, wg, vx).await?;
        }
        Ok(removed)
    }

    async fn clean_interfaces(&self, image: &str, wg: &str, vx: &str) -> MeshResult<()> {
        let name = format!("{}-clean", container_name(self.lab));
        let _ = self.stop_and_remove(&name).await;
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(vec![
                AGENT_PATH.into(),
                "clean".into(),
                wg.into(),
                vx.into(),
            ]),
            entrypoint: Some(vec!["/bin/sh".into()]),
            labels: Some(self.labels()),
            host_config: Some(HostConfig {
                network_mode: Some("host".into()),
                cap_add: Some(vec!["NET_ADMIN".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.create(&name, body).await?;
        let run = async {
            self.start(&name).await?;
            let mut wait = self
                .docker
                .wait_container(&name, None::<WaitContainerOptions>);
            while let Some(item) = wait.next().await {
                match item {
                    Ok(r) if r.status_code != 0 => {
                        return Err(self.agent_error(
                            format!("cleanup exited with {}", r.status_code),
                            self.log(&name).await,
                        ));
                    }
                    Ok(_) => {}
                    Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => {
                        return Err(self.agent_error(
                            format!("cleanup exited with {code}"),
                            self.log(&name).await,
                        ));
                    }
                    Err(e) => return Err(self.failed(format!("waiting for {name}"), e)),
                }
            }
            Ok(())
        };
        let result = run.await;
        let _ = self.stop_and_remove(&name).await;
        result
    }
}

/// `/dev/net/tun` for wireguard-go, where the kernel has no WireGuard.
pub(crate) fn tun_device() -> DeviceMapping {
    DeviceMapping {
        path_on_host: Some("/dev/net/tun".into()),
        path_in_container: Some("/dev/net/tun".into()),
        cgroup_permissions: Some("rwm".into()),
    }
}

fn status(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}
