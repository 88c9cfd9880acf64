//! The serial console: attaching a terminal to it, and reading its log (its last lines,
//! without terminal control sequences).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::ExitStatus;

use crate::error::{LibvirtError, LibvirtResult};

/// Attaches the caller's terminal to the serial console of `domain` on libvirt `uri`
/// (`virsh console`; the user leaves with Ctrl-]) and returns how the session ended.
pub async fn attach_console(uri: &str, domain: &str) -> LibvirtResult<ExitStatus> {
    tokio::process::Command::new("virsh")
        .args(["-c", uri, "console", domain])
        .status()
        .await
        .map_err(|source| LibvirtError::Spawn {
            program: "virsh".into(),
            source,
        })
}

/// At most this many bytes are read from the end of a console log.
const MAX_TAIL_BYTES: u64 = 256 * 1024;

/// Removes carriage returns and ANSI escape sequences (colours, cursor moves) from console text.
pub fn clean_console_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ params final-byte; other escapes: ESC + one char.
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// The last `lines` lines of the console log at `path` (empty when it does not exist yet).
pub fn tail_console(path: &Path, lines: usize) -> std::io::Result<String> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(MAX_TAIL_BYTES)))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let text = clean_console_text(&String::from_utf8_lossy(&buf));
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    Ok(all[start..].iter().map(|l| format!("{l}\n")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_sequences_are_removed() {
        let raw = "\u{1b}[0;32m  OK  \u{1b}[0m] Started ssh.\r\n\u{1b}cReset\u{7}\r\nlogin: ";
        assert_eq!(
            clean_console_text(raw),
            "  OK  ] Started ssh.\nReset\nlogin: "
        );
    }

    #[test]
    fn the_tail_has_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("console.log");
        assert_eq!(tail_console(&p, 5).unwrap(), "");
        let body: String = (1..=100).map(|i| format!("line {i}\r\n")).collect();
        std::fs::write(&p, body).unwrap();
        assert_eq!(tail_console(&p, 2).unwrap(), "line 99\nline 100\n");
        assert_eq!(tail_console(&p, 1000).unwrap().lines().count(), 100);
    }
}
