//! The DHCPv4 packet handler: a pure function of the state, a request and the time.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Flags, HType, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Encodable};

use tracing::info;

use super::hostname::{fqdn_option_label, sanitize_label};
use super::leases::{DhcpState, Entry, OFFER_SECS};
use crate::netd::{ClientRouter, MacAddr};

/// Where a reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// 255.255.255.255:68 (the client has no address yet, asked for broadcast, or a NAK).
    Broadcast,
    /// The client's own address, port 68.
    Unicast(Ipv4Addr),
    /// A relay agent (giaddr), port 67.
    Relay(Ipv4Addr),
}

/// A reply and where to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The DHCP message.
    pub message: Message,
    /// Its destination.
    pub dest: Destination,
}

/// Decodes `bytes`, handles the request and encodes the reply. Never panics; anything that
/// is not a well-formed client request gets no answer.
pub fn handle_bytes(
    state: &mut DhcpState,
    bytes: &[u8],
    now: u64,
) -> Option<(Vec<u8>, Destination)> {
    let clean = sanitize(bytes)?;
    let msg = Message::from_bytes(&clean).ok()?;
    let reply = handle(state, &msg, now)?;
    let out = reply.message.to_vec().ok()?;
    Some((out, reply.dest))
}

/// Offset of the options (after the fixed header and the magic cookie).
const OPTIONS_AT: usize = 240;
const MAGIC: [u8; 4] = [99, 130, 83, 99];

/// Checks the fixed header of a client request and keeps only the options the server reads,
/// each with a length checked here, first occurrence only. dhcproto's option decoder trusts
/// some lengths (debug assertions, subtractions); it never sees an option we did not check.
/// The host name (option 12, else the Client FQDN of option 81) is passed on as option 12,
/// already made into one DNS label.
pub fn sanitize(bytes: &[u8]) -> Option<Vec<u8>> {
    let header = bytes.get(..OPTIONS_AT)?;
    // op BOOTREQUEST, htype Ethernet, hlen 6, the magic cookie.
    if header[0] != 1 || header[1] != 1 || header[2] != 6 || header[236..240] != MAGIC {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len().min(OPTIONS_AT + 312));
    out.extend_from_slice(header);
    let mut seen = [false; 256];
    let (mut host, mut fqdn_host) = (None, None);
    let mut i = OPTIONS_AT;
    while let Some(&code) = bytes.get(i) {
        match code {
            0 => {
                i += 1;
                continue;
            }
            255 => break,
            _ => {}
        }
        let len = usize::from(*bytes.get(i + 1)?);
        let data = bytes.get(i + 2..i + 2 + len)?;
        i += 2 + len;
        let ok = match code {
            53 => len == 1,
            50 | 51 | 54 => len == 4,
            57 => len == 2,
            55 | 61 => len >= 1,
            12 => {
                host = host.or_else(|| sanitize_label(data));
                false
            }
            81 => {
                fqdn_host = fqdn_host.or_else(|| fqdn_option_label(data));
                false
            }
            _ => false,
        };
        if ok && !seen[usize::from(code)] {
            seen[usize::from(code)] = true;
            out.push(code);
            out.push(len as u8);
            out.extend_from_slice(data);
        }
    }
    if let Some(h) = host.or(fqdn_host) {
        out.push(12);
        out.push(h.len() as u8); // at most 63 bytes
        out.extend_from_slice(h.as_bytes());
    }
    out.push(255);
    Some(out)
}

