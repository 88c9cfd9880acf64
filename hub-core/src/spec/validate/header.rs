//! The lab's own fields: names, subnet, network type, `attach_to`, DHCP range, domain.

use hub_net::{AddressPlan, PlanError, PlanOverrides};

use super::{Ctx, parse_range, parse_subnet, segment_refs};
use crate::spec::error::SpecErrorKind;
use crate::spec::names;
use crate::spec::types::NETWORK_TYPE_BRIDGE;

pub(super) fn check_header(cx: &mut Ctx<'_>) -> Option<AddressPlan> {
    let spec = cx.spec;
    match (&spec.name, &spec.network_name) {
        (None, None) => cx.err(
            SpecErrorKind::MissingField,
            "",
            "the lab has no name: set `name` (or `network_name`)",
        ),
        (Some(n), _) if !names::is_dns_label(n) => cx.err(
            SpecErrorKind::BadName,
            "name",
            format!("lab name \"{n}\" is not valid: {}", names::DNS_LABEL_RULE),
        ),
        (None, Some(n)) if !names::is_dns_label(n) => cx.err(
            SpecErrorKind::BadName,
            "network_name",
            format!(
                "\"{n}\" is also the lab's name (there is no `name`), and is not valid: {}; \
                 set `name` or rename the network",
                names::DNS_LABEL_RULE
            ),
        ),
        _ => {}
    }
    if let Some(n) = &spec.network_name {
        if !names::is_docker_name(n) {
            cx.err(
                SpecErrorKind::BadName,
                "network_name",
                format!("network name \"{n}\" is not valid for Docker: use letters, digits, '_', '.' or '-', starting with a letter or digit, at most 64"),
            );
        }
    }
    if spec.network_type != NETWORK_TYPE_BRIDGE {
        cx.err(
            SpecErrorKind::BadValue,
            "network_type",
            format!(
                "network type \"{}\" is not supported; only \"bridge\" is, for now",
                spec.network_type
            ),
        );
    }
    if let Some(a) = &spec.attach_to {
        if !names::is_iface_name(a) {
            cx.err(
                SpecErrorKind::BadName,
                "attach_to",
                format!(
                    "\"{a}\" is not an interface name (1 to 15 characters, no '/', ':' or spaces)"
                ),
            );
        }
    }
    if let Some(d) = &spec.domain {
        if !names::is_dns_domain(d) {
            cx.err(
                SpecErrorKind::BadName,
                "domain",
                format!("domain \"{d}\" is not a DNS name: dot-separated labels of lowercase letters, digits or '-'"),
            );
        }
    }
    if spec.subnet.is_empty() && spec.networks.is_empty() {
        cx.err(
            SpecErrorKind::MissingField,
            "",
            "missing field `subnet`: give the lab a `subnet`, or its segments as `networks`",
        );
        return None;
    }
    let segments = segment_refs(spec);
    let first = segments.first()?;
    let (subnet_path, range_path) = (first.subnet_path.clone(), first.range_path.clone());
    let subnet = match parse_subnet(first.subnet) {
        Ok(s) => s,
        Err(m) => {
            cx.err(SpecErrorKind::Address, subnet_path, m);
            return None;
        }
    };
    let dhcp_range = match first.dhcp_range {
        None => None,
        Some(r) => match parse_range(r) {
            Ok(r) => Some(r),
            Err(m) => {
                cx.err(SpecErrorKind::Address, range_path, m);
                return AddressPlan::new(subnet)
                    .map_err(|e| cx.err(SpecErrorKind::Address, subnet_path, e.to_string()))
                    .ok();
            }
        },
    };
    match AddressPlan::with_overrides(
        subnet,
        PlanOverrides {
            dhcp_range,
            static_range: None,
        },
    ) {
        Ok(p) => Some(p),
        Err(e @ PlanError::RangeDoesNotFit { .. }) => {
            cx.err(SpecErrorKind::Address, range_path, e.to_string());
            None
        }
        Err(e) => {
            cx.err(SpecErrorKind::Address, subnet_path, e.to_string());
            None
        }
    }
}
