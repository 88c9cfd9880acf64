//! Handler tests: the exchanges, reservations, a DISCOVER flood, and hostile bytes.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Flags, HType, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Encodable};
use proptest::prelude::*;

use super::*;
use crate::netd::{ClientRouter, MacAddr, NetdConfig, Reservation};
use crate::plan::AddrRange;

const NOW: u64 = 1_000_000;
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const RESERVED_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x30]);
const RESERVED_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 30);

fn config(range_end: u8) -> NetdConfig {
    let mut c = NetdConfig::new(
        "10.9.0.0/24".parse().unwrap(),
        AddrRange::new(
            Ipv4Addr::new(10, 9, 0, 200),
            Ipv4Addr::new(10, 9, 0, range_end),
        ),
        "demo.lab",
    );
    c.reservations.push(Reservation {
        mac: RESERVED_MAC,
        ip: RESERVED_IP,
        hostname: Some("vm1".into()),
        router: Default::default(),
    });
    c
}

fn state(range_end: u8) -> DhcpState {
    DhcpState::new(DhcpConfig::from_config(&config(range_end)))
}

fn client(kind: MessageType, mac: MacAddr) -> Message {
    let mut m = Message::new_with_id(
        0x1234,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &mac.0,
    );
    m.set_opcode(Opcode::BootRequest).set_htype(HType::Eth);
    m.opts_mut().insert(DhcpOption::MessageType(kind));
    m
}

fn msg_type(m: &Message) -> MessageType {
    m.opts().msg_type().unwrap()
}

fn opt(m: &Message, code: OptionCode) -> Option<&DhcpOption> {
    m.opts().get(code)
}

/// DISCOVER then REQUEST (selecting); returns the ACK.
fn lease(st: &mut DhcpState, mac: MacAddr) -> Message {
    lease_as(st, mac, None, NOW)
}

/// DISCOVER then REQUEST (selecting), with a host name option if given; returns the ACK.
fn lease_as(st: &mut DhcpState, mac: MacAddr, name: Option<&str>, now: u64) -> Message {
    let with_name = |mut m: Message| {
        if let Some(n) = name {
            m.opts_mut().insert(DhcpOption::Hostname(n.into()));
        }
        m
    };
    let offer = handle(st, &with_name(client(MessageType::Discover, mac)), now)
        .unwrap()
        .message;
    assert_eq!(msg_type(&offer), MessageType::Offer);
    let mut req = with_name(client(MessageType::Request, mac));
    req.opts_mut().insert(DhcpOption::ServerIdentifier(SERVER));
    req.opts_mut()
        .insert(DhcpOption::RequestedIpAddress(offer.yiaddr()));
    let ack = handle(st, &req, now).unwrap();
    assert_eq!(msg_type(&ack.message), MessageType::Ack);
    assert_eq!(ack.dest, Destination::Broadcast);
    ack.message
}

#[test]
fn the_mtu_option_is_sent_only_when_the_segment_has_one() {
    let mac = MacAddr([2, 1, 2, 3, 4, 6]);
    let ack = lease(&mut state(254), mac);
    assert_eq!(opt(&ack, OptionCode::InterfaceMtu), None);
    let mut c = config(254);
    c.mtu = Some(1370);
    let mut st = DhcpState::new(DhcpConfig::from_config(&c));
    let ack = lease(&mut st, mac);
    assert_eq!(
        opt(&ack, OptionCode::InterfaceMtu),
        Some(&DhcpOption::InterfaceMtu(1370))
    );
    // A reserved client (a VM) gets it too.
    let ack = lease(&mut st, RESERVED_MAC);
    assert_eq!(ack.yiaddr(), RESERVED_IP);
    assert_eq!(
        opt(&ack, OptionCode::InterfaceMtu),
        Some(&DhcpOption::InterfaceMtu(1370))
    );
}

