//! One agent's git worktree: `cmd.run`'s `worktree:` option.
//!
//! Lifecycle, per agent (a pool of N agents has N worktrees and N branches):
//!
//! - **Start** ([`Worktree::open`], from the agent's `init`): the branch is
//!   `<branch_prefix><agent id>` (characters git refuses become `-`); it is created from `base`
//!   when it does not exist yet and **reused** when it does (so commits of an earlier start of
//!   the same agent survive a restart, a `kill -9` of the node and a resumed run), unless
//!   `reset: true` (then every start resets it to `base`). The worktree is checked out at
//!   `<dir>/<agent id, flattened>.<start number>`: each start has its own directory, so a new
//!   start never races the clean-up of the one before. Before that, the start removes every
//!   worktree an earlier start of the same agent left (a crash, a killed process): a restarted
//!   agent gets a **clean checkout of its own branch** — what it committed is kept, what it left
//!   uncommitted is gone.
//! - **Stop** ([`Worktree::close`], from the agent's `stopped`): the worktree is removed (forced:
//!   uncommitted changes are dropped); the branch stays, for `git.merge`.
//! - **Crash**: the agent's state is dropped without `stopped`; the drop guard removes the
//!   worktree then (a blocking `git worktree remove` if the repository's worktree lock is free,
//!   else a task of the runtime, so that a thread is never blocked on a lock held by a task that
//!   needs it). A node killed with `kill -9` runs no code: its worktrees stay until the same
//!   agent starts again (resuming the run) or until `git worktree remove`.
//! - **With `commit: true`**, a request whose program exited 0 commits every change; any other
//!   request drops its changes, so a retry starts from the last commit.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use troupe_runtime::AgentError;

use super::{
    branch_exists, branch_name, git, repository, run_git, worktrees, GitError, Identity,
    WorktreeLock,
};

/// The `worktree:` option of `cmd.run`: each agent of the pool works in its own git worktree
/// and branch of `repo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorktreeConfig {
    /// The repository: the top directory of its checkout (or of one of its worktrees), or a bare
    /// repository (required). A subdirectory of a repository is refused when the agent starts.
    pub repo: PathBuf,
    /// What a new branch starts from: a branch, tag or commit (default `HEAD` of `repo`).
    #[serde(default = "default_base")]
    pub base: String,
    /// The branch of an agent is this prefix followed by the agent's id (default `troupe/`).
    #[serde(default = "default_prefix")]
    pub branch_prefix: String,
    /// After a request whose program exited with status 0, commit every change in the worktree
    /// (`git add -A`), if there is any; after any other request, drop the changes (`git reset
    /// --hard`, `git clean -d`), so that a retry starts from the last commit (default false: the
    /// program commits itself, and what it leaves stays until the worktree is removed).
    /// Troupe's commits skip the repository's commit hooks (`--no-verify`).
    #[serde(default)]
    pub commit: bool,
    /// The commit message; `{agent}` and `{key}` (the call's idempotency key, or empty) are
    /// filled in (default `troupe: {agent}`). The key is also added as a `Troupe-Key:` trailer.
    #[serde(default = "default_message")]
    pub message: String,
    /// Author and committer name of Troupe's commits (default `troupe`).
    #[serde(default = "default_author_name")]
    pub author_name: String,
    /// Author and committer email of Troupe's commits (default `troupe@localhost`).
    #[serde(default = "default_author_email")]
    pub author_email: String,
    /// Reset the agent's branch to `base` at every start, dropping its earlier commits
    /// (default false: an existing branch is reused).
    #[serde(default)]
    pub reset: bool,
    /// Where the worktrees go (default `troupe-worktrees` in the repository's git directory,
    /// where `git status` of the main checkout does not see them).
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

fn default_base() -> String {
    "HEAD".into()
}
fn default_prefix() -> String {
    "troupe/".into()
}
fn default_message() -> String {
    "troupe: {agent}".into()
}
fn default_author_name() -> String {
    "troupe".into()
}
fn default_author_email() -> String {
    "troupe@localhost".into()
}

impl WorktreeConfig {
    pub(crate) fn identity(&self) -> Identity<'_> {
        Identity {
            name: &self.author_name,
            email: &self.author_email,
        }
    }
}

/// An agent's checked-out worktree; removed when closed or dropped.
#[derive(Debug)]
pub(crate) struct Worktree {
    /// The repository's main directory (where git commands about the repository run).
    repo: PathBuf,
    /// The repository's git directory (where its worktree lock is).
    common: PathBuf,
    /// The worktree's directory.
    pub(crate) path: PathBuf,
    /// The branch checked out in it.
    pub(crate) branch: String,
    /// Whether it still has to be removed.
    armed: bool,
}

/// The directory name of an agent's worktrees: its id with `/` as `+`, and other characters
/// outside `[A-Za-z0-9_-]` as `-` (so `.` only separates the start number).
fn flat_name(agent: &str) -> String {
    agent
        .chars()
        .map(|c| match c {
            '/' => '+',
            c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => c,
            _ => '-',
        })
        .collect()
}

