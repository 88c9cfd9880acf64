//! `hub status`: what runs of the lab, found by its marks; a table, or JSON with every
//! workload's name, kind, state, address and (for VMs) how it started.

use clap::Args;
use hub_core::LabStatus;
use serde::Serialize;

use super::lab_args::{LabArgs, code_of, report_error};
use super::{Cli, exit};

/// Arguments of `hub status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Which lab and where its state lives.
    #[command(flatten)]
    pub lab: LabArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One workload in `hub status --json`.
#[derive(Debug, Serialize)]
pub struct JsonWorkload {
    /// Its name.
    pub name: String,
    /// `container`, `vm` or `netd`.
    pub kind: String,
    /// `running`, `stopped`, `missing` (recorded, but nothing of it runs), `failed` (the
    /// reconciler gave up on it)...
    pub state: String,
    /// How many times the reconciler brought it back.
    pub restarts: u32,
    /// Why the reconciler gave up on it, when it is `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its address on the lab network (on its first segment in a lab of several).
    pub address: Option<String>,
    /// In a lab of several segments: its address on each, by segment, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<serde_json::Value>,
    /// Its MAC.
    pub mac: Option<String>,
    /// How a VM started: `restored from warm snapshot`, `cold boot`, or `cold boot (no warm
    /// snapshot: REASON)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
    /// The host it runs on, in a lab over several hosts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// `hub status --json`.
#[derive(Debug, Serialize)]
pub struct JsonStatus {
    /// The lab.
    pub lab: String,
    /// Whether anything of the lab exists.
    pub up: bool,
    /// The network's name, subnet and bridge.
    pub network: Option<serde_json::Value>,
    /// netd and the workloads.
    pub workloads: Vec<JsonWorkload>,
    /// The VPN peers and their config files.
    pub vpn: Option<serde_json::Value>,
}

/// The JSON form of a status.
pub fn to_json(st: &LabStatus) -> JsonStatus {
    let row = |w: &hub_core::status::WorkloadRow, kind: String| {
        JsonWorkload {
        name: w.name.clone(),
        kind,
        state: w.state_text(),
        restarts: w.restarts,
        reason: w.failed.clone(),
        address: w.ip.map(|i| i.to_string()),
        addresses: w
            .interfaces
            .iter()
            .map(|a| serde_json::json!({"segment": a.segment, "address": a.ip.to_string(), "mac": a.mac.to_string()}))
            .collect(),
        mac: w.mac.map(|m| m.to_string()),
        boot: w.boot.clone(),
        host: w.host.clone(),
    }
    };
    let mut workloads: Vec<JsonWorkload> = st.netd.iter().map(|n| row(n, "netd".into())).collect();
    workloads.extend(st.workloads.iter().map(|w| row(w, w.kind.to_string())));
    JsonStatus {
        lab: st.lab.clone(),
        up: !st.is_empty(),
        network: st.network.as_ref().map(|n| {
            serde_json::json!({"name": n.name, "subnet": n.subnet.to_string(), "bridge": n.bridge, "owned": n.owned})
        }),
        workloads,
        vpn: st.vpn.as_ref().map(|v| {
            serde_json::json!({"interface": v.interface, "peers": v.peers, "restarts": st.vpn_restarts})
        }),
    }
}

/// The ADDRESS cell: the address, or each segment's (`dmz 10.231.1.30, internal ...`).
fn address_cell(w: &hub_core::status::WorkloadRow) -> String {
    if w.interfaces.is_empty() {
        return w.ip.map(|i| i.to_string()).unwrap_or_else(|| "-".into());
    }
    let parts: Vec<String> = w
        .interfaces
        .iter()
        .map(|a| format!("{} {}", a.segment, a.ip))
        .collect();
    parts.join(", ")
}

/// Prints a status as a table.
pub fn print_table(st: &LabStatus) {
    if let Some(n) = &st.network {
        println!("network {} {} (bridge {})", n.name, n.subnet, n.bridge);
    }
    // The HOST column only for a lab over several hosts.
    let hosts = st.workloads.iter().any(|w| w.host.is_some());
    let mut rows: Vec<Vec<String>> = vec![
        [
            "NAME", "KIND", "STATE", "ADDRESS", "MAC", "RESTARTS", "BOOT", "HOST",
        ]
        .iter()
        .map(|h| h.to_string())
        .collect(),
    ];
    for (w, kind) in st
        .netd
        .iter()
        .map(|n| (n, "netd".to_string()))
        .chain(st.workloads.iter().map(|w| (w, w.kind.to_string())))
    {
        rows.push(vec![
            w.name.clone(),
            kind,
            w.state_text(),
            address_cell(w),
            w.mac.map_or_else(|| "-".into(), |m| m.to_string()),
            w.restarts.to_string(),
            w.boot.clone().unwrap_or_default(),
            w.host.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    if !hosts {
        for r in &mut rows {
            r.pop();
        }
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    for w in st.workloads.iter().filter(|w| w.failed.is_some()) {
        println!(
            "{} failed: {}",
            w.name,
            w.failed.as_deref().unwrap_or_default()
        );
    }
    if let Some(v) = &st.vpn {
        println!("vpn {} (restarts: {}):", v.interface, st.vpn_restarts);
        for p in &v.peers {
            println!("  {} {} → {}", p.name, p.address, p.config.display());
        }
    }
}

/// Runs `hub status`. Exits 0 when the lab exists, 1 when nothing of it does.
pub async fn run(cli: &Cli, args: &StatusArgs) -> anyhow::Result<u8> {
    let hub = match args.lab.builder(cli, "status").and_then(|b| Ok(b.build()?)) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(code_of(&e));
        }
    };
    let st = match hub.status().await {
        Ok(s) => s,
        Err(e) => return Ok(report_error(&e)),
    };
    print(&st, args.json)
}

/// Prints a status as `hub status` does (JSON or a table) and returns its exit code: 0 when
/// the lab exists, 1 when nothing of it does.
pub fn print(st: &LabStatus, json: bool) -> anyhow::Result<u8> {
    if json {
        println!("{}", serde_json::to_string_pretty(&to_json(st))?);
    } else if st.is_empty() {
        println!("lab {} is not up", st.lab);
    } else {
        print_table(st);
    }
    Ok(if st.is_empty() {
        exit::FAILURE
    } else {
        exit::OK
    })
}
