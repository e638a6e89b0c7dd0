//! `troupe serve`'s admission flags: how many executions (and tasks of them) the node takes
//! at once, and per tenant; beyond them the API answers 429 or 503 with `Retry-After`.

use std::time::Duration;

use troupe_service::AdmissionLimits;

/// Admission limits of `troupe serve` (none by default).
#[derive(clap::Args, Debug, Clone)]
pub struct AdmissionArgs {
    /// Executions this node drives at once; more are refused with 503 and Retry-After.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_runs: Option<u64>,
    /// Executions one tenant has running on this node at once; more are refused with 429.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_runs_per_tenant: Option<u64>,
    /// Tasks of the running executions, summed; a run that would pass it is refused with 503.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_queued_tasks: Option<u64>,
    /// What Retry-After says on a refusal, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    retry_after: u64,
}

impl AdmissionArgs {
    /// The limits these flags give.
    pub fn limits(&self) -> AdmissionLimits {
        let n = |v: Option<u64>| v.map(|v| usize::try_from(v).unwrap_or(usize::MAX));
        AdmissionLimits {
            max_runs: n(self.max_runs),
            max_runs_per_tenant: n(self.max_runs_per_tenant),
            max_queued_tasks: n(self.max_queued_tasks),
            retry_after: Duration::from_secs(self.retry_after),
        }
    }
}
