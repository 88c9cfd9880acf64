//! The example labs in examples/labs: every `valid-*.yaml` resolves; every `invalid-*.yaml`
//! reports exactly the errors its `# expect: LINE:COL FIELD` comments list.

use std::path::{Path, PathBuf};

use hub_core::spec::LabSpec;

fn fixtures(prefix: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/labs");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with(prefix) && name.ends_with(".yaml")
        })
        .collect();
    out.sort();
    out
}

#[test]
fn valid_fixtures_resolve() {
    let files = fixtures("valid-");
    assert!(files.len() >= 2, "{files:?}");
    for f in files {
        let lab = LabSpec::from_file(&f)
            .and_then(|s| s.resolve())
            .unwrap_or_else(|e| panic!("{}:\n{e}", f.display()));
        assert!(!lab.workloads.is_empty(), "{}", f.display());
    }
}

#[test]
fn invalid_fixtures_report_exactly_their_expected_errors() {
    let files = fixtures("invalid-");
    assert!(files.len() >= 5, "{files:?}");
    let mut failures = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut expected: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(|s| s.trim_end().to_string())
            .collect();
        assert!(
            !expected.is_empty(),
            "{} lists no `# expect:` lines",
            f.display()
        );
        let errs = match LabSpec::from_file(&f).and_then(|s| s.resolve()) {
            Ok(_) => panic!("{} was accepted", f.display()),
            Err(e) => e,
        };
        let prefix = format!("{}:", f.display());
        for e in &errs {
            assert!(e.to_string().starts_with(&prefix), "{e}");
        }
        let mut got: Vec<String> = errs
            .iter()
            .map(|e| {
                format!("{}:{} {}", e.line, e.column, e.field)
                    .trim_end()
                    .to_string()
            })
            .collect();
        expected.sort();
        got.sort();
        if got != expected {
            failures.push(format!(
                "{}: expected {expected:?}, got:\n{errs}",
                f.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
