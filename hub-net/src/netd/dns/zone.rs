//! The lab's zone and the DNS query handler: a pure function of the zone and a query.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, NS, PTR, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use ipnet::{IpNet, Ipv4Net};

use crate::netd::NetdConfig;

/// TTL of the lab's records: short, since the lab changes.
pub const TTL: u32 = 30;
/// Largest UDP answer we send to a client that announced EDNS.
const EDNS_PAYLOAD: u16 = 1232;

/// What to do with a query.
#[derive(Debug, Clone, PartialEq)]
pub enum DnsAnswer {
    /// Send this reply.
    Reply(Message),
    /// A name outside the lab: relay the query to an upstream resolver.
    Forward,
    /// Not a well-formed query: send nothing.
    Drop,
}

/// The lab's names: A records in the domain, PTR records for their addresses; authoritative
/// for the whole subnet's reverse names.
#[derive(Debug, Clone)]
pub struct Zone {
    domain: Name,
    subnet: Ipv4Net,
    a: HashMap<Name, Vec<Ipv4Addr>>,
    ptr: HashMap<Name, Name>,
    soa: Record,
    ns: Record,
    forwarding: bool,
    /// Every segment's subnet when the lab has several (empty otherwise): a name with
    /// addresses on several answers an asker on one of them with that one's alone.
    views: Vec<Ipv4Net>,
}

impl Zone {
    /// The zone of a (validated) config: its records, its reservations' host names,
    /// `gateway.DOMAIN` and `netd.DOMAIN`.
    pub fn from_config(cfg: &NetdConfig) -> Self {
        let domain =
            Name::from_ascii(format!("{}.", cfg.domain_lower())).unwrap_or_else(|_| Name::root());
        let netd = fqdn_name(cfg, "netd");
        let mut zone = Zone {
            soa: Record::from_rdata(
                domain.clone(),
                TTL,
                RData::SOA(SOA::new(
                    netd.clone(),
                    fqdn_name(cfg, "hostmaster"),
                    1,
                    3600,
                    600,
                    86400,
                    TTL,
                )),
            ),
            ns: Record::from_rdata(domain.clone(), TTL, RData::NS(NS(netd))),
            domain,
            subnet: cfg.subnet,
            a: HashMap::new(),
            ptr: HashMap::new(),
            forwarding: !cfg.upstreams.is_empty(),
            views: if cfg.segments.is_empty() {
                Vec::new()
            } else {
                std::iter::once(cfg.subnet)
                    .chain(cfg.segments.iter().map(|s| s.subnet))
                    .collect()
            },
        };
        zone.add(cfg, "gateway", cfg.router);
        zone.add(cfg, "netd", cfg.server_ip);
        for r in &cfg.records {
            zone.add(cfg, &r.name, r.ip);
        }
        for r in &cfg.reservations {
            if let Some(h) = &r.hostname {
                zone.add(cfg, h, r.ip);
            }
        }
        zone
    }

    /// Adds the names of dynamic leases (label, address). A name the zone already has (a
    /// workload's) is never shadowed nor joined: the lease's name is left out.
    pub fn with_leases(mut self, cfg: &NetdConfig, leases: &[(String, Ipv4Addr)]) -> Self {
        for (label, ip) in leases {
            let name = fqdn_name(cfg, label);
            if !name.is_root() && !self.a.contains_key(&name) {
                self.add(cfg, label, *ip);
            }
        }
        self
    }

    fn add(&mut self, cfg: &NetdConfig, name: &str, ip: Ipv4Addr) {
        let name = fqdn_name(cfg, name);
        if name.is_root() {
            return;
        }
        let ips = self.a.entry(name.clone()).or_default();
        if !ips.contains(&ip) {
            ips.push(ip);
        }
        // The first name given for an address is its PTR (VPN peers' too, outside the subnet).
        self.ptr.entry(Name::from(ip)).or_insert(name);
    }

    /// Number of names with A records.
    pub fn len(&self) -> usize {
        self.a.len()
    }

    /// True when the zone has no names.
    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
    }

    /// Whether answers depend on the asker's segment (the lab has several): such answers
    /// are not kept in the answer cache.
    pub fn is_split(&self) -> bool {
        !self.views.is_empty()
    }

    /// Whether queries outside the zone are forwarded (else REFUSED).
    pub fn forwarding(&self) -> bool {
        self.forwarding
    }
}

fn fqdn_name(cfg: &NetdConfig, name: &str) -> Name {
    Name::from_ascii(format!("{}.", cfg.fqdn(name))).unwrap_or_else(|_| Name::root())
}

/// Decodes a query, answers it and encodes the answer; `Err(())` means forward it.
/// Never panics; garbage gets no answer (`Ok(None)`).
#[allow(clippy::result_unit_err)]
pub fn handle_bytes(zone: &Zone, bytes: &[u8]) -> Result<Option<Vec<u8>>, ()> {
    handle_bytes_from(zone, bytes, None)
}

/// [`handle_bytes`] for a query from `from` (a plain name then gets the address on the
/// asker's own segment, when it has one there).
#[allow(clippy::result_unit_err)]
pub fn handle_bytes_from(
    zone: &Zone,
    bytes: &[u8],
    from: Option<std::net::IpAddr>,
) -> Result<Option<Vec<u8>>, ()> {
    let Ok(req) = Message::from_vec(bytes) else {
        return Ok(None);
    };
    match handle_from(zone, &req, from) {
        DnsAnswer::Reply(m) => Ok(encode_udp(&m, &req)),
        DnsAnswer::Forward => Err(()),
        DnsAnswer::Drop => Ok(None),
    }
}

