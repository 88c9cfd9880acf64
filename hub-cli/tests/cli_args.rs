//! The `hub` command line: how the lab subcommands parse, and the exit codes scripts rely on
//! (0 ok, 1 failed, 2 usage or spec error).

mod common;

use clap::Parser;
use hub_cli::{Cli, Command, attach::VpnCommand};

#[test]
fn lab_subcommands_parse() {
    let c = Cli::try_parse_from([
        "hub",
        "-c",
        "lab.yaml",
        "up",
        "--wait",
        "--parallelism",
        "4",
    ])
    .expect("up");
    match c.command {
        Command::Up(a) => assert!(a.wait && a.parallelism == 4 && !a.no_rollback),
        other => panic!("{other:?}"),
    }
    let c =
        Cli::try_parse_from(["hub", "down", "--lab", "x", "--state-dir", "/tmp/s"]).expect("down");
    match c.command {
        Command::Down(a) => {
            assert_eq!(a.lab.lab.as_deref(), Some("x"));
            assert_eq!(
                a.lab.state_dir.as_deref(),
                Some(std::path::Path::new("/tmp/s"))
            );
        }
        other => panic!("{other:?}"),
    }
    let c = Cli::try_parse_from([
        "hub",
        "exec",
        "--lab",
        "x",
        "web",
        "--",
        "wget",
        "-qO-",
        "http://db/",
    ])
    .expect("exec");
    match c.command {
        Command::Exec(a) => assert_eq!((a.name.as_str(), a.cmd.len()), ("web", 3)),
        other => panic!("{other:?}"),
    }
    let c = Cli::try_parse_from(["hub", "ssh", "-c", "l.yaml", "vm1"]).expect("ssh");
    match c.command {
        Command::Ssh(a) => assert!(a.cmd.is_empty() && a.vm == "vm1"),
        other => panic!("{other:?}"),
    }
    let c =
        Cli::try_parse_from(["hub", "vpn", "config", "--lab", "x", "laptop", "--qr"]).expect("vpn");
    match c.command {
        Command::Vpn(a) => {
            let VpnCommand::Config(cfg) = a.command;
            assert!(cfg.qr && cfg.peer == "laptop");
        }
        other => panic!("{other:?}"),
    }
    let c = Cli::try_parse_from(["hub", "status", "--lab", "x", "--json"]).expect("status");
    assert!(matches!(c.command, Command::Status(a) if a.json));
    assert!(
        Cli::try_parse_from(["hub", "exec", "--lab", "x", "web"]).is_err(),
        "exec needs a command"
    );
    assert!(
        Cli::try_parse_from(["hub", "logs", "--lab", "x"]).is_err(),
        "logs needs a name"
    );
}

#[test]
fn usage_and_spec_errors_exit_2_and_touch_nothing() {
    let tmp = common::tempdir();
    let state = tmp.path().join("state");
    let up = common::hub(&state, &["up"]);
    assert_eq!(up.status.code(), Some(2), "{}", common::show(&up));
    assert!(
        String::from_utf8_lossy(&up.stderr).contains("-c FILE"),
        "{}",
        common::show(&up)
    );
    let down = common::hub(&state, &["down"]);
    assert_eq!(down.status.code(), Some(2), "{}", common::show(&down));
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "name: t-hub-bad\nsubnet: 10.205.200.0/33\n").expect("spec");
    let up = common::hub(&state, &["up", "-c", bad.to_str().expect("utf-8")]);
    assert_eq!(up.status.code(), Some(2), "{}", common::show(&up));
    let err = String::from_utf8_lossy(&up.stderr);
    assert!(
        err.contains("bad.yaml:2:") && err.contains("subnet"),
        "{}",
        common::show(&up)
    );
    assert!(!state.join("t-hub-bad").exists());
}

#[test]
fn status_of_a_lab_that_is_not_up_exits_1() {
    let tmp = common::tempdir();
    let state = tmp.path().join("state");
    let st = common::hub(&state, &["status", "--lab", "t-hub-none", "--json"]);
    assert_eq!(st.status.code(), Some(1), "{}", common::show(&st));
    let json: serde_json::Value = serde_json::from_slice(&st.stdout).expect("JSON");
    assert_eq!(json["up"], false);
    assert_eq!(json["workloads"].as_array().map(Vec::len), Some(0));
    let down = common::hub(&state, &["down", "--lab", "t-hub-none"]);
    assert_eq!(down.status.code(), Some(0), "{}", common::show(&down));
    assert!(String::from_utf8_lossy(&down.stdout).contains("nothing to remove"));
}
