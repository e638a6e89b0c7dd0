//! The machine-readable report: the whole [`Report`] as pretty-printed JSON.
//!
//! Shape: `{"environment": {...}, "settings": {...}, "wall_seconds": f64, "scenarios": [...]}`;
//! a scenario is `{"suite", "name", "description", "unit", "scale", "notes", "status": "ok",
//! "rounds", "ops_per_variant", "subject": {"name", "summary"}, "baselines": [{"name",
//! "summary", "ratio", "ratio_p99"}], "baseline", "ratio", "ratio_p99"}` or `{..., "status":
//! "failed", "reason"}`. Summaries hold `n`, `kept`, `min`, `p25`, `p50`, `p75`, `p90`, `p95`, `p99`,
//! `max`, `mean` (nanoseconds, or bytes for `unit.kind == "bytes"`) and `throughput`
//! (elements per second).

use super::Report;

/// `report` as pretty JSON.
pub fn render(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
