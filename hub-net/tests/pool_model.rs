//! Model-based test: the pool against a `BTreeSet` of used addresses, for any sequence of
//! reserve, allocate and release, both strategies, ranges of many sizes and odd bounds.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use hub_net::{AddrRange, AddressPlan, IpAllocator, IpPool, PoolError, Strategy as PoolStrategy};
use ipnet::Ipv4Net;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Reserve the address at this offset from `range.start - 3` (so some fall outside).
    Reserve(u64),
    /// Reserve a block: offset from `range.start - 3` and length.
    ReserveRange(u64, u64),
    Allocate,
    /// Release the address at this offset from `range.start - 3`.
    Release(u64),
    /// Release the n-th used address (mod the number used).
    ReleaseUsed(usize),
    /// Save, serialize, restore, and go on with the restored pool.
    Restore,
}

fn op(len: u64) -> impl Strategy<Value = Op> {
    let span = len + 6;
    prop_oneof![
        3 => (0..span).prop_map(Op::Reserve),
        1 => (0..span, 1..3000u64).prop_map(|(o, n)| Op::ReserveRange(o, n)),
        6 => Just(Op::Allocate),
        2 => (0..span).prop_map(Op::Release),
        3 => any::<usize>().prop_map(Op::ReleaseUsed),
        1 => Just(Op::Restore),
    ]
}

fn ip_at(range: AddrRange, off: u64) -> Option<Ipv4Addr> {
    u32::try_from(u64::from(u32::from(range.start)) + off)
        .ok()?
        .checked_sub(3)
        .map(Ipv4Addr::from)
}

/// Runs `ops` on a pool over `range` and checks it against the model after every step.
/// `forbidden` are addresses the pool must never hand out (besides anything outside `range`).
fn check(pool: IpPool, ops: &[Op], forbidden: &[Ipv4Addr]) -> Result<(), TestCaseError> {
    let range = pool.range();
    let lowest = pool.strategy() == PoolStrategy::LowestFree;
    let mut pool = pool;
    let mut model: BTreeSet<Ipv4Addr> = BTreeSet::new();
    for op in ops {
        match *op {
            Op::Reserve(off) => {
                let Some(ip) = ip_at(range, off) else {
                    continue;
                };
                let got = pool.reserve(ip);
                if !range.contains(ip) {
                    prop_assert_eq!(got, Err(PoolError::OutOfRange { ip, range }));
                } else if model.insert(ip) {
                    prop_assert_eq!(got, Ok(()));
                } else {
                    prop_assert_eq!(got, Err(PoolError::AlreadyUsed { ip, range }));
                }
            }
            Op::ReserveRange(off, n) => {
                let (Some(a), Some(b)) = (ip_at(range, off), ip_at(range, off + n - 1)) else {
                    continue;
                };
                let block = AddrRange::new(a, b);
                let got = pool.reserve_range(block);
                if range.contains(a) && range.contains(b) {
                    let before = model.len();
                    model.extend((u32::from(a)..=u32::from(b)).map(Ipv4Addr::from));
                    prop_assert_eq!(got, Ok((model.len() - before) as u64));
                } else {
                    prop_assert!(
                        matches!(got, Err(PoolError::OutOfRange { .. })),
                        "{:?}",
                        got
                    );
                }
            }
            Op::Allocate => match pool.allocate() {
                Ok(ip) => {
                    prop_assert!(range.contains(ip), "{} outside {}", ip, range);
                    prop_assert!(!forbidden.contains(&ip), "{} is forbidden", ip);
                    prop_assert!(model.insert(ip), "{} handed out twice", ip);
                    if lowest {
                        let expect = range
                            .as_u32()
                            .map(Ipv4Addr::from)
                            .find(|a| !model.contains(a) || *a == ip);
                        prop_assert_eq!(Some(ip), expect, "not the lowest free");
                    }
                }
                Err(e) => {
                    prop_assert_eq!(model.len() as u64, range.len(), "{} while not full", e);
                    prop_assert_eq!(
                        e,
                        PoolError::Exhausted {
                            range,
                            size: range.len()
                        }
                    );
                }
            },
            Op::Release(off) => {
                let Some(ip) = ip_at(range, off) else {
                    continue;
                };
                prop_assert_eq!(pool.release(ip), model.remove(&ip));
            }
            Op::ReleaseUsed(n) => {
                if model.is_empty() {
                    continue;
                }
                let ip = *model.iter().nth(n % model.len()).unwrap();
                prop_assert!(pool.is_used(ip));
                prop_assert!(pool.release(ip));
                prop_assert!(!pool.is_used(ip));
                model.remove(&ip);
            }
            Op::Restore => {
                let snap = pool.snapshot();
                let json = serde_json::to_string(&snap).unwrap();
                let back = IpPool::restore(serde_json::from_str(&json).unwrap()).unwrap();
                prop_assert_eq!(back.snapshot(), snap);
                // The restored pool continues exactly like the original.
                let (a, b) = (pool.allocate(), back.allocate());
                prop_assert_eq!(&a, &b);
                if let Ok(ip) = a {
                    pool.release(ip);
                    back.release(ip);
                }
                pool = back;
            }
        }
        prop_assert_eq!(pool.used(), model.len() as u64);
        prop_assert_eq!(pool.free(), range.len() - model.len() as u64);
    }
    prop_assert_eq!(pool.used_addrs(), model.iter().copied().collect::<Vec<_>>());
    let iter = pool.iter_used();
    prop_assert_eq!(iter.len(), model.len());
    prop_assert!(
        iter.eq(model.iter().copied()),
        "iter_used differs from the model"
    );
    let runs = pool.used_runs();
    prop_assert_eq!(
        runs.iter().map(AddrRange::len).sum::<u64>(),
        model.len() as u64
    );
    prop_assert!(
        runs.windows(2)
            .all(|w| u32::from(w[0].end) + 1 < u32::from(w[1].start)),
        "runs not maximal"
    );
    Ok(())
}

