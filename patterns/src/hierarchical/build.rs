//! Building a team: its supervisor, its agent members and its sub-teams, down the whole tree.
//!
//! A parent spawns its sub-teams without their members, then starts them all at once
//! ([`SubTeamRequest::Start`]); each builds its own members and starts its own sub-teams the
//! same way. Sibling subtrees thus build in parallel, and the root's spawn still returns only
//! once the whole tree runs (a failure anywhere fails it). A restarted sub-team rebuilds its
//! subtree in `init`, before it takes another request.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tokio::sync::OnceCell;
use troupe_runtime::{
    Agent, AgentContext, AgentError, AgentRef, CallError, DynAgentRef, Snapshot, SpawnOptions,
    SupervisorRef,
};

use super::run::run_job;
use super::spec::{ChildKind, FunctionLeaf, TeamMember, TeamSpec};
use crate::member::{spawn_team, MemberSpec};
use crate::supervisor::team::{BoxFut, InFlight};

/// The state of a team agent (opaque): its supervisor and its running children.
pub struct TeamState {
    pub(crate) team: OnceCell<SupervisorRef>,
    pub(crate) children: Vec<Child>,
    built: bool,
}

/// A running child.
pub(crate) enum Child {
    Agent(DynAgentRef),
    Team(AgentRef<SubTeam>),
    Function(FunctionLeaf),
}

impl Child {
    pub(crate) fn is_running(&self) -> bool {
        match self {
            Self::Agent(a) => a.is_running(),
            Self::Team(t) => t.is_running(),
            Self::Function(_) => true,
        }
    }

    /// How many times the child has been started (0 for a function leaf).
    pub(crate) fn starts(&self) -> u64 {
        match self {
            Self::Agent(a) => a.starts(),
            Self::Team(t) => t.starts(),
            Self::Function(_) => 0,
        }
    }

    /// The child's "started again" notification (none for a function leaf).
    pub(crate) fn watch_starts(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        match self {
            Self::Agent(a) => a.watch_starts(),
            Self::Team(t) => Some(t.watch_starts()),
            Self::Function(_) => None,
        }
    }
}

impl TeamState {
    fn unbuilt() -> Self {
        Self {
            team: OnceCell::new(),
            children: Vec::new(),
            built: false,
        }
    }

    /// Runs a job, building the team first if it is not built yet.
    pub(crate) async fn job(
        &mut self,
        spec: &TeamSpec,
        ctx: &AgentContext,
        input: Value,
    ) -> Result<Value, AgentError> {
        if !self.built {
            *self = build(ctx, spec).await?;
        }
        // Boxed: the job's state would otherwise be part of every team actor's task allocation.
        Box::pin(run_job(spec, self, ctx, input))
            .await
            .map_err(AgentError::from)
    }
}

/// What a sub-team is asked: a job (what JSON requests decode to), or, from its parent while
/// the tree is built, to build its own team.
#[derive(Debug, Clone, PartialEq)]
pub enum SubTeamRequest {
    /// Build the team now (no-op when built).
    Start,
    /// Run a job.
    Job(Value),
}

impl From<Value> for SubTeamRequest {
    fn from(input: Value) -> Self {
        Self::Job(input)
    }
}

impl<'de> Deserialize<'de> for SubTeamRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(Self::Job)
    }
}

/// A team below the root of a hierarchy (spawned by its parent team; id
/// `<parent id>/<group>/<i>`, kind name `SubTeam`).
#[derive(Debug, Clone)]
pub struct SubTeam {
    pub(crate) spec: Arc<TeamSpec>,
}

impl Agent for SubTeam {
    type Request = SubTeamRequest;
    type Reply = Value;
    type State = TeamState;

    async fn init(
        &self,
        ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<TeamState, AgentError> {
        if ctx.starts() == 1 {
            Ok(TeamState::unbuilt()) // the parent starts it
        } else {
            build(ctx, &self.spec).await
        }
    }

    async fn handle(
        &self,
        ctx: &AgentContext,
        st: &mut TeamState,
        request: SubTeamRequest,
    ) -> Result<Value, AgentError> {
        match request {
            SubTeamRequest::Start if st.built => Ok(Value::Null),
            SubTeamRequest::Start => {
                *st = build(ctx, &self.spec).await?;
                Ok(Value::Null)
            }
            SubTeamRequest::Job(input) => st.job(&self.spec, ctx, input).await,
        }
    }
}

/// Builds the team of the agent owning `ctx`, and its whole subtree. Boxed: its state would
/// otherwise be part of every team actor's task allocation.
pub(crate) fn build<'a>(
    ctx: &'a AgentContext,
    spec: &'a TeamSpec,
) -> BoxFut<'a, Result<TeamState, AgentError>> {
    Box::pin(build_team(ctx, spec))
}

async fn build_team(ctx: &AgentContext, spec: &TeamSpec) -> Result<TeamState, AgentError> {
    let agents: BTreeMap<String, MemberSpec> = spec
        .members
        .iter()
        .filter_map(|(group, member)| match member {
            TeamMember::Agents(m) => Some((group.clone(), m.clone())),
            _ => None,
        })
        .collect();
    let has_teams = spec
        .members
        .values()
        .any(|m| matches!(m, TeamMember::Teams { .. }));
    let team = OnceCell::new();
    let mut agent_members = Vec::new().into_iter();
    let mut sub_teams = Vec::new();
    if !agents.is_empty() || has_teams {
        let (supervisor, members) = spawn_team(ctx, &agents, &spec.policy).await?;
        agent_members = members.into_iter();
        let runtime = ctx
            .runtime()
            .ok_or_else(|| AgentError::permanent("the runtime is gone"))?;
        for (group, member) in &spec.members {
            let TeamMember::Teams { count, spec: sub } = member else {
                continue;
            };
            for i in 0..*count {
                let id = format!("{}/{group}/{i}", ctx.id());
                let agent = SubTeam { spec: sub.clone() };
                let options = SpawnOptions::default().under(supervisor.clone());
                let child = runtime
                    .spawn_with(id, agent, options)
                    .await
                    .map_err(|e| AgentError::permanent(format!("member group {group:?}: {e}")))?;
                sub_teams.push(child);
            }
        }
        start_all(&sub_teams).await?;
        let _ = team.set(supervisor);
    }
    let mut sub_teams = sub_teams.into_iter();
    let mut children = Vec::with_capacity(spec.children().len());
    for view in spec.children() {
        let child = match (view.kind, spec.members.get(&*view.group)) {
            (ChildKind::Agent, _) => agent_members.next().map(|m| Child::Agent(m.agent)),
            (ChildKind::Team, _) => sub_teams.next().map(Child::Team),
            (ChildKind::Function, Some(TeamMember::Functions { leaf, .. })) => {
                Some(Child::Function(leaf.clone()))
            }
            (ChildKind::Function, _) => None,
        };
        children.push(child.ok_or_else(|| {
            AgentError::permanent(format!(
                "{}: member {}/{} did not start",
                ctx.id(),
                view.group,
                view.index
            ))
        })?);
    }
    Ok(TeamState {
        team,
        children,
        built: true,
    })
}

/// Starts the sub-teams' subtrees, all at once.
async fn start_all(sub_teams: &[AgentRef<SubTeam>]) -> Result<(), AgentError> {
    let mut flight = InFlight::new();
    for sub in sub_teams {
        flight.push(async move { sub.ask(SubTeamRequest::Start).await });
    }
    while let Some(result) = flight.next().await {
        result.map_err(|e| match e {
            CallError::Rejected { error, .. } => error,
            other => AgentError::permanent(other.to_string()),
        })?;
    }
    Ok(())
}
