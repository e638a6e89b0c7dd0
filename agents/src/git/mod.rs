//! Git for coding agents: per-agent worktrees for `cmd.run` (its `worktree:` option) and the
//! `git.merge` kind that merges the agents' branches one after another.
//!
//! Everything goes through the `git` binary (found in `PATH`) run with `tokio::process`; nothing
//! is shared between agents but the repository itself. Git's own locks keep concurrent commits
//! and merges apart, but not `git worktree add`/`remove` (one reads the administrative files of
//! the others while they are being written), so those hold [`WorktreeLock`]: a file lock in the
//! repository's git directory, which also keeps several Troupe processes on one repository
//! apart.
//!
//! - [`worktree`]: the lifecycle of one agent's worktree (created at start, removed at stop, by
//!   a drop guard after a crash, and swept by the next start of the same agent).
//! - [`merge`]: `git.merge`, branches merged in order into a target branch; a conflict is
//!   reported with its files and the merge aborted, so the target is left clean.

pub(crate) mod merge;
pub(crate) mod worktree;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use troupe_runtime::AgentError;

/// How long one git command may take before it is killed.
const GIT_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a git command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GitError {
    #[error("cannot start `git`: {0}")]
    Spawn(std::io::Error),
    #[error("`git {args}` in {dir} did not finish within {GIT_TIMEOUT:?}")]
    Timeout { args: String, dir: PathBuf },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`git {args}` in {dir} failed ({status}): {stderr}")]
    Failed {
        args: String,
        dir: PathBuf,
        status: String,
        stderr: String,
    },
}

impl From<GitError> for AgentError {
    fn from(e: GitError) -> Self {
        match &e {
            GitError::Spawn(_) => AgentError::permanent(e.to_string()),
            _ => AgentError::transient(e.to_string()),
        }
    }
}

/// The output of a git command that ran to its end.
pub(crate) struct GitOutput {
    /// Whether it exited with status 0.
    pub(crate) success: bool,
    /// Its standard output.
    pub(crate) stdout: String,
    /// Its standard error.
    pub(crate) stderr: String,
    status: String,
}

/// The identity written into commits that Troupe makes (author and committer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity<'a> {
    pub(crate) name: &'a str,
    pub(crate) email: &'a str,
}

/// A git command in directory `dir`: `git -C dir args...`, with the environment variables that
/// would point it elsewhere (a hook's `GIT_DIR`, ...) removed and prompts disabled.
fn command<I, S>(dir: &Path, args: I, who: Option<&Identity<'_>>) -> tokio::process::Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("-C").arg(dir).args(args);
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_COMMON_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0");
    if let Some(who) = who {
        for (var, value) in [
            ("GIT_AUTHOR_NAME", who.name),
            ("GIT_COMMITTER_NAME", who.name),
            ("GIT_AUTHOR_EMAIL", who.email),
            ("GIT_COMMITTER_EMAIL", who.email),
        ] {
            cmd.env(var, value);
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs `git -C dir args...` to its end, whatever its exit status.
pub(crate) async fn run_git(
    dir: &Path,
    args: &[&str],
    who: Option<&Identity<'_>>,
) -> Result<GitOutput, GitError> {
    let output = command(dir, args, who).output();
    let output = tokio::time::timeout(GIT_TIMEOUT, output)
        .await
        .map_err(|_| GitError::Timeout {
            args: args.join(" "),
            dir: dir.to_path_buf(),
        })?
        .map_err(GitError::Spawn)?;
    Ok(GitOutput {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        status: output.status.to_string(),
    })
}

/// Runs `git -C dir args...` and returns its trimmed standard output; a non-zero exit is an
/// error quoting stderr.
pub(crate) async fn git(
    dir: &Path,
    args: &[&str],
    who: Option<&Identity<'_>>,
) -> Result<String, GitError> {
    let out = run_git(dir, args, who).await?;
    if out.success {
        Ok(out.stdout.trim().to_string())
    } else {
        Err(failed(dir, args, out))
    }
}

fn failed(dir: &Path, args: &[&str], out: GitOutput) -> GitError {
    GitError::Failed {
        args: args.join(" "),
        dir: dir.to_path_buf(),
        status: out.status,
        stderr: out.stderr,
    }
}

/// The repository's worktree lock (`troupe-worktrees.lock` in its git directory), held while
/// worktrees are added, listed or removed; released when dropped.
pub(crate) struct WorktreeLock(#[allow(dead_code)] std::fs::File);

impl WorktreeLock {
    /// Waits for the lock of the repository whose git directory is `common`.
    pub(crate) async fn take(common: &Path) -> Result<Self, GitError> {
        let common = common.to_path_buf();
        let path = common.join("troupe-worktrees.lock");
        let waited = tokio::task::spawn_blocking(move || Self::take_blocking(&common)).await;
        waited.unwrap_or_else(|e| {
            Err(GitError::Lock {
                path,
                source: std::io::Error::other(e.to_string()),
            })
        })
    }

    /// The lock if it is free now, without waiting.
    pub(crate) fn try_take(common: &Path) -> Result<Option<Self>, GitError> {
        let path = common.join("troupe-worktrees.lock");
        let file = Self::file(&path).map_err(|source| GitError::Lock {
            path: path.clone(),
            source,
        })?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self(file))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(source)) => Err(GitError::Lock { path, source }),
        }
    }

    fn file(path: &Path) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
    }

    /// The same, blocking the thread.
    pub(crate) fn take_blocking(common: &Path) -> Result<Self, GitError> {
        let path = common.join("troupe-worktrees.lock");
        let locked = Self::file(&path).and_then(|f| f.lock().map(|()| f));
        locked
            .map(Self)
            .map_err(|source| GitError::Lock { path, source })
    }
}

