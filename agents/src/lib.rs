//! Ready-made Troupe agent kinds, so that a workflow file can do useful work without Rust code:
//! read and split text, count words, reshape JSON, run commands (each agent in its own git
//! worktree if asked), merge the branches of coding agents, call HTTP endpoints, and a few
//! utilities for demos and tests.
//!
//! [`register_all`] adds every kind to a runtime's [`KindRegistry`]; [`KINDS`] lists them.
//!
//! ```
//! use troupe_runtime::Runtime;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!
//! let runtime = Runtime::start(Default::default()).await?;
//! troupe_agents::register_all(runtime.kinds());
//! let split = runtime
//!     .spawn_kind("text.split", "splitter", serde_json::json!({"by": "words", "size": 2}))
//!     .await?;
//! let chunks = split.ask_value(serde_json::json!("one two three"), None).await?;
//! assert_eq!(chunks, serde_json::json!(["one two", "three"]));
//! runtime.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # How kinds read their input
//!
//! A pool's `config:` is decoded into the kind's config struct: every field is optional unless
//! marked *required*, unknown fields are refused, and an error names the field. Durations are
//! written like a task's `timeout:` in the workflow file: `"500ms"`, `"30s"`, `"2m"`, `"1h30m"`,
//! or a number of seconds. A missing
//! `config:` means all defaults. Requests are forgiving: where it makes sense a kind accepts a
//! plain string as well as an object, and an array to process several items at once. Bad input
//! gets a permanent error (not retried); failures that may pass (I/O, a non-zero exit, HTTP
//! 5xx, timeouts) get a transient one (retried per the task's `retry` policy).
//!
//! # Kinds
//!
//! | kind | config (defaults) | request | reply |
//! |---|---|---|---|
//! | `text.read` | `path`, `max_bytes` (16 MiB) | `null` (use config `path`), a path string, or `{"path"}` | the file's text (a string) |
//! | `text.split` | `by`: `lines` \| `paragraphs` \| `words` (`lines`); `size`: units per chunk (1); `keep_empty` (false) | text: a string, `{"text"}`, or an array of those | array of chunk strings |
//! | `text.count` | `top` (10); `counts`: also reply every word's count (false) | text, as for `text.split` (an array is counted as one) | `{"words", "lines", "chars", "top": [[word, n], ...]}` (+ `"counts": {word: n}`) |
//! | `text.merge_counts` | `top` (10) | array of `text.count` replies (`null` items skipped) | same shape as `text.count`, summed |
//! | `text.transform` | `op` (*required*): `uppercase` \| `lowercase` \| `trim` \| `replace` (`from` *required*, `to` ("")) \| `template` (`template` *required*) | a string or an array of strings (`template`: any JSON) | same shape: a string or an array of strings |
//! | `json.pick` | `path` or `fields: {name: path}` (one *required*); `default` (none: a missing path is an error) | any JSON | the value at `path`, or `{name: value, ...}` |
//! | `cmd.run` | `program` (*required*), `args` ([]), `shell` (false), `input`: `stdin` \| `arg` (`stdin`), `timeout` (60s), `env` ({}), `clear_env` (false), `cwd`, `fail_on_nonzero` (true), `max_output_bytes` (1 MiB), `worktree`: `{repo` (*required*), `base` (`HEAD`), `branch_prefix` (`troupe/`), `commit` (false), `message` (`troupe: {agent}`), `author_name` (`troupe`), `author_email` (`troupe@localhost`), `reset` (false), `dir` (`<git dir>/troupe-worktrees`)`}` (none) | `null`; a string/number (stdin or last argument, per `input`); an array (extra arguments); or `{"stdin", "args", "env"}` | `{"status": code \| null, "stdout", "stderr", "truncated"}`; with `worktree` also `"branch"`, `"worktree"` and `"commit"` (when the request moved the branch) |
//! | `git.merge` | `repo` (*required*), `into` (the branch checked out in `repo`), `branches` ([]), `on_conflict`: `stop` \| `skip` \| `fail` (`stop`), `delete_merged` (false), `message` (`Merge {branch} into {into}`), `author_name`, `author_email` | `null` (config `branches`); a branch name; an array of branch names and `cmd.run` replies (their `branch`; `null`s skipped); `{"branches", "into"}`; or a task's inputs keyed by task id (key order) | `{"into", "merged": [{"branch", "commit"}], "conflicts": [{"branch", "files"}], "skipped": [...], "deleted": [...], "clean", "head"}` |
//! | `http.request` | `url`, `method` (`GET`), `headers` ({}), `body`, `input`: `fields` \| `body` (`fields`), `timeout` (30s), `connect_timeout` (10s), `max_body_bytes` (16 MiB), `error_for_status` (true), `ca_file` (a PEM file of extra trusted CAs), `max_redirects` (10) | `fields`: `null`, a URL string, or `{"url", "method", "headers", "body"}` overriding the config; `body`: the request is the body | `{"status", "headers": {name: value}, "body"}` (JSON when the content type is JSON, else a string) |
//! | `llm.chat` | `base_url`, `model` (*required*), `api_key_env`, `system`, `prompt` (template), `temperature`, `top_p`, `max_tokens`, `presence_penalty`, `frequency_penalty`, `seed`, `stop`, `timeout` (60s), `response_format` (`{name, schema}`), `stream` (false), `retries` (3), `retry_backoff` (500ms), `tools` ([]), `mcp` ([]), `handoff`, `max_steps` (8), `tool_timeout` (30s), `memory`, `budget`, `journal_dir`, `reply`: `content` \| `full` | any JSON: through `prompt`, else a string as is and other JSON as its text | the answer (a string), the structured output's JSON, or (`full`) `{content, usage, steps, tool_calls}` |
//! | `util.echo` | none | anything | the request |
//! | `util.sleep` | `duration` (100ms) | anything | the request, after `duration` |
//! | `util.fail` | `message` ("failed on purpose"), `transient` (false) | anything | always an error |
//! | `util.flaky` | `failures` (1), `message` ("flaky failure") | anything | a transient error for the agent's first `failures` calls, then the request |
//! | `util.crash` | `starts` (1) | anything | panics (crashing the agent) during its first `starts` starts, then the request |
//!
//! Details per kind:
//!
//! - **`text.read`**: the request's path wins over the config's. Missing files, directories,
//!   non-UTF-8 content and files over `max_bytes` are permanent errors; other I/O errors are
//!   transient.
//! - **`text.split`**: `lines` chunks are joined with `\n`, `paragraphs` (runs of non-blank lines)
//!   with a blank line, `words` (split on whitespace) with one space. Chunks that are empty or
//!   only whitespace are dropped unless `keep_empty`. An array request is split item by item and
//!   the chunks concatenated, so a `parallel: true` task after it fans out over every chunk.
//! - **`text.count`**: a word is a run of letters and digits (an apostrophe inside counts:
//!   `don't`); `top` lists lowercased words by count descending, ties alphabetically; `lines`
//!   counts a last line without newline; `chars` counts Unicode scalar values.
//! - **`text.merge_counts`**: sums `words`, `lines`, `chars`. Its `top` is exact when every item
//!   carries `counts` (set `counts: true` on `text.count`); otherwise it is recomputed from the
//!   items' own `top` lists and may miss a word that was in no item's list.
//! - **`text.transform`**: `template` fills `{input}` with the input (strings as they are, other
//!   values as JSON) and `{input.a.0}` with a field of it ([`JsonPath`] syntax); `{{` and `}}` are
//!   literal braces.
//! - **`json.pick`**: a path is dotted (`a.b.0`); a number indexes an array (`-1` is the last
//!   element) or names an object field; `""` is the whole input. Keys that contain dots cannot be
//!   named.
//! - **`cmd.run`**: no shell unless `shell: true` (then `program` is a `sh -c` script and `args`
//!   are `$1`, `$2`...). A non-zero exit (or a signal) is a transient error quoting the end of
//!   stderr, unless `fail_on_nonzero: false`; a program that runs past `timeout` is killed and
//!   the call fails (transient); a program that cannot be found is a permanent error. Output
//!   past `max_output_bytes` (per stream) is read and dropped, and `truncated` is true. A
//!   workflow task's call sets `TROUPE_IDEMPOTENCY_KEY` (`run/task/attempt[/item]`, the same
//!   when a resumed run repeats an attempt that was in flight).
//! - **`cmd.run` with `worktree:`**: each agent of the pool gets its own git worktree of `repo`
//!   and branch `<branch_prefix><agent id>` (for a workflow's pool,
//!   `troupe/<run id>/<pool>/<n>`), made when the agent starts and removed when it stops; the
//!   program runs inside it (`cwd` is a relative path in it) and sees `TROUPE_BRANCH` and
//!   `TROUPE_WORKTREE`. With `commit: true`, a request whose program exited 0 commits every
//!   change (`git add -A`; nothing to commit makes no commit), and any other request (a
//!   failure, a timeout) drops its uncommitted changes, so a retry starts from the last
//!   commit. A new branch starts at `base`; an existing one is **reused**, so a restarted
//!   agent (after a crash, or a node killed and its run resumed) gets a clean checkout of its
//!   own branch: its commits are kept, the uncommitted changes of the crashed start are gone
//!   (`reset: true` starts from `base` every time). No worktree leaks: a clean stop removes it, a crash removes it when the agent's
//!   state is dropped, and a start first removes what earlier starts of the same agent left
//!   (after `kill -9` of the node, that is when the run is resumed). Branches stay, for
//!   `git.merge`. Worktrees are added and removed under a file lock in the repository's git
//!   directory (`troupe-worktrees.lock`), shared by the agents and processes using it.
//! - **`git.merge`**: merges in order, each branch with a merge commit (`--no-ff`), where `into`
//!   is checked out (which must have no uncommitted changes to tracked files) or, if it is
//!   checked out nowhere, in a worktree made for the request. A conflicting merge is aborted
//!   (the target stays as the last clean merge left it) and listed with its files; then `stop`
//!   merges nothing more (the rest are `skipped`), `skip` goes on, `fail` fails the request
//!   (permanent). `delete_merged` deletes each merged branch unless it is still checked out
//!   (a running agent's; in a workflow the agents stop when the run ends). A missing or
//!   malformed branch name is a permanent error; git failures are transient.
//! - **`http.request`**: `http://` and `https://` through one reqwest client per agent (rustls,
//!   the system's roots plus `ca_file`; pooled keep-alive connections; proxies from the
//!   environment; up to `max_redirects` redirects; gzip decoded). A string body is sent as `text/plain`, any other JSON as `application/json`,
//!   unless a `content-type` header is given. Status 5xx, connection and I/O errors and timeouts
//!   are transient; 4xx, bodies over `max_body_bytes`, redirect loops and refused certificates
//!   are permanent.
//! - **`llm.chat`**: see [`llm`] (tools, journal, memory, budgets). 429, 5xx, connection
//!   failures and timeouts are transient; other statuses, malformed replies, structured output
//!   that does not fit and an exhausted step budget are permanent.
//! - **`util.flaky`** counts calls in the agent's state, so a task with `retry` succeeds once the
//!   failures are used up; **`util.crash`** uses the agent's start count, so its supervisor's
//!   restarts let it recover.
//!
//! # Layout
//!
//! One module per family: `text` (one file per kind), `json`, `cmd`, `git` (worktrees for
//! `cmd.run`, and `git.merge`), `http` (with its I/O-free `wire` codec) and `util`; `shape` holds
//! the config and request decoding they share.

