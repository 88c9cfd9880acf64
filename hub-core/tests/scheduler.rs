//! The scheduler: unit and property tests of RoundRobin and E-PVM, procfs metrics.

use hub_core::scheduler::{
    Demand, Epvm, LabDemand, Node, NodeMetrics, ProcMetrics, RoundRobin, Scheduler, StaticMetrics,
    admit, fits,
};
use proptest::prelude::*;

fn node(name: &str, cpus: u32, total_gib: u64, avail_gib: u64, load: f64) -> Node {
    Node {
        name: name.into(),
        metrics: Ok(NodeMetrics {
            cpus,
            memory_total_mb: total_gib * 1024,
            memory_available_mb: avail_gib * 1024,
            load1: load,
        }),
    }
}

#[test]
fn epvm_prefers_the_node_with_less_cpu_load_when_memory_is_equal() {
    let nodes = vec![node("busy", 4, 16, 8, 3.5), node("idle", 4, 16, 8, 0.2)];
    let d = Demand {
        cpus: 1.0,
        memory_mb: 1024,
    };
    assert_eq!(Epvm.pick(&nodes, &d), Some(1));
    // Even a workload with no CPU request loads the CPU: the CPU term still decides.
    let d0 = Demand {
        cpus: 0.0,
        memory_mb: 1024,
    };
    assert_eq!(Epvm.pick(&nodes, &d0), Some(1));
}

#[test]
fn epvm_prefers_the_node_with_more_free_memory_when_cpu_is_equal() {
    let nodes = vec![node("full", 4, 16, 2, 1.0), node("roomy", 4, 16, 12, 1.0)];
    assert_eq!(
        Epvm.pick(
            &nodes,
            &Demand {
                cpus: 1.0,
                memory_mb: 1024
            }
        ),
        Some(1)
    );
}

#[test]
fn a_node_whose_metrics_failed_is_never_picked() {
    let nodes = vec![
        Node {
            name: "dark".into(),
            metrics: Err("timeout".into()),
        },
        node("ok", 1, 1, 1, 0.9),
    ];
    let d = Demand {
        cpus: 1.0,
        memory_mb: 100,
    };
    assert_eq!(Epvm.pick(&nodes, &d), Some(1));
    assert_eq!(RoundRobin::new().pick(&nodes, &d), Some(1));
    let only_dark = vec![Node {
        name: "dark".into(),
        metrics: Err("timeout".into()),
    }];
    assert_eq!(Epvm.pick(&only_dark, &d), None);
    assert_eq!(RoundRobin::new().pick(&only_dark, &d), None);
}

#[test]
fn round_robin_takes_the_feasible_nodes_in_turn() {
    let nodes = vec![
        node("a", 2, 4, 4, 0.0),
        node("small", 1, 1, 0, 0.0),
        node("b", 2, 4, 4, 0.0),
    ];
    let rr = RoundRobin::new();
    let d = Demand {
        cpus: 1.0,
        memory_mb: 512,
    };
    let picks: Vec<_> = (0..4).map(|_| rr.pick(&nodes, &d)).collect();
    assert_eq!(picks, vec![Some(0), Some(2), Some(0), Some(2)]);
}

#[test]
fn admission_names_the_shortfall() {
    let metrics = StaticMetrics(vec![node("localhost", 2, 24, 23, 0.1)]);
    let ok = LabDemand {
        vm_memory_mb: 2048,
        vm_cpus: 2.0,
        ..LabDemand::default()
    };
    assert!(admit("l", &ok, &Epvm, &metrics).is_ok());
    let big = LabDemand {
        vm_memory_mb: 48 * 1024,
        container_memory_mb: 0,
        vm_cpus: 1.0,
        container_cpus: 0.0,
    };
    let err = admit("l", &big, &Epvm, &metrics)
        .expect_err("too big")
        .to_string();
    assert!(
        err.contains("lab needs 48 GiB of memory for its VMs, the host has 23 GiB available"),
        "{err}"
    );
    let cpu = LabDemand {
        container_cpus: 3.0,
        ..LabDemand::default()
    };
    let err = admit("l", &cpu, &RoundRobin::new(), &metrics)
        .expect_err("too many cpus")
        .to_string();
    assert!(
        err.contains("lab needs 3 CPUs for its containers, the host has 2"),
        "{err}"
    );
}

