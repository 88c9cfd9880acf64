//! The road-warrior client of a `from: vpn:PEER` check: a network namespace of this host
//! (`hubck-LAB.PEER`) joined to the host by a veth pair only, running WireGuard (the kernel's,
//! else `wireguard-go`) with the peer's real client config: its key, address, AllowedIPs and
//! Endpoint. Its default route points at the host end of the veth, so the Endpoint (an
//! address of this host) is reached as a remote client reaches it, and the lab only through
//! the tunnel.
//!
//! It is removed when the checks end, and on every other way out: [`Drop`] removes it too
//! (on an error, a panic or a cancelled check). The namespace's name carries the lab's, so
//! `down` removes one a killed `hub check` left ([`remove_leftovers`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use hub_runtime::process::Tool;
use hub_runtime::wait::Deadline;
use sha2::Digest as _;
use tokio_util::sync::CancellationToken;

use crate::lab::Lab;

/// The prefix of every check namespace: `hubck-LAB.PEER`.
pub const NAMESPACE_PREFIX: &str = "hubck-";

/// A running client.
pub(crate) struct VpnClient {
    ns: String,
    host_if: String,
    daemon: Option<tokio::process::Child>,
    removed: bool,
}

/// The namespace of `peer`'s client in `lab`.
pub(crate) fn namespace_name(lab: &str, peer: &str) -> String {
    format!("{NAMESPACE_PREFIX}{lab}.{peer}")
}

/// The host end of the namespace's veth pair (15 characters at most, from the namespace).
fn host_interface(ns: &str) -> String {
    let h = sha2::Sha256::digest(ns.as_bytes());
    format!("hck{:02x}{:02x}{:02x}{:02x}", h[0], h[1], h[2], h[3])
}

/// The /30 of the veth pair, in 198.19.0.0/16 (benchmarking space, RFC 2544), from the
/// namespace's name: (host end, namespace end).
fn link_addresses(ns: &str) -> (String, String) {
    let h = sha2::Sha256::digest(ns.as_bytes());
    let block = (u32::from(h[4]) << 8 | u32::from(h[5])) & 0x3fff;
    let base = u32::from(std::net::Ipv4Addr::new(198, 19, 0, 0)) + block * 4;
    let a = std::net::Ipv4Addr::from(base + 1);
    let b = std::net::Ipv4Addr::from(base + 2);
    (a.to_string(), b.to_string())
}

async fn ip(args: &[&str]) -> Result<String, String> {
    Tool::new("ip")
        .args(args)
        .timeout(Duration::from_secs(10))
        .run()
        .await
        .map_err(|e| e.to_string())
}

impl VpnClient {
    /// Starts `peer`'s client, ready to send through the tunnel.
    pub(crate) async fn start(
        lab: &Lab,
        peer: &str,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<VpnClient, String> {
        let path = lab.vpn_config(peer).map_err(|e| e.to_string())?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let config =
            hub_wg::WgConfig::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let ns = namespace_name(lab.name(), peer);
        remove_namespace(&ns).await;
        let mut client = VpnClient {
            host_if: host_interface(&ns),
            ns,
            daemon: None,
            removed: false,
        };
        client.setup(&config, timeout, cancel).await?;
        Ok(client)
    }

    async fn setup(
        &mut self,
        config: &hub_wg::WgConfig,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<(), String> {
        let ns = self.ns.clone();
        let (host_addr, ns_addr) = link_addresses(&ns);
        let inner = format!("{}i", self.host_if);
        // Unique on the host, not only in the namespace: wireguard-go's control socket
        // (/var/run/wireguard/IF.sock) is in the host's file system, shared by all namespaces.
        let wg_if = format!("{}w", self.host_if);
        let wg_if = wg_if.as_str();
        ip(&["netns", "add", &ns]).await?;
        ip(&[
            "link",
            "add",
            &self.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &inner,
            "netns",
            &ns,
        ])
        .await?;
        ip(&[
            "addr",
            "add",
            &format!("{host_addr}/30"),
            "dev",
            &self.host_if,
        ])
        .await?;
        ip(&["link", "set", &self.host_if, "up"]).await?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ns_addr}/30"),
            "dev",
            &inner,
        ])
        .await?;
        ip(&["-n", &ns, "link", "set", &inner, "up"]).await?;
        ip(&["-n", &ns, "link", "set", "lo", "up"]).await?;
        ip(&["-n", &ns, "route", "add", "default", "via", &host_addr]).await?;

