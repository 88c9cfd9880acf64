//! Shared pieces of Virtual Hub's benches (the benches themselves are in `benches/`, one file
//! each): the seed's IP pool as a baseline, and the `hub` executable the end-to-end benches run.
//!
//! ```no_run
//! let hub = hub_benches::hub_bin();
//! assert!(hub.ends_with("hub"));
//! ```

pub mod seed_lazy;

use std::path::PathBuf;
use std::process::Command;

/// The `hub` executable: `$HUB_BIN` when set, else the one `cargo build --release -p hub-cli`
/// produces (built now if needed; cargo prints where it is). Panics with the reason when it
/// cannot be had, since a bench without it measures nothing.
pub fn hub_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HUB_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "hub-cli",
            "--bin",
            "hub",
            "--message-format=json",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cargo could not be run to build the hub binary: {e}"));
    assert!(
        out.status.success(),
        "`cargo build --release -p hub-cli` failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|m| m.get("executable")?.as_str().map(PathBuf::from))
        .expect("cargo named no `hub` executable; set HUB_BIN to its path")
}
