//! A stand-in for a crate built on Virtual Hub: the lab its own tests need, described once.
//!
//! It depends on `hub-core` with `default-features = false, features = ["mock"]`, so nothing
//! here can reach Docker, libvirt or WireGuard: its tests run on `hub_core::testing`.

use hub_core::{Container, HubBuilder};

/// The address plan of [`web_pair`]'s lab.
pub const SUBNET: &str = "10.207.0.0/24";

/// A database and a web server that starts after it, on `builder`'s backends.
pub fn web_pair(builder: HubBuilder, lab: &str) -> HubBuilder {
    builder
        .name(lab)
        .network(SUBNET)
        .container(Container::new("db", "hub-test/busybox:latest"))
        .container(Container::new("web", "hub-test/busybox:latest").depends_on("db"))
}
