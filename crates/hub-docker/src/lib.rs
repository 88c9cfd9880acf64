//! Virtual Hub's Docker backend: the lab network and containers, on bollard.
