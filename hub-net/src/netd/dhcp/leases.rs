//! The DHCP state: the config's view DHCP needs, the lease table, declined addresses.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::netd::config::valid_dns_name;
use crate::netd::{ClientRouter, Lease, LeaseFile, MacAddr, NetdConfig};
use crate::plan::AddrRange;

/// How long an offered (not yet requested) address stays set aside for its client. Clients
/// request within a second or two; a short life keeps a flood of DISCOVERs from holding the
/// range (and when the range is full of offers, the oldest is recycled anyway).
pub const OFFER_SECS: u64 = 15;
/// How long a declined address (in use by someone unknown) is not handed out.
pub const DECLINE_SECS: u64 = 600;
/// How long an address found free by an ARP probe is offered without probing it again.
pub const PROBED_SECS: u64 = 30;

/// What DHCP serves, taken from [`NetdConfig`].
#[derive(Debug, Clone)]
pub struct DhcpConfig {
    /// netd's address (server identifier, DNS server).
    pub server_ip: Ipv4Addr,
    /// The lab subnet.
    pub subnet: Ipv4Net,
    /// The router option.
    pub router: Ipv4Addr,
    /// The dynamic range.
    pub range: AddrRange,
    /// Lease time in seconds.
    pub lease_secs: u32,
    /// The domain name option.
    pub domain: String,
    /// Reservations by MAC.
    pub reservations: HashMap<MacAddr, Reserved>,
    /// Reserved addresses, to MAC.
    pub reserved_ips: HashMap<Ipv4Addr, MacAddr>,
    /// The workloads' names (records, reservations' host names, `gateway`, `netd`), fully
    /// qualified and lowercase: a dynamic client can never take one.
    pub workload_names: HashSet<String>,
    /// The interface MTU option (26), when the segment needs one.
    pub mtu: Option<u16>,
}

/// What a reserved client gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserved {
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its host name, when valid.
    pub hostname: Option<String>,
    /// Its router option.
    pub router: ClientRouter,
}

impl DhcpConfig {
    /// The DHCP part of a (validated) config.
    pub fn from_config(cfg: &NetdConfig) -> Self {
        let mut reservations = HashMap::new();
        let mut reserved_ips = HashMap::new();
        for r in &cfg.reservations {
            let host = r
                .hostname
                .clone()
                .filter(|h| valid_dns_name(&h.to_ascii_lowercase()));
            reservations.insert(
                r.mac,
                Reserved {
                    ip: r.ip,
                    hostname: host,
                    router: r.router,
                },
            );
            reserved_ips.insert(r.ip, r.mac);
        }
        let workload_names = ["gateway", "netd"]
            .into_iter()
            .chain(cfg.records.iter().map(|r| r.name.as_str()))
            .chain(
                cfg.reservations
                    .iter()
                    .filter_map(|r| r.hostname.as_deref()),
            )
            .map(|n| cfg.fqdn(n))
            .collect();
        DhcpConfig {
            server_ip: cfg.server_ip,
            subnet: cfg.subnet,
            router: cfg.router,
            range: cfg.dhcp_range,
            lease_secs: cfg.lease_secs,
            domain: cfg.domain_lower(),
            reservations,
            reserved_ips,
            workload_names,
            mtu: cfg.mtu,
        }
    }

    /// The fully qualified name of a dynamic client's host name (a single label).
    pub fn fqdn(&self, label: &str) -> String {
        format!("{label}.{}", self.domain)
    }
}

/// One client's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The address.
    pub ip: Ipv4Addr,
    /// Seconds since the epoch when it ends.
    pub expires: u64,
    /// True once ACKed (persisted); false while only offered.
    pub bound: bool,
    /// The host name: a reservation's, or the DNS label a dynamic client holds in the lab
    /// domain (what it sent, sanitised, if no one else had it).
    pub hostname: Option<String>,
}

