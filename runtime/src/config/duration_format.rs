//! The one duration format of every config and workflow file: a number of seconds (`30`,
//! `1.5`), or numbers with units `ms`, `s`, `m`, `h`, `d`, possibly combined (`"500ms"`,
//! `"30s"`, `"2m"`, `"1h30m"`, `"7d"`).

use std::time::Duration;

/// A duration text that is not in the format of [`parse_duration`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {text:?}: expected a number of seconds or a number with a unit \
     ms, s, m, h or d (like \"500ms\", \"30s\", \"2m\", \"7d\")"
)]
#[non_exhaustive]
pub struct DurationError {
    /// The text given.
    pub text: String,
}

/// Parses a duration: a number of seconds (`"30"`, `"1.5"`), or numbers with units `ms`, `s`,
/// `m`, `h`, `d` (days), possibly combined (`"500ms"`, `"30s"`, `"2m"`, `"1h30m"`, `"7d"`).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let bad = || DurationError {
        text: text.to_string(),
    };
    let s = text.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|_| bad());
    }
    let (mut total, mut rest) = (0.0, s);
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'));
        let (number, tail) = rest.split_at(digits.unwrap_or(rest.len()));
        let letters = tail.find(|c: char| !c.is_ascii_alphabetic());
        let (unit, tail) = tail.split_at(letters.unwrap_or(tail.len()));
        let factor = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return Err(bad()),
        };
        total += number.parse::<f64>().map_err(|_| bad())? * factor;
        rest = tail;
    }
    match s.is_empty() {
        true => Err(bad()),
        false => Duration::try_from_secs_f64(total).map_err(|_| bad()),
    }
}

/// Reads a JSON duration (a string in the format of [`parse_duration`] or a number of
/// seconds); `Err` says what was found instead.
fn read<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    use serde::de::Error;
    use serde::Deserialize;
    let text = match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        other => {
            return Err(D::Error::custom(format!(
                "expected a duration like \"30s\" or \"500ms\", or a number of seconds, got {}",
                super::describe(&other)
            )))
        }
    };
    parse_duration(&text).map_err(D::Error::custom)
}

/// Serde for a `Duration` config field (`#[serde(with = "duration")]`): reads a string like
/// `"30s"` or a number of seconds, writes `"<n>ms"`.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    /// Writes `"<n>ms"`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", d.as_millis()))
    }

    /// Reads a duration string or a number of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        super::read(d)
    }
}

/// Serde for an `f64` seconds config field (`#[serde(with = "seconds")]`): reads a string like
/// `"30s"` or a number of seconds, writes the number. For an `Option<f64>` field, use
/// [`seconds::option`] with `#[serde(default)]`.
pub mod seconds {
    use serde::{Deserializer, Serializer};

    /// Writes the number of seconds.
    pub fn serialize<S: Serializer>(secs: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(*secs)
    }

    /// Reads a duration string or a number of seconds, as seconds. Numbers pass through as
    /// they are (a negative one is left for the config's own checks to name).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        use serde::de::IntoDeserializer;
        use serde::Deserialize;
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a number of seconds"))),
            other => super::read(other.into_deserializer())
                .map(|d| d.as_secs_f64())
                .map_err(serde::de::Error::custom),
        }
    }

    /// The same for `Option<f64>` (`null` is `None`).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        /// Writes the number of seconds, or `null`.
        pub fn serialize<S: Serializer>(secs: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            match secs {
                Some(v) => s.serialize_some(v),
                None => s.serialize_none(),
            }
        }

        /// Reads `null`, a duration string or a number of seconds.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            use serde::de::IntoDeserializer;
            match Option::<serde_json::Value>::deserialize(d)? {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => super::deserialize(v.into_deserializer())
                    .map(Some)
                    .map_err(serde::de::Error::custom),
            }
        }
    }
}
