//! No input makes the spec loader panic or hang: arbitrary text, mutated valid specs, and
//! random documents built from the spec's own field names.

use hub_core::spec::LabSpec;
use proptest::prelude::*;

const SEED: &str = include_str!("../../examples/labs/seed.yaml");
const FULL: &str = include_str!("../../examples/labs/valid-containers.yaml");
const TYPES: &str = include_str!("../../examples/labs/invalid-types.yaml");

/// Loads and, when that works, validates and resolves; every error must say where it is.
fn exercise(src: &str) {
    match LabSpec::from_yaml(src, "fuzz.yaml") {
        Ok(spec) => {
            let _ = spec.validate();
            match spec.resolve() {
                Ok(lab) => {
                    let _ = lab.to_string();
                    let _ = serde_json::to_string(&lab).unwrap();
                }
                Err(errs) => check(&errs),
            }
        }
        Err(errs) => check(&errs),
    }
}

fn check(errs: &hub_core::spec::SpecErrors) {
    assert!(!errs.is_empty());
    for e in errs {
        assert!(e.to_string().starts_with("fuzz.yaml:"), "{e}");
        assert!(!e.message.is_empty(), "{e:?}");
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    DuplicateLine { line: usize },
    SwapLines { a: usize, b: usize },
    Indent { line: usize, spaces: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let piece = prop::sample::select(vec![
        ":",
        "- ",
        "[",
        "]",
        "{",
        "}",
        "&a ",
        "*a",
        "<<: *a",
        "\n",
        "  ",
        "\t",
        "#",
        "'",
        "\"",
        "!!str ",
        "? ",
        "|",
        ">",
        "---\n",
        "...\n",
        "~",
        "null",
        "0",
        "-1",
        "1e999",
        "0x1F",
        "10.205.0.300",
        "name",
        "image",
        "ip: ",
        "containers:\n  - ",
        "vms:\n  - ",
        "\u{feff}",
        "é",
    ]);
    prop_oneof![
        (any::<usize>(), 0usize..12).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), prop::collection::vec(piece, 1..4)).prop_map(|(at, p)| Mutation::Insert {
            at,
            text: p.concat()
        }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        (any::<usize>(), 0usize..6).prop_map(|(line, spaces)| Mutation::Indent { line, spaces }),
    ]
}

fn apply(src: &str, m: &Mutation) -> String {
    let boundary = |s: &str, at: usize| {
        let mut i = at % (s.len() + 1);
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let mut lines: Vec<String> = src.lines().map(str::to_string).collect();
    match m {
        Mutation::Delete { at, len } => {
            let a = boundary(src, *at);
            let b = boundary(src, a + len);
            format!("{}{}", &src[..a], &src[b.max(a)..])
        }
        Mutation::Insert { at, text } => {
            let a = boundary(src, *at);
            format!("{}{text}{}", &src[..a], &src[a..])
        }
        Mutation::DuplicateLine { line } if !lines.is_empty() => {
            let i = line % lines.len();
            lines.insert(i, lines[i].clone());
            lines.join("\n")
        }
        Mutation::SwapLines { a, b } if !lines.is_empty() => {
            let n = lines.len();
            lines.swap(a % n, b % n);
            lines.join("\n")
        }
        Mutation::Indent { line, spaces } if !lines.is_empty() => {
            let i = line % lines.len();
            lines[i] = format!("{}{}", " ".repeat(*spaces), lines[i].trim_start());
            lines.join("\n")
        }
        _ => src.to_string(),
    }
}

/// Small random documents made of the spec's own keys and plausible values.
fn document() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "name",
        "network_name",
        "subnet",
        "network_type",
        "dhcp_range",
        "domain",
        "containers",
        "vms",
        "wireguard",
        "image",
        "ip",
        "env",
        "cmd",
        "depends_on",
        "memory_mb",
        "vcpus",
        "cpus",
        "healthcheck",
        "test",
        "interval",
        "peers",
        "peer_name",
        "address",
        "enabled",
        "listen_port",
        "cloud_init",
        "packages",
        "virt_type",
        "restart",
        "user",
        "labels",
    ]);
    let scalar = prop::sample::select(vec![
        "a",
        "web",
        "10.205.0.0/24",
        "10.205.0.40",
        "10.10.0.2/24",
        "0",
        "1",
        "-1",
        "true",
        "bridge",
        "qemu",
        "5s",
        "x:y",
        "[]",
        "{}",
        "null",
        "10.205.0.200-10.205.0.254",
        "''",
    ]);
    let leaf = (key.clone(), scalar).prop_map(|(k, v)| format!("{k}: {v}"));
    leaf.prop_recursive(4, 40, 6, move |inner| {
        (
            key.clone(),
            prop::collection::vec(inner, 1..5),
            any::<bool>(),
        )
            .prop_map(|(k, items, list)| {
                let body: Vec<String> = items
                    .iter()
                    .flat_map(|i| i.lines().map(|l| format!("    {l}")).collect::<Vec<_>>())
                    .collect();
                if list {
                    let mut s = format!("{k}:\n  -\n");
                    s.push_str(&body.join("\n"));
                    s
                } else {
                    format!(
                        "{k}:\n{}",
                        body.iter().map(|l| &l[2..]).collect::<Vec<_>>().join("\n")
                    )
                }
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(src in any::<String>()) {
        exercise(&src);
    }

    #[test]
    fn yaml_like_text_never_panics(src in "[a-z:\\-\\[\\]{}&*!#|>'\" \n\t0-9./]{0,200}") {
        exercise(&src);
    }

    #[test]
    fn mutated_valid_specs_never_panic(
        base in prop::sample::select(vec![SEED, FULL, TYPES]),
        muts in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut src = base.to_string();
        for m in &muts {
            src = apply(&src, m);
        }
        exercise(&src);
    }

    #[test]
    fn random_documents_of_spec_keys_never_panic(
        parts in prop::collection::vec(document(), 1..6)
    ) {
        exercise(&parts.join("\n"));
    }
}

#[test]
fn a_huge_document_is_refused_without_parsing_it() {
    let src = format!(
        "name: x\nsubnet: 10.205.0.0/24\n# {}\n",
        "x".repeat(2 * 1024 * 1024)
    );
    let errs = LabSpec::from_yaml(&src, "fuzz.yaml").unwrap_err();
    assert!(errs.to_string().contains("bytes"), "{errs}");
}

#[test]
fn many_aliases_are_refused() {
    let mut src = String::from("name: x\nsubnet: 10.205.0.0/24\nx: &a [1]\ny: [");
    for _ in 0..5000 {
        src.push_str("*a, ");
    }
    src.push_str("]\n");
    let errs = LabSpec::from_yaml(&src, "fuzz.yaml").unwrap_err();
    assert_eq!(errs.len(), 1, "{errs}");
}
