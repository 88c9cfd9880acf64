//! `hub validate -c FILE [--json]`: checks a lab spec. Prints every mistake to stderr
//! (`FILE:LINE:COL: FIELD: message`) and exits 1, or prints the resolved plan (every workload
//! with its address and MAC, the DHCP range, netd and gateway, the VPN peers) and exits 0.

use clap::Args;

use super::{Cli, exit};

/// Arguments of `hub validate`.
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// Print the resolved plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `hub validate`.
pub fn run(cli: &Cli, args: &ValidateArgs) -> anyhow::Result<u8> {
    let file = cli.require_config("validate")?;
    match hub_core::spec::resolve_file(file) {
        Ok(lab) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&lab)?);
            } else {
                print!("{lab}");
            }
            Ok(exit::OK)
        }
        Err(errors) => Ok(report(file, &errors)),
    }
}

/// Prints every mistake of the spec `file` and their count to stderr; the exit code to give.
pub fn report(file: &std::path::Path, errors: &hub_core::spec::SpecErrors) -> u8 {
    eprintln!("{errors}");
    let n = errors.len();
    eprintln!(
        "{}: {n} error{}",
        file.display(),
        if n == 1 { "" } else { "s" }
    );
    exit::FAILURE
}
