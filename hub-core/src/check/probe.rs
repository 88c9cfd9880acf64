//! The probes themselves, blocking, for a thread inside the source's network namespace:
//! ICMP echo on a raw socket, a TCP connect, a DNS query over UDP, an HTTP GET. Each stops at
//! its deadline; none trusts what comes back (a reply is parsed with bounds, never indexed
//! blindly).

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use socket2::{Domain, Protocol, Socket, Type};

use crate::spec::HttpGet;

/// What came back from a probe that got through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// An echo reply after this long.
    Echo(Duration),
    /// The connection was accepted.
    Connected,
    /// The server answered: its response code and the A records.
    Dns {
        /// `NoError`, `NXDomain`...
        rcode: String,
        /// The addresses in the answer.
        addrs: Vec<Ipv4Addr>,
    },
    /// An HTTP response.
    Http {
        /// Its status.
        status: u16,
        /// Its body (at most [`MAX_BODY`] bytes, lossy UTF-8).
        body: String,
    },
}

/// Why a probe did not get through (the detail shown in reports).
pub(crate) type NoReply = String;

/// The most of a response read.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// Pings `to` until a reply comes or `until` passes (one echo every 500 ms).
pub(crate) fn ping(to: Ipv4Addr, until: Instant) -> Result<Reply, NoReply> {
    let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
        .map_err(|e| format!("cannot open a raw ICMP socket: {e}"))?;
    // A connected raw socket receives only what `to` sends.
    sock.connect(&SocketAddr::V4(SocketAddrV4::new(to, 0)).into())
        .map_err(|e| format!("no route to {to}: {e}"))?;
    let id = (std::process::id() as u16) ^ (rand_id() as u16);
    let start = Instant::now();
    let mut seq: u16 = 0;
    let mut sent = 0u32;
    let mut last_err = None;
    while Instant::now() < until {
        seq = seq.wrapping_add(1);
        let sent_at = Instant::now();
        if let Err(e) = (&sock).write(&echo_request(id, seq)) {
            last_err = Some(e.to_string());
        } else {
            sent += 1;
        }
        let round_end = (sent_at + Duration::from_millis(500)).min(until);
        while let Some(left) = round_end.checked_duration_since(Instant::now()) {
            if left.is_zero() {
                break;
            }
            let _ = sock.set_read_timeout(Some(left));
            let mut buf = [0u8; 1500];
            match (&sock).read(&mut buf) {
                Ok(n) if is_echo_reply(&buf[..n], id) => return Ok(Reply::Echo(sent_at.elapsed())),
                Ok(_) => continue,
                Err(_) => break,
            }
        }
    }
    let waited = start.elapsed();
    Err(match last_err {
        Some(e) if sent == 0 => format!("cannot send to {to}: {e}"),
        _ => format!(
            "no echo reply from {to} to {sent} requests in {:.1} s",
            waited.as_secs_f64()
        ),
    })
}

fn rand_id() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![8, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"virtual-hub-check");
    let sum = checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Whether an IPv4 packet (as a raw socket hands it over) is an echo reply of ours.
fn is_echo_reply(packet: &[u8], id: u16) -> bool {
    let Some(first) = packet.first() else {
        return false;
    };
    let header = usize::from(first & 0x0f) * 4;
    match packet.get(header..header + 8) {
        Some(icmp) => icmp[0] == 0 && icmp[4..6] == id.to_be_bytes(),
        None => false,
    }
}

/// Connects to `to:port`.
pub(crate) fn tcp(to: Ipv4Addr, port: u16, until: Instant) -> Result<Reply, NoReply> {
    connect(to, port, until).map(|_| Reply::Connected)
}

fn connect(to: Ipv4Addr, port: u16, until: Instant) -> Result<TcpStream, NoReply> {
    let left = until
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "no time left".to_string())?;
    TcpStream::connect_timeout(&SocketAddr::V4(SocketAddrV4::new(to, port)), left).map_err(|e| {
        match e.kind() {
            std::io::ErrorKind::ConnectionRefused => format!("{to}:{port} refused the connection"),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                format!("no answer from {to}:{port} in {:.1} s", left.as_secs_f64())
            }
            _ => format!("cannot connect to {to}:{port}: {e}"),
        }
    })
}

