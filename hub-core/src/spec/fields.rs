//! The field names a serde-derived struct accepts, read from its own `Deserialize` impl (so
//! they can never drift from the type): used to report every unknown field of a mapping, not
//! only the first.

use std::cell::Cell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Visitor};

#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field names captured")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

struct Capture<'a>(&'a Cell<Option<&'static [&'static str]>>);

impl<'de> de::Deserializer<'de> for Capture<'_> {
    type Error = Stop;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        self.0.set(Some(fields));
        Err(Stop)
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The fields `T` accepts, when `T` deserializes as a struct.
pub(crate) fn struct_fields<T: for<'de> Deserialize<'de>>() -> Option<&'static [&'static str]> {
    let cell = Cell::new(None);
    let _ = T::deserialize(Capture(&cell));
    cell.get()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Container, Vpn};

    #[test]
    fn reads_the_fields_of_derived_structs() {
        let c = struct_fields::<Container>().unwrap();
        assert!(c.contains(&"image") && c.contains(&"healthcheck"));
        assert!(struct_fields::<Vpn>().unwrap().contains(&"peer_name"));
        assert_eq!(struct_fields::<String>(), None);
    }
}
