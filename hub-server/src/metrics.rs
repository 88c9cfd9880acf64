//! Prometheus metrics (`GET /metrics`, the text format): labs by phase and workloads by kind
//! and state (read when scraped), `up`/`down` durations, restarts, netd's leases, DNS queries
//! and DHCP messages (from its files in the lab folder), and API requests by route and status.

use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use hub_core::net::netd::NetdStats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;

use crate::manager::Server;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkloadLabels {
    kind: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LabLabels {
    lab: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabels {
    lab: String,
    transport: String,
}

/// netd's counts of each lab as last read (its `stats.json`), encoded as counters when scraped:
/// netd counts, the server only passes the figures on.
#[derive(Debug, Default)]
struct NetdCounts {
    labs: Mutex<Vec<(String, NetdStats)>>,
}

impl Collector for NetdCounts {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let labs = self.labs.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut family = encoder.encode_descriptor(
            "netd_dns_queries",
            "DNS queries netd received, by lab and transport (from its counts file)",
            None,
            MetricType::Counter,
        )?;
        for (lab, s) in &labs {
            for (transport, n) in [("udp", s.dns_udp_queries), ("tcp", s.dns_tcp_queries)] {
                let labels = TransportLabels {
                    lab: lab.clone(),
                    transport: transport.into(),
                };
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "netd_dhcp_messages",
            "DHCP messages netd received, by lab (from its counts file)",
            None,
            MetricType::Counter,
        )?;
        for (lab, s) in &labs {
            let labels = LabLabels { lab: lab.clone() };
            ConstCounter::new(s.dhcp_messages).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The server's metrics.
pub(crate) struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    labs: Family<PhaseLabels, Gauge>,
    workloads: Family<WorkloadLabels, Gauge>,
    up_seconds: Family<OutcomeLabels, Histogram>,
    down_seconds: Family<OutcomeLabels, Histogram>,
    restarts: Family<LabLabels, Counter>,
    leases: Family<LabLabels, Gauge>,
    netd: Arc<NetdCounts>,
}

fn duration_histogram() -> Histogram {
    // 0.25 s to about 17 min.
    Histogram::new(exponential_buckets(0.25, 2.0, 13))
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hub");
        let requests = Family::<RequestLabels, Counter>::default();
        let labs = Family::<PhaseLabels, Gauge>::default();
        let workloads = Family::<WorkloadLabels, Gauge>::default();
        let up_seconds = Family::<OutcomeLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let down_seconds = Family::<OutcomeLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let restarts = Family::<LabLabels, Counter>::default();
        let leases = Family::<LabLabels, Gauge>::default();
        registry.register(
            "api_requests",
            "API requests by method, route and status",
            requests.clone(),
        );
        registry.register("labs", "Labs managed by the server, by phase", labs.clone());
        registry.register(
            "workloads",
            "Workloads of the managed labs, by kind and state",
            workloads.clone(),
        );
        registry.register(
            "up_duration_seconds",
            "How long an up took, by outcome",
            up_seconds.clone(),
        );
        registry.register(
            "down_duration_seconds",
            "How long a down took, by outcome",
            down_seconds.clone(),
        );
        registry.register(
            "netd_leases",
            "DHCP leases netd holds (not expired), by lab, from its lease file",
            leases.clone(),
        );
        registry.register(
            "workload_restarts",
            "Workload restarts, by lab",
            restarts.clone(),
        );
        let netd = Arc::new(NetdCounts::default());
        registry.register_collector(Box::new(netd.clone()));
        Metrics {
            netd,
            registry: Mutex::new(registry),
            requests,
            labs,
            workloads,
            up_seconds,
            down_seconds,
            restarts,
            leases,
        }
    }

    pub(crate) fn observe_up(&self, took: Duration, ok: bool) {
        self.up_seconds
            .get_or_create(&outcome(ok))
            .observe(took.as_secs_f64());
    }

    pub(crate) fn observe_down(&self, took: Duration, ok: bool) {
        self.down_seconds
            .get_or_create(&outcome(ok))
            .observe(took.as_secs_f64());
    }

    pub(crate) fn count_restart(&self, lab: &str) {
        self.restarts
            .get_or_create(&LabLabels {
                lab: lab.to_string(),
            })
            .inc();
    }

    /// The text format, with the gauges set from the census: `labs` (phase of each),
    /// `workloads` ((kind, state) of each), `leases` ((lab, leases) of each) and netd's counts
    /// of each lab.
    pub(crate) fn render(
        &self,
        labs: &[String],
        workloads: &[(String, String)],
        leases: &[(String, i64)],
        netd: Vec<(String, NetdStats)>,
    ) -> String {
        *self.netd.labs.lock().unwrap_or_else(|p| p.into_inner()) = netd;
        self.leases.clear();
        for (lab, n) in leases {
            self.leases
                .get_or_create(&LabLabels { lab: lab.clone() })
                .set(*n);
        }
        self.labs.clear();
        for phase in ["converging", "ready", "failed", "deleting"] {
            self.labs
                .get_or_create(&PhaseLabels {
                    phase: phase.into(),
                })
                .set(0);
        }
        for p in labs {
            self.labs
                .get_or_create(&PhaseLabels { phase: p.clone() })
                .inc();
        }
        self.workloads.clear();
        for (kind, state) in workloads {
            self.workloads
                .get_or_create(&WorkloadLabels {
                    kind: kind.clone(),
                    state: state.clone(),
                })
                .inc();
        }
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
            tracing::warn!(error = %e, "encoding the metrics");
        }
        out
    }
}

fn outcome(ok: bool) -> OutcomeLabels {
    OutcomeLabels {
        outcome: if ok { "ok" } else { "failed" }.into(),
    }
}

/// Counts every request by method, matched route and status.
pub(crate) async fn count_requests(
    State(server): State<Arc<Server>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let response = next.run(request).await;
    server
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}
