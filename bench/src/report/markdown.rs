//! The Markdown report: the environment in one paragraph, then a table ready for a README
//! (one row per variant; the subject in bold; a failed scenario as one **FAILED** row).

use super::format;
use super::{Outcome, Report};

/// `report` as Markdown.
pub fn render(report: &Report) -> String {
    let e = &report.environment;
    let mut out = String::new();
    out.push_str(&format!(
        "Taken {} on {} ({} cores, {} tokio workers{}{}), {} build{}; {} sizes, {}.\n\n",
        e.timestamp,
        e.cpu.as_deref().unwrap_or("an unknown CPU"),
        e.cores,
        e.tokio_workers,
        e.memory_bytes
            .map(|b| format!(", {:.0} GiB", b as f64 / (1u64 << 30) as f64))
            .unwrap_or_default(),
        e.load_average
            .map(|l| format!(", load average {l:.2} at the start"))
            .unwrap_or_default(),
        e.profile,
        e.git_revision
            .as_deref()
            .map(|r| format!(" of `{r}`"))
            .unwrap_or_default(),
        report.settings.size,
        match (report.settings.duration_seconds, report.settings.iterations) {
            (_, Some(n)) => format!("{n} operations per variant"),
            (Some(d), None) => format!("about {d} s per scenario"),
            (None, None) => "default lengths".into(),
        }
    ));
    out.push_str("| scenario | variant | p50 | p90 | p99 | max | throughput | ratio |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for s in &report.scenarios {
        let m = match &s.outcome {
            Outcome::Failed { reason } => {
                out.push_str(&format!(
                    "| {} | **FAILED** | {} | | | | | |\n",
                    s.id(),
                    escape(reason)
                ));
                continue;
            }
            Outcome::Measured(m) => m,
        };
        for (k, v) in m.variants().enumerate() {
            let scenario = match k {
                0 => format!("{} <br>(per sample: {})", s.id(), format::per_op(&s.unit)),
                _ => String::new(),
            };
            let name = match k {
                0 => format!("**{}**", escape(&v.name)),
                _ => escape(&v.name),
            };
            let u = &s.unit;
            out.push_str(&format!(
                "| {scenario} | {name} | {} | {} | {} | {} | {} | {} |\n",
                format::value(u, v.summary.p50),
                format::value(u, v.summary.p90),
                format::value(u, v.summary.p99),
                format::value(u, v.summary.max),
                format::throughput(v.summary.throughput, u),
                match k {
                    0 => String::new(),
                    _ => format!("**{}**", format::ratio(v.ratio)),
                }
            ));
        }
    }
    out.push_str(
        "\nratio = the subject (bold row) ÷ that baseline at p50, measured in the same run in \
         interleaved rounds; below 1× the subject is faster or smaller. Percentiles are \
         nearest-rank.\n",
    );
    out
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
