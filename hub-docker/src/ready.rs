//! Waiting until a container is ready: running, and healthy when it has a healthcheck.
//!
//! A container without a healthcheck is running as soon as `start` returns, so one inspect
//! usually settles it. With a healthcheck, the wait follows Docker's event stream for the
//! container (health changes, exits) and inspects again on each event, with a short capped
//! backoff as the fallback when the stream is quiet or fails.

use std::collections::HashMap;
use std::pin::Pin;
use std::time::Duration;

use bollard::models::{ContainerInspectResponse, EventMessage};
use bollard::query_parameters::{EventsOptionsBuilder, InspectContainerOptions};
use futures::{Stream, StreamExt};
use hub_runtime::wait::{Deadline, Stop};
use hub_runtime::{RuntimeError, RuntimeResult, WorkloadHandle};
use tokio_util::sync::CancellationToken;

use crate::DockerRuntime;
use crate::container::target;
use crate::error;
use crate::mapping::inspect_state;

/// Lines of the container's log quoted in a failure.
const LOG_LINES: usize = 20;
/// First and largest pause between two inspections without an event.
const BACKOFF_START: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_millis(500);

/// What one inspection says about readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// Ready.
    Ready,
    /// Not yet; what was seen.
    Waiting(String),
    /// It will not become ready by itself: what happened.
    Failed(String),
}

/// Decides readiness from an inspection. Pure, so it is unit-tested.
pub(crate) fn readiness(i: &ContainerInspectResponse, wants_health: bool) -> Readiness {
    let (status, health) = inspect_state(i);
    let st = i.state.as_ref();
    let code = st.and_then(|s| s.exit_code).unwrap_or(0);
    match status {
        "running" if !wants_health => Readiness::Ready,
        "running" => match health {
            "healthy" => Readiness::Ready,
            "unhealthy" => {
                let last = st
                    .and_then(|s| s.health.as_ref())
                    .and_then(|h| h.log.as_ref())
                    .and_then(|l| l.last())
                    .map(|r| {
                        format!(
                            " (last check exited {}: {})",
                            r.exit_code.unwrap_or(-1),
                            r.output.as_deref().unwrap_or("").trim()
                        )
                    })
                    .unwrap_or_default();
                Readiness::Failed(format!("its healthcheck reports unhealthy{last}"))
            }
            _ => Readiness::Waiting(format!("running, health {health}")),
        },
        "restarting" => Readiness::Waiting(format!("restarting after exit code {code}")),
        "exited" | "dead" => {
            let oom = st.and_then(|s| s.oom_killed).unwrap_or(false);
            let why = st
                .and_then(|s| s.error.as_deref())
                .filter(|e| !e.is_empty());
            let mut d = format!("it {status} with exit code {code}");
            if oom {
                d.push_str(" (killed for lack of memory)");
            }
            if let Some(why) = why {
                d.push_str(&format!(": {why}"));
            }
            Readiness::Failed(d)
        }
        "removing" => Readiness::Failed("it is being removed".into()),
        "" => Readiness::Waiting("no state yet".into()),
        other => Readiness::Waiting(other.to_string()),
    }
}

type Events = Pin<Box<dyn Stream<Item = Result<EventMessage, bollard::errors::Error>> + Send>>;

impl DockerRuntime {
    fn container_events(&self, id: &str) -> Events {
        let filters = HashMap::from([
            ("container", vec![id.to_string()]),
            ("type", vec!["container".to_string()]),
        ]);
        Box::pin(
            self.docker
                .events(Some(EventsOptionsBuilder::new().filters(&filters).build())),
        )
    }

    async fn with_logs(&self, h: &WorkloadHandle, detail: String) -> String {
        match self.tail_logs(h, LOG_LINES).await {
            Ok(logs) if !logs.trim().is_empty() => {
                format!("{detail}; last log lines:\n{}", logs.trim_end())
            }
            _ => detail,
        }
    }
}

