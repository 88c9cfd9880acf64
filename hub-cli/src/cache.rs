//! `hub cache`: the warm VM snapshot cache (`list`, `prune`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand};
use hub_core::libvirt::{WarmCache, WarmEntry};

use super::{UsageError, exit};

/// Arguments of `hub cache`.
#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    /// The cache folder (default: `HUB_WARM_CACHE`, else `/var/cache/hub/warm` for root).
    #[arg(long, value_name = "DIR", env = "HUB_WARM_CACHE", global = true)]
    pub dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: CacheCommand,
}

/// The `hub cache` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum CacheCommand {
    /// Every entry: key, VM, lab, size, age, last use.
    List {
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Remove entries unused for a while, or the least recently used beyond a size.
    Prune {
        /// Remove entries not used for this long (`7d`, `12h`, `30m`).
        #[arg(long, value_name = "D", value_parser = parse_age)]
        older_than: Option<Duration>,
        /// Then remove the least recently used until the rest fit (`20G`, `500M`, bytes).
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_size: Option<u64>,
    },
}

/// A duration on the command line: `7d`, `12h`, `500ms` (humantime).
pub(crate) fn parse_age(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration like 7d or 12h: {e}"))
}

/// `20G`, `500M`, `64K` (powers of 1024, an optional trailing `B` or `iB`) or plain bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, shift) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 30),
        Some('T' | 't') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| format!("{s:?} is not a size like 20G, 500M or a number of bytes"))
}

fn cache(args: &CacheArgs) -> WarmCache {
    match &args.dir {
        Some(d) => WarmCache::new(d),
        None => WarmCache::from_env(),
    }
}

fn ago(t: SystemTime) -> String {
    let secs = SystemTime::now()
        .duration_since(t)
        .unwrap_or_default()
        .as_secs();
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

fn json(e: &WarmEntry) -> serde_json::Value {
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    serde_json::json!({
        "key": e.key, "lab": e.lab, "vm": e.vm, "size": e.size,
        "created": secs(e.created), "last_used": secs(e.last_used),
        "save_ms": e.save_time.as_millis() as u64,
    })
}

/// Runs `hub cache`.
pub fn run(args: &CacheArgs) -> anyhow::Result<u8> {
    let cache = cache(args);
    match &args.command {
        CacheCommand::List { json: as_json } => {
            let entries = cache.list()?;
            if *as_json {
                let all: Vec<_> = entries.iter().map(json).collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
                return Ok(exit::OK);
            }
            println!("cache {}", cache.dir().display());
            println!(
                "{:<12}  {:<24}  {:>10}  {:>14}  {:>14}",
                "KEY", "LAB/VM", "SIZE", "AGE", "LAST USED"
            );
            for e in &entries {
                println!(
                    "{:<12}  {:<24}  {:>10}  {:>14}  {:>14}",
                    &e.key[..12.min(e.key.len())],
                    format!("{}/{}", e.lab, e.vm),
                    mib(e.size),
                    ago(e.created),
                    ago(e.last_used)
                );
            }
            Ok(exit::OK)
        }
        CacheCommand::Prune {
            older_than,
            max_size,
        } => {
            if older_than.is_none() && max_size.is_none() {
                return Err(UsageError(
                    "`hub cache prune` needs --older-than D, --max-size SIZE or both".into(),
                )
                .into());
            }
            let removed = cache.prune(*older_than, *max_size)?;
            let freed: u64 = removed.iter().map(|e| e.size).sum();
            for e in &removed {
                println!(
                    "removed {} {}/{} {}",
                    &e.key[..12.min(e.key.len())],
                    e.lab,
                    e.vm,
                    mib(e.size)
                );
            }
            println!("{} entries removed, {} freed", removed.len(), mib(freed));
            Ok(exit::OK)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("20G"), Ok(20 << 30));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
