//! The lab's segments (`networks:`) and the networks each workload joins: names, subnets
//! that must not overlap, DHCP ranges, gateways, and every address checked against the plan
//! of its own segment.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use hub_net::AddressPlan;

use super::{Ctx, parse_ip, parse_subnet, plan_for, workloads};
use crate::spec::error::SpecErrorKind;
use crate::spec::names;
use crate::spec::segments::NetworkJoin;
use crate::spec::types::LabSpec;

/// One segment seen by the checks: the flat form's one network, or an entry of `networks`.
pub(crate) struct SegmentRef<'a> {
    /// Its name (the flat form's network is named after the lab's network).
    pub(crate) name: String,
    pub(crate) subnet: &'a str,
    pub(crate) subnet_path: String,
    pub(crate) dhcp_range: Option<&'a str>,
    pub(crate) range_path: String,
    pub(crate) gateway: Option<&'a str>,
    pub(crate) gateway_path: String,
}

impl SegmentRef<'_> {
    /// Its address plan, if its subnet and DHCP range are right.
    pub(crate) fn plan(&self) -> Option<AddressPlan> {
        plan_for(self.subnet, self.dhcp_range)
    }
}

/// The lab's segments, in order: `networks`, or the one network of `subnet`.
pub(crate) fn segment_refs(spec: &LabSpec) -> Vec<SegmentRef<'_>> {
    if spec.networks.is_empty() {
        let name = spec
            .network_name
            .as_deref()
            .or(spec.lab_name())
            .unwrap_or_default()
            .to_string();
        return vec![SegmentRef {
            name,
            subnet: &spec.subnet,
            subnet_path: "subnet".into(),
            dhcp_range: spec.dhcp_range.as_deref(),
            range_path: "dhcp_range".into(),
            gateway: None,
            gateway_path: String::new(),
        }];
    }
    spec.networks
        .iter()
        .enumerate()
        .map(|(i, s)| SegmentRef {
            name: s.name.clone(),
            subnet: &s.subnet,
            subnet_path: format!("networks[{i}].subnet"),
            dhcp_range: s.dhcp_range.as_deref(),
            range_path: format!("networks[{i}].dhcp_range"),
            gateway: s.gateway.as_deref(),
            gateway_path: format!("networks[{i}].gateway"),
        })
        .collect()
}

/// One interface of a workload, as the spec asks for it.
pub(crate) struct JoinRef<'a> {
    /// The segment's index, when the name is one of the lab's.
    pub(crate) segment: Option<usize>,
    pub(crate) network: &'a str,
    pub(crate) ip: Option<&'a str>,
    /// Where the network's name is written.
    pub(crate) path: String,
    /// Where its address is written (`ip` for the first one when it comes from there).
    pub(crate) ip_path: String,
}

/// The interfaces of the workload written at `wpath`: each network it names (its `ip` is the
/// first one's address when the mapping gives none), or the first segment at `ip`.
pub(crate) fn joins<'a>(
    spec: &LabSpec,
    segments: &[SegmentRef<'_>],
    wpath: &str,
    ip: Option<&'a str>,
    networks: &'a [NetworkJoin],
) -> Vec<JoinRef<'a>> {
    let index = |name: &str| segments.iter().position(|s| s.name == name);
    if networks.is_empty() {
        return vec![JoinRef {
            segment: Some(0),
            network: "",
            ip,
            path: format!("{wpath}.ip"),
            ip_path: format!("{wpath}.ip"),
        }];
    }
    networks
        .iter()
        .enumerate()
        .map(|(j, n)| {
            let keyed = format!("{wpath}.networks.{}", n.network);
            let path = if spec.origin.locations.contains(&keyed) {
                keyed
            } else {
                format!("{wpath}.networks[{j}]")
            };
            let (ip, ip_path) = match (&n.ip, j) {
                (Some(a), _) => (Some(a.as_str()), path.clone()),
                (None, 0) if ip.is_some() => (ip, format!("{wpath}.ip")),
                (None, _) => (None, path.clone()),
            };
            JoinRef {
                segment: index(&n.network),
                network: &n.network,
                ip,
                path,
                ip_path,
            }
        })
        .collect()
}

