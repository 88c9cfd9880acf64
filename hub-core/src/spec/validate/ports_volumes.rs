//! Containers' `ports:` and `volumes:`: each parses, no host port is published twice, and
//! every bind mount's source exists.

use std::collections::BTreeMap;

use hub_runtime::{PortMapping, Protocol};

use super::Ctx;
use crate::spec::error::SpecErrorKind;
use crate::spec::volumes::{MountSource, parse_volume};

pub(super) fn check_ports(cx: &mut Ctx<'_>) {
    let spec = cx.spec;
    let mut published: BTreeMap<(Protocol, u16), String> = BTreeMap::new();
    for (i, c) in spec.containers.iter().enumerate() {
        let path = spec.origin.container_path(i);
        for (j, written) in c.ports.iter().enumerate() {
            let at = format!("{path}.ports[{j}]");
            let m = match written.parse::<PortMapping>() {
                Ok(m) => m,
                Err(e) => {
                    cx.err(SpecErrorKind::BadValue, at, e);
                    continue;
                }
            };
            let Some(port) = m.host_port else { continue };
            if let Some(first) = published.get(&(m.protocol, port)) {
                cx.err(
                    SpecErrorKind::PortInUse,
                    at,
                    format!(
                        "host port {port}/{} is already published by {first}",
                        m.protocol
                    ),
                );
            } else {
                published.insert((m.protocol, port), at);
            }
        }
    }
}

pub(super) fn check_volumes(cx: &mut Ctx<'_>) {
    let spec = cx.spec;
    for (i, c) in spec.containers.iter().enumerate() {
        let path = spec.origin.container_path(i);
        for (j, written) in c.volumes.iter().enumerate() {
            let at = format!("{path}.volumes[{j}]");
            match parse_volume(written) {
                Err(e) => cx.err(SpecErrorKind::BadValue, at, e),
                Ok(v) => {
                    if let MountSource::Bind(src) = &v.source {
                        let full = spec.resolve_path(src);
                        if !full.exists() {
                            cx.err(
                                SpecErrorKind::MissingFile,
                                at,
                                format!(
                                    "the bind mount's source {} does not exist (relative \
                                     paths are from the spec's folder)",
                                    full.display()
                                ),
                            );
                        }
                    }
                }
            }
        }
    }
}
