//! Virtual Hub's WireGuard keys, wg-quick configs and gateway interface.
//!
//! - Keys: [`KeyGen`] makes X25519 [`KeyPair`]s ([`OsKeyGen`] from the OS, [`SeededKeyGen`]
//!   reproducibly from a seed); [`PrivateKey`] never shows its secret in `Debug`.
//! - Configs: [`WgConfig`] renders and parses wg-quick files; [`WgConfig::strip`] gives what
//!   `wg setconf` accepts; [`gateway_config`] and [`client_config`] build the two kinds the
//!   hub writes; [`write_secret`] writes them atomically with mode 0600; [`qr()`] draws one
//!   for a phone.
//! - The gateway: [`Gateway::up`] brings a lab's WireGuard interface up on the host (kernel
//!   WireGuard, else `wireguard-go`), with stable keys in the lab directory ([`KeyStore`]),
//!   live peer changes ([`Gateway::sync_peers`]), forwarding into the lab bridge through
//!   `DOCKER-USER` rules marked with the lab's name, and one client config per peer;
//!   [`Gateway::down`] removes exactly what `up` made on the host.
//!
//! ```no_run
//! use hub_wg::{Gateway, GatewaySpec, OsKeyGen, PeerSpec, DEFAULT_LISTEN_PORT};
//!
//! # fn main() -> Result<(), hub_wg::WgError> {
//! let spec = GatewaySpec {
//!     lab: "demo".into(),
//!     dir: "/var/lib/hub/demo".into(),
//!     vpn_subnet: "10.10.0.0/24".parse().unwrap(),
//!     lab_subnet: "172.19.5.0/24".parse().unwrap(),
//!     bridge: "br-0123456789ab".into(),
//!     segments: Vec::new(), // a lab of several segments: each one's subnet and bridge
//!     listen_port: DEFAULT_LISTEN_PORT,
//!     endpoint: None, // the host's first non-loopback IPv4 address
//!     dns: "172.19.5.2".parse().unwrap(),
//!     dns_search: Some("demo.lab".into()),
//!     peers: vec![PeerSpec::new("laptop", "10.10.0.2".parse().unwrap())],
//! };
//! let info = Gateway::up(&spec, &OsKeyGen)?; // blocking; needs root
//! let config = std::fs::read_to_string(&info.client_configs["laptop"]).unwrap();
//! println!("{}", hub_wg::qr(&config)?);
//! Gateway::down("demo")?;
//! # Ok(())
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod cmd;
mod config;
mod error;
mod firewall;
mod gateway;
mod key;
mod keygen;
mod keystore;
mod link;
mod names;
mod parse;
mod qr;
mod secret_file;

pub use config::{
    ClientParams, InterfaceSection, PERSISTENT_KEEPALIVE, PeerSection, WgConfig, client_config,
    gateway_config,
};
pub use error::{WgError, WgResult};
pub use gateway::{
    DEFAULT_LISTEN_PORT, DownReport, Gateway, GatewayConfigs, GatewayInfo, GatewaySpec, PeerSpec,
    SegmentRoute,
};
pub use key::{KeyPair, PrivateKey, PublicKey};
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use keygen::MockKeyGen;
pub use keygen::{KeyGen, OsKeyGen, SeededKeyGen};
pub use keystore::KeyStore;
pub use link::{FORCE_USERSPACE_ENV, WgMode};
pub use names::{check_name, interface_name, prefixed_interface_name};
pub use qr::qr;
pub use secret_file::{private_dir, write_secret, write_secret_if_changed};
