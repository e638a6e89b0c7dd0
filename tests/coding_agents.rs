//! The coding-agents examples run end to end through the binary, each in a scratch git
//! repository: two `cmd.run` agents edit files at the same time in their own worktrees and
//! branches, and `git.merge` merges the branches (cleanly; or reporting a conflict and leaving
//! the checkout clean). No worktree is left once `troupe run` has exited.

#[allow(dead_code)] // `troupe` (repository root) is not used here, `troupe_in` is.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A scratch repository `demo` on `main` with one commit, in a fresh directory (removed when
/// dropped), as the examples expect it: `troupe run` runs in that directory.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("troupe-coding-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("demo")).unwrap();
        let scratch = Self(std::fs::canonicalize(dir.join("demo")).unwrap());
        scratch.git(&["init", "--quiet", "--initial-branch=main"]);
        std::fs::write(scratch.0.join("README.md"), "demo\n").unwrap();
        scratch.git(&["add", "README.md"]);
        scratch.git(&["commit", "--quiet", "-m", "start"]);
        scratch
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.0)
            .args(args)
            .env("GIT_AUTHOR_NAME", "test")
            .env("GIT_AUTHOR_EMAIL", "test@localhost")
            .env("GIT_COMMITTER_NAME", "test")
            .env("GIT_COMMITTER_EMAIL", "test@localhost")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The directory holding the repository.
    fn dir(&self) -> &Path {
        self.0.parent().unwrap()
    }

    /// Runs an example of the project's `examples/` beside the repository; returns the report's
    /// task outputs by task id.
    fn run(&self, example: &str) -> Value {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(example);
        let report = self.dir().join("report.json");
        let out = common::troupe_in(
            self.dir(),
            &[
                "run",
                "--no-progress",
                "--report",
                report.to_str().unwrap(),
                file.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        std::fs::remove_file(self.dir().join("report.json")).unwrap();
        let mut outputs = serde_json::Map::new();
        for task in report["tasks"].as_array().unwrap() {
            outputs.insert(task["id"].as_str().unwrap().into(), task["output"].clone());
        }
        Value::Object(outputs)
    }

    /// Every worktree but the main checkout, and what is left in Troupe's worktree directory.
    fn leftovers(&self) -> (Vec<String>, usize) {
        let listed = self
            .git(&["worktree", "list", "--porcelain"])
            .lines()
            .filter_map(|l| l.strip_prefix("worktree "))
            .filter(|p| Path::new(p) != self.0)
            .map(str::to_string)
            .collect();
        let dir = self.0.join(".git/troupe-worktrees");
        let files = std::fs::read_dir(dir).map_or(0, |d| d.count());
        (listed, files)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.dir());
    }
}

