//! A lab over several hosts, on a FakeRuntime per host: placement (pins, E-PVM, round-robin,
//! determinism, stickiness, shortfalls), every operation on its workload's host, and `down`
//! reaching every host from the lab's records alone.

use std::sync::Arc;

use hub_core::hosts::{FixedCapacity, HostBackends, HostCapacity};
use hub_core::runtime::{FakeRuntime, WorkloadKind};
use hub_core::testing::TestHub;
use hub_core::{Container, Host, HubBuilder, HubError, Placement, Vm};

/// A host of `cpus` CPUs and `gib` GiB, with libvirt when `vms`.
fn cap(cpus: u32, gib: u64, vms: bool) -> FixedCapacity {
    FixedCapacity(Ok(HostCapacity {
        cpus,
        memory_total_mb: gib * 1024,
        memory_available_mb: gib * 1024,
        libvirt: vms.then_some(Ok(())),
    }))
}

/// Three fake hosts (h1 the primary) and the fakes of the services.
struct Hosts {
    fakes: TestHub,
    rts: Vec<(String, FakeRuntime)>,
}

impl Hosts {
    fn new() -> Self {
        Hosts {
            fakes: TestHub::new(),
            rts: ["h1", "h2", "h3"]
                .iter()
                .map(|h| (h.to_string(), FakeRuntime::new()))
                .collect(),
        }
    }

    fn rt(&self, host: &str) -> &FakeRuntime {
        &self.rts.iter().find(|(h, _)| h == host).expect("host").1
    }

    /// A builder of lab `lab` on the three hosts with these capacities.
    fn builder(&self, lab: &str, caps: [FixedCapacity; 3]) -> HubBuilder {
        self.builder_with(lab, caps, &[])
    }

    /// [`Hosts::builder`], host `i` keeping its VM storage in `storage[i]` when given.
    fn builder_with(
        &self,
        lab: &str,
        caps: [FixedCapacity; 3],
        storage: &[Arc<FakeStorage>],
    ) -> HubBuilder {
        let mut b = self
            .fakes
            .builder()
            .name(lab)
            .network("10.204.10.0/24")
            .host(Host::new("h1"));
        for h in ["h2", "h3"] {
            b = b.host(Host::new(h).docker(format!("unix:///run/{lab}-{h}.sock")));
        }
        self.backends_with(b, caps, storage)
    }

    fn backends(&self, b: HubBuilder, caps: [FixedCapacity; 3]) -> HubBuilder {
        self.backends_with(b, caps, &[])
    }

    /// [`Hosts::backends`], host `i` keeping its VM storage in `storage[i]` when given.
    fn backends_with(
        &self,
        b: HubBuilder,
        caps: [FixedCapacity; 3],
        storage: &[Arc<FakeStorage>],
    ) -> HubBuilder {
        let mut b = b;
        for (i, ((name, rt), cap)) in self.rts.iter().zip(caps).enumerate() {
            let mut h = HostBackends::new(name.clone(), Arc::new(cap))
                .containers(Arc::new(rt.clone()))
                .vms(Arc::new(rt.clone()))
                .network(Arc::new(rt.clone()));
            if let Some(st) = storage.get(i) {
                h = h.storage(st.clone());
            }
            b = b.host_backends(h);
        }
        b
    }

    /// Which host runs each of `names` (by the fakes' contents).
    fn where_(&self, lab: &str, names: &[&str]) -> Vec<String> {
        names
            .iter()
            .map(|n| {
                let on: Vec<&str> = self
                    .rts
                    .iter()
                    .filter(|(_, rt)| rt.workload_names(lab).iter().any(|w| w == n))
                    .map(|(h, _)| h.as_str())
                    .collect();
                on.join("+")
            })
            .collect()
    }

    /// Lab `lab` on h1 and h2 only (h3 left the spec, its workload `c` with it), with `a` on h1
    /// and `b` on h2, without the hosts' backends.
    fn without_h3(&self, lab: &str) -> HubBuilder {
        self.fakes
            .builder()
            .name(lab)
            .network("10.204.10.0/24")
            .host(Host::new("h1"))
            .host(Host::new("h2").docker(format!("unix:///run/{lab}-h2.sock")))
            .container(Container::new("a", "busybox").host("h1"))
            .container(Container::new("b", "busybox").host("h2"))
    }

    fn nothing_of(&self, lab: &str) -> bool {
        self.rts
            .iter()
            .all(|(_, rt)| rt.workload_names(lab).is_empty() && !rt.has_network(lab))
    }
}

/// A VM image that passes validation (the fakes never read it).
const IMAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/magic.qcow2");

