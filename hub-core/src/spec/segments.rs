//! Several segments in one lab: the `networks:` list of the spec, and the networks a
//! workload joins (`networks: [dmz, internal]`, or a mapping with an address per network).

use std::fmt;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One network segment of a lab (an entry of `networks:`): its own bridge, subnet, address
/// plan and DHCP range, served by the lab's netd.
///
/// ```
/// use hub_core::spec::{Container, LabSpec, Segment};
/// let spec = LabSpec::segmented("ctf")
///     .segment(Segment::new("dmz", "10.231.1.0/24").gateway("fw"))
///     .segment(Segment::new("internal", "10.231.2.0/24").gateway("fw"))
///     .container(Container::new("fw", "hub-test/busybox:latest").networks(["dmz", "internal"]).ip_forward(true));
/// assert_eq!(spec.networks.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// The segment's name (a DNS label): workloads join it by this name, and its names are
    /// `NAME.SEGMENT.DOMAIN`.
    pub name: String,
    /// Its subnet in CIDR form, `/8` to `/28`; segments must not overlap.
    pub subnet: String,
    /// The DHCP range for unknown clients, `FIRST-LAST`; defaults to the plan's tail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp_range: Option<String>,
    /// A workload on this segment that gets the segment's default route instead of the
    /// bridge (a router or firewall, usually with `ip_forward: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

impl Segment {
    /// A segment `name` on `subnet` (CIDR).
    pub fn new(name: impl Into<String>, subnet: impl Into<String>) -> Self {
        Segment {
            name: name.into(),
            subnet: subnet.into(),
            dhcp_range: None,
            gateway: None,
        }
    }
    /// Sets the DHCP range (`FIRST-LAST`).
    pub fn dhcp_range(mut self, range: impl Into<String>) -> Self {
        self.dhcp_range = Some(range.into());
        self
    }
    /// Gives the segment's default route to the workload `name`.
    pub fn gateway(mut self, name: impl Into<String>) -> Self {
        self.gateway = Some(name.into());
        self
    }
}

/// One network a workload joins, with its address there if the spec gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkJoin {
    /// The segment's name.
    pub network: String,
    /// The address on it (allocated from its static range when absent).
    pub ip: Option<String>,
}

/// The networks a workload joins, in order: one interface per network (`eth0`, `eth1`...).
/// Written as a list of names or as a mapping of name to address (`~` for an allocated one).
/// Empty: the lab's first network only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkloadNetworks(pub Vec<NetworkJoin>);

impl WorkloadNetworks {
    /// True when the workload names no network.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Adds network `name`, at `ip` (or an allocated address when `None`).
    pub fn push(&mut self, name: impl Into<String>, ip: Option<&str>) {
        self.0.push(NetworkJoin {
            network: name.into(),
            ip: ip.map(str::to_string),
        });
    }
}

impl Serialize for WorkloadNetworks {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.iter().all(|j| j.ip.is_none()) {
            let mut seq = s.serialize_seq(Some(self.0.len()))?;
            for j in &self.0 {
                seq.serialize_element(&j.network)?;
            }
            seq.end()
        } else {
            let mut map = s.serialize_map(Some(self.0.len()))?;
            for j in &self.0 {
                map.serialize_entry(&j.network, &j.ip)?;
            }
            map.end()
        }
    }
}

struct NetworksVisitor;

impl<'de> Visitor<'de> for NetworksVisitor {
    type Value = WorkloadNetworks;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of network names, or a mapping of network name to address")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(network) = seq.next_element::<String>()? {
            out.push(NetworkJoin { network, ip: None });
        }
        Ok(WorkloadNetworks(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some((network, ip)) = map.next_entry::<String, Option<String>>()? {
            out.push(NetworkJoin { network, ip });
        }
        Ok(WorkloadNetworks(out))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(WorkloadNetworks::default())
    }
}

impl<'de> Deserialize<'de> for WorkloadNetworks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NetworksVisitor)
    }
}

impl<S: Into<String>> FromIterator<S> for WorkloadNetworks {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        WorkloadNetworks(
            iter.into_iter()
                .map(|n| NetworkJoin {
                    network: n.into(),
                    ip: None,
                })
                .collect(),
        )
    }
}
