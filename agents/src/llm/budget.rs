//! Token-budget admission: per endpoint and model, requests and tokens per minute, shared by
//! every `llm.chat` agent of one kind registry (one runtime). Calls wait in a fair FIFO queue
//! (a tokio mutex hands its lock over in arrival order) instead of causing 429 storms.
//!
//! The window slides: a call is admitted when the calls admitted in the last 60 s, plus it, stay
//! within `requests_per_minute`, and their tokens plus its estimate within `tokens_per_minute`.
//! The clock is tokio's, so tests with paused time see the window roll without waiting.
//!
//! **In a cluster** each node admits its share of a budget: `budget ÷ live members` (rounded
//! down, at least 1), so the nodes together stay within it. [`Budgets::split_across`] sets the
//! number of live members; [`BudgetSplit`](super::BudgetSplit) recomputes it from membership
//! events (a node joining or leaving changes every node's share at once).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::config::BudgetConfig;

/// `(base_url, model)`.
type Endpoint = (String, String);

const WINDOW: Duration = Duration::from_secs(60);

/// The budgets of one registry, by endpoint and model. Made by
/// [`register_all`](crate::register_all) (one per registry) and shared by its `llm.chat` agents.
///
/// It also holds the one HTTP client the registry's `llm.chat` agents share (made on first
/// use), so that 1,000 agents have one connection pool and one TLS setup, not 1,000.
#[derive(Clone)]
pub struct Budgets {
    limiters: Arc<Mutex<HashMap<Endpoint, Arc<Limiter>>>>,
    /// The live members the budgets are split across (1: not clustered).
    nodes: Arc<AtomicUsize>,
    client: Arc<std::sync::OnceLock<reqwest::Client>>,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            limiters: Arc::default(),
            nodes: Arc::new(AtomicUsize::new(1)),
            client: Arc::default(),
        }
    }
}

/// One node's share of a per-minute `limit` split across `nodes` live members: rounded down
/// (the nodes together never exceed it), at least 1 (a node can always make progress).
pub fn share(limit: u64, nodes: usize) -> u64 {
    (limit / nodes.max(1) as u64).max(1)
}

impl std::fmt::Debug for Budgets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budgets").finish_non_exhaustive()
    }
}

impl Budgets {
    /// No budgets yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The limiter of `base_url` + `model` (the first agent's config sets its limits).
    pub(crate) fn limiter(
        &self,
        base_url: &str,
        model: &str,
        config: BudgetConfig,
    ) -> Arc<Limiter> {
        let mut map = self.limiters.lock().expect("budgets lock");
        map.entry((base_url.to_string(), model.to_string()))
            .or_insert_with(|| Arc::new(Limiter::new(config, self.nodes.clone())))
            .clone()
    }

    /// The shared HTTP client of the registry's `llm.chat` agents.
    pub(crate) fn client(&self) -> Result<reqwest::Client, String> {
        if let Some(c) = self.client.get() {
            return Ok(c.clone());
        }
        let made = super::client::http_client()?;
        Ok(self.client.get_or_init(|| made).clone())
    }

    /// Splits every budget across `live` cluster members (this node included; 0 counts as 1):
    /// from now on this node admits [`share`]`(limit, live)` per minute.
    pub fn split_across(&self, live: usize) {
        self.nodes.store(live.max(1), Ordering::Relaxed);
    }

    /// The members the budgets are split across now.
    pub fn split(&self) -> usize {
        self.nodes.load(Ordering::Relaxed)
    }

    /// Requests and tokens admitted in the current window for `base_url` + `model`.
    pub fn in_window(&self, base_url: &str, model: &str) -> Option<(u32, u64)> {
        let map = self.limiters.lock().expect("budgets lock");
        let limiter = map.get(&(base_url.to_string(), model.to_string()))?;
        let mut w = limiter.window.lock().expect("window lock");
        w.expire(Instant::now());
        Some((w.entries.len() as u32, w.tokens()))
    }
}

/// One endpoint and model's budget.
pub(crate) struct Limiter {
    config: BudgetConfig,
    nodes: Arc<AtomicUsize>,
    /// Held by the call being admitted; waiters queue on it in arrival order.
    queue: tokio::sync::Mutex<()>,
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    /// Admitted calls: when, and their token count.
    entries: VecDeque<(Instant, u64, u64)>,
    next_id: u64,
}

impl Window {
    fn expire(&mut self, now: Instant) {
        while self
            .entries
            .front()
            .is_some_and(|(t, _, _)| now.duration_since(*t) >= WINDOW)
        {
            self.entries.pop_front();
        }
    }

    fn tokens(&self) -> u64 {
        self.entries.iter().map(|(_, _, n)| n).sum()
    }
}

/// An admitted call, to settle with its real usage.
pub(crate) struct Ticket {
    id: u64,
}

impl Limiter {
    fn new(config: BudgetConfig, nodes: Arc<AtomicUsize>) -> Self {
        Self {
            config,
            nodes,
            queue: tokio::sync::Mutex::new(()),
            window: Mutex::new(Window::default()),
        }
    }

    /// Waits until a call of `estimate` tokens fits, in arrival order. A call larger than the
    /// whole token budget is admitted alone in an empty window (it could never fit otherwise).
    pub(crate) async fn admit(&self, estimate: u64) -> Ticket {
        let _turn = self.queue.lock().await;
        loop {
            let wake = match self.try_admit(estimate) {
                Ok(ticket) => return ticket,
                Err(wake) => wake,
            };
            tokio::time::sleep_until(wake).await;
        }
    }

    /// Admits the call now, or says when the window next changes.
    pub(crate) fn try_admit(&self, estimate: u64) -> Result<Ticket, Instant> {
        let mut w = self.window.lock().expect("window lock");
        let now = Instant::now();
        w.expire(now);
        let nodes = self.nodes.load(Ordering::Relaxed);
        let rpm_ok = self
            .config
            .requests_per_minute
            .is_none_or(|r| (w.entries.len() as u64) < share(u64::from(r), nodes));
        let tpm_ok = self
            .config
            .tokens_per_minute
            .is_none_or(|t| w.entries.is_empty() || w.tokens() + estimate <= share(t, nodes));
        if rpm_ok && tpm_ok {
            w.next_id += 1;
            let id = w.next_id;
            w.entries.push_back((now, id, estimate));
            return Ok(Ticket { id });
        }
        Err(w.entries.front().map(|(t, _, _)| *t).unwrap_or(now) + WINDOW)
    }

    /// Replaces a ticket's estimate with the tokens the endpoint reported.
    pub(crate) fn settle(&self, ticket: Ticket, used: u64) {
        let mut w = self.window.lock().expect("window lock");
        if let Some(e) = w.entries.iter_mut().find(|(_, id, _)| *id == ticket.id) {
            e.2 = used;
        }
    }
}