/// DHCP's whole state; the packet handler is a function of it and a packet.
#[derive(Debug, Clone)]
pub struct DhcpState {
    /// What to serve.
    pub config: DhcpConfig,
    by_mac: HashMap<MacAddr, Entry>,
    by_ip: HashMap<Ipv4Addr, MacAddr>,
    declined: HashMap<Ipv4Addr, u64>,
    /// Pending offers, oldest first (mac, address, expiry); stale items are skipped.
    offers: VecDeque<(MacAddr, Ipv4Addr, u64)>,
    /// Dynamic clients' DNS labels, to the client holding each.
    names: HashMap<String, MacAddr>,
    /// Addresses an ARP probe found free, until when that is trusted.
    probed: HashMap<Ipv4Addr, u64>,
    /// The fresh offer of the last packet handled, whose address wants an ARP probe.
    probe_wanted: Option<(MacAddr, Ipv4Addr)>,
    cursor: u32,
    dirty: bool,
    names_dirty: bool,
}

impl DhcpState {
    /// An empty state serving `config`.
    pub fn new(config: DhcpConfig) -> Self {
        let cursor = u32::from(config.range.start);
        DhcpState {
            config,
            by_mac: HashMap::new(),
            by_ip: HashMap::new(),
            declined: HashMap::new(),
            offers: VecDeque::new(),
            names: HashMap::new(),
            probed: HashMap::new(),
            probe_wanted: None,
            cursor,
            dirty: false,
            names_dirty: false,
        }
    }

    /// Loads persisted leases, dropping expired ones and ones that clash with the config
    /// (outside the subnet, or on an address reserved for another client).
    pub fn load(&mut self, file: &LeaseFile, now: u64) {
        for l in &file.leases {
            if l.expires <= now || !self.config.subnet.contains(&l.ip) {
                continue;
            }
            if self
                .config
                .reserved_ips
                .get(&l.ip)
                .is_some_and(|m| *m != l.mac)
            {
                continue;
            }
            if self.config.range.contains(l.ip) || self.config.reserved_ips.contains_key(&l.ip) {
                self.set(
                    l.mac,
                    Entry {
                        ip: l.ip,
                        expires: l.expires,
                        bound: true,
                        hostname: l.hostname.clone(),
                    },
                );
            }
        }
        self.dirty = false;
    }

    /// Replaces the config (on reload); leases on addresses now reserved for another client
    /// are dropped.
    pub fn set_config(&mut self, config: DhcpConfig) {
        self.config = config;
        let clash: Vec<MacAddr> = self
            .by_mac
            .iter()
            .filter(|(mac, e)| {
                self.config
                    .reserved_ips
                    .get(&e.ip)
                    .is_some_and(|m| m != *mac)
                    || !self.config.subnet.contains(&e.ip)
            })
            .map(|(m, _)| *m)
            .collect();
        for m in clash {
            self.remove(&m);
        }
        if !self.config.range.contains(Ipv4Addr::from(self.cursor)) {
            self.cursor = u32::from(self.config.range.start);
        }
    }

    /// The bound leases, for the lease file.
    pub fn snapshot(&self) -> LeaseFile {
        let mut leases: Vec<Lease> = self
            .by_mac
            .iter()
            .filter(|(_, e)| e.bound)
            .map(|(mac, e)| Lease {
                mac: *mac,
                ip: e.ip,
                hostname: e.hostname.clone(),
                expires: e.expires,
            })
            .collect();
        leases.sort_by_key(|l| l.ip);
        LeaseFile { leases }
    }

    /// True when bound leases changed since the last [`take_dirty`](Self::take_dirty).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// True when the dynamic clients' names may have changed since the last call.
    pub fn take_names_dirty(&mut self) -> bool {
        std::mem::take(&mut self.names_dirty)
    }

    /// The names of live dynamic leases (label, address), sorted: what DNS serves for them.
    pub fn dynamic_names(&self, now: u64) -> Vec<(String, Ipv4Addr)> {
        let mut names: Vec<(String, Ipv4Addr)> = self
            .names
            .iter()
            .filter_map(|(name, mac)| {
                let e = self.by_mac.get(mac)?;
                let live = e.bound && e.expires > now && e.hostname.as_ref() == Some(name);
                live.then(|| (name.clone(), e.ip))
            })
            .collect();
        names.sort();
        names
    }

