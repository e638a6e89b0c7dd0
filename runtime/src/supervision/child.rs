//! Child specifications: what a supervisor starts and restarts.

use std::future::Future;
use std::sync::Arc;

use parking_lot::Mutex;
use ractor::{Actor, ActorCell};

use super::actor::{Supervisor, SupervisorArgs, SupervisorRef};
use super::policy::{Restart, SupervisorConfig};
use super::table::ChildTable;
use crate::events::EventBus;
use crate::BoxFuture;

type StartFn = dyn Fn(ActorCell) -> BoxFuture<'static, Result<ActorCell, String>> + Send + Sync;

/// A child of a supervisor: an id unique among its siblings, a restart type, and how to start
/// it linked to the supervisor (called again on every restart).
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) id: String,
    pub(crate) restart: Restart,
    pub(crate) start: Arc<StartFn>,
    pub(crate) on_remove: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .finish()
    }
}

impl ChildSpec {
    /// A child started by `start`, which receives the supervisor's cell and must spawn the
    /// child linked to it (e.g. `Actor::spawn_linked(None, actor, args, supervisor)`). Its
    /// error is any error (`?` converts a [`ractor::SpawnErr`] or a message), boxed as an
    /// actor's own errors are ([`ractor::ActorProcessingErr`]); the supervisor reports its text.
    pub fn new<F, Fut>(id: impl Into<String>, restart: Restart, start: F) -> Self
    where
        F: Fn(ActorCell) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ActorCell, ractor::ActorProcessingErr>> + Send + 'static,
    {
        Self {
            id: id.into(),
            restart,
            start: Arc::new(move |sup| {
                let started = start(sup);
                Box::pin(async move { started.await.map_err(|e| e.to_string()) })
            }),
            on_remove: None,
        }
    }

    /// A raw ractor actor as a child: `make` builds the actor and its arguments for each start.
    pub fn actor<T, F>(id: impl Into<String>, restart: Restart, make: F) -> Self
    where
        T: Actor,
        F: Fn() -> (T, T::Arguments) + Send + Sync + 'static,
    {
        let make = Arc::new(make);
        Self::new(id, restart, move |sup| {
            let (actor, args) = make();
            async move {
                Actor::spawn_linked(None, actor, args, sup)
                    .await
                    .map(|(r, _)| r.get_cell())
                    .map_err(|e| crate::supervision::startup_reason(e).into())
            }
        })
    }

    /// A nested supervisor with its own strategy and children, and a handle to it that follows
    /// it across restarts. Children added to it later (with
    /// [`super::SupervisorRef::start_child`]) are kept across its restarts.
    pub fn supervisor(
        id: impl Into<String>,
        config: SupervisorConfig,
        children: Vec<ChildSpec>,
        events: EventBus,
    ) -> (Self, SupervisorRef) {
        let table = children.into_iter().map(|c| (c.id.clone(), c)).collect();
        let specs: Arc<Mutex<ChildTable<ChildSpec>>> = Arc::new(Mutex::new(table));
        let handle = SupervisorRef::default();
        let slot = handle.clone();
        let spec = Self::new(id, Restart::Permanent, move |sup| {
            let args = SupervisorArgs {
                config: config.clone(),
                specs: specs.clone(),
                handle: slot.clone(),
            };
            let actor = Supervisor {
                events: events.clone(),
            };
            let slot = slot.clone();
            async move {
                let (actor, _) = Actor::spawn_linked(None, actor, args, sup)
                    .await
                    .map_err(crate::supervision::startup_reason)?;
                slot.set(actor.clone());
                Ok(actor.get_cell())
            }
        });
        (spec, handle)
    }

    /// Sets the restart type.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Runs `f` when the supervisor forgets the child for good (temporary exit, transient normal
    /// exit, terminated on request).
    pub fn on_remove(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_remove = Some(Arc::new(f));
        self
    }

    /// The child's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}