#[test]
fn unknown_client_gets_a_dynamic_address_with_all_options() {
    let mut st = state(254);
    let mac = MacAddr([2, 1, 2, 3, 4, 5]);
    let ack = lease(&mut st, mac);
    assert_eq!(ack.yiaddr(), Ipv4Addr::new(10, 9, 0, 200));
    assert_eq!(ack.opcode(), Opcode::BootReply);
    assert_eq!(ack.xid(), 0x1234);
    assert_eq!(ack.chaddr().get(..6), Some(&mac.0[..]));
    assert_eq!(
        opt(&ack, OptionCode::Router),
        Some(&DhcpOption::Router(vec![Ipv4Addr::new(10, 9, 0, 1)]))
    );
    assert_eq!(
        opt(&ack, OptionCode::DomainNameServer),
        Some(&DhcpOption::DomainNameServer(vec![SERVER]))
    );
    assert_eq!(
        opt(&ack, OptionCode::SubnetMask),
        Some(&DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)))
    );
    assert_eq!(
        opt(&ack, OptionCode::DomainName),
        Some(&DhcpOption::DomainName("demo.lab".into()))
    );
    assert_eq!(
        opt(&ack, OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(SERVER))
    );
    assert_eq!(
        opt(&ack, OptionCode::AddressLeaseTime),
        Some(&DhcpOption::AddressLeaseTime(3600))
    );
    assert_eq!(
        opt(&ack, OptionCode::Renewal),
        Some(&DhcpOption::Renewal(1800))
    );
    assert_eq!(
        opt(&ack, OptionCode::Rebinding),
        Some(&DhcpOption::Rebinding(3150))
    );
    assert_eq!(
        opt(&ack, OptionCode::BroadcastAddr),
        Some(&DhcpOption::BroadcastAddr(Ipv4Addr::new(10, 9, 0, 255)))
    );
    let snap = st.snapshot();
    assert_eq!(snap.leases.len(), 1);
    assert_eq!(snap.leases[0].mac, mac);
    assert_eq!(snap.leases[0].expires, NOW + 3600);
    assert!(st.take_dirty());
    // The same client gets the same address again.
    let again = lease(&mut st, mac);
    assert_eq!(again.yiaddr(), ack.yiaddr());
    // A second client gets another one.
    assert_eq!(
        lease(&mut st, MacAddr([2, 9, 9, 9, 9, 9])).yiaddr(),
        Ipv4Addr::new(10, 9, 0, 201)
    );
}

#[test]
fn reserved_client_gets_its_address_and_host_name() {
    let mut st = state(254);
    let ack = lease(&mut st, RESERVED_MAC);
    assert_eq!(ack.yiaddr(), RESERVED_IP);
    assert_eq!(
        opt(&ack, OptionCode::Hostname),
        Some(&DhcpOption::Hostname("vm1".into()))
    );
    assert_eq!(st.snapshot().leases[0].hostname.as_deref(), Some("vm1"));
}

