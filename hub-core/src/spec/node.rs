//! The YAML document as a tree of located nodes: parsed once with serde-saphyr (every node
//! wrapped in its `Spanned`), so that both type errors and semantic errors can point at a line
//! and column.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Largest spec file accepted, in bytes.
pub(crate) const MAX_SPEC_BYTES: usize = 1024 * 1024;

/// A line and column, 1-based (0 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Loc {
    pub(crate) line: u64,
    pub(crate) column: u64,
}

impl Loc {
    fn of<T>(s: &Spanned<T>) -> Loc {
        Loc {
            line: s.referenced.line(),
            column: s.referenced.column(),
        }
    }
}

/// A mapping key with its location.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub(crate) name: String,
    pub(crate) loc: Loc,
}

/// A node's value.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// A YAML node with the location it is written at (for an alias: the alias).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) loc: Loc,
}

impl Value {
    /// What the node is, for error messages.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::UInt(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Deserialized through serde-saphyr; children are read as `Spanned` to keep their location.
struct RawValue(Value);

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<RawValue, E> {
        Ok(RawValue(Value::Null))
    }
    fn visit_none<E>(self) -> Result<RawValue, E> {
        Ok(RawValue(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawValue, D::Error> {
        d.deserialize_any(RawVisitor)
    }
    fn visit_bool<E>(self, v: bool) -> Result<RawValue, E> {
        Ok(RawValue(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<RawValue, E> {
        Ok(RawValue(Value::Int(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<RawValue, E> {
        Ok(RawValue(Value::UInt(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<RawValue, E> {
        Ok(RawValue(Value::Float(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<RawValue, E> {
        Ok(RawValue(Value::Str(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<RawValue, E> {
        Ok(RawValue(Value::Str(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<RawValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = a.next_element::<Spanned<RawValue>>()? {
            items.push(Node {
                loc: Loc::of(&item),
                value: item.value.0,
            });
        }
        Ok(RawValue(Value::Seq(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<RawValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = a.next_key::<Spanned<String>>()? {
            let value = a.next_value::<Spanned<RawValue>>()?;
            let key = Key {
                loc: Loc::of(&key),
                name: key.value,
            };
            entries.push((
                key,
                Node {
                    loc: Loc::of(&value),
                    value: value.value.0,
                },
            ));
        }
        Ok(RawValue(Value::Map(entries)))
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

/// A YAML syntax error (or a budget breach) with its location.
#[derive(Debug, Clone)]
pub(crate) struct SyntaxError {
    pub(crate) loc: Loc,
    pub(crate) message: String,
}

/// The parser's limits: generous for any real lab, small enough that no input (deep nesting,
/// alias bombs, huge documents) costs much time or memory.
fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = Some(MAX_SPEC_BYTES);
    budget.max_events = 200_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_depth = 32;
    budget.max_documents = 1;
    budget.max_nodes = 100_000;
    budget.max_total_scalar_bytes = MAX_SPEC_BYTES;
    budget.max_merge_keys = 1_000;
    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    alias_limits.max_total_replayed_events = 20_000;
    alias_limits.max_replay_stack_depth = 16;
    serde_saphyr::options! {
        budget: Some(budget),
        alias_limits: alias_limits,
        strict_booleans: true,
        with_snippet: false,
    }
}

/// Parses `src` into a located tree. An empty document gives a `Null` root.
pub(crate) fn parse(src: &str) -> Result<Node, SyntaxError> {
    if src.len() > MAX_SPEC_BYTES {
        return Err(SyntaxError {
            loc: Loc::default(),
            message: format!(
                "the spec is {} bytes; at most {MAX_SPEC_BYTES} bytes are accepted",
                src.len()
            ),
        });
    }
    if src.trim().is_empty() {
        return Ok(Node {
            value: Value::Null,
            loc: Loc { line: 1, column: 1 },
        });
    }
    match serde_saphyr::from_str_with_options::<Spanned<RawValue>>(src, options()) {
        Ok(root) => Ok(Node {
            loc: Loc::of(&root),
            value: root.value.0,
        }),
        Err(e) => {
            let loc = e
                .location()
                .map(|l| Loc {
                    line: l.line(),
                    column: l.column(),
                })
                .unwrap_or_default();
            Err(SyntaxError {
                loc,
                message: clean_message(&e.without_snippet().to_string()),
            })
        }
    }
}

/// serde-saphyr's plain message, without its `error: line L column C: ` prefix (the location
/// is printed by [`super::SpecError`]).
fn clean_message(raw: &str) -> String {
    let mut s = raw.trim();
    s = s.strip_prefix("error: ").unwrap_or(s);
    if let Some(rest) = s.strip_prefix("line ") {
        if let Some((head, tail)) = rest.split_once(": ") {
            if head.contains(" column ") {
                s = tail;
            }
        }
    }
    let mut first = s.lines().next().unwrap_or(s).trim();
    // The location is printed by `SpecError`; drop serde-saphyr's own ` at line L, column C...`.
    if let Some(i) = first.find(" at line ") {
        if first[i..].contains(", column ") {
            first = first[..i].trim_end();
        }
    }
    if first.is_empty() {
        "malformed YAML".to_string()
    } else {
        first.to_string()
    }
}
