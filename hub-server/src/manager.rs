//! The labs the server manages: each has a record on disk and one operation at a time
//! (`up`, `down`, a restart), run in the background under the lab lock.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hub_core::spec::{SpecError, SpecErrorKind, SpecErrors};
use hub_core::{Hub, HubBuilder, HubError, LabSpec, LabStatus, Progress};

pub use crate::view::LabPhase;

use crate::error::ServerError;
use crate::events::{Bus, Event, EventKind};
use crate::metrics::Metrics;
use crate::observed::{FRESH, Observed};
use crate::record::Record;
use crate::view::{ApiError, DownDone, ExecResult, LabSummary, LabView};

/// How many `up`s and `down`s run at once; more wait their turn (still `converging`). The
/// engines do the work: more at once only slows every one of them, and the answers with them.
pub const OPS_AT_ONCE: usize = 4;

/// How long a VM has to shut down when restarted.
const RESTART_GRACE: Duration = Duration::from_secs(30);

/// Why a request on a lab was refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// 400: the spec or the request is wrong (every mistake).
    Invalid(Vec<ApiError>),
    /// 404: no such lab, workload or peer.
    NotFound(String),
    /// 409: another operation of the lab is in flight.
    Busy(String),
    /// 500: the operation failed.
    Failed(Vec<ApiError>),
}

struct Managed {
    /// One operation of the lab at a time in this process (the lab lock keeps other
    /// processes out).
    ops: tokio::sync::Mutex<()>,
    record: Mutex<Record>,
    observed: Observed,
    /// The hub the observations ask (by the lab's name), made on first use.
    observer: tokio::sync::OnceCell<Hub>,
    /// The lab's healing loop (running while the lab is `ready`).
    watch: Mutex<Option<Watch>>,
}

/// A lab operation's turn, held while it runs (see [`Server::take_turn`]).
struct Turn<'a> {
    _op: tokio::sync::MutexGuard<'a, ()>,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

