//! The operations UI at `/ui`: plain HTML, CSS and JavaScript embedded in the binary
//! (`include_str!`), no build step, no CDN. It uses only the public API and its event streams,
//! with the bearer token the user enters once (kept in the tab's `sessionStorage`); the pages
//! themselves hold no data, so they are served without a token.
//!
//! Pages (hash routes of one document): runs (`#/runs`), a run (`#/run/ID`), cluster
//! (`#/cluster`), dead letters (`#/dead-letters`), schedules (`#/schedules`).

use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("index.html");
const CSS: &str = include_str!("app.css");
const JS: &str = include_str!("app.js");
const DAG_JS: &str = include_str!("dag.js");

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The UI's routes (stateless: every asset is a constant of the binary).
pub(crate) fn router() -> Router {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route(
            "/ui/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/ui/app.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", JS) }),
        )
        .route(
            "/ui/dag.js",
            get(|| async { asset("text/javascript; charset=utf-8", DAG_JS) }),
        )
}
