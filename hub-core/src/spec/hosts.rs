//! The hosts a lab spans (`hosts:`), their endpoints, and how workloads are placed on them.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The Docker endpoint of a host when the spec gives none.
pub const DEFAULT_DOCKER: &str = "unix:///var/run/docker.sock";
/// The libvirt URI of a host whose Docker endpoint is local, when the spec gives none.
pub const DEFAULT_LIBVIRT: &str = "qemu:///system";
/// The `libvirt:` value of a host that runs no VMs.
pub const NO_LIBVIRT: &str = "none";
/// The files a `tls:` folder must hold (Docker's own names).
pub const TLS_FILES: [&str; 3] = ["ca.pem", "cert.pem", "key.pem"];

/// A host of the lab, as written:
///
/// ```yaml
/// hosts:
///   - name: h1                                  # the primary: netd and the VPN run here
///   - name: h2
///     docker: tcp://192.168.50.12:2376          # unix:// (default) or tcp:// with `tls`
///     tls: ./certs/h2                           # ca.pem, cert.pem, key.pem
///     libvirt: qemu+tcp://192.168.50.12/system  # default qemu:///system for a local engine
///     address: 192.168.50.12                    # the underlay address other hosts reach
/// placement: epvm                               # or round-robin
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Its name (a DNS label), which `host:` on a workload names.
    pub name: String,
    /// Its Docker Engine: `unix:///PATH` (default `unix:///var/run/docker.sock`) or
    /// `tcp://HOST:PORT` with `tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<String>,
    /// The folder holding `ca.pem`, `cert.pem` and `key.pem` for a `tcp://` engine (relative
    /// to the spec's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<PathBuf>,
    /// Its libvirt URI (`qemu:///system`, `qemu+tcp://H/system`, `qemu+ssh://user@H/system`),
    /// or `none`. Default: `qemu:///system` for a host whose engine is local, none otherwise
    /// (`qemu:///system` would be the hub's own machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libvirt: Option<String>,
    /// The underlay address the other hosts reach it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl Host {
    /// A host `name` on the local engines (set the endpoints with the other methods).
    pub fn new(name: impl Into<String>) -> Self {
        Host {
            name: name.into(),
            docker: None,
            tls: None,
            libvirt: None,
            address: None,
        }
    }
    /// Its Docker endpoint (`unix:///var/run/docker.sock`, `tcp://H:2376`).
    pub fn docker(mut self, endpoint: impl Into<String>) -> Self {
        self.docker = Some(endpoint.into());
        self
    }
    /// The TLS folder of a `tcp://` endpoint (`ca.pem`, `cert.pem`, `key.pem`).
    pub fn tls(mut self, dir: impl Into<PathBuf>) -> Self {
        self.tls = Some(dir.into());
        self
    }
    /// Its libvirt URI, or `none`.
    pub fn libvirt(mut self, uri: impl Into<String>) -> Self {
        self.libvirt = Some(uri.into());
        self
    }
    /// Its underlay address.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }
}

/// What the lab segment over several hosts costs each packet: WireGuard over IPv6 (80 bytes,
/// the larger case) and VXLAN over IPv4 with its inner Ethernet header (50).
pub const SEGMENT_OVERHEAD: u16 = 130;
/// The underlay MTU assumed when `mesh.underlay_mtu` is not given.
pub const DEFAULT_UNDERLAY_MTU: u16 = 1500;

/// How the hosts' copies of the lab network are joined, in a lab over several hosts:
///
/// ```yaml
/// mesh:
///   port: 51999          # UDP port of the hosts' WireGuard mesh (default: 51900 + VNI mod 100)
///   underlay_mtu: 9000   # the MTU between the hosts (default 1500); the lab's is 130 less
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mesh {
    /// The UDP port every host's mesh WireGuard listens on, on its underlay address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The MTU of the network between the hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay_mtu: Option<u16>,
}

