//! `GET /metrics` as an axum router (feature `http`).
//!
//! Mount it on any axum app: `app.merge(metrics_router(metrics))` (the router has no state
//! of its own to reconcile; it holds a clone of the [`Metrics`]).

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::Metrics;

/// The content type of Prometheus' text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A router serving `GET /metrics` with `metrics`' rendered text.
pub fn metrics_router(metrics: Metrics) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render()).into_response() }
        }),
    )
}

/// Serves [`metrics_router`] on `listener` until the future is dropped.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Metrics) -> std::io::Result<()> {
    axum::serve(listener, metrics_router(metrics)).await
}