#[test]
fn a_discover_flood_recycles_offers_but_never_leases_or_reservations() {
    let mut st = state(219); // 20 dynamic addresses
    let bound = lease(&mut st, MacAddr([2, 9, 9, 9, 9, 9])).yiaddr();
    let mut offered = std::collections::HashSet::new();
    for i in 0..5_000u32 {
        let b = i.to_be_bytes();
        let mac = MacAddr([0x06, 0xfe, b[0], b[1], b[2], b[3]]);
        let r = handle(&mut st, &client(MessageType::Discover, mac), NOW)
            .expect("a full range of offers is recycled");
        let ip = r.message.yiaddr();
        assert!(
            st.config.range.contains(ip),
            "{ip} offered outside the range"
        );
        assert_ne!(ip, bound, "a bound lease was recycled");
        offered.insert(ip);
    }
    assert_eq!(offered.len(), 19);
    assert!(!offered.contains(&RESERVED_IP));
    // The oldest offer went first: the last 19 flooders hold the 19 free addresses.
    for i in 5_000 - 19..5_000u32 {
        let b = i.to_be_bytes();
        assert!(
            st.entry(&MacAddr([0x06, 0xfe, b[0], b[1], b[2], b[3]]))
                .is_some()
        );
    }
    // A real client right after the flood gets a lease at once; the reserved client too.
    let fresh = lease(&mut st, MacAddr([2, 7, 7, 7, 7, 7])).yiaddr();
    assert!(st.config.range.contains(fresh) && fresh != bound);
    assert_eq!(lease(&mut st, RESERVED_MAC).yiaddr(), RESERVED_IP);
    // Once every dynamic address is leased, a new client gets nothing.
    for i in 0..30u8 {
        let mac = MacAddr([2, 8, 8, 8, 8, i]);
        if st.entry(&mac).is_none()
            && handle(&mut st, &client(MessageType::Discover, mac), NOW).is_some()
        {
            lease(&mut st, mac);
        }
    }
    assert_eq!(st.snapshot().leases.len(), 21);
    assert!(
        handle(
            &mut st,
            &client(MessageType::Discover, MacAddr([2, 6, 6, 6, 6, 6])),
            NOW
        )
        .is_none()
    );
    // Offers time out: expire drops them.
    let later = NOW + OFFER_SECS + 1;
    st.expire(later);
    assert_eq!(st.len(), 21);
}

#[test]
fn request_for_another_server_drops_our_offer() {
    let mut st = state(254);
    let mac = MacAddr([2, 1, 1, 1, 1, 1]);
    handle(&mut st, &client(MessageType::Discover, mac), NOW).unwrap();
    assert!(st.entry(&mac).is_some());
    let mut req = client(MessageType::Request, mac);
    req.opts_mut()
        .insert(DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 9, 0, 99)));
    req.opts_mut()
        .insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 9, 0, 200)));
    assert!(handle(&mut st, &req, NOW).is_none());
    assert!(st.entry(&mac).is_none());
}

#[test]
fn init_reboot_renew_rebind_and_nak() {
    let mut st = state(254);
    let mac = MacAddr([2, 1, 1, 1, 1, 2]);
    let ip = lease(&mut st, mac).yiaddr();
    // INIT-REBOOT with the right address: ACK.
    let mut req = client(MessageType::Request, mac);
    req.opts_mut().insert(DhcpOption::RequestedIpAddress(ip));
    assert_eq!(
        msg_type(&handle(&mut st, &req, NOW).unwrap().message),
        MessageType::Ack
    );
    // INIT-REBOOT with an address of another network: NAK, broadcast.
    let mut req = client(MessageType::Request, mac);
    req.opts_mut()
        .insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(
            192, 168, 1, 5,
        )));
    let nak = handle(&mut st, &req, NOW).unwrap();
    assert_eq!(msg_type(&nak.message), MessageType::Nak);
    assert_eq!(nak.dest, Destination::Broadcast);
    assert_eq!(nak.message.yiaddr(), Ipv4Addr::UNSPECIFIED);
    // The reserved address asked for by someone else: NAK.
    let mut req = client(MessageType::Request, mac);
    req.opts_mut()
        .insert(DhcpOption::RequestedIpAddress(RESERVED_IP));
    assert_eq!(
        msg_type(&handle(&mut st, &req, NOW).unwrap().message),
        MessageType::Nak
    );
    // RENEWING: ciaddr set, unicast answer, lease extended.
    let mut req = client(MessageType::Request, mac);
    req.set_ciaddr(ip);
    let ack = handle(&mut st, &req, NOW + 100).unwrap();
    assert_eq!(msg_type(&ack.message), MessageType::Ack);
    assert_eq!(ack.dest, Destination::Unicast(ip));
    assert_eq!(st.entry(&mac).unwrap().expires, NOW + 100 + 3600);
    // The same with the broadcast flag (REBINDING through a client that asks for it).
    req.set_flags(Flags::default().set_broadcast());
    assert_eq!(
        handle(&mut st, &req, NOW).unwrap().dest,
        Destination::Broadcast
    );
    // Another client claiming that address: NAK.
    let mut req = client(MessageType::Request, MacAddr([2, 5, 5, 5, 5, 5]));
    req.set_ciaddr(ip);
    assert_eq!(
        msg_type(&handle(&mut st, &req, NOW).unwrap().message),
        MessageType::Nak
    );
}

