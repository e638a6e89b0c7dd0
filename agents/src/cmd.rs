//! `cmd.run`: run a program (not through a shell unless asked), feed it the request, reply with
//! its exit status and output. With `worktree:`, each agent runs its program in its own git
//! worktree and branch (see [`crate::git::worktree`] for the lifecycle), and replies name the
//! branch and the commit the request made.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use troupe_runtime::ConfigError;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use troupe_runtime::{Agent, AgentContext, AgentError, Snapshot};

use crate::git::worktree::{Worktree, WorktreeConfig};
use crate::shape::{decode, describe, deserialize_via_value, parse_config};

/// Where a plain (string, number or boolean) request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CmdInput {
    /// Written to the program's standard input (default).
    #[default]
    Stdin,
    /// Appended as the last argument.
    Arg,
}

/// Configuration of `cmd.run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CmdConfig {
    /// The program (looked up in `PATH`); with `shell: true`, a shell command line (required).
    pub program: String,
    /// Arguments, passed as they are (no shell splitting or expansion). With `shell: true` they
    /// are the script's `$1`, `$2`, ...
    pub args: Vec<String>,
    /// Run `program` with `sh -c` (default false).
    pub shell: bool,
    /// Where a plain request goes: `stdin` (default) or `arg`.
    pub input: CmdInput,
    /// Kill the program after this long: `"500ms"`, `"30s"`, `"2m"` or a number of seconds
    /// (default 60s).
    #[serde(with = "crate::shape::duration")]
    pub timeout: Duration,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Start from an empty environment instead of the node's (default false).
    pub clear_env: bool,
    /// Working directory (default: the node's). With `worktree`, a relative path inside the
    /// agent's worktree (default: the worktree's top).
    pub cwd: Option<PathBuf>,
    /// A non-zero exit is a (retryable) error (default true); when false it is a normal reply.
    pub fail_on_nonzero: bool,
    /// Keep at most this many bytes of stdout and of stderr each (default 1 MiB); the rest is
    /// read and dropped, and the reply says `truncated: true`.
    pub max_output_bytes: usize,
    /// Run in a git worktree and branch of a repository, one per agent (default none).
    pub worktree: Option<WorktreeConfig>,
}

impl Default for CmdConfig {
    fn default() -> Self {
        Self {
            program: String::new(),
            args: Vec::new(),
            shell: false,
            input: CmdInput::Stdin,
            timeout: Duration::from_secs(60),
            env: BTreeMap::new(),
            clear_env: false,
            cwd: None,
            fail_on_nonzero: true,
            max_output_bytes: 1024 * 1024,
            worktree: None,
        }
    }
}

/// A `cmd.run` request: `null` (run as configured), a string, number or boolean (to stdin or as
/// an argument, per config `input`), an array of those (extra arguments), or an object
/// `{"stdin": "...", "args": [...], "env": {...}}` (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CmdRequest {
    /// A plain value, routed per config `input`.
    pub plain: Option<String>,
    /// Standard input.
    pub stdin: Option<String>,
    /// Arguments appended to the configured ones.
    pub args: Vec<String>,
    /// Environment variables added to the configured ones.
    pub env: BTreeMap<String, String>,
}

impl CmdRequest {
    fn from_value(value: Value) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            #[serde(default)]
            stdin: Option<String>,
            #[serde(default)]
            args: Vec<String>,
            #[serde(default)]
            env: BTreeMap<String, String>,
        }
        let scalar = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        match value {
            Value::Null => Ok(Self::default()),
            Value::Array(items) => {
                let args = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        scalar(v).ok_or_else(|| {
                            format!(
                                "argument {i} must be a string or a number, got {}",
                                describe(v)
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Self {
                    args,
                    ..Self::default()
                })
            }
            v @ Value::Object(_) => decode::<Fields>(v).map(|f| Self {
                plain: None,
                stdin: f.stdin,
                args: f.args,
                env: f.env,
            }),
            other => Ok(Self {
                plain: scalar(&other),
                ..Self::default()
            }),
        }
    }
}

deserialize_via_value!(CmdRequest);

/// The reply of `cmd.run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CmdOutput {
    /// The exit code; `null` when the program was ended by a signal.
    pub status: Option<i32>,
    /// Standard output (invalid UTF-8 replaced by U+FFFD).
    pub stdout: String,
    /// Standard error (invalid UTF-8 replaced by U+FFFD).
    pub stderr: String,
    /// Whether stdout or stderr was cut at `max_output_bytes`.
    pub truncated: bool,
    /// With `worktree`: the agent's branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// With `worktree`: the branch's new commit when the request moved it (the commit made with
    /// `commit: true`, or the program's own), else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// With `worktree`: the directory the program ran in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<PathBuf>,
}