pub(crate) async fn wait_ready(
    rt: &DockerRuntime,
    lab: &str,
    h: &WorkloadHandle,
    wants_health: bool,
    timeout: Duration,
    cancel: CancellationToken,
) -> RuntimeResult<()> {
    // A timeout too long for the clock (a spec's `10000000000000h`) means "no deadline".
    let wait = Deadline::new(timeout, &cancel);
    let cancelled = || RuntimeError::Cancelled {
        lab: lab.to_string(),
        workload: h.name.clone(),
    };
    let target = target(h);
    // Subscribe before the first look so no change between the two is missed.
    let mut events: Option<Events> = wants_health.then(|| rt.container_events(&target));
    let mut pause = BACKOFF_START;
    loop {
        if wait.check() == Err(Stop::Cancelled) {
            return Err(cancelled());
        }
        let inspected = rt
            .docker
            .inspect_container(&target, None::<InspectContainerOptions>)
            .await;
        let i = match inspected {
            Ok(i) => i,
            Err(e) if error::is_not_found(&e) => {
                return Err(RuntimeError::WorkloadFailed {
                    lab: lab.to_string(),
                    workload: h.name.clone(),
                    detail: "its container was removed while the hub waited for it".into(),
                });
            }
            Err(e) => {
                return Err(error::backend(
                    lab,
                    format!("waiting for container {:?}", h.name),
                    e,
                ));
            }
        };
        let last_seen = match readiness(&i, wants_health) {
            Readiness::Ready => return Ok(()),
            Readiness::Failed(detail) => {
                let detail = rt.with_logs(h, detail).await;
                return Err(RuntimeError::WorkloadFailed {
                    lab: lab.to_string(),
                    workload: h.name.clone(),
                    detail,
                });
            }
            Readiness::Waiting(seen) => seen,
        };
        let stop = tokio::select! {
            r = wait.pause(pause) => {
                pause = (pause * 2).min(BACKOFF_MAX);
                r.err()
            }
            ev = next_event(&mut events) => {
                if ev.is_none() {
                    // The stream ended or failed: fall back to the backoff alone.
                    events = None;
                }
                None
            }
        };
        match stop {
            None => {}
            Some(Stop::Cancelled) => return Err(cancelled()),
            Some(Stop::Expired) => {
                let detail = rt.with_logs(h, format!("last seen: {last_seen}")).await;
                return Err(RuntimeError::Timeout {
                    lab: lab.to_string(),
                    workload: h.name.clone(),
                    waited: timeout,
                    detail,
                });
            }
        }
    }
}

/// The next event, or `None` when the stream ended or failed; pends forever without a stream.
async fn next_event(events: &mut Option<Events>) -> Option<EventMessage> {
    match events {
        Some(s) => match s.next().await {
            Some(Ok(ev)) => Some(ev),
            Some(Err(e)) => {
                tracing::debug!("Docker event stream failed, polling instead: {e}");
                None
            }
            None => None,
        },
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ContainerState, ContainerStateStatusEnum, Health, HealthStatusEnum, HealthcheckResult,
    };

    fn insp(
        status: ContainerStateStatusEnum,
        health: Option<HealthStatusEnum>,
        code: i64,
    ) -> ContainerInspectResponse {
        ContainerInspectResponse {
            state: Some(ContainerState {
                status: Some(status),
                exit_code: Some(code),
                health: health.map(|h| Health {
                    status: Some(h),
                    log: Some(vec![HealthcheckResult {
                        exit_code: Some(1),
                        output: Some("no /tmp/ok\n".into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn running_without_healthcheck_is_ready() {
        assert_eq!(
            readiness(&insp(ContainerStateStatusEnum::RUNNING, None, 0), false),
            Readiness::Ready
        );
    }

    #[test]
    fn healthcheck_must_pass() {
        let starting = insp(
            ContainerStateStatusEnum::RUNNING,
            Some(HealthStatusEnum::STARTING),
            0,
        );
        assert!(matches!(readiness(&starting, true), Readiness::Waiting(_)));
        let healthy = insp(
            ContainerStateStatusEnum::RUNNING,
            Some(HealthStatusEnum::HEALTHY),
            0,
        );
        assert_eq!(readiness(&healthy, true), Readiness::Ready);
        let bad = insp(
            ContainerStateStatusEnum::RUNNING,
            Some(HealthStatusEnum::UNHEALTHY),
            0,
        );
        match readiness(&bad, true) {
            Readiness::Failed(d) => {
                assert!(d.contains("unhealthy") && d.contains("no /tmp/ok"), "{d}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exit_fails_with_the_code() {
        match readiness(&insp(ContainerStateStatusEnum::EXITED, None, 3), false) {
            Readiness::Failed(d) => assert!(d.contains("exit code 3"), "{d}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            readiness(&insp(ContainerStateStatusEnum::CREATED, None, 0), false),
            Readiness::Waiting(_)
        ));
        assert!(matches!(
            readiness(&insp(ContainerStateStatusEnum::RESTARTING, None, 1), false),
            Readiness::Waiting(_)
        ));
    }
}
