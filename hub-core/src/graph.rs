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

/// What the picture holds, whatever the language.
struct Picture {
    title: String,
    host: String,
    segment: String,
    /// Inside the segment: the gateway, netd, then the workloads in spec order.
    members: Vec<Node>,
    /// The VPN gateway and its peers, outside the segment.
    vpn: Option<(Node, Vec<Node>)>,
    /// `from` depends on `to`.
    depends: Vec<(String, String)>,
}

/// An id that both languages accept: names are DNS labels, so `-` is the only character to
/// replace, and no two names map to one id.
fn id(prefix: &str, name: &str) -> String {
    format!("{prefix}_{}", name.replace('-', "_"))
}

fn picture(lab: &ResolvedLab) -> Picture {
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
    let mut depends = Vec::new();
    for w in &lab.workloads {
        let kind = match w.kind {
            WorkloadKind::Container => "container",
            WorkloadKind::Vm => "vm",
        };
        members.push(Node {
            id: id("w", &w.name),
            lines: vec![w.name.clone(), format!("{kind} {}", w.ip)],
        });
        depends.extend(w.depends_on.iter().map(|d| (id("w", &w.name), id("w", d))));
    }
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
        segment: format!("lab {} · {}", lab.name, lab.subnet),
        members,
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
    let _ = writeln!(out, "    subgraph segment[\"{}\"]", p.segment);
    for n in &p.members {
        let _ = writeln!(out, "      {}[\"{}\"]", n.id, label(n));
    }
    out.push_str("    end\n");
    if let Some((gw, _)) = &p.vpn {
        let _ = writeln!(out, "    {}{{{{\"{}\"}}}}", gw.id, label(gw));
        let _ = writeln!(out, "    {} --- gateway", gw.id);
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
    let _ = writeln!(
        out,
        "    subgraph cluster_segment {{\n      label=\"{}\";",
        p.segment
    );
    for n in &p.members {
        let _ = writeln!(out, "      {} [label=\"{}\"];", n.id, label(n));
    }
    out.push_str("    }\n");
    if let Some((gw, _)) = &p.vpn {
        let _ = writeln!(
            out,
            "    {} [label=\"{}\", shape=hexagon];",
            gw.id,
            label(gw)
        );
        let _ = writeln!(out, "    {} -> gateway [dir=none];", gw.id);
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
}
