//! The supervisor actor: a thin shell that feeds child exits to [`SupervisorCore`] and carries
//! out its directives.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use ractor::rpc::CallResult;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};
use tokio::sync::watch;

use super::child::ChildSpec;
use super::policy::{Directive, Exit, SupervisorConfig, SupervisorCore};
use super::table::ChildTable;
use super::SupervisionError;
use crate::events::{EventBus, EventKind};
use crate::ids::AgentId;

/// Exits of not-yet-adopted actors kept at most (an adoption is in flight for microseconds).
const MAX_ORPHANS: usize = 1024;

/// How long a stopped child gets to finish before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The supervisor actor.
pub(crate) struct Supervisor {
    pub(crate) events: EventBus,
}

pub(crate) struct SupervisorArgs {
    pub(crate) config: SupervisorConfig,
    pub(crate) specs: Arc<Mutex<ChildTable<ChildSpec>>>,
    /// The handle whose watchers hear of this supervisor's removals.
    pub(crate) handle: SupervisorRef,
}

/// Requests to a supervisor.
pub(crate) enum SupervisorMsg {
    Add(ChildSpec, RpcReplyPort<Result<(), SupervisionError>>),
    Terminate(String, RpcReplyPort<bool>),
    /// A child the caller already started linked to this supervisor: take it over.
    Adopt(ChildSpec, ActorCell),
    /// Stop a child without waiting for it (the caller waits) and forget it.
    Dismiss(String),
    Which(RpcReplyPort<Vec<ChildInfo>>),
    StartDue(Vec<String>),
}

impl ractor::Message for SupervisorMsg {}

/// A child as its supervisor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// The child's id.
    pub id: String,
    /// Whether it runs now (false while it waits for a restart).
    pub running: bool,
}

pub(crate) struct SupervisorState {
    core: SupervisorCore,
    specs: Arc<Mutex<ChildTable<ChildSpec>>>,
    handle: SupervisorRef,
    cells: HashMap<String, ActorCell>,
    by_actor: HashMap<ActorId, String>,
    /// Exits of linked actors not adopted yet: a child started by a caller can fail before its
    /// `Adopt` arrives (ractor delivers supervision events ahead of messages).
    orphans: HashMap<ActorId, Exit>,
    /// Arrival order of `orphans`, to bound it: exits of actors linked here by someone else
    /// (never adopted) must not pile up.
    orphan_order: std::collections::VecDeque<ActorId>,
    /// Children stopped on purpose whose exit has not been seen yet.
    dismissed: std::collections::HashSet<ActorId>,
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut st = SupervisorState {
            core: SupervisorCore::new(args.config),
            specs: args.specs.clone(),
            handle: args.handle,
            cells: HashMap::new(),
            by_actor: HashMap::new(),
            orphans: HashMap::new(),
            orphan_order: Default::default(),
            dismissed: Default::default(),
        };
        let _ = st.handle.slot.specs.set(Arc::downgrade(&args.specs));
        let specs: Vec<ChildSpec> = st.specs.lock().iter().map(|(_, s)| s.clone()).collect();
        for spec in &specs {
            st.core.add(&spec.id, spec.restart);
        }
        for spec in &specs {
            if let Err(reason) = st.start(&myself, &spec.id).await {
                return Err(format!(
                    "supervisor {}: child {} failed to start: {reason}",
                    st.core.config().name,
                    spec.id
                )
                .into());
            }
        }
        Ok(st)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Add(spec, reply) => {
                let id = spec.id.clone();
                if st.specs.lock().contains(&id) {
                    let _ = reply.send(Err(SupervisionError::AlreadyExists { child: id }));
                    return Ok(());
                }
                st.core.add(&id, spec.restart);
                st.specs.lock().push(&id, spec);
                let result = st.start(&myself, &id).await;
                if result.is_err() {
                    st.forget(&id);
                }
                let result =
                    result.map_err(|reason| SupervisionError::StartFailed { child: id, reason });
                let _ = reply.send(result);
            }
            SupervisorMsg::Terminate(id, reply) => {
                let known = st.specs.lock().contains(&id);
                if known {
                    st.stop_child(&id).await;
                    st.forget(&id);
                }
                let _ = reply.send(known);
            }
            SupervisorMsg::Adopt(spec, cell) => {
                let id = spec.id.clone();
                if st.specs.lock().contains(&id) {
                    tracing::error!(supervisor = %st.core.config().name, child = %id, "duplicate child id; stopping the newcomer");
                    st.dismissed.insert(cell.get_id());
                    cell.stop(Some("duplicate child id".into()));
                    return Ok(());
                }
                st.core.add(&id, spec.restart);
                st.specs.lock().push(&id, spec);
                st.by_actor.insert(cell.get_id(), id.clone());
                st.core.started(&id);
                let early_exit = st.orphans.remove(&cell.get_id());
                st.cells.insert(id.clone(), cell.clone());
                if let Some(exit) = early_exit {
                    return self.child_exited(&myself, st, cell, exit).await;
                }
            }
            SupervisorMsg::Dismiss(id) => {
                st.core.stopping(&id);
                if let Some(cell) = st.cells.remove(&id) {
                    st.by_actor.remove(&cell.get_id());
                    st.dismissed.insert(cell.get_id());
                    cell.stop(Some("stopped on request".into()));
                }
                st.forget(&id);
            }
            SupervisorMsg::Which(reply) => {
                let infos = st
                    .core
                    .children()
                    .map(|id| ChildInfo {
                        id: id.to_string(),
                        running: st.cells.contains_key(id),
                    })
                    .collect();
                let _ = reply.send(infos);
            }
            SupervisorMsg::StartDue(ids) => {
                if !st.core.gave_up() {
                    let due = Directive::Start {
                        ids,
                        after: Duration::ZERO,
                    };
                    self.apply(&myself, st, vec![due]).await?;
                }
            }
        }
        Ok(())
    }

    /// A supervisor asked to stop stops its children first, in reverse start order, each
    /// given [`STOP_GRACE`] before it is killed (as OTP does on shutdown).
    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let order: Vec<String> = st.core.children().map(str::to_string).collect();
        for id in order.iter().rev() {
            st.stop_child(id).await;
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, exit) = match event {
            SupervisionEvent::ActorTerminated(cell, _, _) => (cell, Exit::Normal),
            SupervisionEvent::ActorFailed(cell, err) => (cell, Exit::Failed(err.to_string())),
            _ => return Ok(()),
        };
        self.child_exited(&myself, st, cell, exit).await
    }
}

