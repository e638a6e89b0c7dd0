//! What a pool's agents need (`agents.<pool>.resources: { cpu: "2 cores", memory: "4GB" }`)
//! and what a runtime offers ([`Capacity`], by default this machine's cores and memory).
//!
//! A run whose pools need more than the runtime's capacity, all agents counted at once (a
//! pool of `count` agents needs `count` times its `resources`), is refused before any agent
//! starts, with [`WorkflowError::InsufficientResources`](crate::workflow::WorkflowError)
//! naming the pool at which the sum (pools in name order) first exceeds the capacity.
//! Pools without `resources` need nothing. Runs spread over a cluster are not checked here
//! (their pools run on other nodes).
//!
//! Units: `cpu` is cores — a number (`2`, `0.5`), `"2 cores"`, `"1 core"`, `"1.5 cpus"` — or
//! millicores (`"500m"`); `memory` is bytes in the one size format of
//! [`parse_bytes`](crate::config::parse_bytes): a number, or a number with a unit `B`, `KB`,
//! `MB`, `GB`, `TB` (powers of 1000), `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024); `K`, `M`,
//! `G`, `T` alone are the powers of 1000 too. Case and a space before the unit do not matter.

use std::fmt;

/// What one agent of a pool needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    /// CPU in millicores (1000 = one core); 0 when not stated.
    pub cpu_millis: u64,
    /// Memory in bytes; 0 when not stated.
    pub memory_bytes: u64,
}

/// What a runtime offers to the pools of the runs it hosts, all at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// CPU in millicores.
    pub cpu_millis: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
}

impl Capacity {
    /// This machine's cores (as the process may use them) and physical memory
    /// (`/proc/meminfo`'s `MemTotal`; unlimited where that cannot be read).
    pub fn of_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
                let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kib * 1024)
            })
            .unwrap_or(u64::MAX);
        Self {
            cpu_millis: cores * 1000,
            memory_bytes: memory,
        }
    }

    /// Parses `cpu=8,memory=16GB` (either part may be left out: it keeps `base`'s value).
    pub fn parse(text: &str, base: Capacity) -> Result<Self, String> {
        let mut c = base;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!(
                    "capacity {part:?}: expected cpu=CORES or memory=SIZE (e.g. cpu=8,memory=16GB)"
                ));
            };
            match key.trim() {
                "cpu" => c.cpu_millis = parse_cpu(value.trim())?,
                "memory" => c.memory_bytes = parse_memory(value.trim())?,
                other => {
                    return Err(format!(
                        "capacity: unknown resource {other:?}, expected cpu or memory"
                    ))
                }
            }
        }
        Ok(c)
    }
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}", Cpu(self.cpu_millis), Memory(self.memory_bytes))
    }
}

impl fmt::Display for Resources {
    /// The stated parts (`2 cores of cpu, 4GB of memory`; `nothing` when none is stated).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.cpu_millis, self.memory_bytes) {
            (0, 0) => f.write_str("nothing"),
            (c, 0) => write!(f, "{}", Cpu(c)),
            (0, m) => write!(f, "{}", Memory(m)),
            (c, m) => write!(f, "{}, {}", Cpu(c), Memory(m)),
        }
    }
}

/// Millicores shown as cores (`2 cores`, `0.5 cores`).
pub(crate) struct Cpu(pub(crate) u64);

impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cores = self.0 as f64 / 1000.0;
        let unit = if self.0 == 1000 { "core" } else { "cores" };
        write!(f, "{cores} {unit} of cpu")
    }
}

/// Bytes shown in the largest decimal unit that keeps a whole or one-decimal number.
pub(crate) struct Memory(pub(crate) u64);

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == u64::MAX {
            return f.write_str("unlimited memory");
        }
        let units = [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)];
        for (unit, size) in units {
            if self.0 as f64 >= size {
                let v = (self.0 as f64 / size * 10.0).round() / 10.0;
                return write!(f, "{v}{unit} of memory");
            }
        }
        write!(f, "{}B of memory", self.0)
    }
}