/// Handles one DHCP request. Returns the reply to send, if any.
///
/// Only BOOTREQUESTs from Ethernet clients (hlen 6) carrying a message type are answered:
/// DISCOVER → OFFER, REQUEST → ACK/NAK (selecting, init-reboot, renewing, rebinding),
/// INFORM → ACK; RELEASE and DECLINE update the state silently.
pub fn handle(state: &mut DhcpState, msg: &Message, now: u64) -> Option<Reply> {
    state.take_probe_wanted();
    if msg.opcode() != Opcode::BootRequest || msg.htype() != HType::Eth || msg.hlen() != 6 {
        return None;
    }
    let chaddr = msg.chaddr();
    let mac = MacAddr(chaddr.get(..6)?.try_into().ok()?);
    if mac.0 == [0; 6] || mac.0[0] & 1 == 1 {
        return None; // no client has a zero or multicast hardware address
    }
    let opts = msg.opts();
    let server_id = match opts.get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
        _ => None,
    };
    let requested = match opts.get(OptionCode::RequestedIpAddress) {
        Some(DhcpOption::RequestedIpAddress(ip)) => Some(*ip),
        _ => None,
    };
    let hostname = match opts.get(OptionCode::Hostname) {
        Some(DhcpOption::Hostname(h)) => sanitize_label(h.as_bytes()),
        _ => None,
    };
    match opts.msg_type()? {
        MessageType::Discover => discover(state, msg, mac, requested, hostname, now),
        MessageType::Request => request(state, msg, mac, server_id, requested, hostname, now),
        MessageType::Release => {
            if server_id.is_none_or(|s| s == state.config.server_ip)
                && state.entry(&mac).is_some_and(|e| e.ip == msg.ciaddr())
            {
                state.remove(&mac);
            }
            None
        }
        MessageType::Decline => {
            let ip = requested?;
            if server_id.is_none_or(|s| s == state.config.server_ip)
                && state.entry(&mac).is_some_and(|e| e.ip == ip)
            {
                state.remove(&mac);
                state.decline(ip, now);
            }
            None
        }
        MessageType::Inform => {
            let ciaddr = msg.ciaddr();
            if !inside(state, ciaddr) {
                return None;
            }
            let mut m = base_reply(state, msg, MessageType::Ack, Ipv4Addr::UNSPECIFIED);
            add_config_options(state, &mut m, &mac, false);
            let dest = destination(msg, false);
            Some(Reply { message: m, dest })
        }
        _ => None,
    }
}

fn inside(state: &DhcpState, ip: Ipv4Addr) -> bool {
    let net = state.config.subnet;
    net.contains(&ip) && ip != net.network() && ip != net.broadcast()
}

/// The address to offer `mac`: its reservation, its current address, the one it asks for,
/// or the next free one.
fn pick(
    state: &mut DhcpState,
    mac: &MacAddr,
    requested: Option<Ipv4Addr>,
    now: u64,
) -> Option<Ipv4Addr> {
    if let Some(r) = state.config.reservations.get(mac) {
        return Some(r.ip);
    }
    if let Some(e) = state.entry(mac)
        && state.dynamic_free_for(e.ip, mac, now)
    {
        return Some(e.ip);
    }
    if let Some(ip) = requested
        && state.dynamic_free_for(ip, mac, now)
    {
        return Some(ip);
    }
    state.next_free(mac, now)
}

fn discover(
    state: &mut DhcpState,
    msg: &Message,
    mac: MacAddr,
    requested: Option<Ipv4Addr>,
    hostname: Option<String>,
    now: u64,
) -> Option<Reply> {
    let ip = pick(state, &mac, requested, now)?;
    let keep = state.entry(&mac).filter(|e| e.ip == ip && e.bound).cloned();
    let entry = match keep {
        Some(e) => e, // a bound client re-discovering keeps its lease as it is
        None => {
            state.want_probe(mac, ip, now);
            Entry {
                ip,
                expires: now + OFFER_SECS,
                bound: false,
                hostname,
            }
        }
    };
    state.set(mac, entry);
    let mut m = base_reply(state, msg, MessageType::Offer, ip);
    add_config_options(state, &mut m, &mac, true);
    Some(Reply {
        message: m,
        dest: destination(msg, false),
    })
}

fn request(
    state: &mut DhcpState,
    msg: &Message,
    mac: MacAddr,
    server_id: Option<Ipv4Addr>,
    requested: Option<Ipv4Addr>,
    hostname: Option<String>,
    now: u64,
) -> Option<Reply> {
    let ciaddr = msg.ciaddr();
    let (ip, may_take_free) = match (server_id, requested) {
        (Some(sid), _) if sid != state.config.server_ip => {
            // The client chose another server: forget our offer.
            if state.entry(&mac).is_some_and(|e| !e.bound) {
                state.remove(&mac);
            }
            return None;
        }
        // SELECTING: the address we offered.
        (Some(_), req) => (req.or(Some(ciaddr).filter(|c| !c.is_unspecified()))?, false),
        // INIT-REBOOT: the address it remembers.
        (None, Some(req)) => (req, true),
        // RENEWING / REBINDING: the address it holds.
        (None, None) if !ciaddr.is_unspecified() => (ciaddr, true),
        (None, None) => return None,
    };
    let ours = match state.config.reservations.get(&mac) {
        Some(r) => r.ip == ip,
        None => {
            let held = state.entry(&mac).is_some_and(|e| e.ip == ip)
                && state.dynamic_free_for(ip, &mac, now);
            held || (may_take_free && state.dynamic_free_for(ip, &mac, now))
        }
    };
    if !ours {
        // Not an address this client may have: a NAK makes it start over with DISCOVER.
        return Some(nak(state, msg));
    }
    let hostname = lease_name(state, &mac, ip, hostname, now);
    state.set(
        mac,
        Entry {
            ip,
            expires: now + u64::from(state.config.lease_secs),
            bound: true,
            hostname,
        },
    );
    let mut m = base_reply(state, msg, MessageType::Ack, ip);
    add_config_options(state, &mut m, &mac, true);
    Some(Reply {
        message: m,
        dest: destination(msg, false),
    })
}

