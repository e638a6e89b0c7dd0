//! The IO shell of a round: carries out [`Dispatch`]'s steps with calls to the workers, feeds
//! the outcomes back, and waits for restarts when no eligible worker runs.

use std::time::Duration;

use serde_json::Value;
use troupe_runtime::{DynAgentRef, SupervisorRef};

use super::dispatch::{Dispatch, Limits, Step, WorkerMeta};
use super::job::{SupervisorError, Unit, UnitReport};
use super::routing::Routing;
use super::team::{team_gave_up_message, Failure, InFlight};
use crate::member::TeamPolicy;

/// The state of a supervisor pattern agent: its running worker team (opaque).
pub struct Crew {
    pub(crate) agent: String,
    pub(crate) team: SupervisorRef,
    pub(crate) policy: TeamPolicy,
    pub(crate) metas: Vec<WorkerMeta>,
    pub(crate) workers: Vec<DynAgentRef>,
    pub(crate) served: Vec<u64>,
    /// Per worker, the incarnation (start count) that last crashed on a unit: the worker is
    /// down until a newer one runs.
    pub(crate) crashed: Vec<u64>,
    pub(crate) cursor: usize,
    /// The coordinator member (config `coordinator`), not a worker.
    pub(crate) coordinator: Option<DynAgentRef>,
}

/// The `crashed` mark of a worker that left the team for good.
const GONE: u64 = u64::MAX;

/// Whether worker `w` can take a unit now: it runs, and not the incarnation that crashed.
fn is_up(workers: &[DynAgentRef], crashed: &[u64], w: usize) -> bool {
    workers[w].is_running() && workers[w].starts() > crashed[w]
}

/// How a round is run.
pub(crate) struct RoundRules<'a> {
    pub(crate) routing: &'a Routing,
    pub(crate) limits: Limits,
    pub(crate) timeout: Option<Duration>,
    pub(crate) report: bool,
}

type Outcome = (usize, usize, Result<Value, (Failure, u64)>);

/// Runs one round: every unit answered (results in unit order), or the first unrecoverable
/// failure.
pub(crate) async fn run_round(
    crew: &mut Crew,
    units: Vec<Unit>,
    rules: &RoundRules<'_>,
) -> Result<(Vec<Value>, Vec<UnitReport>), SupervisorError> {
    let mut dispatch = Dispatch::new(units, &crew.metas, rules.limits, rules.routing)?;
    let mut flight: InFlight<'static, Outcome> = InFlight::new();
    // While units wait for a worker: its "started again" notifications (taken on the first
    // wait, then the workers are looked at once more), the team's removals (looked at once,
    // then on each), and the team's stop. Nothing is polled.
    let mut restarts: Option<InFlight<'static, ()>> = None;
    let mut removals = None;
    let stopped = crew.team.stopped();
    tokio::pin!(stopped);
    while !dispatch.is_finished() {
        let waiting = loop {
            let (workers, crashed) = (&crew.workers, &crew.crashed);
            let up = |w| is_up(workers, crashed, w);
            let step = dispatch.next(
                &crew.metas,
                &up,
                &crew.served,
                rules.routing,
                &mut crew.cursor,
            )?;
            match step {
                Step::Send { unit, worker } => {
                    tracing::debug!(agent = %crew.agent, unit, worker = %crew.metas[worker].id, "routing unit");
                    let agent = crew.workers[worker].clone();
                    let input = dispatch.input(unit).clone();
                    let timeout = rules.timeout;
                    flight.push(async move { (unit, worker, call(agent, input, timeout).await) });
                }
                Step::Wait => break true,
                Step::Idle => break false,
            }
        };
        let outcome = if waiting {
            // Units wait for a worker the team supervisor is restarting, or for the team to
            // give up.
            let Some(wait_restarts) = restarts.as_mut() else {
                restarts = Some(watch_restarts(&crew.workers));
                continue; // a worker back before the watch was taken is seen now
            };
            let removed = match removals.as_mut() {
                None => {
                    removals = Some(crew.team.watch_removals());
                    true
                }
                Some(rx) => rx.has_changed().unwrap_or(false),
            };
            // (A team that stopped is the stop's news, below.)
            if removed && crew.team.is_running() {
                if let Some(rx) = removals.as_mut() {
                    rx.borrow_and_update();
                }
                // Workers stopped for good never come back: a unit only they could take fails.
                for (w, meta) in crew.metas.iter().enumerate() {
                    if !crew.team.has_child(meta.id.as_str()) {
                        crew.crashed[w] = GONE;
                    }
                }
                let crashed = &crew.crashed;
                if let Some(unit) = dispatch.stranded(&crew.metas, &|w| crashed[w] != GONE) {
                    return Err(SupervisorError::WorkersGone { unit });
                }
            }
            let removal = async {
                match removals.as_mut() {
                    Some(rx) => {
                        let _ = rx.changed().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                Some(outcome) = flight.next() => outcome,
                Some(()) = wait_restarts.next() => {
                    restarts = None; // taken afresh on the next wait
                    continue;
                }
                _ = &mut stopped => {
                    return Err(SupervisorError::TeamGaveUp(team_gave_up_message(
                        &crew.policy,
                        dispatch.last_failure(),
                    )));
                }
                _ = removal => continue,
            }
        } else {
            match flight.next().await {
                Some(outcome) => outcome,
                None => continue,
            }
        };
        match outcome {
            (unit, worker, Ok(value)) => {
                crew.served[worker] += 1;
                dispatch.succeeded(unit, worker, value);
            }
            (unit, worker, Err((failure, incarnation))) => {
                if matches!(failure, Failure::Crashed(_)) {
                    crew.crashed[worker] = crew.crashed[worker].max(incarnation);
                }
                tracing::debug!(agent = %crew.agent, unit, worker = %crew.metas[worker].id, failure = failure.text(), "unit failed");
                dispatch.failed(unit, worker, &crew.metas, &failure)?;
            }
        }
    }
    Ok(dispatch.finish(&crew.metas, rules.report))
}

/// The workers' "started again" notifications as one set: its next output is the first start.
fn watch_restarts(workers: &[DynAgentRef]) -> InFlight<'static, ()> {
    let mut set = InFlight::new();
    for mut started in workers.iter().filter_map(|w| w.watch_starts()) {
        set.push(async move {
            if started.changed().await.is_err() {
                std::future::pending::<()>().await; // that worker is gone: wait on the others
            }
        });
    }
    set
}

/// One call to a worker. A failure comes with the worker's start count before the call: the
/// incarnation that failed.
async fn call(
    agent: DynAgentRef,
    input: Value,
    timeout: Option<Duration>,
) -> Result<Value, (Failure, u64)> {
    let incarnation = agent.starts();
    agent
        .ask_value(input, timeout)
        .await
        .map_err(|error| (Failure::of(&error), incarnation))
}
