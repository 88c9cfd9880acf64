//! `hub completions` and `hub man`: generated from the clap definitions, and read by the real
//! tools (bash parses the completion script and completes a subcommand; groff renders the page).

mod common;

use std::process::{Command, Stdio};

use common::HUB;

fn stdout_of(args: &[&str]) -> String {
    let out = Command::new(HUB).args(args).output().expect("hub");
    assert!(out.status.success(), "hub {args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn bash_completes_subcommands_and_options_from_the_script() {
    let script = stdout_of(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hub.bash");
    std::fs::write(&file, script).unwrap();
    // Source the script, then ask its completion function what follows `hub ca` and
    // `hub up --wa`, as bash would on TAB.
    let probe = format!(
        "source {}; \
         COMP_WORDS=(hub ca); COMP_CWORD=1; COMP_LINE='hub ca'; COMP_POINT=6; _hub hub ca hub; \
         echo \"${{COMPREPLY[@]}}\"; \
         COMP_WORDS=(hub up --wa); COMP_CWORD=2; COMP_LINE='hub up --wa'; COMP_POINT=11; \
         _hub hub --wa up; echo \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let out = Command::new("bash")
        .args(["-c", &probe])
        .output()
        .expect("bash");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first().copied(), Some("cache"), "{text}");
    assert!(
        lines
            .get(1)
            .is_some_and(|l| l.split(' ').any(|w| w == "--warm")
                && l.split(' ').any(|w| w == "--warm-cache")),
        "{text}"
    );
    for shell in ["zsh", "fish"] {
        assert!(stdout_of(&["completions", shell]).contains("completions"));
    }
}

#[test]
fn the_man_page_renders_with_every_subcommand() {
    let page = stdout_of(&["man"]);
    assert!(
        page.contains(".TH hub 1"),
        "{}",
        &page[..200.min(page.len())]
    );
    let mut groff = Command::new("groff")
        .args(["-man", "-Tutf8", "-P", "-cbou"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("groff");
    std::io::Write::write_all(&mut groff.stdin.take().unwrap(), page.as_bytes()).unwrap();
    let out = groff.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    // Plain text (-P -cbou: no overstriking), words as groff spaced them.
    let rendered = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = rendered.split_whitespace().collect();
    for sub in ["up", "down", "status", "logs", "vpn", "completions", "man"] {
        let entry = format!("hub-{sub}(1)");
        assert!(
            words.contains(&entry.as_str()),
            "{entry} missing from\n{rendered}"
        );
    }
    assert!(
        words.windows(2).any(|w| w == ["Virtual", "Hub:"]),
        "{rendered}"
    );
}
