//! Latency comparison for the pattern benches: a subject and its raw baseline are measured in
//! alternating batches (so machine drift hits both alike), then p50/p99 and their ratios are
//! printed. Criterion tracks the medians for regressions; this adds the tail.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

/// Percentiles of one series of samples.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Number of samples.
    pub n: usize,
}

/// The `q` quantile (0..=1) of sorted samples, nearest-rank.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    Stats {
        p50: quantile(&samples, 0.50),
        p99: quantile(&samples, 0.99),
        n: samples.len(),
    }
}

/// Measures `subject` and `baseline` (each one unit of work per call) in `batches` alternating
/// batches of `per_batch` calls, after a warm-up, and prints one comparison line.
pub async fn compare<S, SF, B, BF>(
    label: &str,
    batches: usize,
    per_batch: usize,
    mut subject: S,
    mut baseline: B,
) -> (Stats, Stats)
where
    S: FnMut() -> SF,
    SF: Future<Output = ()>,
    B: FnMut() -> BF,
    BF: Future<Output = ()>,
{
    for _ in 0..per_batch {
        subject().await;
        baseline().await;
    }
    let mut s = Vec::with_capacity(batches * per_batch);
    let mut b = Vec::with_capacity(batches * per_batch);
    for _ in 0..batches {
        for _ in 0..per_batch {
            let t = Instant::now();
            baseline().await;
            b.push(t.elapsed());
        }
        for _ in 0..per_batch {
            let t = Instant::now();
            subject().await;
            s.push(t.elapsed());
        }
    }
    let (s, b) = (stats(s), stats(b));
    println!(
        "{label:<40} p50 {:>9.2?} (raw {:>9.2?}, x{:.2})   p99 {:>9.2?} (raw {:>9.2?}, x{:.2})   n={}",
        s.p50,
        b.p50,
        s.p50.as_secs_f64() / b.p50.as_secs_f64().max(1e-12),
        s.p99,
        b.p99,
        s.p99.as_secs_f64() / b.p99.as_secs_f64().max(1e-12),
        s.n
    );
    (s, b)
}
