//! Virtual Hub's WireGuard keys, wg-quick configs and gateway interface.
