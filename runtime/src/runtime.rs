//! The runtime (one node): a value you start and shut down. It owns its root supervisor, its
//! agent directory, its kind registry and its event bus; nothing is process-global, so several
//! runtimes can live in one process without seeing each other.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};
use ractor::{Actor, ActorRef};
use serde_json::Value;

use crate::agent::{Agent, AgentActor, AgentRef, AgentSlot, DynAgentRef, KindRegistry};
use crate::error::{CallError, SpawnError};
use crate::events::{EventBus, EventKind, EventStream};
use crate::ids::{AgentId, RunId};
use crate::snapshot::Snapshot;
use crate::supervision::{
    Backoff, ChildSpec, Restart, Supervisor, SupervisorArgs, SupervisorConfig, SupervisorMsg,
    SupervisorRef,
};

/// Settings of a runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The node's name: prefixes run ids and tags events and traces.
    pub name: String,
    /// Undelivered events kept per subscriber before it lags.
    pub event_capacity: usize,
    /// The root supervisor (children: `agents`, `workflows`, user supervisors).
    pub root: SupervisorConfig,
    /// The default supervisor of agents spawned with [`Runtime::spawn`].
    pub agents: SupervisorConfig,
    /// What the runs' pools may need at once (their `resources`); default: this machine's
    /// cores and memory. A run whose pools need more is refused
    /// ([`crate::workflow::WorkflowError::InsufficientResources`]).
    pub capacity: crate::workflow::resources::Capacity,
    /// Where agents that persist ([`Persistence::AfterEachRequest`],
    /// [`Persistence::Every`](crate::Persistence::Every)) keep their snapshots so that they
    /// outlive the process: an agent spawned (under the same id) by a runtime on the same store
    /// starts from its stored snapshot. `None` (the default): snapshots stay in memory.
    ///
    /// [`Persistence::AfterEachRequest`]: crate::Persistence::AfterEachRequest
    pub store: Option<Arc<dyn crate::store::Store>>,
    /// Where the runtime records its metrics (default none): the runtime starts the
    /// consumer of its events ([`crate::metrics::Metrics::observe`]) and its pools record
    /// `troupe_agent_call_duration_seconds`.
    pub metrics: Option<crate::metrics::Metrics>,
    /// Messages an agent's mailbox holds before callers wait (`ask`, `tell_wait`) or are
    /// refused (`tell`); default [`crate::agent::DEFAULT_MAILBOX_CAPACITY`]. An agent kind
    /// ([`crate::Agent::mailbox_capacity`]) or a spawn ([`SpawnOptions::mailbox`]) may set
    /// its own.
    pub mailbox_capacity: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            name: "node".into(),
            event_capacity: 16 * 1024,
            root: SupervisorConfig::new("root"),
            agents: SupervisorConfig::new("agents").intensity(20, Duration::from_secs(10)),
            capacity: crate::workflow::resources::Capacity::of_this_machine(),
            store: None,
            metrics: None,
            mailbox_capacity: crate::agent::DEFAULT_MAILBOX_CAPACITY,
        }
    }
}

impl RuntimeConfig {
    /// The default settings with a node name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Keeps the snapshots of persisting agents in `store` (see [`RuntimeConfig::store`]).
    pub fn with_store(mut self, store: Arc<dyn crate::store::Store>) -> Self {
        self.store = Some(store);
        self
    }
}

/// How an agent is spawned.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    /// Its restart type (default permanent).
    pub restart: Restart,
    /// The supervisor hosting it (default: the runtime's `agents` supervisor).
    pub supervisor: Option<SupervisorRef>,
    /// A snapshot to start from (activation of a saved or moved agent).
    pub snapshot: Option<Snapshot>,
    pub(crate) kind: Option<Arc<str>>,
    /// Its mailbox capacity (default: its kind's, else the runtime's).
    pub mailbox: Option<usize>,
}

impl SpawnOptions {
    /// Sets the restart type.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Hosts the agent under `supervisor`.
    pub fn under(mut self, supervisor: SupervisorRef) -> Self {
        self.supervisor = Some(supervisor);
        self
    }

    /// Starts the agent from `snapshot`.
    pub fn from_snapshot(mut self, snapshot: Snapshot) -> Self {
        self.snapshot = Some(snapshot);
        self
    }

    /// Bounds its mailbox at `capacity` messages (at least 1).
    pub fn mailbox(mut self, capacity: usize) -> Self {
        self.mailbox = Some(capacity.max(1));
        self
    }
}

