//! `hub ls`: the labs on this host with their state, found by their marks (Docker labels,
//! libvirt metadata) and by the folders of the state root, not only from state files.

use std::path::PathBuf;

use clap::Args;
use hub_core::Hub;
use hub_core::labs::LabListing;

use super::lab_args::report_error;
use super::{Cli, exit};

/// Arguments of `hub ls`.
#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// The state root whose lab folders are listed too (default `/var/lib/hub` for root,
    /// else `$XDG_STATE_HOME/hub`).
    #[arg(long, value_name = "DIR", env = "HUB_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `hub ls`.
pub async fn run(_cli: &Cli, args: &LsArgs) -> anyhow::Result<u8> {
    let mut b = Hub::builder();
    if let Some(dir) = &args.state_dir {
        b = b.state_dir(dir.clone());
    }
    let labs = match b.list_labs().await {
        Ok(l) => l,
        Err(e) => return Ok(report_error(&e)),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&labs)?);
    } else {
        print!("{}", table(&labs));
    }
    Ok(exit::OK)
}

/// The labs as a table: LAB, STATE, CONTAINERS, VMS, NETD, VPN, STATE FILE.
pub fn table(labs: &[LabListing]) -> String {
    let yes = |b: bool| if b { "yes" } else { "-" }.to_string();
    let mut rows = vec![
        [
            "LAB",
            "STATE",
            "CONTAINERS",
            "VMS",
            "NETD",
            "VPN",
            "STATE FILE",
        ]
        .map(String::from),
    ];
    for l in labs {
        rows.push([
            l.name.clone(),
            l.state.to_string(),
            l.containers.to_string(),
            l.vms.to_string(),
            yes(l.netd),
            yes(l.vpn),
            yes(l.state_file),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
