//! `hub serve` under load: 20 labs of 5 containers created through the API at once, all up,
//! all deleted, nothing left; meanwhile the latency of `GET /labs/LAB` (the status of a lab
//! that is up) is measured, and printed beside the same call on the idle server (the baseline,
//! same run). Figures only: nothing is asserted about time.
//!
//! `cargo bench -p hub-benches --bench serve_load` (HUB_BIN names the `hub` to serve with;
//! HUB_BENCH_LABS sets the number of labs, 20 by default). Needs the Docker Engine and
//! hub-test/busybox (scripts/setup-host.sh). Labs are `sv-load-NN` on 10.234.(100+NN).0/24;
//! HUB_BENCH_PREFIX, HUB_BENCH_NET and HUB_BENCH_BASE change the name's start, the /16 and
//! the first third octet (`sg-load`, `10.202`, `130`), to keep clear of other labs on the
//! machine.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hub_cli::client::Client;
use hyper::{Method, StatusCode};

const CONTAINERS: usize = 5;
const BASELINE_CALLS: usize = 200;
const LIMIT: Duration = Duration::from_secs(900);

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.into())
}

fn lab(i: usize) -> String {
    format!("{}-{i:02}", env_or("HUB_BENCH_PREFIX", "sv-load"))
}

fn spec(i: usize) -> String {
    let mut s = format!(
        "name: {}\nsubnet: {}.{}.0/24\ncontainers:\n",
        lab(i),
        env_or("HUB_BENCH_NET", "10.234"),
        env_or("HUB_BENCH_BASE", "100")
            .parse::<usize>()
            .unwrap_or(100)
            + i
    );
    for c in 1..=CONTAINERS {
        s.push_str(&format!(
            "  - name: c{c}\n    image: hub-test/busybox:latest\n    cmd: [sleep, \"3600\"]\n"
        ));
    }
    s
}

fn docker_left(lab: &str) -> usize {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=io.hub.lab={lab}")])
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

async fn phase(client: &Client, lab: &str) -> Option<String> {
    let a = client
        .request(Method::GET, &format!("/labs/{lab}"), None)
        .await
        .expect("GET a lab");
    if a.status == StatusCode::NOT_FOUND {
        return None;
    }
    let v: serde_json::Value = a.json().expect("a lab's JSON");
    v["phase"].as_str().map(str::to_string)
}

/// Waits until every lab's phase satisfies `done`.
async fn wait_all(client: &Client, labs: &[String], done: impl Fn(Option<&str>) -> bool) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let phases = futures::future::join_all(labs.iter().map(|l| phase(client, l))).await;
        if phases.iter().all(|p| done(p.as_deref())) {
            return;
        }
        assert!(
            !phases.iter().any(|p| p.as_deref() == Some("failed")),
            "a lab failed: {phases:?}"
        );
        assert!(Instant::now() < deadline, "labs not settled: {phases:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(what: &str, mut d: Vec<Duration>) -> (Duration, Duration) {
    d.sort();
    let (p50, p99) = (percentile(&d, 0.50), percentile(&d, 0.99));
    println!(
        "{what:<34} n={:<5} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        d.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        d.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    (p50, p99)
}

async fn status_once(client: &Client, lab: &str) -> Duration {
    let t = Instant::now();
    let a = client
        .request(Method::GET, &format!("/labs/{lab}"), None)
        .await
        .expect("status");
    assert_eq!(a.status, StatusCode::OK);
    t.elapsed()
}

/// CPU time, time waiting for a core, and time slices of a group of threads (nanoseconds).
#[derive(Debug, Default, Clone, Copy)]
struct Sched {
    cpu: u64,
    waited: u64,
    slices: u64,
}

/// Every thread of process `pid`, grouped by name (`hub-api`, `hub-ops`, ...), from
/// `/proc/PID/task/TID/schedstat`: on CPU, waiting on a run queue, time slices.
fn sched_by_thread(pid: u32) -> BTreeMap<(u32, String), Sched> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let Ok(tid) = t.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        let f: Vec<u64> = stat
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if let [cpu, waited, slices] = f[..] {
            out.insert(
                (tid, comm.trim().to_string()),
                Sched {
                    cpu,
                    waited,
                    slices,
                },
            );
        }
    }
    out
}

