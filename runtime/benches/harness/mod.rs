//! Helpers shared by the runtime's benches: the tokio runtime they run on, running a timed
//! future on a worker, and the paired pass's argument handling and statistics.
#![allow(dead_code)]

use std::time::Duration;

pub fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs a timed future as a task on a worker thread and returns what it measured.
pub fn on_worker<F>(rt: &tokio::runtime::Runtime, fut: F) -> Duration
where
    F: std::future::Future<Output = Duration> + Send + 'static,
{
    rt.block_on(async { tokio::spawn(fut).await.expect("bench task panicked") })
}

/// Whether the paired pass of `group` should run, and with how many rounds.
pub fn paired_rounds(group: &str, default_rounds: usize) -> Option<usize> {
    if std::env::var("TROUPE_PAIRED").is_ok_and(|v| v == "0") {
        return None;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test --benches` runs criterion in test mode (no `--bench`): no paired pass.
    if !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--list") {
        return None;
    }
    const VALUED: &[&str] = &[
        "--warm-up-time",
        "--measurement-time",
        "--sample-size",
        "--save-baseline",
        "-s",
        "--baseline",
        "-b",
        "--baseline-lenient",
        "--load-baseline",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--nresamples",
        "--output-format",
        "--color",
        "-c",
        "--profile-time",
        "--plotting-backend",
        "--format",
    ];
    let mut filters = Vec::new();
    let mut skip = false;
    for a in &args {
        if skip {
            skip = false;
        } else if a.starts_with('-') {
            skip = VALUED.contains(&a.as_str());
        } else {
            filters.push(a.as_str());
        }
    }
    let wanted = filters.is_empty()
        || filters
            .iter()
            .any(|f| group.contains(f) || f.starts_with(group));
    if !wanted {
        return None;
    }
    let rounds = std::env::var("TROUPE_PAIRED_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_rounds);
    Some(rounds.max(1))
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
