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
///     docker: tcp://192.168.50.12:2376          # unix:// (default), tcp:// with `tls`, ssh://
///     tls: ./certs/h2                           # ca.pem, cert.pem, key.pem
///     libvirt: qemu+tcp://192.168.50.12/system  # default qemu:///system for a local engine
///     address: 192.168.50.12                    # the underlay address other hosts reach
///   - name: h3
///     docker: ssh://hub@192.168.50.13           # sshd and the docker CLI on the host
///     ssh_key: ./keys/h3                        # optional identity file
///     known_hosts: ./keys/known_hosts           # optional; default: the user's known_hosts
///     address: 192.168.50.13
/// placement: epvm                               # or round-robin
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Its name (a DNS label), which `host:` on a workload names.
    pub name: String,
    /// Its Docker Engine: `unix:///PATH` (default `unix:///var/run/docker.sock`),
    /// `tcp://HOST:PORT` with `tls`, or `ssh://[USER@]HOST[:PORT]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<String>,
    /// The folder holding `ca.pem`, `cert.pem` and `key.pem` for a `tcp://` engine (relative
    /// to the spec's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<PathBuf>,
    /// The SSH identity (private key) file for an `ssh://` engine (relative to the spec's
    /// folder); absent: ssh's own (the agent, `~/.ssh/id_*`, `~/.ssh/config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_key: Option<PathBuf>,
    /// The known_hosts file the host's SSH key is checked against, for an `ssh://` engine
    /// (relative to the spec's folder); absent: the user's (`~/.ssh/known_hosts` and
    /// `/etc/ssh/ssh_known_hosts`). A host whose key is not there is refused, never added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<PathBuf>,
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
            ssh_key: None,
            known_hosts: None,
            libvirt: None,
            address: None,
        }
    }
    /// Its Docker endpoint (`unix:///var/run/docker.sock`, `tcp://H:2376`, `ssh://user@H`).
    pub fn docker(mut self, endpoint: impl Into<String>) -> Self {
        self.docker = Some(endpoint.into());
        self
    }
    /// The TLS folder of a `tcp://` endpoint (`ca.pem`, `cert.pem`, `key.pem`).
    pub fn tls(mut self, dir: impl Into<PathBuf>) -> Self {
        self.tls = Some(dir.into());
        self
    }
    /// The SSH identity file of an `ssh://` endpoint.
    pub fn ssh_key(mut self, file: impl Into<PathBuf>) -> Self {
        self.ssh_key = Some(file.into());
        self
    }
    /// The known_hosts file an `ssh://` endpoint's host key is checked against (instead of
    /// the user's).
    pub fn known_hosts(mut self, file: impl Into<PathBuf>) -> Self {
        self.known_hosts = Some(file.into());
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

impl Host {
    /// Its Docker endpoint, checked, with its files resolved by `resolve_path` (relative to
    /// the spec's folder).
    pub(crate) fn endpoint(
        &self,
        resolve_path: impl Fn(&Path) -> PathBuf,
    ) -> Result<DockerEndpoint, EndpointError> {
        let tls = self.tls.as_deref().map(&resolve_path);
        let ssh_key = self.ssh_key.as_deref().map(&resolve_path);
        let known_hosts = self.known_hosts.as_deref().map(&resolve_path);
        DockerEndpoint::parse(
            self.docker.as_deref().unwrap_or(DEFAULT_DOCKER),
            EndpointFiles {
                tls: tls.as_deref(),
                ssh_key: ssh_key.as_deref(),
                known_hosts: known_hosts.as_deref(),
            },
        )
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
    /// The host's own engine reached over SSH (`docker system dial-stdio` there), the host's
    /// key checked against known_hosts.
    Ssh {
        /// The login user (`None`: ssh's choice: the local user or `~/.ssh/config`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// The host name or address.
        host: String,
        /// The port (`None`: 22 or `~/.ssh/config`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
        /// The identity file (its path is recorded, never the key).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<PathBuf>,
        /// The known_hosts file (`None`: the user's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        known_hosts: Option<PathBuf>,
    },
}

/// The files a host entry gives besides its endpoint (resolved against the spec's folder).
#[derive(Debug, Clone, Copy, Default)]
pub struct EndpointFiles<'a> {
    /// `tls:` (a `tcp://` endpoint's folder).
    pub tls: Option<&'a Path>,
    /// `ssh_key:` (an `ssh://` endpoint's identity file).
    pub ssh_key: Option<&'a Path>,
    /// `known_hosts:` (an `ssh://` endpoint's known_hosts file).
    pub known_hosts: Option<&'a Path>,
}

/// What is wrong with a host's endpoint, and which of its fields says it (`docker`, `tls`,
/// `ssh_key`, `known_hosts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointError {
    /// The host entry's field at fault.
    pub field: &'static str,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl std::fmt::Display for EndpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EndpointError {}

impl EndpointFiles<'_> {
    /// Refuses the files given that `scheme` (an endpoint, in words) does not use.
    fn only(&self, scheme: &str, used: &[&str]) -> Result<(), EndpointError> {
        let given = [
            ("tls", self.tls.is_some(), "a tcp:// endpoint"),
            ("ssh_key", self.ssh_key.is_some(), "an ssh:// endpoint"),
            (
                "known_hosts",
                self.known_hosts.is_some(),
                "an ssh:// endpoint",
            ),
        ];
        match given
            .into_iter()
            .find(|(field, set, _)| *set && !used.contains(field))
        {
            Some((field, _, for_what)) => Err(EndpointError {
                field,
                message: format!("`{field}` is for {for_what}; {scheme} takes none"),
            }),
            None => Ok(()),
        }
    }
}