#[test]
fn release_and_decline() {
    let mut st = state(254);
    let mac = MacAddr([2, 1, 1, 1, 1, 3]);
    let ip = lease(&mut st, mac).yiaddr();
    let mut rel = client(MessageType::Release, mac);
    rel.set_ciaddr(ip);
    rel.opts_mut().insert(DhcpOption::ServerIdentifier(SERVER));
    assert!(handle(&mut st, &rel, NOW).is_none());
    assert!(st.entry(&mac).is_none());
    assert!(st.snapshot().leases.is_empty());

    let ip = lease(&mut st, mac).yiaddr();
    let mut dec = client(MessageType::Decline, mac);
    dec.opts_mut().insert(DhcpOption::RequestedIpAddress(ip));
    dec.opts_mut().insert(DhcpOption::ServerIdentifier(SERVER));
    assert!(handle(&mut st, &dec, NOW).is_none());
    // The declined address is not offered again for a while.
    let again = handle(&mut st, &client(MessageType::Discover, mac), NOW)
        .unwrap()
        .message;
    assert_ne!(again.yiaddr(), ip);
    let after = handle(
        &mut st,
        &client(MessageType::Discover, MacAddr([2, 4, 4, 4, 4, 4])),
        NOW,
    )
    .unwrap();
    assert_ne!(after.message.yiaddr(), ip);
}

#[test]
fn inform_gets_options_without_a_lease() {
    let mut st = state(254);
    let mut inf = client(MessageType::Inform, MacAddr([2, 1, 1, 1, 1, 4]));
    inf.set_ciaddr(Ipv4Addr::new(10, 9, 0, 40));
    let r = handle(&mut st, &inf, NOW).unwrap();
    assert_eq!(msg_type(&r.message), MessageType::Ack);
    assert_eq!(r.message.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(r.dest, Destination::Unicast(Ipv4Addr::new(10, 9, 0, 40)));
    assert!(opt(&r.message, OptionCode::AddressLeaseTime).is_none());
    assert!(opt(&r.message, OptionCode::Router).is_some());
    assert!(st.is_empty());
}

#[test]
fn leases_survive_a_reload_and_a_restart() {
    let mut st = state(254);
    let mac = MacAddr([2, 1, 1, 1, 1, 5]);
    let ip = lease(&mut st, mac).yiaddr();
    let file = st.snapshot();
    let mut fresh = state(254);
    fresh.load(&file, NOW + 10);
    assert_eq!(lease(&mut fresh, mac).yiaddr(), ip);
    // Expired leases are not loaded.
    let mut late = state(254);
    late.load(&file, NOW + 7200);
    assert!(late.is_empty());
    // A reload that reserves the address for another MAC drops the lease.
    let mut cfg = config(254);
    cfg.dhcp_range = AddrRange::new(Ipv4Addr::new(10, 9, 0, 210), Ipv4Addr::new(10, 9, 0, 254));
    cfg.reservations.push(Reservation {
        mac: MacAddr([2, 8, 8, 8, 8, 8]),
        ip,
        hostname: None,
        router: Default::default(),
    });
    st.set_config(DhcpConfig::from_config(&cfg));
    assert!(st.entry(&mac).is_none());
}

#[test]
fn replies_only_to_client_requests() {
    let mut st = state(254);
    let mac = MacAddr([2, 1, 1, 1, 1, 6]);
    let mut reply = client(MessageType::Discover, mac);
    reply.set_opcode(Opcode::BootReply);
    assert!(handle(&mut st, &reply, NOW).is_none());
    let mut no_type = client(MessageType::Discover, mac);
    no_type.opts_mut().remove(OptionCode::MessageType);
    assert!(handle(&mut st, &no_type, NOW).is_none());
    for kind in [MessageType::Offer, MessageType::Ack, MessageType::Nak] {
        assert!(handle(&mut st, &client(kind, mac), NOW).is_none());
    }
    assert!(
        handle(
            &mut st,
            &client(MessageType::Discover, MacAddr([0; 6])),
            NOW
        )
        .is_none()
    );
    assert!(
        handle(
            &mut st,
            &client(MessageType::Discover, MacAddr([1, 0, 0x5e, 0, 0, 1])),
            NOW
        )
        .is_none()
    );
    assert!(st.is_empty());
}

fn valid_packets() -> Vec<Vec<u8>> {
    let mac = MacAddr([2, 3, 3, 3, 3, 3]);
    let mut out = Vec::new();
    for kind in [
        MessageType::Discover,
        MessageType::Request,
        MessageType::Release,
        MessageType::Decline,
        MessageType::Inform,
    ] {
        let mut m = client(kind, mac);
        m.opts_mut()
            .insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 9, 0, 205)));
        m.opts_mut().insert(DhcpOption::ServerIdentifier(SERVER));
        m.opts_mut().insert(DhcpOption::Hostname("box".into()));
        out.push(m.to_vec().unwrap());
    }
    out
}