/// A running healing loop: the token that stops it and its task, awaited before any
/// operation of the lab so that no heal pass runs beside an `up` or a `down`.
struct Watch {
    token: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// The server's labs, events and metrics.
pub struct Server {
    root: PathBuf,
    hub_bin: Option<PathBuf>,
    host: String,
    labs: Mutex<BTreeMap<String, Arc<Managed>>>,
    events: Bus,
    pub(crate) metrics: Metrics,
    /// Fires when the server stops: event streams end so that the graceful shutdown is not
    /// held up by them.
    pub(crate) stopping: tokio_util::sync::CancellationToken,
    /// The runtime `up`, `down` and observations run on, apart from the one serving requests:
    /// whatever an operation does on its threads cannot hold up an answer.
    ops: Mutex<Option<tokio::runtime::Runtime>>,
    ops_handle: tokio::runtime::Handle,
    slots: Arc<tokio::sync::Semaphore>,
    /// The events of every lab's healing loop.
    heal_events: tokio::sync::broadcast::Sender<hub_core::heal::LabEvent>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = lock(&self.ops).take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Server {
    /// A server keeping its labs under the state root `root`.
    pub fn new(root: PathBuf, hub_bin: Option<PathBuf>) -> Result<Server, ServerError> {
        let ops = tokio::runtime::Builder::new_multi_thread()
            .thread_name("hub-ops")
            .on_thread_start(crate::priority::ordinary_thread)
            .enable_all()
            .build()
            .map_err(|e| ServerError::io("starting the operations' runtime", "hub-ops", e))?;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        Ok(Server {
            ops_handle: ops.handle().clone(),
            slots: Arc::new(tokio::sync::Semaphore::new(OPS_AT_ONCE)),
            heal_events: tokio::sync::broadcast::channel(hub_core::heal::EVENT_CAPACITY).0,
            ops: Mutex::new(Some(ops)),
            root,
            hub_bin,
            host,
            labs: Mutex::new(BTreeMap::new()),
            events: Bus::new(),
            metrics: Metrics::new(),
            stopping: tokio_util::sync::CancellationToken::new(),
        })
    }

    fn ops_handle(&self) -> &tokio::runtime::Handle {
        &self.ops_handle
    }

    /// Picks up every lab recorded under the state root. An `up` that was in flight when the
    /// previous server stopped runs again (it converges: what the first one made is kept) and,
    /// should it fail, the lab is removed by its marks: never left half made. A `down` in
    /// flight runs again.
    pub fn recover(self: &Arc<Self>) -> Result<(), ServerError> {
        // The healing loops' events join the stream.
        let mut heal = self.heal_events.subscribe();
        let bus = self.clone();
        self.ops_handle.spawn(async move {
            loop {
                match heal.recv().await {
                    Ok(e) => {
                        if e.kind == hub_core::heal::EventKind::Restarted {
                            bus.metrics.count_restart(&e.lab);
                        }
                        bus.publish(
                            EventKind::Heal,
                            &e.lab,
                            e.workload.as_deref(),
                            &e.to_string(),
                        );
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(
                            missed = n,
                            "the healing events came faster than they were passed on"
                        );
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        for record in Record::load_all(&self.root)? {
            let lab = record.lab.clone();
            let phase = record.phase;
            let spec = record.spec.clone();
            let generation = record.generation;
            let managed = Arc::new(Managed {
                ops: tokio::sync::Mutex::new(()),
                record: Mutex::new(record),
                observed: Observed::default(),
                observer: tokio::sync::OnceCell::new(),
                watch: Mutex::new(None),
            });
            lock(&self.labs).insert(lab.clone(), managed.clone());
            match (phase, spec) {
                (LabPhase::Converging, Some(text)) => match parse(&lab, &text) {
                    Ok(spec) => {
                        tracing::info!(
                            lab,
                            "an up was in flight when the server stopped: running it again"
                        );
                        self.spawn_up(managed, spec, generation, true);
                    }
                    Err(errors) => {
                        tracing::warn!(
                            lab,
                            "the recorded spec no longer validates: removing the lab"
                        );
                        self.finish(&managed, generation, LabPhase::Failed, errors);
                        drop(self.spawn_down(managed, generation));
                    }
                },
                (LabPhase::Ready, Some(text)) => {
                    if let Ok(spec) = parse(&lab, &text) {
                        self.start_watch(&managed, spec);
                    }
                }
                (LabPhase::Converging | LabPhase::Deleting, _) => {
                    tracing::info!(
                        lab,
                        "a down was in flight when the server stopped: running it again"
                    );
                    drop(self.spawn_down(managed, generation));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Waits for the lab's turn to change: its operation lock (one operation of a lab at a
    /// time), its healing loop stopped and ended, and one of the `OPS_AT_ONCE` slots. `None`
    /// when the server is closing its slots or a later request replaced this one.
    async fn take_turn<'a>(&self, managed: &'a Managed, generation: u64) -> Option<Turn<'a>> {
        let op = managed.ops.lock().await;
        stop_watch(managed).await;
        // At most OPS_AT_ONCE labs change at once; the others wait their turn.
        let slot = self.slots.clone().acquire_owned().await.ok()?;
        if lock(&managed.record).generation != generation {
            return None;
        }
        Some(Turn {
            _op: op,
            _slot: slot,
        })
    }

    /// Starts the lab's healing loop (hub-core's `Watcher`, default policy) on the operations'
    /// runtime; its events join the stream and its restart counts show in the lab's workloads.
    fn start_watch(self: &Arc<Self>, managed: &Arc<Managed>, spec: LabSpec) {
        let lab = spec.lab_name().unwrap_or_default().to_string();
        let hub = match self.builder(Some(spec), &lab).build() {
            Ok(h) => Arc::new(h),
            Err(e) => {
                tracing::warn!(lab, error = %e, "cannot watch the lab");
                return;
            }
        };
        let token = tokio_util::sync::CancellationToken::new();
        let watcher = hub
            .watcher(hub_core::heal::HealPolicy::default())
            .with_events(self.heal_events.clone());
        let stop = token.clone();
        let task = self.ops_handle.spawn(async move {
            match watcher.run(stop).await {
                Ok(end) => tracing::info!(lab, ?end, "watching ended"),
                Err(e) => tracing::warn!(lab, error = %e, "watching failed"),
            }
        });
        // Called when the server starts (before any operation of the lab) or by an operation
        // holding `managed.ops` (an up, a restart), which stopped the previous loop; one still
        // found is stopped.
        if let Some(old) = lock(&managed.watch).replace(Watch { token, task }) {
            old.token.cancel();
        }
    }

    /// Publishes an event on the stream (`GET /events`) and in the log. The healing loop
    /// reports through it.
    pub fn publish(&self, kind: EventKind, lab: &str, workload: Option<&str>, message: &str) {
        self.events.publish(kind, lab, workload, message);
    }

    /// Counts a restart of a workload (shown in its `restarts` and in the metrics).
    pub fn count_restart(&self, lab: &str, workload: &str) {
        self.metrics.count_restart(lab);
        let Some(managed) = lock(&self.labs).get(lab).cloned() else {
            return;
        };
        let mut r = lock(&managed.record);
        *r.restarts.entry(workload.to_string()).or_default() += 1;
        if let Err(e) = r.save(&self.root) {
            tracing::warn!(lab, error = %e, "could not save the restart count");
        }
    }

    pub(crate) fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    fn builder(&self, spec: Option<LabSpec>, lab: &str) -> HubBuilder {
        let mut b = match spec {
            Some(s) => Hub::builder().spec(s),
            None => Hub::builder().name(lab.to_string()),
        };
        b = b.state_dir(self.root.clone());
        if let Some(bin) = &self.hub_bin {
            b = b.hub_bin(bin.clone());
        }
        b
    }

    /// Validates `body` as the spec of lab `lab` and starts an `up` of it in the background;
    /// the lab's view as accepted.
    pub(crate) async fn put(self: &Arc<Self>, lab: &str, body: &str) -> Result<LabView, Refusal> {
        let spec = parse(lab, body).map_err(Refusal::Invalid)?;
        let (managed, fresh) = {
            let mut labs = lock(&self.labs);
            match labs.get(lab) {
                Some(m) => (m.clone(), false),
                None => {
                    let m = Arc::new(Managed {
                        ops: tokio::sync::Mutex::new(()),
                        record: Mutex::new(Record::new(lab)),
                        observed: Observed::default(),
                        observer: tokio::sync::OnceCell::new(),
                        watch: Mutex::new(None),
                    });
                    labs.insert(lab.to_string(), m.clone());
                    (m, true)
                }
            }
        };
        let generation = {
            let mut r = lock(&managed.record);
            r.generation += 1;
            r.spec = Some(body.to_string());
            r.phase = LabPhase::Converging;
            r.errors.clear();
            r.save(&self.root)
                .map_err(|e| Refusal::Failed(vec![ApiError::plain(e.to_string())]))?;
            r.generation
        };
        if fresh {
            self.events
                .publish(EventKind::LabAccepted, lab, None, "up accepted");
        }
        cancel_watch(&managed);
        self.spawn_up(managed, spec, generation, false);
        self.view(lab).await
    }

    /// Starts a `down` of lab `lab` in the background (a lab the server does not manage, made
    /// by `hub up`, is removed too, by its marks).
    pub(crate) async fn delete(
        self: &Arc<Self>,
        lab: &str,
        wait: bool,
    ) -> Result<Result<LabView, DownDone>, Refusal> {
        if !hub_runtime::names::is_dns_label(lab) {
            return Err(Refusal::NotFound(format!("no lab {lab:?}")));
        }
        let managed = {
            let mut labs = lock(&self.labs);
            labs.entry(lab.to_string())
                .or_insert_with(|| {
                    Arc::new(Managed {
                        ops: tokio::sync::Mutex::new(()),
                        record: Mutex::new(Record::new(lab)),
                        observed: Observed::default(),
                        observer: tokio::sync::OnceCell::new(),
                        watch: Mutex::new(None),
                    })
                })
                .clone()
        };
        let generation = {
            let mut r = lock(&managed.record);
            r.generation += 1;
            r.phase = LabPhase::Deleting;
            r.errors.clear();
            r.save(&self.root)
                .map_err(|e| Refusal::Failed(vec![ApiError::plain(e.to_string())]))?;
            r.generation
        };
        cancel_watch(&managed);
        let done = self.spawn_down(managed, generation);
        if !wait {
            return self.view(lab).await.map(Ok);
        }
        match done.await {
            Ok(Ok(report)) => Ok(Err(DownDone {
                lab: lab.to_string(),
                report,
            })),
            Ok(Err(errors)) => Err(Refusal::Failed(errors)),
            Err(_) => Err(Refusal::Busy(format!(
                "lab {lab:?}: a later request replaced this down"
            ))),
        }
    }

    fn spawn_up(
        self: &Arc<Self>,
        managed: Arc<Managed>,
        spec: LabSpec,
        generation: u64,
        recovering: bool,
    ) {
        let server = self.clone();
        self.ops_handle().spawn(async move {
            let Some(_turn) = server.take_turn(&managed, generation).await else {
                return; // a later request replaced this one
            };
            let lab = spec.lab_name().unwrap_or_default().to_string();
            let existed = Hub::builder()
                .name(lab.clone())
                .state_dir(server.root.clone())
                .build()
                .map(|h| hub_core::state::LabState::path(h.lab_dir_path()).exists())
                .unwrap_or(false);
            let bus = server.clone();
            let progress_lab = lab.clone();
            let t = Instant::now();
            let watched = spec.clone();
            let result = server
                .builder(Some(spec), &lab)
                .wait_for_lock(true)
                .on_progress(move |p| bus.progress(&progress_lab, p))
                .up()
                .await;
            server.metrics.observe_up(t.elapsed(), result.is_ok());
            server.observe_after(&lab, &managed).await;
            match result {
                Ok(handle) => {
                    let handle = handle.keep();
                    let (kind, what) = if existed {
                        (EventKind::LabConverged, "converged")
                    } else {
                        (EventKind::LabCreated, "created")
                    };
                    let report = handle.report().to_string();
                    server
                        .events
                        .publish(kind, &lab, None, format!("{what}: {report}"));
                    // The report first: `ready` is never seen without it.
                    {
                        let mut r = lock(&managed.record);
                        if r.generation == generation {
                            r.report = Some(report);
                        }
                    }
                    server.finish(&managed, generation, LabPhase::Ready, Vec::new());
                    if lock(&managed.record).generation == generation {
                        server.start_watch(&managed, watched);
                    }
                }
                Err(e) => {
                    let errors = ApiError::from_hub(&e);
                    server.events.publish(
                        EventKind::LabFailed,
                        &lab,
                        None,
                        errors
                            .iter()
                            .map(|e| e.message.as_str())
                            .collect::<Vec<_>>()
                            .join("; "),
                    );
                    if recovering {
                        // The first run's leftovers are not this run's to roll back: remove
                        // the lab by its marks so that it is never left half made.
                        let t = Instant::now();
                        let down = server.builder(None, &lab).wait_for_lock(true).build();
                        let r = match down {
                            Ok(h) => h.down().await.map(|_| ()),
                            Err(e) => Err(e),
                        };
                        server.metrics.observe_down(t.elapsed(), r.is_ok());
                        if let Err(e) = r {
                            tracing::warn!(lab, error = %e, "removing the half-made lab");
                        }
                        server.observe_after(&lab, &managed).await;
                    }
                    server.finish(&managed, generation, LabPhase::Failed, errors);
                }
            }
        });
    }

    fn spawn_down(
        self: &Arc<Self>,
        managed: Arc<Managed>,
        generation: u64,
    ) -> tokio::sync::oneshot::Receiver<Result<String, Vec<ApiError>>> {
        let (done, outcome) = tokio::sync::oneshot::channel();
        let server = self.clone();
        self.ops_handle().spawn(async move {
            let Some(_turn) = server.take_turn(&managed, generation).await else {
                return;
            };
            let lab = lock(&managed.record).lab.clone();
            let bus = server.clone();
            let progress_lab = lab.clone();
            let t = Instant::now();
            let result = match server
                .builder(None, &lab)
                .wait_for_lock(true)
                .on_progress(move |p| bus.progress(&progress_lab, p))
                .build()
            {
                Ok(h) => h.down().await,
                Err(e) => Err(e),
            };
            server.metrics.observe_down(t.elapsed(), result.is_ok());
            match result {
                Ok(report) => {
                    let mut labs = lock(&server.labs);
                    let record = lock(&managed.record);
                    if record.generation == generation {
                        Record::remove(&server.root, &lab);
                        labs.remove(&lab);
                    } else if let Err(e) = record.save(&server.root) {
                        // A later request waits: `down` removed its record with the lab
                        // folder, so it is written again for a restart to find.
                        tracing::warn!(lab, error = %e, "could not save the server's record");
                    }
                    drop(record);
                    drop(labs);
                    server
                        .events
                        .publish(EventKind::LabDeleted, &lab, None, report.to_string());
                    let _ = done.send(Ok(report.to_string()));
                }
                Err(e) => {
                    let errors = ApiError::from_hub(&e);
                    tracing::warn!(lab, error = %e, "down failed");
                    server.observe_after(&lab, &managed).await;
                    server.finish(&managed, generation, LabPhase::Failed, errors.clone());
                    let _ = done.send(Err(errors));
                }
            }
        });
        outcome
    }

    /// Records an operation's outcome, unless a later request replaced it.
    fn finish(&self, managed: &Managed, generation: u64, phase: LabPhase, errors: Vec<ApiError>) {
        let mut r = lock(&managed.record);
        if r.generation != generation {
            return;
        }
        r.phase = phase;
        r.errors = errors;
        if let Err(e) = r.save(&self.root) {
            tracing::warn!(lab = r.lab, error = %e, "could not save the server's record");
        }
    }

    /// Turns `up`/`down` progress into workload events.
    fn progress(&self, lab: &str, p: &Progress) {
        match p {
            Progress::WorkloadReady { name, kind, ip, .. } => self.events.publish(
                EventKind::WorkloadStarted,
                lab,
                Some(name),
                match ip {
                    Some(ip) => format!("{kind} ready at {ip}"),
                    None => format!("{kind} ready"),
                },
            ),
            Progress::WorkloadFailed { name, error } => {
                self.events
                    .publish(EventKind::WorkloadFailed, lab, Some(name), error.clone());
            }
            Progress::Removed { what } => {
                // `container "web"`, `vm "vm1"`, `netd`; the network and files are no workloads.
                let workload = what
                    .split_once(" \"")
                    .map(|(_, rest)| rest.trim_end_matches('"'))
                    .or((what == "netd").then_some("netd"));
                if let Some(w) = workload {
                    self.events.publish(
                        EventKind::WorkloadStopped,
                        lab,
                        Some(w),
                        format!("removed {what}"),
                    );
                }
            }
            _ => {}
        }
    }

    fn record_of(&self, lab: &str) -> Option<Record> {
        let managed = lock(&self.labs).get(lab).cloned()?;
        let r = lock(&managed.record).clone();
        Some(r)
    }

    /// What runs of the lab now, asked of the backends.
    async fn live_status(&self, lab: &str) -> Result<LabStatus, Refusal> {
        let hub = self
            .builder(None, lab)
            .build()
            .map_err(|e| Refusal::Failed(ApiError::from_hub(&e)))?;
        hub.status()
            .await
            .map_err(|e| Refusal::Failed(ApiError::from_hub(&e)))
    }

    /// Observes a managed lab now and keeps the observation. Runs on the operations' runtime
    /// with the lab's own hub, made once (its Docker and libvirt clients live there).
    async fn observe(
        self: &Arc<Self>,
        lab: &str,
        managed: &Arc<Managed>,
    ) -> Result<LabStatus, Refusal> {
        let (server, managed, lab) = (self.clone(), managed.clone(), lab.to_string());
        let failed = |e: &HubError| Refusal::Failed(ApiError::from_hub(e));
        self.on_ops("observing the lab", async move {
            let hub = managed
                .observer
                .get_or_try_init(|| async { server.builder(None, &lab).build() })
                .await
                .map_err(|e| failed(&e))?;
            let st = hub.status().await.map_err(|e| failed(&e))?;
            managed.observed.set(st.clone());
            Ok(st)
        })
        .await
    }

    /// Runs `work` on the operations' runtime and waits for it: the engines' work, and the
    /// processes it starts (`virsh`, `ssh`), run on ordinary threads, never on the API's
    /// real-time ones (a child process inherits its thread's scheduling policy).
    async fn on_ops<T: Send + 'static>(
        &self,
        what: &str,
        work: impl std::future::Future<Output = Result<T, Refusal>> + Send + 'static,
    ) -> Result<T, Refusal> {
        self.ops_handle.spawn(work).await.unwrap_or_else(|e| {
            Err(Refusal::Failed(vec![ApiError::plain(format!(
                "{what}: {e}"
            ))]))
        })
    }

    /// [`Server::observe`] after an operation: a failure is logged (the next look tries again).
    async fn observe_after(self: &Arc<Self>, lab: &str, managed: &Arc<Managed>) {
        if let Err(e) = self.observe(lab, managed).await {
            tracing::warn!(lab, errors = ?e, "observing the lab");
        }
    }

    /// A managed lab's last observation: fresh, or answered while a new one is made in the
    /// background; made now when there is none yet.
    async fn observed(
        self: &Arc<Self>,
        lab: &str,
        managed: &Arc<Managed>,
    ) -> Result<(LabStatus, Duration), Refusal> {
        match managed.observed.get() {
            Some((age, st)) => {
                if age >= FRESH && managed.observed.begin_refresh() {
                    let (server, managed, lab) = (self.clone(), managed.clone(), lab.to_string());
                    self.ops_handle().spawn(async move {
                        server.observe_after(&lab, &managed).await;
                        managed.observed.end_refresh();
                    });
                }
                Ok((st, age))
            }
            None => Ok((self.observe(lab, managed).await?, Duration::ZERO)),
        }
    }

    /// The lab: the server's record and what runs of it. 404 when the server does not
    /// manage it and nothing of it runs.
    pub(crate) async fn view(self: &Arc<Self>, lab: &str) -> Result<LabView, Refusal> {
        if !hub_runtime::names::is_dns_label(lab) {
            return Err(Refusal::NotFound(format!("no lab {lab:?}")));
        }
        let managed = lock(&self.labs).get(lab).cloned();
        let Some(managed) = managed else {
            let status = self.live_status(lab).await?;
            if status.is_empty() {
                return Err(Refusal::NotFound(format!("no lab {lab:?}")));
            }
            let none = BTreeMap::new();
            return Ok(LabView::new(
                status,
                None,
                Vec::new(),
                None,
                &none,
                &self.host,
                Duration::ZERO,
            ));
        };
        let (status, age) = self.observed(lab, &managed).await?;
        let r = lock(&managed.record).clone();
        Ok(LabView::new(
            status,
            Some(r.phase),
            r.errors,
            r.report,
            &r.restarts,
            &self.host,
            age,
        ))
    }

    /// Every lab on this host (found by its marks and folders) and every lab the server
    /// manages.
    pub(crate) async fn list(&self) -> Result<Vec<LabSummary>, Refusal> {
        let listed = Hub::builder()
            .state_dir(self.root.clone())
            .list_labs()
            .await
            .map_err(|e| Refusal::Failed(ApiError::from_hub(&e)))?;
        let phases: BTreeMap<String, LabPhase> = lock(&self.labs)
            .iter()
            .map(|(k, m)| (k.clone(), lock(&m.record).phase))
            .collect();
        let mut out: Vec<LabSummary> = listed
            .iter()
            .map(|l| LabSummary::new(l, phases.get(&l.name).copied()))
            .collect();
        for (name, phase) in &phases {
            if !listed.iter().any(|l| &l.name == name) {
                out.push(LabSummary {
                    name: name.clone(),
                    state: "down".into(),
                    containers: 0,
                    vms: 0,
                    netd: false,
                    vpn: false,
                    state_file: false,
                    phase: Some(*phase),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// A handle on a lab that is up (built from its recorded spec when the server has one).
    async fn attach(&self, lab: &str) -> Result<hub_core::Lab, Refusal> {
        if !hub_runtime::names::is_dns_label(lab) {
            return Err(Refusal::NotFound(format!("no lab {lab:?}")));
        }
        let spec = self
            .record_of(lab)
            .and_then(|r| r.spec)
            .and_then(|text| parse(lab, &text).ok());
        let hub = self
            .builder(spec, lab)
            .build()
            .map_err(|e| Refusal::Failed(ApiError::from_hub(&e)))?;
        Arc::new(hub)
            .attach()
            .await
            .map_err(|e| Refusal::NotFound(view_chain(&e)))
    }

    /// Restarts a workload; refused while another operation of the lab runs.
    pub(crate) async fn restart(
        self: &Arc<Self>,
        lab: &str,
        workload: &str,
    ) -> Result<LabView, Refusal> {
        let managed = lock(&self.labs).get(lab).cloned();
        let _op = match &managed {
            Some(m) => Some(m.ops.try_lock().map_err(|_| {
                Refusal::Busy(format!(
                    "lab {lab:?}: an up or down is in flight; try again after it"
                ))
            })?),
            None => None,
        };
        let handle = self.attach(lab).await?;
        if handle.workload(workload).is_none() {
            return Err(Refusal::NotFound(format!(
                "lab {lab:?} has no workload {workload:?}"
            )));
        }
        // The healing loop pauses while the workload is down on purpose: it would otherwise
        // see it stopped and start it beside the restart.
        if let Some(m) = &managed {
            stop_watch(m).await;
        }
        let name = workload.to_string();
        let restarted = self
            .on_ops("restarting the workload", async move {
                handle.restart(&name, RESTART_GRACE).await.map_err(failed)
            })
            .await;
        if let Some(m) = &managed {
            let (phase, spec) = {
                let r = lock(&m.record);
                (r.phase, r.spec.clone())
            };
            if let (LabPhase::Ready, Some(text)) = (phase, spec) {
                if let Ok(spec) = parse(lab, &text) {
                    self.start_watch(m, spec);
                }
            }
        }
        restarted?;
        self.count_restart(lab, workload);
        if let Some(m) = &managed {
            self.observe_after(lab, m).await;
        }
        self.events.publish(
            EventKind::WorkloadRestarted,
            lab,
            Some(workload),
            "restarted through the API",
        );
        drop(_op);
        self.view(lab).await
    }

    /// Runs a command in a workload.
    pub(crate) async fn exec(
        &self,
        lab: &str,
        workload: &str,
        cmd: &[String],
    ) -> Result<ExecResult, Refusal> {
        if cmd.is_empty() {
            return Err(Refusal::Invalid(vec![ApiError::plain(
                "cmd: the command is empty",
            )]));
        }
        let handle = self.attach(lab).await?;
        if handle.workload(workload).is_none() {
            return Err(Refusal::NotFound(format!(
                "lab {lab:?} has no workload {workload:?}"
            )));
        }
        let (name, cmd) = (workload.to_string(), cmd.to_vec());
        let out = self
            .on_ops("running the command", async move {
                handle.exec(&name, cmd).await.map_err(failed)
            })
            .await?;
        Ok(ExecResult {
            exit_code: out.exit_code,
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    /// A VPN peer's client config (it holds the peer's private key: the API is authenticated).
    pub(crate) async fn vpn_config(&self, lab: &str, peer: &str) -> Result<String, Refusal> {
        let handle = self.attach(lab).await?;
        let path = handle
            .vpn_config(peer)
            .map_err(|e| Refusal::NotFound(view_chain(&e)))?;
        std::fs::read_to_string(path).map_err(|e| {
            Refusal::Failed(vec![ApiError::plain(format!(
                "reading {}: {e}",
                path.display()
            ))])
        })
    }

    /// netd's leases and counts of `lab`: from its folder here, or, for a lab over several
    /// hosts (its folder holds `hosts.json`), from wherever its primary keeps them.
    async fn netd_files(
        &self,
        lab: &str,
    ) -> (
        Option<Vec<hub_core::net::netd::Lease>>,
        Option<hub_core::net::netd::NetdStats>,
    ) {
        let dir = self.root.join(lab);
        if !dir.join(hub_core::hosts::HOSTS_FILE).exists() {
            let stats = hub_core::docker::netd::read_netd_stats(&dir)
                .inspect_err(|e| tracing::warn!(lab, error = %e, "netd's counts"))
                .ok();
            return (hub_core::docker::netd::read_leases(&dir).ok(), stats);
        }
        let Ok(handle) = self.attach(lab).await else {
            return (None, None);
        };
        let read = |file: &'static str| {
            let handle = &handle;
            async move {
                match handle.netd_file(file).await {
                    Ok(b) => Some(b),
                    Err(e) => {
                        tracing::warn!(lab, file, error = %e, "reading netd's file");
                        None
                    }
                }
            }
        };
        let leases = read(hub_core::net::netd::LEASE_FILE).await.map(|b| {
            b.and_then(|b| serde_json::from_slice::<hub_core::net::netd::LeaseFile>(&b).ok())
                .map(|f| f.leases)
                .unwrap_or_default()
        });
        let stats = read(hub_core::net::netd::STATS_FILE).await.map(|b| {
            b.and_then(|b| serde_json::from_slice::<hub_core::net::netd::NetdStats>(&b).ok())
                .unwrap_or_default()
        });
        (leases, stats)
    }

    /// What the metrics show of the managed labs.
    pub(crate) async fn census(self: &Arc<Self>) -> Census {
        let labs: Vec<(String, LabPhase)> = lock(&self.labs)
            .iter()
            .map(|(k, m)| (k.clone(), lock(&m.record).phase))
            .collect();
        let views = futures::future::join_all(labs.iter().map(|(name, _)| self.view(name))).await;
        let workloads = views
            .into_iter()
            .flatten()
            .flat_map(|v| v.workloads.into_iter().map(|w| (w.kind, w.state)))
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let files = futures::future::join_all(
            labs.iter()
                .map(|(name, _)| async move { (name.clone(), self.netd_files(name).await) }),
        )
        .await;
        let mut leases = Vec::new();
        let mut netd = Vec::new();
        for (name, (lease_file, stats)) in files {
            if let Some(l) = lease_file {
                let live = l.iter().filter(|l| l.expires > now).count();
                leases.push((name.clone(), i64::try_from(live).unwrap_or(i64::MAX)));
            }
            if let Some(s) = stats {
                netd.push((name, s));
            }
        }
        Census {
            phases: labs.into_iter().map(|(_, p)| p.to_string()).collect(),
            workloads,
            leases,
            netd,
        }
    }
}

/// The managed labs as the metrics count them.
pub(crate) struct Census {
    /// The phase of each lab.
    pub phases: Vec<String>,
    /// (kind, state) of each workload.
    pub workloads: Vec<(String, String)>,
    /// (lab, live DHCP leases) of each lab whose netd has a lease file.
    pub leases: Vec<(String, i64)>,
    /// (lab, netd's counts) of each lab (zeros until its netd has written them).
    pub netd: Vec<(String, hub_core::net::netd::NetdStats)>,
}

/// Asks the lab's healing loop to stop, if it runs (when an operation of the lab is queued);
/// the operation itself waits for its end with [`stop_watch`].
fn cancel_watch(managed: &Managed) {
    if let Some(w) = lock(&managed.watch).as_ref() {
        w.token.cancel();
    }
}

/// Stops the lab's healing loop and waits until it has ended, so that no heal pass is in
/// flight when the operation that called it starts. Called with `managed.ops` held: the
/// loop is started only under that lock too, so none can start behind this call's back.
async fn stop_watch(managed: &Managed) {
    let running = lock(&managed.watch).take();
    if let Some(w) = running {
        w.token.cancel();
        if let Err(e) = w.task.await {
            tracing::warn!(error = %e, "the healing loop ended abnormally");
        }
    }
}

/// A failed operation of the hub, as the API answers it (500 with every error).
fn failed(e: HubError) -> Refusal {
    Refusal::Failed(ApiError::from_hub(&e))
}

fn view_chain(e: &HubError) -> String {
    crate::view::chain(e)
}

/// Parses and validates a spec sent for lab `lab`: every mistake at once, with line and
/// column (the spec is named `LAB.yaml` in them). A spec naming another lab is refused.
pub(crate) fn parse(lab: &str, body: &str) -> Result<LabSpec, Vec<ApiError>> {
    if !hub_runtime::names::is_dns_label(lab) {
        return Err(vec![ApiError::plain(format!(
            "lab name {lab:?}: use lowercase letters, digits and '-' (at most 63, not at the ends)"
        ))]);
    }
    let file = format!("{lab}.yaml");
    let mut spec = LabSpec::from_yaml(body, &file).map_err(|mut e| {
        // The URL names the lab: a spec without a name of its own is not wrong here.
        e.errors
            .retain(|e| !(e.kind == SpecErrorKind::MissingField && e.field.is_empty()));
        ApiError::from_spec(&e)
    })?;
    match spec.lab_name() {
        Some(name) if name != lab => {
            let e = SpecError {
                kind: SpecErrorKind::BadValue,
                file: Some(file.into()),
                line: 0,
                column: 0,
                field: "name".into(),
                message: format!("the spec names lab {name:?} but was sent for lab {lab:?}"),
            };
            return Err(ApiError::from_spec(&SpecErrors::from(e)));
        }
        Some(_) => {}
        None => spec = spec.name(lab.to_string()),
    }
    spec.resolve().map_err(|e| ApiError::from_spec(&e))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_takes_the_name_it_is_sent_for_and_refuses_another() {
        let spec = parse("sv-a", "subnet: 10.234.200.0/24\n").unwrap();
        assert_eq!(spec.lab_name(), Some("sv-a"));
        let e = parse("sv-a", "name: sv-b\nsubnet: 10.234.200.0/24\n").unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].message.contains("names lab \"sv-b\""), "{e:?}");
        assert_eq!(e[0].field.as_deref(), Some("name"));
    }

    #[test]
    fn a_lab_name_that_is_no_dns_label_is_refused_before_the_spec_is_read() {
        for bad in ["..", "A", "a_b", "-a", ""] {
            let e = parse(bad, "subnet: 10.234.200.0/24\n").unwrap_err();
            assert!(e[0].message.starts_with("lab name"), "{bad}: {e:?}");
        }
    }

    #[test]
    fn every_spec_mistake_comes_with_its_place() {
        let e = parse(
            "sv-a",
            "subnet: 10.234.200.0/33\ncontainers:\n  - name: x\n",
        )
        .unwrap_err();
        let places: Vec<_> = e.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(places, [(Some(1), Some(9)), (Some(3), Some(5))], "{e:?}");
    }
}
