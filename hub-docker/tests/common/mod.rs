//! Shared helpers of the hub-docker tests: connecting (failing clearly when Docker is missing),
//! cleanup guards, and container specs.
#![allow(dead_code)]

pub mod registry;

use std::net::Ipv4Addr;
use std::time::Duration;

use hub_docker::DockerRuntime;
use hub_docker::bollard::query_parameters::RemoveImageOptionsBuilder;
use hub_runtime::{
    ContainerSpec, LabContext, NetworkInfo, NetworkRuntime, NetworkSpec, Runtime, WorkloadHandle,
    WorkloadSpec,
};
use tokio_util::sync::CancellationToken;

/// The image every test container runs (built by scripts/setup/20-images.sh).
pub const BUSYBOX: &str = "hub-test/busybox:latest";

/// Connects to the local engine, or fails the test saying how to start it.
pub async fn docker() -> DockerRuntime {
    match DockerRuntime::connect().await {
        Ok(d) => d,
        Err(e) => panic!(
            "these tests need a running Docker Engine and the hub-test images: {e}\n\
             run scripts/setup-host.sh as root"
        ),
    }
}

/// Removes a lab's containers and network (and any extra networks and images the test made)
/// when dropped, even when the test fails; also cleans up at creation, in case an earlier
/// run was killed.
pub struct Cleanup {
    lab: String,
    networks: Vec<String>,
    images: Vec<String>,
}

impl Cleanup {
    pub async fn new(lab: &str) -> Cleanup {
        let c = Cleanup {
            lab: lab.to_string(),
            networks: Vec::new(),
            images: Vec::new(),
        };
        clean(&c.lab, &[], &[]).await;
        c
    }

    /// Also removes the network `name` (one the test made outside the hub).
    pub async fn network(&mut self, name: &str) {
        clean("-", &[name.to_string()], &[]).await;
        self.networks.push(name.to_string());
    }

    /// Also removes the image `name`.
    pub async fn image(&mut self, name: &str) {
        clean("-", &[], &[name.to_string()]).await;
        self.images.push(name.to_string());
    }
}

async fn clean(lab: &str, networks: &[String], images: &[String]) {
    let Ok(d) = DockerRuntime::connect().await else {
        return;
    };
    if lab != "-" {
        if let Err(e) = d.remove_lab(lab).await {
            eprintln!("cleanup of lab {lab}: {e}");
        }
    }
    for n in networks {
        // Containers the test attached to it go first.
        let _ = d.client().remove_network(n).await;
    }
    for i in images {
        let opts = RemoveImageOptionsBuilder::new().force(true).build();
        let _ = d.client().remove_image(i, Some(opts), None).await;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let lab = self.lab.clone();
        let networks = std::mem::take(&mut self.networks);
        let images = std::mem::take(&mut self.images);
        // A thread of its own: this may run inside (or after) the test's runtime.
        let joined = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(clean(&lab, &networks, &images));
        })
        .join();
        if joined.is_err() {
            eprintln!("cleanup of lab {} panicked", self.lab);
        }
    }
}

pub fn net_spec(lab: &str, subnet: &str) -> NetworkSpec {
    let subnet: ipnet::Ipv4Net = subnet.parse().expect("test subnet");
    NetworkSpec {
        lab: lab.to_string(),
        name: format!("{lab}-net"),
        subnet,
        gateway: Ipv4Addr::from(u32::from(subnet.network()) + 1),
        attach_to: None,
        labels: Default::default(),
        mtu: None,
    }
}

pub fn lab_ctx(lab: &str, network: NetworkInfo) -> LabContext {
    LabContext {
        name: lab.to_string(),
        dir: std::env::temp_dir().join(format!("hub-{lab}")),
        network,
        dns: Vec::new(),
        domain: format!("{lab}.lab"),
        segments: Vec::new(),
    }
}

/// A busybox container serving a page that names it, on port 80.
pub fn httpd(name: &str, ip: Option<Ipv4Addr>) -> ContainerSpec {
    let mut c = ContainerSpec::new(name, BUSYBOX);
    c.cmd = vec![
        "sh".into(),
        "-c".into(),
        format!(
            "mkdir -p /www && echo 'hello from {name}' > /www/index.html && exec httpd -f -p 80 -h /www"
        ),
    ];
    c.ip = ip;
    c.spec_hash = format!("hash-{name}");
    c
}

/// A busybox container that just sleeps.
pub fn sleeper(name: &str, ip: Option<Ipv4Addr>) -> ContainerSpec {
    let mut c = ContainerSpec::new(name, BUSYBOX);
    c.cmd = vec!["sleep".into(), "600".into()];
    c.ip = ip;
    c.spec_hash = format!("hash-{name}");
    c
}

/// Creates, starts and waits for a container.
pub async fn up(
    d: &DockerRuntime,
    lab: &LabContext,
    spec: ContainerSpec,
) -> hub_runtime::RuntimeResult<WorkloadHandle> {
    let ws = WorkloadSpec::Container(spec);
    let h = d.create(lab, &ws).await?;
    d.start(&h).await?;
    d.wait_ready(
        lab,
        &ws,
        &h,
        Duration::from_secs(30),
        CancellationToken::new(),
    )
    .await?;
    Ok(h)
}

/// Fetches `http://IP/` from inside `client` for each address (a few tries each, bounded),
/// returning `(ip, body or FAIL)` pairs. (Debian's static busybox `wget -T` crashes, hence
/// `timeout`.)
pub async fn http_from(
    d: &DockerRuntime,
    lab: &LabContext,
    client: &WorkloadHandle,
    ips: &[Ipv4Addr],
) -> Vec<(Ipv4Addr, String)> {
    let list: Vec<String> = ips.iter().map(Ipv4Addr::to_string).collect();
    let script = format!(
        "for t in {}; do ok=; for i in 1 2 3 4 5; do \
         if out=$(timeout 3 wget -q -O - http://$t/); then echo \"$t $out\"; ok=1; break; fi; sleep 0.2; \
         done; [ -n \"$ok\" ] || echo \"$t FAIL\"; done",
        list.join(" ")
    );
    let out = d
        .exec(lab, client, &["sh".into(), "-c".into(), script])
        .await
        .expect("exec wget in the client container");
    out.stdout
        .lines()
        .filter_map(|l| {
            let (ip, body) = l.split_once(' ')?;
            Some((ip.parse().ok()?, body.to_string()))
        })
        .collect()
}

/// Ensures the lab network for `lab` on `subnet`.
pub async fn network(d: &DockerRuntime, lab: &str, subnet: &str) -> NetworkInfo {
    d.ensure_network(&net_spec(lab, subnet))
        .await
        .expect("create the lab network")
}