    /// Whether the dynamic client `mac` may hold the DNS label `name` now: no workload has
    /// it and no other live lease holds it (first come keeps it).
    pub fn name_free_for(&self, name: &str, mac: &MacAddr, now: u64) -> bool {
        if self.config.workload_names.contains(&self.config.fqdn(name)) {
            return false;
        }
        match self.names.get(name) {
            None => true,
            Some(owner) if owner == mac => true,
            Some(owner) => self.by_mac.get(owner).is_none_or(|e| {
                !e.bound || e.expires <= now || e.hostname.as_deref() != Some(name)
            }),
        }
    }

    /// Drops every entry that has run out (offers and leases), so their addresses and names
    /// are free and DNS stops serving their names.
    pub fn expire(&mut self, now: u64) {
        let gone: Vec<MacAddr> = self
            .by_mac
            .iter()
            .filter(|(_, e)| e.expires <= now)
            .map(|(m, _)| *m)
            .collect();
        for m in gone {
            self.remove(&m);
        }
        self.declined.retain(|_, until| *until > now);
        self.probed.retain(|_, until| *until > now);
        self.prune_offers(now);
    }

    /// The client and address of the offer just made, when it is a new dynamic address not
    /// probed lately: the server checks with an ARP probe that no unknown device uses it
    /// before sending the offer.
    pub fn take_probe_wanted(&mut self) -> Option<(MacAddr, Ipv4Addr)> {
        self.probe_wanted.take()
    }

    /// Records that an ARP probe found `ip` free.
    pub fn probed_free(&mut self, ip: Ipv4Addr, now: u64) {
        self.probed.insert(ip, now + PROBED_SECS);
    }

    /// Records that a device the plan does not know answers for `ip`: the address is set
    /// aside like a declined one, and `mac`'s offer of it is withdrawn.
    pub fn probed_in_use(&mut self, ip: Ipv4Addr, mac: &MacAddr, now: u64) {
        if self.entry(mac).is_some_and(|e| e.ip == ip && !e.bound) {
            self.remove(mac);
        }
        self.probed.remove(&ip);
        self.decline(ip, now);
    }

    pub(crate) fn want_probe(&mut self, mac: MacAddr, ip: Ipv4Addr, now: u64) {
        let fresh = self.probed.get(&ip).is_none_or(|until| *until <= now);
        self.probe_wanted = (fresh && self.config.range.contains(ip)).then_some((mac, ip));
    }

    /// The entry of a client.
    pub fn entry(&self, mac: &MacAddr) -> Option<&Entry> {
        self.by_mac.get(mac)
    }

    /// Number of clients with an entry (offered or bound).
    pub fn len(&self) -> usize {
        self.by_mac.len()
    }

    /// True when no client has an entry.
    pub fn is_empty(&self) -> bool {
        self.by_mac.is_empty()
    }

    pub(crate) fn set(&mut self, mac: MacAddr, entry: Entry) {
        if let Some(old) = self.by_mac.get(&mac) {
            if old.ip != entry.ip && self.by_ip.get(&old.ip) == Some(&mac) {
                self.by_ip.remove(&old.ip);
            }
            if old.hostname != entry.hostname
                && let Some(name) = old.hostname.clone()
            {
                self.forget_name(&name, &mac);
            }
        }
        if let Some(other) = self.by_ip.insert(entry.ip, mac)
            && other != mac
        {
            self.remove(&other);
            self.by_ip.insert(entry.ip, mac);
        }
        let offered = (!entry.bound).then_some((mac, entry.ip, entry.expires));
        if entry.bound
            && self.config.range.contains(entry.ip)
            && let Some(name) = &entry.hostname
        {
            self.names.insert(name.clone(), mac);
            self.names_dirty = true;
        }
        self.dirty |= entry.bound;
        self.by_mac.insert(mac, entry);
        if let Some(offer) = offered {
            self.offers.push_back(offer);
            self.prune_offers(offer.2.saturating_sub(OFFER_SECS));
        }
    }