/// The name a lease gets: a reservation's own (it wins over what the client calls itself);
/// for a dynamic client, the label it sends (or held), unless a workload or another live
/// lease has it: first come keeps a name, and a second claimant gets its lease without one.
fn lease_name(
    state: &DhcpState,
    mac: &MacAddr,
    ip: Ipv4Addr,
    sent: Option<String>,
    now: u64,
) -> Option<String> {
    if let Some(r) = state.config.reservations.get(mac) {
        return r.hostname.clone().or(sent);
    }
    let held = state.entry(mac).and_then(|e| e.hostname.clone());
    let wanted = sent.or(held)?;
    if state.name_free_for(&wanted, mac, now) {
        return Some(wanted);
    }
    info!(
        %mac,
        %ip,
        name = %state.config.fqdn(&wanted),
        "host name taken by a workload or another lease: this lease gets no DNS name"
    );
    None
}

fn nak(state: &DhcpState, msg: &Message) -> Reply {
    let mut m = base_reply(state, msg, MessageType::Nak, Ipv4Addr::UNSPECIFIED);
    m.set_ciaddr(Ipv4Addr::UNSPECIFIED);
    m.opts_mut().insert(DhcpOption::Message(
        "address not available from this server".into(),
    ));
    Reply {
        message: m,
        dest: destination(msg, true),
    }
}

/// RFC 2131 4.1: relay → giaddr; NAK → broadcast; an address-holding client → unicast;
/// else broadcast (the client cannot answer ARP yet).
fn destination(msg: &Message, is_nak: bool) -> Destination {
    let giaddr = msg.giaddr();
    if !giaddr.is_unspecified() {
        Destination::Relay(giaddr)
    } else if is_nak || msg.ciaddr().is_unspecified() || msg.flags().broadcast() {
        Destination::Broadcast
    } else {
        Destination::Unicast(msg.ciaddr())
    }
}

fn base_reply(state: &DhcpState, req: &Message, kind: MessageType, yiaddr: Ipv4Addr) -> Message {
    let mut m = Message::default();
    m.set_opcode(Opcode::BootReply)
        .set_htype(HType::Eth)
        .set_xid(req.xid())
        .set_flags(if req.flags().broadcast() {
            Flags::default().set_broadcast()
        } else {
            Flags::default()
        })
        .set_ciaddr(req.ciaddr())
        .set_yiaddr(yiaddr)
        .set_giaddr(req.giaddr())
        .set_chaddr(req.chaddr().get(..6).unwrap_or(&[0; 6]));
    let opts = m.opts_mut();
    opts.insert(DhcpOption::MessageType(kind));
    opts.insert(DhcpOption::ServerIdentifier(state.config.server_ip));
    m
}

fn add_config_options(state: &DhcpState, m: &mut Message, mac: &MacAddr, lease: bool) {
    let c = &state.config;
    let net = c.subnet;
    let opts = m.opts_mut();
    if lease {
        let secs = c.lease_secs;
        opts.insert(DhcpOption::AddressLeaseTime(secs));
        opts.insert(DhcpOption::Renewal(secs / 2));
        opts.insert(DhcpOption::Rebinding(secs / 8 * 7));
    }
    opts.insert(DhcpOption::SubnetMask(net.netmask()));
    opts.insert(DhcpOption::BroadcastAddr(net.broadcast()));
    if let Some(mtu) = c.mtu {
        opts.insert(DhcpOption::InterfaceMtu(mtu));
    }
    let reserved = c.reservations.get(mac);
    match reserved.map_or(ClientRouter::Segment, |r| r.router) {
        ClientRouter::Segment => {
            opts.insert(DhcpOption::Router(vec![c.router]));
        }
        ClientRouter::Via(hop) => {
            opts.insert(DhcpOption::Router(vec![hop]));
        }
        ClientRouter::Off => {}
    }
    opts.insert(DhcpOption::DomainNameServer(vec![c.server_ip]));
    if !c.domain.is_empty() {
        opts.insert(DhcpOption::DomainName(c.domain.clone()));
    }
    if let Some(host) = reserved.and_then(|r| r.hostname.as_ref()) {
        opts.insert(DhcpOption::Hostname(host.clone()));
    }
}
