//! Forwarding between the gateway and the lab bridge: `net.ipv4.ip_forward` and two rules in
//! Docker's `DOCKER-USER` chain marked with `hub:LAB`, so that `down` removes exactly the
//! lab's rules and nothing else.

use std::fs;

use crate::cmd::Cmd;
use crate::error::WgError;
use crate::names::rule_comment;

const CHAIN: &str = "DOCKER-USER";
/// Seconds iptables waits for the xtables lock held by another process (Docker, a test).
const LOCK_WAIT: &str = "10";
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

fn iptables<'a>(context: &'a str) -> Cmd<'a> {
    Cmd::new(context, "iptables").args(["-w", LOCK_WAIT])
}

/// Fails with a clear error when `DOCKER-USER` does not exist (Docker is not running).
pub fn require_chain(context: &str, lab: &str) -> Result<(), WgError> {
    if chain_exists(context)? {
        Ok(())
    } else {
        Err(WgError::NoDockerUserChain {
            lab: lab.to_string(),
        })
    }
}

fn chain_exists(context: &str) -> Result<bool, WgError> {
    if iptables(context).args(["-S", CHAIN]).succeeds()? {
        return Ok(true);
    }
    // The message for a missing chain differs between iptables-legacy and -nft; tell a
    // missing chain from a broken iptables by listing the whole table.
    let table = iptables(context).args(["-S"]).run()?;
    Ok(table.lines().any(|l| l.trim() == format!("-N {CHAIN}")))
}

/// Turns on IPv4 forwarding (Docker normally has already).
pub fn enable_forwarding() -> Result<(), WgError> {
    let io = |action| {
        move |source| WgError::Io {
            action,
            path: IP_FORWARD.into(),
            source,
        }
    };
    let current = fs::read_to_string(IP_FORWARD).map_err(io("could not read"))?;
    if current.trim() != "1" {
        fs::write(IP_FORWARD, "1\n").map_err(io("could not enable IPv4 forwarding in"))?;
    }
    Ok(())
}

/// The rule arguments that accept traffic from `input` to `output` for `lab`.
fn rule(lab: &str, input: &str, output: &str) -> Vec<String> {
    [
        "-i",
        input,
        "-o",
        output,
        "-m",
        "comment",
        "--comment",
        &rule_comment(lab),
        "-j",
        "ACCEPT",
    ]
    .map(str::to_string)
    .to_vec()
}

/// Makes sure the lab has exactly its two rules per bridge (gateway to bridge and back; a lab
/// of several segments has a bridge each) at the top of `DOCKER-USER`; stale rules of the lab
/// (another interface or bridge) are removed. Returns how many rules were inserted.
pub fn ensure_rules(
    context: &str,
    lab: &str,
    interface: &str,
    bridges: &[&str],
) -> Result<usize, WgError> {
    require_chain(context, lab)?;
    let wanted: Vec<(&str, &str)> = bridges
        .iter()
        .flat_map(|b| [(interface, *b), (*b, interface)])
        .collect();
    for stale in lab_rules(context, lab)? {
        let pair = (flag(&stale, "-i"), flag(&stale, "-o"));
        if !wanted.iter().any(|(i, o)| pair == (Some(*i), Some(*o))) {
            delete(context, &stale)?;
        }
    }
    let mut inserted = 0;
    for &(input, output) in &wanted {
        let args = rule(lab, input, output);
        let present = iptables(context)
            .args(["-C", CHAIN])
            .args(args.clone())
            .succeeds()?;
        if !present {
            iptables(context).args(["-I", CHAIN]).args(args).run()?;
            inserted += 1;
        }
    }
    Ok(inserted)
}

/// Removes every rule of `DOCKER-USER` marked with the lab's comment; returns how many.
/// No chain means no rules: 0.
pub fn remove_rules(context: &str, lab: &str) -> Result<usize, WgError> {
    if !chain_exists(context)? {
        return Ok(0);
    }
    let rules = lab_rules(context, lab)?;
    for spec in &rules {
        delete(context, spec)?;
    }
    Ok(rules.len())
}

fn delete(context: &str, spec: &[String]) -> Result<(), WgError> {
    iptables(context)
        .args(["-D", CHAIN])
        .args(spec.iter().cloned())
        .run()
        .map(drop)
}

fn flag<'a>(spec: &'a [String], name: &str) -> Option<&'a str> {
    let at = spec.iter().position(|w| w == name)?;
    spec.get(at + 1).map(String::as_str)
}

/// The lab's rules in `DOCKER-USER`, each as the arguments after `-A DOCKER-USER`.
fn lab_rules(context: &str, lab: &str) -> Result<Vec<Vec<String>>, WgError> {
    let listing = iptables(context).args(["-S", CHAIN]).run()?;
    Ok(rules_with_comment(&listing, &rule_comment(lab)))
}

fn rules_with_comment(listing: &str, comment: &str) -> Vec<Vec<String>> {
    listing
        .lines()
        .map(split_words)
        .filter_map(|words| match words.as_slice() {
            [append, chain, rule @ ..]
                if append == "-A" && chain == CHAIN && flag(rule, "--comment") == Some(comment) =>
            {
                Some(rule.to_vec())
            }
            _ => None,
        })
        .collect()
}

/// Splits an `iptables -S` line into words, honouring double quotes and backslashes.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut in_word, mut quoted) = (false, false);
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_the_labs_rules() {
        let listing = "-N DOCKER-USER\n\
            -A DOCKER-USER -i hubwg-a -o br-1 -m comment --comment \"hub:a\" -j ACCEPT\n\
            -A DOCKER-USER -i br-1 -o hubwg-a -m comment --comment hub:a -j ACCEPT\n\
            -A DOCKER-USER -i hubwg-ab -o br-2 -m comment --comment \"hub:ab\" -j ACCEPT\n\
            -A DOCKER-USER -m comment --comment \"hub:a and more\" -j ACCEPT\n\
            -A DOCKER-USER -j RETURN\n";
        let rules = rules_with_comment(listing, "hub:a");
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0], rule("a", "hubwg-a", "br-1"));
        assert_eq!(flag(&rules[1], "-i"), Some("br-1"));
        assert_eq!(rules_with_comment(listing, "hub:a and more").len(), 1);
    }

    #[test]
    fn splits_quoted_words() {
        assert_eq!(
            split_words(r#"-A X --comment "a \"b\" c" -j ACCEPT"#),
            ["-A", "X", "--comment", "a \"b\" c", "-j", "ACCEPT"]
        );
        assert_eq!(split_words(r#"x "" y"#), ["x", "", "y"]);
    }
}
