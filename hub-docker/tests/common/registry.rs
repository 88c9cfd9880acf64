//! A registry this test process owns on 127.0.0.1 (Docker treats 127.0.0.0/8 as an insecure
//! registry and speaks plain HTTP to it): it serves one image of one layer through the
//! registry v2 API, and answers 404 to everything else. Pulls from it reach nothing outside
//! the test.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// A running registry; its thread ends with the test process.
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub host: String,
}

fn digest(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// A tar with one file `hello.txt` holding `text`.
fn layer(text: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(text.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "hello.txt", text.as_bytes())
        .expect("tar");
    b.into_inner().expect("tar")
}

impl Registry {
    /// Serves `repo:tag` (a one-file image) when given, else no image at all.
    pub fn start(image: Option<(&str, &str)>) -> Registry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let host = format!("127.0.0.1:{}", listener.local_addr().expect("addr").port());
        let mut routes: Vec<(String, &'static str, Vec<u8>)> = Vec::new();
        if let Some((repo, tag)) = image {
            // Big enough for Docker to report download progress.
            let layer = layer(&"hub test layer\n".repeat(20_000));
            let config = format!(
                r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/hello.txt"]}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
                digest(&layer)
            )
            .into_bytes();
            let manifest = format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{},"digest":"{}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar","size":{},"digest":"{}"}}]}}"#,
                config.len(),
                digest(&config),
                layer.len(),
                digest(&layer)
            )
            .into_bytes();
            routes.push((
                format!("/v2/{repo}/manifests/{tag}"),
                "application/vnd.docker.distribution.manifest.v2+json",
                manifest.clone(),
            ));
            routes.push((
                format!("/v2/{repo}/manifests/{}", digest(&manifest)),
                "application/vnd.docker.distribution.manifest.v2+json",
                manifest,
            ));
            for blob in [config, layer] {
                routes.push((
                    format!("/v2/{repo}/blobs/{}", digest(&blob)),
                    "application/octet-stream",
                    blob,
                ));
            }
        }
        routes.push(("/v2/".into(), "application/json", b"{}".to_vec()));
        let routes = Arc::new(routes);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let routes = routes.clone();
                std::thread::spawn(move || serve(conn, &routes));
            }
        });
        Registry { host }
    }
}

/// Answers the requests of one connection (keep-alive) until it closes.
fn serve(conn: TcpStream, routes: &[(String, &'static str, Vec<u8>)]) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    // Docker tries TLS first: answer its handshake in plain HTTP, so that it falls back at once.
    if reader.fill_buf().is_ok_and(|b| b.first() == Some(&0x16)) {
        let _ = out.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        // Headers up to the blank line; GET and HEAD carry no body.
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line.trim().is_empty() {
                break;
            }
        }
        let mut parts = request.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let found = routes.iter().find(|(p, _, _)| p == path);
        let head = match found {
            Some((_, kind, body)) => format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nDocker-Content-Digest: {}\r\nDocker-Distribution-API-Version: registry/2.0\r\n\r\n",
                body.len(),
                digest(body)
            ),
            None => "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\nDocker-Distribution-API-Version: registry/2.0\r\n\r\n".into(),
        };
        let mut reply = head.into_bytes();
        if method != "HEAD" {
            reply.extend_from_slice(found.map_or(&b"{}"[..], |(_, _, body)| body));
        }
        if out.write_all(&reply).is_err() {
            return;
        }
    }
}
