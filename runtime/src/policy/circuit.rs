//! Circuit breaker: after `failure_threshold` consecutive failures, calls fail fast for
//! `open_for`; then one trial call decides whether the circuit closes again.

use std::time::{Duration, Instant};

/// Settings of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before a trial call.
    pub open_for: Duration,
}

/// A change of the breaker's state, to report as an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitTransition {
    /// Calls now fail fast.
    Opened,
    /// A trial call succeeded; calls flow again.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_in_flight: bool },
}

/// The breaker's state machine.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: CircuitBreakerConfig,
    state: State,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: CircuitBreakerConfig) -> Self {
        Self {
            config,
            state: State::Closed { failures: 0 },
        }
    }

    /// Asks to make a call at `now`: `Ok` to go ahead, `Err(wait)` to fail fast.
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Duration> {
        match self.state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now >= until => {
                self.state = State::HalfOpen {
                    trial_in_flight: true,
                };
                Ok(())
            }
            State::Open { until } => Err(until - now),
            State::HalfOpen {
                trial_in_flight: false,
            } => {
                self.state = State::HalfOpen {
                    trial_in_flight: true,
                };
                Ok(())
            }
            // One trial at a time; others fail fast without a known wait.
            State::HalfOpen {
                trial_in_flight: true,
            } => Err(Duration::ZERO),
        }
    }

    /// Records a successful call.
    pub fn on_success(&mut self) -> Option<CircuitTransition> {
        let was_half_open = matches!(self.state, State::HalfOpen { .. });
        self.state = State::Closed { failures: 0 };
        was_half_open.then_some(CircuitTransition::Closed)
    }

    /// Records a failed call at `now`.
    pub fn on_failure(&mut self, now: Instant) -> Option<CircuitTransition> {
        match self.state {
            State::Closed { failures } => {
                let failures = failures + 1;
                if failures >= self.config.failure_threshold.max(1) {
                    self.state = State::Open {
                        until: now + self.config.open_for,
                    };
                    Some(CircuitTransition::Opened)
                } else {
                    self.state = State::Closed { failures };
                    None
                }
            }
            State::HalfOpen { .. } => {
                self.state = State::Open {
                    until: now + self.config.open_for,
                };
                Some(CircuitTransition::Opened)
            }
            State::Open { .. } => None,
        }
    }

    /// Whether calls currently fail fast.
    pub fn is_open(&self) -> bool {
        !matches!(self.state, State::Closed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(CircuitBreakerConfig {
            failure_threshold: 3,
            open_for: Duration::from_secs(30),
        })
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let t0 = Instant::now();
        let mut b = breaker();
        assert_eq!(b.on_failure(t0), None);
        assert_eq!(b.on_success(), None, "a success resets the count");
        assert_eq!(b.on_failure(t0), None);
        assert_eq!(b.on_failure(t0), None);
        assert_eq!(b.on_failure(t0), Some(CircuitTransition::Opened));
        assert_eq!(
            b.try_acquire(t0 + Duration::from_secs(10)),
            Err(Duration::from_secs(20))
        );
    }

    #[test]
    fn one_trial_after_the_open_period_decides() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.on_failure(t0);
        }
        let later = t0 + Duration::from_secs(31);
        assert_eq!(b.try_acquire(later), Ok(()), "trial call allowed");
        assert!(b.try_acquire(later).is_err(), "only one trial at a time");
        assert_eq!(
            b.on_failure(later),
            Some(CircuitTransition::Opened),
            "failed trial reopens"
        );
        assert!(b.try_acquire(later + Duration::from_secs(1)).is_err());
        let much_later = later + Duration::from_secs(31);
        assert_eq!(b.try_acquire(much_later), Ok(()));
        assert_eq!(b.on_success(), Some(CircuitTransition::Closed));
        assert_eq!(b.try_acquire(much_later), Ok(()));
        assert!(!b.is_open());
    }
}
