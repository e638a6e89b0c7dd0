//! The terminal table: per scenario, the subject's row then one row per baseline, with p50,
//! p90, p99, max, throughput and subject ÷ baseline; a failed scenario gets one FAILED row with
//! its reason.

use super::format;
use super::{Outcome, Report, ScenarioReport};

const HEADER: [&str; 8] = [
    "SCENARIO",
    "VARIANT",
    "p50",
    "p90",
    "p99",
    "max",
    "THROUGHPUT",
    "RATIO",
];

/// The table of `report`, with a legend and a one-line verdict.
pub fn render(report: &Report) -> String {
    let mut rows: Vec<Row> = Vec::new();
    for s in &report.scenarios {
        rows.extend(scenario_rows(s));
    }
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in &rows {
        if let Row::Cells(cells) = row {
            for (w, c) in widths.iter_mut().zip(cells) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    out.push_str(&line(&HEADER.map(String::from), &widths));
    let mut last_suite = None;
    for (row, suite) in rows.iter().zip(row_suites(report)) {
        if last_suite.is_some() && last_suite != Some(suite) {
            out.push('\n');
        }
        last_suite = Some(suite);
        match row {
            Row::Cells(cells) => out.push_str(&line(cells, &widths)),
            Row::Failed { id, reason } => {
                let pad = widths[0].saturating_sub(id.chars().count());
                out.push_str(&format!("{id}{}  FAILED  {reason}\n", " ".repeat(pad)));
            }
        }
    }
    let budgets: Vec<_> = report
        .scenarios
        .iter()
        .filter_map(|s| s.budget.as_ref().map(|b| (s.id(), b)))
        .collect();
    if !budgets.is_empty() {
        out.push_str("\nBUDGETS (checked in this run):\n");
        for (id, b) in budgets {
            out.push_str(&format!(
                "  {}  {id}: {} (budget {})\n",
                b.verdict(),
                b.measured,
                b.rule
            ));
        }
    }
    let failed = report.failed().count();
    out.push_str(&format!(
        "\nRATIO: the scenario's subject (its first row) ÷ that baseline, at p50 — below 1× the \
         subject is faster or smaller.\nAll variants of a scenario ran in the same run, in \
         interleaved rounds; percentiles are nearest-rank.\n{} scenarios in {:.1} s, {} failed.\n",
        report.scenarios.len(),
        report.wall_seconds,
        failed
    ));
    out
}

enum Row {
    Cells([String; 8]),
    Failed { id: String, reason: String },
}

fn row_suites(report: &Report) -> Vec<&str> {
    let mut suites = Vec::new();
    for s in &report.scenarios {
        let rows = match &s.outcome {
            Outcome::Measured(m) => 1 + m.baselines.len(),
            Outcome::Failed { .. } => 1,
        };
        suites.extend(std::iter::repeat_n(s.suite.as_str(), rows));
    }
    suites
}

fn scenario_rows(s: &ScenarioReport) -> Vec<Row> {
    let m = match &s.outcome {
        Outcome::Failed { reason } => {
            return vec![Row::Failed {
                id: s.id(),
                reason: reason.clone(),
            }]
        }
        Outcome::Measured(m) => m,
    };
    let mut rows = Vec::new();
    for (k, v) in m.variants().enumerate() {
        let first = match k {
            0 => s.id(),
            1 => format!("  per sample: {}", format::per_op(&s.unit)),
            _ => String::new(),
        };
        let u = &s.unit;
        rows.push(Row::Cells([
            first,
            v.name.clone(),
            format::value(u, v.summary.p50),
            format::value(u, v.summary.p90),
            format::value(u, v.summary.p99),
            format::value(u, v.summary.max),
            format::throughput(v.summary.throughput, u),
            if k == 0 {
                String::new()
            } else {
                format::ratio(v.ratio)
            },
        ]));
    }
    rows
}

fn line(cells: &[String; 8], widths: &[usize; 8]) -> String {
    let mut out = String::new();
    for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
        let pad = w.saturating_sub(c.chars().count());
        if i < 2 {
            out.push_str(c);
            out.push_str(&" ".repeat(pad));
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(c);
        }
        if i + 1 < cells.len() {
            out.push_str("  ");
        }
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}
