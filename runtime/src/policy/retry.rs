//! Retry policy: how many attempts, how long to wait between them, which failures to retry.

use std::time::Duration;

use super::Backoff;
use crate::config::ConfigError;

/// Which failures a [`RetryPolicy`] retries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RetryOn {
    /// Failures that call themselves retryable (timeouts, crashed or stopped agents, open
    /// circuits, transient handler errors). The default.
    #[default]
    Retryable,
    /// Every failure.
    Any,
    /// Only failures of these classes (see [`crate::CallError::class`]; plus `bad_input` and
    /// `task_crashed` for failures of the task itself).
    Classes(Vec<String>),
}

/// How a failed task attempt is retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Wait before the second attempt.
    pub initial_backoff: Duration,
    /// Upper bound of any wait.
    pub max_backoff: Duration,
    /// Growth of the wait per attempt.
    pub multiplier: f64,
    /// Fraction (0..=1) of each wait that is randomised: the wait is drawn uniformly from
    /// `[d * (1 - jitter), d]`.
    pub jitter: f64,
    /// Which failures are retried.
    pub retry_on: RetryOn,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::none()
    }
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            multiplier: 1.0,
            jitter: 0.0,
            retry_on: RetryOn::Retryable,
        }
    }

    /// The `exponential_backoff` preset: 3 attempts, 100 ms doubling up to 10 s, 20% jitter.
    pub fn exponential_backoff() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: 0.2,
            retry_on: RetryOn::Retryable,
        }
    }

    /// Sets the number of attempts.
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Whether attempt number `attempt` (1-based) that failed with an error of `class`
    /// (retryable or not) should be followed by another.
    pub fn should_retry(&self, attempt: u32, class: &str, retryable: bool) -> bool {
        if attempt >= self.max_attempts {
            return false;
        }
        match &self.retry_on {
            RetryOn::Retryable => retryable,
            RetryOn::Any => true,
            RetryOn::Classes(classes) => classes.iter().any(|c| c == class),
        }
    }

    /// The wait after failed attempt number `attempt` (1-based), before jitter is applied.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        self.backoff().delay(attempt)
    }

    /// The policy's waits as a [`Backoff`] (before jitter).
    pub fn backoff(&self) -> Backoff {
        Backoff {
            initial: self.initial_backoff,
            max: self.max_backoff,
            multiplier: self.multiplier,
        }
    }

    /// The wait after failed attempt number `attempt`, with jitter drawn from `rng`.
    pub fn delay(&self, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        let base = self.base_delay(attempt);
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 || base.is_zero() {
            return base;
        }
        let factor = 1.0 - jitter * rng.f64();
        base.mul_f64(factor)
    }

    /// Checks the numbers, naming the first that is off.
    /// The error's `kind` is `retry_policy`, its path the field, its reason names the field too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |path: &str, reason: String| Err(ConfigError::new("retry_policy", path, reason));
        if self.max_attempts == 0 {
            return bad("/max_attempts", "max_attempts must be at least 1".into());
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            let reason = format!("multiplier must be >= 1, got {}", self.multiplier);
            return bad("/multiplier", reason);
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            let reason = format!("jitter must be within 0..=1, got {}", self.jitter);
            return bad("/jitter", reason);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            multiplier: 2.0,
            jitter: 0.0,
            retry_on: RetryOn::Retryable,
        };
        let got: Vec<u64> = (1..=5)
            .map(|a| p.base_delay(a).as_millis() as u64)
            .collect();
        assert_eq!(got, vec![100, 200, 400, 500, 500]);
    }

    #[test]
    fn jitter_stays_within_its_band() {
        let p = RetryPolicy::exponential_backoff();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut distinct = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let d = p.delay(2, &mut rng);
            assert!(
                d <= Duration::from_millis(200) && d >= Duration::from_millis(160),
                "{d:?}"
            );
            distinct.insert(d);
        }
        assert!(distinct.len() > 50, "jitter should spread the waits");
    }

    #[test]
    fn retries_only_what_the_policy_names() {
        let p = RetryPolicy::exponential_backoff();
        assert!(p.should_retry(1, "timeout", true));
        assert!(!p.should_retry(1, "permanent", false));
        assert!(!p.should_retry(3, "timeout", true), "attempts exhausted");
        let only_timeouts = RetryPolicy {
            retry_on: RetryOn::Classes(vec!["timeout".into()]),
            ..RetryPolicy::exponential_backoff()
        };
        assert!(only_timeouts.should_retry(1, "timeout", true));
        assert!(!only_timeouts.should_retry(1, "agent_failed", true));
        let any = RetryPolicy {
            retry_on: RetryOn::Any,
            ..RetryPolicy::exponential_backoff()
        };
        assert!(any.should_retry(2, "permanent", false));
    }

    #[test]
    fn validate_names_the_bad_field() {
        let p = RetryPolicy {
            jitter: 2.0,
            ..RetryPolicy::exponential_backoff()
        };
        let err = p.validate().unwrap_err();
        assert_eq!(err.path, "/jitter");
        assert!(err.reason.contains("jitter"), "{err}");
    }
}
