//! One job through one team: split, every child at once (retried after crashes and transient
//! errors, up to `max_retries` each), combine. A sub-team child runs the same code one level
//! down, so a job goes down the whole tree and its results come back up.

use parking_lot::Mutex;
use serde_json::Value;
use troupe_runtime::{AgentContext, AgentId, SupervisorRef};

use super::build::{Child, SubTeamRequest, TeamState};
use super::leaf::{self, LeafOutcome};
use super::spec::{ChildKind, ChildView, LeafCall, TeamSpec};
use super::HierarchicalError;
use crate::supervisor::team::{team_gave_up_message, until_running, Failure, InFlight, NotBack};

/// Runs a job through the team of the agent owning `ctx`.
pub(crate) async fn run_job(
    spec: &TeamSpec,
    st: &TeamState,
    ctx: &AgentContext,
    input: Value,
) -> Result<Value, HierarchicalError> {
    let views = spec.children();
    let inputs = spec
        .split
        .apply(input, views)
        .map_err(HierarchicalError::Split)?;
    let job = Job {
        spec,
        st,
        ctx,
        last_failure: Mutex::new(None),
    };
    let mut results = vec![Value::Null; views.len()];
    let mut flight = InFlight::new();
    for (k, input) in inputs.into_iter().enumerate() {
        let job = &job;
        flight.push(async move { (k, job.child(k, &views[k], input).await) });
    }
    while let Some((k, result)) = flight.next().await {
        results[k] = result?;
    }
    drop(flight);
    spec.combine
        .apply(views, results)
        .map_err(HierarchicalError::Combine)
}

struct Job<'a> {
    spec: &'a TeamSpec,
    st: &'a TeamState,
    ctx: &'a AgentContext,
    last_failure: Mutex<Option<String>>,
}

impl Job<'_> {
    /// One child's part: called until it answers, or fails for good.
    async fn child(
        &self,
        k: usize,
        view: &ChildView,
        input: Value,
    ) -> Result<Value, HierarchicalError> {
        let child = &self.st.children[k];
        let mut attempt = 0;
        loop {
            attempt += 1;
            let incarnation = child.starts();
            let (failure, panic) = match child {
                Child::Agent(a) => match a.ask_value(input.clone(), None).await {
                    Ok(v) => return Ok(v),
                    Err(e) => (Failure::of(&e), None),
                },
                Child::Team(t) => match t.ask(SubTeamRequest::Job(input.clone())).await {
                    Ok(v) => return Ok(v),
                    Err(e) => (Failure::of(&e), None),
                },
                Child::Function(function) => {
                    let call = LeafCall {
                        input: input.clone(),
                        index: view.index,
                        attempt,
                    };
                    match leaf::call(function, call).await {
                        LeafOutcome::Answered(Ok(v)) => return Ok(v),
                        LeafOutcome::Answered(Err(e)) if e.is_retryable() => {
                            (Failure::Retry(format!("{}: {e}", self.id(view))), None)
                        }
                        LeafOutcome::Answered(Err(e)) => {
                            (Failure::Fatal(format!("{}: {e}", self.id(view))), None)
                        }
                        LeafOutcome::Panicked(msg) => {
                            let text = format!("function leaf {} panicked: {msg}", self.id(view));
                            (Failure::Crashed(text.clone()), Some(text))
                        }
                    }
                }
            };
            *self.last_failure.lock() = Some(failure.text().to_string());
            if !failure.is_retryable() {
                return Err(HierarchicalError::ChildRejected {
                    child: self.id(view),
                    reason: failure.text().to_string(),
                });
            }
            // A panicked leaf is restarted by the team (or the team gives up) before anything else.
            if let Some(reason) = panic {
                let team = self.team().await?;
                let stand_in = format!("{}#{attempt}", self.id(view));
                if leaf::report_failure(&team, stand_in, reason).await.is_err() {
                    return Err(self.gave_up(&team).await);
                }
            }
            if attempt > self.spec.max_retries {
                return Err(HierarchicalError::ChildFailed {
                    child: self.id(view),
                    attempts: attempt,
                    max_retries: self.spec.max_retries,
                    reason: failure.text().to_string(),
                });
            }
            // A crashed child is back when a newer incarnation runs; a stopped one when it runs.
            match failure {
                Failure::Crashed(_) if view.kind != ChildKind::Function => {
                    let back = || child.is_running() && child.starts() > incarnation;
                    self.await_restart(view, back, child.watch_starts()).await?
                }
                Failure::Down(_) => {
                    let started = child.watch_starts();
                    self.await_restart(view, || child.is_running(), started)
                        .await?
                }
                _ => {}
            }
        }
    }

    async fn await_restart(
        &self,
        view: &ChildView,
        is_back: impl Fn() -> bool,
        started: Option<tokio::sync::watch::Receiver<u64>>,
    ) -> Result<(), HierarchicalError> {
        let team = self.team().await?;
        let id = self.id(view);
        match until_running(is_back, started, &team, id.as_str()).await {
            Ok(()) => Ok(()),
            Err(NotBack::TeamGaveUp) => Err(self.gave_up(&team).await),
            Err(NotBack::Gone) => Err(HierarchicalError::ChildRejected {
                child: id,
                reason: "it left the team for good (stopped on request)".into(),
            }),
        }
    }

    /// The team supervisor, started on first need when the team has only function leaves.
    async fn team(&self) -> Result<SupervisorRef, HierarchicalError> {
        let policy = &self.spec.policy;
        self.st
            .team
            .get_or_try_init(|| async {
                let config = policy.config(format!("{}/team", self.ctx.id()));
                self.ctx.start_team(config, vec![]).await
            })
            .await
            .cloned()
            .map_err(|e| HierarchicalError::TeamGaveUp(format!("the team could not start: {e}")))
    }

    /// The error of a job whose team gave up (after the team has fully stopped).
    async fn gave_up(&self, team: &SupervisorRef) -> HierarchicalError {
        team.stopped().await;
        let last = self.last_failure.lock().clone();
        HierarchicalError::TeamGaveUp(team_gave_up_message(&self.spec.policy, last.as_deref()))
    }

    fn id(&self, view: &ChildView) -> AgentId {
        AgentId::new(format!("{}/{}/{}", self.ctx.id(), view.group, view.index))
    }
}