impl Mesh {
    /// The mesh's WireGuard listens on UDP `port` on every host.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
    /// The network between the hosts carries `mtu` bytes.
    pub fn underlay_mtu(mut self, mtu: u16) -> Self {
        self.underlay_mtu = Some(mtu);
        self
    }
    /// The MTU the lab network gets on every host: the underlay's less [`SEGMENT_OVERHEAD`].
    pub fn lab_mtu(&self) -> u16 {
        self.underlay_mtu
            .unwrap_or(DEFAULT_UNDERLAY_MTU)
            .saturating_sub(SEGMENT_OVERHEAD)
    }
}

/// How the workloads without `host:` are placed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Placement {
    /// E-PVM: the host where the workload's marginal cost is lowest (default).
    #[default]
    #[serde(rename = "epvm", alias = "e-pvm")]
    Epvm,
    /// The hosts in turn.
    #[serde(rename = "round-robin")]
    RoundRobin,
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Placement::Epvm => "epvm",
            Placement::RoundRobin => "round-robin",
        })
    }
}

impl Placement {
    /// True for the default (E-PVM).
    pub fn is_default(&self) -> bool {
        *self == Placement::default()
    }
}

/// A host's Docker endpoint, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "lowercase")]
pub enum DockerEndpoint {
    /// A Unix socket on the hub's machine.
    Unix {
        /// The socket.
        path: PathBuf,
    },
    /// A TCP endpoint with TLS (mutual: the hub shows its client certificate).
    Tcp {
        /// `HOST:PORT`.
        addr: String,
        /// The folder of `ca.pem`, `cert.pem`, `key.pem` (the paths, never the keys, are
        /// recorded).
        tls: PathBuf,
    },
}

impl DockerEndpoint {
    /// Parses `endpoint` (`unix:///PATH`, `tcp://HOST:PORT`) with the TLS folder a `tcp://`
    /// one needs. The message says what is wrong.
    pub fn parse(endpoint: &str, tls: Option<&Path>) -> Result<Self, String> {
        if let Some(path) = endpoint.strip_prefix("unix://") {
            if tls.is_some() {
                return Err("`tls` is for a tcp:// endpoint; a Unix socket needs none".into());
            }
            if !path.starts_with('/') {
                return Err(format!(
                    "\"{endpoint}\" is not a Unix socket endpoint; write unix:///ABSOLUTE/PATH"
                ));
            }
            return Ok(DockerEndpoint::Unix { path: path.into() });
        }
        if let Some(addr) = endpoint.strip_prefix("tcp://") {
            let addr = addr.trim_end_matches('/');
            let port_ok = addr
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !port_ok || addr.contains('/') {
                return Err(format!(
                    "\"{endpoint}\" is not a TCP endpoint; write tcp://HOST:PORT (Docker's TLS \
                     port is 2376)"
                ));
            }
            let Some(tls) = tls else {
                return Err(format!(
                    "\"{endpoint}\" needs `tls`: a folder holding ca.pem, cert.pem and key.pem \
                     (an engine without TLS obeys anyone who reaches its port)"
                ));
            };
            return Ok(DockerEndpoint::Tcp {
                addr: addr.to_string(),
                tls: tls.to_path_buf(),
            });
        }
        if endpoint.starts_with("ssh://") {
            return Err(format!(
                "\"{endpoint}\": ssh:// Docker endpoints are not supported yet; use tcp://HOST:2376 \
                 with `tls`"
            ));
        }
        Err(format!(
            "\"{endpoint}\" is not a Docker endpoint; write unix:///var/run/docker.sock or \
             tcp://HOST:2376"
        ))
    }

    /// The endpoint as written (`unix:///var/run/docker.sock`, `tcp://H:2376`).
    pub fn url(&self) -> String {
        match self {
            DockerEndpoint::Unix { path } => format!("unix://{}", path.display()),
            DockerEndpoint::Tcp { addr, .. } => format!("tcp://{addr}"),
        }
    }
}

impl std::fmt::Display for DockerEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