#![deny(missing_docs)]

mod cmd;
mod git;
mod http;
mod json;
pub mod llm;
mod shape;
mod state;
mod text;
mod util;

pub use cmd::{CmdConfig, CmdInput, CmdOutput, CmdRequest, CmdRun, CmdState};
pub use git::merge::{
    GitMerge, GitMergeConfig, GitMergeReply, GitMergeRequest, MergeConflict, MergedBranch,
    OnConflict,
};
pub use git::worktree::WorktreeConfig;
pub use http::{HttpConfig, HttpInput, HttpReply, HttpRequest};
pub use json::{JsonPath, JsonPathError, JsonPick, PickConfig};
pub use llm::LlmChat;
pub use shape::TextInput;
pub use state::{
    Blob, BlobConfig, BlobState, Counter, CounterRequest, CounterState, Where, WhereConfig,
};
pub use text::{
    CountConfig, Counts, MergeConfig, ReadConfig, ReadRequest, SplitBy, SplitConfig, TextCount,
    TextMergeCounts, TextRead, TextSplit, TextTransform, TransformConfig, TransformOp,
};
pub use util::{
    Crash, CrashConfig, Echo, Fail, FailConfig, Flaky, FlakyConfig, NoConfig, Sleep, SleepConfig,
};

use troupe_runtime::KindRegistry;

