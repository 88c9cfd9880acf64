//! What every lab subcommand shares: which lab (`-c FILE` or `--lab NAME`), where its state
//! lives, and turning a [`HubError`] into an exit code.

use std::path::PathBuf;

use clap::Args;
use hub_core::{Hub, HubBuilder, HubError};

use super::{Cli, UsageError};

/// Which lab, and where its state lives.
#[derive(Debug, Clone, Args)]
pub struct LabArgs {
    /// The lab's name, instead of a spec file (for labs whose spec is gone).
    #[arg(long, value_name = "NAME")]
    pub lab: Option<String>,
    /// The state root; the lab directory is `DIR/LAB` (default `/var/lib/hub` for root, else
    /// `$XDG_STATE_HOME/hub`).
    #[arg(long, value_name = "DIR", env = "HUB_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

impl LabArgs {
    /// A hub builder for the lab: from the spec file when `-c` is given (the lab name is the
    /// spec's `name`, else its `network_name`), else from `--lab`.
    pub fn builder(&self, cli: &Cli, subcommand: &str) -> anyhow::Result<HubBuilder> {
        let mut b = match (&cli.config, &self.lab) {
            (Some(file), _) => {
                let mut b = Hub::from_file(file)?;
                if let Some(name) = &self.lab {
                    b = b.name(name.clone());
                }
                b
            }
            (None, Some(name)) => Hub::builder().name(name.clone()),
            (None, None) => {
                return Err(UsageError(format!(
                    "`hub {subcommand}` needs a lab: pass -c FILE (or set HUB_CONFIG) or --lab NAME"
                ))
                .into());
            }
        };
        if let Some(dir) = &self.state_dir {
            b = b.state_dir(dir.clone());
        }
        Ok(b)
    }
}

/// Prints a hub error (with its causes) and returns its exit code: 2 for a spec or usage
/// error, 130 when interrupted, 1 otherwise.
pub fn report_error(e: &HubError) -> u8 {
    eprintln!("error: {}", chain(e));
    u8::try_from(e.exit_code()).unwrap_or(1)
}

/// An error and its causes, `a: b: c` (see [`hub_core::error_chain`]).
pub fn chain(e: &dyn std::error::Error) -> String {
    hub_core::error_chain(e)
}

/// Turns the result of building a hub into an exit code when it failed.
pub fn code_of(e: &anyhow::Error) -> u8 {
    if e.is::<UsageError>() {
        return super::exit::USAGE;
    }
    match e.downcast_ref::<HubError>() {
        Some(h) => u8::try_from(h.exit_code()).unwrap_or(1),
        None => super::exit::FAILURE,
    }
}
