//! Behaviour of the IP pool that users rely on, one case at a time.

use std::net::Ipv4Addr;

use hub_net::{AddrRange, AddressPlan, IpAllocator, IpPool, PoolError, PoolSnapshot, Strategy};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
fn range(a: &str, b: &str) -> AddrRange {
    AddrRange::new(ip(a), ip(b))
}

#[test]
fn lowest_free_fills_in_order_and_reuses_released() {
    let pool = IpPool::new(range("10.0.0.10", "10.0.0.14"));
    assert_eq!(pool.allocate().unwrap(), ip("10.0.0.10"));
    assert_eq!(pool.allocate().unwrap(), ip("10.0.0.11"));
    pool.reserve(ip("10.0.0.12")).unwrap();
    assert_eq!(pool.allocate().unwrap(), ip("10.0.0.13"));
    assert!(pool.release(ip("10.0.0.11")));
    assert!(
        !pool.release(ip("10.0.0.11")),
        "second release reports it was free"
    );
    assert_eq!(pool.allocate().unwrap(), ip("10.0.0.11"));
    assert_eq!(pool.allocate().unwrap(), ip("10.0.0.14"));
    assert_eq!((pool.used(), pool.free()), (5, 0));
    let e = pool.allocate().unwrap_err();
    assert_eq!(
        e,
        PoolError::Exhausted {
            range: pool.range(),
            size: 5
        }
    );
    assert!(e.to_string().contains("10.0.0.10-10.0.0.14"), "{e}");
}

#[test]
fn reserve_errors_name_the_address_and_the_range() {
    let pool = IpPool::new(range("10.0.0.10", "10.0.0.20"));
    pool.reserve(ip("10.0.0.15")).unwrap();
    let e = pool.reserve(ip("10.0.0.15")).unwrap_err().to_string();
    assert!(
        e.contains("10.0.0.15") && e.contains("10.0.0.10-10.0.0.20") && e.contains("in use"),
        "{e}"
    );
    let e = pool.reserve(ip("10.0.0.21")).unwrap_err().to_string();
    assert!(
        e.contains("10.0.0.21") && e.contains("10.0.0.10-10.0.0.20") && e.contains("outside"),
        "{e}"
    );
    assert!(!pool.release(ip("10.0.0.9")));
    assert!(!pool.is_used(ip("10.0.0.9")));
    assert!(pool.is_used(ip("10.0.0.15")));
    assert!(pool.contains(ip("10.0.0.20")) && !pool.contains(ip("10.0.0.21")));
}

#[test]
fn empty_range_is_always_exhausted() {
    let pool = IpPool::new(range("10.0.0.10", "10.0.0.9"));
    assert_eq!((pool.used(), pool.free()), (0, 0));
    assert!(matches!(pool.allocate(), Err(PoolError::Exhausted { .. })));
    assert!(matches!(
        pool.reserve(ip("10.0.0.10")),
        Err(PoolError::OutOfRange { .. })
    ));
}

#[test]
fn whole_address_space_edges() {
    let pool = IpPool::new(range("255.255.255.250", "255.255.255.255"));
    for _ in 0..6 {
        pool.allocate().unwrap();
    }
    assert_eq!(pool.used_addrs().last(), Some(&ip("255.255.255.255")));
    assert!(pool.allocate().is_err());
    let all = IpPool::random(range("0.0.0.0", "255.255.255.255"), 9);
    assert_eq!(all.free(), 1 << 32);
    let a = all.allocate().unwrap();
    assert!(all.is_used(a));
    pool.release(ip("255.255.255.255"));
    assert_eq!(pool.allocate().unwrap(), ip("255.255.255.255"));
}

#[test]
fn plan_pool_stays_in_the_static_range() {
    let plan = AddressPlan::new("172.19.5.0/24".parse().unwrap()).unwrap();
    let pool = IpPool::for_plan(&plan);
    let mut got = Vec::new();
    while let Ok(a) = pool.allocate() {
        got.push(a);
    }
    assert_eq!(got.first(), Some(&ip("172.19.5.30")));
    assert_eq!(got.last(), Some(&ip("172.19.5.199")));
    assert_eq!(got.len(), 170);
    assert!(got.iter().all(|a| plan.static_range().contains(*a)));
}

