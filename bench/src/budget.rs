//! Budgets: what a figure should be on this machine (from the issues and ARCHITECTURE.md),
//! checked against the figures measured in the same run and reported PASS or FAIL beside them.
//! A failed budget is reported, not an error: a debug build or a loaded machine misses them.

use serde::Serialize;

use crate::report::format;
use crate::report::Measured;

/// A figure's budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Budget {
    /// The subject's p50 is at most `max` times the first baseline's p50.
    RatioAtMost {
        /// The largest acceptable ratio.
        max: f64,
    },
    /// The subject's p50 is below `nanos` nanoseconds per operation.
    P50Below {
        /// The bound, in nanoseconds.
        nanos: u64,
    },
    /// The subject's p50 is below `p50_nanos` and its p99 below `p99_nanos` nanoseconds.
    P50P99Below {
        /// The p50 bound, in nanoseconds.
        p50_nanos: u64,
        /// The p99 bound, in nanoseconds.
        p99_nanos: u64,
    },
    /// The subject's p95 is below `nanos` nanoseconds per operation.
    P95Below {
        /// The bound, in nanoseconds.
        nanos: u64,
    },
}

/// A budget checked against a measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetCheck {
    /// The budget.
    pub budget: Budget,
    /// It in words, e.g. `≤ 2× in memory at p50`.
    pub rule: String,
    /// What was measured, e.g. `1.42×`.
    pub measured: String,
    /// Whether the measurement is within the budget.
    pub pass: bool,
}

impl Budget {
    /// Checks the budget against `m`.
    pub fn check(&self, m: &Measured) -> BudgetCheck {
        match *self {
            Budget::RatioAtMost { max } => BudgetCheck {
                budget: *self,
                rule: format!("≤ {max}× {} at p50", m.baseline),
                measured: format::ratio(m.ratio),
                pass: m.ratio.is_some_and(|r| r <= max),
            },
            Budget::P50Below { nanos } => BudgetCheck {
                budget: *self,
                rule: format!("p50 < {}", format::nanos(nanos as f64)),
                measured: format::nanos(m.subject.summary.p50 as f64),
                pass: m.subject.summary.p50 < nanos,
            },
            Budget::P50P99Below {
                p50_nanos,
                p99_nanos,
            } => {
                let s = &m.subject.summary;
                BudgetCheck {
                    budget: *self,
                    rule: format!(
                        "p50 < {}, p99 < {}",
                        format::nanos(p50_nanos as f64),
                        format::nanos(p99_nanos as f64)
                    ),
                    measured: format!(
                        "p50 {}, p99 {}",
                        format::nanos(s.p50 as f64),
                        format::nanos(s.p99 as f64)
                    ),
                    pass: s.p50 < p50_nanos && s.p99 < p99_nanos,
                }
            }
            Budget::P95Below { nanos } => BudgetCheck {
                budget: *self,
                rule: format!("p95 < {}", format::nanos(nanos as f64)),
                measured: format::nanos(m.subject.summary.p95 as f64),
                pass: m.subject.summary.p95 < nanos,
            },
        }
    }
}

impl BudgetCheck {
    /// `PASS` or `FAIL`.
    pub fn verdict(&self) -> &'static str {
        if self.pass {
            "PASS"
        } else {
            "FAIL"
        }
    }
}
