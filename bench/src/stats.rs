//! The harness's statistics: a [`Recorder`] that keeps raw samples without distorting them, and
//! the [`Summary`] of a series (percentiles, mean, throughput) plus [`ratio`].
//!
//! **Percentiles are nearest-rank**: the `q` percentile of `n` sorted samples is the sample of
//! rank `⌈q·n/100⌉` (1-based, at least 1). Every reported figure is therefore a value that was
//! actually observed; for the samples 1..=100, p50 = 50, p90 = 90, p99 = 99 and max = 100; for
//! one sample every percentile is that sample; for two, p50 is the smaller and p90 the larger.
//! Ranks are computed in integer arithmetic (hundredths of a percent), so no floating-point
//! rounding moves a rank.
//!
//! **Recording does not distort**: a recorder keeps every raw sample up to its cap; past the cap
//! it keeps a uniform random subset of all samples seen (reservoir sampling, algorithm R), so
//! the percentiles stay unbiased estimates, while the count, sum, minimum and maximum stay exact.

use serde::Serialize;

/// Raw samples kept per series before reservoir sampling takes over.
pub const DEFAULT_CAP: usize = 1_000_000;

/// Records the samples of one series (nanoseconds per operation, or bytes per agent).
#[derive(Debug, Clone)]
pub struct Recorder {
    kept: Vec<u64>,
    cap: usize,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
    rng: fastrand::Rng,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::with_cap(DEFAULT_CAP)
    }
}

impl Recorder {
    /// A recorder that keeps at most `cap` raw samples (at least 1).
    pub fn with_cap(cap: usize) -> Self {
        Self::with_cap_and_seed(cap, 0x7e0_bea7)
    }

    /// Like [`Recorder::with_cap`], with the reservoir's random seed (for reproducible tests).
    pub fn with_cap_and_seed(cap: usize, seed: u64) -> Self {
        Self {
            kept: Vec::new(),
            cap: cap.max(1),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// Records one sample.
    pub fn record(&mut self, value: u64) {
        self.count += 1;
        self.sum += u128::from(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if self.kept.len() < self.cap {
            self.kept.push(value);
        } else {
            // Algorithm R: the i-th sample replaces a kept one with probability cap / i.
            let slot = self.rng.u64(0..self.count);
            if slot < self.cap as u64 {
                self.kept[slot as usize] = value;
            }
        }
    }

    /// Records every sample of `values`.
    pub fn extend(&mut self, values: impl IntoIterator<Item = u64>) {
        for v in values {
            self.record(v);
        }
    }

    /// Samples recorded (exact, including those the reservoir dropped).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Samples currently kept.
    pub fn kept(&self) -> &[u64] {
        &self.kept
    }

    /// Sum of every sample recorded (exact).
    pub fn sum(&self) -> u128 {
        self.sum
    }

    /// The summary of the series; `elements_per_sample` turns time samples into a throughput
    /// (`None` for series that are not times, e.g. bytes).
    pub fn summary(&self, elements_per_sample: Option<u64>) -> Summary {
        let mut sorted = self.kept.clone();
        sorted.sort_unstable();
        let at = |basis_points| percentile(&sorted, basis_points).unwrap_or(0);
        let (min, max) = if self.count == 0 {
            (0, 0)
        } else {
            (self.min, self.max)
        };
        Summary {
            n: self.count,
            kept: sorted.len() as u64,
            min,
            p25: at(2_500),
            p50: at(5_000),
            p75: at(7_500),
            p90: at(9_000),
            p95: at(9_500),
            p99: at(9_900),
            max,
            mean: if self.count == 0 {
                0.0
            } else {
                self.sum as f64 / self.count as f64
            },
            throughput: elements_per_sample
                .and_then(|e| throughput(self.count.saturating_mul(e), self.sum)),
        }
    }
}

/// The nearest-rank percentile of `sorted` samples, in hundredths of a percent (`5_000` is the
/// median, `9_900` p99, `10_000` the maximum, `0` the minimum). `None` when there are no
/// samples.
pub fn percentile(sorted: &[u64], basis_points: u32) -> Option<u64> {
    let n = sorted.len() as u64;
    if n == 0 {
        return None;
    }
    let bp = u64::from(basis_points.min(10_000));
    // rank = ceil(bp * n / 10_000), at least 1.
    let rank = (bp * n).div_ceil(10_000).clamp(1, n);
    Some(sorted[(rank - 1) as usize])
}

/// Elements per second when `elements` took `total_nanos` in all; `None` for zero time.
pub fn throughput(elements: u64, total_nanos: u128) -> Option<f64> {
    if total_nanos == 0 {
        return None;
    }
    Some(elements as f64 * 1e9 / total_nanos as f64)
}

/// `subject ÷ baseline` (how many times the baseline's figure the subject's is); `None` when the
/// baseline is zero. Below 1 the subject is faster (or smaller).
pub fn ratio(subject: u64, baseline: u64) -> Option<f64> {
    if baseline == 0 {
        return None;
    }
    Some(subject as f64 / baseline as f64)
}

/// The summary of one series of samples. Times are in nanoseconds, memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Samples recorded.
    pub n: u64,
    /// Samples the percentiles were taken from (all of them unless the reservoir's cap was hit).
    pub kept: u64,
    /// Smallest sample.
    pub min: u64,
    /// 25th percentile.
    pub p25: u64,
    /// Median.
    pub p50: u64,
    /// 75th percentile.
    pub p75: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest sample.
    pub max: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Elements per second over the summed sample times, for time series with a throughput.
    pub throughput: Option<f64>,
}

#[cfg(test)]
mod tests;
