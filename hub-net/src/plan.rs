//! The address plan of a lab subnet: which address is what, and which ranges are handed out.
//!
//! ```text
//! /24 example, 172.19.5.0/24
//!   .0            network
//!   .1            gateway (the bridge)
//!   .2            netd (DHCP + DNS)
//!   .3            reserved
//!   .1  - .29     infrastructure block: never allocated automatically (a user may still
//!                 place a static address there, except .1-.3)
//!   .30 - .199    static range: automatic allocation for containers and VMs
//!   .200 - .254   DHCP range: unknown clients
//!   .255          broadcast
//! ```
//! On subnets smaller than a /24 the infrastructure block is only `.1`-`.3`. The DHCP range is
//! the tail of the subnet starting at 25/32 of its size, and never overlaps the static range.

use std::fmt;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// Smallest prefix length (largest subnet) a lab may use.
pub const MIN_PREFIX: u8 = 8;
/// Largest prefix length (smallest subnet) a lab may use.
pub const MAX_PREFIX: u8 = 28;
/// Offsets `1..=INFRA_OFFSETS` are never allocated automatically on a /24 or larger.
pub const INFRA_OFFSETS: u32 = 29;

/// An inclusive range of IPv4 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AddrRange {
    /// First address.
    pub start: Ipv4Addr,
    /// Last address (inclusive).
    pub end: Ipv4Addr,
}

impl AddrRange {
    /// A range from `start` to `end` inclusive.
    pub fn new(start: Ipv4Addr, end: Ipv4Addr) -> Self {
        AddrRange { start, end }
    }
    /// Whether `ip` lies in the range.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.start <= ip && ip <= self.end
    }
    /// Number of addresses (0 for an empty range).
    pub fn len(&self) -> u64 {
        (u32::from(self.end) as u64 + 1).saturating_sub(u32::from(self.start) as u64)
    }
    /// True when `end < start`.
    pub fn is_empty(&self) -> bool {
        self.end < self.start
    }
    /// Whether the two ranges share an address.
    pub fn overlaps(&self, other: &AddrRange) -> bool {
        !self.is_empty() && !other.is_empty() && self.start <= other.end && other.start <= self.end
    }
    /// The range as `u32` bounds.
    pub fn as_u32(&self) -> RangeInclusive<u32> {
        u32::from(self.start)..=u32::from(self.end)
    }
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// Optional overrides of the derived plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOverrides {
    /// The DHCP range for unknown clients.
    pub dhcp_range: Option<AddrRange>,
    /// The static range for automatic allocation.
    pub static_range: Option<AddrRange>,
}

/// Why a plan cannot be made or an address cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The prefix length is outside /8../28.
    #[error(
        "subnet {subnet}: prefix /{prefix} is out of range; use a prefix from /{MIN_PREFIX} to /{MAX_PREFIX}"
    )]
    PrefixOutOfRange {
        /// The subnet.
        subnet: Ipv4Net,
        /// Its prefix.
        prefix: u8,
    },
    /// The subnet has host bits set (`10.0.0.5/24`).
    #[error("subnet {subnet} has host bits set; did you mean {}?", subnet.trunc())]
    HostBitsSet {
        /// The subnet as written.
        subnet: Ipv4Net,
    },
    /// A range override does not fit.
    #[error("{what} {range} does not fit in {subnet}: {reason}; {fits}")]
    RangeDoesNotFit {
        /// `DHCP range` or `static range`.
        what: &'static str,
        /// The range asked for.
        range: AddrRange,
        /// The subnet.
        subnet: Ipv4Net,
        /// Why it does not fit.
        reason: String,
        /// What would fit.
        fits: String,
    },
    /// A static address cannot be used.
    #[error("address {ip} {reason}")]
    BadStatic {
        /// The address.
        ip: Ipv4Addr,
        /// Why (`is outside 10.0.0.0/24`, `is the gateway`, `is inside the DHCP range ...`).
        reason: String,
    },
}