/// Checks a libvirt URI as written (`none` included); the message says what is wrong.
pub(crate) fn check_libvirt_uri(uri: &str) -> Result<(), String> {
    if uri == NO_LIBVIRT {
        return Ok(());
    }
    let ok = uri
        .split_once("://")
        .is_some_and(|(scheme, rest)| scheme.starts_with("qemu") && rest.contains('/'))
        && !uri.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "\"{uri}\" is not a libvirt URI for QEMU; write qemu:///system, \
             qemu+tcp://HOST/system, qemu+ssh://USER@HOST/system, or none"
        ))
    }
}

/// A host as the hub drives it: endpoints checked, the TLS folder absolute. This is also
/// what the state file records of each host, so that `down` reaches it without the spec (no
/// secrets: the TLS folder's path, never the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSpec {
    /// Its name.
    pub name: String,
    /// Its Docker Engine.
    pub docker: DockerEndpoint,
    /// Its libvirt URI; `None`: it runs no VMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libvirt: Option<String>,
    /// Its underlay address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Ipv4Addr>,
}

impl HostSpec {
    /// The host as written, resolved against the spec's folder (`resolve_path` makes a
    /// relative TLS folder absolute). The spec must have passed validation.
    pub(crate) fn from_host(
        h: &Host,
        resolve_path: impl Fn(&Path) -> PathBuf,
    ) -> Result<Self, String> {
        let tls = h.tls.as_deref().map(&resolve_path);
        let docker = DockerEndpoint::parse(
            h.docker.as_deref().unwrap_or(DEFAULT_DOCKER),
            tls.as_deref(),
        )?;
        let libvirt = match h.libvirt.as_deref() {
            Some(NO_LIBVIRT) => None,
            Some(uri) => Some(uri.to_string()),
            None => match docker {
                DockerEndpoint::Unix { .. } => Some(DEFAULT_LIBVIRT.to_string()),
                DockerEndpoint::Tcp { .. } => None,
            },
        };
        let address = match &h.address {
            Some(a) => Some(
                a.trim()
                    .parse()
                    .map_err(|_| format!("\"{a}\" is not an IPv4 address"))?,
            ),
            None => None,
        };
        Ok(HostSpec {
            name: h.name.clone(),
            docker,
            libvirt,
            address,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_or_say_what_is_wrong() {
        assert_eq!(
            DockerEndpoint::parse(DEFAULT_DOCKER, None).unwrap(),
            DockerEndpoint::Unix {
                path: "/var/run/docker.sock".into()
            }
        );
        let tcp = DockerEndpoint::parse("tcp://10.0.0.2:2376", Some(Path::new("/c"))).unwrap();
        assert_eq!(tcp.url(), "tcp://10.0.0.2:2376");
        let no_tls = DockerEndpoint::parse("tcp://10.0.0.2:2376", None).unwrap_err();
        assert!(no_tls.contains("needs `tls`"), "{no_tls}");
        let ssh = DockerEndpoint::parse("ssh://me@h2", None).unwrap_err();
        assert!(ssh.contains("not supported"), "{ssh}");
        for bad in [
            "tcp://h2",
            "tcp://:2376",
            "tcp://h2:99999",
            "http://h2:2376",
            "unix://rel",
        ] {
            assert!(
                DockerEndpoint::parse(bad, Some(Path::new("/c"))).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_remote_engine_has_no_libvirt_unless_given() {
        let abs = |p: &Path| Path::new("/spec").join(p);
        let local = HostSpec::from_host(&Host::new("h1"), abs).unwrap();
        assert_eq!(local.libvirt.as_deref(), Some(DEFAULT_LIBVIRT));
        let remote = Host::new("h2").docker("tcp://h2:2376").tls("certs");
        let r = HostSpec::from_host(&remote, abs).unwrap();
        assert_eq!(r.libvirt, None);
        assert_eq!(
            r.docker,
            DockerEndpoint::Tcp {
                addr: "h2:2376".into(),
                tls: "/spec/certs".into()
            }
        );
        let none = HostSpec::from_host(&Host::new("h3").libvirt(NO_LIBVIRT), abs).unwrap();
        assert_eq!(none.libvirt, None);
        assert!(check_libvirt_uri("qemu+tcp://10.0.0.3/system").is_ok());
        assert!(check_libvirt_uri("xen:///").is_err());
    }
}
