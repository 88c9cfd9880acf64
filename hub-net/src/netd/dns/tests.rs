//! DNS handler tests: authority, reverse, NXDOMAIN, REFUSED, forwarding, hostile bytes.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use proptest::prelude::*;

use super::*;
use crate::netd::{DnsRecord, NetdConfig, Reservation};
use crate::plan::AddrRange;
use proptest::test_runner::TestCaseError;

fn config(upstreams: Vec<SocketAddr>) -> NetdConfig {
    let mut c = NetdConfig::new(
        "10.9.0.0/24".parse().unwrap(),
        AddrRange::new(Ipv4Addr::new(10, 9, 0, 200), Ipv4Addr::new(10, 9, 0, 254)),
        "Demo.Lab",
    );
    c.records.push(DnsRecord {
        name: "web".into(),
        ip: Ipv4Addr::new(10, 9, 0, 10),
    });
    c.records.push(DnsRecord {
        name: "db.demo.lab".into(),
        ip: Ipv4Addr::new(10, 9, 0, 11),
    });
    c.records.push(DnsRecord {
        name: "laptop".into(),
        ip: Ipv4Addr::new(10, 10, 0, 2),
    });
    c.reservations.push(Reservation {
        mac: "02:00:00:00:00:30".parse().unwrap(),
        ip: Ipv4Addr::new(10, 9, 0, 30),
        hostname: Some("vm1".into()),
        router: Default::default(),
    });
    c.upstreams = upstreams;
    c
}

fn query(name: &str, t: RecordType) -> Message {
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_str(name).unwrap(), t));
    m
}