/// A directory entry lives as long as some supervisor can still start the agent: the child
/// spec holds `token`, the entry a weak reference to it. When the last spec is gone (its
/// supervisor ended for good, e.g. the team of an agent that restarted), the entry is stale
/// and the id free again.
struct DirEntry {
    alive: Weak<()>,
    kind: Arc<str>,
    slot: Arc<dyn Any + Send + Sync>,
    cell: Arc<dyn Fn() -> Option<ractor::ActorCell> + Send + Sync>,
    dynamic: Option<DynAgentRef>,
    supervisor: SupervisorRef,
}

pub(crate) struct RuntimeInner {
    name: String,
    pub(crate) capacity: crate::workflow::resources::Capacity,
    metrics: Option<crate::metrics::Metrics>,
    dead_letters: parking_lot::RwLock<Option<Arc<dyn crate::store::Store>>>,
    pub(crate) events: EventBus,
    kinds: KindRegistry,
    dispatcher: parking_lot::RwLock<Option<Arc<dyn crate::workflow::TaskDispatcher>>>,
    directory: DashMap<AgentId, DirEntry>,
    root: ActorRef<SupervisorMsg>,
    /// A handle to the root, whose watchers hear of the root's removals.
    root_ref: SupervisorRef,
    agents: SupervisorRef,
    pub(crate) workflows: SupervisorRef,
    pub(crate) runs: AtomicU64,
    shutting_down: AtomicBool,
    root_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    store: Option<Arc<dyn crate::store::Store>>,
    mailbox_capacity: usize,
}

/// A Troupe node: supervision tree, agents, workflows and events. Cheap to clone (shared).
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
}

/// A non-owning reference to a runtime (what agents hold, so they do not keep it alive).
#[derive(Clone, Default)]
pub struct WeakRuntime(Weak<RuntimeInner>);

impl WeakRuntime {
    /// The runtime, if it still exists.
    pub fn upgrade(&self) -> Option<Runtime> {
        self.0.upgrade().map(|inner| Runtime { inner })
    }
}

/// The runtime could not start.
#[derive(Debug, thiserror::Error)]
#[error("runtime {name} failed to start: {reason}")]
pub struct StartError {
    name: String,
    reason: String,
}

impl Runtime {
    /// Starts a runtime: its root supervisor with the `agents` and `workflows` supervisors.
    pub async fn start(config: RuntimeConfig) -> Result<Runtime, StartError> {
        let events = EventBus::new(&config.name, config.event_capacity);
        let (agents_spec, agents) =
            ChildSpec::supervisor("agents", config.agents.clone(), vec![], events.clone());
        let workflows_cfg = SupervisorConfig::new("workflows")
            .intensity(1000, Duration::from_secs(1))
            .backoff(Backoff::NONE);
        let (workflows_spec, workflows) =
            ChildSpec::supervisor("workflows", workflows_cfg, vec![], events.clone());
        let root_ref = SupervisorRef::default();
        let args = SupervisorArgs {
            handle: root_ref.clone(),
            config: config.root.clone(),
            specs: Arc::new(Mutex::new(
                [agents_spec, workflows_spec]
                    .into_iter()
                    .map(|c| (c.id().to_string(), c))
                    .collect(),
            )),
        };
        let root_actor = Supervisor {
            events: events.clone(),
        };
        let (root, handle) =
            Actor::spawn(None, root_actor, args)
                .await
                .map_err(|e| StartError {
                    name: config.name.clone(),
                    reason: e.to_string(),
                })?;
        let inner = Arc::new(RuntimeInner {
            name: config.name,
            capacity: config.capacity,
            metrics: config.metrics,
            dead_letters: parking_lot::RwLock::new(None),
            events,
            kinds: KindRegistry::new(),
            dispatcher: parking_lot::RwLock::new(None),
            directory: DashMap::new(),
            root_ref: {
                root_ref.set(root.clone());
                root_ref
            },
            root,
            agents,
            workflows,
            runs: AtomicU64::new(0),
            shutting_down: AtomicBool::new(false),
            root_task: Mutex::new(None),
            store: config.store,
            mailbox_capacity: config.mailbox_capacity.max(1),
        });
        // Watch the root: if it ends while nobody asked, the whole tree gave up. Report it.
        let weak = Arc::downgrade(&inner);
        let events = inner.events.clone();
        let watcher = tokio::spawn(async move {
            let _ = handle.await;
            let asked = weak
                .upgrade()
                .is_none_or(|i| i.shutting_down.load(Ordering::SeqCst));
            if !asked {
                events.emit(
                    None,
                    None,
                    None,
                    EventKind::RootFailed {
                        reason: "the root supervisor exceeded its restart intensity".into(),
                    },
                );
            }
        });
        *inner.root_task.lock() = Some(watcher);
        let rt = Runtime { inner };
        if let Some(m) = &rt.inner.metrics {
            drop(m.observe(&rt));
        }
        Ok(rt)
    }

