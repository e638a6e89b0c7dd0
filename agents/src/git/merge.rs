//! `git.merge`: merges branches one after another into a target branch and reports conflicts.
//!
//! The merge runs where the target branch is checked out (the repository's main checkout, say),
//! which must have no uncommitted changes to tracked files; when it is checked out nowhere, in a
//! worktree of its own made for the request and removed after it. Each branch gets a merge
//! commit (`--no-ff`); one already merged changes nothing. A branch that conflicts is aborted
//! (`git merge --abort`): the target is left as the last clean merge made it, and the reply
//! lists the conflicting files.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use troupe_runtime::{Agent, AgentContext, AgentError, ConfigError, Snapshot};

use super::{
    bad_branch, branch_exists, branch_name, common_dir, git, run_git, worktrees, GitError,
    Identity, WorktreeLock,
};
use crate::shape::{decode, describe, deserialize_via_value, parse_config};

/// What `git.merge` does when a branch conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Abort that merge and merge no further branch; the reply lists the rest as `skipped`
    /// (default).
    #[default]
    Stop,
    /// Abort that merge and go on with the next branch.
    Skip,
    /// Abort that merge and fail the request (a permanent error naming the files).
    Fail,
}

/// Configuration of `git.merge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitMergeConfig {
    /// The repository: the top directory of its checkout (or of one of its worktrees), or a bare
    /// repository (required); a subdirectory is refused.
    pub repo: PathBuf,
    /// The branch merged into (default: the branch checked out in `repo`).
    #[serde(default)]
    pub into: Option<String>,
    /// Branches to merge when the request names none.
    #[serde(default)]
    pub branches: Vec<String>,
    /// What a conflict does: `stop` (default), `skip` or `fail`.
    #[serde(default)]
    pub on_conflict: OnConflict,
    /// Delete each branch once merged, unless it is checked out in a worktree (default false).
    #[serde(default)]
    pub delete_merged: bool,
    /// The merge commit's message; `{branch}` and `{into}` are filled in (default
    /// `Merge {branch} into {into}`).
    #[serde(default = "default_message")]
    pub message: String,
    /// Author and committer name of the merge commits (default `troupe`).
    #[serde(default = "default_author_name")]
    pub author_name: String,
    /// Author and committer email of the merge commits (default `troupe@localhost`).
    #[serde(default = "default_author_email")]
    pub author_email: String,
}

fn default_message() -> String {
    "Merge {branch} into {into}".into()
}
fn default_author_name() -> String {
    "troupe".into()
}
fn default_author_email() -> String {
    "troupe@localhost".into()
}

/// A `git.merge` request: `null` (the configured branches), a branch name, or an array of
/// branch names and `cmd.run` replies (their `branch`; `null` items, such as an optional task
/// that failed, are skipped); an object is `{"branches": [...], "into": "..."}` when it has
/// either field, and otherwise a task's inputs keyed by task id, taken in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitMergeRequest {
    /// The branches, in merge order (empty: the configured ones).
    pub branches: Vec<String>,
    /// The target branch, overriding the config's.
    pub into: Option<String>,
}

impl GitMergeRequest {
    fn from_value(value: Value) -> Result<Self, String> {
        fn one(v: &Value, at: &str) -> Result<Option<String>, String> {
            match v {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s.clone())),
                Value::Object(o) => match o.get("branch") {
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    _ => Err(format!(
                        "{at}: an object must be a cmd.run reply with a `branch` (a cmd.run with `worktree:`)"
                    )),
                },
                other => Err(format!(
                    "{at} must be a branch name or a cmd.run reply, got {}",
                    describe(other)
                )),
            }
        }
        fn many<'a>(
            items: impl Iterator<Item = (String, &'a Value)>,
        ) -> Result<Vec<String>, String> {
            let mut out = Vec::new();
            for (at, v) in items {
                match v {
                    Value::Array(inner) => {
                        for (i, v) in inner.iter().enumerate() {
                            out.extend(one(v, &format!("{at} item {i}"))?);
                        }
                    }
                    v => out.extend(one(v, &at)?),
                }
            }
            Ok(out)
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            #[serde(default)]
            branches: Vec<String>,
            #[serde(default)]
            into: Option<String>,
        }
        match value {
            Value::Null => Ok(Self::default()),
            Value::Object(o) if o.contains_key("branches") || o.contains_key("into") => {
                decode::<Fields>(Value::Object(o)).map(|f| Self {
                    branches: f.branches,
                    into: f.into,
                })
            }
            Value::Object(o) if o.contains_key("branch") => Ok(Self {
                branches: one(&Value::Object(o), "the request")?.into_iter().collect(),
                into: None,
            }),
            Value::Object(o) => Ok(Self {
                branches: many(o.iter().map(|(k, v)| (format!("input `{k}`"), v)))?,
                into: None,
            }),
            Value::Array(items) => Ok(Self {
                branches: many(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (format!("item {i}"), v)),
                )?,
                into: None,
            }),
            v => Ok(Self {
                branches: one(&v, "the request")?.into_iter().collect(),
                into: None,
            }),
        }
    }
}

