//! Many threads allocating and releasing on one shared pool.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::{Arc, Barrier};
use std::thread;

use hub_net::{AddrRange, IpAllocator, IpPool, PoolError};

const THREADS: usize = 8;

fn range(a: [u8; 4], b: [u8; 4]) -> AddrRange {
    AddrRange::new(Ipv4Addr::from(a), Ipv4Addr::from(b))
}

/// Runs `work` on `THREADS` threads that start together on the shared pool; returns what
/// each thread returned.
fn race<T: Send + 'static>(
    pool: &Arc<dyn IpAllocator>,
    work: impl Fn(&dyn IpAllocator) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let start = Arc::new(Barrier::new(THREADS));
    let work = Arc::new(work);
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (pool, start, work) = (pool.clone(), start.clone(), work.clone());
            thread::spawn(move || {
                start.wait();
                work(&*pool)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// Each thread allocates `rounds` addresses, releasing every third one again; returns the
/// addresses it still holds.
fn churn(pool: &Arc<dyn IpAllocator>, rounds: usize) -> Vec<Vec<Ipv4Addr>> {
    race(pool, move |pool| {
        let mut held = Vec::new();
        for i in 0..rounds {
            let a = pool.allocate().expect("pool is large enough");
            assert!(pool.is_used(a));
            if i % 3 == 2 {
                assert!(pool.release(a), "{a} was ours to release");
            } else {
                held.push(a);
            }
        }
        held
    })
}

fn no_duplicates(pool: &dyn IpAllocator, held: &[Vec<Ipv4Addr>]) {
    let all: Vec<Ipv4Addr> = held.iter().flatten().copied().collect();
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(
        distinct.len(),
        all.len(),
        "an address was handed to two threads"
    );
    assert_eq!(pool.used(), all.len() as u64);
    assert_eq!(pool.free(), pool.range().len() - all.len() as u64);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(pool.used_addrs(), sorted);
    assert!(all.iter().all(|a| pool.range().contains(*a)));
}

#[test]
fn lowest_free_pool_under_contention() {
    let pool: Arc<dyn IpAllocator> =
        Arc::new(IpPool::new(range([10, 20, 0, 5], [10, 20, 255, 250])));
    let held = churn(&pool, 3000);
    no_duplicates(&*pool, &held);
    assert_eq!(pool.used(), (THREADS * 2000) as u64);
    // Lowest free: an address is handed out only when every lower one is used, and no more
    // than THREADS * 2001 addresses are ever used at once (each thread holds at most 2000
    // plus the one it is about to release), so nothing above that offset is ever touched.
    let start = u32::from(pool.range().start);
    let bound = u32::try_from(THREADS * 2001).unwrap();
    let highest = held.iter().flatten().map(|a| u32::from(*a) - start).max();
    assert!(
        highest.is_some_and(|h| h < bound),
        "highest offset {highest:?}, bound {bound}"
    );
}

#[test]
fn random_pool_under_contention() {
    let pool: Arc<dyn IpAllocator> = Arc::new(IpPool::random(
        range([10, 30, 0, 0], [10, 30, 255, 255]),
        77,
    ));
    let held = churn(&pool, 3000);
    no_duplicates(&*pool, &held);
}

#[test]
fn racing_to_exhaustion_hands_out_every_address_once() {
    let pool: Arc<dyn IpAllocator> =
        Arc::new(IpPool::random(range([10, 40, 0, 3], [10, 40, 4, 10]), 5));
    let size = pool.range().len();
    let held = race(&pool, |pool| {
        let mut got = Vec::new();
        loop {
            match pool.allocate() {
                Ok(a) => got.push(a),
                Err(PoolError::Exhausted { .. }) => return got,
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
    });
    no_duplicates(&*pool, &held);
    assert_eq!(held.iter().map(Vec::len).sum::<usize>() as u64, size);
    assert_eq!(pool.free(), 0);
}