impl DockerEndpoint {
    /// Parses `endpoint` (`unix:///PATH`, `tcp://HOST:PORT`, `ssh://[USER@]HOST[:PORT]`) with
    /// the files it takes (a `tcp://` one needs `tls`; an `ssh://` one may have `ssh_key` and
    /// `known_hosts`). The error says what is wrong and which field says it.
    pub fn parse(endpoint: &str, files: EndpointFiles<'_>) -> Result<Self, EndpointError> {
        let docker = |message: String| EndpointError {
            field: "docker",
            message,
        };
        if let Some(path) = endpoint.strip_prefix("unix://") {
            files.only("a Unix socket endpoint", &[])?;
            if !path.starts_with('/') {
                return Err(docker(format!(
                    "\"{endpoint}\" is not a Unix socket endpoint; write unix:///ABSOLUTE/PATH"
                )));
            }
            return Ok(DockerEndpoint::Unix { path: path.into() });
        }
        if let Some(addr) = endpoint.strip_prefix("tcp://") {
            files.only("a tcp:// endpoint", &["tls"])?;
            let addr = addr.trim_end_matches('/');
            let port_ok = addr
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !port_ok || addr.contains('/') {
                return Err(docker(format!(
                    "\"{endpoint}\" is not a TCP endpoint; write tcp://HOST:PORT (Docker's TLS \
                     port is 2376)"
                )));
            }
            let Some(tls) = files.tls else {
                return Err(docker(format!(
                    "\"{endpoint}\" needs `tls`: a folder holding ca.pem, cert.pem and key.pem \
                     (an engine without TLS obeys anyone who reaches its port)"
                )));
            };
            return Ok(DockerEndpoint::Tcp {
                addr: addr.to_string(),
                tls: tls.to_path_buf(),
            });
        }
        if endpoint.starts_with("ssh://") {
            files.only("an ssh:// endpoint", &["ssh_key", "known_hosts"])?;
            let url = super::ssh_url::SshUrl::parse(endpoint).map_err(docker)?;
            return Ok(DockerEndpoint::Ssh {
                user: url.user,
                host: url.host,
                port: url.port,
                key: files.ssh_key.map(Path::to_path_buf),
                known_hosts: files.known_hosts.map(Path::to_path_buf),
            });
        }
        Err(docker(format!(
            "\"{endpoint}\" is not a Docker endpoint; write unix:///var/run/docker.sock, \
             tcp://HOST:2376 or ssh://USER@HOST"
        )))
    }

    /// The endpoint as written (`unix:///var/run/docker.sock`, `tcp://H:2376`,
    /// `ssh://user@H:22`).
    pub fn url(&self) -> String {
        match self {
            DockerEndpoint::Unix { path } => format!("unix://{}", path.display()),
            DockerEndpoint::Tcp { addr, .. } => format!("tcp://{addr}"),
            DockerEndpoint::Ssh {
                user, host, port, ..
            } => super::ssh_url::format(user.as_deref(), host, *port),
        }
    }