fn even() -> [FixedCapacity; 3] {
    [cap(8, 32, true), cap(8, 32, true), cap(8, 32, true)]
}

#[tokio::test]
async fn pins_are_kept_and_the_rest_is_placed_the_same_way_every_time() {
    let hosts = Hosts::new();
    let lab = "ms-place";
    let b = |hosts: &Hosts| {
        hosts
            .builder(lab, even())
            .container(Container::new("pinned", "busybox").host("h3"))
            .container(Container::new("a", "busybox").memory_mb(4096))
            .container(Container::new("b", "busybox").memory_mb(4096))
            .vm(Vm::new("v", IMAGE).memory_mb(8192))
    };
    let names = ["pinned", "a", "b", "v"];
    let up = Arc::new(b(&hosts).build().expect("hub"))
        .up()
        .await
        .expect("up");
    let first = hosts.where_(lab, &names);
    assert_eq!(first[0], "h3", "{first:?}");
    assert!(
        first.iter().all(|h| !h.contains('+') && !h.is_empty()),
        "{first:?}"
    );
    // E-PVM spreads what asks for room: no host takes both 4 GiB containers and the VM.
    assert!(!(first[1] == first[2] && first[2] == first[3]), "{first:?}");
    // The state file and the status say the same.
    for (n, h) in names.iter().zip(&first) {
        assert_eq!(
            up.workload(n).and_then(|w| w.host.as_deref()),
            Some(h.as_str())
        );
    }
    let hub = Arc::new(b(&hosts).build().expect("hub"));
    let st = hub.status().await.expect("status");
    for (n, h) in names.iter().zip(&first) {
        let row = st.workloads.iter().find(|w| w.name == *n).expect("row");
        assert_eq!(row.host.as_deref(), Some(h.as_str()), "{row:?}");
    }
    // Every operation goes to the workload's host.
    let exec_host = &first[1];
    let before: Vec<usize> = hosts.rts.iter().map(|(_, r)| r.calls().len()).collect();
    up.exec("a", ["true"]).await.expect("exec");
    for ((h, rt), n) in hosts.rts.iter().zip(before) {
        let new = &rt.calls()[n..];
        assert_eq!(
            new.iter().any(|c| c.starts_with("Exec a")),
            h == exec_host,
            "{h}: {new:?}"
        );
    }
    up.down().await.expect("down");
    assert!(hosts.nothing_of(lab));

    // The same spec on the same hosts lands the same way.
    let again = Arc::new(b(&hosts).build().expect("hub"))
        .up()
        .await
        .expect("up");
    assert_eq!(hosts.where_(lab, &names), first);
    again.down().await.expect("down");
}

#[tokio::test]
async fn round_robin_takes_the_hosts_in_turn_where_epvm_weighs_them() {
    let hosts = Hosts::new();
    // h1 is small and h3 large: E-PVM prefers room, round-robin does not look.
    let caps = || [cap(2, 8, true), cap(4, 16, true), cap(16, 64, true)];
    let lab = "ms-rr";
    let names = ["c0", "c1", "c2", "c3"];
    let spec = |b: HubBuilder| {
        names.iter().fold(b, |b, n| {
            b.container(Container::new(*n, "busybox").memory_mb(1024))
        })
    };
    let rr = Arc::new(
        spec(hosts.builder(lab, caps()))
            .placement(Placement::RoundRobin)
            .build()
            .expect("hub"),
    )
    .up()
    .await
    .expect("up");
    assert_eq!(hosts.where_(lab, &names), ["h1", "h2", "h3", "h1"]);
    rr.down().await.expect("down");
    let epvm = Arc::new(spec(hosts.builder(lab, caps())).build().expect("hub"))
        .up()
        .await
        .expect("up");
    let placed = hosts.where_(lab, &names);
    assert!(placed.iter().all(|h| h == "h3"), "{placed:?}");
    epvm.down().await.expect("down");
}