/// The address plan of one lab subnet. Cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPlan {
    subnet: Ipv4Net,
    infra: AddrRange,
    static_range: AddrRange,
    dhcp_range: AddrRange,
}

fn off(net: Ipv4Net, o: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).wrapping_add(o))
}

impl AddressPlan {
    /// The plan derived from `subnet` with no overrides.
    pub fn new(subnet: Ipv4Net) -> Result<Self, PlanError> {
        Self::with_overrides(subnet, PlanOverrides::default())
    }

    /// The plan derived from `subnet`, with the ranges the user chose.
    pub fn with_overrides(subnet: Ipv4Net, ov: PlanOverrides) -> Result<Self, PlanError> {
        let prefix = subnet.prefix_len();
        if !(MIN_PREFIX..=MAX_PREFIX).contains(&prefix) {
            return Err(PlanError::PrefixOutOfRange { subnet, prefix });
        }
        if subnet.trunc() != subnet {
            return Err(PlanError::HostBitsSet { subnet });
        }
        let size = 1u32 << (32 - prefix);
        let infra_last = if prefix <= 24 { INFRA_OFFSETS } else { 3 };
        let infra = AddrRange::new(off(subnet, 1), off(subnet, infra_last));
        let hosts = AddrRange::new(off(subnet, 1), off(subnet, size - 2));
        let default_dhcp = AddrRange::new(
            off(subnet, (u64::from(size) * 25 / 32) as u32),
            off(subnet, size - 2),
        );
        let first_free = off(subnet, 4);

        let dhcp = match ov.dhcp_range {
            None => default_dhcp,
            Some(r) => {
                let fits = |reason: String| PlanError::RangeDoesNotFit {
                    what: "DHCP range",
                    range: r,
                    subnet,
                    reason,
                    fits: format!(
                        "a DHCP range inside {}-{} would fit, for example {default_dhcp}",
                        first_free, hosts.end
                    ),
                };
                if r.is_empty() {
                    return Err(fits("its start is after its end".into()));
                }
                if !hosts.contains(r.start) || !hosts.contains(r.end) {
                    return Err(fits("it is outside the subnet's host addresses".into()));
                }
                if r.start < first_free {
                    return Err(fits(
                        "it covers the gateway, netd or the reserved .3".into(),
                    ));
                }
                r
            }
        };
        let static_range = match ov.static_range {
            Some(r) => {
                let err = |reason: String, fits: String| PlanError::RangeDoesNotFit {
                    what: "static range",
                    range: r,
                    subnet,
                    reason,
                    fits,
                };
                if r.is_empty() {
                    return Err(err("its start is after its end".into(), String::new()));
                }
                if !hosts.contains(r.start) || !hosts.contains(r.end) || r.start < first_free {
                    return Err(err(
                        "it is outside the usable host addresses".into(),
                        format!(
                            "a static range inside {}-{} would fit",
                            first_free, hosts.end
                        ),
                    ));
                }
                if r.overlaps(&dhcp) {
                    return Err(err(
                        format!("it overlaps the DHCP range {dhcp}"),
                        gap_hint(first_free, hosts.end, dhcp),
                    ));
                }
                r
            }
            None => {
                let start = off(subnet, infra_last + 1);
                let r = AddrRange::new(start, Ipv4Addr::from(u32::from(dhcp.start) - 1));
                if ov.dhcp_range.is_some() && (r.is_empty() || dhcp.start <= infra.end) {
                    return Err(PlanError::RangeDoesNotFit {
                        what: "DHCP range",
                        range: dhcp,
                        subnet,
                        reason: format!(
                            "it leaves no static range after the infrastructure block {infra}"
                        ),
                        fits: format!(
                            "a DHCP range starting after {} would fit, for example {default_dhcp}",
                            infra.end
                        ),
                    });
                }
                r
            }
        };
        Ok(AddressPlan {
            subnet,
            infra,
            static_range,
            dhcp_range: dhcp,
        })
    }

