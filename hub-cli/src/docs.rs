//! `hub completions SHELL` and `hub man`: shell completions and a man page, generated from the
//! clap definitions of [`crate::Cli`] (clap_complete, clap_mangen), so they never drift from
//! the real options.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::{Cli, exit};

/// `hub completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Writes the completion script of `args.shell` to stdout
/// (`hub completions bash > /etc/bash_completion.d/hub`).
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<u8> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "hub", &mut std::io::stdout());
    Ok(exit::OK)
}

/// Writes the man page, roff, to stdout (`hub man > /usr/local/share/man/man1/hub.1`).
pub fn man() -> anyhow::Result<u8> {
    clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
    Ok(exit::OK)
}
