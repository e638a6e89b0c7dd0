//! Calling a member and riding out its crashes. A member that panics on a call is restarted by
//! the pattern's team; the caller waits for the restart (the runtime's `AgentRestarted` event)
//! and sends the same input again, up to [`CrashPolicy::retries`] times. Shared by the handoff
//! and network patterns.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use troupe_runtime::{AgentId, CallError, DynAgentRef, EventBus, EventKind};

/// What a pattern does when a member crashes on a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrashPolicy {
    /// How many times the same input is sent again after the member crashed on it and was
    /// restarted (default 1; 0 fails at the first crash).
    #[serde(default = "one")]
    pub retries: u32,
    /// How long to wait for the team to restart a crashed member, in seconds (default 5).
    #[serde(default = "five", with = "troupe_runtime::config::seconds")]
    pub restart_timeout_seconds: f64,
}

fn one() -> u32 {
    1
}
fn five() -> f64 {
    5.0
}

impl Default for CrashPolicy {
    fn default() -> Self {
        Self {
            retries: 1,
            restart_timeout_seconds: 5.0,
        }
    }
}

impl CrashPolicy {
    /// Checks the values. `field` is where the policy sits in its pattern's config (`crash`, or
    /// `a.crash`); the error's path is the offending field under it
    /// (`/crash/restart_timeout_seconds`), its kind is empty (the pattern fills in its own).
    pub fn validate(&self, field: &str) -> Result<(), troupe_runtime::ConfigError> {
        let t = self.restart_timeout_seconds;
        if !(t.is_finite() && t > 0.0 && t <= 3600.0) {
            let at = match field.is_empty() {
                true => String::new(),
                false => format!("/{}", field.replace('.', "/")),
            };
            return Err(troupe_runtime::ConfigError::new(
                "",
                format!("{at}/restart_timeout_seconds"),
                format!("must be a number of seconds in (0, 3600], got {t}"),
            ));
        }
        Ok(())
    }
}

/// Why a call to a member produced no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemberError {
    /// The call failed (the member's handler refused, a timeout, a bad request...).
    #[error("{0}")]
    Call(CallError),
    /// The member crashed on every attempt.
    #[error(
        "agent {agent} crashed on each of {attempts} attempt(s) (restarted by the team each time)"
    )]
    Crashed {
        /// The member agent.
        agent: AgentId,
        /// Attempts made.
        attempts: u32,
    },
    /// The member was not running again within the restart timeout.
    #[error("agent {agent} was not running again within {waited:?} after it stopped")]
    NotRestarted {
        /// The member agent.
        agent: AgentId,
        /// How long the caller waited.
        waited: Duration,
    },
    /// The team exceeded its restart intensity (the pattern agent fails next).
    #[error("the team gave up: {reason}")]
    TeamGaveUp {
        /// The team's reason.
        reason: String,
    },
}

impl MemberError {
    /// Whether the same request might succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Call(e) => e.is_retryable(),
            Self::Crashed { .. } | Self::NotRestarted { .. } | Self::TeamGaveUp { .. } => true,
        }
    }
}

/// Calls members of one team under a [`CrashPolicy`]. Cheap to clone.
#[derive(Clone)]
pub(crate) struct MemberCaller {
    inner: Arc<CallerInner>,
}

struct CallerInner {
    events: EventBus,
    team: String,
    retries: u32,
    restart_timeout: Duration,
    call_timeout: Option<Duration>,
}

impl MemberCaller {
    /// A caller for the team named `team` (its supervisor's name) on the runtime of `events`.
    pub(crate) fn new(
        events: EventBus,
        team: String,
        policy: &CrashPolicy,
        call_timeout: Option<Duration>,
    ) -> Self {
        Self {
            inner: Arc::new(CallerInner {
                events,
                team,
                retries: policy.retries,
                restart_timeout: Duration::from_secs_f64(policy.restart_timeout_seconds),
                call_timeout,
            }),
        }
    }

    /// Calls `agent` with the value `input` builds. After a crash (the member panicked on the
    /// input) it waits for the team to restart the member and sends the same input again (built
    /// anew: no copy is kept on the way), up to `retries` times; a call that finds the member
    /// down (restarting after an earlier crash) waits for it as well.
    pub(crate) async fn call(
        &self,
        agent: &DynAgentRef,
        input: impl Fn() -> Value,
    ) -> Result<Value, MemberError> {
        let me = &self.inner;
        let (mut crashes, mut waits) = (0u32, 0u32);
        loop {
            match agent.ask_value(input(), me.call_timeout).await {
                Ok(reply) => return Ok(reply),
                Err(CallError::AgentFailed { .. }) => {
                    crashes += 1;
                    if crashes > me.retries {
                        return Err(MemberError::Crashed {
                            agent: agent.id().clone(),
                            attempts: crashes,
                        });
                    }
                    // Boxed: the rare path keeps the common call's future small.
                    Box::pin(self.wait_restart(agent, true)).await?;
                }
                Err(CallError::AgentStopped { .. }) if waits <= me.retries => {
                    waits += 1;
                    Box::pin(self.wait_restart(agent, false)).await?;
                }
                Err(e) => return Err(MemberError::Call(e)),
            }
        }
    }

    /// Waits until `agent` runs again: for its `AgentRestarted` event, or (when it did not just
    /// crash) until it is seen running. The team restarts a member after a backoff of at least
    /// 10 ms, so the event comes after this subscription; should it not come within the restart
    /// timeout, a member found running is taken as restarted.
    async fn wait_restart(&self, agent: &DynAgentRef, crashed: bool) -> Result<(), MemberError> {
        let me = &self.inner;
        let mut events = me.events.subscribe();
        if !crashed && agent.is_running() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + me.restart_timeout;
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Ok(event)) => match event.kind {
                    EventKind::AgentRestarted { .. } | EventKind::AgentStarted
                        if event.agent.as_ref() == Some(agent.id()) =>
                    {
                        return Ok(())
                    }
                    EventKind::SupervisorEscalated { supervisor, reason }
                        if supervisor == me.team =>
                    {
                        return Err(MemberError::TeamGaveUp { reason })
                    }
                    _ => {}
                },
                Ok(Err(RecvError::Lagged(_))) if agent.is_running() => return Ok(()),
                Ok(Err(RecvError::Lagged(_))) => {}
                Ok(Err(RecvError::Closed)) | Err(_) => {
                    return if agent.is_running() {
                        Ok(())
                    } else {
                        Err(MemberError::NotRestarted {
                            agent: agent.id().clone(),
                            waited: me.restart_timeout,
                        })
                    }
                }
            }
        }
    }
}