    /// The subnet.
    pub fn subnet(&self) -> Ipv4Net {
        self.subnet
    }
    /// The network address (`.0`).
    pub fn network(&self) -> Ipv4Addr {
        self.subnet.network()
    }
    /// The broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        self.subnet.broadcast()
    }
    /// The gateway, `.1`: the bridge's own address.
    pub fn gateway(&self) -> Ipv4Addr {
        off(self.subnet, 1)
    }
    /// netd's address, `.2`.
    pub fn netd(&self) -> Ipv4Addr {
        off(self.subnet, 2)
    }
    /// The reserved `.3`.
    pub fn reserved(&self) -> Ipv4Addr {
        off(self.subnet, 3)
    }
    /// The infrastructure block, never allocated automatically.
    pub fn infra_block(&self) -> AddrRange {
        self.infra
    }
    /// The static range, from which addresses are allocated automatically.
    pub fn static_range(&self) -> AddrRange {
        self.static_range
    }
    /// The DHCP range for unknown clients.
    pub fn dhcp_range(&self) -> AddrRange {
        self.dhcp_range
    }

    /// Checks that `ip` may be given to a workload as a static address: inside the subnet, not
    /// the network, broadcast, gateway, netd or `.3` address, and not inside the DHCP range.
    pub fn check_static(&self, ip: Ipv4Addr) -> Result<(), PlanError> {
        let bad = |reason: String| Err(PlanError::BadStatic { ip, reason });
        if !self.subnet.contains(&ip) {
            return bad(format!("is outside the lab subnet {}", self.subnet));
        }
        if ip == self.network() {
            return bad(format!("is the network address of {}", self.subnet));
        }
        if ip == self.broadcast() {
            return bad(format!("is the broadcast address of {}", self.subnet));
        }
        if ip == self.gateway() {
            return bad("is the gateway (the bridge's own address)".into());
        }
        if ip == self.netd() {
            return bad("is netd's address (the lab's DHCP and DNS server)".into());
        }
        if ip == self.reserved() {
            return bad("is reserved by the address plan (.3)".into());
        }
        if self.dhcp_range.contains(ip) {
            return bad(format!(
                "is inside the DHCP range {} for unknown clients; use the static range {}",
                self.dhcp_range, self.static_range
            ));
        }
        Ok(())
    }
}