/// Defines [`KINDS`] and [`register_all`] from one list, so the two cannot drift apart. An entry
/// marked `[budgets]` is built with the registry's shared [`llm::Budgets`].
macro_rules! kinds {
    (shared $budgets:ident; $($name:literal => $agent:ty $([$shared:ident])?, $description:literal;)*) => {
        /// Every kind of this crate as `(name, description)`, in the order [`register_all`] adds
        /// them.
        pub const KINDS: &[(&str, &str)] = &[$(($name, $description)),*];

        /// Registers every kind of [`KINDS`] on `registry`, replacing kinds of the same names.
        /// The `llm.chat` agents of one registry share one set of token budgets (per endpoint
        /// and model): each registry (each runtime) has its own, no process-global state.
        pub fn register_all(registry: &KindRegistry) {
            register_all_with(registry, &llm::Budgets::new());
        }

        /// [`register_all`] with the token budgets the `llm.chat` agents share given, so that
        /// the caller keeps a handle on them (a cluster node splits them across its members
        /// with [`llm::BudgetSplit`]).
        pub fn register_all_with(registry: &KindRegistry, budgets: &llm::Budgets) {
            let $budgets = budgets.clone();
            $(kinds!(@one registry, $name, $description, $agent $(, $shared)?);)*
        }
    };
    (@one $registry:ident, $name:literal, $description:literal, $agent:ty) => {
        $registry.register($name, $description, <$agent>::from_config)
    };
    (@one $registry:ident, $name:literal, $description:literal, $agent:ty, $shared:ident) => {{
        let shared = $shared.clone();
        $registry.register($name, $description, move |c: &serde_json::Value| <$agent>::from_config(c, &shared))
    }};
}