    /// Routes the pool calls of workflows submitted from now on through `dispatcher` instead
    /// of local agents (a cluster node installs one to spread tasks over its members).
    pub fn set_dispatcher(&self, dispatcher: Arc<dyn crate::workflow::TaskDispatcher>) {
        *self.inner.dispatcher.write() = Some(dispatcher);
    }

    /// Keeps one-way JSON messages that cannot be delivered in `store`'s dead-letter table
    /// from now on (see `troupe dlq`); without one they are only refused to their sender.
    pub fn set_dead_letter_store(&self, store: Arc<dyn crate::store::Store>) {
        *self.inner.dead_letters.write() = Some(store);
    }

    /// The store undeliverable one-way messages are kept in, if set.
    pub fn dead_letter_store(&self) -> Option<Arc<dyn crate::store::Store>> {
        self.inner.dead_letters.read().clone()
    }

    /// The installed task dispatcher, if any.
    pub fn dispatcher(&self) -> Option<Arc<dyn crate::workflow::TaskDispatcher>> {
        self.inner.dispatcher.read().clone()
    }

    /// The store persisting agents keep their snapshots in, if the runtime has one.
    pub fn store(&self) -> Option<&Arc<dyn crate::store::Store>> {
        self.inner.store.as_ref()
    }

    /// The metrics the runtime records to ([`RuntimeConfig::metrics`]).
    pub fn metrics(&self) -> Option<&crate::metrics::Metrics> {
        self.inner.metrics.as_ref()
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A non-owning reference.
    pub fn downgrade(&self) -> WeakRuntime {
        WeakRuntime(Arc::downgrade(&self.inner))
    }

    /// The agent kinds this runtime can activate by name.
    pub fn kinds(&self) -> &KindRegistry {
        &self.inner.kinds
    }

    /// Subscribes to the event stream (events from now on).
    pub fn subscribe(&self) -> EventStream {
        self.inner.events.subscribe()
    }

    /// The publishing side of the event stream.
    pub fn events(&self) -> &EventBus {
        &self.inner.events
    }

    /// Whether the root supervisor still runs.
    pub fn is_healthy(&self) -> bool {
        self.inner.root.get_status() == ractor::ActorStatus::Running
    }

    /// Spawns agent `id` under the default agents supervisor, restarted on any exit.
    pub async fn spawn<A: Agent>(
        &self,
        id: impl Into<AgentId>,
        agent: A,
    ) -> Result<AgentRef<A>, SpawnError> {
        self.spawn_with(id, agent, SpawnOptions::default()).await
    }

    /// Spawns agent `id` with options (restart type, supervisor, snapshot).
    pub async fn spawn_with<A: Agent>(
        &self,
        id: impl Into<AgentId>,
        agent: A,
        options: SpawnOptions,
    ) -> Result<AgentRef<A>, SpawnError> {
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return Err(SpawnError::ShuttingDown);
        }
        let supervisor = options
            .supervisor
            .clone()
            .unwrap_or_else(|| self.inner.agents.clone());
        let (spec, agent_ref) = self.agent_child(id, agent, options, supervisor.clone())?;
        let id = agent_ref.id().clone();
        if let Err(reason) = supervisor.adopt(spec).await {
            self.inner.directory.remove(&id);
            return Err(SpawnError::StartFailed { agent: id, reason });
        }
        Ok(agent_ref)
    }

    /// Registers agent `id` in the directory and returns the child spec that runs it, for
    /// building supervision trees by hand; start it with [`SupervisorRef::start_child`] or pass
    /// it to [`Runtime::start_supervisor`]. Until started, calls fail with `AgentStopped`.
    pub fn agent_spec<A: Agent>(
        &self,
        id: impl Into<AgentId>,
        agent: A,
        restart: Restart,
    ) -> Result<(ChildSpec, AgentRef<A>), SpawnError> {
        let options = SpawnOptions::default().restart(restart);
        self.agent_child(id, agent, options, SupervisorRef::default())
    }

