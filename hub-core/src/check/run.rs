//! Runs a lab's checks: resolves each rule's ends against the lab's state, starts the VPN
//! clients the rules need, runs every probe at once (bounded), each within its deadline, and
//! removes the VPN clients again.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Instant;

use futures::StreamExt as _;
use hub_runtime::WorkloadKind;
use hub_runtime::wait::{Deadline, Stop};
use tokio_util::sync::CancellationToken;

use super::builtin::{self, Task};
use super::probe::{self, Reply};
use super::{CheckOptions, CheckReport, CheckResult, CheckSource, netns, vm};
use crate::error::HubError;
use crate::lab::Lab;
use crate::spec::{CheckRule, Endpoint, Expect, Probe};

/// How much earlier than its check's deadline a probe gives up, so that its own reason (no
/// answer, refused) is reported rather than the deadline's.
const PROBE_MARGIN: std::time::Duration = std::time::Duration::from_millis(250);

/// How many probes run at once in one VM.
const VM_PROBES_AT_ONCE: usize = 2;

/// Where the probes of one source run.
#[derive(Clone)]
enum Origin {
    /// A network namespace of this host (a container's, a VPN client's).
    Namespace(PathBuf),
    /// A VM, over SSH.
    Vm(String),
    /// Nowhere: why the source cannot probe.
    Unusable(String),
}

