//! A second Docker Engine on this machine, standing in for another host: `dockerd` in its own
//! network namespace (reached over a veth pair at `10.204.250.(4k+2)`), with its own data
//! root, exec root and no default bridge under `/tmp/ms-dockerd-NAME`, listening on TCP with
//! mutual TLS (certificates made here with openssl, ECDSA P-256). `--iptables=false`: it
//! leaves the host's firewall alone. Dropping it stops the daemon and removes everything it
//! made (its namespace, veth, mounts and folder).
//!
//! Starting one took 1.2 s here (once 14 s, on a busy machine); a test binary starts one
//! and shares it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A running second engine; see the module's docs.
pub struct SecondDockerd {
    /// Its name (`ms-NAME` namespace, `/tmp/ms-dockerd-NAME`).
    pub name: String,
    /// `IP:PORT` it listens on.
    pub addr: String,
    /// The address of its end of the veth pair (its "underlay" address).
    pub ip: String,
    /// Its folder: data root, exec root, certificates, log.
    pub dir: PathBuf,
    /// The client's TLS folder (`ca.pem`, `cert.pem`, `key.pem`) the engine accepts.
    pub tls: PathBuf,
    /// A client TLS folder from another CA: the engine's certificate does not verify.
    pub wrong_tls: PathBuf,
    child: std::process::Child,
    netns: String,
    veth: String,
}

fn run(what: &str, cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    run(
        &format!("openssl {args:?}"),
        Command::new("openssl").current_dir(dir).args(args),
    );
}

/// A CA (`NAME-ca.pem`, `NAME-ca-key.pem`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}-ca-key.pem"),
            "-out",
            &format!("{name}-ca.pem"),
        ],
    );
}

/// A certificate `OUT-cert.pem` / `OUT-key.pem` signed by CA `ca`, with extensions `ext`.
fn make_cert(dir: &Path, ca: &str, out: &str, ext: &str) {
    std::fs::write(dir.join(format!("{out}.ext")), ext).expect("ext file");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={out}"),
            "-keyout",
            &format!("{out}-key.pem"),
            "-out",
            &format!("{out}.csr"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{out}.csr"),
            "-CA",
            &format!("{ca}-ca.pem"),
            "-CAkey",
            &format!("{ca}-ca-key.pem"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{out}.ext"),
            "-out",
            &format!("{out}-cert.pem"),
        ],
    );
}

/// A client TLS folder as Docker lays it out: `ca.pem`, `cert.pem`, `key.pem`.
fn client_dir(certs: &Path, d: PathBuf, ca: &str, cert: &str) -> PathBuf {
    std::fs::create_dir_all(&d).expect("tls dir");
    for (from, to) in [
        (format!("{ca}-ca.pem"), "ca.pem"),
        (format!("{cert}-cert.pem"), "cert.pem"),
        (format!("{cert}-key.pem"), "key.pem"),
    ] {
        std::fs::copy(certs.join(from), d.join(to)).expect("copy cert");
    }
    d
}

