//! Two figures from the same slow operations (a kill gives both its failover time and its
//! detection time): the variant that runs first in a round measures `ops` operations and
//! leaves the other figure's samples for the variant that runs second.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::scenario::Reason;

/// The samples of the figure the last round's operations left for the other variant.
#[derive(Default)]
pub(super) struct Paired {
    /// `(first?, samples)`: whose they are, and the samples.
    pending: Mutex<Option<(bool, Vec<u64>)>>,
}

impl Paired {
    /// `ops` samples of the first figure (`first`) or of the second: the ones left by the
    /// other variant if it ran these operations, else `ops` runs of `one`, which measures one
    /// operation and returns both figures.
    pub async fn samples<F, Fut>(
        &self,
        first: bool,
        ops: u64,
        mut one: F,
    ) -> Result<Vec<u64>, Reason>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(Duration, Duration), Reason>>,
    {
        let mut pending = self.pending.lock().await;
        if let Some((f, samples)) = pending.take() {
            if f == first && samples.len() as u64 == ops {
                return Ok(samples);
            }
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..ops {
            let (x, y) = one().await?;
            a.push(x.as_nanos() as u64);
            b.push(y.as_nanos() as u64);
        }
        let (mine, other) = if first { (a, b) } else { (b, a) };
        *pending = Some((!first, other));
        Ok(mine)
    }
}
