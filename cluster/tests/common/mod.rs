//! Helpers shared by the in-process cluster tests.

use std::time::{Duration, Instant};

/// Waits until `cond` holds, polling every 10 ms; a failure guard of 30 s, not a timing
/// assertion.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
