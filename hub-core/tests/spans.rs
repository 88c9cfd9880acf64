//! Logs carry the lab and the workload as `tracing` span fields; the reconciler's events are
//! log lines with `lab` and `workload` fields.

mod common;

use std::sync::{Arc, Mutex};

use common::Fx;
use hub_core::Container;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Records every new span as `name{field=value,...}`.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<String>>>);

struct Fields(Vec<String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push(format!("{}={value}", field.name()));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields(Vec::new());
        event.record(&mut f);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("event{{{}}}", f.0.join(",")));
    }
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let mut f = Fields(Vec::new());
        attrs.record(&mut f);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{}{{{}}}", attrs.metadata().name(), f.0.join(",")));
    }
}

// A current-thread runtime: every task runs on this thread, under this thread's subscriber.
#[tokio::test]
async fn up_and_each_workload_run_in_spans_naming_the_lab_and_workload() {
    let spans = Spans::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let fx = Fx::new();
    let lab = fx
        .builder("t-hub-f-spans", "10.205.42.0/24")
        .container(Container::new("db", "img"))
        .container(Container::new("web", "img"))
        .up()
        .await
        .expect("up");
    lab.down().await.expect("down");
    let seen = spans.0.lock().expect("spans").clone();
    assert!(
        seen.iter().any(|s| s == "up{lab=t-hub-f-spans}"),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|s| s == "down{lab=t-hub-f-spans}"),
        "{seen:?}"
    );
    for w in ["db", "web"] {
        let want = format!("workload{{lab=t-hub-f-spans,workload={w}}}");
        assert!(seen.contains(&want), "no {want} in {seen:?}");
    }
}

#[tokio::test]
async fn each_heal_event_is_a_log_line_naming_the_lab_and_workload() {
    use hub_core::heal::{EventKind, HealPolicy};
    use hub_core::runtime::{RestartPolicy, Runtime, WorkloadHandle, WorkloadKind};

    let spans = Spans::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let fx = Fx::new();
    let lab = "t-hub-f-heal-log";
    let hub = std::sync::Arc::new(
        fx.builder(lab, "10.233.205.0/24")
            .container(Container::new("web", "img").restart(RestartPolicy::Always))
            .wait_for_lock(true)
            .build()
            .expect("hub"),
    );
    let _ = hub.clone().up().await.expect("up").keep();
    let policy = HealPolicy {
        interval: std::time::Duration::from_millis(20),
        ..HealPolicy::default()
    };
    let watcher = hub.clone().watcher(policy);
    let mut events = watcher.subscribe();
    let cancel = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(watcher.run(cancel.clone()));
    let web = WorkloadHandle {
        lab: lab.into(),
        name: "web".into(),
        kind: WorkloadKind::Container,
        id: String::new(),
    };
    fx.rt.remove(&web).await.expect("rm");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let e = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("restarted within 10 s")
            .expect("open");
        if e.kind == EventKind::Restarted {
            break;
        }
    }
    cancel.cancel();
    task.await.expect("task").expect("watch");
    hub.down().await.expect("down");
    let seen = spans.0.lock().expect("lines").clone();
    for kind in ["drifted", "restarting", "restarted"] {
        let line = seen.iter().find(|l| {
            l.starts_with("event{")
                && l.contains(&format!("lab={lab}"))
                && l.contains("workload=web")
                && l.contains(&format!("kind={kind}"))
        });
        assert!(line.is_some(), "no {kind} log line for web in {seen:#?}");
    }
}
