//! `--metrics ADDR` (`troupe node`, `troupe run`): Prometheus metrics at `GET /metrics`, plus
//! `GET /health` (the runtime still supervises) and `GET /ready` (200 once the node is up), on
//! a small axum server of their own. Off unless given.
//!
//! The `/metrics` route is [`troupe::runtime::metrics::http::metrics_router`]; an API server
//! merges that router into its own app instead (`app.merge(metrics_router(metrics))`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::get;
use troupe::runtime::metrics::http::metrics_router;
use troupe::runtime::metrics::Metrics;
use troupe::runtime::WeakRuntime;

/// The `--metrics` option.
#[derive(clap::Args, Debug, Clone)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics (and /health, /ready), e.g.
    /// 127.0.0.1:9464; port 0 picks a free one (the address is printed).
    #[arg(long, value_name = "ADDR", env = "TROUPE_METRICS")]
    pub metrics: Option<SocketAddr>,
}

/// A running metrics server: flip [`Server::ready`] once the process is ready for work.
pub struct Server {
    ready: Arc<AtomicBool>,
}

impl Server {
    /// `/ready` answers 200 from now on.
    pub fn ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }
}

/// Binds `addr` and serves `metrics` there in the background; prints
/// `troupe: metrics at http://ADDR/metrics` (the bound address) on stderr.
pub async fn start(addr: SocketAddr, metrics: Metrics, rt: WeakRuntime) -> Result<Server, String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("--metrics {addr}: cannot listen: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("--metrics {addr}: {e}"))?;
    let ready = Arc::new(AtomicBool::new(false));
    let flag = ready.clone();
    let app = metrics_router(metrics)
        .route(
            "/health",
            get(move || {
                let healthy = rt.upgrade().is_some_and(|rt| rt.is_healthy());
                async move {
                    if healthy {
                        (StatusCode::OK, "ok\n")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy\n")
                    }
                }
            }),
        )
        .route(
            "/ready",
            get(move || {
                let ready = flag.load(Ordering::Relaxed);
                async move {
                    if ready {
                        (StatusCode::OK, "ready\n")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
                    }
                }
            }),
        );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("troupe: metrics server stopped: {e}");
        }
    });
    eprintln!("troupe: metrics at http://{bound}/metrics");
    Ok(Server { ready })
}
