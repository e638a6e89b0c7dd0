//! A workflow definition's problems as the API reports them: every one with its line and
//! column (0 when not known, e.g. a dependency cycle spans several tasks).

use serde_json::{json, Value};
use troupe_runtime::workflow::{FileError, PlanError, PlanErrors, SourcePos};

use crate::error::ApiError;

/// Where a plan error is defined.
fn pos(e: &PlanError) -> Option<SourcePos> {
    match e {
        PlanError::DuplicateTask { again: pos, .. }
        | PlanError::UnknownDependency { pos, .. }
        | PlanError::SelfDependency { pos, .. }
        | PlanError::UnknownAgent { pos, .. }
        | PlanError::UnknownKind { pos, .. }
        | PlanError::EmptyPool { pos, .. }
        | PlanError::InputWithDependencies { pos, .. }
        | PlanError::BadConfig { pos, .. }
        | PlanError::ReservedPool { pos }
        | PlanError::UnknownPattern { pos, .. }
        | PlanError::BadRetry { pos, .. }
        | PlanError::BadWait { pos, .. }
        | PlanError::UnknownCompensationAgent { pos, .. } => Some(*pos),
        _ => None,
    }
}

fn problem(message: String, at: Option<SourcePos>) -> Value {
    let at = at.unwrap_or_default();
    json!({"message": message, "line": at.line, "column": at.column})
}

/// A definition that does not parse: 422 with its one problem.
pub(crate) fn file_error(e: &FileError) -> ApiError {
    let at = SourcePos {
        line: e.line(),
        column: e.column(),
    };
    ApiError::Invalid {
        message: format!("the workflow definition does not parse: {}", e.message()),
        details: json!({"problems": [problem(e.message().into_owned(), Some(at))]}),
    }
}

/// A definition that does not plan: 400 when the orchestration pattern is unknown (and that
/// is its only problem), else 422 with every problem.
pub(crate) fn plan_errors(errors: &PlanErrors) -> ApiError {
    if let [PlanError::UnknownPattern {
        pattern,
        known,
        pos,
    }] = errors.0.as_slice()
    {
        return ApiError::UnsupportedPattern {
            message: format!(
                "unsupported orchestration pattern {pattern:?} (known: {})",
                known.join(", ")
            ),
            details: json!({"pattern": pattern, "known": known, "line": pos.line, "column": pos.column}),
        };
    }
    let problems: Vec<Value> = errors
        .0
        .iter()
        .map(|e| problem(e.to_string(), pos(e)))
        .collect();
    ApiError::Invalid {
        message: format!(
            "the workflow definition is not valid: {} problem(s)",
            problems.len()
        ),
        details: json!({ "problems": problems }),
    }
}