#[test]
fn random_is_reproducible_from_the_seed() {
    let r = range("10.0.0.0", "10.15.255.255");
    let draw = |seed| {
        let p = IpPool::random(r, seed);
        (0..50).map(|_| p.allocate().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(draw(42), draw(42));
    assert_ne!(draw(42), draw(43));
    let a = draw(42);
    let mut sorted = a.clone();
    sorted.sort();
    assert_ne!(a, sorted, "random allocation is not in ascending order");
}

#[test]
fn snapshot_is_compact_round_trips_and_continues_identically() {
    let p = IpPool::random(range("10.0.0.0", "10.0.255.255"), 5);
    for i in 0..100u32 {
        p.reserve(Ipv4Addr::from(u32::from(ip("10.0.1.0")) + i))
            .unwrap();
    }
    for _ in 0..10 {
        p.allocate().unwrap();
    }
    let snap = p.snapshot();
    assert!(snap.used_runs().len() <= 11, "runs: {:?}", snap.used_runs());
    assert_eq!(snap.used(), 110);
    assert_eq!(snap.strategy(), Strategy::Random { seed: 5 });
    let json = serde_json::to_string(&snap).unwrap();
    let back = IpPool::restore(serde_json::from_str::<PoolSnapshot>(&json).unwrap()).unwrap();
    assert_eq!(back.snapshot(), snap);
    assert_eq!(back.used_addrs(), p.used_addrs());
    for _ in 0..20 {
        assert_eq!(back.allocate().unwrap(), p.allocate().unwrap());
    }
}

#[test]
fn bad_snapshots_are_refused_with_the_reason() {
    let ok = IpPool::new(range("10.0.0.0", "10.0.0.255"));
    ok.reserve(ip("10.0.0.5")).unwrap();
    let json = serde_json::to_string(&ok.snapshot()).unwrap();
    for (from, to, why) in [
        (
            "\"10.0.0.5\",\"end\":\"10.0.0.5\"",
            "\"10.0.1.5\",\"end\":\"10.0.1.5\"",
            "outside",
        ),
        (
            "\"10.0.0.5\",\"end\":\"10.0.0.5\"",
            "\"10.0.0.6\",\"end\":\"10.0.0.5\"",
            "start after its end",
        ),
        (
            "{\"start\":\"10.0.0.5\",\"end\":\"10.0.0.5\"}",
            "{\"start\":\"10.0.0.5\",\"end\":\"10.0.0.9\"},{\"start\":\"10.0.0.8\",\"end\":\"10.0.0.9\"}",
            "not after",
        ),
    ] {
        let bad = json.replace(from, to);
        assert_ne!(bad, json);
        let e = IpPool::restore(serde_json::from_str(&bad).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains(why) && e.contains("10.0.0.0-10.0.0.255"), "{e}");
    }
}

#[test]
fn works_as_a_shared_trait_object() {
    let pool: std::sync::Arc<dyn IpAllocator> =
        std::sync::Arc::new(IpPool::new(range("10.0.0.1", "10.0.0.3")));
    let other = pool.clone();
    assert_eq!(other.allocate().unwrap(), ip("10.0.0.1"));
    assert!(pool.is_used(ip("10.0.0.1")));
}

#[test]
fn snapshot_json_is_runs_and_a_missing_generator_state_restarts_from_the_seed() {
    let p = IpPool::random(range("10.1.0.0", "10.1.255.255"), 21);
    p.reserve_range(range("10.1.2.0", "10.1.5.255")).unwrap();
    let json = serde_json::to_string(&p.snapshot()).unwrap();
    assert!(json.len() < 200, "1024 addresses in one run: {json}");
    assert!(
        json.contains(r#"{"start":"10.1.2.0","end":"10.1.5.255"}"#),
        "{json}"
    );
    let without_state: serde_json::Value = {
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v.as_object_mut().unwrap().remove("rng_state").unwrap();
        v
    };
    let back = IpPool::restore(serde_json::from_value(without_state).unwrap()).unwrap();
    for _ in 0..10 {
        assert_eq!(back.allocate().unwrap(), p.allocate().unwrap());
    }
    let lowest = IpPool::new(range("10.1.0.0", "10.1.0.255"));
    let json = serde_json::to_string(&lowest.snapshot()).unwrap();
    assert!(!json.contains("rng_state"), "{json}");
}

#[test]
fn reserve_range_counts_new_addresses_and_refuses_blocks_outside() {
    let p = IpPool::new(range("10.0.0.0", "10.0.0.255"));
    p.reserve(ip("10.0.0.20")).unwrap();
    assert_eq!(p.reserve_range(range("10.0.0.10", "10.0.0.29")), Ok(19));
    assert_eq!(p.used(), 20);
    let e = p
        .reserve_range(range("10.0.0.250", "10.0.1.5"))
        .unwrap_err();
    assert_eq!(
        e,
        PoolError::OutOfRange {
            ip: ip("10.0.1.5"),
            range: p.range()
        }
    );
    assert_eq!(p.used(), 20, "a refused block changes nothing");
    assert_eq!(p.allocate().unwrap(), ip("10.0.0.0"));
}

#[test]
fn dhcp_pool_covers_the_plan_dhcp_range() {
    let plan = AddressPlan::new("10.202.7.0/24".parse().unwrap()).unwrap();
    let pool = IpPool::for_dhcp(&plan);
    assert_eq!(pool.range(), plan.dhcp_range());
    assert_eq!(pool.allocate().unwrap(), ip("10.202.7.200"));
}
