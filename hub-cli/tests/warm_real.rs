//! Warm start on the real engines, through the `hub` binary: a lab with one warm VM and one
//! container. The first `up` boots cold and saves a snapshot; a later `up` restores it, and the
//! restored VM answers SSH with the pinned host key, holds its reserved address, resolves and
//! reaches the container by name, and has the host's time. The lab directory deleted between
//! runs still restores. A truncated entry boots cold with the reason and is replaced; a changed
//! spec boots cold and makes a second entry. An `up` SIGKILLed while it saves leaves nothing
//! after `down` but a partial folder that is never used, and the next `up` works. The lab's
//! identity (its WireGuard client config) outlives `down`, and `down --purge` makes new keys.

mod common;

use std::path::Path;

use common::{LabGuard, hub, show};

const LAB: &str = "t-hub-warm";

fn spec(memory: u32) -> String {
    format!(
        "name: {LAB}
subnet: 10.205.151.0/24
containers:
  - name: web
    image: hub-test/busybox:latest
    cmd: [\"sh\", \"-c\", \"mkdir -p /www && echo hello from web > /www/index.html && exec httpd -f -p 80 -h /www\"]
vms:
  - name: vm1
    image: /var/cache/hub-test/debian-12.qcow2
    memory_mb: {memory}
    vcpus: 2
    warm: true
wireguard:
  enabled: true
  subnet: 10.205.152.0/24
  listen_port: 51861
  peers: [{{name: laptop}}]
"
    )
}

/// `hub up` with the warm cache at `cache`; its output.
fn up(state: &Path, cache: &Path, file: &Path) -> std::process::Output {
    let out = std::process::Command::new(common::HUB)
        .args(["up", "-c"])
        .arg(file)
        .env("HUB_STATE_DIR", state)
        .env("HUB_WARM_CACHE", cache)
        .env("HUB_BIN", common::HUB)
        .env_remove("HUB_CONFIG")
        .output()
        .expect("hub up runs");
    assert!(out.status.success(), "{}", show(&out));
    out
}

/// The VM's boot as `status --json` reports it.
fn boot(state: &Path) -> String {
    boot_of(state, LAB)
}

/// The boot of `vm1` of `lab` as `status --json` reports it.
fn boot_of(state: &Path, lab: &str) -> String {
    let out = hub(state, &["status", "--lab", lab, "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    v["workloads"]
        .as_array()
        .expect("workloads")
        .iter()
        .find(|w| w["name"] == "vm1")
        .and_then(|w| w["boot"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn entries(cache: &Path) -> Vec<serde_json::Value> {
    let out = std::process::Command::new(common::HUB)
        .args(["cache", "list", "--json", "--dir"])
        .arg(cache)
        .output()
        .expect("hub cache list");
    assert!(out.status.success(), "{}", show(&out));
    serde_json::from_slice(&out.stdout).expect("cache JSON")
}

fn down(state: &Path, purge: bool) {
    let mut args = vec!["down", "--lab", LAB];
    if purge {
        args.push("--purge");
    }
    let out = hub(state, &args);
    assert!(out.status.success(), "{}", show(&out));
}

/// What the restored (or booted) VM says about itself: it is run through `hub exec`, whose
/// ssh checks the pinned host key strictly. A restored VM's clock was set from the host's at
/// the restore; a cold-booted one's runs on its own (under TCG, with no NTP, it drifts).
fn check_vm(state: &Path, restored: bool) {
    let script = "ip -4 -o addr show; getent hosts web; \
        exec 3<>/dev/tcp/web/80 && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3; \
        echo; echo clock: $(date +%s)";
    let out = hub(
        state,
        &["exec", "--lab", LAB, "vm1", "--", "bash", "-c", script],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        text.contains("inet 10.205.151.31/"),
        "reserved address: {text}"
    );
    assert!(text.contains("10.205.151.30"), "web by name: {text}");
    assert!(text.contains("hello from web"), "web's page: {text}");
    let clock: i64 = text
        .lines()
        .find_map(|l| l.strip_prefix("clock: "))
        .and_then(|c| c.trim().parse().ok())
        .expect("clock line");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if restored {
        assert!((now - clock).abs() <= 3, "guest clock {clock}, host {now}");
    }
}

/// Whether a `.partial-*` folder of the cache holds a memory file: a save under way.
fn save_under_way(cache: &Path) -> bool {
    std::fs::read_dir(cache)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            e.file_name().to_string_lossy().starts_with(".partial-")
                && e.path().join("memory.save").exists()
        })
}

#[test]
fn a_warm_vm_is_restored_from_its_snapshot_and_a_bad_or_stale_one_is_never_used() {
    let dir = common::tempdir();
    let state = dir.path().join("state");
    let cache = dir.path().join("cache");
    let file = dir.path().join("lab.yaml");
    std::fs::write(&file, spec(512)).unwrap();
    let _guard = LabGuard {
        lab: LAB.into(),
        state: state.clone(),
    };
    let config = state.join(LAB).join("wg/clients/laptop.conf");
    let host_key = state.join(LAB).join("identity/ssh/host_keys/vm1.pub");

    eprintln!("warm test: 1. cold, then saved");
    let out = up(&state, &cache, &file);
    // Without a terminal the boot phases are lines of `up`'s output, in order.
    let text = String::from_utf8_lossy(&out.stderr);
    let at = |phase: &str| {
        text.find(&format!("· vm1: vm: {phase} ("))
            .unwrap_or_else(|| panic!("no {phase:?} phase line in:\n{text}"))
    };
    assert!(
        at("firmware") < at("kernel")
            && at("kernel") < at("lease 10.205.151.31")
            && at("lease 10.205.151.31") < at("SSH"),
        "{text}"
    );
    assert!(
        boot(&state).starts_with("cold boot (no warm snapshot: none saved yet"),
        "{}",
        boot(&state)
    );
    let saved = entries(&cache);
    assert_eq!(saved.len(), 1, "{saved:?}");
    let first_config = std::fs::read(&config).expect("client config");
    let first_host_key = std::fs::read_to_string(&host_key).expect("host key");
    check_vm(&state, false);
    down(&state, false);

    eprintln!("warm test: 2. restored, same identity");
    let out = up(&state, &cache, &file);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("restored from warm snapshot"),
        "{}",
        show(&out)
    );
    assert_eq!(boot(&state), "restored from warm snapshot");
    // A restored VM passes no firmware or kernel: it resumes.
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("· vm1: vm: firmware"),
        "{}",
        show(&out)
    );
    check_vm(&state, true);
    assert_eq!(
        std::fs::read(&config).unwrap(),
        first_config,
        "same client config"
    );
    assert_eq!(std::fs::read_to_string(&host_key).unwrap(), first_host_key);
    down(&state, false);

    eprintln!("warm test: 3. the lab directory lost: the entry carries the guest's identity");
    std::fs::remove_dir_all(state.join(LAB)).unwrap();
    up(&state, &cache, &file);
    assert_eq!(boot(&state), "restored from warm snapshot");
    check_vm(&state, true);
    down(&state, false);

    eprintln!(
        "warm test: 4. a truncated memory file: refused with a warning; the up that \
               boots cold is killed while it saves the replacement"
    );
    let key = saved[0]["key"].as_str().unwrap().to_string();
    let memory = cache.join(&key).join("memory.save");
    let len = std::fs::metadata(&memory).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&memory)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let log = dir.path().join("killed-up.log");
    let mut child = std::process::Command::new(common::HUB)
        .args(["up", "-c"])
        .arg(&file)
        .env("HUB_STATE_DIR", &state)
        .env("HUB_WARM_CACHE", &cache)
        .env("HUB_BIN", common::HUB)
        .env_remove("HUB_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("hub up starts");
    // SIGKILL once the save has begun (the VM booted cold and was ready).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1200);
    while !save_under_way(&cache) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "hub up ended before its save was seen:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        assert!(std::time::Instant::now() < deadline, "no save began");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let warned = std::fs::read_to_string(&log).unwrap();
    assert!(
        warned.contains("warm snapshot is not usable") && warned.contains("memory.save has"),
        "the truncated entry was refused with a warning naming it:\n{warned}"
    );
    down(&state, false);
    assert_eq!(common::leftovers(LAB, &state), Vec::<String>::new());
    assert_eq!(
        entries(&cache),
        Vec::<serde_json::Value>::new(),
        "no entry from a cut save"
    );
    // The next up works: cold, it saves a complete entry and clears what the cut save left.
    up(&state, &cache, &file);
    let why = boot(&state);
    assert!(
        why.starts_with("cold boot (no warm snapshot: none saved yet"),
        "{why}"
    );
    check_vm(&state, false);
    assert_eq!(entries(&cache).len(), 1);
    assert!(!save_under_way(&cache), "the cut save's folder is gone");
    down(&state, false);
    up(&state, &cache, &file);
    assert_eq!(
        boot(&state),
        "restored from warm snapshot",
        "from the replacement"
    );
    down(&state, false);

    eprintln!("warm test: 5. another spec (memory): cold, a second entry");
    std::fs::write(&file, spec(640)).unwrap();
    up(&state, &cache, &file);
    assert!(boot(&state).starts_with("cold boot (no warm snapshot: none saved yet"));
    let keys: Vec<String> = entries(&cache)
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.contains(&key));

    eprintln!("warm test: 6. down --purge: new keys for the next up");
    down(&state, true);
    assert!(!state.join(LAB).exists(), "purge removes the identity too");
    up(&state, &cache, &file);
    assert_ne!(
        std::fs::read(&config).unwrap(),
        first_config,
        "new keys after purge"
    );
    down(&state, true);
    assert_eq!(common::leftovers(LAB, &state), Vec::<String>::new());
}