/// Why a `cmd.run` request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CmdError {
    #[error("cannot start `{program}`: {source}")]
    Spawn { program: String, source: io::Error },
    #[error("`{program}` did not finish within {after:?} and was killed (config `timeout`)")]
    Timeout { program: String, after: Duration },
    #[error("`{program}` {how}{stderr}")]
    Failed {
        program: String,
        how: String,
        stderr: String,
    },
    #[error("i/o with `{program}` failed: {source}")]
    Io { program: String, source: io::Error },
}

impl From<CmdError> for AgentError {
    fn from(e: CmdError) -> Self {
        match &e {
            CmdError::Spawn { source, .. }
                if matches!(
                    source.kind(),
                    io::ErrorKind::NotFound
                        | io::ErrorKind::PermissionDenied
                        | io::ErrorKind::InvalidInput
                ) =>
            {
                AgentError::permanent(e.to_string())
            }
            _ => AgentError::transient(e.to_string()),
        }
    }
}

/// `cmd.run`: runs the configured program once per request and replies with a [`CmdOutput`].
#[derive(Debug, Clone)]
pub struct CmdRun {
    config: CmdConfig,
}

impl CmdRun {
    /// An agent with this configuration.
    pub fn new(config: CmdConfig) -> Result<Self, ConfigError> {
        if config.program.is_empty() {
            return Err(ConfigError::new("cmd.run", "", "missing field `program`"));
        }
        if let Some(w) = &config.worktree {
            if let Some(why) = crate::git::bad_prefix(&w.branch_prefix) {
                return Err(ConfigError::new("cmd.run", "/worktree/branch_prefix", why));
            }
            if config.cwd.as_ref().is_some_and(|d| d.is_absolute()) {
                let why = "must be a relative path (inside the worktree) with `worktree`";
                return Err(ConfigError::new("cmd.run", "/cwd", why));
            }
        }
        Ok(Self { config })
    }

    /// An agent built from a pool's JSON `config:`.
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        Self::new(parse_config(config)?)
    }

    /// Runs the program for one request.
    #[cfg(test)]
    pub(crate) async fn run(&self, request: CmdRequest) -> Result<CmdOutput, CmdError> {
        self.run_in(request, None).await
    }

    /// Runs the program for one request, in `worktree` if given (then `cwd` is inside it).
    pub(crate) async fn run_in(
        &self,
        request: CmdRequest,
        worktree: Option<&Path>,
    ) -> Result<CmdOutput, CmdError> {
        let c = &self.config;
        let mut stdin = request.stdin;
        let mut extra = request.args;
        match (request.plain, c.input) {
            (Some(p), CmdInput::Stdin) => stdin = Some(p),
            (Some(p), CmdInput::Arg) => extra.push(p),
            (None, _) => {}
        }
        let mut cmd = if c.shell {
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(&c.program).arg("sh");
            cmd
        } else {
            Command::new(&c.program)
        };
        cmd.args(&c.args).args(&extra);
        if c.clear_env {
            cmd.env_clear();
        }
        cmd.envs(&c.env).envs(&request.env);
        match (worktree, &c.cwd) {
            (Some(top), Some(dir)) => cmd.current_dir(top.join(dir)),
            (Some(top), None) => cmd.current_dir(top),
            (None, Some(dir)) => cmd.current_dir(dir),
            (None, None) => &mut cmd,
        };
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);

        let program = c.program.clone();
        let mut child = cmd.spawn().map_err(|source| CmdError::Spawn {
            program: program.clone(),
            source,
        })?;
        let pipe_in = child.stdin.take();
        let pipe_out = child.stdout.take();
        let pipe_err = child.stderr.take();
        let cap = c.max_output_bytes;
        let feed = async move {
            if let (Some(mut pipe), Some(data)) = (pipe_in, stdin) {
                match pipe.write_all(data.as_bytes()).await {
                    // The program may exit without reading its input: not an error.
                    Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(e),
                    _ => {}
                }
            }
            Ok(())
        };
        let work = async {
            let (fed, out, err) =
                tokio::join!(feed, read_capped(pipe_out, cap), read_capped(pipe_err, cap));
            let status = child.wait().await?;
            fed?;
            Ok::<_, io::Error>((status, out?, err?))
        };
        let result = tokio::time::timeout(c.timeout, work).await;
        let (status, (out, out_cut), (err, err_cut)) = match result {
            Ok(r) => r.map_err(|source| CmdError::Io {
                program: program.clone(),
                source,
            })?,
            Err(_) => {
                // Best effort: the child may have exited just now.
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(CmdError::Timeout {
                    program,
                    after: c.timeout,
                });
            }
        };
        let output = CmdOutput {
            status: status.code(),
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
            truncated: out_cut || err_cut,
            branch: None,
            commit: None,
            worktree: None,
        };
        if c.fail_on_nonzero && !status.success() {
            return Err(CmdError::Failed {
                program,
                how: describe_status(status),
                stderr: stderr_tail(&output.stderr),
            });
        }
        Ok(output)
    }
}

