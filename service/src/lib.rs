//! Troupe over HTTP: the v1 REST API of the design documents' "Interface Contracts" (submit,
//! execute, status, pause of workflows; status, pause, resume, cancel and signals of
//! executions; dead letters), an SSE stream per execution read from its journal, a WebSocket
//! per workflow, JWT bearer auth with scopes and tenants, an audit log of every mutating call
//! (in the store), webhooks ([`webhooks`]), cron schedules ([`schedules`]), TLS ([`tls`]) and
//! the OpenAPI 3.1 document of the routes.
//!
//! Executions are durable runs: they are journaled in the [`Store`](troupe_runtime::store::Store) and driven by the embedded
//! [`Runtime`](troupe_runtime::Runtime); control requests for a run this process does not drive go to the run's inbox
//! in the store. Submitted workflows are kept in the store too (keyed records), so a restarted
//! service, or another sharing the store, still knows them.

#![deny(missing_docs)]

pub mod admission;
pub mod audit;
pub mod auth;
pub mod cluster;
pub mod decode;
mod dlq;
pub mod error;
mod events;
mod executions;
mod live;
pub mod openapi;
mod persist;
mod problems;
pub mod schedules;
mod state;
pub mod tls;
mod ui;
pub mod webhooks;
mod workflows;

use std::sync::Arc;

use axum::Router;

pub use admission::AdmissionLimits;
pub use auth::{Auth, Caller, Claims, Scope};
pub use error::ApiError;
pub use state::{Replayer, Service, ServiceConfig};
pub use webhooks::WebhookConfig;

impl Service {
    /// The whole API: the routes of [`openapi::routes`], `/health` and `/ready`, and the
    /// OpenAPI document. Extra routes (e.g. a `/metrics` exporter) are mounted with
    /// [`Service::router_with`].
    pub fn router(self: &Arc<Self>) -> Router {
        self.router_with(Router::new())
    }

    /// [`Service::router`] merged with `extra`, routes that need no state of the service
    /// (they do their own auth, or none, as `/metrics` usually does).
    pub fn router_with(self: &Arc<Self>, extra: Router) -> Router {
        let mut router = Router::new();
        for (path, handler) in openapi::grouped() {
            router = router.route(path, handler);
        }
        let fallback = || async { ApiError::NotFound("no such route".into()) };
        let not_allowed = || async {
            ApiError::MethodNotAllowed(
                "this path does not take that method (see /api/v1/openapi.json)".into(),
            )
        };
        router
            .fallback(fallback)
            .method_not_allowed_fallback(not_allowed)
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                audit::audit,
            ))
            .layer(axum::extract::DefaultBodyLimit::max(decode::MAX_BODY_BYTES))
            .with_state(self.clone())
            .merge(ui::router())
            .merge(extra)
    }

    /// Serves the API on `listener` until `shutdown` completes.
    pub async fn serve(
        self: &Arc<Self>,
        listener: tokio::net::TcpListener,
        extra: Router,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router_with(extra))
            .with_graceful_shutdown(shutdown)
            .await
    }
}
