//! Agents and helpers shared by the runtime's integration tests.
#![allow(dead_code)]

use std::time::Duration;

use serde::{Deserialize, Serialize};
use troupe_runtime::{
    Agent, AgentContext, AgentError, Event, EventKind, EventStream, Persistence, Snapshot,
};

/// Counts; panics on `Crash`; errors on `Reject`; waits on `Sleep`.
pub struct Counter {
    pub persistent: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CounterReq {
    Add(u64),
    Crash,
    Reject,
    Sleep(u64),
}

impl Agent for Counter {
    type Request = CounterReq;
    type Reply = u64;
    type State = u64;

    async fn init(&self, _ctx: &AgentContext, restored: Option<Snapshot>) -> Result<u64, AgentError> {
        match restored {
            Some(s) => s.decode().map_err(|e| AgentError::permanent(e.to_string())),
            None => Ok(0),
        }
    }

    async fn handle(&self, _ctx: &AgentContext, total: &mut u64, req: CounterReq) -> Result<u64, AgentError> {
        match req {
            CounterReq::Add(n) => {
                *total += n;
                Ok(*total)
            }
            CounterReq::Crash => panic!("counter crashed on purpose"),
            CounterReq::Reject => Err(AgentError::permanent("rejected on purpose")),
            CounterReq::Sleep(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(*total)
            }
        }
    }

    fn snapshot(&self, total: &u64) -> Result<Option<Snapshot>, AgentError> {
        Snapshot::encode(total)
            .map(Some)
            .map_err(|e| AgentError::permanent(e.to_string()))
    }

    fn persistence(&self) -> Persistence {
        if self.persistent {
            Persistence::AfterEachRequest
        } else {
            Persistence::Never
        }
    }
}

/// Waits for the first event matching `pred` (the stream is the synchronisation, not a sleep).
pub async fn wait_for(events: &mut EventStream, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = Duration::from_secs(20);
    tokio::time::timeout(deadline, async {
        loop {
            match events.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    })
    .await
    .expect("expected event never arrived")
}

/// Whether `e` is an `AgentRestarted` of agent `id`.
pub fn restarted(e: &Event, id: &str) -> bool {
    matches!(e.kind, EventKind::AgentRestarted { .. }) && e.agent.as_ref().is_some_and(|a| a.as_str() == id)
}
