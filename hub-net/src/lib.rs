//! Virtual Hub's networking pieces: the address plan of a lab subnet, the IP pool that hands
//! out its addresses, and netd, the lab's own DHCP and DNS server.
//!
//! ```
//! use hub_net::{AddressPlan, IpAllocator, IpPool};
//! use std::net::Ipv4Addr;
//!
//! let plan = AddressPlan::new("10.77.0.0/24".parse().unwrap()).unwrap();
//! assert_eq!(plan.gateway(), Ipv4Addr::new(10, 77, 0, 1));
//! assert_eq!(plan.netd(), Ipv4Addr::new(10, 77, 0, 2));
//! // Workloads without a static address get one from the static range, lowest first.
//! let pool = IpPool::for_plan(&plan);
//! let first = pool.allocate().unwrap();
//! assert_eq!(first, plan.static_range().start);
//! assert!(plan.check_static(first).is_ok());
//! assert!(plan.check_static(plan.netd()).is_err());
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod netd;
pub mod plan;
pub mod pool;

pub use plan::{AddrRange, AddressPlan, PlanError, PlanOverrides};
pub use pool::{IpAllocator, IpPool, PoolError, PoolSnapshot, Strategy, UsedAddrs};
