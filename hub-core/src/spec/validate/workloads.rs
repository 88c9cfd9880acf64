//! Containers and VMs: names, sizes, images, static addresses and `depends_on`.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use hub_net::AddressPlan;

use super::{Ctx, parse_ip, workloads};
use crate::spec::error::SpecErrorKind;
use crate::spec::names;

pub(super) fn check_workload_names(cx: &mut Ctx<'_>) {
    let mut seen: HashMap<&str, String> = HashMap::new();
    for w in workloads(cx.spec) {
        let path = format!("{}.name", w.path);
        if !names::is_dns_label(w.name) {
            cx.err(
                SpecErrorKind::BadName,
                path,
                format!(
                    "name \"{}\" is not valid: {}",
                    w.name,
                    names::DNS_LABEL_RULE
                ),
            );
        } else if let Some(first) = seen.get(w.name) {
            cx.err(
                SpecErrorKind::DuplicateName,
                path,
                format!(
                    "name \"{}\" is already used by {first}; container and VM names must be unique",
                    w.name
                ),
            );
        } else {
            seen.insert(w.name, w.path.clone());
        }
    }
}

pub(super) fn check_containers(cx: &mut Ctx<'_>) {
    for (i, c) in cx.spec.containers.iter().enumerate() {
        let p = cx.spec.origin.container_path(i);
        if c.image.trim().is_empty() || c.image.chars().any(char::is_whitespace) {
            cx.err(
                SpecErrorKind::BadValue,
                format!("{p}.image"),
                format!(
                    "image \"{}\" is not an image reference (like nginx:alpine)",
                    c.image
                ),
            );
        }
        if let Some(cpus) = c.cpus {
            if !(cpus.is_finite() && cpus > 0.0) {
                cx.err(
                    SpecErrorKind::BadValue,
                    format!("{p}.cpus"),
                    format!("cpus must be more than 0, not {cpus}"),
                );
            }
        }
        if c.memory_mb == Some(0) {
            cx.err(
                SpecErrorKind::BadValue,
                format!("{p}.memory_mb"),
                "memory_mb must be more than 0",
            );
        }
        for key in c.env.keys() {
            if key.is_empty() || key.contains('=') {
                cx.err(
                    SpecErrorKind::BadName,
                    format!("{p}.env.{key}"),
                    format!(
                        "environment variable name \"{key}\" must be non-empty and hold no '='"
                    ),
                );
            }
        }
        if let Some(hc) = &c.healthcheck {
            if hc.test.is_empty() || hc.test.iter().all(|s| s.trim().is_empty()) {
                cx.err(
                    SpecErrorKind::BadValue,
                    format!("{p}.healthcheck.test"),
                    "the healthcheck needs a command (exec form, like [\"wget\", \"-q\", \"-O-\", \"http://localhost/\"])",
                );
            }
        }
    }
}

