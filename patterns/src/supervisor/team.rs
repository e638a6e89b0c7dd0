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
//! so the job is told the team actor has fully stopped ([`SupervisorRef::stopped`]: its failure
//! is then queued for the agent, ahead of any request), and answers the caller with the cause
//! ([`team_gave_up_message`]). The agent then takes the queued failure and fails to its
//! own supervisor: the same escalation as an idle agent's.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use tokio::sync::watch;
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

/// Why a member did not come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotBack {
    /// The team gave up (and has fully stopped).
    TeamGaveUp,
    /// The member left the team for good (stopped on request).
    Gone,
}

/// Waits until `is_back` holds (e.g. the team supervisor restarted member `id`), the team gave
/// up, or the member left the team for good. Nothing is polled: the member's `started`
/// notification ([`troupe_runtime::DynAgent::watch_starts`], taken before the member went down
/// or before this call) says when it runs again, the team's [`SupervisorRef::stopped`] when it
/// gave up, its [`SupervisorRef::watch_removals`] when a member may have left
/// ([`SupervisorRef::has_child`] says whether it did).
pub(crate) async fn until_running(
    is_back: impl Fn() -> bool,
    started: Option<watch::Receiver<u64>>,
    team: &SupervisorRef,
    id: &str,
) -> Result<(), NotBack> {
    if is_back() {
        return Ok(());
    }
    let mut started = started;
    let mut removals = team.watch_removals();
    let stopped = team.stopped();
    tokio::pin!(stopped);
    let mut look_at_members = true;
    loop {
        if is_back() {
            return Ok(());
        }
        if look_at_members {
            look_at_members = false;
            // Not a child of a team that still runs: it left. (A team that stopped is the
            // stop's news, below.)
            if !team.has_child(id) && team.is_running() {
                return if is_back() {
                    Ok(())
                } else {
                    Err(NotBack::Gone)
                };
            }
        }
        tokio::select! {
            biased;
            changed = changed(&mut started) => {
                if changed.is_err() {
                    started = None; // the agent is gone: the team's news still comes
                }
            }
            _ = &mut stopped => return Err(NotBack::TeamGaveUp),
            _ = removals.changed() => look_at_members = true,
        }
    }
}

/// The next change of an optional `started` notification (never, without one).
pub(crate) async fn changed(
    started: &mut Option<watch::Receiver<u64>>,
) -> Result<(), watch::error::RecvError> {
    match started {
        Some(rx) => rx.changed().await,
        None => std::future::pending().await,
    }
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