impl SecondDockerd {
    /// Starts engine `name` (at most 9 characters) as number `index` (1 to 60: its veth takes
    /// `10.204.250.(4*index)/30`), listening on `port`, and waits until it answers.
    pub fn start(name: &str, index: u8, port: u16) -> Self {
        assert!(
            name.len() <= 9 && (1..=60).contains(&index),
            "{name} {index}"
        );
        let dir = PathBuf::from(format!("/tmp/ms-dockerd-{name}"));
        let netns = format!("ms-{name}");
        let veth = format!("ms-{name}0");
        let base = u32::from(index) * 4;
        let host_ip = format!("10.204.250.{}", base + 1);
        let ip = format!("10.204.250.{}", base + 2);
        // What an earlier run that was killed left.
        cleanup(&dir, &netns, &veth);
        std::fs::create_dir_all(&dir).expect("dir");
        let certs = dir.join("certs");
        std::fs::create_dir_all(&certs).expect("certs");
        make_ca(&certs, "ms");
        make_ca(&certs, "other");
        make_cert(
            &certs,
            "ms",
            "server",
            &format!("subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth\n"),
        );
        make_cert(&certs, "ms", "client", "extendedKeyUsage=clientAuth\n");
        make_cert(&certs, "other", "stranger", "extendedKeyUsage=clientAuth\n");
        let tls = client_dir(&certs, dir.join("client"), "ms", "client");
        let wrong_tls = client_dir(&certs, dir.join("wrong-ca"), "other", "stranger");

        run(
            "ip netns add",
            Command::new("ip").args(["netns", "add", &netns]),
        );
        let peer = format!("ms-{name}1");
        run(
            "ip link add",
            Command::new("ip").args(["link", "add", &veth, "type", "veth", "peer", "name", &peer]),
        );
        run(
            "ip link set netns",
            Command::new("ip").args(["link", "set", &peer, "netns", &netns]),
        );
        run(
            "ip addr add",
            Command::new("ip").args(["addr", "add", &format!("{host_ip}/30"), "dev", &veth]),
        );
        run(
            "ip link up",
            Command::new("ip").args(["link", "set", &veth, "up"]),
        );
        let inside = |args: &[&str]| {
            run(
                &format!("ip {args:?} in {netns}"),
                Command::new("ip").args(["-n", &netns]).args(args),
            );
        };
        inside(&["addr", "add", &format!("{ip}/30"), "dev", &peer]);
        inside(&["link", "set", &peer, "up"]);
        inside(&["link", "set", "lo", "up"]);

        let addr = format!("{ip}:{port}");
        let log = std::fs::File::create(dir.join("dockerd.log")).expect("log");
        let s = |p: &str| dir.join(p).display().to_string();
        // nsenter (not `ip netns exec`, which remounts /sys and hides the cgroups) enters only
        // the network namespace.
        let child = Command::new("setsid")
            .args(["nsenter", &format!("--net=/run/netns/{netns}"), "dockerd"])
            .args(["--host", &format!("tcp://{addr}"), "--tlsverify"])
            .args(["--tlscacert", &s("certs/ms-ca.pem")])
            .args(["--tlscert", &s("certs/server-cert.pem")])
            .args(["--tlskey", &s("certs/server-key.pem")])
            .args(["--data-root", &s("data"), "--exec-root", &s("exec")])
            .args(["--pidfile", &s("dockerd.pid")])
            .args(["--iptables=false", "--ip-masq=false", "--bridge=none"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("dockerd");
        let d = SecondDockerd {
            name: name.to_string(),
            addr,
            ip,
            dir,
            tls,
            wrong_tls,
            child,
            netns,
            veth,
        };
        super::wait_for(
            &format!(
                "dockerd {name} to answer (log {})",
                d.dir.join("dockerd.log").display()
            ),
            Duration::from_secs(90),
            || {
                d.docker(&["version", "--format", "{{.Server.Version}}"])
                    .status
                    .success()
            },
        );
        d
    }

    /// `docker ARGS` against this engine, with the client certificates.
    pub fn docker(&self, args: &[&str]) -> Output {
        let t = |f: &str| self.tls.join(f).display().to_string();
        Command::new("docker")
            .args([
                "--tlsverify",
                "--tlscacert",
                &t("ca.pem"),
                "--tlscert",
                &t("cert.pem"),
            ])
            .args([
                "--tlskey",
                &t("key.pem"),
                "-H",
                &format!("tcp://{}", self.addr),
            ])
            .args(args)
            .output()
            .expect("docker")
    }

    /// Copies `image` from this machine's engine into this one (`docker save | docker load`).
    pub fn load_image(&self, image: &str) {
        let t = |f: &str| self.tls.join(f).display().to_string();
        let script = format!(
            "docker save {image} | docker --tlsverify --tlscacert {} --tlscert {} --tlskey {} \
             -H tcp://{} load",
            t("ca.pem"),
            t("cert.pem"),
            t("key.pem"),
            self.addr
        );
        run(
            &format!("loading {image}"),
            Command::new("sh").args(["-c", &script]),
        );
    }

    /// The names of its containers and networks carrying `lab`'s label.
    pub fn lab_things(&self, lab: &str) -> Vec<String> {
        let filter = format!("label=io.hub.lab={lab}");
        let mut out = Vec::new();
        for (what, args) in [
            (
                "container",
                vec!["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"],
            ),
            (
                "network",
                vec![
                    "network",
                    "ls",
                    "--filter",
                    &filter,
                    "--format",
                    "{{.Name}}",
                ],
            ),
            (
                "volume",
                vec!["volume", "ls", "--filter", &filter, "--format", "{{.Name}}"],
            ),
        ] {
            let o = self.docker(&args);
            assert!(o.status.success(), "docker {args:?}: {o:?}");
            for l in String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| !l.is_empty())
            {
                out.push(format!("{what} {l}"));
            }
        }
        out
    }
}

/// Stops the daemon its pidfile names, and removes the namespace, the veth, what is still
/// mounted below `dir`, and `dir`.
fn cleanup(dir: &Path, netns: &str, veth: &str) {
    let pid: Option<u32> = std::fs::read_to_string(dir.join("dockerd.pid"))
        .ok()
        .and_then(|p| p.trim().parse().ok());
    if let Some(pid) = pid {
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        let is_dockerd = std::fs::read_to_string(proc_dir.join("cmdline"))
            .is_ok_and(|c| c.contains("dockerd") && c.contains(&*dir.to_string_lossy()));
        if is_dockerd {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            // A daemon of an earlier run is not this process's child: wait for it to go.
            for _ in 0..300 {
                let gone = std::fs::read_to_string(proc_dir.join("stat"))
                    .map_or(true, |s| s.contains(") Z "));
                if gone {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
        let prefix = dir.display().to_string();
        let mut below: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        below.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in below {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
    }
    let _ = Command::new("ip").args(["netns", "del", netns]).output();
    let _ = Command::new("ip").args(["link", "del", veth]).output();
    let _ = std::fs::remove_dir_all(dir);
}

impl Drop for SecondDockerd {
    fn drop(&mut self) {
        cleanup(&self.dir, &self.netns, &self.veth);
        // Reap it (it is this process's child).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