impl Supervisor {
    async fn child_exited(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        st: &mut SupervisorState,
        cell: ActorCell,
        exit: Exit,
    ) -> Result<(), ActorProcessingErr> {
        let actor_id = cell.get_id();
        let Some(id) = st.by_actor.remove(&actor_id) else {
            if !st.dismissed.remove(&actor_id) {
                // Not ours yet: its `Adopt` is on the way (or it was linked here by someone else).
                st.orphans.insert(actor_id, exit);
                st.orphan_order.push_back(actor_id);
                while st.orphan_order.len() > MAX_ORPHANS {
                    if let Some(old) = st.orphan_order.pop_front() {
                        st.orphans.remove(&old);
                    }
                }
            }
            return Ok(());
        };
        st.cells.remove(&id);
        let failed = match &exit {
            Exit::Failed(reason) => Some(reason.clone()),
            _ => None,
        };
        let directives = st.core.on_exit(&id, exit, Instant::now());
        if let Some(reason) = failed {
            self.crash_report(st, &id, reason, &directives);
        }
        self.apply(myself, st, directives).await
    }

    /// The crash report of child `id`: one `AgentFailed` event (and `tracing` line) saying
    /// which child, why, and what `directives` do about it.
    fn crash_report(
        &self,
        st: &SupervisorState,
        id: &str,
        reason: String,
        directives: &[Directive],
    ) {
        let supervisor = st.core.config().name.clone();
        let action = super::policy::describe_action(id, directives);
        tracing::warn!(
            target: "troupe::crash",
            agent = id,
            supervisor = %supervisor,
            "agent {id} crashed: {reason}; {action}"
        );
        self.events.agent(
            &AgentId::new(id),
            EventKind::AgentFailed {
                supervisor,
                reason,
                action,
            },
        );
    }

