//! Logs carry the lab and the workload as `tracing` span fields.

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
