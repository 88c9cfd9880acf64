//! Virtual Hub's networking pieces: the address plan of a lab subnet, the IP pool that hands
//! out its addresses, and netd, the lab's own DHCP and DNS server.

pub mod netd;
pub mod plan;
pub mod pool;

pub use plan::{AddrRange, AddressPlan, PlanError, PlanOverrides};
pub use pool::{IpAllocator, IpPool, PoolError, PoolSnapshot, Strategy, UsedAddrs};
