//! Diagnostics of the `troupe` binary: log lines on stderr (`--log-format text|json`) and,
//! only with `--otlp ENDPOINT`, OpenTelemetry traces exported over OTLP/HTTP.
//!
//! The traces are the runtime's `tracing` spans: `workflow` (one per run: its root span, so
//! one trace per run, fields `run`, `name`), `task` (one per attempt: `task`, `attempt`,
//! `pool`) and `agent_call` (one per call to an agent: `agent`, `kind`, or `pool` and `kind`
//! for a call dispatched to the cluster). In JSON logs every line inside a run carries those
//! spans (`span`, `spans`), so the run, task and agent ids are on each line.

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, with the current span and the list of spans around it.
    Json,
}

/// A layer of the binary's subscriber.
pub type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Keeps the trace exporter alive; dropping it flushes the spans not yet sent.
pub struct Guard {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            if let Err(e) = p.shutdown() {
                eprintln!("warning: flushing traces: {e}");
            }
        }
    }
}

/// Installs the binary's subscriber (the binary's own, process-wide: the library never does).
pub fn init(filter: Option<&str>, format: LogFormat, otlp: Option<&str>) -> Guard {
    let filter = match filter {
        Some(f) => EnvFilter::try_new(f),
        None => EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new("error")),
    };
    let filter = filter.unwrap_or_else(|e| {
        eprintln!("warning: bad log filter ({e}); logging errors only");
        EnvFilter::new("error")
    });
    let mut layers: Vec<BoxedLayer> = vec![log_layer(format, filter)];
    let mut provider = None;
    if let Some(endpoint) = otlp {
        match otlp_provider(endpoint) {
            Ok(p) => {
                layers.push(trace_layer(&p));
                provider = Some(p);
            }
            Err(e) => eprintln!("warning: --otlp {endpoint}: {e}; no traces"),
        }
    }
    tracing_subscriber::registry().with(layers).init();
    Guard { provider }
}

fn log_layer(format: LogFormat, filter: EnvFilter) -> BoxedLayer {
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => fmt.with_filter(filter).boxed(),
        LogFormat::Json => fmt
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_filter(filter)
            .boxed(),
    }
}

/// The layer that turns spans (info and above) into OpenTelemetry spans of `provider`.
pub fn trace_layer(provider: &opentelemetry_sdk::trace::SdkTracerProvider) -> BoxedLayer {
    use opentelemetry::trace::TracerProvider as _;
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("troupe"))
        .with_filter(LevelFilter::INFO)
        .boxed()
}

fn otlp_provider(
    endpoint: &str,
) -> Result<opentelemetry_sdk::trace::SdkTracerProvider, Box<dyn std::error::Error>> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("troupe")
        .build();
    Ok(opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

#[cfg(test)]
mod tests {
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use serde_json::json;
    use tracing_subscriber::layer::SubscriberExt;
    use troupe::{PoolSpec, Runtime, RuntimeConfig, TaskSpec, WorkflowSpec};

    /// A run of three tasks gives one trace: the run's span, one span per task attempt and one
    /// per agent call, all in the run's trace (an in-memory exporter; the test's thread-local
    /// subscriber, on a current-thread runtime).
    #[tokio::test]
    async fn one_run_is_one_trace_with_a_span_per_attempt_and_agent_call() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry().with(vec![super::trace_layer(&provider)]);
        let _guard = tracing::subscriber::set_default(subscriber);

        let rt = Runtime::start(RuntimeConfig::named("traced"))
            .await
            .unwrap();
        crate::run::register_kinds(rt.kinds());
        let spec = WorkflowSpec::builder("traced")
            .pool(
                "up",
                PoolSpec::new("text.transform", 1).config(json!({"op": "uppercase"})),
            )
            .task(TaskSpec::new("a", "up").input(json!("x")))
            .task(TaskSpec::new("b", "up").after(["a"]))
            .task(TaskSpec::new("c", "up").after(["b"]))
            .build();
        let report = rt.submit(spec).await.unwrap().wait().await.unwrap();
        assert!(report.succeeded());
        rt.shutdown().await;
        provider.force_flush().unwrap();

        let spans = exporter.get_finished_spans().unwrap();
        let named = |n: &str| spans.iter().filter(|s| s.name == n).collect::<Vec<_>>();
        let runs = named("workflow");
        assert_eq!(
            runs.len(),
            1,
            "{:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        let trace = runs[0].span_context.trace_id();
        let tasks = named("task");
        let calls = named("agent_call");
        assert_eq!(tasks.len(), 3);
        assert_eq!(calls.len(), 3);
        for s in tasks.iter().chain(&calls) {
            assert_eq!(
                s.span_context.trace_id(),
                trace,
                "{} is in the run's trace",
                s.name
            );
        }
        for t in &tasks {
            assert_eq!(t.parent_span_id, runs[0].span_context.span_id());
        }
        let task_ids: Vec<_> = tasks.iter().map(|t| t.span_context.span_id()).collect();
        for c in &calls {
            assert!(
                task_ids.contains(&c.parent_span_id),
                "an agent call is inside its task attempt"
            );
        }
    }
}
