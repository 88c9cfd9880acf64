//! netd's counts of what it answered: DNS queries (UDP and TCP) and DHCP messages. netd
//! counts with atomics and writes them, at most once a second and only when they changed,
//! to a small file beside its lease file (`stats.json`, written atomically), which the hub
//! reads from the lab folder: no port on netd for it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::NetdError;

/// File name of the counts inside the lab's netd directory.
pub const STATS_FILE: &str = "stats.json";

/// The stats file beside the lease file `lease_file`.
pub fn stats_file(lease_file: &Path) -> PathBuf {
    lease_file.with_file_name(STATS_FILE)
}

/// What netd has answered since the lab's netd directory was made (the counts carry over a
/// restart of netd: it starts from the file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetdStats {
    /// DNS queries received over UDP.
    pub dns_udp_queries: u64,
    /// DNS queries received over TCP.
    pub dns_tcp_queries: u64,
    /// DHCP messages received (DISCOVER, REQUEST, RELEASE, ...; every segment).
    pub dhcp_messages: u64,
}

impl NetdStats {
    /// Reads a stats file; a missing one is all zeros (netd has not written it yet).
    pub fn read(path: &Path) -> Result<Self, NetdError> {
        super::config::read_json_or_default(path)
    }
}

/// The live counters, shared by netd's DNS and DHCP threads (relaxed atomics: a count, no
/// order to keep).
#[cfg(feature = "netd")]
#[derive(Debug, Default)]
pub(crate) struct Counters {
    dns_udp: std::sync::atomic::AtomicU64,
    dns_tcp: std::sync::atomic::AtomicU64,
    dhcp: std::sync::atomic::AtomicU64,
}

#[cfg(feature = "netd")]
impl Counters {
    /// Counters starting from `start` (what the file held).
    pub(crate) fn from(start: NetdStats) -> Self {
        use std::sync::atomic::AtomicU64;
        Counters {
            dns_udp: AtomicU64::new(start.dns_udp_queries),
            dns_tcp: AtomicU64::new(start.dns_tcp_queries),
            dhcp: AtomicU64::new(start.dhcp_messages),
        }
    }

    /// A DNS query came over UDP.
    pub(crate) fn dns_udp(&self) {
        self.dns_udp
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// A DNS query came over TCP.
    pub(crate) fn dns_tcp(&self) {
        self.dns_tcp
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// A DHCP message came.
    pub(crate) fn dhcp(&self) {
        self.dhcp.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The counts now.
    pub(crate) fn snapshot(&self) -> NetdStats {
        use std::sync::atomic::Ordering::Relaxed;
        NetdStats {
            dns_udp_queries: self.dns_udp.load(Relaxed),
            dns_tcp_queries: self.dns_tcp.load(Relaxed),
            dhcp_messages: self.dhcp.load(Relaxed),
        }
    }
}

/// Writes the counts to `path` when they differ from what was written last (`last`).
#[cfg(feature = "netd")]
pub(crate) fn write_if_changed(counters: &Counters, path: &Path, last: &mut NetdStats) {
    let now = counters.snapshot();
    if now == *last {
        return;
    }
    match serde_json::to_vec(&now) {
        Ok(bytes) => match super::write_atomic(path, &bytes) {
            Ok(()) => *last = now,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "could not write netd's counts")
            }
        },
        Err(e) => tracing::warn!(error = %e, "could not serialize netd's counts"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_zeros_and_a_written_one_reads_back() {
        let dir = std::env::temp_dir().join(format!("hub-net-stats-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = stats_file(&dir.join(super::super::LEASE_FILE));
        assert_eq!(path, dir.join(STATS_FILE));
        assert_eq!(NetdStats::read(&path).unwrap(), NetdStats::default());
        let s = NetdStats {
            dns_udp_queries: 3,
            dns_tcp_queries: 1,
            dhcp_messages: 2,
        };
        super::super::write_atomic(&path, &serde_json::to_vec(&s).unwrap()).unwrap();
        assert_eq!(NetdStats::read(&path).unwrap(), s);
        std::fs::write(&path, b"{not json").unwrap();
        let e = NetdStats::read(&path).unwrap_err().to_string();
        assert!(e.contains(STATS_FILE), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(feature = "netd")]
    #[test]
    fn counters_start_from_the_file_and_are_written_only_when_they_change() {
        let dir = std::env::temp_dir().join(format!("hub-net-counters-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(STATS_FILE);
        let c = Counters::from(NetdStats {
            dns_udp_queries: 10,
            ..NetdStats::default()
        });
        c.dns_udp();
        c.dns_tcp();
        c.dhcp();
        c.dhcp();
        let mut last = NetdStats::default();
        write_if_changed(&c, &path, &mut last);
        let want = NetdStats {
            dns_udp_queries: 11,
            dns_tcp_queries: 1,
            dhcp_messages: 2,
        };
        assert_eq!(NetdStats::read(&path).unwrap(), want);
        assert_eq!(last, want);
        // Unchanged: not written again (a file put in its place stays).
        std::fs::write(&path, b"{}").unwrap();
        write_if_changed(&c, &path, &mut last);
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
