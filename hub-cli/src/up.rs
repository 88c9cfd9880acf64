//! `hub up`: brings the lab up (or in line with its spec) and keeps it running.
//!
//! Ctrl-C cancels the work in flight, rolls back what this `up` created, and exits 130.
//! With `--watch`, once the lab is up the reconciler keeps it so in the foreground, printing
//! its events, until Ctrl-C or SIGTERM (which stop watching and leave the lab up: exit 0), a
//! `down` of the lab (exit 0), or an `up` of it with another spec (exit 1).

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use hub_core::HubError;
use hub_core::heal::{HealPolicy, WatchEnd};
use tokio_util::sync::CancellationToken;

use super::cache::parse_age;
use super::lab_args::{LabArgs, code_of, report_error};
use super::render::Renderer;
use super::status::print_table;
use super::{Cli, exit};

/// Arguments of `hub up`.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Which lab and where its state lives.
    #[command(flatten)]
    pub lab: LabArgs,
    /// Wait for another `up` or `down` of this lab to finish instead of failing.
    #[arg(long)]
    pub wait: bool,
    /// How many workloads are brought up at once.
    #[arg(long, value_name = "N", default_value_t = hub_core::DEFAULT_PARALLELISM)]
    pub parallelism: usize,
    /// Leave what a failed `up` created in place (for debugging) instead of removing it.
    #[arg(long)]
    pub no_rollback: bool,
    /// Start every VM from a warm snapshot when one is cached, and save one after a cold boot
    /// (as `warm: true` on each VM).
    #[arg(long)]
    pub warm: bool,
    /// Where warm VM snapshots are cached.
    #[arg(long, value_name = "DIR", env = "HUB_WARM_CACHE")]
    pub warm_cache: Option<std::path::PathBuf>,
    /// The `hub` executable netd's image is built from (default: this one).
    #[arg(long, value_name = "PATH", env = "HUB_BIN")]
    pub hub_bin: Option<std::path::PathBuf>,
    /// After `up`, keep the lab as planned in the foreground: bring back what stops or
    /// disappears by each workload's restart policy, printing each event, until Ctrl-C or
    /// SIGTERM (the lab stays up).
    #[arg(long)]
    pub watch: bool,
    /// With --watch: how often the lab is looked at.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_age)]
    pub heal_interval: Duration,
    /// With --watch: the wait before the second restart attempt in a row; it doubles with each
    /// further one.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_age)]
    pub restart_backoff: Duration,
    /// With --watch: the longest wait between two restart attempts.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_age)]
    pub restart_backoff_max: Duration,
    /// With --watch: attempts in a row after which a workload ends `failed`.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub restart_attempts: u32,
    /// With --watch: how long a restarted workload must run before a new failure starts a new
    /// row of attempts.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_age)]
    pub stable_after: Duration,
}

impl UpArgs {
    /// The reconciler's settings these arguments give.
    pub fn heal_policy(&self) -> HealPolicy {
        HealPolicy {
            interval: self.heal_interval,
            initial_backoff: self.restart_backoff,
            max_backoff: self.restart_backoff_max,
            max_attempts: self.restart_attempts.max(1),
            stable_after: self.stable_after,
        }
    }
}

/// Runs `hub up`.
pub async fn run(cli: &Cli, args: &UpArgs) -> anyhow::Result<u8> {
    if let Err(e) = cli.require_config("up") {
        eprintln!("error: {e}");
        return Ok(exit::USAGE);
    }
    let builder = match args.lab.builder(cli, "up") {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(code_of(&e));
        }
    };
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing_indicatif::indicatif_eprintln!("  interrupted: stopping and rolling back");
            on_signal.cancel();
        }
    });
    let renderer = Arc::new(Renderer::new());
    let r = renderer.clone();
    let mut builder = builder
        .cancel_token(cancel)
        .wait_for_lock(args.wait)
        .parallelism(args.parallelism)
        .rollback_on_failure(!args.no_rollback)
        .warm(args.warm)
        .on_progress(move |p| r.on(p));
    if let Some(dir) = &args.warm_cache {
        builder = builder.warm_cache(dir);
    }
    // netd's image is built from this very executable unless told otherwise.
    if let Some(bin) = args
        .hub_bin
        .clone()
        .or_else(|| std::env::current_exe().ok())
    {
        builder = builder.hub_bin(bin);
    }
    let hub = match builder.build() {
        Ok(h) => Arc::new(h),
        Err(e) => return Ok(report_error(&e)),
    };
    let result = hub.clone().up().await;
    watcher.abort();
    match result {
        Ok(lab) => {
            let lab = lab.keep();
            println!("lab {}: {}", lab.name(), lab.report());
            print_table(&hub_core::LabStatus {
                lab: lab.name().to_string(),
                network: Some(lab.network().clone()),
                netd: None,
                workloads: lab
                    .workloads()
                    .iter()
                    .map(|w| hub_core::status::WorkloadRow {
                        name: w.name.clone(),
                        kind: w.kind,
                        state: w.state,
                        ip: w.ip,
                        mac: w.mac,
                        boot: w.boot.clone(),
                        interfaces: w.interfaces.clone(),
                        missing: false,
                        restarts: w.restarts,
                        failed: w.failed.clone(),
                        host: w.host.clone(),
                    })
                    .collect(),
                vpn: lab.state().vpn.clone(),
                vpn_restarts: lab.state().vpn_restarts,
            });
            if args.watch {
                return watch(hub, args.heal_policy()).await;
            }
            Ok(exit::OK)
        }
        Err(e @ HubError::Interrupted { .. }) => {
            report_error(&e);
            Ok(exit::INTERRUPTED)
        }
        Err(e) => Ok(report_error(&e)),
    }
}

/// `--watch`: the reconciler in the foreground, each event on stdout, until Ctrl-C or SIGTERM.
async fn watch(hub: Arc<hub_core::Hub>, policy: HealPolicy) -> anyhow::Result<u8> {
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    let signals = tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminated => {}
        }
        on_signal.cancel();
    });
    let watcher = hub.watcher(policy);
    let mut events = watcher.subscribe();
    let printer = tokio::spawn(async move {
        use std::io::Write;
        loop {
            match events.recv().await {
                Ok(e) => {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{}", event_line(&e));
                    let _ = out.flush();
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    println!("  ({n} events missed)");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    let end = watcher.run(cancel).await;
    signals.abort();
    // The watcher is gone, so the channel closes once the printer has printed everything.
    let _ = printer.await;
    match end {
        Ok(WatchEnd::Cancelled | WatchEnd::LabGone) => Ok(exit::OK),
        Ok(WatchEnd::SpecChanged) => Ok(exit::FAILURE),
        Err(e) => Ok(report_error(&e)),
    }
}

/// One event as `hub up --watch` prints it: `watch: web restarted ... [restarts: 1]`.
pub fn event_line(e: &hub_core::heal::LabEvent) -> String {
    format!("watch: {e}")
}
