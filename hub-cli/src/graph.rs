//! `hub graph -c FILE [--format mermaid|dot]`: prints the lab as a picture, from its resolved
//! plan (the same addresses `up` gives): Mermaid by default, or Graphviz dot.

use clap::{Args, ValueEnum};
use hub_core::graph::{GraphFormat, render};

use super::{Cli, exit, validate};

/// The language of the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A Mermaid flowchart (GitHub renders it in Markdown).
    Mermaid,
    /// Graphviz dot (`hub graph --format dot | dot -Tsvg > lab.svg`).
    Dot,
}

/// Arguments of `hub graph`.
#[derive(Debug, Clone, Args)]
pub struct GraphArgs {
    /// The language to write.
    #[arg(long, value_enum, default_value = "mermaid")]
    pub format: Format,
}

/// Runs `hub graph`.
pub fn run(cli: &Cli, args: &GraphArgs) -> anyhow::Result<u8> {
    let file = cli.require_config("graph")?;
    match hub_core::spec::resolve_file(file) {
        Ok(lab) => {
            let format = match args.format {
                Format::Mermaid => GraphFormat::Mermaid,
                Format::Dot => GraphFormat::Dot,
            };
            print!("{}", render(&lab, format));
            Ok(exit::OK)
        }
        Err(errors) => Ok(validate::report(file, &errors)),
    }
}
