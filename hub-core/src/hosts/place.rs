//! Placement of a lab's workloads on its hosts, before anything is created.
//!
//! In spec order, each workload goes to: its pin (`host:`); else the host it runs on now;
//! else the host the state file records for it (a re-`up` keeps workloads where they are,
//! unless their host left the spec); else the host the scheduler picks (E-PVM or round-robin)
//! from the hosts' capacity less what this plan already put on them, so that the same spec on
//! the same hosts is always placed the same way. Then each host's share of the workloads to
//! start is checked against what the host has available now. Every problem is reported
//! together, each naming its host.

use std::collections::BTreeMap;

use hub_runtime::{WorkloadKind, WorkloadSpec};

use super::{HostCapacity, HostSet};
use crate::desired::{DesiredLab, DesiredWorkload};
use crate::error::HubError;
use crate::scheduler::{Demand, Epvm, Node, RoundRobin, Scheduler, fmt_mib};
use crate::spec::Placement;

/// Where an `up` puts each workload, and what each host was asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostPlacement {
    /// Each workload's host, by name.
    pub hosts: BTreeMap<String, String>,
}

/// What a workload asks of its host (a container without limits asks nothing up front; E-PVM
/// still counts a minimum of CPU for it).
fn demand(w: &DesiredWorkload) -> Demand {
    match &w.spec {
        WorkloadSpec::Vm(vm) => Demand {
            cpus: f64::from(vm.vcpus),
            memory_mb: vm.memory_mb,
        },
        WorkloadSpec::Container(c) => Demand {
            cpus: c.resources.cpus.unwrap_or(0.0),
            memory_mb: c.resources.memory_mb.unwrap_or(0),
        },
    }
}

/// What is placed on one host so far.
#[derive(Debug, Clone, Copy, Default)]
struct Load {
    /// Every workload of the lab placed there.
    all: Demand,
    /// The workloads this `up` starts there.
    new: Demand,
}

fn add(d: &mut Demand, w: &Demand) {
    d.cpus += w.cpus;
    d.memory_mb += w.memory_mb;
}

struct Placer<'a> {
    lab: &'a str,
    set: &'a HostSet,
    /// The hosts of the spec, in order, with their capacity (or why it could not be read).
    hosts: Vec<(String, Result<HostCapacity, String>)>,
    load: BTreeMap<String, Load>,
    problems: Vec<String>,
    scheduler: Box<dyn Scheduler>,
}

impl Placer<'_> {
    fn capacity(&self, host: &str) -> Option<&Result<HostCapacity, String>> {
        self.hosts.iter().find(|(h, _)| h == host).map(|(_, c)| c)
    }

    /// Whether `host` can take workloads of `kind` at all; the reason when not.
    fn eligible(&self, host: &str, kind: WorkloadKind) -> Result<(), String> {
        match self.capacity(host) {
            None => Err("is not in the spec's hosts".into()),
            Some(Err(e)) => Err(format!("cannot be used: {e}")),
            Some(Ok(c)) => match (kind, &c.libvirt) {
                (WorkloadKind::Container, _) | (WorkloadKind::Vm, Some(Ok(()))) => Ok(()),
                (WorkloadKind::Vm, None) => Err("has no libvirt to run VMs".into()),
                (WorkloadKind::Vm, Some(Err(e))) => Err(format!("cannot run VMs: {e}")),
            },
        }
    }

    /// The host the scheduler picks for `w`, or `None` with the shortfall recorded.
    fn pick(&mut self, w: &DesiredWorkload, d: &Demand) -> Option<String> {
        let kind = w.spec.kind();
        let nodes: Vec<Node> = self
            .hosts
            .iter()
            .map(|(name, cap)| {
                let load = self.load.get(name).copied().unwrap_or_default();
                Node {
                    name: name.clone(),
                    metrics: match (cap, self.eligible(name, kind)) {
                        (Ok(c), Ok(())) => Ok(c.metrics_after(load.all.memory_mb, load.all.cpus)),
                        (_, Err(e)) => Err(e),
                        // An unreadable capacity is never eligible.
                        (Err(_), Ok(())) => Err("cannot be used".into()),
                    },
                }
            })
            .collect();
        if let Some(i) = self.scheduler.pick(&nodes, d) {
            return Some(nodes[i].name.clone());
        }
        let why: Vec<String> = nodes
            .iter()
            .map(|n| match &n.metrics {
                Ok(m) => format!(
                    "host {:?} has {} of {} and {} CPUs left for it",
                    n.name,
                    fmt_mib(m.memory_available_mb),
                    fmt_mib(m.memory_total_mb),
                    f64::from(m.cpus) - m.load1
                ),
                Err(e) => format!("host {:?} {e}", n.name),
            })
            .collect();
        self.problems.push(format!(
            "no host can take {} {:?} ({} of memory, {} CPUs): {}",
            kind,
            w.name(),
            fmt_mib(d.memory_mb),
            d.cpus,
            why.join("; ")
        ));
        None
    }

    /// Each host's share of what this `up` starts, against what it has available now.
    fn check_room(&mut self) {
        for (host, cap) in &self.hosts {
            let (Some(load), Ok(c)) = (self.load.get(host), cap) else {
                continue;
            };
            if load.new.memory_mb > c.memory_available_mb {
                self.problems.push(format!(
                    "host {host:?}: the workloads placed there need {} of memory, the host has {} \
                     available",
                    fmt_mib(load.new.memory_mb),
                    fmt_mib(c.memory_available_mb)
                ));
            }
            if load.all.cpus > f64::from(c.cpus) {
                self.problems.push(format!(
                    "host {host:?}: the workloads placed there need {} CPUs, the host has {}",
                    load.all.cpus, c.cpus
                ));
            }
        }
    }
}

