//! The `checks:` section: each rule's own fields, then the workloads and VPN peers it names.

use std::collections::{BTreeSet, HashMap};

use super::{Ctx, peers, workloads};
use crate::spec::check::Endpoint;
use crate::spec::error::SpecErrorKind;

pub(super) fn check_checks(cx: &mut Ctx<'_>, workloads_ok: bool, vpn_ok: bool) {
    let workload_names: BTreeSet<&str> = workloads(cx.spec).iter().map(|w| w.name).collect();
    let vpn = cx.spec.wireguard.as_ref().filter(|v| v.enabled);
    let peer_names: BTreeSet<&str> = vpn
        .map(|v| peers(v).iter().map(|p| p.name).collect())
        .unwrap_or_default();
    let mut seen: HashMap<String, String> = HashMap::new();
    for (i, check) in cx.spec.checks.iter().enumerate() {
        let path = cx.spec.origin.check_path(i);
        let rule = match check.rule() {
            Ok(rule) => rule,
            Err(errors) => {
                for (field, message) in errors {
                    let kind = match field {
                        "tcp" | "http" | "udp_dns" | "ping" | "expect" => SpecErrorKind::BadValue,
                        _ if message.contains("no probe") => SpecErrorKind::MissingField,
                        _ => SpecErrorKind::BadValue,
                    };
                    cx.err(kind, format!("{path}.{field}"), message);
                }
                continue;
            }
        };
        if let Some(first) = seen.get(&rule.name) {
            cx.err(
                SpecErrorKind::DuplicateName,
                format!("{path}.name"),
                format!("check name \"{}\" is already used by {first}", rule.name),
            );
        } else {
            seen.insert(rule.name.clone(), path.clone());
        }
        for (field, end) in [("from", &rule.from), ("to", &rule.to)] {
            match end {
                Endpoint::Workload(w) if workloads_ok && !workload_names.contains(w.as_str()) => {
                    let known: Vec<&str> = workload_names.iter().copied().collect();
                    cx.err(
                        SpecErrorKind::UnknownName,
                        format!("{path}.{field}"),
                        format!(
                            "the lab has no workload \"{w}\" (it has: {}); a VPN peer is written vpn:PEER",
                            if known.is_empty() { "none".to_string() } else { known.join(", ") }
                        ),
                    );
                }
                Endpoint::Peer(p) if vpn_ok && !peer_names.contains(p.as_str()) => {
                    let message = if vpn.is_none() {
                        format!(
                            "vpn:{p} names a VPN peer, but the lab has no WireGuard gateway (wireguard.enabled)"
                        )
                    } else {
                        let known: Vec<&str> = peer_names.iter().copied().collect();
                        format!(
                            "the lab has no VPN peer \"{p}\" (it has: {})",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        )
                    };
                    cx.err(
                        SpecErrorKind::UnknownName,
                        format!("{path}.{field}"),
                        message,
                    );
                }
                _ => {}
            }
        }
    }
}
