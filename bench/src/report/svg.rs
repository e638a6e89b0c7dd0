//! Hand-written SVG plots, no plotting dependency:
//!
//! - `distribution-<suite>.svg`: per scenario, one row per variant on a log axis — whisker from
//!   min to max, box from p25 to p75, a bar at p50, dots at p90 and p99 — the subject in orange,
//!   baselines in blue and grey, with p50 and the ratio written beside each row.
//! - `scaling-<series>.svg`: a curve per variant over the scenarios of one scaling series
//!   (memory per agent vs agents; tree time vs leaves), log x, log y when the values span
//!   more than 50×.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::format;
use super::{Outcome, Report, ScenarioReport};
use crate::scenario::Unit;

const SUBJECT: &str = "#d9480f";
const BASELINES: [&str; 4] = ["#1c7ed6", "#5c7cfa", "#868e96", "#2f9e44"];
const FONT: &str = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";

/// Writes every plot of `report` into `dir` (created if needed); the files written.
pub fn write_all(report: &Report, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut by_suite: BTreeMap<(String, bool), Vec<&ScenarioReport>> = BTreeMap::new();
    for s in &report.scenarios {
        if s.outcome.measured().is_some() {
            let bytes = matches!(s.unit, Unit::Bytes);
            by_suite
                .entry((s.suite.clone(), bytes))
                .or_default()
                .push(s);
        }
    }
    for ((suite, bytes), scenarios) in &by_suite {
        let name = match bytes {
            false => format!("distribution-{}.svg", slug(suite)),
            true => format!("distribution-{}-bytes.svg", slug(suite)),
        };
        let path = dir.join(name);
        std::fs::write(&path, distribution(suite, scenarios))?;
        written.push(path);
    }
    let mut series: BTreeMap<String, Vec<&ScenarioReport>> = BTreeMap::new();
    for s in &report.scenarios {
        if let (Some(scale), Some(_)) = (&s.scale, s.outcome.measured()) {
            series.entry(scale.series.clone()).or_default().push(s);
        }
    }
    for (name, scenarios) in &series {
        let path = dir.join(format!("scaling-{}.svg", slug(name)));
        std::fs::write(&path, scaling(name, scenarios))?;
        written.push(path);
    }
    Ok(written)
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A log10 axis from `lo` to `hi` onto `[x0, x1]`, widened to whole decades.
struct LogAxis {
    lo: f64,
    hi: f64,
    x0: f64,
    x1: f64,
}

impl LogAxis {
    fn new(min: f64, max: f64, x0: f64, x1: f64) -> Self {
        let lo = 10f64.powf(min.max(1e-9).log10().floor());
        let mut hi = 10f64.powf(max.max(min * 1.0001).log10().ceil());
        if hi <= lo {
            hi = lo * 10.0;
        }
        Self { lo, hi, x0, x1 }
    }
    fn at(&self, v: f64) -> f64 {
        let v = v.clamp(self.lo, self.hi);
        self.x0
            + (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
                * (self.x1 - self.x0)
    }
    fn decades(&self) -> Vec<f64> {
        let mut ticks = Vec::new();
        let mut t = self.lo;
        while t <= self.hi * 1.0001 {
            ticks.push(t);
            t *= 10.0;
        }
        ticks
    }
}

/// A tick label: `1 µs`, `10 ms`, `1 kB`, `100k`.
fn tick(unit: Option<&Unit>, v: f64) -> String {
    let s = match unit {
        Some(Unit::Time { .. }) => format::nanos(v),
        Some(Unit::Bytes) => format::bytes(v),
        None if v >= 1e6 => format!("{}M", v / 1e6),
        None if v >= 1e3 => format!("{}k", v / 1e3),
        None => format!("{v}"),
    };
    s.replace(".00 ", " ").replace(".0 ", " ")
}

fn distribution(suite: &str, scenarios: &[&ScenarioReport]) -> String {
    let unit = scenarios[0].unit;
    let (left, plot_w, right) = (330.0, 560.0, 210.0);
    let width = left + plot_w + right;
    let (row_h, head_h, top) = (18.0, 22.0, 70.0);
    let mut min = f64::MAX;
    let mut max = 0f64;
    let mut height = top;
    for s in scenarios {
        let m = s.outcome.measured().expect("measured");
        for v in m.variants() {
            min = min.min(v.summary.min.max(1) as f64);
            max = max.max(v.summary.max as f64);
            height += row_h;
        }
        height += head_h;
    }
    height += 60.0;
    let axis = LogAxis::new(min, max, left, left + plot_w);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" {FONT} font-size=\"12\">"
    );
    let _ = writeln!(svg, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let what = match unit {
        Unit::Time { .. } => "time per operation",
        Unit::Bytes => "bytes",
    };
    let _ = writeln!(
        svg,
        "<text x=\"16\" y=\"26\" font-size=\"17\" font-weight=\"bold\">troupe bench — {} ({what}, log scale)</text>",
        esc(suite)
    );
    let _ = writeln!(
        svg,
        "<text x=\"16\" y=\"46\" fill=\"#495057\">whisker min–max · box p25–p75 · bar p50 · dots p90, p99 · <tspan fill=\"{SUBJECT}\" font-weight=\"bold\">subject</tspan> vs <tspan fill=\"{}\" font-weight=\"bold\">baselines</tspan> · ratio = subject ÷ baseline at p50</text>",
        BASELINES[0]
    );
    let plot_top = top - 8.0;
    let plot_bottom = height - 50.0;
    for t in axis.decades() {
        let x = axis.at(t);
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{plot_top}\" x2=\"{x:.1}\" y2=\"{plot_bottom}\" stroke=\"#dee2e6\"/>"
        );
        let _ = writeln!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#495057\">{}</text>",
            plot_bottom + 16.0,
            esc(&tick(Some(&unit), t))
        );
    }
    let mut y = top;
    for s in scenarios {
        let m = s.outcome.measured().expect("measured");
        let _ = writeln!(
            svg,
            "<text x=\"16\" y=\"{:.1}\" font-weight=\"bold\">{} <tspan font-weight=\"normal\" fill=\"#868e96\">(per sample: {})</tspan></text>",
            y + 14.0,
            esc(&s.name),
            esc(&format::per_op(&s.unit))
        );
        y += head_h;
        for (k, v) in m.variants().enumerate() {
            let color = if k == 0 {
                SUBJECT
            } else {
                BASELINES[(k - 1) % BASELINES.len()]
            };
            let mid = y + row_h / 2.0;
            let sm = &v.summary;
            let x = |val: u64| axis.at(val.max(1) as f64);
            let _ = writeln!(
                svg,
                "<text x=\"28\" y=\"{:.1}\" fill=\"{color}\">{}</text>",
                mid + 4.0,
                esc(&v.name)
            );
            let _ = writeln!(
                svg,
                "<line x1=\"{:.1}\" y1=\"{mid:.1}\" x2=\"{:.1}\" y2=\"{mid:.1}\" stroke=\"{color}\" stroke-width=\"1\"/>",
                x(sm.min),
                x(sm.max)
            );
            let (b0, b1) = (x(sm.p25), x(sm.p75));
            let _ = writeln!(
                svg,
                "<rect x=\"{b0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\" fill-opacity=\"0.25\" stroke=\"{color}\"/>",
                y + 3.0,
                (b1 - b0).max(1.0),
                row_h - 6.0
            );
            let p50 = x(sm.p50);
            let _ = writeln!(
                svg,
                "<line x1=\"{p50:.1}\" y1=\"{:.1}\" x2=\"{p50:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-width=\"3\"/>",
                y + 1.0,
                y + row_h - 1.0
            );
            for p in [sm.p90, sm.p99] {
                let _ = writeln!(
                    svg,
                    "<circle cx=\"{:.1}\" cy=\"{mid:.1}\" r=\"2.5\" fill=\"{color}\"/>",
                    x(p)
                );
            }
            let note = match k {
                0 => format!("p50 {}", format::value(&s.unit, sm.p50)),
                _ => format!(
                    "p50 {} · ratio {}",
                    format::value(&s.unit, sm.p50),
                    format::ratio(v.ratio)
                ),
            };
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#343a40\">{}</text>",
                left + plot_w + 12.0,
                mid + 4.0,
                esc(&note)
            );
            y += row_h;
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// One curve per variant name: (x, p50) points in x order.
type Curves = Vec<(String, bool, Vec<(f64, f64)>)>;

fn curves(scenarios: &[&ScenarioReport]) -> Curves {
    let mut out: Curves = Vec::new();
    for s in scenarios {
        let (Some(scale), Outcome::Measured(m)) = (&s.scale, &s.outcome) else {
            continue;
        };
        for (k, v) in m.variants().enumerate() {
            let point = (scale.x as f64, v.summary.p50 as f64);
            match out.iter_mut().find(|(name, _, _)| *name == v.name) {
                Some((_, _, pts)) if pts.iter().any(|p| p.0 == point.0) => {}
                Some((_, _, pts)) => pts.push(point),
                None => out.push((v.name.clone(), k == 0, vec![point])),
            }
        }
    }
    for (_, _, pts) in &mut out {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

fn scaling(series: &str, scenarios: &[&ScenarioReport]) -> String {
    let unit = scenarios[0].unit;
    let x_label = scenarios[0]
        .scale
        .as_ref()
        .map_or("", |s| s.x_label.as_str());
    let curves = curves(scenarios);
    let (width, height) = (980.0, 520.0);
    let (left, right, top, bottom) = (90.0, 310.0, 60.0, 60.0);
    let (x0, x1, y0, y1) = (left, width - right, height - bottom, top);
    let pts = curves.iter().flat_map(|c| c.2.iter());
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (f64::MAX, 0f64, f64::MAX, 0f64);
    for &(x, y) in pts {
        xmin = xmin.min(x);
        xmax = xmax.max(x);
        ymin = ymin.min(y.max(1.0));
        ymax = ymax.max(y);
    }
    let xa = LogAxis::new(xmin, xmax, x0, x1);
    let log_y = ymax / ymin > 50.0;
    let ya = LogAxis::new(ymin, ymax, y0, y1);
    let y_top = nice_ceiling(ymax * 1.1);
    let y_at = |v: f64| {
        if log_y {
            ya.at(v.max(1.0))
        } else {
            y0 - v / y_top * (y0 - y1)
        }
    };
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" {FONT} font-size=\"12\">"
    );
    let _ = writeln!(svg, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        svg,
        "<text x=\"16\" y=\"28\" font-size=\"17\" font-weight=\"bold\">troupe bench — {} (p50) vs {}</text>",
        esc(series),
        esc(x_label)
    );
    for t in xa.decades() {
        let x = xa.at(t);
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{y1}\" x2=\"{x:.1}\" y2=\"{y0}\" stroke=\"#dee2e6\"/>"
        );
        let _ = writeln!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#495057\">{}</text>",
            y0 + 18.0,
            tick(None, t)
        );
    }
    let y_ticks: Vec<f64> = if log_y {
        ya.decades()
    } else {
        (0..=5).map(|i| y_top * i as f64 / 5.0).collect()
    };
    for t in y_ticks {
        let y = y_at(t);
        let _ = writeln!(
            svg,
            "<line x1=\"{x0}\" y1=\"{y:.1}\" x2=\"{x1}\" y2=\"{y:.1}\" stroke=\"#dee2e6\"/>"
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#495057\">{}</text>",
            x0 - 8.0,
            y + 4.0,
            esc(&tick(Some(&unit), t))
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#495057\">{} (log scale)</text>",
        (x0 + x1) / 2.0,
        height - 16.0,
        esc(x_label)
    );
    let mut baseline_k = 0;
    for (i, (name, subject, pts)) in curves.iter().enumerate() {
        let color = if *subject {
            SUBJECT
        } else {
            baseline_k += 1;
            BASELINES[(baseline_k - 1) % BASELINES.len()]
        };
        let path: Vec<String> = pts
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", xa.at(x), y_at(y)))
            .collect();
        let dash = if *subject {
            ""
        } else {
            " stroke-dasharray=\"6 3\""
        };
        let _ = writeln!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2.5\"{dash}/>",
            path.join(" ")
        );
        for &(x, y) in pts {
            let (px, py) = (xa.at(x), y_at(y));
            let _ = writeln!(
                svg,
                "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"4\" fill=\"{color}\"/>"
            );
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"{color}\">{}</text>",
                px + 6.0,
                if *subject { py - 7.0 } else { py + 15.0 },
                esc(&format::value(&unit, y as u64))
            );
        }
        let ly = top + 10.0 + i as f64 * 22.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{color}\" stroke-width=\"2.5\"{dash}/>",
            x1 + 80.0,
            x1 + 104.0
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{color}\">{}</text>",
            x1 + 110.0,
            ly + 4.0,
            esc(name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// 1, 2 or 5 times a power of ten, at least `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_and_labels() {
        let a = LogAxis::new(300.0, 45_000.0, 0.0, 300.0);
        assert_eq!(a.decades(), vec![100.0, 1_000.0, 10_000.0, 100_000.0]);
        assert!((a.at(1_000.0) - 100.0).abs() < 1e-9);
        assert_eq!(nice_ceiling(11_000.0), 20_000.0);
        assert_eq!(slug("memory per agent"), "memory-per-agent");
        assert_eq!(tick(Some(&Unit::per_op("op")), 1_000.0), "1 µs");
        assert_eq!(esc("a<b & c"), "a&lt;b &amp; c");
    }
}
