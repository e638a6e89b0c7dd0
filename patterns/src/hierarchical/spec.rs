//! A team of the hierarchy as data: its policy, how a job is split among its children and how
//! their results are combined, and its members: agents of registered kinds, sub-teams, or
//! function leaves.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use troupe_runtime::AgentError;

use super::combine::{Combine, Split};
use super::HierarchicalError;
use crate::member::{MemberSpec, TeamPolicy};
use crate::supervisor::{check_member, check_team};

/// One call of a function leaf.
#[derive(Debug, Clone, PartialEq)]
pub struct LeafCall {
    /// The leaf's part of the job.
    pub input: Value,
    /// The leaf's index in its group.
    pub index: usize,
    /// 1 on the first try, 2 after a retry...
    pub attempt: u32,
}

/// The future of an async function leaf.
pub type LeafFuture = Pin<Box<dyn Future<Output = Result<Value, AgentError>> + Send>>;

type SyncLeaf = dyn Fn(LeafCall) -> Result<Value, AgentError> + Send + Sync;
type AsyncLeaf = dyn Fn(LeafCall) -> LeafFuture + Send + Sync;

/// A stateless function run as a task of its team agent: the lightest member there is (no
/// actor of its own). A panic is a child failure of the team: it is handed to the team's
/// supervisor, which restarts the leaf (its call runs again) or gives up per the team policy.
/// An `Err` is an answer, like an agent's (transient errors are retried up to `max_retries`).
#[derive(Clone)]
pub enum FunctionLeaf {
    /// A plain function (no allocation per call).
    Sync(Arc<SyncLeaf>),
    /// An async function.
    Async(Arc<AsyncLeaf>),
}

impl FunctionLeaf {
    /// A leaf from a plain function.
    pub fn sync(f: impl Fn(LeafCall) -> Result<Value, AgentError> + Send + Sync + 'static) -> Self {
        Self::Sync(Arc::new(f))
    }

    /// A leaf from an async function.
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: Fn(LeafCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, AgentError>> + Send + 'static,
    {
        Self::Async(Arc::new(move |call| Box::pin(f(call)) as LeafFuture))
    }
}

impl std::fmt::Debug for FunctionLeaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sync(_) => "FunctionLeaf::Sync",
            Self::Async(_) => "FunctionLeaf::Async",
        })
    }
}

/// A member group of a team.
#[derive(Debug, Clone)]
pub enum TeamMember {
    /// Agents of a registered kind (a pattern kind included).
    Agents(MemberSpec),
    /// `count` sub-teams of one spec.
    Teams {
        /// How many.
        count: usize,
        /// Their spec (shared).
        spec: Arc<TeamSpec>,
    },
    /// `count` function leaves (Rust only).
    Functions {
        /// How many.
        count: usize,
        /// The function.
        leaf: FunctionLeaf,
    },
}

impl TeamMember {
    /// How many children the group has.
    pub fn count(&self) -> usize {
        match self {
            Self::Agents(spec) => spec.count,
            Self::Teams { count, .. } | Self::Functions { count, .. } => *count,
        }
    }

    fn kind(&self) -> ChildKind {
        match self {
            Self::Agents(_) => ChildKind::Agent,
            Self::Teams { .. } => ChildKind::Team,
            Self::Functions { .. } => ChildKind::Function,
        }
    }
}

/// What a child is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildKind {
    /// An agent of a registered kind.
    Agent,
    /// A sub-team (a hierarchical pattern agent).
    Team,
    /// A function leaf.
    Function,
}

/// A child of a team as splits and combines see it. Children are ordered by group name, then
/// index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildView {
    /// Its group.
    pub group: Arc<str>,
    /// Its index in the group.
    pub index: usize,
    /// What it is.
    pub kind: ChildKind,
}

/// A team: see the [module docs](super) for the semantics and the config shape.
#[derive(Debug, Clone)]
pub struct TeamSpec {
    pub(crate) policy: TeamPolicy,
    pub(crate) split: Split,
    pub(crate) combine: Combine,
    pub(crate) max_retries: u32,
    pub(crate) members: BTreeMap<String, TeamMember>,
    views: OnceLock<Arc<[ChildView]>>,
}

