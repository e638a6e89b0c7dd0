//! The supervision policy as a pure state machine: child exits in, directives out. The
//! [`super::Supervisor`] actor carries the directives out. No tokio in here.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::table::ChildTable;
pub use crate::policy::Backoff;

/// Which children restart when one fails (as in OTP). In configs: `one_for_one`,
/// `one_for_all`, `rest_for_one`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Only the failed child restarts.
    #[default]
    OneForOne,
    /// Every child is stopped and all restart.
    OneForAll,
    /// The failed child and the children started after it restart.
    RestForOne,
}

/// When a child restarts after it exits (as in OTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Always restarted.
    #[default]
    Permanent,
    /// Restarted only after a failure, not after a normal exit.
    Transient,
    /// Never restarted; removed when it exits.
    Temporary,
}

/// Restart intensity: more than `max_restarts` within `within` and the supervisor gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    /// Restarts allowed in the window.
    pub max_restarts: u32,
    /// The sliding window.
    pub within: Duration,
}

/// A supervisor's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisorConfig {
    /// A name for messages and events.
    pub name: String,
    /// Which children restart together.
    pub strategy: Strategy,
    /// When to give up.
    pub intensity: Intensity,
    /// How long to wait before restarting.
    pub backoff: Backoff,
}

impl SupervisorConfig {
    /// One-for-one, at most 3 restarts in 5 s (OTP's default), 10 ms backoff doubling to 1 s.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            strategy: Strategy::OneForOne,
            intensity: Intensity {
                max_restarts: 3,
                within: Duration::from_secs(5),
            },
            backoff: Backoff {
                initial: Duration::from_millis(10),
                max: Duration::from_secs(1),
                multiplier: 2.0,
            },
        }
    }

    /// Sets the strategy.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Sets the intensity.
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.intensity = Intensity {
            max_restarts,
            within,
        };
        self
    }

    /// Sets the backoff.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }
}

/// How a child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It stopped on its own, normally.
    Normal,
    /// It crashed (panic, error, failed start), with the reason.
    Failed(String),
}

/// What the supervisor actor must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Directive {
    /// Stop these running children, in this order (reverse start order).
    Stop(Vec<String>),
    /// Start these children, in this order, after the wait.
    Start {
        /// Children to start.
        ids: Vec<String>,
        /// Backoff before starting.
        after: Duration,
    },
    /// Forget this child: it will not run again.
    Remove(String),
    /// Give up: stop every child and fail to the parent with this reason.
    Escalate(String),
}

/// What `directives` do about child `id`, in words for a crash report.
pub(crate) fn describe_action(id: &str, directives: &[Directive]) -> String {
    for d in directives {
        match d {
            Directive::Escalate(reason) => return format!("the supervisor gave up: {reason}"),
            Directive::Start { ids, after } if ids.iter().any(|i| i == id) => {
                return match after.is_zero() {
                    true => "restarted by its supervisor".into(),
                    false => format!("restarting in {after:?}"),
                };
            }
            _ => {}
        }
    }
    if directives
        .iter()
        .any(|d| matches!(d, Directive::Remove(r) if r == id))
    {
        return "not restarted (its restart type says so)".into();
    }
    "not restarted".into()
}

#[derive(Debug, Clone)]
struct Child {
    restart: Restart,
    running: bool,
}

/// The decision core of a supervisor.
#[derive(Debug, Clone)]
pub struct SupervisorCore {
    config: SupervisorConfig,
    children: ChildTable<Child>,
    restarts: VecDeque<Instant>,
    gave_up: bool,
}

impl SupervisorCore {
    /// A core with no children.
    pub fn new(config: SupervisorConfig) -> Self {
        Self {
            config,
            children: ChildTable::default(),
            restarts: VecDeque::new(),
            gave_up: false,
        }
    }

    /// The settings.
    pub fn config(&self) -> &SupervisorConfig {
        &self.config
    }

