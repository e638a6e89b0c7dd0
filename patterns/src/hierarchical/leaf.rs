//! Function leaves at work: a call runs in the team agent's task with its panics caught; a
//! panic is handed to the team's supervisor as the failure of a transient child standing for
//! the leaf, so the team's real restart policy (intensity, backoff, strategy) decides: restart
//! (the leaf's call runs again) or give up (the team agent fails to its parent).
//!
//! The stand-in child exists only while the leaf is failed: it fails at its first start with
//! the panic as its reason (the supervisor counts it and emits `AgentFailed` for it), and at
//! its restart tells the waiting call to go again, then exits normally and is forgotten.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::oneshot;
use troupe_runtime::ractor::{Actor, ActorProcessingErr, ActorRef};
use troupe_runtime::{AgentError, ChildSpec, Restart, SupervisorRef};

use super::spec::{FunctionLeaf, LeafCall};

/// How a function leaf's call ended.
pub(crate) enum LeafOutcome {
    /// It answered (a value or an error).
    Answered(Result<Value, AgentError>),
    /// It panicked, with this message.
    Panicked(String),
}

/// Runs one call of a leaf, catching its panics.
pub(crate) async fn call(leaf: &FunctionLeaf, call: LeafCall) -> LeafOutcome {
    match leaf {
        FunctionLeaf::Sync(f) => match catch_unwind(AssertUnwindSafe(|| f(call))) {
            Ok(answer) => LeafOutcome::Answered(answer),
            Err(panic) => LeafOutcome::Panicked(panic_message(panic)),
        },
        FunctionLeaf::Async(f) => match catch_unwind(AssertUnwindSafe(|| f(call))) {
            Ok(fut) => match (CatchUnwind { inner: fut }).await {
                Ok(answer) => LeafOutcome::Answered(answer),
                Err(message) => LeafOutcome::Panicked(message),
            },
            Err(panic) => LeafOutcome::Panicked(panic_message(panic)),
        },
    }
}

/// Polls a future, turning a panic into an error.
struct CatchUnwind<F> {
    inner: F,
}

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.inner;
        match catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic_message(panic))),
        }
    }
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(s) => *s,
        Err(panic) => match panic.downcast::<&str>() {
            Ok(s) => s.to_string(),
            Err(_) => "a panic without a message".into(),
        },
    }
}

/// Hands a leaf's panic to the team supervisor as child `id` and waits until the supervisor
/// restarts it. `Err` when the team gave up instead (or is not running).
pub(crate) async fn report_failure(
    team: &SupervisorRef,
    id: String,
    reason: String,
) -> Result<(), ()> {
    let (tx, rx) = oneshot::channel();
    let restarted = Arc::new(Mutex::new(Some(tx)));
    let starts = Arc::new(AtomicU32::new(0));
    let spec = ChildSpec::actor(id, Restart::Transient, move || {
        let stand_in = StandIn {
            first: starts.fetch_add(1, Ordering::Relaxed) == 0,
            reason: reason.clone(),
            restarted: restarted.clone(),
        };
        (stand_in, ())
    });
    team.start_child(spec).await.map_err(|_| ())?;
    // The sender lives in the child's spec: it is dropped, unsent, if the team gives up.
    rx.await.map_err(|_| ())
}

/// The child standing for a failed leaf.
struct StandIn {
    first: bool,
    reason: String,
    restarted: Arc<Mutex<Option<oneshot::Sender<()>>>>,
}

/// The stand-in takes no messages.
enum NoMessages {}

impl troupe_runtime::ractor::Message for NoMessages {}

impl Actor for StandIn {
    type Msg = NoMessages;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<NoMessages>,
        _: (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn post_start(
        &self,
        myself: ActorRef<NoMessages>,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        if self.first {
            return Err(self.reason.clone().into());
        }
        if let Some(tx) = self.restarted.lock().take() {
            let _ = tx.send(());
        }
        myself.stop(None);
        Ok(())
    }
}
