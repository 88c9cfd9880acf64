//! Following a VM's serial console log (`hub logs -f VM`): its last lines, then what QEMU
//! appends, read every 250 ms until the reader drops the stream.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use hub_runtime::{LogStream, RuntimeResult};

use crate::console::tail_console;

/// How often the log file is looked at for new text.
const POLL: Duration = Duration::from_millis(250);

/// The last `tail` lines of `path`, then its new bytes as they are appended (from the start
/// again if the file is truncated). A file that does not exist yet is waited for.
pub fn follow_console(path: PathBuf, tail: usize) -> std::io::Result<LogStream> {
    let first = tail_console(&path, tail)?;
    let mut offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        if !first.is_empty() && tx.send(Ok(first)).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                () = tx.closed() => return,
                () = tokio::time::sleep(POLL) => {}
            }
            let path = path.clone();
            let read = tokio::task::spawn_blocking(move || read_from(&path, offset)).await;
            let Ok(Ok((text, next))) = read else { continue };
            offset = next;
            if !text.is_empty() && tx.send(Ok(text)).await.is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

/// What `path` holds from `offset` on, and the offset after it (0 after a truncation).
fn read_from(path: &std::path::Path, offset: u64) -> RuntimeResult<(String, u64)> {
    let io = |e: std::io::Error| hub_runtime::RuntimeError::Backend {
        lab: String::new(),
        context: format!("following {}", path.display()),
        source: Box::new(e),
    };
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((String::new(), 0)),
        Err(e) => return Err(io(e)),
    };
    let len = f.metadata().map_err(io)?.len();
    let start = if len < offset { 0 } else { offset };
    f.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).map_err(io)?;
    let next = start + buf.len() as u64;
    Ok((String::from_utf8_lossy(&buf).into_owned(), next))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[tokio::test]
    async fn new_console_text_arrives_after_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.log");
        std::fs::write(&path, "one\ntwo\nthree\n").unwrap();
        let mut rx = follow_console(path.clone(), 2).unwrap();
        assert_eq!(rx.recv().await.unwrap().unwrap(), "two\nthree\n");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"four\n").unwrap();
        let next = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the appended line arrives")
            .unwrap()
            .unwrap();
        assert_eq!(next, "four\n");
        // Truncated (a new boot's log): read from the start again.
        std::fs::write(&path, "boot\n").unwrap();
        let next = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the new log arrives")
            .unwrap()
            .unwrap();
        assert_eq!(next, "boot\n");
    }
}