/// Whether `path` is a worktree of the agent whose flat name is `flat` (`<flat>.<number>`).
fn is_own(path: &Path, dir: &Path, flat: &str) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    path.parent() == Some(dir)
        && name
            .strip_prefix(flat)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl Worktree {
    /// Checks out the worktree of agent `agent` for its start number `starts`, after removing
    /// those earlier starts left behind.
    pub(crate) async fn open(
        config: &WorktreeConfig,
        agent: &str,
        starts: u64,
    ) -> Result<Self, AgentError> {
        let common = repository("worktree", &config.repo).await?;
        // Git commands about the repository run in its main worktree (the parent of `.git`),
        // or in the git directory of a bare repository.
        let repo = match common.file_name() {
            Some(n) if n == ".git" => common.parent().map_or(common.clone(), Path::to_path_buf),
            _ => common.clone(),
        };
        let dir = match &config.dir {
            Some(d) if d.is_absolute() => d.clone(),
            Some(d) => std::env::current_dir()
                .map_err(|e| AgentError::transient(format!("worktree: no current directory: {e}")))?
                .join(d),
            None => common.join("troupe-worktrees"),
        };
        std::fs::create_dir_all(&dir).map_err(|e| {
            AgentError::transient(format!("worktree: cannot create {}: {e}", dir.display()))
        })?;
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        let flat = flat_name(agent);
        let branch = branch_name(&config.branch_prefix, agent);
        // The commit a new (or reset) branch starts at; `None`: the branch is reused.
        let base = if config.reset || !branch_exists(&repo, &branch).await? {
            let base = git(&config.repo, &["rev-parse", "--verify", &config.base], None)
                .await
                .map_err(|e| {
                    AgentError::permanent(format!("worktree: bad `base` {:?}: {e}", config.base))
                })?;
            Some(base)
        } else {
            None
        };
        let _lock = WorktreeLock::take(&common).await?;
        for (path, _) in worktrees(&repo).await? {
            if is_own(&path, &dir, &flat) {
                remove(&repo, &path).await?;
            }
        }
        let path = dir.join(format!("{flat}.{starts}"));
        let path_arg = path.to_string_lossy().into_owned();
        // `--force`: the branch may still be checked out where a crashed start of this agent
        // left it (a worktree whose removal failed half-way).
        let mut args = vec!["worktree", "add", "--force"];
        match &base {
            Some(base) => args.extend(["-B", &branch, &path_arg, base]),
            None => args.extend([path_arg.as_str(), &branch]),
        }
        git(&repo, &args, None).await?;
        Ok(Self {
            repo,
            common,
            path,
            branch,
            armed: true,
        })
    }

    /// The commit checked out now.
    pub(crate) async fn head(&self) -> Result<String, GitError> {
        git(&self.path, &["rev-parse", "HEAD"], None).await
    }

    /// Commits every change in the worktree, if there is any.
    pub(crate) async fn commit_all(
        &self,
        config: &WorktreeConfig,
        agent: &str,
        key: Option<&str>,
    ) -> Result<(), GitError> {
        git(&self.path, &["add", "-A"], None).await?;
        let staged = run_git(&self.path, &["diff", "--cached", "--quiet"], None).await?;
        if staged.success {
            return Ok(());
        }
        let mut message = config
            .message
            .replace("{agent}", agent)
            .replace("{key}", key.unwrap_or(""));
        if let Some(key) = key {
            message.push_str(&format!("\n\nTroupe-Key: {key}"));
        }
        let args = ["commit", "--quiet", "--no-verify", "-m", &message];
        git(&self.path, &args, Some(&config.identity())).await?;
        Ok(())
    }

    /// Drops every uncommitted change (ignored files stay: build outputs are kept).
    pub(crate) async fn discard(&self) -> Result<(), GitError> {
        git(&self.path, &["reset", "--hard", "--quiet", "HEAD"], None).await?;
        git(&self.path, &["clean", "-d", "--force", "--quiet"], None).await?;
        Ok(())
    }

    /// Removes the worktree (the branch stays).
    pub(crate) async fn close(mut self) -> Result<(), GitError> {
        self.armed = false;
        let _lock = WorktreeLock::take(&self.common).await?;
        remove(&self.repo, &self.path).await
    }
}

impl Drop for Worktree {
    /// The crash path (the agent's state dropped without `stopped`): removes the worktree right
    /// away with blocking git commands when the repository's worktree lock is free; when another
    /// agent holds it (it may need this very thread to finish), as a task of the current tokio
    /// runtime. Errors are logged, and the next start of the agent sweeps what is left.
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (repo, common, path) = (self.repo.clone(), self.common.clone(), self.path.clone());
        let lock = match WorktreeLock::try_take(&common) {
            Ok(Some(lock)) => lock,
            Ok(None) if tokio::runtime::Handle::try_current().is_ok() => {
                tokio::spawn(async move {
                    let removed = async {
                        let _lock = WorktreeLock::take(&common).await?;
                        remove(&repo, &path).await
                    };
                    if let Err(error) = removed.await {
                        tracing::warn!(worktree = %path.display(), %error, "could not remove a crashed agent's worktree");
                    }
                });
                return;
            }
            _ => match WorktreeLock::take_blocking(&common) {
                Ok(lock) => lock,
                Err(error) => {
                    tracing::warn!(worktree = %path.display(), %error, "could not remove a crashed agent's worktree");
                    return;
                }
            },
        };
        let status = std::process::Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["worktree", "remove", "--force", "--force"])
            .arg(&path)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        drop(lock);
        if !matches!(status, Ok(s) if s.success()) && path.exists() {
            tracing::warn!(worktree = %path.display(), "could not remove a crashed agent's worktree");
        }
    }
}

/// Removes the worktree at `path`, even if its files are half gone (the clean-up of a crashed
/// start that failed half-way). The caller holds the worktree lock.
pub(crate) async fn remove(repo: &Path, path: &Path) -> Result<(), GitError> {
    let p = path.to_string_lossy();
    let out = run_git(
        repo,
        &["worktree", "remove", "--force", "--force", &p],
        None,
    )
    .await?;
    if out.success {
        return Ok(());
    }
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(worktree = %path.display(), error = %e, "could not delete a worktree");
        }
        _ => {}
    }
    git(repo, &["worktree", "prune"], None).await.map(|_| ())
}
