//! Health and healing: a reconciler per lab that keeps what runs as planned.
//!
//! A [`Watcher`] looks at its lab every [`HealPolicy::interval`] under the lab lock (a pass is
//! skipped while an `up` or `down` of the lab holds it), compares what the runtimes report,
//! netd and the WireGuard interface with the lab's plan, and brings back what drifted as each
//! workload's `restart:` policy says ([`policy::decide`]): a container removed by hand, a VM
//! shut off or crashed, netd gone, the gateway's interface gone. It brings them back through
//! the same converge as `up`, so they come back at their planned address and MAC. Attempts
//! back off exponentially; a workload that still does not run after
//! [`HealPolicy::max_attempts`] attempts in a row ends `failed`, with the reason, and the
//! reconciler leaves it. Restart counts and failures are kept in the state file
//! ([`crate::state::WorkloadRecord::restarts`]) and shown by `hub status`.
//!
//! Every change is a [`LabEvent`] on a broadcast channel ([`Watcher::subscribe`]) and a log
//! line with `lab` and `workload` fields. `hub up --watch` runs a watcher in the foreground.

mod event;
mod look;
mod pass;
pub mod policy;
mod restart;
mod tracker;
mod watcher;

pub use event::{EventKind, LabEvent, NETD, VPN_GATEWAY};
pub use policy::{Decision, HealPolicy, Observed};
pub use tracker::{Next, Tracker};
pub use watcher::{EVENT_CAPACITY, WatchEnd, Watcher};
