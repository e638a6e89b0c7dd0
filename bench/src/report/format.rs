//! How figures are written: times with a unit that keeps 3 significant digits, bytes in kB,
//! throughputs with SI prefixes, ratios as `1.03×`.

use crate::scenario::Unit;

/// A sample value of `unit`: a time (nanoseconds) or a size (bytes).
pub fn value(unit: &Unit, v: u64) -> String {
    match unit {
        Unit::Time { .. } => nanos(v as f64),
        Unit::Bytes => bytes(v as f64),
    }
}

/// Nanoseconds as `412 ns`, `1.23 µs`, `45.6 ms`, `2.85 s`.
pub fn nanos(ns: f64) -> String {
    let (v, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", sig3(v))
}

/// Bytes as `312 B`, `10.9 kB`, `1.40 MB`, `3.21 GB` (decimal: 1 kB = 1000 B).
pub fn bytes(b: f64) -> String {
    let (v, unit) = if b < 1e3 {
        return format!("{b:.0} B");
    } else if b < 1e6 {
        (b / 1e3, "kB")
    } else if b < 1e9 {
        (b / 1e6, "MB")
    } else {
        (b / 1e9, "GB")
    };
    format!("{} {unit}", sig3(v))
}

/// Elements per second as `3.76 M msg/s`.
pub fn throughput(per_sec: Option<f64>, unit: &Unit) -> String {
    let (Some(t), Unit::Time { element, .. }) = (per_sec, unit) else {
        return String::new();
    };
    let (v, prefix) = if t >= 1e9 {
        (t / 1e9, "G ")
    } else if t >= 1e6 {
        (t / 1e6, "M ")
    } else if t >= 1e3 {
        (t / 1e3, "k ")
    } else {
        (t, "")
    };
    format!("{} {prefix}{element}/s", sig3(v))
}

/// A ratio as `1.03×` (three significant digits), or `—`.
pub fn ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r.is_finite() => format!("{}×", sig3(r)),
        _ => "—".into(),
    }
}

/// Three significant digits, without an exponent: `0.625`, `6.25`, `62.5`, `625`, `6250`.
pub fn sig3(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.1 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

/// What one operation of `unit` counts, for captions: `1k msg` or `1 op`.
pub fn per_op(unit: &Unit) -> String {
    match unit {
        Unit::Time { elements, element } => format!("{} {element}", count(*elements)),
        Unit::Bytes => "1 process".into(),
    }
}

/// `1000` as `1k`, `1000000` as `1M`, other numbers as they are.
pub fn count(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_keep_three_significant_digits() {
        assert_eq!(nanos(412.0), "412 ns");
        assert_eq!(nanos(625.4), "625 ns");
        assert_eq!(nanos(1_234.0), "1.23 µs");
        assert_eq!(nanos(45_600_000.0), "45.6 ms");
        assert_eq!(nanos(2_850_000_000.0), "2.85 s");
    }

    #[test]
    fn bytes_are_decimal() {
        assert_eq!(bytes(312.0), "312 B");
        assert_eq!(bytes(11_162.0), "11.2 kB");
        assert_eq!(bytes(1_468_006.0), "1.47 MB");
    }

    #[test]
    fn throughputs_and_ratios() {
        let unit = Unit::batch(1000, "msg");
        assert_eq!(throughput(Some(3_760_000.0), &unit), "3.76 M msg/s");
        assert_eq!(throughput(Some(950.0), &unit), "950 msg/s");
        assert_eq!(throughput(Some(1.0), &Unit::Bytes), "");
        assert_eq!(ratio(Some(1.0312)), "1.03×");
        assert_eq!(ratio(Some(0.21)), "0.210×");
        assert_eq!(ratio(None), "—");
        assert_eq!(per_op(&Unit::batch(20_000, "msg")), "20k msg");
        assert_eq!(per_op(&Unit::batch(1_000_000, "leaf")), "1M leaf");
        assert_eq!(per_op(&Unit::batch(19_200, "msg")), "19200 msg");
    }
}
