//! The `hub` command-line tool: parses the command line, sets up logging, runs the subcommand
//! and exits with its code (see `hub_cli::exit`).

use std::process::ExitCode;

use clap::Parser;
use hub_cli::{Cli, exit, init_logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging(&cli.log_level) {
        eprintln!("error: {e}");
        return ExitCode::from(exit::USAGE);
    }
    // `hub serve` answers on threads of a higher scheduling priority than the engines' (see
    // hub_server::api_runtime); every other command runs on an ordinary runtime.
    let serving = cli.serves();
    let runtime = if serving {
        hub_server::api_runtime()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    if serving {
        hub_server::api_thread();
    }
    runtime.block_on(cli.run())
}
