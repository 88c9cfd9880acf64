//! Virtual Hub's networking pieces: the address plan of a lab subnet, the IP pool that hands
//! out its addresses, and netd, the lab's own DHCP and DNS server.

pub mod plan;

pub use plan::{AddrRange, AddressPlan, PlanError, PlanOverrides};
