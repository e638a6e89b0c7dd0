//! [`FnAgent`]: an agent written as a function, for stateless agents and tests.

use std::sync::Arc;

use super::{Agent, AgentContext};
use crate::error::AgentError;
use crate::snapshot::Snapshot;

type Handler<Req, Rep> = dyn Fn(Req) -> Result<Rep, AgentError> + Send + Sync;

/// A stateless agent that answers each request with a function. A panic in the function
/// crashes the agent (its supervisor restarts it).
///
/// ```
/// use troupe_runtime::{AgentError, FnAgent, Runtime};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let rt = Runtime::start(Default::default()).await.unwrap();
/// let double = FnAgent::new(|n: u64| Ok::<_, AgentError>(n * 2));
/// rt.kinds().register("demo.double", "doubles numbers", move |_config| Ok(double.clone()));
/// let agent = rt.spawn_kind("demo.double", "d", serde_json::Value::Null).await.unwrap();
/// assert_eq!(agent.ask_value(serde_json::json!(21), None).await.unwrap(), 42);
/// rt.shutdown().await;
/// # }
/// ```
pub struct FnAgent<Req, Rep> {
    f: Arc<Handler<Req, Rep>>,
}

impl<Req, Rep> FnAgent<Req, Rep> {
    /// An agent running `f` for each request.
    pub fn new(f: impl Fn(Req) -> Result<Rep, AgentError> + Send + Sync + 'static) -> Self {
        Self { f: Arc::new(f) }
    }
}

impl<Req, Rep> Clone for FnAgent<Req, Rep> {
    fn clone(&self) -> Self {
        Self { f: self.f.clone() }
    }
}

impl<Req, Rep> std::fmt::Debug for FnAgent<Req, Rep> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnAgent")
    }
}

impl<Req, Rep> Agent for FnAgent<Req, Rep>
where
    Req: Send + 'static,
    Rep: Send + 'static,
{
    type Request = Req;
    type Reply = Rep;
    type State = ();

    async fn init(
        &self,
        _ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        _state: &mut (),
        request: Req,
    ) -> Result<Rep, AgentError> {
        (self.f)(request)
    }
}
