//! The one byte-size format of the binary's flags and config: a number of bytes (`1048576`),
//! or a number with a unit: `B`, decimal `KB`, `MB`, `GB`, `TB` (powers of 1000; `K`, `M`, `G`,
//! `T` alone are the same powers of 1000) or binary `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024),
//! with or without a space (`"50MiB"`, `"1.5 GB"`). Units are case-insensitive. This is the one
//! rule for every size Troupe reads: flags, config, and a pool's `resources.memory`.

/// A byte-size text that is not in the format of [`parse_bytes`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid size {text:?}: expected a number of bytes or a number with a unit B, KB, MB, GB, \
     TB, KiB, MiB, GiB or TiB (like \"50MiB\", \"2GB\")"
)]
#[non_exhaustive]
pub struct BytesError {
    /// The text given.
    pub text: String,
}

/// Parses a byte size: `"1048576"`, `"512KiB"`, `"50MiB"`, `"1.5 GB"`.
pub fn parse_bytes(text: &str) -> Result<u64, BytesError> {
    let bad = || BytesError {
        text: text.to_string(),
    };
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let bytes = number * factor;
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_and_without_units() {
        for (text, want) in [
            ("1048576", 1_048_576),
            ("512KiB", 512 * 1024),
            ("50MiB", 50 * 1024 * 1024),
            ("50 MB", 50_000_000),
            ("1.5gb", 1_500_000_000),
            ("10 b", 10),
            ("4G", 4_000_000_000),
            ("2 TiB", 2 << 40),
            ("1tb", 1_000_000_000_000),
        ] {
            assert_eq!(parse_bytes(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_sizes_are_refused_naming_the_text() {
        for text in ["", "MB", "5 parsecs", "-1", "1e400"] {
            let err = parse_bytes(text).unwrap_err();
            assert!(err.to_string().contains(&format!("{text:?}")), "{err}");
        }
    }
}