/// Places the workloads of `desired` on the hosts of `set` (see the module's docs); `to_start`
/// names those this `up` (re)creates, `recorded` each workload's host in the state file. On
/// success every workload's host is recorded in `set`: its creation goes there.
pub async fn place(
    desired: &DesiredLab,
    to_start: &[String],
    recorded: &BTreeMap<String, String>,
    set: &HostSet,
) -> Result<HostPlacement, HubError> {
    let lab = desired.name.as_str();
    let mut problems: Vec<String> = set
        .unreachable()
        .iter()
        .filter(|u| set.in_spec(&u.host))
        .map(|u| format!("host {:?} cannot be reached: {}", u.host, u.reason))
        .collect();
    let probes = desired.hosts.iter().map(|h| async move {
        let cap = match set.host(&h.name) {
            Some(b) => b.probe.capacity().await,
            None => Err("cannot be reached".to_string()),
        };
        (h.name.clone(), cap)
    });
    let hosts: Vec<(String, Result<HostCapacity, String>)> =
        futures::future::join_all(probes).await;
    for (h, cap) in &hosts {
        if let Err(e) = cap
            && set.host(h).is_some()
        {
            problems.push(format!("host {h:?}: {e}"));
        }
    }
    let scheduler: Box<dyn Scheduler> = match desired.placement {
        Placement::Epvm => Box::new(Epvm),
        // A new one for each placement: the same spec always starts at the first host.
        Placement::RoundRobin => Box::new(RoundRobin::new()),
    };
    let mut p = Placer {
        lab,
        set,
        hosts,
        load: BTreeMap::new(),
        problems,
        scheduler,
    };
    let mut out = HostPlacement::default();
    for w in &desired.workloads {
        let d = demand(w);
        let kind = w.spec.kind();
        let starts = to_start.iter().any(|n| n == w.name());
        let kept = [
            p.set.host_of(kind, w.name()),
            recorded.get(w.name()).cloned(),
        ]
        .into_iter()
        .flatten()
        .find(|h| p.set.in_spec(h) && p.eligible(h, kind).is_ok());
        let host = match (&w.host, kept) {
            (Some(pin), _) => match p.eligible(pin, kind) {
                Ok(()) => Some(pin.clone()),
                Err(e) => {
                    // An unreachable host is reported once, above, not with each pin to it.
                    if p.set.host(pin).is_some() || !p.set.in_spec(pin) {
                        p.problems.push(format!(
                            "host {pin:?} cannot run {kind} {:?}: it {e}",
                            w.name()
                        ));
                    }
                    None
                }
            },
            (None, Some(h)) => Some(h),
            (None, None) => p.pick(w, &d),
        };
        let Some(host) = host else { continue };
        let load = p.load.entry(host.clone()).or_default();
        add(&mut load.all, &d);
        if starts {
            add(&mut load.new, &d);
        }
        out.hosts.insert(w.name().to_string(), host);
    }
    p.check_room();
    if !p.problems.is_empty() {
        return Err(HubError::Hosts {
            lab: p.lab.to_string(),
            problems: p.problems,
        });
    }
    for w in &desired.workloads {
        if let Some(h) = out.hosts.get(w.name()) {
            set.place_on(w.spec.kind(), w.name(), h);
        }
    }
    Ok(out)
}
