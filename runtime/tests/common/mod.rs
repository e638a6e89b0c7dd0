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

    async fn init(
        &self,
        _ctx: &AgentContext,
        restored: Option<Snapshot>,
    ) -> Result<u64, AgentError> {
        match restored {
            Some(s) => s.decode().map_err(|e| AgentError::permanent(e.to_string())),
            None => Ok(0),
        }
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        total: &mut u64,
        req: CounterReq,
    ) -> Result<u64, AgentError> {
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
    matches!(e.kind, EventKind::AgentRestarted { .. })
        && e.agent.as_ref().is_some_and(|a| a.as_str() == id)
}

/// A test kind whose behaviour comes from its config (`{"mode": ..., "n": ...}`):
/// `add` sums the numbers it finds in its input, `echo` returns it, `fail_first` fails the first
/// `n` calls (transiently), `panic_first` panics in its first `n` incarnations, `sleep` waits `n` ms,
/// `reject` always fails permanently.
pub struct TestOp {
    pub mode: String,
    pub n: u64,
}

impl Agent for TestOp {
    type Request = serde_json::Value;
    type Reply = serde_json::Value;
    type State = u64;

    async fn init(&self, _ctx: &AgentContext, _r: Option<Snapshot>) -> Result<u64, AgentError> {
        Ok(0)
    }

    async fn handle(
        &self,
        ctx: &AgentContext,
        calls: &mut u64,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, AgentError> {
        *calls += 1;
        match self.mode.as_str() {
            "add" => Ok(serde_json::json!(sum(&input))),
            "echo" => Ok(input),
            "fail_first" if *calls <= self.n => {
                Err(AgentError::transient(format!("flaky call {calls}")))
            }
            "fail_first" => Ok(serde_json::json!({"ok_after": *calls})),
            "panic_first" if ctx.starts() <= self.n => {
                panic!("testop panics in start {}", ctx.starts())
            }
            "panic_first" => Ok(input),
            "sleep" => {
                tokio::time::sleep(Duration::from_millis(self.n)).await;
                Ok(input)
            }
            _ => Err(AgentError::permanent("rejected")),
        }
    }
}

fn sum(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::Number(n) => n.as_f64().unwrap_or(0.0),
        serde_json::Value::Array(a) => a.iter().map(sum).sum(),
        serde_json::Value::Object(o) => o.values().map(sum).sum(),
        _ => 0.0,
    }
}

/// Registers `test.op` on a runtime.
pub fn register_test_kinds(rt: &troupe_runtime::Runtime) {
    rt.kinds().register(
        "test.op",
        "configurable test agent",
        |config: &serde_json::Value| {
            let mode = config
                .get("mode")
                .and_then(|m| m.as_str())
                .ok_or("config needs a string `mode`")?;
            let n = config.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
            Ok(TestOp {
                mode: mode.to_string(),
                n,
            })
        },
    );
}