#[tokio::test]
async fn a_re_up_keeps_workloads_on_their_recorded_host() {
    let hosts = Hosts::new();
    let lab = "ms-sticky";
    let spec = |b: HubBuilder| {
        b.container(Container::new("a", "busybox").memory_mb(2048))
            .container(Container::new("b", "busybox").memory_mb(2048))
    };
    let lab1 = Arc::new(spec(hosts.builder(lab, even())).build().expect("hub"))
        .up()
        .await
        .expect("up")
        .keep();
    let first = hosts.where_(lab, &["a", "b"]);
    drop(lab1);
    // Behind the hub's back `a` is gone; the hosts now differ so that E-PVM alone would
    // choose elsewhere, and its recorded host is still the one it gets.
    let on = first[0].clone();
    let handle = hub_core::runtime::WorkloadHandle {
        lab: lab.into(),
        name: "a".into(),
        kind: WorkloadKind::Container,
        id: format!("fake-{lab}-a"),
    };
    hub_core::runtime::Runtime::remove(hosts.rt(&on), &handle)
        .await
        .expect("remove");
    let skewed = |on: &str| {
        let c = |h: &str| {
            if h == on {
                cap(1, 4, true)
            } else {
                cap(64, 512, true)
            }
        };
        [c("h1"), c("h2"), c("h3")]
    };
    let lab2 = Arc::new(spec(hosts.builder(lab, skewed(&on))).build().expect("hub"))
        .up()
        .await
        .expect("re-up");
    assert_eq!(lab2.report().created, ["a"]);
    assert_eq!(hosts.where_(lab, &["a", "b"]), first);
    lab2.down().await.expect("down");
}

#[tokio::test]
async fn a_lab_that_does_not_fit_is_refused_naming_each_host_before_anything_starts() {
    let hosts = Hosts::new();
    let lab = "ms-short";
    let small = || [cap(4, 8, true), cap(4, 8, false), cap(4, 8, true)];
    let err = hosts
        .builder(lab, small())
        .vm(Vm::new("big", IMAGE).memory_mb(12 * 1024))
        .vm(Vm::new("pinned", IMAGE).memory_mb(1024).vcpus(8).host("h3"))
        .up()
        .await
        .expect_err("refused");
    let HubError::Hosts { problems, .. } = &err else {
        panic!("{err}");
    };
    let text = err.to_string();
    assert!(text.contains("nothing was created"), "{text}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("no host can take vm \"big\"")
                && p.contains("host \"h1\" has 8 GiB of 8 GiB")
                && p.contains("host \"h2\" has no libvirt to run VMs")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("host \"h3\": the workloads placed there need 8 CPUs")),
        "{problems:#?}"
    );
    assert!(hosts.nothing_of(lab));
    assert!(hosts.rts.iter().all(|(_, rt)| rt.calls().is_empty()));
}

#[tokio::test]
async fn an_unreachable_host_or_one_without_libvirt_is_named_and_nothing_is_made() {
    let hosts = Hosts::new();
    let lab = "ms-unreach";
    let caps = || {
        [
            cap(4, 8, true),
            FixedCapacity(Err(
                "its Docker Engine at tcp://10.204.250.9:2376: invalid peer certificate".into(),
            )),
            FixedCapacity(Ok(HostCapacity {
                libvirt: Some(Err("libvirt at qemu+tcp://h3/system does not answer".into())),
                ..cap(4, 8, true).0.unwrap()
            })),
        ]
    };
    let err = hosts
        .builder(lab, caps())
        .container(Container::new("a", "busybox"))
        .vm(Vm::new("v", IMAGE).host("h3"))
        .up()
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains(
            "host \"h2\": its Docker Engine at tcp://10.204.250.9:2376: invalid peer certificate"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "host \"h3\" cannot run vm \"v\": it cannot run VMs: libvirt at qemu+tcp://h3/system \
             does not answer"
        ),
        "{text}"
    );
    assert!(hosts.nothing_of(lab));
    assert!(!hosts.fakes.lab_dir(lab).join("state.json").exists());
}

