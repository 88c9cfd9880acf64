//! A lab segment spread over the fixture's hosts (for the mesh test and the multi-host bench):
//! the lab's Docker network on every host (same subnet, each bridge its own gateway: the
//! primary `.1`, host `i` (from 2) `.(i + 2)` of the infrastructure block, MTU from the mesh),
//! joined by hub-mesh; busybox containers placed on a chosen host.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::process::Output;

use hub_docker::DockerRuntime;
use hub_mesh::{MeshHost, MeshInfo, MeshSpec};

use super::hosts::{Hosts, TestHost};

/// The image of the lab's containers (built by scripts/setup-host.sh on this machine, copied
/// to the hosts).
pub const BUSYBOX: &str = "hub-test/busybox:latest";

/// The lab's network on every host, its mesh, and the fixture's hosts.
pub struct MeshLab {
    /// The lab's name.
    pub lab: String,
    /// The lab's /24, as `10.203.N`.
    pub prefix: String,
    /// The hosts.
    pub hosts: Vec<TestHost>,
    /// Their engines.
    pub runtimes: Vec<DockerRuntime>,
    /// This machine's engine.
    pub local: DockerRuntime,
    /// The mesh spec.
    pub spec: MeshSpec,
    /// What ensure reported.
    pub info: MeshInfo,
    /// The lab directory (keys).
    pub dir: tempfile::TempDir,
}

impl MeshLab {
    /// The network's name.
    pub fn network(&self) -> String {
        format!("{}-net", self.lab)
    }

    /// Makes the lab's network on every host (with busybox copied there) and the mesh that
    /// joins them.
    pub async fn up(fixture: &Hosts, lab: &str, third_octet: u8, port: u16) -> MeshLab {
        let local = DockerRuntime::connect()
            .await
            .expect("the local Docker Engine");
        let prefix = format!("10.203.{third_octet}");
        let subnet = format!("{prefix}.0/24");
        let dir = tempfile::tempdir().expect("a temporary lab directory");
        let mut spec = MeshSpec::new(lab, dir.path(), subnet.parse().unwrap(), port);
        let mut runtimes = Vec::new();
        for (i, host) in fixture.hosts.iter().enumerate() {
            let rt = host.runtime().await;
            rt.ensure_image_from(BUSYBOX, &[&local])
                .await
                .unwrap_or_else(|e| panic!("host {}: copying {BUSYBOX}: {e}", host.name));
            let gateway = if i == 0 { 1 } else { i + 2 };
            let net = format!("{lab}-net");
            let mtu = format!("com.docker.network.driver.mtu={}", spec.lab_mtu());
            let id = host.docker_ok(&[
                "network",
                "create",
                "--subnet",
                &subnet,
                "--gateway",
                &format!("{prefix}.{gateway}"),
                "-o",
                &mtu,
                "--label",
                &format!("io.hub.lab={lab}"),
                &net,
            ]);
            let bridge = format!("br-{}", &id.trim()[..12]);
            spec = spec.host(MeshHost::new(
                host.name.as_str(),
                rt.clone(),
                host.address,
                bridge,
            ));
            runtimes.push(rt);
        }
        let info = hub_mesh::ensure(&spec, &hub_wg::OsKeyGen, &local)
            .await
            .unwrap_or_else(|e| panic!("the mesh of lab {lab}: {e}"));
        MeshLab {
            lab: lab.into(),
            prefix,
            hosts: fixture.hosts.clone(),
            runtimes,
            local,
            spec,
            info,
            dir,
        }
    }

    /// The lab address `.last`.
    pub fn ip(&self, last: u8) -> Ipv4Addr {
        format!("{}.{last}", self.prefix).parse().unwrap()
    }

    /// Runs a busybox container `name` at `.last` on host `host` (from 0) with `cmd`.
    pub fn run(&self, host: usize, name: &str, last: u8, cmd: &[&str]) {
        let ip = self.ip(last).to_string();
        let label = format!("io.hub.lab={}", self.lab);
        let net = self.network();
        let mut args = vec![
            "run",
            "-d",
            "--name",
            name,
            "--label",
            &label,
            "--network",
            &net,
            "--ip",
            &ip,
            BUSYBOX,
        ];
        args.extend_from_slice(cmd);
        self.hosts[host].docker_ok(&args);
    }

    /// `docker exec NAME ARGS` on host `host`.
    pub fn exec(&self, host: usize, name: &str, args: &[&str]) -> Output {
        let mut all = vec!["exec", name];
        all.extend_from_slice(args);
        self.hosts[host].docker_cli(&all)
    }

    /// The mesh's hosts as `remove` takes them.
    pub fn mesh_hosts(&self) -> Vec<(&str, &DockerRuntime)> {
        self.hosts
            .iter()
            .map(|h| h.name.as_str())
            .zip(self.runtimes.iter())
            .collect()
    }

    /// Removes the lab's mesh, then its containers and networks, from every host.
    pub async fn down(&self) {
        hub_mesh::remove(&self.lab, &self.mesh_hosts(), &self.local)
            .await
            .unwrap_or_else(|e| panic!("removing the mesh of lab {}: {e}", self.lab));
        let label = format!("label=io.hub.lab={}", self.lab);
        for h in &self.hosts {
            let ids = h.docker_ok(&["ps", "-aq", "--filter", &label]);
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                h.docker_cli(&args);
            }
        }
        for h in &self.hosts {
            h.docker_cli(&["network", "rm", &self.network()]);
        }
    }
}
