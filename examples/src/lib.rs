//! Virtual Hub's command-line tool (`hub`) as a library, so its parts can be tested, and the
//! example programs' shared pieces.

pub mod cli;