/// The state of a `cmd.run` agent: its worktree, with `worktree:` (removed when the agent stops,
/// or when the state is dropped after a crash).
#[derive(Debug, Default)]
pub struct CmdState {
    worktree: Option<Worktree>,
}

impl Agent for CmdRun {
    type Request = CmdRequest;
    type Reply = CmdOutput;
    type State = CmdState;

    async fn init(
        &self,
        ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<CmdState, AgentError> {
        let worktree = match &self.config.worktree {
            Some(w) => Some(Worktree::open(w, ctx.id().as_str(), ctx.starts()).await?),
            None => None,
        };
        Ok(CmdState { worktree })
    }

    async fn handle(
        &self,
        ctx: &AgentContext,
        state: &mut CmdState,
        mut request: CmdRequest,
    ) -> Result<CmdOutput, AgentError> {
        // A workflow task's call carries its idempotency key: the program sees it.
        if let Some(key) = ctx.idempotency_key() {
            request
                .env
                .entry("TROUPE_IDEMPOTENCY_KEY".into())
                .or_insert_with(|| key.to_string());
        }
        let (Some(tree), Some(config)) = (state.worktree.as_ref(), &self.config.worktree) else {
            return Ok(self.run_in(request, None).await?);
        };
        for (var, value) in [
            ("TROUPE_BRANCH", &tree.branch),
            ("TROUPE_WORKTREE", &tree.path.display().to_string()),
        ] {
            request
                .env
                .entry(var.into())
                .or_insert_with(|| value.clone());
        }
        let before = tree.head().await?;
        let result = self.run_in(request, Some(&tree.path)).await;
        if config.commit {
            match &result {
                Ok(out) if out.status == Some(0) => {
                    let key = ctx.idempotency_key();
                    tree.commit_all(config, ctx.id().as_str(), key).await?
                }
                // A failed request leaves nothing behind: a retry starts from the last commit.
                _ => tree.discard().await?,
            }
        }
        let mut out = result?;
        let after = tree.head().await?;
        out.branch = Some(tree.branch.clone());
        out.commit = (after != before).then_some(after);
        out.worktree = Some(tree.path.clone());
        Ok(out)
    }

    async fn stopped(&self, _ctx: &AgentContext, state: &mut CmdState) {
        if let Some(tree) = state.worktree.take() {
            let path = tree.path.clone();
            if let Err(error) = tree.close().await {
                tracing::warn!(worktree = %path.display(), %error, "could not remove a worktree");
            }
        }
    }
}

/// Reads a pipe to its end, keeping the first `cap` bytes; says whether anything was dropped.
async fn read_capped<R: AsyncRead + Unpin>(
    pipe: Option<R>,
    cap: usize,
) -> io::Result<(Vec<u8>, bool)> {
    let Some(mut pipe) = pipe else {
        return Ok((Vec::new(), false));
    };
    let mut kept = Vec::new();
    let mut cut = false;
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = pipe.read(&mut chunk).await?;
        if n == 0 {
            return Ok((kept, cut));
        }
        let room = cap - kept.len();
        if n > room {
            cut = true;
        }
        kept.extend_from_slice(&chunk[..n.min(room)]);
    }
}

fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => format!("was ended by a signal ({status})"),
    }
}

/// The last few hundred characters of stderr, for an error message.
fn stderr_tail(stderr: &str) -> String {
    const MAX: usize = 400;
    let s = stderr.trim();
    if s.is_empty() {
        return String::new();
    }
    let start = s.char_indices().rev().nth(MAX - 1).map_or(0, |(i, _)| i);
    let ellipsis = if start > 0 { "..." } else { "" };
    format!(": {ellipsis}{}", &s[start..])
}

#[cfg(test)]
#[path = "cmd_tests.rs"]
mod tests;