#[tokio::test]
async fn down_reaches_every_host_from_the_records_alone_and_a_host_that_left_is_cleared() {
    let hosts = Hosts::new();
    let lab = "ms-down";
    let names = ["a", "b", "c"];
    let spec = |b: HubBuilder| {
        b.container(Container::new("a", "busybox").host("h1"))
            .container(Container::new("b", "busybox").host("h2"))
            .container(Container::new("c", "busybox").host("h3"))
    };
    Arc::new(spec(hosts.builder(lab, even())).build().expect("hub"))
        .up()
        .await
        .expect("up")
        .keep();
    assert_eq!(hosts.where_(lab, &names), ["h1", "h2", "h3"]);
    assert!(hosts.rts.iter().all(|(_, rt)| rt.has_network(lab)));
    let recorded =
        std::fs::read_to_string(hosts.fakes.lab_dir(lab).join("hosts.json")).expect("hosts.json");
    assert!(
        recorded.contains("/run/ms-down-h3.sock") && !recorded.contains("key.pem"),
        "{recorded}"
    );

    // h3 leaves the spec (c with it): its workload and network go, the others stay.
    let smaller = hosts.without_h3(lab);
    let re = Arc::new(hosts.backends(smaller, even()).build().expect("hub"))
        .up()
        .await
        .expect("re-up")
        .keep();
    assert!(
        re.report().removed.iter().any(|r| r == "c"),
        "{:?}",
        re.report()
    );
    assert!(
        hosts.rt("h3").workload_names(lab).is_empty(),
        "{:?}",
        re.report()
    );
    assert!(!hosts.rt("h3").has_network(lab), "{:?}", re.report());
    assert_eq!(hosts.where_(lab, &["a", "b"]), ["h1", "h2"]);
    // `hub ls` counts the lab's workloads on each of its hosts.
    let labs = hosts
        .backends(hosts.fakes.builder(), even())
        .list_labs()
        .await
        .expect("ls");
    let listed = labs.iter().find(|l| l.name == lab).expect("listed");
    assert_eq!(listed.containers, 2, "{listed:?}");

    // `down` by the lab's name alone: no spec, and no state file either (as after a crash in
    // the first `up`): `hosts.json` is enough.
    std::fs::remove_file(hosts.fakes.lab_dir(lab).join("state.json")).expect("state file");
    let by_name = hosts.backends(hosts.fakes.builder().name(lab), even());
    let report = Arc::new(by_name.build().expect("hub"))
        .down()
        .await
        .expect("down");
    assert!(
        report.removed.iter().any(|r| r.contains("\"b\"")),
        "{report}"
    );
    assert!(hosts.nothing_of(lab));
    assert!(!hosts.fakes.lab_dir(lab).join("hosts.json").exists());
}

#[tokio::test]
async fn a_failed_first_up_left_as_it_was_is_removed_from_every_host_by_name() {
    let hosts = Hosts::new();
    let lab = "ms-crash";
    // `b` fails on h2 and nothing is rolled back: what a crash of the first `up` leaves, with
    // no state file, only the hosts' record written before anything was made.
    hosts
        .rt("h2")
        .fail(hub_core::runtime::FakeOp::WaitReady, "b");
    let err = hosts
        .builder(lab, even())
        .rollback_on_failure(false)
        .container(Container::new("a", "busybox").host("h1"))
        .container(Container::new("b", "busybox").host("h2"))
        .container(Container::new("c", "busybox").host("h3"))
        .up()
        .await
        .expect_err("b fails");
    assert!(err.to_string().contains("\"b\""), "{err}");
    assert!(!hosts.fakes.lab_dir(lab).join("state.json").exists());
    assert!(
        !hosts.rt("h2").workload_names(lab).is_empty(),
        "b is left on h2"
    );
    let by_name = hosts.backends(hosts.fakes.builder().name(lab), even());
    Arc::new(by_name.build().expect("hub"))
        .down()
        .await
        .expect("down");
    assert!(hosts.nothing_of(lab));
}