    pub(crate) fn remove(&mut self, mac: &MacAddr) -> Option<Entry> {
        let e = self.by_mac.remove(mac)?;
        if self.by_ip.get(&e.ip) == Some(mac) {
            self.by_ip.remove(&e.ip);
        }
        if let Some(name) = &e.hostname {
            self.forget_name(name, mac);
        }
        self.dirty |= e.bound;
        Some(e)
    }

    fn forget_name(&mut self, name: &str, mac: &MacAddr) {
        if self.names.get(name) == Some(mac) {
            self.names.remove(name);
            self.names_dirty = true;
        }
    }

    /// Whether the queued offer is still the pending offer it was.
    fn offer_pending(&self, (mac, ip, expires): &(MacAddr, Ipv4Addr, u64), now: u64) -> bool {
        *expires > now
            && self
                .by_mac
                .get(mac)
                .is_some_and(|e| !e.bound && e.ip == *ip && e.expires == *expires)
    }

    /// Drops queued offers from the front that are no longer pending (amortised O(1); the
    /// queue holds at most the offers of one offer lifetime).
    fn prune_offers(&mut self, now: u64) {
        while let Some(front) = self.offers.front() {
            if self.offer_pending(front, now) {
                break;
            }
            self.offers.pop_front();
        }
    }

    /// Takes the address of the oldest pending offer (not `mac`'s own) for `mac`: an offer is
    /// tentative, and a range full of them must not lock out a new client.
    pub(crate) fn recycle_offer(&mut self, mac: &MacAddr, now: u64) -> Option<Ipv4Addr> {
        let mut skipped = Vec::new();
        let mut found = None;
        while let Some(item) = self.offers.pop_front() {
            if !self.offer_pending(&item, now) {
                continue;
            }
            if item.0 == *mac || !self.config.range.contains(item.1) {
                skipped.push(item);
                continue;
            }
            found = Some(item);
            break;
        }
        for item in skipped.into_iter().rev() {
            self.offers.push_front(item);
        }
        let (owner, ip, _) = found?;
        self.remove(&owner);
        Some(ip)
    }

    pub(crate) fn decline(&mut self, ip: Ipv4Addr, now: u64) {
        self.declined.insert(ip, now + DECLINE_SECS);
    }

    /// Whether `mac` may take `ip` from the dynamic range now.
    pub(crate) fn dynamic_free_for(&self, ip: Ipv4Addr, mac: &MacAddr, now: u64) -> bool {
        if !self.config.range.contains(ip)
            || self.config.reserved_ips.contains_key(&ip)
            || ip == self.config.router
            || ip == self.config.server_ip
            || self.declined.get(&ip).is_some_and(|until| *until > now)
        {
            return false;
        }
        match self.by_ip.get(&ip) {
            None => true,
            Some(owner) if owner == mac => true,
            Some(owner) => self.by_mac.get(owner).is_none_or(|e| e.expires <= now),
        }
    }

    /// The next free dynamic address, scanning from a cursor (amortised O(1) while the range
    /// fills up); when none is free, the address of the oldest pending offer; `None` when
    /// every dynamic address is leased.
    pub(crate) fn next_free(&mut self, mac: &MacAddr, now: u64) -> Option<Ipv4Addr> {
        let r = self.config.range;
        let (start, end) = (u32::from(r.start), u32::from(r.end));
        let len = u64::from(end - start) + 1;
        let mut c = self.cursor.clamp(start, end);
        for _ in 0..len {
            let ip = Ipv4Addr::from(c);
            c = if c >= end { start } else { c + 1 };
            if self.dynamic_free_for(ip, mac, now) {
                self.cursor = c;
                return Some(ip);
            }
        }
        self.recycle_offer(mac, now)
    }
}