/// `networks:`: not with `subnet` or `attach_to`, names, overlapping subnets, DHCP ranges
/// (the first segment's subnet and range are checked with the header). Returns each
/// segment's plan.
pub(super) fn check_segments(cx: &mut Ctx<'_>) -> Vec<Option<AddressPlan>> {
    let spec = cx.spec;
    if !spec.subnet.is_empty() {
        cx.err(
            SpecErrorKind::BadValue,
            "subnet",
            "give the lab either one `subnet` or its segments as `networks`, not both",
        );
    }
    if spec.attach_to.is_some() {
        cx.err(
            SpecErrorKind::BadValue,
            "attach_to",
            "a lab with `networks` creates each segment's network; `attach_to` works only with one `subnet`",
        );
    }
    let segs = segment_refs(spec);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut subnets = Vec::with_capacity(segs.len());
    let mut plans = Vec::with_capacity(segs.len());
    for (i, s) in segs.iter().enumerate() {
        let name_path = format!("networks[{i}].name");
        if !names::is_dns_label(&s.name) {
            cx.err(
                SpecErrorKind::BadName,
                &name_path,
                format!(
                    "network name \"{}\" is not valid: {}",
                    s.name,
                    names::DNS_LABEL_RULE
                ),
            );
        } else if let Some(first) = seen.get(s.name.as_str()) {
            cx.err(
                SpecErrorKind::DuplicateName,
                &name_path,
                format!(
                    "network name \"{}\" is already used by networks[{first}]; segment names must be unique",
                    s.name
                ),
            );
        } else {
            seen.insert(&spec.networks[i].name, i);
        }
        let subnet = match parse_subnet(s.subnet) {
            Ok(n) => Some(n),
            Err(m) => {
                // The first segment's subnet is the header's, reported there.
                if i > 0 {
                    cx.err(SpecErrorKind::Address, &s.subnet_path, m);
                }
                None
            }
        };
        if let Some(n) = subnet {
            let clash = subnets.iter().enumerate().find_map(|(k, o)| match o {
                Some(o) if overlap(n, *o) => Some((k, *o)),
                _ => None,
            });
            if let Some((k, o)) = clash {
                cx.err(
                    SpecErrorKind::Overlap,
                    &s.subnet_path,
                    format!(
                        "subnet {n} overlaps {o} of networks[{k}] (\"{}\"); segments need subnets of their own",
                        segs[k].name
                    ),
                );
            } else if i > 0 {
                check_plan(cx, s, n);
            }
        }
        subnets.push(subnet);
        plans.push(s.plan());
    }
    // The VPN against the other segments (the first is checked with the VPN itself).
    let vpn = spec
        .wireguard
        .as_ref()
        .filter(|v| v.enabled)
        .and_then(|v| parse_subnet(&v.subnet).ok());
    if let Some(v) = vpn {
        for (k, o) in subnets.iter().enumerate().skip(1) {
            if let Some(o) = o
                && overlap(v, *o)
            {
                cx.err(
                    SpecErrorKind::Overlap,
                    "wireguard.subnet",
                    format!(
                        "the VPN subnet {v} overlaps {o} of networks[{k}] (\"{}\")",
                        segs[k].name
                    ),
                );
            }
        }
    }
    plans
}

fn overlap(a: ipnet::Ipv4Net, b: ipnet::Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A segment's address plan: prefix length and DHCP range.
fn check_plan(cx: &mut Ctx<'_>, s: &SegmentRef<'_>, subnet: ipnet::Ipv4Net) {
    let range = match s.dhcp_range.map(super::parse_range) {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(m)) => {
            cx.err(SpecErrorKind::Address, &s.range_path, m);
            return;
        }
    };
    let ov = hub_net::PlanOverrides {
        dhcp_range: range,
        static_range: None,
    };
    match AddressPlan::with_overrides(subnet, ov) {
        Ok(_) => {}
        Err(e @ hub_net::PlanError::RangeDoesNotFit { .. }) => {
            cx.err(SpecErrorKind::Address, &s.range_path, e.to_string())
        }
        Err(e) => cx.err(SpecErrorKind::Address, &s.subnet_path, e.to_string()),
    }
}

