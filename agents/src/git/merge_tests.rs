use super::*;
use crate::git::testing::{git_in, TempRepo};
use crate::shape::Legacy;
use serde_json::json;

fn agent(repo: &TempRepo, extra: Value) -> GitMerge {
    let mut c = json!({"repo": repo.path});
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    GitMerge::from_config(&c).unwrap()
}

fn req(v: Value) -> GitMergeRequest {
    serde_json::from_value(v).unwrap()
}

/// A branch off `main` whose one commit writes `file`.
fn branch(repo: &TempRepo, name: &str, file: &str, text: &str) {
    repo.git(&["branch", name, "main"]);
    let dir = repo.path.parent().unwrap().join(format!("wt-{name}"));
    let d = dir.to_string_lossy().into_owned();
    repo.git(&["worktree", "add", "--quiet", &d, name]);
    std::fs::write(dir.join(file), text).unwrap();
    git_in(&dir, &["add", "-A"]);
    git_in(&dir, &["commit", "--quiet", "-m", name]);
    repo.git(&["worktree", "remove", &d]);
}

#[tokio::test]
async fn branches_are_merged_in_order_into_the_checked_out_branch() {
    let repo = TempRepo::new();
    branch(&repo, "a", "a.txt", "A\n");
    branch(&repo, "b", "b.txt", "B\n");
    let merge = agent(&repo, json!({}));
    let reply = merge
        .merge("m", req(json!(["a", {"branch": "b", "status": 0}, null])))
        .await
        .unwrap();
    assert_eq!(reply.into, "main");
    assert!(reply.clean);
    assert_eq!(
        reply
            .merged
            .iter()
            .map(|m| m.branch.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(reply.head, repo.git(&["rev-parse", "main"]));
    assert_eq!(reply.merged[1].commit, reply.head);
    assert_eq!(
        repo.git(&["log", "-2", "--format=%s", "main"]),
        "Merge b into main\nMerge a into main"
    );
    // Merged in the main checkout, which is left clean.
    assert_eq!(
        std::fs::read_to_string(repo.path.join("b.txt")).unwrap(),
        "B\n"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    // Merging again changes nothing.
    let again = merge.merge("m", req(json!("a"))).await.unwrap();
    assert_eq!(again.head, reply.head);
}

#[tokio::test]
async fn a_conflict_is_reported_with_its_files_and_aborted() {
    let repo = TempRepo::new();
    branch(&repo, "one", "README", "one\n");
    branch(&repo, "two", "README", "two\n");
    branch(&repo, "three", "c.txt", "C\n");
    let merge = agent(&repo, json!({}));
    let reply = merge
        .merge("m", req(json!(["one", "two", "three"])))
        .await
        .unwrap();
    assert!(!reply.clean);
    assert_eq!(reply.merged.len(), 1);
    assert_eq!(
        reply.conflicts,
        vec![MergeConflict {
            branch: "two".into(),
            files: vec!["README".into()]
        }]
    );
    assert_eq!(reply.skipped, vec!["three".to_string()]);
    assert_eq!(reply.head, reply.merged[0].commit);
    assert_eq!(repo.git(&["rev-parse", "main"]), reply.head);
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "",
        "the merge was aborted"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path.join("README")).unwrap(),
        "one\n"
    );

    let skip = agent(&repo, json!({"on_conflict": "skip", "delete_merged": true}));
    let reply = skip
        .merge("m", req(json!({"branches": ["two", "three"]})))
        .await
        .unwrap();
    assert_eq!(reply.conflicts[0].branch, "two");
    assert_eq!(reply.merged[0].branch, "three");
    assert!(
        !repo.git(&["branch", "--list", "three"]).contains("three"),
        "deleted once merged"
    );
    assert_eq!(reply.deleted, vec!["three".to_string()]);
    // A merged branch still checked out (a running agent's) is kept.
    branch(&repo, "four", "d.txt", "D\n");
    let wt = repo.path.parent().unwrap().join("wt-four-live");
    let d = wt.to_string_lossy().into_owned();
    repo.git(&["worktree", "add", "--quiet", &d, "four"]);
    let reply = skip.merge("m", req(json!(["four"]))).await.unwrap();
    assert_eq!((reply.merged.len(), reply.deleted.len()), (1, 0));
    assert!(repo.git(&["branch", "--list", "four"]).contains("four"));
    repo.git(&["worktree", "remove", &d]);

    let fail = agent(&repo, json!({"on_conflict": "fail"}));
    let err = fail.merge("m", req(json!(["two"]))).await.unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "git.merge: `two` conflicts with `main` in README"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[tokio::test]
async fn a_target_checked_out_nowhere_gets_a_worktree_for_the_merge() {
    let repo = TempRepo::new();
    repo.git(&["branch", "integration", "main"]);
    branch(&repo, "a", "a.txt", "A\n");
    let merge = agent(&repo, json!({"into": "integration", "branches": ["a"]}));
    let reply = merge.merge("run/merger/0", req(Value::Null)).await.unwrap();
    assert!(reply.clean);
    assert_eq!(repo.show("integration", "a.txt"), "A");
    assert_eq!(repo.extra_worktrees(), Vec::<std::path::PathBuf>::new());
    assert!(!repo.path.join("a.txt").exists(), "main untouched");

    // A merge killed half-way leaves its worktree with a conflict in progress: the next merge
    // starts again in a fresh one.
    branch(&repo, "b", "a.txt", "other\n");
    let dir = repo
        .path
        .join(".git/troupe-worktrees/merge-run+merger+0+integration");
    let d = dir.to_string_lossy().into_owned();
    repo.git(&["worktree", "add", "--quiet", &d, "integration"]);
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@l", "merge", "b"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a conflict in progress");
    branch(&repo, "c", "c.txt", "C\n");
    let reply = merge
        .merge("run/merger/0", req(json!(["c"])))
        .await
        .unwrap();
    assert!(reply.clean, "{reply:?}");
    assert_eq!(repo.show("integration", "c.txt"), "C");
    assert_eq!(repo.extra_worktrees(), Vec::<std::path::PathBuf>::new());
}

#[tokio::test]
async fn bad_requests_and_a_dirty_target_are_refused() {
    let repo = TempRepo::new();
    let merge = agent(&repo, json!({}));
    let err = merge.merge("m", req(json!(["nope"]))).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .starts_with("git.merge: no branch `nope` in"),
        "{err}"
    );
    let err = merge.merge("m", req(json!(["--help"]))).await.unwrap_err();
    assert!(err.to_string().contains("must not start with"), "{err}");

    branch(&repo, "a", "a.txt", "A\n");
    repo.write("README", "edited by hand\n");
    let err = merge.merge("m", req(json!(["a"]))).await.unwrap_err();
    assert!(
        err.to_string().contains("with uncommitted changes"),
        "{err}"
    );

    let e = serde_json::from_value::<GitMergeRequest>(json!([{"stdout": ""}])).unwrap_err();
    assert!(
        e.to_string()
            .contains("item 0: an object must be a cmd.run reply with a `branch`"),
        "{e}"
    );
    let e = serde_json::from_value::<GitMergeRequest>(json!(3)).unwrap_err();
    assert!(
        e.to_string()
            .contains("must be a branch name or a cmd.run reply, got a number"),
        "{e}"
    );
    // A task with several dependencies gets an object keyed by task id: key order.
    let r = req(json!({"edit_b": {"branch": "b"}, "edit_a": {"branch": "a"}}));
    assert_eq!(r.branches, ["a", "b"]);
}

#[test]
fn bad_config_says_where() {
    let bad = |c: Value| GitMerge::from_config(&c).unwrap_err().legacy();
    assert_eq!(bad(json!({})), "missing field `repo`");
    assert!(bad(json!({"repo": "r", "on_conflict": "merge"}))
        .starts_with("field `on_conflict`: unknown variant `merge`"));
    assert_eq!(
        bad(json!({"repo": "r", "branches": ["ok", "a..b"]})),
        "field `branches.1`: \"a..b\": must not contain `..`"
    );
    assert!(bad(json!({"repo": "r", "into": "x.lock"})).starts_with("field `into`:"));
}
