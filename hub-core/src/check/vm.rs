//! Probes from a VM: a VM has its own kernel, so its probes run in the guest over the lab's
//! SSH (pinned host key), with the guest's own tools: `ping` when it has one, else bash's
//! `/dev/tcp`; `dig` for a DNS server, else `getent` through the guest's resolver when the
//! server asked is netd on any of the lab's segments (the resolver DHCP gave it: one zone).

use std::net::Ipv4Addr;

use hub_runtime::wait::Deadline;

use super::probe::{MAX_BODY, Reply};
use crate::lab::Lab;
use crate::spec::Probe;

/// Single-quotes `s` for `sh`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A shell snippet that connects to `to:port` with bash and prints CONNECTED, REFUSED or
/// NOANSWER.
fn tcp_script(to: Ipv4Addr, port: u16, secs: u64) -> String {
    format!(
        "out=$(timeout {secs} bash -c 'exec 3<>/dev/tcp/{to}/{port}' 2>&1); rc=$?; \
         case \"$out\" in *refused*) echo REFUSED;; *) if [ $rc = 0 ]; then echo CONNECTED; \
         else echo NOANSWER; fi;; esac"
    )
}

fn tcp_reply(out: &str, to: Ipv4Addr, port: u16) -> Result<Reply, String> {
    match out.trim() {
        "CONNECTED" => Ok(Reply::Connected),
        "REFUSED" => Err(format!("{to}:{port} refused the connection")),
        _ => Err(format!("no answer from {to}:{port}")),
    }
}

/// Runs `probe` from `vm` to `to`.
pub(super) async fn probe(
    lab: &Lab,
    vm: &str,
    probe: &Probe,
    to: Ipv4Addr,
    host: &str,
    wait: &Deadline,
) -> Result<Reply, String> {
    let secs = wait
        .remaining()
        .as_secs()
        .clamp(1, 30)
        .saturating_sub(1)
        .max(1);
    let run = |script: String| async move {
        let out = lab
            .ssh(vm, &script)
            .await
            .map_err(|e| format!("cannot run the probe in {vm}: {e}"))?;
        // 255 is ssh's own failure; no output at all means the probe never ran.
        if out.exit_code == 255 || out.stdout.trim().is_empty() {
            return Err(format!(
                "the probe in {vm} did not run (ssh exit {}): {}",
                out.exit_code,
                out.stderr.trim()
            ));
        }
        Ok(out)
    };
    match probe {
        Probe::Ping => {
            let script = format!(
                "if command -v ping >/dev/null 2>&1; then if ping -c1 -W{secs} {to} >/dev/null 2>&1; \
                 then echo ECHO; else echo NOECHO; fi; else echo NOPING; {}; fi",
                tcp_script(to, 22, secs)
            );
            let out = run(script).await?.stdout;
            let mut lines = out.lines().map(str::trim);
            match lines.next() {
                Some("ECHO") => Ok(Reply::Echo(wait.elapsed())),
                Some("NOECHO") => Err(format!("no echo reply from {to}")),
                Some("NOPING") => match lines.next() {
                    // A refused connection is an answer from the address's own stack.
                    Some("CONNECTED") | Some("REFUSED") => Ok(Reply::Connected),
                    _ => Err(format!(
                        "no ping in {vm}, and no answer from {to}:22 over TCP"
                    )),
                },
                _ => Err(format!("the probe in {vm} printed {out:?}")),
            }
        }
        Probe::Tcp(port) => tcp_reply(&run(tcp_script(to, *port, secs)).await?.stdout, to, *port),
        Probe::UdpDns(name) => {
            let via_resolver = super::builtin::is_netd(lab, to);
            let script = format!(
                "if command -v dig >/dev/null 2>&1; then echo DIG; dig +short +time={secs} +tries=1 @{to} {n} A; \
                 elif {via_resolver}; then echo GETENT; getent ahostsv4 {n} | cut -d' ' -f1 | sort -u; \
                 else echo NODIG; fi",
                n = quote(name)
            );
            let out = run(script).await?.stdout;
            let mut lines = out.lines().map(str::trim);
            match lines.next() {
                Some("DIG") | Some("GETENT") => {
                    let addrs: Vec<Ipv4Addr> = lines.filter_map(|l| l.parse().ok()).collect();
                    Ok(Reply::Dns {
                        rcode: if addrs.is_empty() {
                            "NoAnswer"
                        } else {
                            "NoError"
                        }
                        .to_string(),
                        addrs,
                    })
                }
                _ => Err(format!("{vm} has no dig to ask {to}")),
            }
        }
        Probe::Http(get) => {
            let request = format!(
                "GET {} HTTP/1.0\\r\\nHost: {host}\\r\\nUser-Agent: virtual-hub-check\\r\\nConnection: close\\r\\n\\r\\n",
                get.path
            );
            let script = format!(
                "timeout {secs} bash -c {} | head -c {MAX_BODY}",
                quote(&format!(
                    "exec 3<>/dev/tcp/{to}/{} || exit 1; printf {} >&3; cat <&3",
                    get.port,
                    quote(&request)
                ))
            );
            let out = run(script).await?.stdout;
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(out.as_bytes()) {
                Ok(httparse::Status::Complete(at)) => Ok(Reply::Http {
                    status: response.code.unwrap_or(0),
                    body: out[at..].to_string(),
                }),
                _ if out.is_empty() => Err(format!("no HTTP response from {to}:{}", get.port)),
                _ => Err(format!("not an HTTP response from {to}:{}", get.port)),
            }
        }
    }
}