    /// Carries out directives; an escalation becomes this actor's failure.
    async fn apply(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        st: &mut SupervisorState,
        directives: Vec<Directive>,
    ) -> Result<(), ActorProcessingErr> {
        let mut queue: VecDeque<Directive> = directives.into();
        while let Some(directive) = queue.pop_front() {
            match directive {
                Directive::Stop(ids) => {
                    for id in ids {
                        st.stop_child(&id).await;
                    }
                }
                Directive::Remove(id) => st.forget(&id),
                Directive::Start { ids, after } if !after.is_zero() => {
                    myself.send_after(after, move || SupervisorMsg::StartDue(ids));
                }
                Directive::Start { ids, .. } => {
                    for id in ids {
                        if !st.specs.lock().contains(&id) || st.cells.contains_key(&id) {
                            continue; // removed meanwhile, or already running
                        }
                        if let Err(reason) = st.start(myself, &id).await {
                            let failed = Exit::Failed(reason.clone());
                            let more = st.core.on_exit(&id, failed, Instant::now());
                            self.crash_report(st, &id, reason, &more);
                            queue.extend(more);
                            break; // the failure's directives restart the rest as needed
                        }
                    }
                }
                Directive::Escalate(reason) => {
                    let name = st.core.config().name.clone();
                    self.events.emit(
                        None,
                        None,
                        None,
                        EventKind::SupervisorEscalated {
                            supervisor: name,
                            reason: reason.clone(),
                        },
                    );
                    let ids: Vec<String> = st.cells.keys().cloned().collect();
                    for id in ids {
                        st.stop_child(&id).await;
                    }
                    return Err(reason.into());
                }
            }
        }
        Ok(())
    }
}

impl SupervisorState {
    async fn start(&mut self, myself: &ActorRef<SupervisorMsg>, id: &str) -> Result<(), String> {
        let start = {
            match self.specs.lock().get(id) {
                Some(spec) => spec.start.clone(),
                None => return Err(format!("no child {id}")),
            }
        };
        let cell = start(myself.get_cell()).await?;
        self.by_actor.insert(cell.get_id(), id.to_string());
        self.cells.insert(id.to_string(), cell);
        self.core.started(id);
        Ok(())
    }

    async fn stop_child(&mut self, id: &str) {
        self.core.stopping(id);
        if let Some(cell) = self.cells.remove(id) {
            self.by_actor.remove(&cell.get_id());
            self.dismissed.insert(cell.get_id());
            let stopped = cell
                .stop_and_wait(Some("stopped by supervisor".into()), Some(STOP_GRACE))
                .await;
            if stopped.is_err() {
                cell.kill();
            }
        }
    }

    fn forget(&mut self, id: &str) {
        self.core.remove(id);
        let removed = self.specs.lock().remove(id);
        if let Some(hook) = removed.and_then(|s| s.on_remove) {
            hook();
        }
        self.handle.removed();
    }
}

/// A handle to a supervisor. It follows the supervisor across its restarts.
#[derive(Clone, Debug, Default)]
pub struct SupervisorRef {
    pub(crate) slot: Arc<Shared>,
}

/// What every clone of a [`SupervisorRef`] shares.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    actor: parking_lot::RwLock<Option<ActorRef<SupervisorMsg>>>,
    /// Children forgotten for good so far.
    removed: AtomicU64,
    /// The number of removals, sent on each: made on the first [`SupervisorRef::watch_removals`]
    /// (most supervisors never have a watcher).
    removals: OnceLock<watch::Sender<u64>>,
    /// The supervisor's child table (the same across its restarts), once it ran. Weak: the
    /// table (and what its specs hold) goes with the supervisor, not with its last handle.
    specs: OnceLock<std::sync::Weak<Mutex<ChildTable<ChildSpec>>>>,
}

impl SupervisorRef {
    pub(crate) fn set(&self, actor: ActorRef<SupervisorMsg>) {
        *self.slot.actor.write() = Some(actor);
    }

    fn actor(&self) -> Option<ActorRef<SupervisorMsg>> {
        self.slot.actor.read().clone()
    }

