//! The agent SDK: define an agent kind (typed request, reply and state, a handler), spawn agents
//! of it under supervision, and call them by their logical [`AgentId`].
//!
//! ```
//! use troupe_runtime::{Agent, AgentContext, AgentError, Runtime, Snapshot};
//!
//! struct Counter;
//!
//! impl Agent for Counter {
//!     type Request = u64;
//!     type Reply = u64;
//!     type State = u64;
//!
//!     async fn init(&self, _ctx: &AgentContext, restored: Option<Snapshot>) -> Result<u64, AgentError> {
//!         Ok(match restored {
//!             Some(s) => s.decode().map_err(|e| AgentError::permanent(e.to_string()))?,
//!             None => 0,
//!         })
//!     }
//!
//!     async fn handle(&self, _ctx: &AgentContext, total: &mut u64, add: u64) -> Result<u64, AgentError> {
//!         *total += add;
//!         Ok(*total)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let runtime = Runtime::start(Default::default()).await.unwrap();
//! let counter = runtime.spawn("counter-1", Counter).await.unwrap();
//! assert_eq!(counter.ask(2).await.unwrap(), 2);
//! assert_eq!(counter.ask(3).await.unwrap(), 5);
//! runtime.shutdown().await;
//! # }
//! ```

mod actor;
mod dynamic;
mod function;
mod kind;
mod mailbox;
mod persist;
mod reference;
mod undelivered;

use std::future::Future;

use crate::supervision::SupervisionError;
pub(crate) use actor::{AgentActor, AgentSlot};
pub use dynamic::{DynAgent, DynAgentExt, DynAgentRef};
pub use function::FnAgent;
pub use kind::{AgentKind, KindLookup, KindRegistry, NestedAgent, PATTERN_PREFIX};
pub(crate) use mailbox::Mailbox;
pub use mailbox::DEFAULT_MAILBOX_CAPACITY;
pub(crate) use persist::SlotStore;
pub use reference::AgentRef;

use crate::error::AgentError;
use crate::ids::AgentId;
use crate::runtime::{Runtime, WeakRuntime};
use crate::snapshot::Snapshot;

/// An agent kind: what an agent of this kind accepts, answers and keeps.
///
/// One value of the implementing type is shared by every restart of the agent (it is the
/// agent's configuration); the mutable part lives in [`Agent::State`], built by [`Agent::init`].
pub trait Agent: Send + Sync + 'static {
    /// What callers send.
    type Request: Send + 'static;
    /// What the handler answers.
    type Reply: Send + 'static;
    /// The agent's own state.
    type State: Send + 'static;

    /// Builds the state when the agent starts or restarts. `restored` is the latest snapshot when
    /// one exists (after a restart of an agent with [`Persistence::AfterEachRequest`], or when the
    /// agent is activated from a snapshot).
    fn init(
        &self,
        ctx: &AgentContext,
        restored: Option<Snapshot>,
    ) -> impl Future<Output = Result<Self::State, AgentError>> + Send;

    /// Serves one request. An `Err` is returned to the caller and the agent goes on; a panic
    /// crashes the agent and hands it to its supervisor.
    fn handle(
        &self,
        ctx: &AgentContext,
        state: &mut Self::State,
        request: Self::Request,
    ) -> impl Future<Output = Result<Self::Reply, AgentError>> + Send;

    /// Called when the agent stops cleanly (stopped, or its supervisor shuts down); not after a
    /// crash. Release what the state holds here. The default does nothing.
    fn stopped(
        &self,
        ctx: &AgentContext,
        state: &mut Self::State,
    ) -> impl Future<Output = ()> + Send {
        let _ = (ctx, state);
        async {}
    }

    /// Encodes the state, for agents whose state should survive a restart or a move.
    /// The default keeps nothing.
    fn snapshot(&self, state: &Self::State) -> Result<Option<Snapshot>, AgentError> {
        let _ = state;
        Ok(None)
    }

    /// When the runtime takes snapshots on its own. The default is never.
    fn persistence(&self) -> Persistence {
        Persistence::Never
    }

    /// How many requests agents of this kind may have queued before callers wait or are
    /// refused (see [`AgentRef::tell`]); `None` (the default): the runtime's
    /// [`RuntimeConfig::mailbox_capacity`](crate::RuntimeConfig::mailbox_capacity).
    /// [`SpawnOptions::mailbox`](crate::SpawnOptions::mailbox) overrides both.
    fn mailbox_capacity(&self) -> Option<usize> {
        None
    }
}

