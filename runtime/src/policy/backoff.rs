//! The one exponential backoff of the project: supervisor restarts, task retries (before their
//! jitter) and the cluster's dial loop all wait [`Backoff::delay`].

use std::time::Duration;

/// Exponential backoff: the n-th wait (1-based) is `initial * multiplier^(n-1)`, at most `max`
/// (or `initial`, when that is larger). A zero `initial` never waits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first wait.
    pub initial: Duration,
    /// Upper bound of any wait.
    pub max: Duration,
    /// Growth per attempt (below 1 counts as 1).
    pub multiplier: f64,
}

impl Backoff {
    /// Never wait.
    pub const NONE: Backoff = Backoff {
        initial: Duration::ZERO,
        max: Duration::ZERO,
        multiplier: 1.0,
    };

    /// The wait before the `n`-th (1-based) attempt or restart; `n = 0` counts as 1.
    pub fn delay(&self, n: u32) -> Duration {
        if self.initial.is_zero() {
            return Duration::ZERO;
        }
        let cap = self.max.max(self.initial);
        let exp = n.saturating_sub(1).min(63) as i32;
        let multiplier = if self.multiplier.is_nan() {
            1.0
        } else {
            self.multiplier.max(1.0)
        };
        let secs = self.initial.as_secs_f64() * multiplier.powi(exp);
        match Duration::try_from_secs_f64(secs) {
            Ok(d) => d.min(cap),
            Err(_) => cap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_by_the_multiplier_up_to_the_cap() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
            multiplier: 2.0,
        };
        let got: Vec<u128> = (0..=6).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(got, vec![100, 100, 200, 400, 500, 500, 500]);
        assert_eq!(Backoff::NONE.delay(5), Duration::ZERO);
        let huge = Backoff {
            multiplier: f64::MAX,
            max: Duration::MAX,
            ..b
        };
        assert_eq!(huge.delay(u32::MAX), Duration::MAX);
        let flat = Backoff {
            multiplier: f64::NAN,
            ..b
        };
        assert_eq!(flat.delay(4), Duration::from_millis(100));
    }
}
