//! Bounded mailboxes: a full mailbox makes `tell` fail with a typed error (nothing queued),
//! `tell_wait` and `ask` wait for room (within their timeout), and every request accepted is
//! served. Capacities come from the spawn, the agent kind, or the runtime, in that order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use troupe_runtime::{
    Agent, AgentContext, AgentError, CallError, Runtime, RuntimeConfig, Snapshot, SpawnOptions,
    DEFAULT_MAILBOX_CAPACITY,
};

/// Serves each request only when the test hands it a permit; says when it took one.
struct Gated {
    gate: Arc<Semaphore>,
    taken: mpsc::UnboundedSender<u32>,
    served: Arc<AtomicUsize>,
    capacity: Option<usize>,
}

impl Agent for Gated {
    type Request = u32;
    type Reply = u32;
    type State = ();

    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(&self, _: &AgentContext, _: &mut (), n: u32) -> Result<u32, AgentError> {
        let _ = self.taken.send(n);
        self.gate.acquire().await.unwrap().forget();
        assert!(n < 100, "request {n} crashes the agent on purpose");
        self.served.fetch_add(1, Ordering::SeqCst);
        Ok(n)
    }

    fn mailbox_capacity(&self) -> Option<usize> {
        self.capacity
    }
}

struct Kit {
    gate: Arc<Semaphore>,
    taken: mpsc::UnboundedReceiver<u32>,
    served: Arc<AtomicUsize>,
}

fn gated(capacity: Option<usize>) -> (Gated, Kit) {
    let gate = Arc::new(Semaphore::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::unbounded_channel();
    let agent = Gated {
        gate: gate.clone(),
        taken: tx,
        served: served.clone(),
        capacity,
    };
    (
        agent,
        Kit {
            gate,
            taken: rx,
            served,
        },
    )
}

#[tokio::test]
async fn a_full_mailbox_refuses_tell_and_makes_ask_and_tell_wait_wait() {
    let rt = Runtime::start(RuntimeConfig::named("mb")).await.unwrap();
    let (agent, mut kit) = gated(None);
    let a = rt
        .spawn_with("a", agent, SpawnOptions::default().mailbox(2))
        .await
        .unwrap();
    assert_eq!(a.mailbox_capacity(), 2);

    // The handler holds request 0; requests 1 and 2 fill the mailbox.
    a.tell(0).unwrap();
    assert_eq!(kit.taken.recv().await, Some(0));
    a.tell(1).unwrap();
    a.tell(2).unwrap();
    assert_eq!(a.mailbox_len(), 2);
    assert_eq!(
        a.tell(3).unwrap_err(),
        CallError::MailboxFull {
            agent: "a".into(),
            capacity: 2
        }
    );
    let full = a.tell(3).unwrap_err();
    assert!(full.is_retryable() && full.class() == "mailbox_full");
    assert!(full.to_string().contains("mailbox full"), "{full}");

    // `ask` waits for room within its timeout: this one runs out of time, nothing queued.
    let err = a
        .ask_timeout(4, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Timeout { .. }), "{err}");
    assert_eq!(a.mailbox_len(), 2, "a timed-out wait queued nothing");

    // A waiting `tell_wait` and `ask` get in as the handler drains the mailbox.
    let waiter = {
        let a = a.clone();
        tokio::spawn(async move { a.tell_wait(5, None).await })
    };
    let asker = {
        let a = a.clone();
        tokio::spawn(async move { a.ask(6).await })
    };
    kit.gate.add_permits(10);
    waiter.await.unwrap().unwrap();
    assert_eq!(asker.await.unwrap().unwrap(), 6);
    // 0, 1, 2, 5 and 6 were accepted: all served; the refused 3 and the timed-out 4 never ran.
    let mut taken: Vec<u32> = Vec::new();
    while taken.len() < 4 {
        taken.push(kit.taken.recv().await.unwrap());
    }
    taken.sort_unstable();
    assert_eq!(taken, [1, 2, 5, 6]);
    assert_eq!(kit.served.load(Ordering::SeqCst), 5);
    assert_eq!(a.mailbox_len(), 0);
    rt.shutdown().await;
}

