//! The environment a run reports: machine, build, revision and time.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Where and when a run happened.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    /// When the run started, UTC, RFC 3339.
    pub timestamp: String,
    /// Logical cores available to the process.
    pub cores: usize,
    /// Worker threads of the tokio runtime the scenarios ran on.
    pub tokio_workers: usize,
    /// CPU model (from `/proc/cpuinfo`), when known.
    pub cpu: Option<String>,
    /// Total memory in bytes (from `/proc/meminfo`), when known.
    pub memory_bytes: Option<u64>,
    /// Operating system and kernel release.
    pub os: String,
    /// 1-minute load average when the run started (Linux), a hint of other load.
    pub load_average: Option<f64>,
    /// `troupe`'s version.
    pub troupe_version: String,
    /// `release` or `debug` (debug builds are not representative).
    pub profile: String,
    /// `rustc --version` of the compiler on PATH, when there is one.
    pub rustc: Option<String>,
    /// `git describe --always --dirty` of the working directory, when it is a repository.
    pub git_revision: Option<String>,
}

impl Environment {
    /// Collects the environment now; `tokio_workers` is the runtime's worker count.
    pub fn collect(tokio_workers: usize) -> Self {
        let proc_file = |path: &str| std::fs::read_to_string(path).ok();
        let cpu = proc_file("/proc/cpuinfo").and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        });
        let memory_bytes = proc_file("/proc/meminfo")
            .and_then(|s| meminfo_kb(&s, "MemTotal:"))
            .map(|kb| kb * 1024);
        let kernel = proc_file("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string());
        let os = match kernel {
            Some(k) => format!("{} {k}", std::env::consts::OS),
            None => std::env::consts::OS.to_string(),
        };
        let load_average = proc_file("/proc/loadavg")
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()));
        Self {
            timestamp: rfc3339(SystemTime::now()),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            tokio_workers,
            cpu,
            memory_bytes,
            os,
            load_average,
            troupe_version: env!("CARGO_PKG_VERSION").to_string(),
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .to_string(),
            rustc: command_line("rustc", &["--version"]),
            git_revision: command_line("git", &["describe", "--always", "--dirty"]),
        }
    }
}

/// A `/proc/meminfo` field in kB.
pub(crate) fn meminfo_kb(meminfo: &str, field: &str) -> Option<u64> {
    meminfo
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!line.is_empty()).then_some(line)
}

/// `time` as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_723); // 2000-02-29 01:02:03
        assert_eq!(rfc3339(t), "2000-02-29T01:02:03Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_798_761_599); // 2026-12-31 23:59:59
        assert_eq!(rfc3339(t), "2026-12-31T23:59:59Z");
    }

    #[test]
    fn meminfo_fields_are_read_in_kb() {
        let info = "MemTotal:       24576000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(meminfo_kb(info, "MemTotal:"), Some(24_576_000));
        assert_eq!(meminfo_kb(info, "MemAvailable:"), Some(20_000_000));
        assert_eq!(meminfo_kb(info, "SwapTotal:"), None);
    }
}
