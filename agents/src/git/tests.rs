use super::testing::TempRepo;
use super::worktree::{Worktree, WorktreeConfig};
use super::*;
use serde_json::json;

fn config(repo: &TempRepo, extra: serde_json::Value) -> WorktreeConfig {
    let mut c = json!({"repo": repo.path});
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::from_value(c).unwrap()
}

#[test]
fn branch_names_are_valid_refs() {
    assert_eq!(
        branch_name("troupe/", "node/coding#1/editors/0"),
        "troupe/node/coding-1/editors/0"
    );
    assert_eq!(branch_name("t/", "a..b//c.lock"), "t/a--b/c-lock");
    assert_eq!(bad_prefix("troupe/"), None);
    assert!(bad_prefix("-x").is_some());
    assert!(bad_prefix("a..b").is_some());
    assert!(bad_prefix("a b").is_some());
    assert!(bad_branch("x.lock").is_some());
    assert_eq!(bad_branch("release-1.0"), None);
}

#[tokio::test]
async fn a_worktree_is_made_on_a_new_branch_and_removed_on_close() {
    let repo = TempRepo::new();
    let c = config(&repo, json!({}));
    let tree = Worktree::open(&c, "run/editors/0", 1).await.unwrap();
    assert_eq!(tree.branch, "troupe/run/editors/0");
    assert_eq!(repo.extra_worktrees(), vec![tree.path.clone()]);
    assert_eq!(
        std::fs::read_to_string(tree.path.join("README")).unwrap(),
        "hello\n"
    );
    // Inside the git directory: the main checkout's status does not see it.
    assert!(tree.path.starts_with(repo.path.join(".git")));
    assert_eq!(repo.git(&["status", "--porcelain"]), "");

    std::fs::write(tree.path.join("a.txt"), "from the agent\n").unwrap();
    tree.commit_all(&c, "run/editors/0", Some("run/edit/1"))
        .await
        .unwrap();
    let message = repo.git(&["log", "-1", "--format=%an %s%n%b", "troupe/run/editors/0"]);
    assert_eq!(
        message,
        "troupe troupe: run/editors/0\nTroupe-Key: run/edit/1"
    );
    let path = tree.path.clone();
    tree.close().await.unwrap();
    assert!(repo.extra_worktrees().is_empty());
    assert!(!path.exists());
    assert_eq!(repo.show("troupe/run/editors/0", "a.txt"), "from the agent");
}

#[tokio::test]
async fn nothing_to_commit_makes_no_commit() {
    let repo = TempRepo::new();
    let c = config(&repo, json!({}));
    let tree = Worktree::open(&c, "a", 1).await.unwrap();
    let before = tree.head().await.unwrap();
    tree.commit_all(&c, "a", None).await.unwrap();
    assert_eq!(tree.head().await.unwrap(), before);
    tree.close().await.unwrap();
}

#[tokio::test]
async fn a_dropped_worktree_is_removed_like_after_a_crash() {
    let repo = TempRepo::new();
    let c = config(&repo, json!({}));
    let tree = Worktree::open(&c, "crashy", 1).await.unwrap();
    let path = tree.path.clone();
    drop(tree);
    assert!(repo.extra_worktrees().is_empty());
    assert!(!path.exists());
}

#[tokio::test]
async fn a_restart_sweeps_what_an_earlier_start_left_and_keeps_its_commits() {
    let repo = TempRepo::new();
    let c = config(&repo, json!({}));
    let first = Worktree::open(&c, "agent", 1).await.unwrap();
    std::fs::write(first.path.join("done.txt"), "committed\n").unwrap();
    first.commit_all(&c, "agent", None).await.unwrap();
    std::fs::write(first.path.join("half.txt"), "uncommitted\n").unwrap();
    let old = first.path.clone();
    // A process killed with `kill -9` runs no clean-up at all.
    std::mem::forget(first);
    assert_eq!(repo.extra_worktrees(), vec![old.clone()]);

    let second = Worktree::open(&c, "agent", 2).await.unwrap();
    assert_eq!(repo.extra_worktrees(), vec![second.path.clone()]);
    assert!(!old.exists());
    assert!(
        second.path.join("done.txt").exists(),
        "its own commits are kept"
    );
    assert!(!second.path.join("half.txt").exists(), "a clean checkout");
    // Another agent's worktree is not touched by this one's start.
    let other = Worktree::open(&c, "agent2", 1).await.unwrap();
    let third = Worktree::open(&c, "agent", 1).await.unwrap();
    assert_eq!(
        repo.extra_worktrees().len(),
        3 - 1,
        "the second start was swept"
    );
    assert!(other.path.exists() && third.path.exists());
    drop(second);
    other.close().await.unwrap();
    third.close().await.unwrap();
    assert!(repo.extra_worktrees().is_empty());
}

