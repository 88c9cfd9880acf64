//! `hub down`: removes the lab, found by its marks (works without the spec, the lab directory
//! or the state file), and says what it removed. Running it twice is harmless.

use clap::Args;

use super::lab_args::{LabArgs, code_of, report_error};
use super::render::Renderer;
use super::{Cli, exit};

/// Arguments of `hub down`.
#[derive(Debug, Clone, Args)]
pub struct DownArgs {
    /// Which lab and where its state lives.
    #[command(flatten)]
    pub lab: LabArgs,
    /// Wait for an `up` of this lab in progress to finish instead of failing.
    #[arg(long)]
    pub wait: bool,
    /// Also remove the lab's identity (its SSH and WireGuard keys): the next `up` makes new
    /// ones, and client configs handed out stop working.
    #[arg(long)]
    pub purge: bool,
    /// Leave the lab's named volumes (and their data) in place for the next `up`.
    #[arg(long)]
    pub keep_volumes: bool,
}

/// Runs `hub down`.
pub async fn run(cli: &Cli, args: &DownArgs) -> anyhow::Result<u8> {
    let renderer = std::sync::Arc::new(Renderer::new());
    let r = renderer.clone();
    let hub = match args.lab.builder(cli, "down").and_then(|b| {
        Ok(b.wait_for_lock(args.wait)
            .keep_volumes(args.keep_volumes)
            .on_progress(move |p| r.on(p))
            .build()?)
    }) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(code_of(&e));
        }
    };
    let result = if args.purge {
        hub.purge().await
    } else {
        hub.down().await
    };
    match result {
        Ok(report) => {
            println!("lab {}: {report}", hub.lab_name());
            Ok(exit::OK)
        }
        Err(e) => Ok(report_error(&e)),
    }
}