/// Runs every check of `lab`.
pub(crate) async fn run(
    lab: &Lab,
    opts: &CheckOptions,
    cancel: &CancellationToken,
) -> Result<CheckReport, HubError> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    if opts.builtins {
        tasks.extend(builtin::tasks(lab));
    }
    for check in &lab.hub().lab_spec().checks {
        let rule = check.rule().map_err(|errors| HubError::Invalid {
            what: format!("check {:?} of lab {:?}", check.name, lab.name()),
            reason: errors
                .into_iter()
                .map(|(f, m)| format!("{f}: {m}"))
                .collect::<Vec<_>>()
                .join("; "),
        })?;
        tasks.push(Task::Probe(rule, CheckSource::Spec));
    }

    // Every VPN peer a rule names, at either end, gets its client (once): as a source it
    // sends, as a target it answers.
    let mut peers: BTreeMap<String, Result<PathBuf, String>> = BTreeMap::new();
    #[cfg(feature = "wireguard")]
    let mut clients = Vec::new();
    for task in &tasks {
        let Task::Probe(rule, _) = task else { continue };
        for end in [&rule.from, &rule.to] {
            let Endpoint::Peer(p) = end else { continue };
            if peers.contains_key(p) {
                continue;
            }
            #[cfg(feature = "wireguard")]
            let ready =
                match super::vpn_client::VpnClient::start(lab, p, opts.timeout, cancel).await {
                    Ok(client) => {
                        let path = client.namespace_path();
                        clients.push(client);
                        Ok(path)
                    }
                    Err(e) => Err(format!("the VPN client of {p:?} could not start: {e}")),
                };
            #[cfg(not(feature = "wireguard"))]
            let ready = Err(format!(
                "vpn:{p}: this hub was built without feature `wireguard`"
            ));
            peers.insert(p.clone(), ready);
        }
    }
    // The sources, each made ready once: a container's namespace, a VM, a VPN client.
    let mut origins: BTreeMap<String, Origin> = BTreeMap::new();
    for task in &tasks {
        let Task::Probe(rule, _) = task else { continue };
        let key = rule.from.to_string();
        if origins.contains_key(&key) {
            continue;
        }
        let origin = match &rule.from {
            Endpoint::Workload(w) => workload_origin(lab, w).await,
            Endpoint::Peer(p) => match peers.get(p) {
                Some(Ok(path)) => Origin::Namespace(path.clone()),
                Some(Err(e)) => Origin::Unusable(e.clone()),
                None => Origin::Unusable(format!("no VPN client for {p:?}")),
            },
            Endpoint::Address(a) => {
                Origin::Unusable(format!("a check cannot run from an address ({a})"))
            }
        };
        origins.insert(key, origin);
    }

    let lab_ref = lab;
    let vm_turns: BTreeMap<String, tokio::sync::Semaphore> = origins
        .iter()
        .filter(|(_, o)| matches!(o, Origin::Vm(_)))
        .map(|(k, _)| (k.clone(), tokio::sync::Semaphore::new(VM_PROBES_AT_ONCE)))
        .collect();
    let vm_turns = &vm_turns;
    let origins = &origins;
    let peers = &peers;
    let mut results: Vec<(usize, CheckResult)> =
        futures::stream::iter(tasks.into_iter().enumerate())
            .map(|(i, task)| async move {
                // A VM's probes take turns (SSH logins into an emulated guest are slow, and
                // sshd refuses a burst of them); each check's deadline starts with its turn.
                let _turn = match &task {
                    Task::Probe(rule, _) => match vm_turns.get(&rule.from.to_string()) {
                        Some(turns) => turns.acquire().await.ok(),
                        None => None,
                    },
                    _ => None,
                };
                let wait = Deadline::new(opts.timeout, cancel);
                let begun = Instant::now();
                let mut result = match task {
                    Task::Probe(rule, source) => {
                        let target_down = match &rule.to {
                            Endpoint::Peer(p) => peers.get(p).and_then(|r| r.as_ref().err()),
                            _ => None,
                        };
                        let origin = match target_down {
                            Some(why) => Origin::Unusable(why.clone()),
                            None => origins
                                .get(&rule.from.to_string())
                                .cloned()
                                .unwrap_or_else(|| Origin::Unusable("no origin".into())),
                        };
                        run_rule(lab_ref, &rule, source, origin, &wait).await
                    }
                    other => builtin::run_special(lab_ref, other, &wait).await,
                };
                result.elapsed_ms = begun.elapsed().as_millis() as u64;
                (i, result)
            })
            .buffer_unordered(opts.parallelism.max(1))
            .collect()
            .await;
    results.sort_by_key(|(i, _)| *i);

    #[cfg(feature = "wireguard")]
    for client in clients {
        client.remove().await;
    }
    if cancel.is_cancelled() {
        return Err(HubError::ChecksInterrupted {
            lab: lab.name().to_string(),
        });
    }
    Ok(CheckReport {
        lab: lab.name().to_string(),
        results: results.into_iter().map(|(_, r)| r).collect(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

async fn workload_origin(lab: &Lab, name: &str) -> Origin {
    let Some(w) = lab.workload(name) else {
        return Origin::Unusable(format!("the lab has no workload {name:?}"));
    };
    if w.kind == WorkloadKind::Vm {
        return Origin::Vm(name.to_string());
    }
    match lab.net_namespace(name).await {
        Ok(Some(ns)) => Origin::Namespace(ns),
        Ok(None) => Origin::Unusable(format!(
            "the backend of {name:?} gives no network namespace to probe from"
        )),
        Err(e) => Origin::Unusable(format!("{name:?} is not running: {e}")),
    }
}

/// The address a rule's `to` stands for.
pub(super) fn address_of(lab: &Lab, to: &Endpoint) -> Result<Ipv4Addr, String> {
    match to {
        Endpoint::Address(a) => Ok(*a),
        Endpoint::Workload(w) => lab.ip(w).map_err(|e| e.to_string()),
        Endpoint::Peer(p) => lab
            .state()
            .vpn
            .as_ref()
            .and_then(|v| v.peers.iter().find(|x| &x.name == p))
            .map(|x| x.address)
            .ok_or_else(|| format!("the lab has no VPN peer {p:?}")),
    }
}

async fn run_rule(
    lab: &Lab,
    rule: &CheckRule,
    source: CheckSource,
    origin: Origin,
    wait: &Deadline,
) -> CheckResult {
    let mut result = CheckResult {
        name: rule.name.clone(),
        source,
        from: rule.from.to_string(),
        to: rule.to.to_string(),
        probe: rule.probe.to_string(),
        expect: rule.expect.to_string(),
        passed: false,
        detail: String::new(),
        elapsed_ms: 0,
    };
    let to = match address_of(lab, &rule.to) {
        Ok(a) => a,
        Err(e) => {
            result.detail = e;
            return result;
        }
    };
    let host = match &rule.probe {
        Probe::Http(get) => get.host.clone().unwrap_or_else(|| rule.to.to_string()),
        _ => String::new(),
    };
    let reply: Result<Result<Reply, String>, Stop> = match origin {
        Origin::Unusable(why) => {
            result.detail = why;
            return result;
        }
        Origin::Namespace(ns) => {
            // The probe stops a little before the check's deadline, to say why itself.
            let until = Instant::now() + wait.remaining().saturating_sub(PROBE_MARGIN);
            let probe = rule.probe.clone();
            wait.run(netns::run_in(&ns, move || match probe {
                Probe::Ping => probe::ping(to, until),
                Probe::Tcp(port) => probe::tcp(to, port, until),
                Probe::UdpDns(name) => probe::dns(to, &name, until),
                Probe::Http(get) => probe::http(to, &host, &get, until),
            }))
            .await
            .map(|r| r.and_then(|x| x))
        }
        Origin::Vm(vm) => {
            wait.run(vm::probe(lab, &vm, &rule.probe, to, &host, wait))
                .await
        }
    };
    let reply = match reply {
        Ok(r) => r,
        Err(Stop::Expired) => Err(format!(
            "no result within {:.1} s",
            wait.limit().as_secs_f64()
        )),
        Err(Stop::Cancelled) => Err("cancelled".to_string()),
    };
    (result.passed, result.detail) = judge(&rule.expect, reply);
    result
}

/// Whether `reply` is what `expect` asks for, and the detail to show.
pub(super) fn judge(expect: &Expect, reply: Result<Reply, String>) -> (bool, String) {
    match (expect, reply) {
        (Expect::Blocked, Err(why)) => (true, format!("blocked: {why}")),
        (Expect::Blocked, Ok(r)) => (false, format!("not blocked: {}", describe(&r))),
        (_, Err(why)) => (false, why),
        (Expect::Success, Ok(r)) => {
            let ok = match &r {
                Reply::Dns { rcode, addrs } => rcode == "NoError" && !addrs.is_empty(),
                Reply::Http { status, .. } => (200..400).contains(status),
                _ => true,
            };
            (ok, describe(&r))
        }
        (Expect::Status(want), Ok(r)) => match &r {
            Reply::Http { status, .. } => (status == want, describe(&r)),
            other => (false, describe(other)),
        },
        (Expect::Body(text), Ok(r)) => match &r {
            Reply::Http { body, .. } if body.contains(text.as_str()) => (true, describe(&r)),
            Reply::Http { .. } => (false, format!("{}; the body has no {text:?}", describe(&r))),
            other => (false, describe(other)),
        },
        (Expect::Answer(want), Ok(r)) => match &r {
            Reply::Dns { addrs, .. } => (addrs.contains(want), describe(&r)),
            other => (false, describe(other)),
        },
    }
}

fn describe(r: &Reply) -> String {
    match r {
        Reply::Echo(rtt) => format!("echo reply in {:.1} ms", rtt.as_secs_f64() * 1e3),
        Reply::Connected => "connected".to_string(),
        Reply::Dns { rcode, addrs } if addrs.is_empty() => format!("answer {rcode}, no address"),
        Reply::Dns { addrs, .. } => format!(
            "answer {}",
            addrs
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Reply::Http { status, body } => format!("HTTP {status}, {} bytes", body.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, body: &str) -> Result<Reply, String> {
        Ok(Reply::Http {
            status,
            body: body.into(),
        })
    }

    #[test]
    fn blocked_passes_only_when_nothing_got_through() {
        let refused = Err("10.0.0.5:5432 refused the connection".to_string());
        assert_eq!(
            judge(&Expect::Blocked, refused.clone()),
            (true, "blocked: 10.0.0.5:5432 refused the connection".into())
        );
        assert!(!judge(&Expect::Blocked, Ok(Reply::Connected)).0);
        assert!(!judge(&Expect::Success, refused).0);
    }

    #[test]
    fn http_and_dns_replies_are_held_to_what_was_expected() {
        assert!(judge(&Expect::Success, http(200, "x")).0);
        assert!(!judge(&Expect::Success, http(500, "x")).0);
        assert!(judge(&Expect::Status(404), http(404, "")).0);
        assert!(!judge(&Expect::Status(404), http(200, "")).0);
        let (ok, detail) = judge(&Expect::Body("hello".into()), http(200, "goodbye"));
        assert!(!ok);
        assert!(detail.contains("no \"hello\""), "{detail}");
        let a: Ipv4Addr = "10.0.0.9".parse().unwrap();
        let answer = |addrs: Vec<Ipv4Addr>| {
            Ok(Reply::Dns {
                rcode: "NoError".into(),
                addrs,
            })
        };
        assert!(judge(&Expect::Answer(a), answer(vec![a])).0);
        assert!(!judge(&Expect::Answer(a), answer(vec![])).0);
        assert!(!judge(&Expect::Success, answer(vec![])).0);
        assert!(judge(&Expect::Success, answer(vec![a])).0);
    }
}