/// A number and the rest of the text after it (`"2 cores"` -> `(2.0, "cores")`).
fn number_and_unit(text: &str) -> Option<(f64, String)> {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let value: f64 = text[..end].parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    Some((value, text[end..].trim().to_ascii_lowercase()))
}

/// Parses a CPU amount into millicores (see the module docs for the units).
pub fn parse_cpu(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("cpu {text:?}: expected cores such as 2, 0.5, \"2 cores\", \"1 core\" or millicores such as \"500m\"")
    };
    let (value, unit) = number_and_unit(text).ok_or_else(bad)?;
    let millis = match unit.as_str() {
        "" | "core" | "cores" | "cpu" | "cpus" | "vcpu" | "vcpus" => value * 1000.0,
        "m" => value,
        _ => return Err(bad()),
    };
    Ok(millis.round() as u64)
}

/// Parses a memory size into bytes with [`parse_bytes`](crate::config::parse_bytes) (see the
/// module docs for the units).
pub fn parse_memory(text: &str) -> Result<u64, String> {
    crate::config::parse_bytes(text).map_err(|_| {
        format!("memory {text:?}: expected a size such as \"4GB\", \"512MB\", \"2GiB\" or a number of bytes")
    })
}

/// The pool at which the pools' summed needs first exceed `capacity` (pools in name order),
/// with what the run needs up to and including it; `None` when everything fits.
pub(crate) fn first_overflow<'a>(
    pools: impl IntoIterator<Item = (&'a String, &'a super::spec::PoolSpec)>,
    capacity: Capacity,
) -> Option<(String, Resources, Resources)> {
    let mut total = Resources::default();
    for (name, pool) in pools {
        let Some(r) = pool.resources else { continue };
        let n = pool.count as u64;
        let need = Resources {
            cpu_millis: r.cpu_millis.saturating_mul(n),
            memory_bytes: r.memory_bytes.saturating_mul(n),
        };
        total.cpu_millis = total.cpu_millis.saturating_add(need.cpu_millis);
        total.memory_bytes = total.memory_bytes.saturating_add(need.memory_bytes);
        if total.cpu_millis > capacity.cpu_millis || total.memory_bytes > capacity.memory_bytes {
            return Some((name.clone(), need, total));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_memory_units() {
        assert_eq!(parse_cpu("2 cores"), Ok(2000));
        assert_eq!(parse_cpu("1 core"), Ok(1000));
        assert_eq!(parse_cpu("500m"), Ok(500));
        assert_eq!(parse_cpu("0.5"), Ok(500));
        assert!(parse_cpu("two cores").is_err());
        assert!(parse_cpu("2 parsecs")
            .unwrap_err()
            .contains("\"2 parsecs\""));
        assert_eq!(parse_memory("4GB"), Ok(4_000_000_000));
        assert_eq!(parse_memory("2 GiB"), Ok(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_memory("512mb"), Ok(512_000_000));
        assert_eq!(parse_memory("100"), Ok(100));
        assert!(parse_memory("4 GB of ram").is_err());
        assert!(parse_memory("-1GB").is_err());
    }

    #[test]
    fn capacity_parses_and_keeps_what_is_not_given() {
        let base = Capacity {
            cpu_millis: 2000,
            memory_bytes: 1000,
        };
        let c = Capacity::parse("cpu=8", base).unwrap();
        assert_eq!((c.cpu_millis, c.memory_bytes), (8000, 1000));
        let c = Capacity::parse("cpu=1, memory=16GB", base).unwrap();
        assert_eq!((c.cpu_millis, c.memory_bytes), (1000, 16_000_000_000));
        assert!(Capacity::parse("disk=1", base).is_err());
        assert!(Capacity::parse("cpu", base).is_err());
        assert!(Capacity::of_this_machine().cpu_millis >= 1000);
    }
}
