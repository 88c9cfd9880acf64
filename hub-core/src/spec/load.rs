//! Loading a spec from YAML: parse once into a located tree, then deserialize the header and
//! each workload separately, so that one mistake does not hide the others.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::check::Check;
use super::de::{NodeDe, join};
use super::error::{SpecError, SpecErrorKind, SpecErrors};
use super::fields::struct_fields;
use super::hosts::{Host, Placement};
use super::locations::Locations;
use super::node::{self, Loc, MAX_SPEC_BYTES, Node, Value};
use super::segments::Segment;
use super::types::{Container, LabSpec, Origin, Vm, Vpn};
use super::validate::{self, Partial};

/// The top-level fields; the lists are read on their own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    network_name: Option<String>,
    #[serde(default)]
    subnet: String,
    #[serde(default)]
    networks: Vec<Segment>,
    #[serde(default)]
    network_type: Option<String>,
    #[serde(default)]
    attach_to: Option<String>,
    #[serde(default)]
    dhcp_range: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    containers: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    vms: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    wireguard: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    checks: Option<IgnoredAny>,
    #[serde(default)]
    placement: Option<Placement>,
    #[serde(default)]
    mesh: Option<super::hosts::Mesh>,
    #[serde(default)]
    #[allow(dead_code)]
    hosts: Option<IgnoredAny>,
}

impl LabSpec {
    /// Reads and parses the spec file at `path`. Relative paths inside it are relative to its
    /// folder. On error, returns every mistake found: syntax, unknown fields, wrong types, and
    /// the semantic mistakes of the parts that did parse. A spec that loads may still fail
    /// [`LabSpec::validate`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<LabSpec, SpecErrors> {
        let path = path.as_ref();
        let io_err = |message: String| SpecError {
            kind: SpecErrorKind::Io,
            file: Some(path.to_path_buf()),
            line: 0,
            column: 0,
            field: String::new(),
            message,
        };
        let cannot_read = |e: std::io::Error| io_err(format!("cannot read the spec file: {e}"));
        let too_large = || {
            io_err(format!(
                "the spec file is larger than the {MAX_SPEC_BYTES} bytes accepted; \
                 is it the right file?"
            ))
        };
        let meta = std::fs::metadata(path).map_err(cannot_read)?;
        if meta.len() > MAX_SPEC_BYTES as u64 {
            return Err(too_large().into());
        }
        // Read at most one byte past the limit: a pipe or device (`/dev/zero`) has no size in
        // its metadata and could otherwise be read without end.
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| {
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(f, MAX_SPEC_BYTES as u64 + 1),
                    &mut bytes,
                )
            })
            .map_err(cannot_read)?;
        if bytes.len() > MAX_SPEC_BYTES {
            return Err(too_large().into());
        }
        let src = String::from_utf8(bytes)
            .map_err(|e| io_err(format!("the spec file is not UTF-8: {e}")))?;
        Self::from_yaml(&src, path)
    }

    /// Parses a spec from YAML text; `file` names it in errors and its folder is the base of
    /// relative paths.
    pub fn from_yaml(src: &str, file: impl AsRef<Path>) -> Result<LabSpec, SpecErrors> {
        let file = file.as_ref();
        let base = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let base = std::path::absolute(&base).unwrap_or(base);
        load(src, file.to_path_buf(), base)
    }
}

/// serde's type names in words a spec author knows.
fn plain(message: &str) -> String {
    let mut m = message.to_string();
    for (rust, words) in [
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u64", "expected a whole number of 0 or more"),
        ("expected f64", "expected a number"),
        ("invalid type: map,", "invalid type: mapping,"),
        ("invalid type: sequence,", "invalid type: list,"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected a mapping"),
    ] {
        if let Some(i) = m.find(rust) {
            let end = i + rust.len();
            // Only whole words: `expected u16` must not match inside `expected u160`.
            if !m[end..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
                m.replace_range(i..end, words);
            }
        }
    }
    m
}

struct Loader {
    file: PathBuf,
    errors: Vec<SpecError>,
}

impl Loader {
    fn push(&mut self, kind: SpecErrorKind, field: String, loc: Loc, message: String) {
        self.errors.push(SpecError {
            kind,
            file: Some(self.file.clone()),
            line: loc.line,
            column: loc.column,
            field,
            message,
        });
    }

    /// Deserializes `node` as `T`. For a struct, every unknown field is reported and the rest
    /// is read without them, so they hide neither each other nor a type error nor the
    /// semantic checks of that part.
    fn de<T: for<'de> Deserialize<'de>>(&mut self, node: &Node, path: String) -> Option<T> {
        let filtered;
        let node = match (&node.value, struct_fields::<T>()) {
            (Value::Map(entries), Some(fields)) => {
                let mut kept = Vec::with_capacity(entries.len());
                for (key, value) in entries {
                    if fields.contains(&key.name.as_str()) {
                        kept.push((key.clone(), value.clone()));
                    } else {
                        let expected: Vec<String> =
                            fields.iter().map(|f| format!("`{f}`")).collect();
                        let msg = format!(
                            "unknown field `{}`, expected one of {}",
                            key.name,
                            expected.join(", ")
                        );
                        self.push(
                            SpecErrorKind::UnknownField,
                            join(&path, &key.name),
                            key.loc,
                            msg,
                        );
                    }
                }
                filtered = Node {
                    value: Value::Map(kept),
                    loc: node.loc,
                };
                &filtered
            }
            _ => node,
        };
        self.de_all::<T>(node, path)
    }

    fn de_all<T: for<'de> Deserialize<'de>>(&mut self, node: &Node, path: String) -> Option<T> {
        match T::deserialize(NodeDe::new(node, path.clone())) {
            Ok(v) => Some(v),
            Err(e) => {
                let kind = e.kind;
                let field = e.path.clone().unwrap_or(path);
                self.push(kind, field, e.loc.unwrap_or(node.loc), plain(&e.message));
                None
            }
        }
    }

    /// Each element of a list field, deserialized on its own.
    /// Returns the elements that parsed, the document index of each, and whether all did.
    fn list<T: for<'de> Deserialize<'de>>(
        &mut self,
        node: Option<&Node>,
        field: &str,
    ) -> (Vec<T>, Vec<usize>, bool) {
        let Some(node) = node else {
            return (Vec::new(), Vec::new(), true);
        };
        match &node.value {
            Value::Null => (Vec::new(), Vec::new(), true),
            Value::Seq(items) => {
                let mut out = Vec::new();
                let mut index = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    if let Some(v) = self.de::<T>(item, format!("{field}[{i}]")) {
                        out.push(v);
                        index.push(i);
                    }
                }
                let all = out.len() == items.len();
                (out, index, all)
            }
            other => {
                let msg = format!("must be a list, not {}", other.describe());
                self.push(SpecErrorKind::Type, field.to_string(), node.loc, msg);
                (Vec::new(), Vec::new(), false)
            }
        }
    }
}