/// Records what the lab segment is asked, and checks at each call what the hosts hold.
struct RecordingSegment {
    rts: Vec<(String, FakeRuntime)>,
    lab: String,
    log: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl hub_core::hosts::LabSegment for RecordingSegment {
    fn lab_mtu(&self) -> u16 {
        1370
    }

    async fn ensure(
        &self,
        lab: &str,
        _subnet: ipnet::Ipv4Net,
        bridges: &[(String, String)],
    ) -> hub_core::runtime::RuntimeResult<()> {
        // Every host's network exists, and no workload has started yet.
        let ready = self
            .rts
            .iter()
            .all(|(_, rt)| rt.has_network(&self.lab) && rt.workload_names(&self.lab).is_empty());
        let hosts: Vec<&str> = bridges.iter().map(|(h, _)| h.as_str()).collect();
        self.log.lock().unwrap().push(format!(
            "ensure {lab} {} none-started={ready}",
            hosts.join(",")
        ));
        Ok(())
    }

    async fn remove(&self, lab: &str, hosts: &[String]) -> hub_core::runtime::RuntimeResult<()> {
        let nets = hosts
            .iter()
            .all(|h| self.rts.iter().any(|(n, rt)| n == h && rt.has_network(lab)));
        self.log.lock().unwrap().push(format!(
            "remove {lab} {} before-networks={nets}",
            hosts.join(",")
        ));
        Ok(())
    }
}

#[tokio::test]
async fn the_segment_joins_the_hosts_after_their_networks_and_goes_before_them() {
    let hosts = Hosts::new();
    let lab = "ms-seg";
    let seg = Arc::new(RecordingSegment {
        rts: hosts.rts.clone(),
        lab: lab.into(),
        log: Default::default(),
    });
    let spec = |b: HubBuilder| {
        b.container(Container::new("a", "busybox").host("h1"))
            .container(Container::new("b", "busybox").host("h2"))
            .container(Container::new("c", "busybox").host("h3"))
            .lab_segment(seg.clone())
    };
    Arc::new(spec(hosts.builder(lab, even())).build().expect("hub"))
        .up()
        .await
        .expect("up")
        .keep();
    assert_eq!(
        *seg.log.lock().unwrap(),
        [format!("ensure {lab} h1,h2,h3 none-started=true")]
    );
    // Host 3 leaves the spec: it leaves the segment before its network goes.
    let smaller = hosts.without_h3(lab).lab_segment(seg.clone());
    Arc::new(hosts.backends(smaller, even()).build().expect("hub"))
        .up()
        .await
        .expect("re-up")
        .keep();
    assert!(!hosts.rt("h3").has_network(lab));
    assert_eq!(
        seg.log.lock().unwrap()[1..],
        [
            format!("ensure {lab} h1,h2 none-started=false"),
            format!("remove {lab} h3 before-networks=true"),
        ]
    );
    // Down to one host: no segment is left, on either host.
    let one = hosts
        .fakes
        .builder()
        .name(lab)
        .network("10.204.10.0/24")
        .host(Host::new("h1"))
        .container(Container::new("a", "busybox").host("h1"))
        .lab_segment(seg.clone());
    Arc::new(hosts.backends(one, even()).build().expect("hub"))
        .up()
        .await
        .expect("up on one host")
        .keep();
    assert_eq!(
        seg.log.lock().unwrap()[3..],
        [
            format!("remove {lab} h1,h2 before-networks=true"),
            format!("remove {lab} h2 before-networks=true"),
        ]
    );
    // `down` by name: the segment goes from every recorded host, before the networks.
    let by_name = hosts
        .backends(hosts.fakes.builder().name(lab), even())
        .lab_segment(seg.clone());
    Arc::new(by_name.build().expect("hub"))
        .down()
        .await
        .expect("down");
    assert_eq!(
        seg.log.lock().unwrap().len(),
        5,
        "{:?}",
        seg.log.lock().unwrap()
    );
    assert!(hosts.nothing_of(lab));
}

/// The lab's VM storage on a host (a remote libvirt's pool), as a counter of removals.
#[derive(Default)]
struct FakeStorage {
    removed: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl hub_core::hosts::LabStorage for FakeStorage {
    async fn remove(&self, lab: &str) -> hub_core::runtime::RuntimeResult<bool> {
        self.removed.lock().unwrap().push(lab.to_string());
        Ok(true)
    }
}

#[tokio::test]
async fn a_vm_off_the_primary_is_routed_through_its_host_and_down_clears_its_storage() {
    let hosts = Hosts::new();
    let lab = "ms-vmroute";
    let storage: Vec<Arc<FakeStorage>> = (0..3).map(|_| Arc::default()).collect();
    let b = hosts
        .builder_with(lab, even(), &storage)
        .vm(Vm::new("home", IMAGE).host("h1"))
        .vm(Vm::new("away", IMAGE).host("h3"));
    Arc::new(b.build().expect("hub"))
        .up()
        .await
        .expect("up")
        .keep();
    assert_eq!(hosts.where_(lab, &["home", "away"]), ["h1", "h3"]);
    let plan = hosts.fakes.services.netd(lab).expect("netd's plan");
    let router = |name: &str| {
        plan.reservations
            .iter()
            .find(|r| r.hostname == name)
            .unwrap_or_else(|| panic!("no reservation of {name}: {plan:?}"))
            .router
    };
    use hub_net::netd::ClientRouter;
    // h3 is the third host: its bridge's gateway is .5; the primary's VM keeps the segment's.
    assert_eq!(router("home"), ClientRouter::Segment);
    assert_eq!(
        router("away"),
        ClientRouter::Via("10.204.10.5".parse().unwrap())
    );
    assert!(storage.iter().all(|s| s.removed.lock().unwrap().is_empty()));

    // `down` from the records: every host's storage of the lab goes, after its VMs.
    let b = hosts.backends_with(hosts.fakes.builder().name(lab), even(), &storage);
    let report = Arc::new(b.build().expect("hub"))
        .down()
        .await
        .expect("down");
    for (st, h) in storage.iter().zip(["h1", "h2", "h3"]) {
        assert_eq!(*st.removed.lock().unwrap(), [lab], "host {h}");
        assert!(
            report
                .removed
                .iter()
                .any(|r| r == &format!("VM storage on host {h:?}")),
            "{report}"
        );
    }
    assert!(hosts.nothing_of(lab));
}