impl Default for TeamSpec {
    fn default() -> Self {
        Self::new()
    }
}

/// Retries per child per job by default.
pub(crate) const MAX_RETRIES: u32 = 3;

impl TeamSpec {
    /// An empty team: default policy, broadcast split, array combine, 3 retries per child.
    pub fn new() -> Self {
        Self {
            policy: TeamPolicy::default(),
            split: Split::default(),
            combine: Combine::default(),
            max_retries: MAX_RETRIES,
            members: BTreeMap::new(),
            views: OnceLock::new(),
        }
    }

    /// Sets the team's supervision policy.
    pub fn policy(mut self, policy: TeamPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets how a job is split among the children.
    pub fn split(mut self, split: Split) -> Self {
        self.split = split;
        self
    }

    /// Sets how the children's results are combined.
    pub fn combine(mut self, combine: Combine) -> Self {
        self.combine = combine;
        self
    }

    /// Sets the retries per child per job (after a crash or a transient error).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Adds (or replaces) a member group.
    pub fn member(mut self, group: impl Into<String>, member: TeamMember) -> Self {
        self.members.insert(group.into(), member);
        self.views = OnceLock::new();
        self
    }

    /// Adds a group of agents of a registered kind.
    pub fn agents(self, group: impl Into<String>, spec: MemberSpec) -> Self {
        self.member(group, TeamMember::Agents(spec))
    }

    /// Adds a group of `count` sub-teams.
    pub fn teams(
        self,
        group: impl Into<String>,
        count: usize,
        spec: impl Into<Arc<TeamSpec>>,
    ) -> Self {
        self.member(
            group,
            TeamMember::Teams {
                count,
                spec: spec.into(),
            },
        )
    }

    /// Adds a group of `count` function leaves.
    pub fn functions(self, group: impl Into<String>, count: usize, leaf: FunctionLeaf) -> Self {
        self.member(group, TeamMember::Functions { count, leaf })
    }

    /// The member groups, by name.
    pub fn members(&self) -> &BTreeMap<String, TeamMember> {
        &self.members
    }

    /// The children in order (computed once per spec, shared by every agent of it).
    pub fn children(&self) -> &[ChildView] {
        self.views.get_or_init(|| {
            self.members
                .iter()
                .flat_map(|(group, member)| {
                    let group: Arc<str> = group.as_str().into();
                    let kind = member.kind();
                    (0..member.count()).map(move |index| ChildView {
                        group: group.clone(),
                        index,
                        kind,
                    })
                })
                .collect()
        })
    }

    /// Checks the whole tree: every team has members, counts are at least 1, policies are
    /// sound.
    pub fn validate(&self) -> Result<(), HierarchicalError> {
        self.check("").map_err(invalid)
    }

    fn check(&self, path: &str) -> Result<(), String> {
        let at = |field: &str| join(path, field);
        if self.members.is_empty() {
            return Err(format!(
                "field `{}`: a team needs at least one member group",
                at("members")
            ));
        }
        check_team(&at("team"), &self.policy)?;
        for (group, member) in &self.members {
            let path = at(&format!("members.{group}"));
            match member {
                TeamMember::Agents(spec) => check_member(&path, spec)?,
                TeamMember::Teams { count, spec } => {
                    if *count == 0 {
                        return Err(format!("field `{path}.count`: must be at least 1"));
                    }
                    spec.check(&path)?;
                }
                TeamMember::Functions { count: 0, .. } => {
                    return Err(format!(
                        "field `{path}`: a function group needs at least 1 leaf"
                    ))
                }
                TeamMember::Functions { .. } => {}
            }
        }
        Ok(())
    }
}

/// A config error of the hierarchical pattern from a check's message (`field `a.b`: what`).
pub(crate) fn invalid(message: String) -> HierarchicalError {
    HierarchicalError::Config(crate::member::config_error("pattern.hierarchical", message))
}

/// `a.b` from `a` and `b` (`b` alone at the top).
pub(crate) fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}
