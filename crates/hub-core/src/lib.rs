//! Virtual Hub: bring up a lab of containers, VMs and a WireGuard gateway from one spec.
