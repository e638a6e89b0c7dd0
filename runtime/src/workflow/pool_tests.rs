//! A local pool serves the calls waiting for a member by task priority.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};

use super::Pool;
use crate::{Agent, AgentContext, AgentError, Runtime, RuntimeConfig, Snapshot};

/// Records each request it takes, then waits for a permit of `gate` before answering.
#[derive(Clone)]
struct Recorder {
    gate: Arc<Semaphore>,
    taken: Arc<Mutex<Vec<String>>>,
    first: mpsc::UnboundedSender<()>,
}

impl Agent for Recorder {
    type Request = String;
    type Reply = String;
    type State = ();

    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(&self, _: &AgentContext, _: &mut (), r: String) -> Result<String, AgentError> {
        self.taken.lock().push(r.clone());
        let _ = self.first.send(());
        self.gate.acquire().await.unwrap().forget();
        Ok(r)
    }
}

/// Polls `cond` until it holds (a deadline only as a guard against a hang).
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::task::yield_now().await;
    }
}

// One thread: a call handed a place sends its request before the next one can run, so the
// mailbox order is the order places were handed out.
#[tokio::test(flavor = "current_thread")]
async fn calls_waiting_for_a_member_are_served_highest_priority_first() {
    let rt = Runtime::start(RuntimeConfig::named("pool-prio"))
        .await
        .unwrap();
    let (first, mut first_rx) = mpsc::unbounded_channel();
    let recorder = Recorder {
        gate: Arc::new(Semaphore::new(0)),
        taken: Arc::new(Mutex::new(Vec::new())),
        first,
    };
    let (gate, taken) = (recorder.gate.clone(), recorder.taken.clone());
    rt.kinds()
        .register("test.recorder", "records", move |_| Ok(recorder.clone()));
    let member = rt
        .spawn_kind("test.recorder", "m0", Value::Null)
        .await
        .unwrap();
    let pool = Arc::new(Pool::new(
        "p".into(),
        vec![member],
        None,
        rt.events().clone(),
        crate::RunId::new("r"),
    ));
    let call = |name: &str, priority: u8| {
        let (pool, name) = (pool.clone(), name.to_string());
        tokio::spawn(async move { pool.call(json!(name), None, name.clone(), priority).await })
    };
    // Two calls fill the member (one served, one in its mailbox); the rest wait in the pool.
    let mut calls = vec![call("b1", 0)];
    first_rx.recv().await.unwrap();
    calls.push(call("b2", 0));
    until("b2 is handed to the member", || {
        pool.gate.waiting() == 0 && pool.in_flight[0].load(std::sync::atomic::Ordering::SeqCst) == 2
    })
    .await;
    for (k, (name, priority)) in [("low", 1), ("high", 9), ("mid", 5), ("high2", 9)]
        .into_iter()
        .enumerate()
    {
        calls.push(call(name, priority));
        until("the call waits in the pool", || {
            pool.gate.waiting() == k + 1
        })
        .await;
    }
    // Release the member one request at a time.
    for served in 1..=6 {
        gate.add_permits(1);
        if served < 6 {
            until("the member takes the next request", || {
                taken.lock().len() > served
            })
            .await;
        }
    }
    for c in calls {
        c.await.unwrap().unwrap();
    }
    let taken = taken.lock().clone();
    assert_eq!(taken.len(), 6, "{taken:?}");
    assert_eq!(
        taken[2..],
        ["high", "high2", "mid", "low"],
        "the calls that waited in the pool go by priority, then arrival: {taken:?}"
    );
    rt.shutdown().await;
}