/// The `branch` of each reply of a `parallel` task.
fn branches(replies: &Value) -> Vec<String> {
    replies
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["branch"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn two_agents_edit_in_their_own_worktrees_and_both_branches_merge() {
    let repo = Scratch::new("clean");
    let out = repo.run("coding_agents.yaml");

    let edits = &out["edit"];
    let names = branches(edits);
    assert_eq!(names.len(), 2);
    assert_ne!(names[0], names[1], "one branch per agent: {edits}");
    for (reply, name) in edits.as_array().unwrap().iter().zip(&names) {
        assert!(name.starts_with("troupe/coding_agents-"), "{name}");
        assert!(
            name.ends_with("/coders/0") || name.ends_with("/coders/1"),
            "{name}"
        );
        assert_eq!(reply["status"], 0);
        // The reply's commit is the branch's tip, and the agent made it.
        let commit = reply["commit"].as_str().unwrap();
        assert_eq!(repo.git(&["rev-parse", name]), commit);
        assert_eq!(repo.git(&["log", "-1", "--format=%an", commit]), "troupe");
    }
    // Each branch holds only its own agent's file.
    assert_eq!(
        repo.git(&["show", &format!("{}:docs/usage.md", names[0])]),
        "Run the demo with troupe run."
    );
    assert!(repo
        .git(&["ls-tree", "-r", "--name-only", &names[0]])
        .lines()
        .all(|f| f != "src/main.rs"));

    let merge = &out["merge"];
    assert_eq!(merge["clean"], true, "{merge}");
    assert_eq!(merge["into"], "main");
    let merged: Vec<&str> = merge["merged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["branch"].as_str().unwrap())
        .collect();
    assert_eq!(
        merged,
        names.iter().map(String::as_str).collect::<Vec<_>>(),
        "in order"
    );
    assert_eq!(
        merge["head"].as_str().unwrap(),
        repo.git(&["rev-parse", "main"])
    );
    // The main checkout has both edits, and nothing uncommitted.
    assert_eq!(
        std::fs::read_to_string(repo.0.join("src/main.rs")).unwrap(),
        "fn main() { println!(\"hello\"); }\n"
    );
    assert!(repo.0.join("docs/usage.md").exists());
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    // The run is over: its agents stopped and removed their worktrees; the branches stay.
    assert_eq!(repo.leftovers(), (Vec::new(), 0));
    assert_eq!(
        repo.git(&["branch", "--list", "troupe/*"]).lines().count(),
        2
    );
}

#[test]
fn a_conflict_between_the_agents_is_reported_and_the_checkout_left_clean() {
    let repo = Scratch::new("conflict");
    let out = repo.run("coding_agents_conflict.yaml");
    let names = branches(&out["plan"]);
    assert_ne!(names[0], names[1]);

    let merge = &out["merge"];
    assert_eq!(merge["clean"], false, "{merge}");
    let merged = merge["merged"].as_array().unwrap();
    assert_eq!(merged.len(), 1);
    assert_eq!(merged[0]["branch"].as_str().unwrap(), names[0]);
    let conflicts = merge["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0]["branch"].as_str().unwrap(), names[1]);
    assert_eq!(conflicts[0]["files"], serde_json::json!(["PLAN.md"]));
    // Aborted: main is the first merge, without conflict markers or a merge in progress.
    assert_eq!(
        merge["head"].as_str().unwrap(),
        repo.git(&["rev-parse", "main"])
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    assert!(!repo.0.join(".git/MERGE_HEAD").exists());
    let plan = std::fs::read_to_string(repo.0.join("PLAN.md")).unwrap();
    assert!(
        plan.starts_with("Plan A") || plan.starts_with("Plan B"),
        "{plan}"
    );
    assert!(!plan.contains("<<<<<<<"), "{plan}");
    assert_eq!(repo.leftovers(), (Vec::new(), 0));
}

#[test]
fn a_bad_worktree_config_is_caught_by_validate_with_its_path() {
    let repo = Scratch::new("validate");
    let file = repo.0.join("bad.yaml");
    std::fs::write(
        &file,
        "workflow:\n  name: bad\n  agents:\n    coders:\n      type: cmd.run\n      config: { program: \"true\", worktree: { repo: ., branch_prefix: \"a b\" } }\n  tasks:\n    - { id: a, agent: coders }\n",
    )
    .unwrap();
    let out = common::troupe_in(&repo.0, &["validate", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("pool \"coders\" at line 4, column 5: cmd.run config at /worktree/branch_prefix: ' ' is not allowed in a branch name"),
        "{stderr}"
    );
    // Validation starts no agent: no worktree was made.
    assert_eq!(repo.leftovers(), (Vec::new(), 0));
}

/// A coder pool of one: `first` writes and commits `a.txt`; `second` (after a pick of `first`'s
/// status) writes `b.txt`, says so in `log` (outside the repository) and waits for the file
/// `gate` before it exits.
fn killable_workflow(repo: &Scratch, log: &Path, gate: &Path) -> PathBuf {
    let yaml = format!(
        r#"workflow:
  name: coding_killed
  agents:
    coder:
      type: cmd.run
      config:
        shell: true
        input: arg
        timeout: 120s
        program: 'if [ "$1" = a ]; then f=a; else f=b; fi; echo $f > $f.txt; echo $f >> {log}; if [ $f = b ]; then while [ ! -f {gate} ]; do sleep 0.02; done; fi'
        worktree: {{ repo: ., commit: true }}
    status: {{ type: json.pick, config: {{ path: status }} }}
  tasks:
    - {{ id: first, agent: coder, input: a }}
    - {{ id: status, agent: status, depends_on: [first] }}
    - {{ id: second, agent: coder, depends_on: [status] }}
"#,
        log = log.display(),
        gate = gate.display()
    );
    let file = repo.dir().join("killed.yaml");
    std::fs::write(&file, yaml).unwrap();
    file
}

#[test]
fn a_run_killed_with_sigkill_leaves_a_worktree_that_its_resume_reclaims() {
    let repo = Scratch::new("killed");
    let outside = repo.0.with_extension("side");
    let _ = std::fs::remove_dir_all(&outside);
    std::fs::create_dir_all(&outside).unwrap();
    let (log, gate) = (outside.join("log"), outside.join("gate"));
    let file = killable_workflow(&repo, &log, &gate);
    let store = outside.join("runs.db");
    let troupe = || {
        let mut c = common::troupe_command(&repo.0);
        c.env("TROUPE_STORE", &store)
            // A killed driver's lease expires quickly (resume waits for a dead driver's lease).
            .env("TROUPE_LEASE_TTL_MS", "1000");
        c
    };
    let lines = || std::fs::read_to_string(&log).unwrap_or_default();

    let mut child = troupe()
        .args(["run", "--no-progress"])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the event: `second` is in flight (it wrote to the log).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while lines() != "a\nb\n" {
        assert!(
            child.try_wait().unwrap().is_none(),
            "troupe exited early: {}",
            lines()
        );
        assert!(
            std::time::Instant::now() < deadline,
            "second never started: {}",
            lines()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let listed = troupe().arg("runs").output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let id = listed
        .lines()
        .find(|l| l.contains("coding_killed"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run listed:\n{listed}"))
        .to_string();
    child.kill().unwrap();
    child.wait().unwrap();
    // SIGKILL runs no clean-up: the agent's worktree is still there.
    let (left, _) = repo.leftovers();
    assert_eq!(left.len(), 1, "{left:?}");

    std::fs::write(&gate, "").unwrap();
    let out = troupe()
        .args(["resume", "--no-progress", &id])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The resumed agent swept the worktree the killed process left, reused its branch (the
    // commit of `first`, which did not run again), and removed its own worktree at the end.
    assert_eq!(repo.leftovers(), (Vec::new(), 0));
    assert_eq!(
        lines().matches('a').count(),
        1,
        "first ran once: {}",
        lines()
    );
    let branch = repo.git(&["branch", "--list", "--format=%(refname:short)", "troupe/*"]);
    assert_eq!(
        repo.git(&["ls-tree", "--name-only", &branch]),
        "README.md\na.txt\nb.txt"
    );
    assert_eq!(
        repo.git(&["rev-list", "--count", &format!("main..{branch}")]),
        "2"
    );
    let _ = std::fs::remove_dir_all(&outside);
    let _ = std::fs::remove_file(&file);
}