kinds! {
    shared budgets;
    "text.read" => TextRead, "reads a UTF-8 text file (size-limited) into a string";
    "text.split" => TextSplit, "splits text into chunks of N lines, paragraphs or words";
    "text.count" => TextCount, "counts words, lines and characters, and lists the top words";
    "text.merge_counts" => TextMergeCounts, "adds up text.count replies and recomputes the top words";
    "text.transform" => TextTransform, "uppercase, lowercase, trim, replace or template a string or strings";
    "json.pick" => JsonPick, "picks a field (dotted path) or several fields out of the input JSON";
    "cmd.run" => CmdRun, "runs a program (no shell unless asked) and replies with its status and output";
    "git.merge" => GitMerge, "merges branches one after another into a target branch and reports conflicts";
    "http.request" => HttpRequest, "makes an HTTP or HTTPS call and replies with status, headers and body";
    "llm.chat" => LlmChat [budgets], "asks an OpenAI-compatible chat model (tools, structured output, streaming, budgets)";
    "util.echo" => Echo, "replies with the request";
    "util.sleep" => Sleep, "waits a configured time, then replies with the request";
    "util.fail" => Fail, "answers every request with a configured error";
    "util.flaky" => Flaky, "fails its first N calls with a retryable error, then echoes";
    "util.crash" => Crash, "panics during its first N starts (for supervision demos), then echoes";
    "util.counter" => Counter, "adds each request to a total kept in its snapshot (survives restarts and moves)";
    "util.blob" => Blob, "holds a configured number of bytes of state (for measuring migration)";
    "util.where" => Where, "replies with the name of the node (runtime) that served the request";
}