#[tokio::test]
async fn capacity_comes_from_the_spawn_then_the_kind_then_the_runtime() {
    let config = RuntimeConfig {
        mailbox_capacity: 7,
        ..RuntimeConfig::named("mb2")
    };
    assert_eq!(
        RuntimeConfig::named("x").mailbox_capacity,
        DEFAULT_MAILBOX_CAPACITY
    );
    let rt = Runtime::start(config).await.unwrap();
    let (plain, _k1) = gated(None);
    let (kinded, _k2) = gated(Some(3));
    let (both, _k3) = gated(Some(3));
    let plain = rt.spawn("plain", plain).await.unwrap();
    let kinded = rt.spawn("kinded", kinded).await.unwrap();
    let both = rt
        .spawn_with("both", both, SpawnOptions::default().mailbox(11))
        .await
        .unwrap();
    assert_eq!(plain.mailbox_capacity(), 7);
    assert_eq!(kinded.mailbox_capacity(), 3);
    assert_eq!(both.mailbox_capacity(), 11);
    rt.shutdown().await;
}

#[tokio::test]
async fn a_crash_frees_the_places_of_the_requests_it_dropped() {
    let rt = Runtime::start(RuntimeConfig::named("mb3")).await.unwrap();
    let (agent, mut kit) = gated(None);
    let a = rt
        .spawn_with("a", agent, SpawnOptions::default().mailbox(1))
        .await
        .unwrap();
    let mut starts = a.watch_starts();
    a.tell(100).unwrap();
    assert_eq!(kit.taken.recv().await, Some(100));
    a.tell(1).unwrap();
    assert!(matches!(a.tell(2), Err(CallError::MailboxFull { .. })));
    // Request 100 crashes the agent: the request queued behind it is dropped with its place.
    kit.gate.add_permits(1);
    while a.starts() < 2 || !a.is_running() {
        starts.changed().await.unwrap();
    }
    // The new incarnation's mailbox is empty: room again.
    kit.gate.add_permits(10);
    let reply = a.ask_timeout(3, Duration::from_secs(30)).await;
    assert_eq!(reply, Ok(3), "the dropped request's place was not freed");
    assert_eq!(a.mailbox_len(), 0);
    rt.shutdown().await;
}

#[tokio::test]
async fn a_message_accepted_elsewhere_is_queued_past_the_bound_but_a_json_tell_is_refused() {
    let rt = Runtime::start(RuntimeConfig::named("mb4")).await.unwrap();
    let (agent, mut kit) = gated(Some(1));
    let agent = Arc::new(std::sync::Mutex::new(Some(agent)));
    rt.kinds().register("test.gated", "gated", move |_| {
        agent
            .lock()
            .unwrap()
            .take()
            .ok_or_else(|| troupe_runtime::ConfigError::new("test.gated", "", "one agent only"))
    });
    let a = rt
        .spawn_kind("test.gated", "g", serde_json::Value::Null)
        .await
        .unwrap();
    a.tell_value(serde_json::json!(0)).unwrap();
    assert_eq!(kit.taken.recv().await, Some(0));
    a.tell_value(serde_json::json!(1)).unwrap();
    let refused = a.tell_value(serde_json::json!(2)).unwrap_err();
    assert!(
        matches!(refused, CallError::MailboxFull { capacity: 1, .. }),
        "{refused}"
    );
    // A peer's one-way message (already accepted there) is not refused.
    a.deliver_value(serde_json::json!(3)).unwrap();
    kit.gate.add_permits(10);
    let mut taken = Vec::new();
    while taken.len() < 2 {
        taken.push(kit.taken.recv().await.unwrap());
    }
    assert_eq!(taken, [1, 3], "in order, the refused one never queued");
    rt.shutdown().await;
}