/// Whatever a reply offers is the client's reservation or lies in the dynamic range.
fn check_reply(st: &DhcpState, bytes: &[u8]) {
    let m = Message::from_bytes(bytes).expect("our replies decode");
    assert_eq!(m.opcode(), Opcode::BootReply);
    let y = m.yiaddr();
    assert!(
        y.is_unspecified()
            || st.config.range.contains(y)
            || st.config.reserved_ips.contains_key(&y),
        "reply hands out {y}"
    );
    if let Some(owner) = st.config.reserved_ips.get(&y) {
        assert_eq!(m.chaddr().get(..6), Some(&owner.0[..]));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        let mut st = state(254);
        if let Some((out, _)) = handle_bytes(&mut st, &bytes, NOW) {
            // Only a well-formed client request gets an answer.
            let req = Message::from_bytes(&bytes).expect("answered bytes decode");
            prop_assert_eq!(req.opcode(), Opcode::BootRequest);
            check_reply(&st, &out);
        }
    }

    #[test]
    fn mutated_valid_packets_never_panic_or_lie(
        which in 0usize..5,
        flips in proptest::collection::vec((0usize..400, any::<u8>()), 1..12),
        cut in proptest::option::of(0usize..400),
    ) {
        let mut st = state(254);
        let mut bytes = valid_packets()[which].clone();
        for (pos, val) in flips {
            if let Some(b) = bytes.get_mut(pos) {
                *b = val;
            }
        }
        if let Some(c) = cut {
            bytes.truncate(c);
        }
        if let Some((out, _)) = handle_bytes(&mut st, &bytes, NOW) {
            check_reply(&st, &out);
        }
    }
}

fn lease_named(st: &mut DhcpState, mac: MacAddr, name: &str, now: u64) -> Message {
    lease_as(st, mac, Some(name), now)
}