    fn agent_child<A: Agent>(
        &self,
        id: impl Into<AgentId>,
        agent: A,
        options: SpawnOptions,
        supervisor: SupervisorRef,
    ) -> Result<(ChildSpec, AgentRef<A>), SpawnError> {
        let id = id.into();
        let kind = options
            .kind
            .unwrap_or_else(|| short_type_name::<A>().into());
        let capacity = options
            .mailbox
            .or_else(|| agent.mailbox_capacity())
            .unwrap_or(self.inner.mailbox_capacity)
            .max(1);
        let slot = Arc::new(AgentSlot {
            mailbox: crate::agent::Mailbox::new(capacity),
            id: id.clone(),
            kind: kind.clone(),
            agent: Arc::new(agent),
            current: RwLock::new(None),
            starts: AtomicU64::new(0),
            last_snapshot: Mutex::new(options.snapshot),
            runtime: self.downgrade(),
            events: self.inner.events.clone(),
            started: std::sync::OnceLock::new(),
            store: crate::agent::SlotStore::new(self.inner.store.clone()),
        });
        let token = Arc::new(());
        let cell_slot = slot.clone();
        let entry = DirEntry {
            alive: Arc::downgrade(&token),
            kind,
            slot: slot.clone(),
            cell: Arc::new(move || cell_slot.current().map(|a| a.get_cell())),
            dynamic: None,
            supervisor,
        };
        match self.inner.directory.entry(id.clone()) {
            dashmap::Entry::Occupied(mut o) if o.get().alive.strong_count() == 0 => {
                o.insert(entry);
            }
            dashmap::Entry::Occupied(_) => return Err(SpawnError::AlreadyExists(id)),
            dashmap::Entry::Vacant(v) => {
                v.insert(entry);
            }
        }
        let weak = self.downgrade();
        let start_slot = slot.clone();
        let removed_id = id.clone();
        let removed_token = Arc::downgrade(&token);
        let spec = ChildSpec::new(id.as_str(), options.restart, move |sup| {
            let _alive = &token;
            let actor = AgentActor {
                slot: start_slot.clone(),
            };
            async move {
                Actor::spawn_linked(None, actor, (), sup)
                    .await
                    .map(|(r, _)| r.get_cell())
                    .map_err(|e| crate::supervision::startup_reason(e).into())
            }
        })
        .on_remove(move || {
            if let Some(rt) = weak.upgrade() {
                // Only this incarnation's entry: the id may have been taken again since.
                rt.inner
                    .directory
                    .remove_if(&removed_id, |_, e| e.alive.ptr_eq(&removed_token));
            }
        });
        Ok((spec, AgentRef { slot }))
    }

    /// Spawns an agent of a registered kind from its JSON config.
    pub async fn spawn_kind(
        &self,
        kind: &str,
        id: impl Into<AgentId>,
        config: Value,
    ) -> Result<DynAgentRef, SpawnError> {
        self.spawn_kind_with(kind, id, config, SpawnOptions::default())
            .await
    }

    /// Spawns an agent of a registered kind with options.
    pub async fn spawn_kind_with(
        &self,
        kind: &str,
        id: impl Into<AgentId>,
        config: Value,
        options: SpawnOptions,
    ) -> Result<DynAgentRef, SpawnError> {
        let Some(k) = self.inner.kinds.get(kind) else {
            return Err(SpawnError::UnknownKind {
                kind: kind.to_string(),
                known: self.inner.kinds.names().join(", "),
            });
        };
        let snapshot = options.snapshot.clone();
        let dynamic = k.spawn(self, id.into(), config, snapshot, options).await?;
        if let Some(mut entry) = self.inner.directory.get_mut(dynamic.id()) {
            entry.dynamic = Some(dynamic.clone());
        }
        Ok(dynamic)
    }

    /// The typed handle of agent `id`.
    pub fn agent<A: Agent>(&self, id: &str) -> Result<AgentRef<A>, CallError> {
        let entry = self.entry(id)?;
        match entry.slot.clone().downcast::<AgentSlot<A>>() {
            Ok(slot) => Ok(AgentRef { slot }),
            Err(_) => Err(CallError::WrongKind {
                agent: AgentId::new(id),
                expected: short_type_name::<A>().into(),
                actual: entry.kind.to_string(),
            }),
        }
    }

