//! The IP pool: hands out the addresses of a range, one at a time, to many tasks at once.
//!
//! ```
//! use hub_net::{AddrRange, IpAllocator, IpPool};
//! use std::net::Ipv4Addr;
//!
//! let pool = IpPool::new(AddrRange::new(Ipv4Addr::new(10, 0, 0, 30), Ipv4Addr::new(10, 0, 0, 199)));
//! pool.reserve(Ipv4Addr::new(10, 0, 0, 30)).unwrap();
//! assert_eq!(pool.allocate().unwrap(), Ipv4Addr::new(10, 0, 0, 31));
//! let saved = serde_json::to_string(&pool.snapshot()).unwrap();
//! let back = IpPool::restore(serde_json::from_str(&saved).unwrap()).unwrap();
//! assert_eq!(back.used_addrs(), pool.used_addrs());
//! ```

mod bits;
mod error;
mod iter;
mod rng;
mod snapshot;

use std::net::Ipv4Addr;
use std::sync::{Mutex, MutexGuard};

use crate::{AddrRange, AddressPlan};
use bits::Bits;
pub use error::PoolError;
pub use iter::UsedAddrs;
use rng::SplitMix64;
pub use snapshot::{PoolSnapshot, Strategy};

/// Something that hands out the addresses of one range. Object-safe and shareable: every
/// method takes `&self`, so one `Arc<dyn IpAllocator>` serves many tasks.
pub trait IpAllocator: Send + Sync {
    /// The range addresses are allocated from.
    fn range(&self) -> AddrRange;
    /// Marks `ip` as used. Fails if it is outside the range or already used.
    fn reserve(&self, ip: Ipv4Addr) -> Result<(), PoolError>;
    /// Hands out a free address (the lowest, or a random one for a random pool).
    fn allocate(&self) -> Result<Ipv4Addr, PoolError>;
    /// Gives `ip` back; returns whether it was used.
    fn release(&self, ip: Ipv4Addr) -> bool;
    /// Whether `ip` is reserved or allocated.
    fn is_used(&self, ip: Ipv4Addr) -> bool;
    /// Whether `ip` lies in the range.
    fn contains(&self, ip: Ipv4Addr) -> bool;
    /// Number of used addresses.
    fn used(&self) -> u64;
    /// Number of free addresses.
    fn free(&self) -> u64;
    /// The used addresses, ascending.
    fn used_addrs(&self) -> Vec<Ipv4Addr>;
    /// A serializable copy of the whole state; see [`IpPool::restore`].
    fn snapshot(&self) -> PoolSnapshot;
}

struct Inner {
    bits: Bits,
    rng: SplitMix64,
}

/// The IP pool: a hierarchical bitset over the range behind a mutex.
///
/// Creating one allocates nothing in proportion to the range. Memory grows with the part of
/// the range touched, about 520 bytes per block of 4096 addresses (kept after release, so
/// churn does not allocate), plus 8 bytes per block up to the highest one touched: 1,000,000
/// addresses of a /8 take about 0.13 MiB allocated lowest-first and 2.1 MiB at random.
/// Allocation is a few word scans up and down the summary levels, whatever the fill.
/// Any IPv4 range is accepted (a lab uses at most a /8).
pub struct IpPool {
    range: AddrRange,
    start: u32,
    len: u64,
    strategy: Strategy,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for IpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpPool")
            .field("range", &self.range)
            .field("strategy", &self.strategy)
            .field("used", &self.used())
            .finish()
    }
}

impl IpPool {
    /// A pool over `range` that allocates the lowest free address.
    pub fn new(range: AddrRange) -> Self {
        Self::with_strategy(range, Strategy::LowestFree)
    }

    /// A pool over `range` that allocates at random, from a generator seeded with `seed`.
    pub fn random(range: AddrRange, seed: u64) -> Self {
        Self::with_strategy(range, Strategy::Random { seed })
    }

    /// A pool over `range` with the given strategy.
    pub fn with_strategy(range: AddrRange, strategy: Strategy) -> Self {
        let len = range.len();
        let seed = match strategy {
            Strategy::LowestFree => 0,
            Strategy::Random { seed } => seed,
        };
        IpPool {
            range,
            start: u32::from(range.start),
            len,
            strategy,
            inner: Mutex::new(Inner {
                bits: Bits::new(len),
                rng: SplitMix64(seed),
            }),
        }
    }

    /// A lowest-free pool over the plan's static range: it never hands out the network,
    /// broadcast, gateway, netd, `.3`, infrastructure-block or DHCP-range addresses.
    pub fn for_plan(plan: &AddressPlan) -> Self {
        Self::new(plan.static_range())
    }

    /// A lowest-free pool over the plan's DHCP range, for the addresses netd leases to
    /// unknown clients.
    pub fn for_dhcp(plan: &AddressPlan) -> Self {
        Self::new(plan.dhcp_range())
    }

