//! From the user's lab spec to the resolved [`DesiredLab`] the engine works on.

use hub_runtime::NetworkSpec;

use crate::desired::{
    DesiredLab, DesiredWorkload, DnsRecord, NetdSegmentPlan, VpnPeerPlan, VpnPlan, VpnSegmentPlan,
};
use crate::spec::{ResolvedLab, WorkloadDef};

/// The engine's view of a resolved lab.
pub fn from_resolved(r: &ResolvedLab) -> DesiredLab {
    DesiredLab {
        name: r.name.clone(),
        network: NetworkSpec {
            lab: r.name.clone(),
            name: r.network_name.clone(),
            subnet: r.subnet,
            gateway: r.gateway,
            attach_to: r.attach_to.clone(),
            labels: Default::default(),
            mtu: None,
        },
        segments: r
            .segments
            .iter()
            .skip(1)
            .map(|s| NetworkSpec {
                lab: r.name.clone(),
                name: s.network_name.clone(),
                subnet: s.subnet,
                gateway: s.gateway,
                attach_to: None,
                labels: [(hub_runtime::labels::SEGMENT.to_string(), s.name.clone())].into(),
                mtu: None,
            })
            .collect(),
        netd_segments: r
            .segments
            .iter()
            .skip(1)
            .map(|s| NetdSegmentPlan {
                name: s.name.clone(),
                network: s.network_name.clone(),
                subnet: s.subnet,
                ip: s.netd,
                mac: hub_runtime::derive_mac(&r.name, &format!("netd@{}", s.name), 0),
                router: s.router_ip.unwrap_or(s.gateway),
                dhcp_range: (s.dhcp_range.start, s.dhcp_range.end),
                reservations: Vec::new(),
            })
            .collect(),
        segment_records: segment_records(r),
        dhcp_router: r.segments.first().and_then(|s| s.router_ip),
        plan: r.plan,
        domain: r.domain.clone(),
        netd: true,
        upstreams: Vec::new(),
        workloads: r
            .workloads
            .iter()
            .map(|w| {
                let mut d = DesiredWorkload::new(w.to_workload_spec());
                d.depends_on = w.depends_on.clone();
                (d.restart, d.host) = match &w.spec {
                    WorkloadDef::Container(c) => (c.restart, c.host.clone()),
                    WorkloadDef::Vm(v) => (v.restart, v.host.clone()),
                };
                d
            })
            .collect(),
        hosts: r.hosts.clone(),
        placement: r.placement,
        vpn: r.vpn.as_ref().map(|v| VpnPlan {
            subnet: v.subnet,
            listen_port: v.listen_port.unwrap_or(crate::spec::DEFAULT_LISTEN_PORT),
            endpoint: v.endpoint.clone(),
            peers: v
                .peers
                .iter()
                .map(|p| VpnPeerPlan {
                    name: p.name.clone(),
                    address: p.address,
                })
                .collect(),
            segments: r
                .segments
                .iter()
                .skip(1)
                .map(|s| VpnSegmentPlan {
                    subnet: s.subnet,
                    bridge: String::new(),
                })
                .collect(),
        }),
    }
}

/// `NAME.SEGMENT` for every interface of every workload, then `NAME` for the interfaces after
/// the first (the first is the workload's own record), and `netd.SEGMENT`, `gateway.SEGMENT`.
fn segment_records(r: &ResolvedLab) -> Vec<DnsRecord> {
    let mut out = Vec::new();
    for s in &r.segments {
        out.push(DnsRecord {
            name: format!("netd.{}", s.name),
            ip: s.netd,
        });
        out.push(DnsRecord {
            name: format!("gateway.{}", s.name),
            ip: s.gateway,
        });
    }
    for w in &r.workloads {
        for i in &w.interfaces {
            out.push(DnsRecord {
                name: format!("{}.{}", w.name, i.network),
                ip: i.ip,
            });
        }
        for i in w.interfaces.iter().skip(1) {
            out.push(DnsRecord {
                name: w.name.clone(),
                ip: i.ip,
            });
        }
    }
    out
}