    /// The supervisor forgot a child for good (after it left the child table).
    fn removed(&self) {
        let n = self.slot.removed.fetch_add(1, Ordering::AcqRel) + 1;
        if let Some(removals) = self.slot.removals.get() {
            removals.send_replace(n);
        }
    }

    /// Whether `id` is one of the supervisor's children: started, or waiting for a restart, not
    /// removed for good. No call: it reads the child table the supervisor shares with its
    /// handles (false before the supervisor ran, and once it is gone for good).
    pub fn has_child(&self, id: &str) -> bool {
        self.slot
            .specs
            .get()
            .and_then(std::sync::Weak::upgrade)
            .is_some_and(|specs| specs.lock().contains(id))
    }

    /// The "a child left for good" notification: the receiver sees the number of children the
    /// supervisor forgot (stopped on request, a temporary child's exit, a transient child's
    /// normal exit) change each time one is. Take it before looking at [`Self::has_child`] or
    /// [`Self::children`], so that a removal in between is not missed.
    pub fn watch_removals(&self) -> watch::Receiver<u64> {
        self.slot
            .removals
            .get_or_init(|| watch::channel(self.slot.removed.load(Ordering::Acquire)).0)
            .subscribe()
    }

    /// Waits until the supervisor actor this handle points at now has fully stopped (at once
    /// when none runs). A supervisor that gave up has then already failed to its parent: the
    /// parent has its failure queued.
    pub async fn stopped(&self) {
        if let Some(actor) = self.actor() {
            let _ = actor.get_cell().wait(None).await;
        }
    }

    /// Adds a child and starts it. Fails when the id is taken or the child fails to start (it
    /// is then not kept).
    pub async fn start_child(&self, spec: ChildSpec) -> Result<(), SupervisionError> {
        let Some(actor) = self.actor() else {
            let supervisor = "(not started)".to_string();
            return Err(SupervisionError::NotRunning { supervisor });
        };
        let supervisor = actor
            .get_name()
            .unwrap_or_else(|| actor.get_id().to_string());
        match actor.call(|r| SupervisorMsg::Add(spec, r), None).await {
            Ok(CallResult::Success(result)) => result,
            _ => Err(SupervisionError::NotRunning { supervisor }),
        }
    }

    /// Starts `spec` in the caller's task, linked to this supervisor, and hands it over with a
    /// one-way message: no round trip through the supervisor's mailbox. The caller guarantees
    /// the id is new (the runtime's directory does, for agents).
    pub(crate) async fn adopt(&self, spec: ChildSpec) -> Result<(), String> {
        let actor = self.actor().ok_or("supervisor is not running")?;
        let cell = (spec.start)(actor.get_cell()).await?;
        if let Err(e) = actor.send_message(SupervisorMsg::Adopt(spec, cell.clone())) {
            cell.stop(None);
            return Err(format!("supervisor is not running: {e}"));
        }
        Ok(())
    }

    /// Stops a child and forgets it, without waiting (see [`Self::terminate_child`]).
    pub(crate) fn dismiss(&self, id: &str) -> bool {
        self.actor().is_some_and(|a| {
            a.send_message(SupervisorMsg::Dismiss(id.to_string()))
                .is_ok()
        })
    }

    /// Stops a child and forgets it. Returns whether it existed.
    pub async fn terminate_child(&self, id: &str) -> bool {
        let id = id.to_string();
        let Some(actor) = self.actor() else {
            return false;
        };
        matches!(
            actor.call(|r| SupervisorMsg::Terminate(id, r), None).await,
            Ok(CallResult::Success(true))
        )
    }

    /// The children in start order.
    pub async fn children(&self) -> Vec<ChildInfo> {
        let Some(actor) = self.actor() else {
            return Vec::new();
        };
        match actor.call(SupervisorMsg::Which, None).await {
            Ok(CallResult::Success(infos)) => infos,
            _ => Vec::new(),
        }
    }

    /// The current supervisor actor's cell (to link further actors to it).
    pub fn cell(&self) -> Option<ActorCell> {
        self.actor().map(|a| a.get_cell())
    }

    /// Whether the supervisor runs.
    pub fn is_running(&self) -> bool {
        self.actor()
            .is_some_and(|a| a.get_status() == ractor::ActorStatus::Running)
    }
}
