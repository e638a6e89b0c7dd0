//! Pure policies: retry with exponential backoff and jitter, and the circuit breaker. No tokio in
//! here; callers pass the current time in.

mod backoff;
mod circuit;
mod retry;

pub use backoff::Backoff;
pub use circuit::{CircuitBreaker, CircuitBreakerConfig, CircuitTransition};
pub use retry::{RetryOn, RetryPolicy};
