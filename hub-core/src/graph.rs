//! A picture of a lab: its resolved plan drawn as Mermaid (which GitHub and many wikis render
//! in Markdown) or Graphviz dot. The host, the lab segment with its gateway and netd, every
//! workload with its kind and address, what depends on what, and the WireGuard gateway with
//! its peers.
//!
//! ```
//! use hub_core::graph::{GraphFormat, render};
//! use hub_core::spec::LabSpec;
//!
//! let spec = LabSpec::from_yaml(
//!     "name: demo\nsubnet: 10.77.0.0/24\ncontainers:\n  - name: web\n    image: busybox\n",
//!     "lab.yaml",
//! )
//! .unwrap();
//! let lab = spec.resolve().unwrap();
//! let mermaid = render(&lab, GraphFormat::Mermaid);
//! assert!(mermaid.starts_with("flowchart LR"));
//! assert!(mermaid.contains("w_web[\"web<br/>container 10.77.0."));
//! ```

use std::fmt::Write as _;

use hub_runtime::WorkloadKind;

use crate::spec::ResolvedLab;

/// The language a graph is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GraphFormat {
    /// A Mermaid flowchart.
    #[default]
    Mermaid,
    /// A Graphviz digraph (`dot -Tsvg` draws it).
    Dot,
}

/// One box of the picture: its id and the lines of its label.
struct Node {
    id: String,
    lines: Vec<String>,
}

/// One segment of the picture: its box and what is inside.
struct SegmentBox {
    /// The box's id (`segment` in a lab of one network).
    id: String,
    title: String,
    /// The gateway's node id inside it (what the VPN and multi-homed workloads attach to).
    gateway: String,
    /// Inside the segment: the gateway, netd, then the workloads on it alone, in spec order.
    members: Vec<Node>,
}

/// What the picture holds, whatever the language.
struct Picture {
    title: String,
    host: String,
    segments: Vec<SegmentBox>,
    /// Workloads on several segments (routers), outside the segments, each with a link to
    /// each segment's gateway labelled with its address there.
    multi: Vec<(Node, Vec<(String, String)>)>,
    /// The VPN gateway and its peers, outside the segments.
    vpn: Option<(Node, Vec<Node>)>,
    /// `from` depends on `to`.
    depends: Vec<(String, String)>,
}

/// An id that both languages accept: names are DNS labels, so `-` is the only character to
/// replace, and no two names map to one id.
fn id(prefix: &str, name: &str) -> String {
    format!("{prefix}_{}", name.replace('-', "_"))
}

fn kind_of(k: WorkloadKind) -> &'static str {
    match k {
        WorkloadKind::Container => "container",
        WorkloadKind::Vm => "vm",
    }
}

/// The one segment of a lab of one network.
fn single_segment(lab: &ResolvedLab) -> SegmentBox {
    let mut members = vec![
        Node {
            id: "gateway".into(),
            lines: vec!["gateway (host bridge)".into(), lab.gateway.to_string()],
        },
        Node {
            id: "netd".into(),
            lines: vec![
                "netd (DHCP + DNS)".into(),
                format!("{} · {}", lab.netd, lab.domain),
            ],
        },
    ];
    for w in &lab.workloads {
        members.push(Node {
            id: id("w", &w.name),
            lines: vec![w.name.clone(), format!("{} {}", kind_of(w.kind), w.ip)],
        });
    }
    SegmentBox {
        id: "segment".into(),
        title: format!("lab {} · {}", lab.name, lab.subnet),
        gateway: "gateway".into(),
        members,
    }
}