    /// Adds a child at the end of the start order (not yet running).
    pub fn add(&mut self, id: &str, restart: Restart) {
        let child = Child {
            restart,
            running: false,
        };
        self.children.push(id, child);
    }

    /// Forgets a child.
    pub fn remove(&mut self, id: &str) {
        self.children.remove(id);
    }

    /// Records that a child is running.
    pub fn started(&mut self, id: &str) {
        if let Some(c) = self.children.get_mut(id) {
            c.running = true;
        }
    }

    /// Marks a child as deliberately stopped, so its exit is not treated as a failure.
    pub fn stopping(&mut self, id: &str) {
        if let Some(c) = self.children.get_mut(id) {
            c.running = false;
        }
    }

    /// Child ids in start order.
    pub fn children(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.children.iter().map(|(id, _)| id)
    }

    /// Whether the supervisor has given up.
    pub fn gave_up(&self) -> bool {
        self.gave_up
    }

    /// A child exited (or failed to start) at `now`: what to do.
    pub fn on_exit(&mut self, id: &str, exit: Exit, now: Instant) -> Vec<Directive> {
        let Some(child) = self.children.get_mut(id) else {
            return Vec::new();
        };
        if self.gave_up || !child.running {
            // Already given up, or an exit we asked for: nothing to decide.
            return Vec::new();
        }
        child.running = false;
        let restart = match (child.restart, &exit) {
            (Restart::Permanent, _) => true,
            (Restart::Transient, Exit::Failed(_)) => true,
            (Restart::Transient, Exit::Normal) | (Restart::Temporary, _) => false,
        };
        if !restart {
            self.children.remove(id);
            return vec![Directive::Remove(id.to_string())];
        }

        // Intensity: the restarts inside the sliding window, this one included.
        let window = self.config.intensity.within;
        while let Some(&t) = self.restarts.front() {
            if now.saturating_duration_since(t) > window {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        self.restarts.push_back(now);
        let count = self.restarts.len() as u32;
        if count > self.config.intensity.max_restarts {
            self.gave_up = true;
            let running: Vec<String> = self
                .children
                .iter()
                .rev()
                .filter(|(_, c)| c.running)
                .map(|(id, _)| id.to_string())
                .collect();
            for (_, c) in self.children.iter_mut() {
                c.running = false;
            }
            let why = match exit {
                Exit::Failed(r) => r,
                Exit::Normal => "exited".into(),
            };
            let mut out = Vec::new();
            if !running.is_empty() {
                out.push(Directive::Stop(running));
            }
            out.push(Directive::Escalate(format!(
                "supervisor {}: child {id} failed ({why}); more than {} restarts within {:?}",
                self.config.name, self.config.intensity.max_restarts, window
            )));
            return out;
        }
        let after = self.config.backoff.delay(count);

        // Which siblings go down with it, in start order.
        let affected: Vec<(String, Restart, bool)> = match self.config.strategy {
            Strategy::OneForOne => vec![(id.to_string(), Restart::Permanent, false)],
            Strategy::OneForAll => self
                .children
                .iter()
                .map(|(k, c)| (k.to_string(), c.restart, c.running))
                .collect(),
            Strategy::RestForOne => self
                .children
                .from(id)
                .map(|(k, c)| (k.to_string(), c.restart, c.running))
                .collect(),
        };
        let to_stop: Vec<String> = affected
            .iter()
            .rev()
            .filter(|(k, _, running)| k != id && *running)
            .map(|(k, _, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        if !to_stop.is_empty() {
            out.push(Directive::Stop(to_stop));
        }
        let mut to_start = Vec::new();
        for (k, restart, _) in affected {
            if k != id && restart == Restart::Temporary {
                // OTP: a temporary sibling taken down with the group is not restarted.
                self.children.remove(&k);
                out.push(Directive::Remove(k));
                continue;
            }
            if let Some(c) = self.children.get_mut(&k) {
                c.running = false;
            }
            to_start.push(k);
        }
        out.push(Directive::Start {
            ids: to_start,
            after,
        });
        out
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