pub(super) fn check_vms(cx: &mut Ctx<'_>) {
    for (i, vm) in cx.spec.vms.iter().enumerate() {
        let p = cx.spec.origin.vm_path(i);
        if vm.memory_mb == 0 {
            cx.err(
                SpecErrorKind::BadValue,
                format!("{p}.memory_mb"),
                "memory_mb must be more than 0",
            );
        }
        if vm.vcpus == 0 {
            cx.err(
                SpecErrorKind::BadValue,
                format!("{p}.vcpus"),
                "vcpus must be at least 1",
            );
        }
        if !names::is_linux_user(&vm.user) {
            cx.err(
                SpecErrorKind::BadName,
                format!("{p}.user"),
                format!(
                    "user \"{}\" is not a Linux user name ([a-z_][a-z0-9_-]*, at most 32)",
                    vm.user
                ),
            );
        }
        for (j, pkg) in vm.packages.iter().enumerate() {
            if !names::is_package(pkg) {
                cx.err(
                    SpecErrorKind::BadName,
                    format!("{p}.packages[{j}]"),
                    format!("\"{pkg}\" is not a package name"),
                );
            }
        }
        if let Some(ci) = &vm.cloud_init {
            if !ci.is_object() {
                cx.err(
                    SpecErrorKind::Type,
                    format!("{p}.cloud_init"),
                    "cloud_init must be a mapping of cloud-config keys",
                );
            }
        }
        if vm.image.as_os_str().is_empty() {
            cx.err(
                SpecErrorKind::MissingImage,
                format!("{p}.image"),
                "the VM needs an image (a qcow2 file)",
            );
        } else {
            let abs = cx.spec.resolve_path(&vm.image);
            if !abs.is_file() {
                let what = if abs.exists() {
                    "is not a file"
                } else {
                    "does not exist"
                };
                let rel = if vm.image.is_relative() {
                    " (a relative path is relative to the spec file's folder)"
                } else {
                    ""
                };
                cx.err(
                    SpecErrorKind::MissingImage,
                    format!("{p}.image"),
                    format!("VM image {} {what}{rel}", abs.display()),
                );
            } else if let Some(why) = hub_runtime::disk::disk_image_problem(&abs) {
                cx.err(
                    SpecErrorKind::BadImage,
                    format!("{p}.image"),
                    format!("VM image {} {why}", abs.display()),
                );
            }
        }
    }
}

pub(super) fn check_static_addresses(cx: &mut Ctx<'_>, plan: &AddressPlan) {
    let mut used: HashMap<Ipv4Addr, String> = HashMap::new();
    for w in workloads(cx.spec) {
        let Some(ip) = w.ip else { continue };
        let path = format!("{}.ip", w.path);
        match parse_ip(ip) {
            Err(m) => cx.err(SpecErrorKind::Address, path, m),
            Ok(addr) => {
                if let Err(e) = plan.check_static(addr) {
                    cx.err(SpecErrorKind::Address, path, e.to_string());
                } else if let Some(first) = used.get(&addr) {
                    cx.err(
                        SpecErrorKind::AddressInUse,
                        path,
                        format!("address {addr} is already used by {first}"),
                    );
                } else {
                    used.insert(addr, format!("{} ({})", w.path, w.name));
                }
            }
        }
    }
}

pub(super) fn check_dependencies(cx: &mut Ctx<'_>) {
    let ws = workloads(cx.spec);
    let index: HashMap<&str, usize> = ws.iter().enumerate().map(|(i, w)| (w.name, i)).collect();
    let mut edges: Vec<Vec<(usize, usize)>> = vec![Vec::new(); ws.len()];
    for (i, w) in ws.iter().enumerate() {
        for (j, dep) in w.depends_on.iter().enumerate() {
            match index.get(dep.as_str()) {
                Some(&t) => edges[i].push((t, j)),
                None => cx.err(
                    SpecErrorKind::UnknownDependency,
                    format!("{}.depends_on[{j}]", w.path),
                    format!("\"{dep}\" is not a container or VM of this lab"),
                ),
            }
        }
    }
    // Iterative DFS; each back edge closes a cycle, reported once at that edge.
    let mut state = vec![0u8; ws.len()]; // 0 new, 1 on stack, 2 done
    for start in 0..ws.len() {
        if state[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if *next < edges[node].len() {
                let (to, j) = edges[node][*next];
                *next += 1;
                match state[to] {
                    0 => {
                        state[to] = 1;
                        stack.push((to, 0));
                    }
                    1 => {
                        let pos = stack.iter().position(|(n, _)| *n == to).unwrap_or(0);
                        let mut names: Vec<&str> =
                            stack[pos..].iter().map(|(n, _)| ws[*n].name).collect();
                        names.push(ws[to].name);
                        cx.err(
                            SpecErrorKind::DependencyCycle,
                            format!("{}.depends_on[{j}]", ws[node].path),
                            format!("depends_on forms a cycle: {}", names.join(" -> ")),
                        );
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
}
