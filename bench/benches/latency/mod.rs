//! Latency comparison for the pattern benches: a subject and its raw baseline are measured in
//! alternating batches (so machine drift hits both alike), then p50/p99 and their ratios are
//! printed. Criterion tracks the medians for regressions; this adds the tail. Percentiles are
//! the harness's nearest-rank [`troupe_bench::stats::percentile`].
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use troupe_bench::stats::percentile;

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

fn stats(samples: Vec<Duration>) -> Stats {
    let mut nanos: Vec<u64> = samples
        .iter()
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .collect();
    nanos.sort_unstable();
    let at = |basis_points| Duration::from_nanos(percentile(&nanos, basis_points).unwrap_or(0));
    Stats {
        p50: at(5_000),
        p99: at(9_900),
        n: nanos.len(),
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