    /// The dynamic handle of agent `id` (agents of registered kinds only).
    pub fn dyn_agent(&self, id: &str) -> Result<DynAgentRef, CallError> {
        let entry = self.entry(id)?;
        entry.dynamic.clone().ok_or_else(|| CallError::WrongKind {
            agent: AgentId::new(id),
            expected: "an agent of a registered kind".into(),
            actual: entry.kind.to_string(),
        })
    }

    /// Calls agent `id` with a JSON request.
    pub async fn ask_value(
        &self,
        id: &str,
        request: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, CallError> {
        let agent = self.dyn_agent(id)?;
        agent.ask_value(request, timeout).await
    }

    /// Stops agent `id` for good (no restart) and waits until it has stopped. Returns whether
    /// it existed.
    pub async fn stop_agent(&self, id: &str) -> bool {
        let (supervisor, cell, alive) = match self.inner.directory.get(id) {
            Some(e) if e.alive.strong_count() > 0 => {
                (e.supervisor.clone(), (e.cell)(), e.alive.clone())
            }
            _ => return false,
        };
        // The supervisor marks the exit as asked for before stopping the actor; we wait here,
        // not in its mailbox.
        let known = supervisor.dismiss(id);
        if let Some(cell) = cell {
            let _ = cell.wait(Some(Duration::from_secs(10))).await;
        }
        self.inner
            .directory
            .remove_if(id, |_, e| e.alive.ptr_eq(&alive));
        known
    }

    /// Every agent in the directory with its kind, sorted by id.
    pub fn agents(&self) -> Vec<(AgentId, String)> {
        let mut all: Vec<_> = self
            .inner
            .directory
            .iter()
            .filter(|e| e.alive.strong_count() > 0)
            .map(|e| (e.key().clone(), e.kind.to_string()))
            .collect();
        all.sort();
        all
    }

    /// A supervisor spec bound to this runtime's event bus, for hand-built trees.
    pub fn supervisor_spec(
        &self,
        id: impl Into<String>,
        config: SupervisorConfig,
        children: Vec<ChildSpec>,
    ) -> (ChildSpec, SupervisorRef) {
        ChildSpec::supervisor(id, config, children, self.inner.events.clone())
    }

    /// Starts a supervisor with `children` under the root supervisor.
    pub async fn start_supervisor(
        &self,
        config: SupervisorConfig,
        children: Vec<ChildSpec>,
    ) -> Result<SupervisorRef, crate::supervision::SupervisionError> {
        let id = config.name.clone();
        let (spec, handle) = self.supervisor_spec(id, config, children);
        self.inner.root_ref.start_child(spec).await?;
        Ok(handle)
    }

    /// The default supervisor of agents.
    pub fn agents_supervisor(&self) -> SupervisorRef {
        self.inner.agents.clone()
    }

    /// The root supervisor.
    pub fn root(&self) -> SupervisorRef {
        self.inner.root_ref.clone()
    }

    /// Removes `id` from the directory without stopping it (its supervisor is going away).
    pub(crate) fn forget_agent(&self, id: &AgentId) {
        self.inner.directory.remove(id);
    }

    pub(crate) fn next_run_id(&self, workflow: &str) -> RunId {
        let n = self.inner.runs.fetch_add(1, Ordering::Relaxed) + 1;
        RunId::new(format!("{}/{}#{}", self.inner.name, workflow, n))
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    fn entry(
        &self,
        id: &str,
    ) -> Result<dashmap::mapref::one::Ref<'_, AgentId, DirEntry>, CallError> {
        self.inner
            .directory
            .get(id)
            .filter(|e| e.alive.strong_count() > 0)
            .ok_or_else(|| CallError::NoSuchAgent {
                agent: AgentId::new(id),
            })
    }

    /// Stops every actor of the runtime (children first) and waits for them.
    pub async fn shutdown(&self) {
        if self.inner.shutting_down.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = self
            .inner
            .root
            .stop_and_wait(
                Some("runtime shutdown".into()),
                Some(Duration::from_secs(10)),
            )
            .await;
        let watcher = self.inner.root_task.lock().take();
        if let Some(w) = watcher {
            let _ = w.await;
        }
        self.inner.directory.clear();
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("name", &self.inner.name)
            .finish()
    }
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}
