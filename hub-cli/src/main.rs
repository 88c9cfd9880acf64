//! The `hub` command-line tool: parses the command line, sets up logging, runs the subcommand
//! and exits with its code (see `hub_cli::exit`).

use std::process::ExitCode;

use clap::Parser;
use hub_cli::{Cli, exit, init_logging};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging(&cli.log_level) {
        eprintln!("error: {e}");
        return ExitCode::from(exit::USAGE);
    }
    cli.run().await
}
