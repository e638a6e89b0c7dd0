//! Prometheus metrics of one runtime (or one cluster node), with no process-global state.
//!
//! A [`Metrics`] owns its own recorder (a `metrics-exporter-prometheus` recorder that is never
//! installed globally): two runtimes in one process keep two sets of figures. Figures come
//! from two places:
//!
//! - the runtime's event stream: [`Metrics::observe`] starts a consumer that turns every event
//!   into counters, gauges and histograms (runs, task attempts and their latency per workflow,
//!   failures by error class, circuits, dead letters, coordination latency, its own lag);
//! - collectors ([`Metrics::add_collector`]), called on each [`Metrics::render`] to set gauges
//!   from state read at scrape time (a cluster node's members, suspects, queue, steals).
//!
//! Code that holds a `Metrics` records with [`Metrics::record`] (the `metrics` macros inside
//! it go to this recorder only). The names follow Prometheus' conventions (`troupe_` prefix,
//! `_total` counters, base units: `_seconds`); the README lists them all.
//!
//! Serving them: [`Metrics::render`] returns the text exposition format; with the feature
//! `http`, `metrics::http::metrics_router` is an axum router with `GET /metrics`.

mod consumer;
#[cfg(feature = "http")]
pub mod http;

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use parking_lot::Mutex;

pub use consumer::error_class_label;

/// Histogram buckets (seconds) of every `_seconds` histogram: 100 µs to 5 min.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0,
];

type Collector = Box<dyn Fn(&Metrics) + Send + Sync>;

/// One runtime's (or node's) metrics: a recorder of its own and the collectors run at scrape.
/// Cheap to clone (shared).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    collectors: Mutex<Vec<Collector>>,
    /// The seq of the last event the consumer applied.
    processed: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Metrics whose every series carries the label `node="<node>"`.
    pub fn new(node: &str) -> Self {
        let recorder = PrometheusBuilder::new()
            .add_global_label("node", node)
            .set_buckets(SECONDS_BUCKETS)
            .expect("SECONDS_BUCKETS is a non-empty constant")
            .build_recorder();
        let handle = recorder.handle();
        let metrics = Self {
            inner: Arc::new(Inner {
                recorder,
                handle,
                collectors: Mutex::new(Vec::new()),
                processed: tokio::sync::watch::Sender::new(0),
            }),
        };
        metrics.record(consumer::describe);
        metrics
    }

    /// Runs `f` with this recorder as the current one: the `metrics` macros (`counter!`,
    /// `gauge!`, `histogram!`) inside it record here, not in any global recorder. The scope is
    /// the calling thread for the duration of `f` (do not await inside).
    pub fn record<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.inner.recorder, f)
    }

    /// Adds a collector: called on every [`Metrics::render`], before the text is made, to set
    /// gauges or counters from state read at that moment.
    pub fn add_collector(&self, collector: impl Fn(&Metrics) + Send + Sync + 'static) {
        self.inner.collectors.lock().push(Box::new(collector));
    }

    /// Runs the collectors, then renders every series in the Prometheus text exposition format
    /// (version 0.0.4).
    pub fn render(&self) -> String {
        {
            let collectors = self.inner.collectors.lock();
            for c in collectors.iter() {
                c(self);
            }
        }
        self.inner.handle.render()
    }

    /// Records one observation of a duration histogram (`name` ends in `_seconds`).
    pub fn observe_seconds(
        &self,
        name: &'static str,
        labels: &[(&'static str, String)],
        d: Duration,
    ) {
        let labels: Vec<metrics::Label> = labels
            .iter()
            .map(|(k, v)| metrics::Label::new(*k, v.clone()))
            .collect();
        self.record(|| metrics::histogram!(name, labels).record(d.as_secs_f64()));
    }

    /// Waits until the event consumer has applied the event numbered `seq` (see
    /// [`crate::Event::seq`]): a test's or an operator's way to scrape after a known workload
    /// without sleeping.
    pub async fn caught_up(&self, seq: u64) {
        let mut rx = self.inner.processed.subscribe();
        let _ = rx.wait_for(|done| *done >= seq).await;
    }

    pub(super) fn inner_processed(&self, seq: u64) {
        self.inner.processed.send_replace(seq);
    }

    /// Adds the store's write counters ([`crate::store::Store::stats`]) as
    /// `troupe_store_commits_total` (each one fsync on SQLite), `troupe_store_appends_total`
    /// and `troupe_journal_entries_total`, read at each scrape, and the latency of each commit
    /// (the journal's fsync) as the histogram `troupe_journal_fsync_seconds`.
    pub fn observe_store(&self, store: std::sync::Arc<dyn crate::store::Store>) {
        self.record(|| {
            metrics::describe_counter!(
                "troupe_store_commits_total",
                "Write transactions the store committed (each one fsync on SQLite)."
            );
            metrics::describe_counter!("troupe_store_appends_total", "Journal append calls.");
            metrics::describe_counter!("troupe_journal_entries_total", "Journal entries appended.");
            metrics::describe_histogram!(
                "troupe_journal_fsync_seconds",
                metrics::Unit::Seconds,
                "How long each store commit took (its fsync on SQLite)."
            );
        });
        self.add_collector(move |m| {
            let s = store.stats();
            m.record(|| {
                metrics::counter!("troupe_store_commits_total").absolute(s.commits);
                metrics::counter!("troupe_store_appends_total").absolute(s.appends);
                metrics::counter!("troupe_journal_entries_total").absolute(s.entries);
                let fsync = metrics::histogram!("troupe_journal_fsync_seconds");
                for d in store.take_commit_latencies() {
                    fsync.record(d.as_secs_f64());
                }
            });
        });
    }

    /// Starts the consumer of `runtime`'s events (a tokio task that ends with the runtime's
    /// bus). Call once per runtime; a runtime given these metrics in
    /// [`crate::RuntimeConfig::metrics`] has already called it.
    pub fn observe(&self, runtime: &crate::Runtime) -> tokio::task::JoinHandle<()> {
        consumer::spawn(self.clone(), runtime.subscribe())
    }
}
