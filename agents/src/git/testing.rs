//! Real git repositories in temporary directories, for the tests of this module.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A repository on branch `main` with one commit (`README` = "hello\n"), removed when dropped.
pub(crate) struct TempRepo {
    _dir: tempfile::TempDir,
    /// The repository's top directory (canonical).
    pub(crate) path: PathBuf,
}

impl TempRepo {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = std::fs::canonicalize(dir.path()).unwrap().join("repo");
        std::fs::create_dir(&path).unwrap();
        let repo = Self { _dir: dir, path };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo.write("README", "hello\n");
        repo.git(&["add", "README"]);
        repo.git(&["commit", "--quiet", "-m", "first"]);
        repo
    }

    /// Runs git in the repository (as a fixed test identity) and returns its trimmed stdout;
    /// panics if it fails.
    pub(crate) fn git(&self, args: &[&str]) -> String {
        git_in(&self.path, args)
    }

    /// Writes a file of the main checkout.
    pub(crate) fn write(&self, file: &str, text: &str) {
        std::fs::write(self.path.join(file), text).unwrap();
    }

    /// The paths of every worktree but the main checkout.
    pub(crate) fn extra_worktrees(&self) -> Vec<PathBuf> {
        self.git(&["worktree", "list", "--porcelain"])
            .lines()
            .filter_map(|l| l.strip_prefix("worktree "))
            .map(PathBuf::from)
            .filter(|p| *p != self.path)
            .collect()
    }

    /// The content of `file` on `branch`.
    pub(crate) fn show(&self, branch: &str, file: &str) -> String {
        self.git(&["show", &format!("{branch}:{file}")])
    }
}

/// Runs git in `dir` as a fixed test identity; panics if it fails.
pub(crate) fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@localhost")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@localhost")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
