//! Running a probe inside a network namespace: a container's (`/proc/PID/ns/net`) or the
//! simulated VPN client's (`/run/netns/NAME`), from the hub's own process, so that a check
//! needs nothing of the workload's image.
//!
//! `setns(2)` moves only the calling thread, so each probe gets a thread of its own that
//! enters the namespace, runs, and ends: no thread of the async runtime ever changes
//! namespace.

use std::os::fd::AsFd as _;
use std::path::Path;

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

/// Runs `probe` on a new thread inside the network namespace at `ns` and returns what it
/// returned, or why it could not run there.
pub(crate) async fn run_in<T, F>(ns: &Path, probe: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let file = std::fs::File::open(ns)
        .map_err(|e| format!("cannot open the network namespace {}: {e}", ns.display()))?;
    let shown = ns.display().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("hub-probe".into())
        .spawn(move || {
            let out = move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network))
                .map_err(|e| format!("cannot enter the network namespace {shown}: {e}"))
                .map(|()| probe());
            let _ = tx.send(out);
        })
        .map_err(|e| format!("cannot start a probe thread: {e}"))?;
    rx.await
        .map_err(|_| "the probe thread ended without an answer".to_string())?
}
