//! A "remote" WireGuard client for the tests: a network namespace joined to the host only by a
//! veth pair, running Debian's wireguard-go with a client config the hub generated (stripped
//! by the real `wg-quick strip`, loaded by the real `wg setconf`), and resolving names through
//! the DNS server that config names. Everything it makes is removed on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// How the client's namespace is joined to this machine.
enum Link<'a> {
    /// Routed by this machine: its end of the veth pair has this address.
    Routed(&'a str),
    /// A port of this bridge.
    Bridge(&'a str),
}

/// A client namespace with a WireGuard tunnel into a lab.
pub struct RemoteClient {
    ns: String,
    host_if: String,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} could not be run: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ip(args: &[&str]) -> Output {
    run(Command::new("ip").args(args))
}

/// The values of `key` in a wg-quick config (`Address = a, b` gives both).
fn values(config: &str, key: &str) -> Vec<String> {
    config
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case(key))
        .flat_map(|(_, v)| v.split(',').map(|x| x.trim().to_string()))
        .collect()
}

impl RemoteClient {
    /// Makes namespace `ns` whose only link is a veth pair: `host_if` with `host_addr` on the
    /// host, the other end with `ns_addr` inside (both `A.B.C.D/30`). Starts wireguard-go there
    /// with `config` (a client config the hub wrote), its address and routes to the config's
    /// AllowedIPs, and a resolv.conf naming the config's DNS servers and search domains (which must
    /// include `search`).
    pub fn start(
        ns: &str,
        host_if: &str,
        host_addr: &str,
        ns_addr: &str,
        config: &str,
        search: &str,
        dir: &Path,
    ) -> RemoteClient {
        Self::start_linked(
            ns,
            host_if,
            Link::Routed(host_addr),
            ns_addr,
            config,
            search,
            dir,
        )
    }

    /// [`RemoteClient::start`] for a client on a network of this machine: the host end of the
    /// veth pair is a port of `bridge` (the fixture hosts' underlay), and `ns_addr`
    /// (`A.B.C.D/N`, free on that network) is the client's address there, as a laptop on the
    /// hosts' LAN would have.
    pub fn on_bridge(
        ns: &str,
        host_if: &str,
        bridge: &str,
        ns_addr: &str,
        config: &str,
        search: &str,
        dir: &Path,
    ) -> RemoteClient {
        Self::start_linked(
            ns,
            host_if,
            Link::Bridge(bridge),
            ns_addr,
            config,
            search,
            dir,
        )
    }

    fn start_linked(
        ns: &str,
        host_if: &str,
        link: Link<'_>,
        ns_addr: &str,
        config: &str,
        search: &str,
        dir: &Path,
    ) -> RemoteClient {
        let client = RemoteClient {
            ns: ns.to_string(),
            host_if: host_if.to_string(),
        };
        client.remove();
        let peer_if = format!("{host_if}p");
        ip(&["netns", "add", ns]);
        ip(&[
            "link", "add", host_if, "type", "veth", "peer", "name", &peer_if,
        ]);
        ip(&["link", "set", &peer_if, "netns", ns]);
        match link {
            Link::Routed(host_addr) => ip(&["addr", "add", host_addr, "dev", host_if]),
            Link::Bridge(bridge) => ip(&["link", "set", host_if, "master", bridge]),
        };
        ip(&["link", "set", host_if, "up"]);
        client.ip(&["addr", "add", ns_addr, "dev", &peer_if]);
        client.ip(&["link", "set", &peer_if, "up"]);
        client.ip(&["link", "set", "lo", "up"]);

        // wg-quick derives the interface name from the file name.
        // wireguard-go's control socket (/var/run/wireguard/NAME.sock) is not per namespace:
        // each client's interface has a name of its own, after its veth.
        let wg_if = format!("c{host_if}");
        let wg_if = wg_if.as_str();
        let conf: PathBuf = dir.join(format!("{wg_if}.conf"));
        std::fs::write(&conf, config).expect("write the client config");
        let stripped = run(Command::new("wg-quick").arg("strip").arg(&conf)).stdout;
        let stripped_path = dir.join(format!("{wg_if}.stripped"));
        std::fs::write(&stripped_path, stripped).expect("write the stripped config");

        // wireguard-go forks into the background: detach its output so it holds no pipe.
        let log = std::fs::File::create(dir.join("wireguard-go.log")).expect("log file");
        run(Command::new("ip")
            .args(["netns", "exec", ns, "wireguard-go", wg_if])
            .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log));
        client.exec(&[
            "wg",
            "setconf",
            wg_if,
            stripped_path.to_str().expect("utf-8"),
        ]);
        for addr in values(config, "Address") {
            client.ip(&["addr", "add", &addr, "dev", wg_if]);
        }
        client.ip(&["link", "set", wg_if, "up"]);
        for net in values(config, "AllowedIPs") {
            client.ip(&["route", "replace", &net, "dev", wg_if]);
        }
        // As wg-quick reads `DNS =`: addresses are servers, anything else a search domain.
        let (servers, domains): (Vec<String>, Vec<String>) = values(config, "DNS")
            .into_iter()
            .partition(|d| d.parse::<std::net::IpAddr>().is_ok());
        assert!(!servers.is_empty(), "the client config names no DNS server");
        assert!(
            domains.iter().any(|d| d == search),
            "the client config's DNS line has no search domain {search}: {domains:?}"
        );
        // `ip netns exec` bind-mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf.
        let etc = Path::new("/etc/netns").join(ns);
        std::fs::create_dir_all(&etc).expect("/etc/netns/NS");
        let resolv: String = servers
            .iter()
            .map(|d| format!("nameserver {d}\n"))
            .chain([format!(
                "search {}\noptions timeout:2 attempts:2\n",
                domains.join(" ")
            )])
            .collect();
        std::fs::write(etc.join("resolv.conf"), resolv).expect("resolv.conf");
        client
    }

    fn ip(&self, args: &[&str]) -> Output {
        run(Command::new("ip").args(["-n", &self.ns]).args(args))
    }

    /// Runs a command inside the namespace and asserts it succeeded.
    pub fn exec(&self, args: &[&str]) -> Output {
        run(Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args))
    }

    /// `curl`s `url` from the namespace until `done` holds for the page, while the tunnel comes
    /// up: at most 15 tries, 3 s each, a second apart. Returns the last page (empty when none
    /// came).
    pub fn fetch_until(&self, url: &str, done: impl Fn(&str) -> bool) -> String {
        let mut page = String::new();
        for _ in 0..15 {
            let o = self.try_exec(&["curl", "-s", "--max-time", "3", url]);
            page = String::from_utf8_lossy(&o.stdout).into_owned();
            if done(&page) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        page
    }

    /// Runs a command inside the namespace, whatever its exit code.
    pub fn try_exec(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args)
            .output()
            .expect("ip netns exec")
    }

    /// A `Command` that runs `program` inside the namespace (to add env or args).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, program]);
        c
    }

    fn remove(&self) {
        // wireguard-go keeps the namespace alive while it runs: stop what runs there first.
        if let Ok(o) = Command::new("ip")
            .args(["netns", "pids", &self.ns])
            .output()
        {
            for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = Command::new("kill").arg(pid).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.ns])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(&self.ns));
    }
}

impl Drop for RemoteClient {
    fn drop(&mut self) {
        self.remove();
    }
}
