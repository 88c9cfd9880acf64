//! The IP pool against the seed's strategy, side by side in one run.
//!
//! `cargo bench -p hub-benches --bench ipool`. Group `ipool`; each id runs for `pool` (ours,
//! lowest free), `pool_random` (ours, random strategy) and `seed_lazy` (the seed's random start
//! plus linear probe over a `HashSet<u32>`, see `seed_lazy.rs`):
//! - `create/8`, `create/16`, `create/24`: build (and drop) a pool over a whole /8, /16, /24;
//! - `alloc_release/P`: one allocate plus one release in a /12 already P% full, all three
//!   starting from the used set the seed's strategy leaves (see `seed_fill`);
//! - `fill/16`: allocate every address of a /16, from empty.

#![allow(missing_docs)]

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use hub_benches::seed_lazy::SeedLazyPool;
use hub_net::{AddrRange, IpAllocator, IpPool};

const BASE: u32 = 10 << 24;

fn net(prefix: u32) -> AddrRange {
    AddrRange::new(
        Ipv4Addr::from(BASE),
        Ipv4Addr::from(BASE + ((1u32 << (32 - prefix)) - 1)),
    )
}

/// The used set the seed's own strategy reaches after allocating `pct`% of `r`: random start
/// plus first free at or after it (wrapping), which leaves the clusters linear probing makes.
/// Our random strategy places addresses by exactly that rule, so it builds the set quickly;
/// every implementation then starts from this same set.
fn seed_fill(r: AddrRange, pct: f64) -> Vec<Ipv4Addr> {
    let count = (r.len() as f64 * pct / 100.0).round() as u64;
    let p = IpPool::random(r, 0x5EED);
    for _ in 0..count {
        p.allocate().unwrap();
    }
    p.used_addrs()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ipool");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));

    for prefix in [8u32, 16, 24] {
        let r = net(prefix);
        let id = format!("create/{prefix}");
        g.bench_function(BenchmarkId::new("pool", &id), |b| {
            b.iter(|| IpPool::new(black_box(r)))
        });
        g.bench_function(BenchmarkId::new("seed_lazy", &id), |b| {
            b.iter(|| SeedLazyPool::new(black_box(r), 1))
        });
    }

    let r12 = net(12);
    for (label, pct) in [("0", 0.0), ("50", 50.0), ("99", 99.0), ("99.9", 99.9)] {
        let fill = seed_fill(r12, pct);
        let id = format!("alloc_release/{label}");
        let ours = |pool: IpPool| {
            for &a in &fill {
                pool.reserve(a).unwrap();
            }
            pool
        };
        let pool = ours(IpPool::new(r12));
        g.bench_function(BenchmarkId::new("pool", &id), |b| {
            b.iter(|| {
                let a = pool.allocate().unwrap();
                pool.release(a);
                a
            })
        });
        let pool = ours(IpPool::random(r12, 7));
        g.bench_function(BenchmarkId::new("pool_random", &id), |b| {
            b.iter(|| {
                let a = pool.allocate().unwrap();
                pool.release(a);
                a
            })
        });
        drop(pool);
        let seed = SeedLazyPool::new(r12, 7);
        for &a in &fill {
            seed.reserve(a);
        }
        assert_eq!(seed.used(), fill.len() as u64);
        g.bench_function(BenchmarkId::new("seed_lazy", &id), |b| {
            b.iter(|| {
                let a = seed.allocate().unwrap();
                seed.release(a);
                a
            })
        });
    }

    let r16 = net(16);
    g.bench_function(BenchmarkId::new("pool", "fill/16"), |b| {
        b.iter_batched(
            || IpPool::new(r16),
            |p| {
                for _ in 0..r16.len() {
                    black_box(p.allocate().unwrap());
                }
                p
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function(BenchmarkId::new("pool_random", "fill/16"), |b| {
        b.iter_batched(
            || IpPool::random(r16, 3),
            |p| {
                for _ in 0..r16.len() {
                    black_box(p.allocate().unwrap());
                }
                p
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function(BenchmarkId::new("seed_lazy", "fill/16"), |b| {
        b.iter_batched(
            || SeedLazyPool::new(r16, 3),
            |p| {
                for _ in 0..r16.len() {
                    black_box(p.allocate().unwrap());
                }
                p
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