/// Encodes a reply for UDP, truncating it (TC, no records) when larger than the client takes.
pub fn encode_udp(reply: &Message, req: &Message) -> Option<Vec<u8>> {
    let limit = req
        .edns
        .as_ref()
        .map_or(512, |e| e.max_payload().clamp(512, EDNS_PAYLOAD)) as usize;
    let bytes = reply.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    reply.truncate().to_vec().ok()
}

/// Answers one query from the zone.
///
/// Only queries (QR=0) get an answer. Opcodes other than QUERY get NOTIMP, a message without
/// exactly one question FORMERR, a class other than IN REFUSED. Names in the lab domain and
/// addresses of the lab subnet are answered with authority (NXDOMAIN when unknown); other
/// names are forwarded when there are upstreams, else REFUSED.
pub fn handle(zone: &Zone, req: &Message) -> DnsAnswer {
    handle_from(zone, req, None)
}

/// [`handle`] for a query from `from`: in a lab of several segments, a name with an address
/// on the asker's segment answers with the addresses there alone.
pub fn handle_from(zone: &Zone, req: &Message, from: Option<std::net::IpAddr>) -> DnsAnswer {
    let md = &req.metadata;
    if md.message_type != MessageType::Query {
        return DnsAnswer::Drop;
    }
    if md.op_code != OpCode::Query {
        return DnsAnswer::Reply(reply(zone, req, ResponseCode::NotImp, false));
    }
    let [q] = req.queries.as_slice() else {
        return DnsAnswer::Reply(reply(zone, req, ResponseCode::FormErr, false));
    };
    if q.query_class() != DNSClass::IN {
        return DnsAnswer::Reply(reply(zone, req, ResponseCode::Refused, false));
    }
    let name = q.name();
    let qtype = q.query_type();
    if zone.domain.zone_of(name) {
        return DnsAnswer::Reply(answer_in_domain(zone, req, q, from));
    }
    if let Ok(IpNet::V4(net)) = name.parse_arpa_name()
        && net.prefix_len() == 32
        && (zone.subnet.contains(&net.addr()) || zone.ptr.contains_key(name))
    {
        let mut m = reply(zone, req, ResponseCode::NoError, true);
        match zone.ptr.get(name) {
            Some(target) => {
                if matches!(qtype, RecordType::PTR | RecordType::ANY) {
                    m.add_answer(Record::from_rdata(
                        name.clone(),
                        TTL,
                        RData::PTR(PTR(target.clone())),
                    ));
                }
            }
            None => m.metadata.response_code = ResponseCode::NXDomain,
        }
        return DnsAnswer::Reply(m);
    }
    if zone.forwarding {
        DnsAnswer::Forward
    } else {
        DnsAnswer::Reply(reply(zone, req, ResponseCode::Refused, false))
    }
}

/// A name inside the lab domain.
/// The addresses of `ips` on the asker's own segment, when it is on one of the lab's and
/// some are there; else all of them.
fn for_asker(zone: &Zone, ips: &[Ipv4Addr], from: Option<std::net::IpAddr>) -> Vec<Ipv4Addr> {
    let own = match from {
        Some(std::net::IpAddr::V4(a)) if ips.len() > 1 => {
            zone.views.iter().find(|n| n.contains(&a)).map(|net| {
                ips.iter()
                    .copied()
                    .filter(|ip| net.contains(ip))
                    .collect::<Vec<_>>()
            })
        }
        _ => None,
    };
    match own {
        Some(v) if !v.is_empty() => v,
        _ => ips.to_vec(),
    }
}

fn answer_in_domain(
    zone: &Zone,
    req: &Message,
    q: &Query,
    from: Option<std::net::IpAddr>,
) -> Message {
    let name = q.name();
    let qtype = q.query_type();
    let mut m = reply(zone, req, ResponseCode::NoError, true);
    if *name == zone.domain {
        match qtype {
            RecordType::SOA => {
                m.add_answer(zone.soa.clone());
            }
            RecordType::NS => {
                m.add_answer(zone.ns.clone());
            }
            RecordType::ANY => {
                m.add_answer(zone.soa.clone());
                m.add_answer(zone.ns.clone());
            }
            _ => {
                m.add_authority(zone.soa.clone());
            }
        }
        return m;
    }
    match zone.a.get(name) {
        Some(ips) if matches!(qtype, RecordType::A | RecordType::ANY) => {
            for ip in for_asker(zone, ips, from) {
                m.add_answer(Record::from_rdata(name.clone(), TTL, RData::A(A(ip))));
            }
        }
        Some(_) => {
            m.add_authority(zone.soa.clone());
        }
        None => {
            m.metadata.response_code = ResponseCode::NXDomain;
            m.add_authority(zone.soa.clone());
        }
    }
    m
}

/// A SERVFAIL answer to `req` (a forwarded query no upstream answered).
pub fn server_failure(zone: &Zone, req: &Message) -> Message {
    reply(zone, req, ResponseCode::ServFail, false)
}

fn reply(zone: &Zone, req: &Message, code: ResponseCode, authoritative: bool) -> Message {
    let mut m = Message::response(req.metadata.id, req.metadata.op_code);
    m.metadata.response_code = code;
    m.metadata.authoritative = authoritative;
    m.metadata.recursion_desired = req.metadata.recursion_desired;
    m.metadata.recursion_available = zone.forwarding;
    m.metadata.checking_disabled = req.metadata.checking_disabled;
    if req.queries.len() == 1 {
        m.queries = req.queries.clone();
    }
    if req.edns.is_some() {
        let mut e = Edns::new();
        e.set_max_payload(EDNS_PAYLOAD);
        m.set_edns(e);
    }
    m
}
