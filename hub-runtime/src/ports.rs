//! Published ports: a container port reachable from the host, in Compose's short syntax
//! (`"8080:80"`, `"127.0.0.1:5353:53/udp"`).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A transport protocol.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// One published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    /// The host address it is published on (`None`: every address, `0.0.0.0`).
    pub host_ip: Option<Ipv4Addr>,
    /// The host port (`None`: one the engine picks).
    pub host_port: Option<u16>,
    /// The port inside the container.
    pub container_port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
}

impl PortMapping {
    /// The host address as bound: the given one, else `0.0.0.0`.
    pub fn bind_ip(&self) -> Ipv4Addr {
        self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED)
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ip) = self.host_ip {
            write!(f, "{ip}:")?;
        }
        match self.host_port {
            Some(p) => write!(f, "{p}:")?,
            None if self.host_ip.is_some() => f.write_str(":")?,
            None => {}
        }
        write!(f, "{}/{}", self.container_port, self.protocol)
    }
}

fn port(s: &str, what: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(0) | Err(_) if s.contains('-') => Err(format!(
            "port ranges ({s:?}) are not supported; list each port"
        )),
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{what} {s:?} is not a port (1 to 65535)")),
    }
}

impl FromStr for PortMapping {
    type Err = String;

    /// `[[HOST_IP:][HOST_PORT]:]CONTAINER_PORT[/tcp|/udp]`, Compose's short syntax for IPv4.
    fn from_str(s: &str) -> Result<Self, String> {
        let (ports, protocol) = match s.rsplit_once('/') {
            Some((p, "tcp")) => (p, Protocol::Tcp),
            Some((p, "udp")) => (p, Protocol::Udp),
            Some((_, other)) => {
                return Err(format!("protocol {other:?} is not tcp or udp"));
            }
            None => (s, Protocol::Tcp),
        };
        let parts: Vec<&str> = ports.split(':').collect();
        let (ip, host, container) = match parts.as_slice() {
            [c] => (None, None, *c),
            [h, c] => (None, Some(*h), *c),
            [ip, h, c] => (Some(*ip), Some(*h).filter(|h| !h.is_empty()), *c),
            _ => {
                return Err(format!(
                    "{s:?} is not a port mapping; write HOST_PORT:CONTAINER_PORT, \
                     HOST_IP:HOST_PORT:CONTAINER_PORT, or add /udp"
                ));
            }
        };
        let host_ip = ip
            .map(|ip| {
                ip.parse::<Ipv4Addr>()
                    .map_err(|_| format!("host address {ip:?} is not an IPv4 address"))
            })
            .transpose()?;
        Ok(PortMapping {
            host_ip,
            host_port: host.map(|h| port(h, "host port")).transpose()?,
            container_port: port(container, "container port")?,
            protocol,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PortMapping {
        s.parse().unwrap()
    }

    #[test]
    fn compose_short_forms_parse() {
        assert_eq!(
            p("8080:80"),
            PortMapping {
                host_ip: None,
                host_port: Some(8080),
                container_port: 80,
                protocol: Protocol::Tcp
            }
        );
        assert_eq!(
            p("127.0.0.1:5353:53/udp"),
            PortMapping {
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: Some(5353),
                container_port: 53,
                protocol: Protocol::Udp
            }
        );
        assert_eq!(p("80").host_port, None);
        assert_eq!(p("127.0.0.1::80").host_port, None);
        for s in [
            "8080:80",
            "127.0.0.1:5353:53/udp",
            "80/tcp",
            "127.0.0.1::80/tcp",
        ] {
            let again: PortMapping = p(s).to_string().parse().unwrap();
            assert_eq!(again, p(s), "{s}");
        }
    }

    #[test]
    fn bad_forms_say_why() {
        for (s, why) in [
            ("8080:80/sctp", "not tcp or udp"),
            ("0:80", "not a port"),
            ("x:80", "not a port"),
            ("8000-8010:80-90", "ranges"),
            ("1:2:3:4", "not a port mapping"),
            ("localhost:80:80", "not an IPv4 address"),
            ("70000:80", "not a port"),
        ] {
            let e = s.parse::<PortMapping>().unwrap_err();
            assert!(e.contains(why), "{s}: {e}");
        }
    }
}