deserialize_via_value!(GitMergeRequest);

/// A branch merged cleanly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedBranch {
    /// The branch.
    pub branch: String,
    /// The target's commit after merging it.
    pub commit: String,
}

/// A branch whose merge conflicted (and was aborted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeConflict {
    /// The branch.
    pub branch: String,
    /// The files with conflicts, sorted.
    pub files: Vec<String>,
}

/// The reply of `git.merge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitMergeReply {
    /// The target branch.
    pub into: String,
    /// Branches merged, in order.
    pub merged: Vec<MergedBranch>,
    /// Branches that conflicted, in order (their merges aborted).
    pub conflicts: Vec<MergeConflict>,
    /// Branches not tried, after a conflict with `on_conflict: stop`.
    pub skipped: Vec<String>,
    /// Branches deleted once merged (`delete_merged: true`; a branch still checked out in a
    /// worktree, such as a running agent's, is kept).
    #[serde(default)]
    pub deleted: Vec<String>,
    /// Whether every branch merged (no conflict).
    pub clean: bool,
    /// The target's commit at the end.
    pub head: String,
}

/// `git.merge`: merges branches in order into a target branch.
#[derive(Debug, Clone)]
pub struct GitMerge {
    config: GitMergeConfig,
}

impl GitMerge {
    /// An agent with this configuration.
    pub fn new(config: GitMergeConfig) -> Result<Self, ConfigError> {
        for (i, b) in config.branches.iter().enumerate() {
            if let Some(why) = bad_branch(b) {
                let path = format!("/branches/{i}");
                return Err(ConfigError::new("git.merge", path, format!("{b:?}: {why}")));
            }
        }
        if let Some((b, why)) = config.into.as_ref().and_then(|b| Some((b, bad_branch(b)?))) {
            return Err(ConfigError::new(
                "git.merge",
                "/into",
                format!("{b:?}: {why}"),
            ));
        }
        Ok(Self { config })
    }

