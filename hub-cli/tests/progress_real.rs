//! `hub up` without a terminal, as in CI or a pipe: a lab of more workloads than the progress
//! layer draws at once comes up and goes, printing a line per workload and never panicking
//! (a debug build of tracing-indicatif asserts when more bars are pending than it shows on a
//! hidden target).

mod common;

use common::{LabGuard, hub, leftovers, show};

const LAB: &str = "prog12";
const WORKLOADS: usize = 12;

#[test]
fn a_dozen_workloads_come_up_with_stderr_piped() {
    let state = common::tempdir();
    let dir = common::tempdir();
    let _guard = LabGuard {
        lab: LAB.into(),
        state: state.path().to_path_buf(),
    };
    let mut spec = format!("name: {LAB}\nsubnet: 10.207.12.0/24\ncontainers:\n");
    for i in 0..WORKLOADS {
        spec.push_str(&format!(
            "  - {{name: c{i}, image: \"hub-test/busybox:latest\", cmd: [sleep, \"3600\"]}}\n"
        ));
    }
    let path = dir.path().join("lab.yaml");
    std::fs::write(&path, spec).expect("spec");
    // `common::hub` pipes stdout and stderr: no terminal.
    let up = hub(state.path(), &["up", "-c", &path.to_string_lossy()]);
    let err = String::from_utf8_lossy(&up.stderr);
    assert!(up.status.success(), "{}", show(&up));
    assert!(!err.contains("panicked"), "{err}");
    for i in 0..WORKLOADS {
        assert!(
            err.lines().any(|l| l.contains(&format!("✔ c{i} "))),
            "no line for c{i}: {err}"
        );
    }
    let down = hub(state.path(), &["down", "--lab", LAB]);
    assert!(down.status.success(), "{}", show(&down));
    assert_eq!(leftovers(LAB, state.path()), Vec::<String>::new());
}