#[tokio::test]
async fn reset_starts_the_branch_again_from_base() {
    let repo = TempRepo::new();
    let c = config(
        &repo,
        json!({"reset": true, "branch_prefix": "bots/", "base": "main"}),
    );
    let first = Worktree::open(&c, "a", 1).await.unwrap();
    std::fs::write(first.path.join("x"), "x").unwrap();
    first.commit_all(&c, "a", None).await.unwrap();
    first.close().await.unwrap();
    let second = Worktree::open(&c, "a", 2).await.unwrap();
    assert_eq!(second.branch, "bots/a");
    assert!(!second.path.join("x").exists());
    assert_eq!(
        second.head().await.unwrap(),
        repo.git(&["rev-parse", "main"])
    );
    second.close().await.unwrap();
}

#[tokio::test]
async fn a_bad_repo_or_base_is_a_permanent_error() {
    let dir = tempfile::tempdir().unwrap();
    let c: WorktreeConfig = serde_json::from_value(json!({"repo": dir.path()})).unwrap();
    let err = Worktree::open(&c, "a", 1).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("is not a git repository"), "{err}");

    let repo = TempRepo::new();
    std::fs::create_dir(repo.path.join("sub")).unwrap();
    let c: WorktreeConfig = serde_json::from_value(json!({"repo": repo.path.join("sub")})).unwrap();
    let err = Worktree::open(&c, "a", 1).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .ends_with("is the subdirectory `sub/` of a repository, not its top"),
        "{err}"
    );
    let c = config(&repo, json!({"base": "no-such-branch"}));
    let err = Worktree::open(&c, "a", 1).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("bad `base` \"no-such-branch\""),
        "{err}"
    );
}

#[tokio::test]
async fn eight_agents_open_commit_and_close_at_once_in_one_repo() {
    let repo = TempRepo::new();
    let c = config(&repo, json!({"commit": true}));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let c = c.clone();
        set.spawn(async move {
            let agent = format!("pool/{i}");
            let tree = Worktree::open(&c, &agent, 1).await.unwrap();
            std::fs::write(tree.path.join(format!("f{i}.txt")), "x").unwrap();
            tree.commit_all(&c, &agent, None).await.unwrap();
            tree
        });
    }
    let trees = set.join_all().await;
    assert_eq!(repo.extra_worktrees().len(), 8);
    let merge = super::merge::GitMerge::from_config(&json!({"repo": repo.path})).unwrap();
    let branches: Vec<String> = (0..8).map(|i| format!("troupe/pool/{i}")).collect();
    let request = serde_json::from_value(json!(branches)).unwrap();
    let reply = merge.merge("m", request).await.unwrap();
    assert!(reply.clean && reply.merged.len() == 8, "{reply:?}");
    let mut set = tokio::task::JoinSet::new();
    for tree in trees {
        set.spawn(tree.close());
    }
    for closed in set.join_all().await {
        closed.unwrap();
    }
    assert!(repo.extra_worktrees().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_crash_while_another_agent_holds_the_lock_does_not_block_the_thread() {
    let repo = TempRepo::new();
    let c = config(&repo, json!({}));
    let tree = Worktree::open(&c, "crashy", 1).await.unwrap();
    let old = tree.path.clone();
    let common = repo.path.join(".git");
    let held = WorktreeLock::take(&common).await.unwrap();
    // On this one thread a blocking wait for the lock would never end.
    drop(tree);
    assert!(old.exists(), "not removed while the lock is held");
    drop(held);
    // The removal runs as a task; either it or the next start's sweep removes the worktree.
    let next = Worktree::open(&c, "crashy", 2).await.unwrap();
    assert_eq!(repo.extra_worktrees(), vec![next.path.clone()]);
    next.close().await.unwrap();
    assert!(repo.extra_worktrees().is_empty());
}
