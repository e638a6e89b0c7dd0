//! Agent state that survives the process: agents that persist write their snapshots to the
//! runtime's store, and a runtime started later on the same store (here: a second store
//! opened on the same SQLite file, as another process would) re-activates them from it.

use std::sync::Arc;
use std::time::Duration;

use troupe_runtime::store::testing::TempDir;
use troupe_runtime::store::{SqliteOptions, SqliteStore, Store};
use troupe_runtime::{
    Agent, AgentContext, AgentError, AgentId, Persistence, Runtime, RuntimeConfig, Snapshot,
};

/// Adds each request to a total; persists as told.
struct Tally(Persistence);

impl Agent for Tally {
    type Request = u64;
    type Reply = u64;
    type State = u64;

    async fn init(&self, _: &AgentContext, restored: Option<Snapshot>) -> Result<u64, AgentError> {
        match restored {
            Some(s) => s.decode().map_err(|e| AgentError::permanent(e.to_string())),
            None => Ok(0),
        }
    }

    async fn handle(&self, _: &AgentContext, total: &mut u64, add: u64) -> Result<u64, AgentError> {
        *total += add;
        Ok(*total)
    }

    fn snapshot(&self, total: &u64) -> Result<Option<Snapshot>, AgentError> {
        Snapshot::encode(total)
            .map(Some)
            .map_err(|e| AgentError::permanent(e.to_string()))
    }

    fn persistence(&self) -> Persistence {
        self.0
    }
}

async fn open(path: &std::path::Path) -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open(path, SqliteOptions::default())
            .await
            .unwrap(),
    )
}

async fn runtime_on(store: Arc<dyn Store>) -> Runtime {
    Runtime::start(RuntimeConfig::named("n1").with_store(store))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_persisting_after_each_request_resumes_in_another_runtime() {
    let dir = TempDir::new("troupe-agent-store").unwrap();
    let path = dir.path().join("store.db");
    {
        let rt = runtime_on(open(&path).await).await;
        let tally = rt
            .spawn("tally-1", Tally(Persistence::AfterEachRequest))
            .await
            .unwrap();
        assert_eq!(tally.ask(2).await.unwrap(), 2);
        // The reply came after the snapshot was durable: nothing to wait for.
        assert_eq!(tally.ask(3).await.unwrap(), 5);
        rt.shutdown().await;
    }
    let store = open(&path).await;
    let stored = store
        .get_agent_snapshot(AgentId::new("tally-1"))
        .await
        .unwrap()
        .expect("the snapshot is in the file");
    assert!(stored.version >= 1, "version {}", stored.version);
    let rt = runtime_on(store.clone()).await;
    let tally = rt
        .spawn("tally-1", Tally(Persistence::AfterEachRequest))
        .await
        .unwrap();
    assert_eq!(
        tally.ask(1).await.unwrap(),
        6,
        "continued from the stored 5"
    );
    let again = store
        .get_agent_snapshot(AgentId::new("tally-1"))
        .await
        .unwrap()
        .unwrap();
    assert!(again.version > stored.version, "versions go on");
    assert_eq!(Snapshot::from_bytes(again.data).decode::<u64>().unwrap(), 6);
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_all_durable_when_answered() {
    let dir = TempDir::new("troupe-agent-store-many").unwrap();
    let path = dir.path().join("store.db");
    let store = open(&path).await;
    let rt = runtime_on(store.clone()).await;
    let mut agents = Vec::new();
    for i in 0..8 {
        let id = format!("tally-{i}");
        agents.push(
            rt.spawn(id, Tally(Persistence::AfterEachRequest))
                .await
                .unwrap(),
        );
    }
    let mut calls = tokio::task::JoinSet::new();
    for agent in &agents {
        for _ in 0..25 {
            let agent = agent.clone();
            calls.spawn(async move { agent.ask(1).await });
        }
    }
    while let Some(reply) = calls.join_next().await {
        reply.unwrap().unwrap();
    }
    // Every reply came after its state was durable: the file has each agent at 25.
    let other = open(&path).await;
    for i in 0..8 {
        let stored = other
            .get_agent_snapshot(AgentId::new(format!("tally-{i}")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            Snapshot::from_bytes(stored.data).decode::<u64>().unwrap(),
            25
        );
    }
    let commits = store.stats().commits;
    println!("200 requests to 8 agents: {commits} store commits");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_periodic_agent_is_stored_when_it_stops_and_resumes_from_it() {
    let dir = TempDir::new("troupe-agent-store-every").unwrap();
    let path = dir.path().join("store.db");
    let every = Persistence::Every(Duration::from_secs(3600));
    {
        let rt = runtime_on(open(&path).await).await;
        let tally = rt.spawn("tally-p", Tally(every)).await.unwrap();
        for _ in 0..4 {
            tally.ask(5).await.unwrap();
        }
        // The period has not passed: nothing stored yet; stopping cleanly writes the state.
        assert!(rt.stop_agent("tally-p").await);
        rt.shutdown().await;
    }
    let rt = runtime_on(open(&path).await).await;
    let tally = rt.spawn("tally-p", Tally(every)).await.unwrap();
    assert_eq!(tally.ask(0).await.unwrap(), 20);
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_periodic_agent_is_stored_once_its_period_passes() {
    let dir = TempDir::new("troupe-agent-store-period").unwrap();
    let path = dir.path().join("store.db");
    let store = open(&path).await;
    let rt = runtime_on(store.clone()).await;
    let tally = rt
        .spawn(
            "tally-q",
            Tally(Persistence::Every(Duration::from_millis(20))),
        )
        .await
        .unwrap();
    tally.ask(7).await.unwrap();
    // The flush is a message to the agent after the period: a snapshot request queued behind
    // it is answered once the flush was handed to the store; the store's own queue is FIFO,
    // so a read issued after that sees it.
    let mut stored = None;
    for _ in 0..500 {
        stored = store
            .get_agent_snapshot(AgentId::new("tally-q"))
            .await
            .unwrap();
        if stored.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stored = stored.expect("stored after its period");
    assert_eq!(
        Snapshot::from_bytes(stored.data).decode::<u64>().unwrap(),
        7
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn agents_that_never_persist_leave_the_store_alone() {
    let dir = TempDir::new("troupe-agent-store-never").unwrap();
    let store = open(&dir.path().join("store.db")).await;
    let rt = runtime_on(store.clone()).await;
    let tally = rt
        .spawn("tally-n", Tally(Persistence::Never))
        .await
        .unwrap();
    tally.ask(1).await.unwrap();
    rt.shutdown().await;
    let stored = store
        .get_agent_snapshot(AgentId::new("tally-n"))
        .await
        .unwrap();
    assert_eq!(stored, None);
}