/// A range: any start (near the ends of the address space too) and a size from a set that
/// crosses every word, chunk and summary boundary.
fn range() -> impl Strategy<Value = AddrRange> {
    let len = prop_oneof![
        Just(1u64),
        Just(2),
        Just(14),
        Just(63),
        Just(64),
        Just(65),
        Just(200),
        Just(4095),
        Just(4096),
        Just(4097),
        Just(8200),
        Just(262_145),
        Just(1 << 24),
        1..10_000u64,
    ];
    (len, prop_oneof![any::<u32>(), Just(0u32), Just(u32::MAX)]).prop_map(|(len, s)| {
        let start = u64::from(s).min((1u64 << 32) - len);
        AddrRange::new(
            Ipv4Addr::from(start as u32),
            Ipv4Addr::from((start + len - 1) as u32),
        )
    })
}

fn pool_and_ops() -> impl Strategy<Value = (AddrRange, PoolStrategy, Vec<Op>)> {
    (
        range(),
        prop_oneof![
            Just(PoolStrategy::LowestFree),
            any::<u64>().prop_map(|seed| PoolStrategy::Random { seed })
        ],
    )
        .prop_flat_map(|(r, s)| {
            (
                Just(r),
                Just(s),
                proptest::collection::vec(op(r.len()), 1..120),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn pool_matches_the_model((r, s, ops) in pool_and_ops()) {
        check(IpPool::with_strategy(r, s), &ops, &[])?;
    }

    /// Small ranges filled to the brim: every allocation until exhaustion, then churn.
    #[test]
    fn small_pools_fill_and_churn(len in 1u64..300, start in any::<u32>(), seed in any::<u64>(), random in any::<bool>(), ops in proptest::collection::vec(op(300), 0..60)) {
        let start = u64::from(start).min((1u64 << 32) - len) as u32;
        let r = AddrRange::new(Ipv4Addr::from(start), Ipv4Addr::from(start + (len - 1) as u32));
        let s = if random { PoolStrategy::Random { seed } } else { PoolStrategy::LowestFree };
        let mut all = vec![Op::Allocate; len as usize + 2];
        all.extend(ops);
        all.extend(std::iter::repeat_n(Op::Allocate, 50));
        check(IpPool::with_strategy(r, s), &all, &[])?;
    }

    /// Pools built from a plan never hand out the network, broadcast, gateway, netd, .3,
    /// infrastructure-block or DHCP-range addresses.
    #[test]
    fn plan_pools_never_hand_out_special_addresses(prefix in 8u8..=28, net in any::<u32>(), ops in proptest::collection::vec(op(300), 1..80)) {
        let subnet = Ipv4Net::new(Ipv4Addr::from(net), prefix).unwrap().trunc();
        let plan = AddressPlan::new(subnet).unwrap();
        let pool = IpPool::for_plan(&plan);
        prop_assert_eq!(pool.range(), plan.static_range());
        let mut forbidden = vec![plan.network(), plan.broadcast(), plan.gateway(), plan.netd(), plan.reserved()];
        forbidden.extend(plan.infra_block().as_u32().map(Ipv4Addr::from));
        forbidden.push(plan.dhcp_range().start);
        forbidden.push(plan.dhcp_range().end);
        // Fill a small plan completely, then run the ops.
        let fill = if plan.static_range().len() <= 300 { plan.static_range().len() as usize + 1 } else { 0 };
        let mut all = vec![Op::Allocate; fill];
        all.extend(ops);
        check(pool, &all, &forbidden)?;
    }
}