#[test]
fn dynamic_clients_get_names_first_come_first_served() {
    let mut st = state(254);
    let (a, b, c) = (
        MacAddr([2, 0, 0, 0, 1, 1]),
        MacAddr([2, 0, 0, 0, 1, 2]),
        MacAddr([2, 0, 0, 0, 1, 3]),
    );
    let ip_a = lease_named(&mut st, a, "Laptop.home.arpa", NOW).yiaddr();
    assert!(st.take_names_dirty());
    assert_eq!(st.dynamic_names(NOW), vec![("laptop".to_string(), ip_a)]);
    // The second claimant gets a lease without the name.
    let ip_b = lease_named(&mut st, b, "laptop", NOW).yiaddr();
    assert_ne!(ip_a, ip_b);
    assert_eq!(st.entry(&b).unwrap().hostname, None);
    // A workload's name (a reservation's host name, netd's own) is never given out.
    lease_named(&mut st, c, "VM1", NOW);
    assert_eq!(st.entry(&c).unwrap().hostname, None);
    lease_named(&mut st, c, "netd", NOW);
    assert_eq!(st.entry(&c).unwrap().hostname, None);
    assert_eq!(st.dynamic_names(NOW).len(), 1);
    // The holder renews and keeps it; when its lease ends the name is free again.
    lease_named(&mut st, a, "laptop", NOW + 10);
    assert_eq!(st.entry(&a).unwrap().hostname.as_deref(), Some("laptop"));
    let after = NOW + 10 + u64::from(st.config.lease_secs) + 1;
    st.expire(after);
    assert!(st.dynamic_names(after).is_empty());
    assert!(st.take_names_dirty());
    lease_named(&mut st, b, "laptop", after);
    assert_eq!(st.dynamic_names(after).len(), 1);
    assert_eq!(st.dynamic_names(after)[0].0, "laptop");
}

#[test]
fn a_client_fqdn_option_names_the_lease() {
    let mut st = state(254);
    let mac = MacAddr([2, 0, 0, 0, 2, 1]);
    let mut req = client(MessageType::Request, mac);
    req.set_ciaddr(Ipv4Addr::new(10, 9, 0, 230));
    let mut bytes = req.to_vec().unwrap();
    // Replace the end option by option 81 (E flag, wire format) and the end again.
    let end = bytes.iter().rposition(|b| *b == 255).unwrap();
    bytes.truncate(end);
    bytes.extend_from_slice(b"\x51\x0c\x05\x00\x00\x07Printer\x00\xff");
    let (reply, _) = handle_bytes(&mut st, &bytes, NOW).expect("an answer");
    assert_eq!(
        msg_type(&Message::from_bytes(&reply).unwrap()),
        MessageType::Ack
    );
    assert_eq!(
        st.dynamic_names(NOW),
        vec![("printer".to_string(), Ipv4Addr::new(10, 9, 0, 230))]
    );
}

#[test]
fn fresh_offers_want_a_probe_and_an_address_in_use_is_skipped() {
    let mut st = state(254);
    let mac = MacAddr([2, 0, 0, 0, 3, 1]);
    let first = handle(&mut st, &client(MessageType::Discover, mac), NOW)
        .unwrap()
        .message
        .yiaddr();
    assert_eq!(st.take_probe_wanted(), Some((mac, first)));
    // A device answered for it: set aside, the offer withdrawn, the next address offered.
    st.probed_in_use(first, &mac, NOW);
    assert!(st.entry(&mac).is_none());
    let second = handle(&mut st, &client(MessageType::Discover, mac), NOW)
        .unwrap()
        .message
        .yiaddr();
    assert_ne!(second, first);
    assert_eq!(st.take_probe_wanted(), Some((mac, second)));
    // Found free: not probed again for a while; bound clients and reservations never are.
    st.probed_free(second, NOW);
    handle(&mut st, &client(MessageType::Discover, mac), NOW).unwrap();
    assert_eq!(st.take_probe_wanted(), None);
    lease(&mut st, mac);
    handle(
        &mut st,
        &client(MessageType::Discover, mac),
        NOW + PROBED_SECS + 1,
    )
    .unwrap();
    assert_eq!(st.take_probe_wanted(), None);
    handle(&mut st, &client(MessageType::Discover, RESERVED_MAC), NOW).unwrap();
    assert_eq!(st.take_probe_wanted(), None);
    // After the decline time the address is offered again (probed anew).
    let later = NOW + DECLINE_SECS + 1;
    st.expire(later);
    let other = MacAddr([2, 0, 0, 0, 3, 2]);
    let r = handle(&mut st, &client(MessageType::Discover, other), later).unwrap();
    assert_eq!(st.take_probe_wanted(), Some((other, r.message.yiaddr())));
}