fn reply(zone: &Zone, m: &Message) -> Message {
    match handle(zone, m) {
        DnsAnswer::Reply(r) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn a_of(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

#[test]
fn answers_the_lab_names_with_authority() {
    let zone = Zone::from_config(&config(vec![]));
    for (name, ip) in [
        ("web.demo.lab.", [10, 9, 0, 10]),
        ("WEB.Demo.LAB.", [10, 9, 0, 10]),
        ("db.demo.lab.", [10, 9, 0, 11]),
        ("vm1.demo.lab.", [10, 9, 0, 30]),
        ("gateway.demo.lab.", [10, 9, 0, 1]),
        ("netd.demo.lab.", [10, 9, 0, 2]),
    ] {
        let r = reply(&zone, &query(name, RecordType::A));
        assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{name}");
        assert!(r.metadata.authoritative);
        assert_eq!(r.metadata.id, 7);
        assert_eq!(r.metadata.message_type, MessageType::Response);
        assert_eq!(a_of(&r), vec![Ipv4Addr::from(ip)], "{name}");
    }
    // AAAA of a known name: NODATA with the SOA.
    let r = reply(&zone, &query("web.demo.lab.", RecordType::AAAA));
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    assert_eq!(r.authorities.len(), 1);
}

#[test]
fn unknown_names_in_the_domain_are_nxdomain() {
    let zone = Zone::from_config(&config(vec!["10.9.0.99:53".parse().unwrap()]));
    let r = reply(&zone, &query("nope.demo.lab.", RecordType::A));
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert!(r.metadata.authoritative);
    assert!(r.answers.is_empty());
}

#[test]
fn reverse_lookups() {
    let zone = Zone::from_config(&config(vec![]));
    let r = reply(&zone, &query("10.0.9.10.in-addr.arpa.", RecordType::PTR));
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    match &r.answers[0].data {
        RData::PTR(p) => assert_eq!(p.0.to_ascii(), "web.demo.lab."),
        other => panic!("{other:?}"),
    }
    let r = reply(&zone, &query("1.0.9.10.in-addr.arpa.", RecordType::PTR));
    match &r.answers[0].data {
        RData::PTR(p) => assert_eq!(p.0.to_ascii(), "gateway.demo.lab."),
        other => panic!("{other:?}"),
    }
    let r = reply(&zone, &query("77.0.9.10.in-addr.arpa.", RecordType::PTR));
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    // A VPN peer outside the subnet has its PTR too.
    let r = reply(&zone, &query("2.0.10.10.in-addr.arpa.", RecordType::PTR));
    match &r.answers[0].data {
        RData::PTR(p) => assert_eq!(p.0.to_ascii(), "laptop.demo.lab."),
        other => panic!("{other:?}"),
    }
    // Another address outside the subnet is not ours.
    let r = reply(&zone, &query("1.1.168.192.in-addr.arpa.", RecordType::PTR));
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn outside_names_are_refused_or_forwarded() {
    let zone = Zone::from_config(&config(vec![]));
    let r = reply(&zone, &query("example.com.", RecordType::A));
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    assert!(!r.metadata.recursion_available);
    let zone = Zone::from_config(&config(vec!["10.9.0.99:53".parse().unwrap()]));
    assert_eq!(
        handle(&zone, &query("example.com.", RecordType::A)),
        DnsAnswer::Forward
    );
}

#[test]
fn malformed_queries() {
    let zone = Zone::from_config(&config(vec![]));
    let mut resp = query("web.demo.lab.", RecordType::A);
    resp.metadata.message_type = MessageType::Response;
    assert_eq!(handle(&zone, &resp), DnsAnswer::Drop);
    let mut two = query("web.demo.lab.", RecordType::A);
    two.add_query(Query::query(
        Name::from_str("db.demo.lab.").unwrap(),
        RecordType::A,
    ));
    assert_eq!(
        reply(&zone, &two).metadata.response_code,
        ResponseCode::FormErr
    );
    let mut none = query("web.demo.lab.", RecordType::A);
    none.queries.clear();
    assert_eq!(
        reply(&zone, &none).metadata.response_code,
        ResponseCode::FormErr
    );
    let mut upd = query("web.demo.lab.", RecordType::A);
    upd.metadata.op_code = OpCode::Update;
    assert_eq!(
        reply(&zone, &upd).metadata.response_code,
        ResponseCode::NotImp
    );
}

#[test]
fn edns_and_bytes_round_trip() {
    let zone = Zone::from_config(&config(vec![]));
    let mut q = query("web.demo.lab.", RecordType::A);
    q.set_edns(Edns::new());
    let out = handle_bytes(&zone, &q.to_vec().unwrap()).unwrap().unwrap();
    let r = Message::from_vec(&out).unwrap();
    assert!(r.edns.is_some());
    assert_eq!(a_of(&r), vec![Ipv4Addr::new(10, 9, 0, 10)]);
    assert_eq!(handle_bytes(&zone, &[1, 2, 3]), Ok(None));
}

fn valid_queries() -> Vec<Vec<u8>> {
    [
        ("web.demo.lab.", RecordType::A),
        ("10.0.9.10.in-addr.arpa.", RecordType::PTR),
        ("nope.demo.lab.", RecordType::A),
        ("example.com.", RecordType::MX),
    ]
    .iter()
    .map(|(n, t)| query(n, *t).to_vec().unwrap())
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let zone = Zone::from_config(&config(vec![]));
        if let Ok(Some(out)) = handle_bytes(&zone, &bytes) {
            let req = Message::from_vec(&bytes).expect("answered bytes decode");
            let r = Message::from_vec(&out).expect("our answers decode");
            prop_assert_eq!(req.metadata.message_type, MessageType::Query);
            prop_assert_eq!(r.metadata.id, req.metadata.id);
            prop_assert_eq!(r.metadata.message_type, MessageType::Response);
        }
    }

    #[test]
    fn mutated_queries_never_panic_or_lie(
        which in 0usize..4,
        flips in proptest::collection::vec((0usize..60, any::<u8>()), 1..6),
    ) {
        let zone = Zone::from_config(&config(vec![]));
        let mut bytes = valid_queries()[which].clone();
        for (pos, val) in flips {
            if let Some(b) = bytes.get_mut(pos) { *b = val; }
        }
        if let Ok(Some(out)) = handle_bytes(&zone, &bytes) {
            let req = Message::from_vec(&bytes).expect("answered bytes decode");
            let r = Message::from_vec(&out).expect("our answers decode");
            prop_assert_eq!(r.metadata.id, req.metadata.id);
            // Any address given is one of the zone's.
            for ip in a_of(&r) {
                prop_assert!([[10, 9, 0, 10], [10, 9, 0, 11], [10, 9, 0, 30], [10, 9, 0, 1], [10, 9, 0, 2]]
                    .map(Ipv4Addr::from).contains(&ip));
            }
        }
    }
}

/// The fast path gives byte for byte what the full path gives, for any id and name case.
fn fast_equals_full(zone: &Zone, first: &[u8], second: &[u8]) -> Result<(), TestCaseError> {
    let mut cache = AnswerCache::default();
    cache.check_generation(1);
    if let (Some(q), Ok(Some(answer))) = (plain_query(first), handle_bytes(zone, first)) {
        cache.store(&q, first, &answer);
    }
    if let Some(q) = plain_query(second) {
        let mut out = Vec::new();
        if cache.answer(&q, second, &mut out) {
            // Equal as DNS messages (names compare case-insensitively; hickory's name
            // compression is case-sensitive, so the bytes may differ in pointers).
            let full = handle_bytes(zone, second);
            prop_assert!(matches!(full, Ok(Some(_))), "the full path does not answer");
            if let Ok(Some(full)) = full {
                let a = Message::from_vec(&full).expect("full answer decodes");
                let b = Message::from_vec(&out).expect("fast answer decodes");
                prop_assert_eq!(a, b);
            }
        }
    }
    Ok(())
}

/// `bytes` with another id and the case of its letters flipped.
fn variant(bytes: &[u8], id: u16) -> Vec<u8> {
    let mut v = bytes.to_vec();
    if v.len() >= 2 {
        v[..2].copy_from_slice(&id.to_be_bytes());
    }
    for b in v.iter_mut().skip(12) {
        if b.is_ascii_alphabetic() {
            *b ^= 0x20;
        }
    }
    v
}

#[test]
fn fast_path_serves_stored_answers() {
    let zone = Zone::from_config(&config(vec![]));
    let q = query("web.demo.lab.", RecordType::A).to_vec().unwrap();
    let mut cache = AnswerCache::default();
    let plain = plain_query(&q).expect("a plain query");
    let mut out = Vec::new();
    assert!(!cache.answer(&plain, &q, &mut out));
    let full = handle_bytes(&zone, &q).unwrap().unwrap();
    cache.store(&plain, &q, &full);
    let other = variant(&q, 4242);
    let plain2 = plain_query(&other).unwrap();
    assert!(cache.answer(&plain2, &other, &mut out));
    assert_eq!(Ok(Some(out.clone())), handle_bytes(&zone, &other)); // no compression differences here
    let r = Message::from_vec(&out).unwrap();
    assert_eq!(r.metadata.id, 4242);
    assert_eq!(r.queries[0].name().to_ascii(), "WEB.DEMO.LAB.");
    assert_eq!(a_of(&r), vec![Ipv4Addr::new(10, 9, 0, 10)]);
    cache.check_generation(7);
    assert!(cache.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn fast_path_matches_full_path(
        which in 0usize..4,
        flips in proptest::collection::vec((0usize..60, any::<u8>()), 0..4),
        id in any::<u16>(),
        edns in any::<bool>(),
    ) {
        let zone = Zone::from_config(&config(vec![]));
        let mut msg = Message::from_vec(&valid_queries()[which]).unwrap();
        if edns {
            msg.set_edns(Edns::new());
        }
        let mut bytes = msg.to_vec().unwrap();
        for (pos, val) in flips {
            if let Some(b) = bytes.get_mut(pos) { *b = val; }
        }
        fast_equals_full(&zone, &bytes, &variant(&bytes, id))?;
    }
}

#[test]
fn lease_names_never_shadow_a_workload() {
    let cfg = config(vec![]);
    let lease = Ipv4Addr::new(10, 9, 0, 201);
    let zone = Zone::from_config(&cfg).with_leases(
        &cfg,
        &[
            ("printer".into(), lease),
            ("web".into(), Ipv4Addr::new(10, 9, 0, 202)),
        ],
    );
    let r = reply(&zone, &query("printer.demo.lab.", RecordType::A));
    assert_eq!(a_of(&r), vec![lease]);
    let r = reply(&zone, &query("201.0.9.10.in-addr.arpa.", RecordType::PTR));
    assert!(
        matches!(&r.answers[0].data, RData::PTR(p) if p.0.to_ascii() == "printer.demo.lab."),
        "{r:?}"
    );
    // The workload keeps its name alone; the lease's address has no name.
    let r = reply(&zone, &query("web.demo.lab.", RecordType::A));
    assert_eq!(a_of(&r), vec![Ipv4Addr::new(10, 9, 0, 10)]);
    let r = reply(&zone, &query("202.0.9.10.in-addr.arpa.", RecordType::PTR));
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn a_plain_name_answers_with_the_askers_own_segment_address() {
    let mut c = config(vec![]);
    c.segments.push(crate::netd::SegmentConfig {
        name: "internal".into(),
        subnet: "10.9.1.0/24".parse().unwrap(),
        server_ip: Ipv4Addr::new(10, 9, 1, 2),
        router: None,
        dhcp_range: None,
        reservations: Vec::new(),
    });
    for (name, ip) in [
        ("fw", [10, 9, 0, 30]),
        ("fw", [10, 9, 1, 30]),
        ("fw.internal", [10, 9, 1, 30]),
    ] {
        c.records.push(DnsRecord {
            name: name.into(),
            ip: Ipv4Addr::from(ip),
        });
    }
    let zone = Zone::from_config(&c);
    assert!(zone.is_split());
    let ask = |from: [u8; 4], name: &str| match handle_from(
        &zone,
        &query(name, RecordType::A),
        Some(Ipv4Addr::from(from).into()),
    ) {
        DnsAnswer::Reply(r) => a_of(&r),
        other => panic!("expected a reply, got {other:?}"),
    };
    let (first, internal) = (Ipv4Addr::new(10, 9, 0, 30), Ipv4Addr::new(10, 9, 1, 30));
    assert_eq!(ask([10, 9, 0, 7], "fw.demo.lab."), [first]);
    assert_eq!(ask([10, 9, 1, 7], "fw.demo.lab."), [internal]);
    // From elsewhere (a VPN client), every address; a per-segment name is one address.
    assert_eq!(ask([10, 10, 0, 2], "fw.demo.lab."), [first, internal]);
    assert_eq!(ask([10, 9, 0, 7], "fw.internal.demo.lab."), [internal]);
    // A name with no address on the asker's segment still answers.
    assert_eq!(
        ask([10, 9, 1, 7], "web.demo.lab."),
        [Ipv4Addr::new(10, 9, 0, 10)]
    );
    assert!(!Zone::from_config(&config(vec![])).is_split());
}
