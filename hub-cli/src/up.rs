//! `hub up`: brings the lab up (or in line with its spec) and keeps it running.
//!
//! Ctrl-C cancels the work in flight, rolls back what this `up` created, and exits 130.

use std::sync::Arc;

use clap::Args;
use hub_core::HubError;
use tokio_util::sync::CancellationToken;

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
    let result = builder.up().await;
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
                    })
                    .collect(),
                vpn: lab.state().vpn.clone(),
            });
            Ok(exit::OK)
        }
        Err(e @ HubError::Interrupted { .. }) => {
            report_error(&e);
            Ok(exit::INTERRUPTED)
        }
        Err(e) => Ok(report_error(&e)),
    }
}
