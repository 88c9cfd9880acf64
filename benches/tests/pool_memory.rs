//! Heap used by the pool, measured with a counting global allocator (this binary of its own,
//! so no other test's allocations are counted). Sizes, not timings.

use std::alloc::System;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use hub_benches::seed_lazy::SeedLazyPool;
use hub_net::{AddrRange, IpAllocator, IpPool};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Tests of this binary run one at a time, so each counts only its own allocations.
static SERIAL: Mutex<()> = Mutex::new(());

const MIB: f64 = 1024.0 * 1024.0;
const ALLOCATIONS: usize = 1_000_000;

fn slash8() -> AddrRange {
    AddrRange::new(Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(10, 255, 255, 255))
}

/// Live heap bytes allocated (and not freed) while `f` runs, and what `f` returned.
fn live_heap<T>(f: impl FnOnce() -> T) -> (T, i64) {
    let region = Region::new(GLOBAL);
    let out = f();
    let s = region.change();
    (out, s.bytes_allocated as i64 - s.bytes_deallocated as i64)
}

#[test]
fn creating_a_slash8_pool_allocates_almost_nothing() {
    let _g = SERIAL.lock().unwrap();
    let (pool, bytes) = live_heap(|| IpPool::new(slash8()));
    eprintln!("pool: creating a /8 pool: {bytes} bytes");
    assert!(bytes < 1024, "creating a /8 pool took {bytes} bytes");
    assert_eq!(pool.free(), 1 << 24);
}

#[test]
fn a_million_lowest_free_allocations_in_a_slash8_take_a_few_mib() {
    let _g = SERIAL.lock().unwrap();
    let (pool, bytes) = live_heap(|| {
        let pool = IpPool::new(slash8());
        for _ in 0..ALLOCATIONS {
            pool.allocate().unwrap();
        }
        pool
    });
    eprintln!(
        "pool (lowest free): 1M allocations in a /8: {:.3} MiB",
        bytes as f64 / MIB
    );
    assert_eq!(pool.used(), ALLOCATIONS as u64);
    assert!((bytes as f64) < 8.0 * MIB, "{bytes} bytes");
}

#[test]
fn a_million_random_allocations_in_a_slash8_take_a_few_mib_unlike_the_seed() {
    let _g = SERIAL.lock().unwrap();
    let (pool, ours) = live_heap(|| {
        let pool = IpPool::random(slash8(), 11);
        for _ in 0..ALLOCATIONS {
            pool.allocate().unwrap();
        }
        pool
    });
    assert_eq!(pool.used(), ALLOCATIONS as u64);
    drop(pool);
    let (seed, theirs) = live_heap(|| {
        let seed = SeedLazyPool::new(slash8(), 11);
        for _ in 0..ALLOCATIONS {
            seed.allocate().unwrap();
        }
        seed
    });
    assert_eq!(seed.used(), ALLOCATIONS as u64);
    eprintln!(
        "1M random allocations in a /8: pool {:.3} MiB, seed_lazy {:.3} MiB",
        ours as f64 / MIB,
        theirs as f64 / MIB
    );
    assert!((ours as f64) < 8.0 * MIB, "{ours} bytes");
    assert!(
        ours < theirs,
        "ours {ours} bytes, the seed's {theirs} bytes"
    );
}