fn load(src: &str, file: PathBuf, base_dir: PathBuf) -> Result<LabSpec, SpecErrors> {
    let mut ld = Loader {
        file: file.clone(),
        errors: Vec::new(),
    };
    let root = match node::parse(src) {
        Ok(root) => root,
        Err(e) => {
            ld.push(SpecErrorKind::Syntax, String::new(), e.loc, e.message);
            return Err(SpecErrors { errors: ld.errors });
        }
    };
    let entries = match &root.value {
        Value::Map(entries) => entries,
        Value::Null => {
            let msg = "the spec is empty; it needs at least `subnet`".to_string();
            ld.push(
                SpecErrorKind::MissingField,
                String::new(),
                Loc { line: 1, column: 1 },
                msg,
            );
            return Err(SpecErrors { errors: ld.errors });
        }
        other => {
            let msg = format!(
                "the spec must be a mapping of fields (subnet, containers, vms...), not {}",
                other.describe()
            );
            ld.push(SpecErrorKind::Type, String::new(), root.loc, msg);
            return Err(SpecErrors { errors: ld.errors });
        }
    };

    // Every unknown top-level field is reported; the header is read from the known ones.
    let header: Option<Header> = ld.de(&root, String::new());
    let get = |name: &str| entries.iter().find(|(k, _)| k.name == name).map(|(_, v)| v);

    let (containers, container_index, containers_ok) =
        ld.list::<Container>(get("containers"), "containers");
    let (vms, vm_index, vms_ok) = ld.list::<Vm>(get("vms"), "vms");
    let (checks, check_index, _) = ld.list::<Check>(get("checks"), "checks");
    let (hosts, _, _) = ld.list::<Host>(get("hosts"), "hosts");
    let (wireguard, vpn_ok) = match get("wireguard") {
        None => (None, true),
        Some(n) if matches!(n.value, Value::Null) => (None, true),
        Some(n) => match ld.de::<Vpn>(n, "wireguard".to_string()) {
            Some(v) => (Some(v), true),
            None => (None, false),
        },
    };

    let header_ok = header.is_some();
    let h = header.unwrap_or(Header {
        name: None,
        network_name: None,
        subnet: String::new(),
        networks: Vec::new(),
        network_type: None,
        attach_to: None,
        dhcp_range: None,
        domain: None,
        placement: None,
        mesh: None,
        hosts: None,
        containers: None,
        vms: None,
        wireguard: None,
        checks: None,
    });
    let mut spec = LabSpec::new("", h.subnet);
    spec.name = h.name;
    spec.network_name = h.network_name;
    spec.networks = h.networks;
    if let Some(t) = h.network_type {
        spec.network_type = t;
    }
    spec.attach_to = h.attach_to;
    spec.dhcp_range = h.dhcp_range;
    spec.domain = h.domain;
    spec.containers = containers;
    spec.vms = vms;
    spec.wireguard = wireguard;
    spec.checks = checks;
    spec.hosts = hosts;
    spec.placement = h.placement;
    spec.mesh = h.mesh;
    spec.origin = Origin {
        file: Some(file),
        base_dir: Some(base_dir),
        locations: Arc::new(Locations::from_tree(&root)),
        container_index: None,
        vm_index: None,
        check_index: None,
    };

    if ld.errors.is_empty() {
        return Ok(spec);
    }
    spec.origin.container_index = Some(container_index);
    spec.origin.vm_index = Some(vm_index);
    spec.origin.check_index = Some(check_index);
    let partial = Partial {
        header_ok,
        workloads_ok: containers_ok && vms_ok,
        vpn_ok,
    };
    let mut errors = ld.errors;
    errors.extend(validate::check(&spec, partial));
    errors.sort_by_key(|e| (e.line, e.column));
    Err(SpecErrors { errors })
}