    /// Rebuilds the pool a snapshot was taken of. Fails, naming the range and the reason, if
    /// the snapshot's runs are not ascending, disjoint and inside its range.
    pub fn restore(snapshot: PoolSnapshot) -> Result<Self, PoolError> {
        let range = snapshot.range;
        let bad = |reason: String| PoolError::BadSnapshot { range, reason };
        let pool = Self::with_strategy(range, snapshot.strategy);
        {
            let mut inner = pool.lock();
            if let Some(state) = snapshot.rng_state {
                inner.rng = SplitMix64(state);
            }
            let mut next_min: u64 = u64::from(pool.start);
            for run in &snapshot.used {
                if run.is_empty() {
                    return Err(bad(format!("run {run} has its start after its end")));
                }
                if !range.contains(run.start) || !range.contains(run.end) {
                    return Err(bad(format!("run {run} is outside the range")));
                }
                if u64::from(u32::from(run.start)) < next_min {
                    return Err(bad(format!("run {run} is not after the previous run")));
                }
                next_min = u64::from(u32::from(run.end)) + 1;
                inner.bits.set_run(
                    u32::from(run.start) - pool.start,
                    u32::from(run.end) - pool.start,
                );
            }
        }
        Ok(pool)
    }

    /// The pool's strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Marks every address of `block` used (a word at a time) and returns how many were free.
    /// Fails, changing nothing, if `block` is not inside the pool's range.
    pub fn reserve_range(&self, block: AddrRange) -> Result<u64, PoolError> {
        if block.is_empty() {
            return Ok(0);
        }
        for ip in [block.start, block.end] {
            if !self.range.contains(ip) {
                return Err(PoolError::OutOfRange {
                    ip,
                    range: self.range,
                });
            }
        }
        let mut inner = self.lock();
        let before = inner.bits.used();
        inner.bits.set_run(
            u32::from(block.start) - self.start,
            u32::from(block.end) - self.start,
        );
        Ok(inner.bits.used() - before)
    }

    /// The used addresses as ascending runs.
    pub fn used_runs(&self) -> Vec<AddrRange> {
        self.runs(&self.lock())
    }

    /// The used addresses, ascending, without holding the pool's lock while iterating.
    pub fn iter_used(&self) -> UsedAddrs {
        UsedAddrs::new(self.used_runs())
    }

    fn runs(&self, inner: &Inner) -> Vec<AddrRange> {
        let mut runs = Vec::new();
        inner
            .bits
            .for_each_run(|a, b| runs.push(AddrRange::new(self.addr(a), self.addr(b))));
        runs
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No operation panics half-way through an update, so a poisoned lock still guards
        // a consistent state.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn offset(&self, ip: Ipv4Addr) -> Option<u32> {
        self.range.contains(ip).then(|| u32::from(ip) - self.start)
    }

    fn addr(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.start + offset)
    }

    fn exhausted(&self) -> PoolError {
        PoolError::Exhausted {
            range: self.range,
            size: self.len,
        }
    }
}

impl IpAllocator for IpPool {
    fn range(&self) -> AddrRange {
        self.range
    }

    fn reserve(&self, ip: Ipv4Addr) -> Result<(), PoolError> {
        let Some(o) = self.offset(ip) else {
            return Err(PoolError::OutOfRange {
                ip,
                range: self.range,
            });
        };
        if self.lock().bits.insert(o) {
            Ok(())
        } else {
            Err(PoolError::AlreadyUsed {
                ip,
                range: self.range,
            })
        }
    }

    fn allocate(&self) -> Result<Ipv4Addr, PoolError> {
        let mut inner = self.lock();
        if inner.bits.used() >= self.len {
            return Err(self.exhausted());
        }
        let from = match self.strategy {
            Strategy::LowestFree => 0,
            Strategy::Random { .. } => inner.rng.below(self.len),
        };
        let found = inner
            .bits
            .next_free(from)
            .or_else(|| inner.bits.next_free(0));
        let Some(o) = found else {
            return Err(self.exhausted());
        };
        inner.bits.insert(o);
        Ok(self.addr(o))
    }

    fn release(&self, ip: Ipv4Addr) -> bool {
        self.offset(ip).is_some_and(|o| self.lock().bits.remove(o))
    }

    fn is_used(&self, ip: Ipv4Addr) -> bool {
        self.offset(ip)
            .is_some_and(|o| self.lock().bits.contains(o))
    }

    fn contains(&self, ip: Ipv4Addr) -> bool {
        self.range.contains(ip)
    }

    fn used(&self) -> u64 {
        self.lock().bits.used()
    }

    fn free(&self) -> u64 {
        self.len - self.used()
    }

    fn used_addrs(&self) -> Vec<Ipv4Addr> {
        let inner = self.lock();
        let mut out = Vec::with_capacity(usize::try_from(inner.bits.used()).unwrap_or(0));
        inner
            .bits
            .for_each_run(|a, b| out.extend((a..=b).map(|o| self.addr(o))));
        out
    }

    fn snapshot(&self) -> PoolSnapshot {
        // One lock for both, so the generator state and the used set belong together.
        let inner = self.lock();
        PoolSnapshot {
            range: self.range,
            strategy: self.strategy,
            rng_state: match self.strategy {
                Strategy::LowestFree => None,
                Strategy::Random { .. } => Some(inner.rng.0),
            },
            used: self.runs(&inner),
        }
    }
}