/// The segments of a lab of several, and the workloads on more than one of them.
#[allow(clippy::type_complexity)]
fn segments(lab: &ResolvedLab) -> (Vec<SegmentBox>, Vec<(Node, Vec<(String, String)>)>) {
    let mut boxes: Vec<SegmentBox> = lab
        .segments
        .iter()
        .map(|s| {
            let router = s
                .router
                .as_ref()
                .map(|r| format!(" · default route via {r}"))
                .unwrap_or_default();
            SegmentBox {
                id: id("seg", &s.name),
                title: format!("{} · {}{router}", s.name, s.subnet),
                gateway: id("gateway", &s.name),
                members: vec![
                    Node {
                        id: id("gateway", &s.name),
                        lines: vec!["host bridge".into(), s.gateway.to_string()],
                    },
                    Node {
                        id: id("netd", &s.name),
                        lines: vec![
                            "netd (DHCP + DNS)".into(),
                            format!("{} · {}.{}", s.netd, s.name, lab.domain),
                        ],
                    },
                ],
            }
        })
        .collect();
    let mut multi = Vec::new();
    for w in &lab.workloads {
        let kind = kind_of(w.kind);
        if let [one] = w.interfaces.as_slice()
            && let Some(b) = lab.segments.iter().position(|s| s.name == one.network)
        {
            boxes[b].members.push(Node {
                id: id("w", &w.name),
                lines: vec![w.name.clone(), format!("{kind} {}", one.ip)],
            });
            continue;
        }
        let node = Node {
            id: id("w", &w.name),
            lines: vec![w.name.clone(), kind.to_string()],
        };
        let links = w
            .interfaces
            .iter()
            .map(|i| (id("gateway", &i.network), i.ip.to_string()))
            .collect();
        multi.push((node, links));
    }
    (boxes, multi)
}

fn picture(lab: &ResolvedLab) -> Picture {
    let (segments, multi) = if lab.segments.is_empty() {
        (vec![single_segment(lab)], Vec::new())
    } else {
        segments(lab)
    };
    let depends = lab
        .workloads
        .iter()
        .flat_map(|w| w.depends_on.iter().map(|d| (id("w", &w.name), id("w", d))))
        .collect();
    let vpn = lab.vpn.as_ref().map(|v| {
        let gateway = Node {
            id: "vpn".into(),
            lines: vec![
                "WireGuard gateway".into(),
                match v.listen_port {
                    Some(port) => format!("{} · udp/{port}", v.server),
                    // Chosen by `up` (the first free from 51820) and kept for the lab.
                    None => format!("{} · udp/auto", v.server),
                },
            ],
        };
        let peers = v
            .peers
            .iter()
            .map(|p| Node {
                id: id("peer", &p.name),
                lines: vec![format!("peer {}", p.name), p.address.to_string()],
            })
            .collect();
        (gateway, peers)
    });
    Picture {
        title: lab.name.clone(),
        host: "this host".into(),
        segments,
        multi,
        vpn,
        depends,
    }
}

/// The lab drawn in `format`.
pub fn render(lab: &ResolvedLab, format: GraphFormat) -> String {
    let p = picture(lab);
    match format {
        GraphFormat::Mermaid => mermaid(&p),
        GraphFormat::Dot => dot(&p),
    }
}

fn mermaid(p: &Picture) -> String {
    let label = |n: &Node| n.lines.join("<br/>");
    let mut out = String::from("flowchart LR\n");
    let _ = writeln!(out, "  %% lab {}", p.title);
    let _ = writeln!(out, "  subgraph host[\"{}\"]", p.host);
    for seg in &p.segments {
        let _ = writeln!(out, "    subgraph {}[\"{}\"]", seg.id, seg.title);
        for n in &seg.members {
            let _ = writeln!(out, "      {}[\"{}\"]", n.id, label(n));
        }
        out.push_str("    end\n");
    }
    for (n, links) in &p.multi {
        let _ = writeln!(out, "    {}[\"{}\"]", n.id, label(n));
        for (gateway, addr) in links {
            let _ = writeln!(out, "    {} ---|{addr}| {gateway}", n.id);
        }
    }
    if let Some((gw, _)) = &p.vpn {
        let _ = writeln!(out, "    {}{{{{\"{}\"}}}}", gw.id, label(gw));
        for seg in &p.segments {
            let _ = writeln!(out, "    {} --- {}", gw.id, seg.gateway);
        }
    }
    out.push_str("  end\n");
    if let Some((gw, peers)) = &p.vpn {
        for peer in peers {
            let _ = writeln!(out, "  {}([\"{}\"])", peer.id, label(peer));
            let _ = writeln!(out, "  {} -. tunnel .-> {}", peer.id, gw.id);
        }
    }
    for (from, to) in &p.depends {
        let _ = writeln!(out, "  {from} -. depends on .-> {to}");
    }
    out
}

