//! How request bodies are read: the functions the handlers call, public so that the fuzz
//! targets (fuzz/) exercise exactly them, and the body size limit.

use serde::de::DeserializeOwned;
use troupe_runtime::agent::KindLookup;
use troupe_runtime::workflow::plan::plan;
use troupe_runtime::workflow::{parse_workflow, Plan};

use crate::error::ApiError;
use crate::problems;

/// The largest request body the API reads (4 MiB); a larger one is refused with 413 and the
/// JSON error shape (`payload_too_large`).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A JSON body as the handlers read it: blank means `{}`; anything else must be JSON of `T`.
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = if bytes.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        bytes
    };
    serde_json::from_slice(text)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON for this call: {e}")))
}

/// The body of `POST /api/v1/workflows/{id}/execute`, checked as the handler checks it.
pub fn execute_body(bytes: &[u8]) -> Result<(), ApiError> {
    json_body::<crate::workflows::ExecuteRequest>(bytes).map(drop)
}

/// The body of `POST /api/v1/executions/{id}/signals/{name}`, checked as the handler checks it.
pub fn signal_body(bytes: &[u8]) -> Result<(), ApiError> {
    json_body::<crate::executions::SignalBody>(bytes).map(drop)
}

/// The body of `POST /api/v1/workflows`: a definition (YAML or JSON) in UTF-8, parsed and
/// planned against `kinds`. Returns the text and the plan.
pub fn workflow_definition<K: KindLookup + ?Sized>(
    bytes: &[u8],
    kinds: &K,
) -> Result<(String, Plan), ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ApiError::BadRequest(format!("the workflow definition is not UTF-8 text: {e}"))
    })?;
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "the body is empty: send a workflow definition (YAML or JSON)".into(),
        ));
    }
    let spec = parse_workflow(text, "request body").map_err(|e| problems::file_error(&e))?;
    let plan = plan(spec, kinds).map_err(|e| problems::plan_errors(&e))?;
    Ok((text.to_owned(), plan))
}
