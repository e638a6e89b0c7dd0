//! `cmd.run` with `worktree:` on a real runtime: a pool's agents each get a worktree, replies
//! name their branches, stopping an agent (or the runtime) removes its worktree, and an agent
//! that crashes is restarted in a clean checkout of its own branch (its commits kept, the
//! crashed start's worktree gone).

use serde_json::{json, Value};
use troupe_runtime::{Agent, AgentContext, AgentError, Runtime, Snapshot};

use super::testing::TempRepo;
use crate::{CmdOutput, CmdRequest, CmdRun, CmdState};

/// Writes the file named by the request (`x` in it) in the agent's worktree, and commits.
fn writer(repo: &TempRepo) -> Value {
    json!({
        "program": "printf x > \"$1\"",
        "shell": true,
        "input": "arg",
        "worktree": {"repo": repo.path, "commit": true},
    })
}

async fn runtime() -> Runtime {
    let rt = Runtime::start(Default::default()).await.unwrap();
    crate::register_all(rt.kinds());
    rt
}

#[tokio::test]
async fn each_agent_has_its_worktree_until_it_stops() {
    let repo = TempRepo::new();
    let rt = runtime().await;
    let a = rt
        .spawn_kind("cmd.run", "pool/0", writer(&repo))
        .await
        .unwrap();
    let b = rt
        .spawn_kind("cmd.run", "pool/1", writer(&repo))
        .await
        .unwrap();
    assert_eq!(repo.extra_worktrees().len(), 2);

    let (ra, rb) = tokio::join!(
        a.ask_value(json!("a.txt"), None),
        b.ask_value(json!("b.txt"), None)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra["branch"], "troupe/pool/0");
    assert_eq!(rb["branch"], "troupe/pool/1");
    assert_eq!(
        ra["commit"].as_str().unwrap(),
        repo.git(&["rev-parse", "troupe/pool/0"])
    );
    assert_eq!(
        repo.git(&["ls-tree", "--name-only", "troupe/pool/1"]),
        "README\nb.txt"
    );
    // The same file again: nothing to commit, so no commit in the reply.
    let again = a.ask_value(json!("a.txt"), None).await.unwrap();
    assert_eq!(again.get("commit"), None, "{again}");
    // The program sees where it runs.
    let env = rt
        .spawn_kind(
            "cmd.run",
            "env",
            json!({"program": "echo \"$TROUPE_BRANCH $(pwd)\"", "shell": true, "worktree": {"repo": repo.path}}),
        )
        .await
        .unwrap();
    let out = env.ask_value(Value::Null, None).await.unwrap();
    let dir = out["worktree"].as_str().unwrap();
    assert_eq!(
        out["stdout"].as_str().unwrap(),
        format!("troupe/env {dir}\n")
    );

    assert!(rt.stop_agent("pool/0").await);
    assert_eq!(repo.extra_worktrees().len(), 2);
    assert!(!std::path::Path::new(ra["worktree"].as_str().unwrap()).exists());
    rt.shutdown().await;
    assert!(
        repo.extra_worktrees().is_empty(),
        "{:?}",
        repo.extra_worktrees()
    );
    assert_eq!(
        repo.git(&["branch", "--list", "troupe/*"]).lines().count(),
        3,
        "branches stay"
    );
}

/// `cmd.run` that panics on the request `crash`.
struct Crashing(CmdRun);

impl Agent for Crashing {
    type Request = CmdRequest;
    type Reply = CmdOutput;
    type State = CmdState;

    async fn init(&self, ctx: &AgentContext, s: Option<Snapshot>) -> Result<CmdState, AgentError> {
        self.0.init(ctx, s).await
    }

    async fn handle(
        &self,
        ctx: &AgentContext,
        state: &mut CmdState,
        request: CmdRequest,
    ) -> Result<CmdOutput, AgentError> {
        if request.plain.as_deref() == Some("crash") {
            panic!("crashed on purpose");
        }
        self.0.handle(ctx, state, request).await
    }

    async fn stopped(&self, ctx: &AgentContext, state: &mut CmdState) {
        self.0.stopped(ctx, state).await
    }
}

fn plain(s: &str) -> CmdRequest {
    serde_json::from_value(json!(s)).unwrap()
}

#[tokio::test]
async fn a_crashed_agent_restarts_in_a_clean_checkout_of_its_own_branch() {
    let repo = TempRepo::new();
    let rt = runtime().await;
    let agent = rt
        .spawn(
            "coder",
            Crashing(CmdRun::from_config(&writer(&repo)).unwrap()),
        )
        .await
        .unwrap();
    let first = agent.ask(plain("kept.txt")).await.unwrap();
    let first_dir = first.worktree.clone().unwrap();
    // Something uncommitted, then the crash.
    std::fs::write(first_dir.join("half.txt"), "half").unwrap();
    let mut starts = agent.watch_starts();
    assert!(agent.ask(plain("crash")).await.is_err());
    starts.wait_for(|n| *n == 2).await.unwrap();

    let again = agent.ask(plain("more.txt")).await.unwrap();
    let dir = again.worktree.clone().unwrap();
    assert_ne!(dir, first_dir, "each start has its own directory");
    assert_eq!(
        repo.extra_worktrees(),
        vec![dir.clone()],
        "the crashed start's worktree is gone"
    );
    assert!(!first_dir.exists());
    assert!(
        dir.join("kept.txt").exists(),
        "commits before the crash are kept"
    );
    assert!(
        !dir.join("half.txt").exists(),
        "uncommitted changes are not"
    );
    assert_eq!(again.branch, first.branch);
    assert_eq!(
        repo.git(&["ls-tree", "--name-only", "troupe/coder"]),
        "README\nkept.txt\nmore.txt"
    );

    assert!(rt.stop_agent("coder").await);
    assert!(repo.extra_worktrees().is_empty());
    rt.shutdown().await;
}

#[tokio::test]
async fn with_commit_a_failed_request_leaves_nothing_behind() {
    let repo = TempRepo::new();
    let rt = runtime().await;
    let config = json!({
        "program": "printf x > \"$1\"; [ \"$1\" != bad.txt ]",
        "shell": true,
        "input": "arg",
        "worktree": {"repo": repo.path, "commit": true},
    });
    let agent = rt.spawn_kind("cmd.run", "coder", config).await.unwrap();
    let tip = repo.git(&["rev-parse", "troupe/coder"]);
    let err = agent.ask_value(json!("bad.txt"), None).await.unwrap_err();
    assert!(err.to_string().contains("exited with status 1"), "{err}");
    let out = agent.ask_value(json!("good.txt"), None).await.unwrap();
    let dir = std::path::PathBuf::from(out["worktree"].as_str().unwrap());
    assert!(
        !dir.join("bad.txt").exists(),
        "the failed request's file was dropped"
    );
    assert_eq!(
        repo.git(&["ls-tree", "--name-only", "troupe/coder"]),
        "README\ngood.txt"
    );
    assert_eq!(
        repo.git(&["rev-list", "--count", &format!("{tip}..troupe/coder")]),
        "1"
    );
    rt.shutdown().await;
    assert!(repo.extra_worktrees().is_empty());
}