fn dot(p: &Picture) -> String {
    let label = |n: &Node| n.lines.join("\\n");
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", p.title);
    out.push_str("  rankdir=LR;\n  fontname=\"sans-serif\";\n");
    out.push_str("  node [shape=box, fontname=\"sans-serif\"];\n");
    out.push_str("  edge [fontname=\"sans-serif\", fontsize=10];\n");
    let _ = writeln!(out, "  subgraph cluster_host {{\n    label=\"{}\";", p.host);
    for seg in &p.segments {
        let _ = writeln!(
            out,
            "    subgraph cluster_{} {{\n      label=\"{}\";",
            seg.id, seg.title
        );
        for n in &seg.members {
            let _ = writeln!(out, "      {} [label=\"{}\"];", n.id, label(n));
        }
        out.push_str("    }\n");
    }
    for (n, links) in &p.multi {
        let _ = writeln!(out, "    {} [label=\"{}\"];", n.id, label(n));
        for (gateway, addr) in links {
            let _ = writeln!(
                out,
                "    {} -> {gateway} [dir=none, label=\"{addr}\"];",
                n.id
            );
        }
    }
    if let Some((gw, _)) = &p.vpn {
        let _ = writeln!(
            out,
            "    {} [label=\"{}\", shape=hexagon];",
            gw.id,
            label(gw)
        );
        for seg in &p.segments {
            let _ = writeln!(out, "    {} -> {} [dir=none];", gw.id, seg.gateway);
        }
    }
    out.push_str("  }\n");
    if let Some((gw, peers)) = &p.vpn {
        for peer in peers {
            let _ = writeln!(
                out,
                "  {} [label=\"{}\", shape=ellipse];",
                peer.id,
                label(peer)
            );
            let _ = writeln!(
                out,
                "  {} -> {} [style=dashed, label=\"tunnel\"];",
                peer.id, gw.id
            );
        }
    }
    for (from, to) in &p.depends {
        let _ = writeln!(
            out,
            "  {from} -> {to} [style=dotted, label=\"depends on\"];"
        );
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::LabSpec;

    fn demo() -> ResolvedLab {
        // A file validation takes for a disk image (the qcow2 magic).
        let image = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/magic.qcow2");
        let yaml = format!(
            "name: demo-lab\nsubnet: 10.77.0.0/24\n\
             containers:\n  - name: web-1\n    image: busybox\n  - name: db\n    image: busybox\n    depends_on: [web-1]\n\
             vms:\n  - name: vm1\n    image: {image}\n\
             wireguard:\n  enabled: true\n  subnet: 10.10.0.0/24\n  listen_port: 51820\n  peers:\n    - name: laptop\n"
        );
        LabSpec::from_yaml(&yaml, "lab.yaml")
            .unwrap()
            .resolve()
            .unwrap()
    }

    #[test]
    fn a_vpn_port_up_chooses_is_drawn_as_auto() {
        let mut lab = demo();
        if let Some(v) = lab.vpn.as_mut() {
            v.listen_port = None;
        }
        let g = render(&lab, GraphFormat::Mermaid);
        assert!(g.contains("10.10.0.1 · udp/auto"), "{g}");
    }

    #[test]
    fn mermaid_draws_every_part_of_the_lab() {
        let lab = demo();
        let g = render(&lab, GraphFormat::Mermaid);
        let web = lab.workload("web-1").unwrap().ip;
        let vm = lab.workload("vm1").unwrap().ip;
        for line in [
            "flowchart LR".to_string(),
            "  subgraph host[\"this host\"]".into(),
            "    subgraph segment[\"lab demo-lab · 10.77.0.0/24\"]".into(),
            "      gateway[\"gateway (host bridge)<br/>10.77.0.1\"]".into(),
            "      netd[\"netd (DHCP + DNS)<br/>10.77.0.2 · demo-lab.lab\"]".into(),
            format!("      w_web_1[\"web-1<br/>container {web}\"]"),
            format!("      w_vm1[\"vm1<br/>vm {vm}\"]"),
            "    vpn{{\"WireGuard gateway<br/>10.10.0.1 · udp/51820\"}}".into(),
            "    vpn --- gateway".into(),
            "  peer_laptop([\"peer laptop<br/>10.10.0.2\"])".into(),
            "  peer_laptop -. tunnel .-> vpn".into(),
            "  w_db -. depends on .-> w_web_1".into(),
        ] {
            assert!(g.lines().any(|l| l == line), "no line {line:?} in:\n{g}");
        }
        // Every subgraph is closed.
        assert_eq!(
            g.matches("subgraph ").count(),
            g.lines().filter(|l| l.trim() == "end").count()
        );
    }

    #[test]
    fn dot_draws_the_same_and_a_lab_without_vpn_has_no_gateway_node() {
        let g = render(&demo(), GraphFormat::Dot);
        assert!(g.starts_with("digraph \"demo-lab\" {\n"), "{g}");
        assert!(
            g.contains("vpn [label=\"WireGuard gateway\\n10.10.0.1 · udp/51820\", shape=hexagon];"),
            "{g}"
        );
        assert!(
            g.contains("w_db -> w_web_1 [style=dotted, label=\"depends on\"];"),
            "{g}"
        );
        assert_eq!(g.matches('{').count(), g.matches('}').count(), "{g}");
        let plain = LabSpec::from_yaml("name: p\nsubnet: 10.78.0.0/24\n", "lab.yaml")
            .unwrap()
            .resolve()
            .unwrap();
        for format in [GraphFormat::Mermaid, GraphFormat::Dot] {
            let g = render(&plain, format);
            assert!(!g.contains("vpn") && !g.contains("w_"), "{g}");
            assert!(g.contains("netd"), "{g}");
        }
    }

    #[test]
    fn every_segment_is_drawn_with_the_router_between_them() {
        let yaml = "name: sg-graph\nnetworks:\n  - {name: dmz, subnet: 10.231.1.0/24, gateway: fw}\n  \
                    - {name: internal, subnet: 10.231.2.0/24}\ncontainers:\n  \
                    - {name: fw, image: x, networks: [dmz, internal], ip_forward: true}\n  \
                    - {name: db, image: x, networks: [internal]}\n\
                    wireguard: {subnet: 10.231.100.0/24, listen_port: 51911, peers: [{name: p}]}\n";
        let lab = LabSpec::from_yaml(yaml, "lab.yaml")
            .unwrap()
            .resolve()
            .unwrap();
        let fw = lab.workload("fw").unwrap();
        let db = lab.workload("db").unwrap();
        let g = render(&lab, GraphFormat::Mermaid);
        for line in [
            "    subgraph seg_dmz[\"dmz · 10.231.1.0/24 · default route via fw\"]".to_string(),
            "    subgraph seg_internal[\"internal · 10.231.2.0/24\"]".into(),
            "      netd_internal[\"netd (DHCP + DNS)<br/>10.231.2.2 · internal.sg-graph.lab\"]"
                .into(),
            format!("      w_db[\"db<br/>container {}\"]", db.ip),
            "    w_fw[\"fw<br/>container\"]".into(),
            format!("    w_fw ---|{}| gateway_dmz", fw.interfaces[0].ip),
            format!("    w_fw ---|{}| gateway_internal", fw.interfaces[1].ip),
            "    vpn --- gateway_internal".into(),
        ] {
            assert!(g.lines().any(|l| l == line), "no line {line:?} in:\n{g}");
        }
        assert_eq!(
            g.matches("subgraph ").count(),
            g.lines().filter(|l| l.trim() == "end").count()
        );
        let d = render(&lab, GraphFormat::Dot);
        assert!(d.contains("subgraph cluster_seg_internal {"), "{d}");
        assert!(
            d.contains(&format!(
                "w_fw -> gateway_internal [dir=none, label=\"{}\"];",
                fw.interfaces[1].ip
            )),
            "{d}"
        );
        assert_eq!(d.matches('{').count(), d.matches('}').count(), "{d}");
    }

    #[test]
    fn a_router_vm_is_drawn_between_its_segments() {
        let image = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/magic.qcow2");
        let yaml = format!(
            "name: vs-graph\nnetworks:\n  - {{name: dmz, subnet: 10.201.1.0/24, gateway: fw}}\n  \
             - {{name: internal, subnet: 10.201.2.0/24, gateway: fw}}\nvms:\n  \
             - {{name: fw, image: {image}, networks: [dmz, internal], ip_forward: true}}\n\
             containers:\n  - {{name: db, image: x, networks: [internal]}}\n"
        );
        let lab = LabSpec::from_yaml(&yaml, "lab.yaml")
            .unwrap()
            .resolve()
            .unwrap();
        let fw = lab.workload("fw").unwrap();
        let g = render(&lab, GraphFormat::Mermaid);
        for line in [
            "    subgraph seg_internal[\"internal · 10.201.2.0/24 · default route via fw\"]"
                .to_string(),
            "    w_fw[\"fw<br/>vm\"]".into(),
            format!("    w_fw ---|{}| gateway_dmz", fw.interfaces[0].ip),
            format!("    w_fw ---|{}| gateway_internal", fw.interfaces[1].ip),
        ] {
            assert!(g.lines().any(|l| l == line), "no line {line:?} in:\n{g}");
        }
    }
}
