//! `status`, `ls`, `up` and `down` through `hub serve` (`hub --server URL ...`), printing what
//! the direct commands print.

use std::time::Duration;

use hyper::{Method, StatusCode};

use super::client::{Answer, Client};
use super::lab_args::LabArgs;
use super::status::print_table;
use super::{Cli, UsageError, exit};

/// How often `up` asks the server how the lab stands.
const POLL: Duration = Duration::from_millis(250);

/// The lab a remote command is about: the spec's name (`-c FILE`), else `--lab NAME`.
fn lab_name(cli: &Cli, lab: &LabArgs, subcommand: &str) -> anyhow::Result<String> {
    if let Some(name) = &lab.lab {
        return Ok(name.clone());
    }
    let Some(file) = &cli.config else {
        return Err(UsageError(format!(
            "`hub {subcommand}` needs a lab: pass -c FILE (or set HUB_CONFIG) or --lab NAME"
        ))
        .into());
    };
    let spec = hub_core::LabSpec::from_file(file).map_err(hub_core::HubError::from)?;
    spec.lab_name()
        .map(str::to_string)
        .ok_or_else(|| UsageError(format!("{}: the spec has no `name`", file.display())).into())
}

/// The server `--server` names, with `--server-ca` and `--server-token-file` for https.
fn client(cli: &Cli, url: &str) -> anyhow::Result<Client> {
    Client::connect(
        url,
        cli.server_ca.as_deref(),
        cli.server_token_file.as_deref(),
    )
}

fn print_errors(answer: &Answer) -> u8 {
    for e in answer.errors() {
        eprintln!("error: {e}");
    }
    if answer.status == StatusCode::BAD_REQUEST {
        exit::USAGE
    } else {
        exit::FAILURE
    }
}

async fn get_view(client: &Client, lab: &str) -> anyhow::Result<Answer> {
    client
        .request(Method::GET, &format!("/labs/{lab}"), None)
        .await
}

/// `hub --server URL status`.
pub async fn status(cli: &Cli, url: &str, lab: &LabArgs, json: bool) -> anyhow::Result<u8> {
    let client = client(cli, url)?;
    let name = lab_name(cli, lab, "status")?;
    let answer = get_view(&client, &name).await?;
    let st = match answer.status {
        StatusCode::OK => answer.json::<hub_server::LabView>()?.status,
        StatusCode::NOT_FOUND => hub_core::LabStatus {
            lab: name.clone(),
            network: None,
            netd: None,
            workloads: Vec::new(),
            vpn: None,
            vpn_restarts: 0,
        },
        _ => return Ok(print_errors(&answer)),
    };
    super::status::print(&st, json)
}

/// `hub --server URL ls`.
pub async fn ls(cli: &Cli, url: &str, json: bool) -> anyhow::Result<u8> {
    let client = client(cli, url)?;
    let answer = client.request(Method::GET, "/labs", None).await?;
    if answer.status != StatusCode::OK {
        return Ok(print_errors(&answer));
    }
    let labs: Vec<hub_core::labs::LabListing> = answer.json()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&labs)?);
    } else {
        print!("{}", super::ls::table(&labs));
    }
    Ok(exit::OK)
}

/// `hub --server URL up -c FILE`: sends the spec, then waits until the server says the lab is
/// ready (or failed).
pub async fn up(cli: &Cli, url: &str, lab: &LabArgs) -> anyhow::Result<u8> {
    let client = client(cli, url)?;
    let file = cli.require_config("up")?;
    let name = lab_name(cli, lab, "up")?;
    let body = std::fs::read(file)
        .map_err(|e| anyhow::anyhow!("reading the spec {}: {e}", file.display()))?;
    let answer = client
        .request(Method::PUT, &format!("/labs/{name}"), Some(body))
        .await?;
    if answer.status != StatusCode::ACCEPTED {
        return Ok(print_errors(&answer));
    }
    loop {
        tokio::time::sleep(POLL).await;
        let answer = get_view(&client, &name).await?;
        if answer.status != StatusCode::OK {
            return Ok(print_errors(&answer));
        }
        let view: hub_server::LabView = answer.json()?;
        match view.phase {
            Some(hub_server::LabPhase::Converging) => continue,
            Some(hub_server::LabPhase::Ready) => {
                println!("lab {name}: {}", view.report.as_deref().unwrap_or("ready"));
                print_table(&hub_core::LabStatus {
                    netd: None,
                    ..view.status
                });
                return Ok(exit::OK);
            }
            _ => {
                for e in &view.errors {
                    eprintln!("error: {}", e.message);
                }
                return Ok(exit::FAILURE);
            }
        }
    }
}

/// `hub --server URL down`: removes the lab and waits until it is gone.
pub async fn down(cli: &Cli, url: &str, lab: &LabArgs) -> anyhow::Result<u8> {
    let client = client(cli, url)?;
    let name = lab_name(cli, lab, "down")?;
    let answer = client
        .request(Method::DELETE, &format!("/labs/{name}?wait=true"), None)
        .await?;
    if answer.status != StatusCode::OK {
        return Ok(print_errors(&answer));
    }
    let done: hub_server::DownDone = answer.json()?;
    println!("lab {name}: {}", done.report);
    Ok(exit::OK)
}