    /// Whether the engine is this machine's (a Unix socket here).
    pub fn is_local(&self) -> bool {
        matches!(self, DockerEndpoint::Unix { .. })
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
    /// A host named `name` on `docker`, with no libvirt and no address (for the backends'
    /// tests).
    #[cfg(all(test, feature = "docker"))]
    pub(crate) fn bare(name: &str, docker: DockerEndpoint) -> Self {
        HostSpec {
            name: name.into(),
            docker,
            libvirt: None,
            address: None,
        }
    }

    /// The host as written, resolved against the spec's folder (`resolve_path` makes a
    /// relative TLS folder absolute). The spec must have passed validation.
    pub(crate) fn from_host(
        h: &Host,
        resolve_path: impl Fn(&Path) -> PathBuf,
    ) -> Result<Self, String> {
        let docker = h.endpoint(resolve_path).map_err(|e| e.message)?;
        let libvirt = match h.libvirt.as_deref() {
            Some(NO_LIBVIRT) => None,
            Some(uri) => Some(uri.to_string()),
            None if docker.is_local() => Some(DEFAULT_LIBVIRT.to_string()),
            None => None,
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

    fn tls(dir: &str) -> EndpointFiles<'_> {
        EndpointFiles {
            tls: Some(Path::new(dir)),
            ..EndpointFiles::default()
        }
    }

    #[test]
    fn endpoints_parse_or_say_what_is_wrong() {
        let none = EndpointFiles::default();
        assert_eq!(
            DockerEndpoint::parse(DEFAULT_DOCKER, none).unwrap(),
            DockerEndpoint::Unix {
                path: "/var/run/docker.sock".into()
            }
        );
        let tcp = DockerEndpoint::parse("tcp://10.0.0.2:2376", tls("/c")).unwrap();
        assert_eq!(tcp.url(), "tcp://10.0.0.2:2376");
        let no_tls = DockerEndpoint::parse("tcp://10.0.0.2:2376", none).unwrap_err();
        assert!(no_tls.message.contains("needs `tls`"), "{no_tls}");
        assert_eq!(no_tls.field, "docker");
        for bad in [
            "tcp://h2",
            "tcp://:2376",
            "tcp://h2:99999",
            "http://h2:2376",
            "unix://rel",
            "ssh://me@h2/x",
        ] {
            assert!(DockerEndpoint::parse(bad, tls("/c")).is_err(), "{bad}");
        }
    }

    #[test]
    fn ssh_endpoints_take_a_key_and_known_hosts_and_nothing_else() {
        let files = EndpointFiles {
            ssh_key: Some(Path::new("/k/id")),
            known_hosts: Some(Path::new("/k/known")),
            ..EndpointFiles::default()
        };
        let ssh = DockerEndpoint::parse("ssh://hub@10.0.0.3:2222", files).unwrap();
        assert_eq!(
            ssh,
            DockerEndpoint::Ssh {
                user: Some("hub".into()),
                host: "10.0.0.3".into(),
                port: Some(2222),
                key: Some("/k/id".into()),
                known_hosts: Some("/k/known".into()),
            }
        );
        assert_eq!(ssh.url(), "ssh://hub@10.0.0.3:2222");
        assert!(!ssh.is_local());
        // Recorded in hosts.json with the files' paths only.
        let json = serde_json::to_string(&ssh).unwrap();
        assert_eq!(serde_json::from_str::<DockerEndpoint>(&json).unwrap(), ssh);
        let e = DockerEndpoint::parse("ssh://hub@h3", tls("/c")).unwrap_err();
        assert_eq!(e.field, "tls");
        assert!(e.message.contains("`tls` is for a tcp:// endpoint"), "{e}");
        let e = DockerEndpoint::parse("tcp://h3:2376", files).unwrap_err();
        assert_eq!(e.field, "ssh_key");
        let e = DockerEndpoint::parse(DEFAULT_DOCKER, files).unwrap_err();
        assert_eq!(e.field, "ssh_key");
        assert!(e.message.contains("is for an ssh:// endpoint"), "{e}");
        let e = DockerEndpoint::parse("ssh://me:pw@h3", EndpointFiles::default()).unwrap_err();
        assert_eq!(e.field, "docker");
        assert!(e.message.contains("password"), "{e}");
    }

    #[test]
    fn a_remote_engine_has_no_libvirt_unless_given() {
        let abs = |p: &Path| Path::new("/spec").join(p);
        let local = HostSpec::from_host(&Host::new("h1"), abs).unwrap();
        assert_eq!(local.libvirt.as_deref(), Some(DEFAULT_LIBVIRT));
        let remote = Host::new("h2").docker("tcp://h2:2376").tls("certs");
        let ssh = Host::new("h4").docker("ssh://hub@h4").ssh_key("keys/h4");
        let s = HostSpec::from_host(&ssh, abs).unwrap();
        assert_eq!(s.libvirt, None, "an ssh:// engine is another machine's");
        assert!(
            matches!(&s.docker, DockerEndpoint::Ssh { key: Some(k), .. } if k == Path::new("/spec/keys/h4"))
        );
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