fn gap_hint(first: Ipv4Addr, last: Ipv4Addr, dhcp: AddrRange) -> String {
    let below = AddrRange::new(
        first,
        Ipv4Addr::from(u32::from(dhcp.start).saturating_sub(1)),
    );
    let above = AddrRange::new(Ipv4Addr::from(u32::from(dhcp.end).saturating_add(1)), last);
    let mut fits = Vec::new();
    if !below.is_empty() {
        fits.push(below.to_string());
    }
    if !above.is_empty() {
        fits.push(above.to_string());
    }
    if fits.is_empty() {
        "no room is left outside the DHCP range".into()
    } else {
        format!("a static range inside {} would fit", fits.join(" or "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn slash24_matches_the_documented_layout() {
        let p = AddressPlan::new(net("172.19.5.0/24")).unwrap();
        assert_eq!(p.gateway(), ip("172.19.5.1"));
        assert_eq!(p.netd(), ip("172.19.5.2"));
        assert_eq!(p.reserved(), ip("172.19.5.3"));
        assert_eq!(
            p.infra_block(),
            AddrRange::new(ip("172.19.5.1"), ip("172.19.5.29"))
        );
        assert_eq!(
            p.static_range(),
            AddrRange::new(ip("172.19.5.30"), ip("172.19.5.199"))
        );
        assert_eq!(
            p.dhcp_range(),
            AddrRange::new(ip("172.19.5.200"), ip("172.19.5.254"))
        );
    }

    #[test]
    fn small_subnets_only_reserve_dot1_to_dot3() {
        let p = AddressPlan::new(net("10.0.0.16/28")).unwrap();
        assert_eq!(
            p.infra_block(),
            AddrRange::new(ip("10.0.0.17"), ip("10.0.0.19"))
        );
        assert_eq!(
            p.static_range(),
            AddrRange::new(ip("10.0.0.20"), ip("10.0.0.27"))
        );
        assert_eq!(
            p.dhcp_range(),
            AddrRange::new(ip("10.0.0.28"), ip("10.0.0.30"))
        );
    }

    #[test]
    fn every_prefix_gives_disjoint_nonempty_ranges() {
        for prefix in MIN_PREFIX..=MAX_PREFIX {
            let p = AddressPlan::new(Ipv4Net::new(ip("10.0.0.0"), prefix).unwrap()).unwrap();
            assert!(!p.static_range().is_empty(), "/{prefix}");
            assert!(!p.dhcp_range().is_empty(), "/{prefix}");
            assert!(!p.static_range().overlaps(&p.dhcp_range()), "/{prefix}");
            assert!(!p.static_range().overlaps(&p.infra_block()), "/{prefix}");
            assert!(p.dhcp_range().end < p.broadcast(), "/{prefix}");
        }
    }

    #[test]
    fn prefix_out_of_range_and_host_bits_are_refused() {
        assert!(matches!(
            AddressPlan::new(net("10.0.0.0/29")),
            Err(PlanError::PrefixOutOfRange { prefix: 29, .. })
        ));
        assert!(matches!(
            AddressPlan::new(net("10.0.0.0/7")),
            Err(PlanError::PrefixOutOfRange { .. })
        ));
        let e = AddressPlan::new(net("10.0.0.5/24")).unwrap_err();
        assert!(e.to_string().contains("did you mean 10.0.0.0/24"), "{e}");
    }

    #[test]
    fn dhcp_override_outside_subnet_says_what_fits() {
        let ov = PlanOverrides {
            dhcp_range: Some(AddrRange::new(ip("10.0.1.10"), ip("10.0.1.20"))),
            ..Default::default()
        };
        let e = AddressPlan::with_overrides(net("10.0.0.0/24"), ov)
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside"), "{e}");
        assert!(e.contains("10.0.0.200-10.0.0.254"), "{e}");
    }

    #[test]
    fn dhcp_override_shrinks_the_static_range() {
        let ov = PlanOverrides {
            dhcp_range: Some(AddrRange::new(ip("10.0.0.100"), ip("10.0.0.150"))),
            ..Default::default()
        };
        let p = AddressPlan::with_overrides(net("10.0.0.0/24"), ov).unwrap();
        assert_eq!(
            p.static_range(),
            AddrRange::new(ip("10.0.0.30"), ip("10.0.0.99"))
        );
    }

    #[test]
    fn static_override_over_dhcp_is_refused() {
        let ov = PlanOverrides {
            static_range: Some(AddrRange::new(ip("10.0.0.30"), ip("10.0.0.220"))),
            ..Default::default()
        };
        let e = AddressPlan::with_overrides(net("10.0.0.0/24"), ov)
            .unwrap_err()
            .to_string();
        assert!(e.contains("overlaps the DHCP range"), "{e}");
        assert!(e.contains("10.0.0.4-10.0.0.199"), "{e}");
    }

    #[test]
    fn check_static_names_the_reason() {
        let p = AddressPlan::new(net("172.19.5.0/24")).unwrap();
        assert!(
            p.check_static(ip("172.19.5.10")).is_ok(),
            "infra block is allowed for statics"
        );
        for (a, why) in [
            ("172.19.6.1", "outside"),
            ("172.19.5.0", "network address"),
            ("172.19.5.255", "broadcast"),
            ("172.19.5.1", "gateway"),
            ("172.19.5.2", "netd"),
            ("172.19.5.3", "reserved"),
            ("172.19.5.210", "DHCP range"),
        ] {
            let e = p.check_static(ip(a)).unwrap_err().to_string();
            assert!(e.contains(why), "{a}: {e}");
        }
    }
}
