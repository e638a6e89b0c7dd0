//! Watching a team from inside a pattern agent's job (shared by the supervisor and hierarchical
//! patterns): several calls in flight at once, polled in the agent's own task; what a member's
//! failure means; waiting for the team supervisor to restart a crashed member; noticing that the
//! team gave up.
//!
//! A crashed member is "back" when it runs an incarnation newer than the one that failed: the
//! caller notes the member's start count before each call, and waits for a larger one (a
//! crashed actor is marked stopped a moment after its caller hears of the crash, so "is it
//! running" alone could still see the dying incarnation).
//!
//! Escalation works through the runtime: a team that exceeds its restart intensity stops and
//! fails to its pattern agent. While the agent is busy with a job it cannot take that failure,
//! so the job notices the team is gone, waits until the team actor has fully stopped (its
//! failure is then queued for the agent, ahead of any request), and answers the caller with the
//! cause ([`team_gave_up_message`]). The agent then takes the queued failure and fails to its
//! own supervisor: the same escalation as an idle agent's.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use troupe_runtime::ractor::ActorStatus;
use troupe_runtime::{AgentError, CallError, SupervisorRef};

use crate::member::TeamPolicy;

/// A boxed future, run by [`InFlight`].
pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The text that marks an answer from an agent whose team gave up (it fails right after). The
/// runtime words an agent's own escalation the same way.
pub(crate) const TEAM_GAVE_UP: &str = "its team gave up";

/// Futures run concurrently inside the current task (no spawn: they may borrow, and dropping
/// the set cancels them); [`InFlight::next`] yields outputs as they finish.
pub(crate) struct InFlight<'a, T> {
    slots: Vec<Option<BoxFut<'a, T>>>,
    len: usize,
}

impl<'a, T> InFlight<'a, T> {
    pub(crate) fn new() -> Self {
        Self {
            slots: Vec::new(),
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, fut: impl Future<Output = T> + Send + 'a) {
        let fut: BoxFut<'a, T> = Box::pin(fut);
        self.len += 1;
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(slot) => *slot = Some(fut),
            None => self.slots.push(Some(fut)),
        }
    }

    /// The next output, or `None` when nothing is in flight.
    pub(crate) async fn next(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        std::future::poll_fn(|cx| {
            for slot in self.slots.iter_mut() {
                if let Some(fut) = slot {
                    if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                        *slot = None;
                        self.len -= 1;
                        return Poll::Ready(Some(out));
                    }
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// What a failed call to a member means for the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The member's incarnation died on the call (it crashed, or its own team gave up): wait
    /// for the team supervisor to restart it (or route elsewhere), then try again.
    Crashed(String),
    /// The member was not running (between a crash and its restart): try again once it runs.
    Down(String),
    /// A failure that may pass (a transient error, a timeout): try again.
    Retry(String),
    /// A failure a retry cannot fix (a permanent error, a request of the wrong shape).
    Fatal(String),
}

impl Failure {
    /// Classifies a call error.
    pub(crate) fn of(error: &CallError) -> Self {
        let text = error.to_string();
        match error {
            CallError::AgentFailed { .. } => Self::Crashed(text),
            CallError::AgentStopped { .. } => Self::Down(text),
            CallError::Rejected {
                error: AgentError::Transient(msg),
                ..
            } if msg.contains(TEAM_GAVE_UP) => Self::Crashed(text),
            e if e.is_retryable() => Self::Retry(text),
            _ => Self::Fatal(text),
        }
    }

    /// The failure's description.
    pub(crate) fn text(&self) -> &str {
        match self {
            Self::Crashed(t) | Self::Down(t) | Self::Retry(t) | Self::Fatal(t) => t,
        }
    }

    pub(crate) fn is_retryable(&self) -> bool {
        !matches!(self, Self::Fatal(_))
    }
}

/// Waits between checks of a team's state: a few yields (a state change already under way
/// lands within them), then 1 ms doubling to 16 ms.
pub(crate) struct Poller {
    yields: u32,
    next: Duration,
}

impl Poller {
    const YIELDS: u32 = 16;
    const FIRST: Duration = Duration::from_millis(1);
    const MAX: Duration = Duration::from_millis(16);

    pub(crate) fn new() -> Self {
        Self {
            yields: 0,
            next: Self::FIRST,
        }
    }

    pub(crate) fn reset(&mut self) {
        *self = Self::new();
    }

    /// Whether the waits have reached their longest: time for the rarer, costlier checks.
    pub(crate) fn is_slow(&self) -> bool {
        self.next >= Self::MAX
    }

    pub(crate) async fn tick(&mut self) {
        if self.yields < Self::YIELDS {
            self.yields += 1;
            tokio::task::yield_now().await;
            return;
        }
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(Self::MAX);
    }
}

/// Whether the team gave up: its actor is stopping or stopped (a team still starting has
/// not). When it has, first waits until the actor has fully stopped: its failure is then
/// queued for the pattern agent (see the module docs).
pub(crate) async fn team_gave_up(team: &SupervisorRef) -> bool {
    let status = || team.cell().map_or(ActorStatus::Stopped, |c| c.get_status());
    if status() < ActorStatus::Draining {
        return false;
    }
    let mut poll = Poller::new();
    while status() != ActorStatus::Stopped {
        poll.tick().await;
    }
    true
}

/// Why a member did not come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotBack {
    /// The team gave up (and has fully stopped).
    TeamGaveUp,
    /// The member left the team for good (stopped on request).
    Gone,
}

/// Waits until `is_back` holds (e.g. the team supervisor restarted member `id`), the team gave
/// up, or the member left the team for good.
pub(crate) async fn until_running(
    is_back: impl Fn() -> bool,
    team: &SupervisorRef,
    id: &str,
) -> Result<(), NotBack> {
    let mut poll = Poller::new();
    loop {
        if is_back() {
            return Ok(());
        }
        if team_gave_up(team).await {
            return Err(NotBack::TeamGaveUp);
        }
        if poll.is_slow() && !members(team).await.iter().any(|m| m == id) {
            return Err(NotBack::Gone);
        }
        poll.tick().await;
    }
}

/// The ids of the team's children now.
pub(crate) async fn members(team: &SupervisorRef) -> Vec<String> {
    team.children().await.into_iter().map(|c| c.id).collect()
}

/// The answer of a job whose team gave up: the team's intensity and the last failure the job
/// saw (the caller's error names the agent). It contains [`TEAM_GAVE_UP`], which tells a parent
/// pattern that this agent fails right after.
pub(crate) fn team_gave_up_message(policy: &TeamPolicy, last: Option<&str>) -> String {
    let mut msg = format!(
        "{TEAM_GAVE_UP} (more than {} restarts within {} s)",
        policy.max_restarts, policy.within_seconds
    );
    if let Some(last) = last {
        msg.push_str("; last failure: ");
        msg.push_str(last);
    }
    msg
}