    /// An agent built from a pool's JSON `config:`.
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        Self::new(parse_config(config)?)
    }

    /// Merges the request's branches, for agent `agent`.
    pub(crate) async fn merge(
        &self,
        agent: &str,
        request: GitMergeRequest,
    ) -> Result<GitMergeReply, AgentError> {
        let c = &self.config;
        let repo = &c.repo;
        super::repository("git.merge", repo).await?;
        let into = match request.into.or_else(|| c.into.clone()) {
            Some(b) => b,
            None => git(repo, &["symbolic-ref", "--short", "HEAD"], None)
                .await
                .map_err(|e| {
                    AgentError::permanent(format!(
                        "git.merge: no `into` and no branch checked out in {}: {e}",
                        repo.display()
                    ))
                })?,
        };
        let mut branches = if request.branches.is_empty() {
            c.branches.clone()
        } else {
            request.branches
        };
        let mut seen = std::collections::HashSet::new();
        branches.retain(|b| seen.insert(b.clone()));
        for b in std::iter::once(&into).chain(&branches) {
            if let Some(why) = bad_branch(b) {
                return Err(AgentError::permanent(format!(
                    "git.merge: branch {b:?}: {why}"
                )));
            }
            if !branch_exists(repo, b).await? {
                return Err(AgentError::permanent(format!(
                    "git.merge: no branch `{b}` in {}",
                    repo.display()
                )));
            }
        }
        let place = Place::find(repo, &into, agent).await?;
        let result = self.merge_in(&place.dir, &into, &branches).await;
        place.close(repo).await;
        let mut reply = result?;
        if c.delete_merged {
            // `git branch -D` reads the worktrees' files (is the branch checked out?).
            let _lock = WorktreeLock::take(&common_dir(repo).await?).await?;
            let checked_out: Vec<String> = worktrees(repo)
                .await?
                .into_iter()
                .filter_map(|(_, b)| b)
                .collect();
            for m in &reply.merged {
                // A branch still checked out (its agent still runs) is kept.
                if !checked_out.contains(&m.branch) {
                    git(repo, &["branch", "-D", &m.branch], None).await?;
                    reply.deleted.push(m.branch.clone());
                }
            }
        }
        Ok(reply)
    }

    async fn merge_in(
        &self,
        dir: &Path,
        into: &str,
        branches: &[String],
    ) -> Result<GitMergeReply, AgentError> {
        let c = &self.config;
        let who = Identity {
            name: &c.author_name,
            email: &c.author_email,
        };
        let dirty = git(
            dir,
            &["status", "--porcelain", "--untracked-files=no"],
            None,
        )
        .await?;
        if !dirty.is_empty() {
            return Err(AgentError::permanent(format!(
                "git.merge: `{into}` is checked out in {} with uncommitted changes",
                dir.display()
            )));
        }
        let mut reply = GitMergeReply {
            into: into.to_string(),
            merged: Vec::new(),
            conflicts: Vec::new(),
            skipped: Vec::new(),
            deleted: Vec::new(),
            clean: true,
            head: String::new(),
        };
        for (i, branch) in branches.iter().enumerate() {
            let message = c
                .message
                .replace("{branch}", branch)
                .replace("{into}", into);
            let args = ["merge", "--no-ff", "--no-edit", "-m", &message, branch];
            let out = run_git(dir, &args, Some(&who)).await?;
            if out.success {
                let commit = git(dir, &["rev-parse", "HEAD"], None).await?;
                reply.merged.push(MergedBranch {
                    branch: branch.clone(),
                    commit,
                });
                continue;
            }
            let listed = git(dir, &["diff", "--name-only", "--diff-filter=U"], None).await;
            // Leave the target clean whatever happened.
            let _ = run_git(dir, &["merge", "--abort"], None).await;
            let files: Vec<String> = match listed {
                Ok(text) => text.lines().map(str::to_string).collect(),
                Err(e) => return Err(e.into()),
            };
            if files.is_empty() {
                return Err(AgentError::transient(format!(
                    "git.merge: merging `{branch}` into `{into}` failed: {}",
                    out.stderr
                )));
            }
            reply.clean = false;
            match c.on_conflict {
                OnConflict::Fail => {
                    return Err(AgentError::permanent(format!(
                        "git.merge: `{branch}` conflicts with `{into}` in {}",
                        files.join(", ")
                    )))
                }
                OnConflict::Stop => {
                    reply.conflicts.push(MergeConflict {
                        branch: branch.clone(),
                        files,
                    });
                    reply.skipped = branches[i + 1..].to_vec();
                    break;
                }
                OnConflict::Skip => reply.conflicts.push(MergeConflict {
                    branch: branch.clone(),
                    files,
                }),
            }
        }
        reply.head = git(dir, &["rev-parse", "HEAD"], None).await?;
        Ok(reply)
    }
}

/// Where the target branch is checked out for the merge.
struct Place {
    dir: PathBuf,
    /// Whether `dir` is a worktree made for this request (removed after it).
    made: bool,
}

impl Place {
    async fn find(repo: &Path, into: &str, agent: &str) -> Result<Self, GitError> {
        let common = common_dir(repo).await?;
        let _lock = WorktreeLock::take(&common).await?;
        let ours = common.join("troupe-worktrees").join(format!(
            "merge-{}",
            branch_name("", &format!("{agent}/{into}")).replace('/', "+")
        ));
        let checked_out = worktrees(repo)
            .await?
            .into_iter()
            .find(|(_, b)| b.as_deref() == Some(into));
        match checked_out {
            // Where someone checked it out: merge there.
            Some((dir, _)) if dir != ours => return Ok(Self { dir, made: false }),
            _ => {}
        }
        // Ours, left by a merge that did not finish (a killed process): start again.
        if ours.exists() {
            super::worktree::remove(repo, &ours).await?;
        }
        let d = ours.to_string_lossy().into_owned();
        git(repo, &["worktree", "add", &d, into], None).await?;
        Ok(Self {
            dir: ours,
            made: true,
        })
    }

    async fn close(self, repo: &Path) {
        if self.made {
            let d = self.dir.to_string_lossy().into_owned();
            let removed = async {
                let _lock = WorktreeLock::take(&common_dir(repo).await?).await?;
                git(repo, &["worktree", "remove", "--force", &d], None).await
            };
            if let Err(e) = removed.await {
                tracing::warn!(error = %e, "git.merge could not remove its worktree");
            }
        }
    }
}

impl Agent for GitMerge {
    type Request = GitMergeRequest;
    type Reply = GitMergeReply;
    type State = ();

    async fn init(
        &self,
        _ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        ctx: &AgentContext,
        _state: &mut (),
        request: GitMergeRequest,
    ) -> Result<GitMergeReply, AgentError> {
        self.merge(ctx.id().as_str(), request).await
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