/// When the runtime snapshots an agent's state on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Persistence {
    /// Only when asked ([`AgentRef::snapshot`]).
    #[default]
    Never,
    /// After every request that the handler served without error, so a restart resumes from the
    /// state as of the last served request. When the runtime has a store
    /// ([`RuntimeConfig::store`](crate::RuntimeConfig::store)) the snapshot is also written
    /// there, and the request's reply is sent only once it is durable: a runtime started on the
    /// same store later re-activates the agent (same id) from it.
    AfterEachRequest,
    /// At most once per period, after requests that the handler served without error, and when
    /// the agent stops cleanly; replies do not wait. Cheaper than `AfterEachRequest` for a busy
    /// agent; a crash loses at most the requests of the last period. In memory (for restarts)
    /// and in the runtime's store, when it has one.
    Every(std::time::Duration),
}

/// What an agent knows about itself and where it runs.
#[derive(Clone)]
pub struct AgentContext {
    pub(crate) id: AgentId,
    pub(crate) kind: std::sync::Arc<str>,
    pub(crate) runtime: WeakRuntime,
    pub(crate) starts: u64,
    pub(crate) cell: Option<ractor::ActorCell>,
    /// The idempotency key of the request being handled, if its caller gave one.
    pub(crate) call_key: Option<std::sync::Arc<str>>,
}

impl AgentContext {
    /// The agent's logical id.
    pub fn id(&self) -> &AgentId {
        &self.id
    }

    /// The agent's kind name.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The idempotency key of the request being handled, when its caller gave one: a workflow
    /// task's calls carry `run/task/attempt[/item]`, the same when a resumed run repeats an
    /// attempt that was in flight (so an agent with side effects can recognise the repeat).
    pub fn idempotency_key(&self) -> Option<&str> {
        self.call_key.as_deref()
    }

    /// How many times this agent has been started (1 on the first start, 2 after one restart...).
    pub fn starts(&self) -> u64 {
        self.starts
    }

    /// The runtime hosting the agent, while it runs (to call other agents).
    pub fn runtime(&self) -> Option<Runtime> {
        self.runtime.upgrade()
    }

    /// Links a raw ractor actor to this agent, as its child: if it fails, the agent fails (and
    /// its supervisor decides); if it stops cleanly, nothing happens. For helper actors a
    /// pattern or agent runs itself. The actor must not be linked elsewhere.
    pub fn link(&self, child: &ractor::ActorCell) -> Result<(), SupervisionError> {
        let cell = self
            .cell
            .as_ref()
            .ok_or_else(|| SupervisionError::NotAnAgent {
                agent: self.id.to_string(),
                what: "linking an actor",
            })?;
        child.link(cell.clone());
        Ok(())
    }

    /// Starts a supervisor of `children` linked to this agent: the agent's team. The team lives
    /// and dies with the agent (a restart of the agent stops the old team; build a new one in
    /// [`Agent::init`]). A team that exceeds its restart intensity makes the agent fail, so the
    /// failure escalates to the agent's own supervisor.
    pub async fn start_team(
        &self,
        config: crate::supervision::SupervisorConfig,
        children: Vec<crate::supervision::ChildSpec>,
    ) -> Result<crate::supervision::SupervisorRef, SupervisionError> {
        let not_an_agent = || SupervisionError::NotAnAgent {
            agent: self.id.to_string(),
            what: "starting a team",
        };
        let runtime = self.runtime().ok_or_else(not_an_agent)?;
        let cell = self.cell.clone().ok_or_else(not_an_agent)?;
        let child = config.name.clone();
        let (spec, team) = runtime.supervisor_spec(config.name.clone(), config, children);
        (spec.start)(cell)
            .await
            .map_err(|reason| SupervisionError::StartFailed { child, reason })?;
        Ok(team)
    }
}

impl std::fmt::Debug for AgentContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentContext")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("starts", &self.starts)
            .finish()
    }
}
