//! The baseline: the seed's Go pool, translated. A random start, then a linear probe over a
//! `HashSet<u32>` of used offsets until a free one turns up (wrapping). Shared by the bench and
//! by the memory test, which measures its heap too.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use hub_net::AddrRange;

/// The seed's lazily filled pool: nothing but a hash set of used offsets.
pub struct SeedLazyPool {
    start: u32,
    size: u64,
    inner: Mutex<SeedInner>,
}

struct SeedInner {
    used: HashSet<u32>,
    rng: u64,
}

impl SeedInner {
    /// xorshift64*: the seed used `math/rand`; any fast generator does for the probe start.
    fn below(&mut self, n: u64) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((u128::from(r) * u128::from(n)) >> 64) as u64
    }
}

impl SeedLazyPool {
    /// A pool over `range`.
    pub fn new(range: AddrRange, seed: u64) -> Self {
        SeedLazyPool {
            start: u32::from(range.start),
            size: range.len(),
            inner: Mutex::new(SeedInner {
                used: HashSet::new(),
                rng: seed | 1,
            }),
        }
    }

    /// Marks `ip` used; false if it already was.
    pub fn reserve(&self, ip: Ipv4Addr) -> bool {
        let off = u32::from(ip).wrapping_sub(self.start);
        u64::from(off) < self.size && self.inner.lock().unwrap().used.insert(off)
    }

    /// A random start, then the first free offset by linear probing.
    pub fn allocate(&self) -> Option<Ipv4Addr> {
        let mut inner = self.inner.lock().unwrap();
        if inner.used.len() as u64 >= self.size {
            return None;
        }
        let mut off = inner.below(self.size);
        while inner.used.contains(&(off as u32)) {
            off += 1;
            if off == self.size {
                off = 0;
            }
        }
        inner.used.insert(off as u32);
        Some(Ipv4Addr::from(self.start + off as u32))
    }

    /// Gives `ip` back; true if it was used.
    pub fn release(&self, ip: Ipv4Addr) -> bool {
        self.inner
            .lock()
            .unwrap()
            .used
            .remove(&u32::from(ip).wrapping_sub(self.start))
    }

    /// Number of used addresses.
    pub fn used(&self) -> u64 {
        self.inner.lock().unwrap().used.len() as u64
    }
}