#[test]
fn procfs_metrics_of_this_host_and_of_a_fake_proc() {
    let m = ProcMetrics::new().read().expect("this host's /proc");
    assert!(m.cpus >= 1 && m.memory_total_mb > 0 && m.memory_available_mb <= m.memory_total_mb);
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("meminfo"),
        "MemTotal:  2097152 kB\nMemFree: 1 kB\nMemAvailable:  1048576 kB\n",
    )
    .expect("meminfo");
    std::fs::write(dir.path().join("loadavg"), "1.50 0.80 0.20 1/100 4242\n").expect("loadavg");
    let m = ProcMetrics::with_root(dir.path())
        .read()
        .expect("fake proc");
    assert_eq!((m.memory_total_mb, m.memory_available_mb), (2048, 1024));
    assert!((m.load1 - 1.5).abs() < 1e-9);
    std::fs::write(dir.path().join("meminfo"), "MemTotal: 10 kB\n").expect("meminfo");
    let err = ProcMetrics::with_root(dir.path())
        .read()
        .expect_err("no MemAvailable");
    assert!(err.contains("MemAvailable"), "{err}");
    let err = ProcMetrics::with_root(dir.path().join("nope"))
        .read()
        .expect_err("missing");
    assert!(err.contains("meminfo"), "{err}");
}

fn arb_node() -> impl Strategy<Value = Node> {
    (any::<bool>(), 1u32..64, 1u64..256, 0u64..=100, 0.0f64..64.0).prop_map(
        |(ok, cpus, total, pct, load)| {
            if ok {
                let total_mb = total * 1024;
                Node {
                    name: "n".into(),
                    metrics: Ok(NodeMetrics {
                        cpus,
                        memory_total_mb: total_mb,
                        memory_available_mb: total_mb * pct / 100,
                        load1: load,
                    }),
                }
            } else {
                Node {
                    name: "n".into(),
                    metrics: Err("unreachable".into()),
                }
            }
        },
    )
}

fn arb_demand() -> impl Strategy<Value = Demand> {
    (0.0f64..32.0, 0u64..128 * 1024).prop_map(|(cpus, memory_mb)| Demand { cpus, memory_mb })
}

proptest! {
    #[test]
    fn never_picks_an_infeasible_node_or_one_whose_metrics_failed(
        nodes in prop::collection::vec(arb_node(), 0..8),
        demand in arb_demand(),
    ) {
        for s in [&Epvm as &dyn Scheduler, &RoundRobin::new()] {
            match s.pick(&nodes, &demand) {
                Some(i) => {
                    prop_assert!(nodes[i].metrics.is_ok());
                    prop_assert!(fits(&nodes[i], &demand));
                }
                None => prop_assert!(!nodes.iter().any(|n| fits(n, &demand))),
            }
        }
    }

    #[test]
    fn epvm_prefers_the_less_loaded_node_on_cpu(
        cpus in 1u32..64,
        total in 1u64..256,
        pct in 10u64..=100,
        load_a in 0.0f64..64.0,
        extra in 0.01f64..32.0,
        demand_cpus in 0.0f64..8.0,
    ) {
        let total_mb = total * 1024;
        let m = |load| Node { name: "n".into(), metrics: Ok(NodeMetrics {
            cpus, memory_total_mb: total_mb, memory_available_mb: total_mb * pct / 100, load1: load }) };
        let demand = Demand { cpus: demand_cpus.min(f64::from(cpus)), memory_mb: 0 };
        // The less loaded node wins, whichever position it is in.
        let nodes = vec![m(load_a + extra), m(load_a)];
        prop_assert_eq!(Epvm.pick(&nodes, &demand), Some(1));
        let nodes = vec![m(load_a), m(load_a + extra)];
        prop_assert_eq!(Epvm.pick(&nodes, &demand), Some(0));
    }

    #[test]
    fn epvm_cost_grows_with_load(
        cpus in 1u32..64, load in 0.0f64..64.0, extra in 0.01f64..8.0, mem in 0u64..1024,
    ) {
        let at = |load| NodeMetrics { cpus, memory_total_mb: 4096, memory_available_mb: 2048, load1: load };
        let d = Demand { cpus: 1.0, memory_mb: mem };
        prop_assert!(Epvm::cost(&at(load + extra), &d) > Epvm::cost(&at(load), &d));
    }
}
