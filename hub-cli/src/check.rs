//! `hub check`: runs the lab's built-in checks and the spec's `checks:` against the lab as it
//! runs, prints a table (or `--json`), and exits 0 only if every check passed.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use hub_core::check::{CheckOptions, CheckReport, DEFAULT_CHECK_PARALLELISM};
use tokio_util::sync::CancellationToken;

use super::lab_args::{LabArgs, code_of, report_error};
use super::{Cli, exit};

/// Arguments of `hub check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Which lab and where its state lives.
    #[command(flatten)]
    pub lab: LabArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// How long each check may take (a blocked rule waits all of it).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// How many checks run at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CHECK_PARALLELISM)]
    pub parallelism: usize,
    /// Run only the spec's own checks, not the built-in ones.
    #[arg(long)]
    pub no_builtin: bool,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("the timeout must be more than 0".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{s:?} is not a duration like 5s or 1m: {e}")),
    }
}

/// Runs `hub check`.
pub async fn run(cli: &Cli, args: &CheckArgs) -> anyhow::Result<u8> {
    let cancel = CancellationToken::new();
    let hub = match args
        .lab
        .builder(cli, "check")
        .and_then(|b| Ok(b.cancel_token(cancel.clone()).build()?))
    {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(code_of(&e));
        }
    };
    let lab = match Arc::new(hub).attach().await {
        Ok(l) => l,
        Err(e) => return Ok(report_error(&e)),
    };
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let opts = CheckOptions {
        timeout: args.timeout,
        parallelism: args.parallelism,
        builtins: !args.no_builtin,
    };
    let report = match lab.check_with(&opts).await {
        Ok(r) => r,
        Err(e) => return Ok(report_error(&e)),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    let failed: Vec<_> = report.failures().collect();
    if failed.is_empty() {
        return Ok(exit::OK);
    }
    for f in &failed {
        eprintln!("check failed: {}: {}", f.name, f.detail);
    }
    eprintln!("{} of {} checks failed", failed.len(), report.results.len());
    Ok(exit::FAILURE)
}

/// The report as a table: check, from, to, probe, result, detail, time.
pub fn table(report: &CheckReport) -> String {
    let header = ["CHECK", "FROM", "TO", "PROBE", "RESULT", "DETAIL", "TIME"];
    let rows: Vec<[String; 7]> = report
        .results
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.from.clone(),
                r.to.clone(),
                if r.expect == "ok" {
                    r.probe.clone()
                } else {
                    format!("{} ({})", r.probe, r.expect)
                },
                if r.passed { "pass" } else { "FAIL" }.to_string(),
                r.detail.clone(),
                format!("{:.2} s", r.elapsed_ms as f64 / 1000.0),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(&header.map(String::from));
    for row in &rows {
        out.push_str(&line(row));
    }
    let failed = report.failures().count();
    out.push_str(&format!(
        "{} checks, {} passed, {} failed in {:.1} s\n",
        report.results.len(),
        report.results.len() - failed,
        failed,
        report.elapsed_ms as f64 / 1000.0
    ));
    out
}
