//! `cmd.run`: run a program (not through a shell unless asked), feed it the request, reply with
//! its exit status and output.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use troupe_runtime::{Agent, AgentContext, AgentError, Snapshot};

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
    /// Working directory (default: the node's).
    pub cwd: Option<PathBuf>,
    /// A non-zero exit is a (retryable) error (default true); when false it is a normal reply.
    pub fail_on_nonzero: bool,
    /// Keep at most this many bytes of stdout and of stderr each (default 1 MiB); the rest is
    /// read and dropped, and the reply says `truncated: true`.
    pub max_output_bytes: usize,
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
    pub fn new(config: CmdConfig) -> Result<Self, String> {
        if config.program.is_empty() {
            return Err("missing field `program`".into());
        }
        Ok(Self { config })
    }

    /// An agent built from a pool's JSON `config:`.
    pub fn from_config(config: &Value) -> Result<Self, String> {
        Self::new(parse_config(config)?)
    }

    /// Runs the program for one request.
    pub(crate) async fn run(&self, request: CmdRequest) -> Result<CmdOutput, CmdError> {
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
        if let Some(dir) = &c.cwd {
            cmd.current_dir(dir);
        }
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

impl Agent for CmdRun {
    type Request = CmdRequest;
    type Reply = CmdOutput;
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
        _ctx: &AgentContext,
        _state: &mut (),
        request: CmdRequest,
    ) -> Result<CmdOutput, AgentError> {
        Ok(self.run(request).await?)
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