#[test]
fn a_segment_pool_offers_its_own_plan() {
    let mut c = config(254);
    let seg = crate::netd::config::tests::segment();
    let seg_mac = seg.reservations[0].mac;
    c.segments.push(seg);
    c.validate().unwrap();
    let view = c.segment_view(&c.segments[0]).unwrap();
    let mut st = DhcpState::new(DhcpConfig::from_config(&view));
    let offer = |st: &mut DhcpState, mac| {
        handle(st, &client(MessageType::Discover, mac), NOW)
            .unwrap()
            .message
    };
    let o = offer(&mut st, seg_mac);
    assert_eq!(
        o.yiaddr(),
        Ipv4Addr::new(10, 9, 1, 31),
        "its reservation there"
    );
    let seg_server = Ipv4Addr::new(10, 9, 1, 2);
    assert_eq!(
        opt(&o, OptionCode::Router),
        Some(&DhcpOption::Router(vec![Ipv4Addr::new(10, 9, 1, 30)]))
    );
    assert_eq!(
        opt(&o, OptionCode::DomainNameServer),
        Some(&DhcpOption::DomainNameServer(vec![seg_server]))
    );
    assert_eq!(
        opt(&o, OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(seg_server))
    );
    // A MAC reserved on the lab network only is a stranger here: the segment's range.
    let o = offer(&mut st, RESERVED_MAC);
    assert!(
        (200..=254).contains(&o.yiaddr().octets()[3]) && o.yiaddr().octets()[2] == 1,
        "{}",
        o.yiaddr()
    );
}

#[test]
fn a_reservation_gets_its_own_router_or_none() {
    // A router VM: it holds the segment's router address, and its route goes to the bridge.
    let router = Ipv4Addr::new(10, 9, 0, 30);
    let mut c = config(254);
    c.router = router;
    c.reservations[0].router = ClientRouter::Via(Ipv4Addr::new(10, 9, 0, 1));
    let other = MacAddr([2, 0, 0, 0, 0, 0x31]);
    c.reservations.push(Reservation {
        mac: other,
        ip: Ipv4Addr::new(10, 9, 0, 31),
        hostname: None,
        router: ClientRouter::Off,
    });
    c.validate().unwrap();
    let mut st = DhcpState::new(DhcpConfig::from_config(&c));
    let mut ack = |mac| {
        let offer = handle(&mut st, &client(MessageType::Discover, mac), NOW)
            .unwrap()
            .message;
        let mut req = client(MessageType::Request, mac);
        req.opts_mut()
            .insert(DhcpOption::RequestedIpAddress(offer.yiaddr()));
        req.opts_mut().insert(DhcpOption::ServerIdentifier(SERVER));
        (offer, handle(&mut st, &req, NOW).unwrap().message)
    };
    let (offer, acked) = ack(RESERVED_MAC);
    assert_eq!(acked.yiaddr(), router, "{acked:?}");
    for m in [&offer, &acked] {
        assert_eq!(
            opt(m, OptionCode::Router),
            Some(&DhcpOption::Router(vec![Ipv4Addr::new(10, 9, 0, 1)]))
        );
    }
    // A NIC whose VM routes by another NIC: an address, a resolver, no router.
    let (offer, acked) = ack(other);
    assert_eq!(acked.yiaddr(), Ipv4Addr::new(10, 9, 0, 31));
    for m in [&offer, &acked] {
        assert_eq!(opt(m, OptionCode::Router), None, "{m:?}");
        assert_eq!(
            opt(m, OptionCode::DomainNameServer),
            Some(&DhcpOption::DomainNameServer(vec![SERVER]))
        );
    }
    // Everyone else still gets the segment's router.
    let stranger = handle(
        &mut st,
        &client(MessageType::Discover, MacAddr([2, 0, 0, 0, 9, 9])),
        NOW,
    )
    .unwrap()
    .message;
    assert_eq!(
        opt(&stranger, OptionCode::Router),
        Some(&DhcpOption::Router(vec![router]))
    );
}