/// Each workload's networks (known, each once, one address each) and addresses (inside
/// their segment, not used twice there), and each segment's gateway (a workload on it).
/// `with_ip`: whether the workloads' `ip` fields are checked here too (a lab of one network
/// checks them with its other addresses).
pub(super) fn check_joins(cx: &mut Ctx<'_>, plans: &[Option<AddressPlan>], with_ip: bool) {
    let spec = cx.spec;
    let segs = segment_refs(spec);
    let mut known: Vec<&str> = Vec::with_capacity(segs.len());
    for s in &segs {
        if !known.contains(&s.name.as_str()) {
            known.push(&s.name);
        }
    }
    let mut used: Vec<HashMap<Ipv4Addr, String>> = vec![HashMap::new(); segs.len()];
    let mut members: Vec<Vec<&str>> = vec![Vec::new(); segs.len()];
    for w in workloads(spec) {
        if let (Some(_), Some(first)) = (w.ip, w.networks.first())
            && first.ip.is_some()
        {
            cx.err(
                SpecErrorKind::BadValue,
                format!("{}.ip", w.path),
                format!(
                    "\"{}\" has an address on \"{}\" twice (`ip` and `networks`); give it once",
                    w.name, first.network
                ),
            );
        }
        let mut joined: HashMap<usize, usize> = HashMap::new();
        for (j, r) in joins(spec, &segs, &w.path, w.ip, w.networks)
            .into_iter()
            .enumerate()
        {
            let Some(s) = r.segment else {
                cx.err(
                    SpecErrorKind::UnknownNetwork,
                    &r.path,
                    format!(
                        "\"{}\" is not one of the lab's networks ({})",
                        r.network,
                        known.join(", ")
                    ),
                );
                continue;
            };
            if let Some(first) = joined.insert(s, j) {
                cx.err(
                    SpecErrorKind::BadValue,
                    &r.path,
                    format!(
                        "\"{}\" joins \"{}\" twice (networks[{first}] and networks[{j}]); one interface per network",
                        w.name, r.network
                    ),
                );
                continue;
            }
            members[s].push(w.name);
            let from_ip = r.ip_path == format!("{}.ip", w.path);
            let (Some(ip), Some(plan)) = (r.ip, plans.get(s).and_then(Option::as_ref)) else {
                continue;
            };
            if from_ip && !with_ip {
                continue;
            }
            match parse_ip(ip) {
                Err(m) => cx.err(SpecErrorKind::Address, &r.ip_path, m),
                Ok(addr) => {
                    if let Err(e) = plan.check_static(addr) {
                        cx.err(
                            SpecErrorKind::Address,
                            &r.ip_path,
                            format!("on network \"{}\": {e}", segs[s].name),
                        );
                    } else if let Some(first) = used[s].get(&addr) {
                        cx.err(
                            SpecErrorKind::AddressInUse,
                            &r.ip_path,
                            format!("address {addr} is already used by {first}"),
                        );
                    } else {
                        used[s].insert(addr, format!("{} ({})", w.path, w.name));
                    }
                }
            }
        }
    }
    for (s, seg) in segs.iter().enumerate() {
        if let Some(g) = seg.gateway
            && !members[s].contains(&g)
        {
            cx.err(
                SpecErrorKind::UnknownNetwork,
                &seg.gateway_path,
                format!(
                    "gateway \"{g}\" is not a workload on network \"{}\"; name one that joins it (with `ip_forward: true` to route)",
                    seg.name
                ),
            );
        }
    }
}