/// The repository's git directory (shared by all its worktrees), absolute.
pub(crate) async fn common_dir(dir: &Path) -> Result<PathBuf, GitError> {
    let args = ["rev-parse", "--path-format=absolute", "--git-common-dir"];
    git(dir, &args, None).await.map(PathBuf::from)
}

/// The git directory of the repository whose top directory (or bare git directory) is `dir`.
/// A directory that is not in a repository, or is a subdirectory of one (so that git would act
/// on the enclosing repository: a typo must not merge into the wrong project), is a permanent
/// error; `what` names the caller (`worktree`, `git.merge`).
pub(crate) async fn repository(what: &str, dir: &Path) -> Result<PathBuf, AgentError> {
    let shown = dir.display();
    let common = common_dir(dir).await.map_err(|e| {
        AgentError::permanent(format!(
            "{what}: `repo` {shown} is not a git repository: {e}"
        ))
    })?;
    let prefix = git(dir, &["rev-parse", "--show-prefix"], None).await?;
    if !prefix.is_empty() {
        return Err(AgentError::permanent(format!(
            "{what}: `repo` {shown} is the subdirectory `{prefix}` of a repository, not its top"
        )));
    }
    Ok(common)
}

/// Whether `refs/heads/<branch>` exists in the repository at `dir`.
pub(crate) async fn branch_exists(dir: &Path, branch: &str) -> Result<bool, GitError> {
    let full = format!("refs/heads/{branch}");
    let out = run_git(dir, &["rev-parse", "--verify", "--quiet", &full], None).await?;
    Ok(out.success)
}

/// The worktrees of the repository at `dir`: `(path, checked-out branch)`.
pub(crate) async fn worktrees(dir: &Path) -> Result<Vec<(PathBuf, Option<String>)>, GitError> {
    let text = git(dir, &["worktree", "list", "--porcelain"], None).await?;
    let mut all = Vec::new();
    for line in text.lines() {
        if let Some(path) = line.strip_prefix("worktree ") {
            all.push((PathBuf::from(path), None));
        } else if let Some(branch) = line.strip_prefix("branch refs/heads/") {
            if let Some(last) = all.last_mut() {
                last.1 = Some(branch.to_string());
            }
        }
    }
    Ok(all)
}

/// A branch name made of `prefix` and an agent id: characters git refuses in a ref (and dots,
/// to stay clear of `..` and `.lock`) become `-`, empty path components are dropped.
pub(crate) fn branch_name(prefix: &str, agent: &str) -> String {
    let cleaned: Vec<String> = agent
        .split('/')
        .map(|part| {
            part.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect::<String>()
        })
        .filter(|part| !part.is_empty())
        .collect();
    format!("{prefix}{}", cleaned.join("/"))
}

/// Why a branch prefix cannot start a branch name, if it cannot: the characters allowed are
/// letters, digits, `-`, `_`, `.` and `/`, with no `..`, `//` or `/.`, and no leading `-`,
/// `.` or `/`.
pub(crate) fn bad_prefix(prefix: &str) -> Option<String> {
    if let Some(c) = prefix
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
    {
        return Some(format!("{c:?} is not allowed in a branch name"));
    }
    if prefix.starts_with(['-', '.', '/']) {
        return Some("must not start with `-`, `.` or `/`".into());
    }
    for bad in ["..", "//", "/."] {
        if prefix.contains(bad) {
            return Some(format!("must not contain `{bad}`"));
        }
    }
    None
}

/// Why `name` cannot be a branch name given to git, if it cannot ([`bad_prefix`]'s rules, and
/// not empty, not ending with `/` or `.lock`).
pub(crate) fn bad_branch(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a branch name cannot be empty".into());
    }
    if name.ends_with('/') || name.ends_with(".lock") || name.ends_with('.') {
        return Some("must not end with `/`, `.` or `.lock`".into());
    }
    bad_prefix(name)
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod runtime_tests;