/// Prints, per thread name, what the threads of the process did between `before` and
/// `after`: CPU time, time spent runnable but waiting for a core, and the mean wait per slice.
fn print_sched(
    whose: &str,
    before: &BTreeMap<(u32, String), Sched>,
    after: &BTreeMap<(u32, String), Sched>,
) {
    let mut groups: BTreeMap<&str, (usize, Sched)> = BTreeMap::new();
    for (key, a) in after {
        let b = before.get(key).copied().unwrap_or_default();
        let g = groups.entry(key.1.as_str()).or_default();
        g.0 += 1;
        g.1.cpu += a.cpu.saturating_sub(b.cpu);
        g.1.waited += a.waited.saturating_sub(b.waited);
        g.1.slices += a.slices.saturating_sub(b.slices);
    }
    println!("  {whose} threads during the load (/proc/PID/task/*/schedstat):");
    for (name, (n, s)) in groups {
        println!(
            "    {name:<16} threads {n:<3} cpu {:>8.2} s  waiting for a core {:>7.2} s  \
             slices {:>7}  mean wait {:>6.2} ms",
            s.cpu as f64 / 1e9,
            s.waited as f64 / 1e9,
            s.slices,
            s.waited as f64 / 1e6 / s.slices.max(1) as f64
        );
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn start_server(hub: &Path, dir: &Path) -> Child {
    Command::new(hub)
        .args(["serve", "--listen"])
        .arg(format!("unix:{}", dir.join("hub.sock").display()))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env("HUB_BIN", hub)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("hub serve starts")
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("HUB_BENCH_LABS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let hub = hub_benches::hub_bin();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = start_server(&hub, dir.path());
    let client = Client::parse(&format!("unix://{}", dir.path().join("hub.sock").display()))
        .expect("socket url");
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.request(Method::GET, "/labs", None).await.is_err() {
        assert!(Instant::now() < deadline, "hub serve did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The lab whose status is read, up alone first; the baseline is its status on the idle server.
    let watched = lab(0);
    let a = client
        .request(
            Method::PUT,
            &format!("/labs/{watched}"),
            Some(spec(0).into_bytes()),
        )
        .await
        .expect("PUT");
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.errors());
    wait_all(&client, std::slice::from_ref(&watched), |p| {
        p == Some("ready")
    })
    .await;
    let mut idle = Vec::with_capacity(BASELINE_CALLS);
    for _ in 0..BASELINE_CALLS {
        idle.push(status_once(&client, &watched).await);
    }

    // The load: n labs at once, then all deleted at once; the status read throughout.
    let labs: Vec<String> = (1..=n).map(lab).collect();
    let busy = Arc::new(AtomicBool::new(true));
    // The client that times the status has a thread of its own at the API's priority: a
    // client elsewhere would not wait for these 2 cores, and its wait is not the server's.
    let sampler = {
        let (client, watched, busy) = (client.clone(), watched.clone(), busy.clone());
        std::thread::spawn(move || {
            hub_server::api_thread();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the sampler's runtime");
            rt.block_on(async move {
                let mut d = Vec::new();
                while busy.load(Ordering::Relaxed) {
                    d.push(status_once(&client, &watched).await);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                d
            })
        })
    };
    let load_before = load_average();
    let sched_before = sched_by_thread(server.id());
    let own_before = sched_by_thread(std::process::id());
    let t = Instant::now();
    let puts = futures::future::join_all((1..=n).map(|i| {
        let client = client.clone();
        async move {
            client
                .request(
                    Method::PUT,
                    &format!("/labs/{}", lab(i)),
                    Some(spec(i).into_bytes()),
                )
                .await
                .expect("PUT")
        }
    }))
    .await;
    for a in &puts {
        assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.errors());
    }
    let accepted = t.elapsed();
    wait_all(&client, &labs, |p| p == Some("ready")).await;
    let all_up = t.elapsed();
    let t = Instant::now();
    let deletes = futures::future::join_all(labs.iter().map(|l| {
        let client = client.clone();
        async move {
            client
                .request(Method::DELETE, &format!("/labs/{l}"), None)
                .await
                .expect("DELETE")
        }
    }))
    .await;
    for a in &deletes {
        assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.errors());
    }
    wait_all(&client, &labs, |p| p.is_none()).await;
    let all_gone = t.elapsed();
    busy.store(false, Ordering::Relaxed);
    let loaded = sampler.join().expect("sampler");
    let sched_after = sched_by_thread(server.id());
    let own_after = sched_by_thread(std::process::id());
    let load_after = load_average();

    let a = client
        .request(Method::DELETE, &format!("/labs/{watched}?wait=true"), None)
        .await
        .expect("DELETE");
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.errors());
    let left: usize = std::iter::once(&watched)
        .chain(&labs)
        .map(|l| docker_left(l))
        .sum();
    let _ = Command::new("kill").arg(server.id().to_string()).status();
    let _ = server.wait();

    println!(
        "serve_load: {n} labs of {CONTAINERS} containers (and netd each) through the API, {}",
        hub.display()
    );
    println!(
        "  {n} PUTs answered (202) in {:.2} s; all ready after {:.1} s; all deleted in {:.1} s; \
         containers left: {left}",
        accepted.as_secs_f64(),
        all_up.as_secs_f64(),
        all_gone.as_secs_f64()
    );
    println!("  load average before the load {load_before}, after it {load_after}");
    let (b50, b99) = summary("  GET /labs/LAB, idle (baseline)", idle);
    let (l50, l99) = summary("  GET /labs/LAB, under the load", loaded);
    println!(
        "  under load / idle: p50 {:.2}x, p99 {:.2}x",
        l50.as_secs_f64() / b50.as_secs_f64(),
        l99.as_secs_f64() / b99.as_secs_f64()
    );
    print_sched("the server's", &sched_before, &sched_after);
    print_sched("the bench's (the client's)", &own_before, &own_after);
    assert_eq!(left, 0, "containers left behind");
}
