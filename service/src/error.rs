//! One JSON error shape for every endpoint: `{"error": {"code", "message", "details"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// Everything an endpoint can refuse with; each maps to one HTTP status and a stable `code`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request's body or parameters cannot be read (`bad_request`, 400).
    #[error("{0}")]
    BadRequest(String),
    /// The workflow names an orchestration pattern that is not registered (400).
    #[error("{message}")]
    UnsupportedPattern {
        /// What is wrong.
        message: String,
        /// The pattern, the known ones and where it is named.
        details: Value,
    },
    /// No bearer token, or one that does not verify (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The token lacks the scope the call needs (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such workflow, execution or dead letter (for this tenant) (404).
    #[error("{0}")]
    NotFound(String),
    /// The path exists but not with this method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The call conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The workflow definition is invalid: every problem with its line and column (422).
    #[error("{message}")]
    Invalid {
        /// A summary.
        message: String,
        /// `{"problems": [{"message", "line", "column"}]}`.
        details: Value,
    },
    /// The request's body is larger than the service accepts
    /// ([`MAX_BODY_BYTES`](crate::decode::MAX_BODY_BYTES)) (`payload_too_large`, 413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The resources the workflow's pools need cannot be had here (507).
    #[error("{0}")]
    InsufficientResources(String),
    /// This service has no way to do it (501).
    #[error("{0}")]
    NotImplemented(String),
    /// The store or runtime failed (500).
    #[error("{0}")]
    Internal(String),
    /// The caller's tenant has as many executions running as it may (429, `Retry-After`).
    #[error("{message}")]
    TooManyRequests {
        /// Which limit, and the load.
        message: String,
        /// When to try again.
        retry_after: std::time::Duration,
    },
    /// The node has no room for more work (503, `Retry-After`).
    #[error("{message}")]
    Overloaded {
        /// Which limit, and the load.
        message: String,
        /// When to try again.
        retry_after: std::time::Duration,
    },
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::UnsupportedPattern { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InsufficientResources(_) => StatusCode::INSUFFICIENT_STORAGE,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::UnsupportedPattern { .. } => "unsupported_pattern",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::Invalid { .. } => "invalid_workflow",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::InsufficientResources(_) => "insufficient_resources",
            Self::NotImplemented(_) => "not_implemented",
            Self::Internal(_) => "internal",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Overloaded { .. } => "overloaded",
        }
    }

    /// When a refused call may be tried again (`Retry-After`), for refusals for load.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::TooManyRequests { retry_after, .. } | Self::Overloaded { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    /// The error as its JSON body.
    pub fn body(&self) -> Value {
        let details = match self {
            Self::UnsupportedPattern { details, .. } | Self::Invalid { details, .. } => {
                details.clone()
            }
            _ => json!({}),
        };
        json!({"error": {"code": self.code(), "message": self.to_string(), "details": details}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self, Self::Internal(_)) {
            tracing::warn!(error = %self, "internal error serving an API call");
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let Some(after) = self.retry_after() {
            // Whole seconds, at least 1 (RFC 9110 §10.2.3).
            let secs = after.as_secs_f64().ceil().max(1.0) as u64;
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<troupe_runtime::store::StoreError> for ApiError {
    fn from(e: troupe_runtime::store::StoreError) -> Self {
        Self::Internal(format!("store: {e}"))
    }
}

/// A JSON body read with its problem named (what and where), as an [`ApiError::BadRequest`].
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(req, state).await?;
        crate::decode::json_body(&bytes).map(JsonBody)
    }
}

/// The whole body of a request, within the router's body limit: a larger one is
/// [`ApiError::PayloadTooLarge`] (413), not axum's plain-text rejection.
pub(crate) async fn read_body<S: Send + Sync>(
    req: axum::extract::Request,
    state: &S,
) -> Result<axum::body::Bytes, ApiError> {
    use axum::extract::FromRequest;
    axum::body::Bytes::from_request(req, state)
        .await
        .map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(format!(
                "the body is larger than the {}-byte limit",
                crate::decode::MAX_BODY_BYTES
            )),
            _ => ApiError::BadRequest(format!("cannot read the body: {e}")),
        })
}

/// A request body read whole, with [`read_body`]'s errors.
pub(crate) struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        read_body(req, state).await.map(RawBody)
    }
}
