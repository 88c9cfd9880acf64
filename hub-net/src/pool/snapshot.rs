//! The allocation strategy and the serializable snapshot of a pool.

use serde::{Deserialize, Serialize};

use crate::AddrRange;

/// How [`IpPool::allocate`](super::IpPool) picks an address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The lowest free address: the same requests always give the same addresses.
    #[default]
    LowestFree,
    /// The first free address at or after a random point (wrapping), drawn from a generator
    /// seeded with `seed`: the same seed and requests give the same addresses.
    Random {
        /// The generator's seed.
        seed: u64,
    },
}

/// Everything a pool holds, in a compact form: the used addresses as ascending runs.
///
/// [`IpPool::restore`](super::IpPool::restore) rebuilds exactly the same pool, including the
/// random generator's position, so allocation goes on as if the pool had never been saved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PoolSnapshot {
    pub(crate) range: AddrRange,
    pub(crate) strategy: Strategy,
    /// The random generator's state (`None` for `LowestFree`; when missing from a random
    /// pool's snapshot the generator starts again from the seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rng_state: Option<u64>,
    /// Used addresses as ascending, disjoint, non-adjacent runs.
    pub(crate) used: Vec<AddrRange>,
}

impl PoolSnapshot {
    /// The range the pool allocates from.
    pub fn range(&self) -> AddrRange {
        self.range
    }
    /// The pool's strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }
    /// The used addresses, as ascending runs.
    pub fn used_runs(&self) -> &[AddrRange] {
        &self.used
    }
    /// The number of used addresses.
    pub fn used(&self) -> u64 {
        self.used.iter().map(AddrRange::len).sum()
    }
}
