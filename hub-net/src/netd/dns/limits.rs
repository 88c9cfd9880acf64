//! Per-client bounds on DNS work that costs more than a cached answer: a client that floods
//! is slowed down, the others keep being answered.
//!
//! - queries that miss the answer cache (full decoding, or forwarding): a token bucket of
//!   [`SLOW_PER_SEC`] per second, [`SLOW_BURST`] at once, per client address;
//! - queries being forwarded: at most [`FORWARDS_PER_CLIENT`] in flight per client (and
//!   [`MAX_FORWARDS`] in all);
//! - TCP connections: at most [`TCP_PER_CLIENT`] open per client (and [`MAX_TCP`] in all).
//!
//! Answers from the cache of encoded answers are not limited: they cost less than receiving
//! the query.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Queries per second a client may have answered past the cache, sustained.
pub const SLOW_PER_SEC: u32 = 2_000;
/// Queries a client may have answered past the cache at once.
pub const SLOW_BURST: u32 = 2_000;
/// Queries of one client being forwarded at once.
pub const FORWARDS_PER_CLIENT: usize = 64;
/// Queries being forwarded at once, all clients together.
pub const MAX_FORWARDS: usize = 512;
/// TCP connections of one client open at once.
pub const TCP_PER_CLIENT: usize = 8;
/// TCP connections open at once, all clients together.
pub const MAX_TCP: usize = 256;
/// Most clients whose token buckets are kept; past it, idle buckets are dropped first.
const MAX_TRACKED: usize = 4_096;

/// A token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The per-client counters, shared by the UDP threads, the relay and the TCP server.
#[derive(Debug, Default)]
pub struct ClientLimits {
    slow: Mutex<HashMap<IpAddr, Bucket>>,
    forwards: Mutex<Counts>,
    tcp: Mutex<Counts>,
}

/// In-flight counts per client and in all.
#[derive(Debug, Default)]
struct Counts {
    per_client: HashMap<IpAddr, usize>,
    total: usize,
}

impl Counts {
    fn take(&mut self, ip: IpAddr, per_client: usize, max: usize) -> bool {
        let n = self.per_client.entry(ip).or_default();
        if *n >= per_client || self.total >= max {
            if *n == 0 {
                self.per_client.remove(&ip);
            }
            return false;
        }
        *n += 1;
        self.total += 1;
        true
    }

    fn give_back(&mut self, ip: IpAddr) {
        if let Some(n) = self.per_client.get_mut(&ip) {
            *n -= 1;
            self.total = self.total.saturating_sub(1);
            if *n == 0 {
                self.per_client.remove(&ip);
            }
        }
    }
}

/// Which count a [`Slot`] holds.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Forward,
    Tcp,
}

/// One forward or TCP connection of a client; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    limits: Arc<ClientLimits>,
    ip: IpAddr,
    kind: Kind,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limits.counts(self.kind).give_back(self.ip);
    }
}

impl ClientLimits {
    /// Whether `ip` may have one more query answered past the cache now.
    pub fn allow_slow(&self, ip: IpAddr, now: Instant) -> bool {
        let mut map = self.slow.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            let full = f64::from(SLOW_BURST);
            map.retain(|_, b| refill(*b, now) < full);
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let b = map.entry(ip).or_insert(Bucket {
            tokens: f64::from(SLOW_BURST),
            at: now,
        });
        b.tokens = refill(*b, now);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// A forwarding slot for `ip`, or `None` when it (or everyone) has too many in flight.
    pub fn forward(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        self.slot(ip, Kind::Forward)
    }

    /// A TCP connection slot for `ip`, or `None` when it (or everyone) has too many open.
    pub fn tcp(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        self.slot(ip, Kind::Tcp)
    }

    fn slot(self: &Arc<Self>, ip: IpAddr, kind: Kind) -> Option<Slot> {
        let (per_client, max) = match kind {
            Kind::Forward => (FORWARDS_PER_CLIENT, MAX_FORWARDS),
            Kind::Tcp => (TCP_PER_CLIENT, MAX_TCP),
        };
        self.counts(kind).take(ip, per_client, max).then(|| Slot {
            limits: self.clone(),
            ip,
            kind,
        })
    }

    fn counts(&self, kind: Kind) -> std::sync::MutexGuard<'_, Counts> {
        match kind {
            Kind::Forward => &self.forwards,
            Kind::Tcp => &self.tcp,
        }
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
    }
}

fn refill(b: Bucket, now: Instant) -> f64 {
    let secs = now.saturating_duration_since(b.at).as_secs_f64();
    (b.tokens + secs * f64::from(SLOW_PER_SEC)).min(f64::from(SLOW_BURST))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_flooding_client_is_slowed_and_others_are_not() {
        let limits = ClientLimits::default();
        let (flooder, other): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        let allowed = (0..SLOW_BURST * 3)
            .filter(|_| limits.allow_slow(flooder, t0))
            .count();
        assert_eq!(allowed, SLOW_BURST as usize);
        assert!(limits.allow_slow(other, t0));
        // Tokens come back with time.
        let later = t0 + Duration::from_millis(100);
        let allowed = (0..SLOW_BURST)
            .filter(|_| limits.allow_slow(flooder, later))
            .count();
        assert_eq!(allowed, (SLOW_PER_SEC / 10) as usize);
    }

    #[test]
    fn slots_are_bounded_per_client_and_given_back() {
        let limits = Arc::new(ClientLimits::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let held: Vec<Slot> = (0..TCP_PER_CLIENT * 2)
            .filter_map(|_| limits.tcp(a))
            .collect();
        assert_eq!(held.len(), TCP_PER_CLIENT);
        let other = limits.tcp(b).expect("another client still gets a slot");
        drop(held);
        assert!(limits.tcp(a).is_some());
        drop(other);
        let fwd: Vec<Slot> = (0..MAX_FORWARDS)
            .filter_map(|i| limits.forward(IpAddr::from([10, 1, (i / 200) as u8, (i % 200) as u8])))
            .collect();
        assert_eq!(fwd.len(), MAX_FORWARDS);
        assert!(limits.forward(b).is_none(), "the total is bounded too");
    }

    #[test]
    fn many_clients_do_not_grow_the_table_forever() {
        let limits = ClientLimits::default();
        let now = Instant::now();
        for i in 0..(MAX_TRACKED as u32 * 3) {
            assert!(limits.allow_slow(IpAddr::from(i.to_be_bytes()), now));
        }
        assert!(limits.slow.lock().unwrap().len() <= MAX_TRACKED);
    }
}
