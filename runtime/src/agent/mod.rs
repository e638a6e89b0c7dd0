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
mod reference;

use std::future::Future;

pub(crate) use actor::{AgentActor, AgentSlot};
pub use dynamic::{DynAgent, DynAgentExt, DynAgentRef};
pub use function::FnAgent;
pub use kind::{AgentKind, KindLookup, KindRegistry};
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
}

/// When the runtime snapshots an agent's state on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Persistence {
    /// Only when asked ([`AgentRef::snapshot`]).
    #[default]
    Never,
    /// After every request that the handler served without error, so a restart resumes from the
    /// state as of the last served request.
    AfterEachRequest,
}

/// What an agent knows about itself and where it runs.
#[derive(Clone)]
pub struct AgentContext {
    pub(crate) id: AgentId,
    pub(crate) kind: std::sync::Arc<str>,
    pub(crate) runtime: WeakRuntime,
    pub(crate) starts: u64,
    pub(crate) cell: Option<ractor::ActorCell>,
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
    pub fn link(&self, child: &ractor::ActorCell) -> Result<(), String> {
        let cell = self
            .cell
            .as_ref()
            .ok_or("only a running agent can link actors")?;
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
    ) -> Result<crate::supervision::SupervisorRef, String> {
        let runtime = self.runtime().ok_or("the runtime is gone")?;
        let cell = self
            .cell
            .clone()
            .ok_or("a team can only be started by a running agent")?;
        let (spec, team) = runtime.supervisor_spec(config.name.clone(), config, children);
        (spec.start)(cell).await?;
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
