//! Durations written the way Docker and compose files write them: `30s`, `1m30s`, `500ms`,
//! `2h`, or a bare number of seconds.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration in a spec (`30s`, `1m30s`, `500ms`, `2h`, or an integer number of seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SpecDuration(pub Duration);

impl From<Duration> for SpecDuration {
    fn from(d: Duration) -> Self {
        SpecDuration(d)
    }
}

impl fmt::Display for SpecDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// The longest duration a spec may give (a year): longer ones are surely mistakes, and
/// refusing them here keeps `Instant + duration` in the code that waits from overflowing.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// `d` if it is at most [`MAX_DURATION`], else the error naming what was written.
fn at_most_a_year(d: Duration, written: &dyn fmt::Display) -> Result<Duration, String> {
    if d <= MAX_DURATION {
        Ok(d)
    } else {
        Err(format!(
            "\"{written}\" is longer than a year, the longest duration a spec may give; \
             write a shorter one"
        ))
    }
}

/// Parses `1h2m3s`, `500ms`, `30s`, `10` (seconds); at most a year.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("\"{s}\" is not a duration; write it like 30s, 1m30s, 500ms or 2h");
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return at_most_a_year(Duration::from_secs(secs), &s);
    }
    let mut total_ms: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 || digits > 12 {
            return Err(bad());
        }
        let n: u128 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let factor: u128 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total_ms = total_ms.saturating_add(n.saturating_mul(factor));
    }
    let ms = u64::try_from(total_ms).map_err(|_| bad())?;
    at_most_a_year(Duration::from_millis(ms), &s)
}

impl Serialize for SpecDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SpecDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SpecDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like 30s, 1m30s or 500ms")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SpecDuration, E> {
                at_most_a_year(Duration::from_secs(v), &v)
                    .map(SpecDuration)
                    .map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SpecDuration, E> {
                parse_duration(v).map(SpecDuration).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_style_durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        for bad in ["", "s", "10x", "1.5s", "-1s", "99999999999999999s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_longer_than_a_year_are_refused() {
        let year = 365 * 24 * 3600;
        assert_eq!(parse_duration(&year.to_string()), Ok(MAX_DURATION));
        assert_eq!(parse_duration("8760h"), Ok(MAX_DURATION));
        for too_long in [
            (year + 1).to_string(),
            "8761h".to_string(),
            "999999999999h".to_string(),
            u64::MAX.to_string(),
        ] {
            let err = parse_duration(&too_long).unwrap_err();
            assert!(
                err.contains(&too_long) && err.contains("longer than a year"),
                "{err}"
            );
        }
    }

    #[test]
    fn displays_round_trip() {
        for s in ["30s", "1500ms", "0s"] {
            let d = SpecDuration(parse_duration(s).unwrap());
            assert_eq!(d.to_string(), s);
        }
    }
}
