//! A serde `Deserializer` over the located tree of [`super::node`]: every error it gives
//! carries the field path and the location of the innermost node it concerns.

use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};

use super::error::SpecErrorKind;
use super::node::{Key, Loc, Node, Value};

/// A typed-parse error, with where it happened.
#[derive(Debug, Clone)]
pub(crate) struct DeError {
    /// What kind of spec error it is, set by the serde hook that made it (never read back
    /// from the message).
    pub(crate) kind: SpecErrorKind,
    pub(crate) message: String,
    pub(crate) path: Option<String>,
    pub(crate) loc: Option<Loc>,
}

impl DeError {
    /// Sets the path and location, unless an inner node already did.
    fn at(mut self, path: &str, loc: Loc) -> Self {
        if self.loc.is_none() {
            self.path = Some(path.to_string());
            self.loc = Some(loc);
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            kind: SpecErrorKind::Type,
            message: msg.to_string(),
            path: None,
            loc: None,
        }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError {
            kind: SpecErrorKind::UnknownField,
            ..<SerdeText as de::Error>::unknown_field(field, expected).0
        }
    }

    fn missing_field(field: &'static str) -> Self {
        DeError {
            kind: SpecErrorKind::MissingField,
            ..<SerdeText as de::Error>::missing_field(field).0
        }
    }
}

/// A [`DeError`] made by serde's default hooks, so that the typed hooks above keep serde's own
/// wording.
#[derive(Debug)]
struct SerdeText(DeError);

impl fmt::Display for SerdeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SerdeText {}

impl de::Error for SerdeText {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        SerdeText(<DeError as de::Error>::custom(msg))
    }
}

/// Joins a field path and a key: `containers[1]` + `ip` = `containers[1].ip`.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Deserializes one node of the tree, known by its field path.
pub(crate) struct NodeDe<'a> {
    node: &'a Node,
    path: String,
}

impl<'a> NodeDe<'a> {
    pub(crate) fn new(node: &'a Node, path: String) -> Self {
        NodeDe { node, path }
    }

    fn wrap<T>(&self, r: Result<T, DeError>) -> Result<T, DeError> {
        r.map_err(|e| e.at(&self.path, self.node.loc))
    }

    fn unexpected(&self) -> Unexpected<'_> {
        match &self.node.value {
            Value::Null => Unexpected::Unit,
            Value::Bool(b) => Unexpected::Bool(*b),
            Value::Int(i) => Unexpected::Signed(*i),
            Value::UInt(u) => Unexpected::Unsigned(*u),
            Value::Float(f) => Unexpected::Float(*f),
            Value::Str(s) => Unexpected::Str(s),
            Value::Seq(_) => Unexpected::Seq,
            Value::Map(_) => Unexpected::Map,
        }
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::UInt(u) => visitor.visit_u64(*u),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => visitor.visit_str(s),
            Value::Seq(items) => visitor.visit_seq(SeqAcc {
                items: items.iter().enumerate(),
                path: &self.path,
            }),
            Value::Map(entries) => visitor.visit_map(MapAcc {
                entries: entries.iter(),
                path: &self.path,
                pending: None,
            }),
        };
        self.wrap(r)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.value {
            Value::Null => {
                let r = visitor.visit_none();
                self.wrap(r)
            }
            _ => visitor.visit_some(self),
        }
    }

    /// Scalars are accepted where a string is expected (`env: {PORT: 8080}`).
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Str(s) => visitor.visit_str(s),
            Value::Bool(b) => visitor.visit_string(b.to_string()),
            Value::Int(i) => visitor.visit_string(i.to_string()),
            Value::UInt(u) => visitor.visit_string(u.to_string()),
            Value::Float(f) => visitor.visit_string(f.to_string()),
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        };
        self.wrap(r)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Str(s) => {
                let d: StrDeserializer<'_, DeError> = s.as_str().into_deserializer();
                visitor.visit_enum(d)
            }
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        };
        self.wrap(r)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct SeqAcc<'a, I> {
    items: I,
    path: &'a str,
}

impl<'de, 'a, I: Iterator<Item = (usize, &'a Node)>> de::SeqAccess<'de> for SeqAcc<'_, I> {
    type Error = DeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, node)) => seed
                .deserialize(NodeDe::new(node, format!("{}[{i}]", self.path)))
                .map(Some),
        }
    }
}

struct MapAcc<'a, I> {
    entries: I,
    path: &'a str,
    pending: Option<(&'a Key, &'a Node)>,
}

impl<'de, 'a, I: Iterator<Item = &'a (Key, Node)>> de::MapAccess<'de> for MapAcc<'a, I> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            None => Ok(None),
            Some((key, node)) => {
                self.pending = Some((key, node));
                let d: StrDeserializer<'_, DeError> = key.name.as_str().into_deserializer();
                seed.deserialize(d)
                    .map(Some)
                    .map_err(|e| e.at(&join(self.path, &key.name), key.loc))
            }
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        match self.pending.take() {
            Some((key, node)) => seed.deserialize(NodeDe::new(node, join(self.path, &key.name))),
            None => Err(de::Error::custom("a mapping value was read before its key")),
        }
    }
}