        let userspace = std::env::var(hub_wg::FORCE_USERSPACE_ENV).is_ok_and(|v| v == "1");
        if userspace
            || ip(&["-n", &ns, "link", "add", wg_if, "type", "wireguard"])
                .await
                .is_err()
        {
            let child = tokio::process::Command::new("ip")
                .args(["netns", "exec", &ns, "wireguard-go", "-f", wg_if])
                .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot start wireguard-go: {e}"))?;
            self.daemon = Some(child);
            let wait = Deadline::new(timeout, cancel);
            while ip(&["-n", &ns, "link", "show", wg_if]).await.is_err() {
                if wait.pause(Duration::from_millis(100)).await.is_err() {
                    return Err(format!("wireguard-go made no {wg_if} in {ns} in time"));
                }
            }
        }
        // The private key goes in on stdin, never on a command line or in a file of ours.
        Tool::new("ip")
            .args(["netns", "exec", &ns, "wg", "setconf", wg_if, "/dev/stdin"])
            .stdin(config.strip())
            .timeout(Duration::from_secs(10))
            .run()
            .await
            .map_err(|e| e.to_string())?;
        for addr in &config.interface.addresses {
            ip(&["-n", &ns, "addr", "add", &addr.to_string(), "dev", wg_if]).await?;
        }
        ip(&["-n", &ns, "link", "set", wg_if, "up"]).await?;
        for peer in &config.peers {
            for net in &peer.allowed_ips {
                ip(&[
                    "-n",
                    &ns,
                    "route",
                    "replace",
                    &net.to_string(),
                    "dev",
                    wg_if,
                ])
                .await?;
            }
        }
        // The hub's client configs keep the tunnel alive (PersistentKeepalive), so the client
        // greets the gateway at once; until that handshake is done the gateway cannot send
        // to it, and a probe towards the client would fail for the wrong reason.
        let endpoint = config
            .peers
            .first()
            .and_then(|p| p.endpoint.clone())
            .unwrap_or_else(|| "(no endpoint)".into());
        let wait = Deadline::new(timeout, cancel);
        loop {
            let shown = Tool::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns,
                    "wg",
                    "show",
                    wg_if,
                    "latest-handshakes",
                ])
                .timeout(Duration::from_secs(10))
                .run()
                .await
                .map_err(|e| e.to_string())?;
            let shaken = shown
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .any(|t| t.parse::<u64>().is_ok_and(|t| t > 0));
            if shaken {
                return Ok(());
            }
            if wait.pause(Duration::from_millis(100)).await.is_err() {
                return Err(format!(
                    "no WireGuard handshake with the gateway at {endpoint} within {:.1} s",
                    timeout.as_secs_f64()
                ));
            }
        }
    }

    /// The namespace's path, for [`super::netns::run_in`].
    pub(crate) fn namespace_path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.ns)
    }

    /// Removes the client: its WireGuard daemon, namespace and veth pair.
    pub(crate) async fn remove(mut self) {
        self.removed = true;
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill().await;
        }
        remove_namespace(&self.ns).await;
        let _ = ip(&["link", "del", &self.host_if]).await;
    }
}

impl Drop for VpnClient {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        if let Some(mut d) = self.daemon.take() {
            let _ = d.start_kill();
        }
        // Synchronous: a drop cannot wait on the async runtime.
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.ns])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.host_if])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Stops what runs in namespace `ns` (a kernel WireGuard link goes with it) and deletes it.
async fn remove_namespace(ns: &str) {
    if let Ok(pids) = ip(&["netns", "pids", ns]).await {
        for pid in pids.split_whitespace() {
            let _ = Tool::new("kill").arg(pid).run().await;
        }
    }
    let _ = ip(&["netns", "del", ns]).await;
    let _ = ip(&["link", "del", &host_interface(ns)]).await;
}

/// Removes every check namespace of `lab` that a killed `hub check` left; returns their names.
pub async fn remove_leftovers(lab: &str) -> Vec<String> {
    let prefix = format!("{NAMESPACE_PREFIX}{lab}.");
    let mut removed = Vec::new();
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return removed;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) {
            remove_namespace(&name).await;
            removed.push(name);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_kernel_and_carry_the_lab() {
        let ns = namespace_name("a-very-long-lab-name-of-many-letters", "laptop");
        assert!(ns.starts_with("hubck-a-very-long-lab-name-of-many-letters."));
        assert_eq!(host_interface(&ns).len(), 11);
        assert!(format!("{}i", host_interface(&ns)).len() <= 15);
        let (a, b) = link_addresses(&ns);
        assert!(
            a.starts_with("198.19.") && b.starts_with("198.19."),
            "{a} {b}"
        );
    }
}