/// Asks the DNS server at `server` for `name`'s A record (again every second until `until`).
pub(crate) fn dns(server: Ipv4Addr, name: &str, until: Instant) -> Result<Reply, NoReply> {
    let fqdn = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    let qname = Name::from_str(&fqdn).map_err(|e| format!("\"{name}\" is not a DNS name: {e}"))?;
    let id = rand_id() as u16;
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(qname, RecordType::A));
    let bytes = m
        .to_vec()
        .map_err(|e| format!("cannot encode the query: {e}"))?;
    let sock = std::net::UdpSocket::bind("0.0.0.0:0")
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    sock.connect((server, 53))
        .map_err(|e| format!("no route to {server}: {e}"))?;
    let mut tries = 0;
    while Instant::now() < until {
        tries += 1;
        let _ = sock.send(&bytes);
        let round_end = (Instant::now() + Duration::from_secs(1)).min(until);
        while let Some(left) = round_end
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        {
            let _ = sock.set_read_timeout(Some(left));
            let mut buf = [0u8; 4096];
            let Ok(n) = sock.recv(&mut buf) else { break };
            let Ok(answer) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if answer.metadata.id != id {
                continue;
            }
            let addrs = answer
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect();
            return Ok(Reply::Dns {
                rcode: format!("{:?}", answer.metadata.response_code),
                addrs,
            });
        }
    }
    Err(format!(
        "no answer from {server}:53 to {tries} queries for {name}"
    ))
}

/// GETs `get.path` from `to:get.port` (HTTP/1.1, `Connection: close`).
pub(crate) fn http(
    to: Ipv4Addr,
    host: &str,
    get: &HttpGet,
    until: Instant,
) -> Result<Reply, NoReply> {
    let mut stream = connect(to, get.port, until)?;
    let left = until
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let _ = stream.set_read_timeout(Some(left));
    let _ = stream.set_write_timeout(Some(left));
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: virtual-hub-check\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        get.path
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send the request to {to}:{}: {e}", get.port))?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if Instant::now() >= until {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&chunk[..n]);
                if raw.len() >= MAX_BODY {
                    break;
                }
            }
            Err(_) if !raw.is_empty() => break,
            Err(e) => return Err(format!("no response from {to}:{}: {e}", get.port)),
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&raw) {
        Ok(httparse::Status::Complete(at)) => Ok(Reply::Http {
            status: response.code.unwrap_or(0),
            body: String::from_utf8_lossy(&raw[at..]).into_owned(),
        }),
        Ok(httparse::Status::Partial) => Err(format!(
            "an incomplete HTTP response from {to}:{} ({} bytes)",
            get.port,
            raw.len()
        )),
        Err(e) => Err(format!("not an HTTP response from {to}:{}: {e}", get.port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_requests_carry_a_valid_checksum() {
        let p = echo_request(0x1234, 7);
        assert_eq!(checksum(&p), 0);
        let mut reply = vec![0x45u8; 20];
        reply.extend_from_slice(&p);
        reply[20] = 0;
        assert!(is_echo_reply(&reply, 0x1234));
        assert!(!is_echo_reply(&reply, 0x4321));
        assert!(!is_echo_reply(&reply[..24], 0x1234));
        assert!(!is_echo_reply(&[0xff], 0x1234));
    }

    #[test]
    fn a_local_server_answers_tcp_and_http() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope!")
                .unwrap();
        });
        let until = Instant::now() + Duration::from_secs(5);
        let get = HttpGet {
            host: None,
            port,
            path: "/x".into(),
        };
        let reply = http(Ipv4Addr::LOCALHOST, "x", &get, until).unwrap();
        assert_eq!(
            reply,
            Reply::Http {
                status: 404,
                body: "nope!".into()
            }
        );
        server.join().unwrap();
        let refused = tcp(Ipv4Addr::LOCALHOST, port, until).unwrap_err();
        assert!(refused.contains("refused"), "{refused}");
    }
}
