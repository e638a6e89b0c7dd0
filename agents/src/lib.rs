//! Ready-made Troupe agent kinds, so that a workflow file can do useful work without Rust code:
//! read and split text, count words, reshape JSON, run commands, call HTTP endpoints, and a few
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
//! | `cmd.run` | `program` (*required*), `args` ([]), `shell` (false), `input`: `stdin` \| `arg` (`stdin`), `timeout` (60s), `env` ({}), `clear_env` (false), `cwd`, `fail_on_nonzero` (true), `max_output_bytes` (1 MiB) | `null`; a string/number (stdin or last argument, per `input`); an array (extra arguments); or `{"stdin", "args", "env"}` | `{"status": code \| null, "stdout", "stderr", "truncated"}` |
//! | `http.request` | `url`, `method` (`GET`), `headers` ({}), `body`, `input`: `fields` \| `body` (`fields`), `timeout` (30s), `connect_timeout` (10s), `max_body_bytes` (16 MiB), `error_for_status` (true) | `fields`: `null`, a URL string, or `{"url", "method", "headers", "body"}` overriding the config; `body`: the request is the body | `{"status", "headers": {name: value}, "body"}` (JSON when the content type is JSON, else a string) |
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
//!   past `max_output_bytes` (per stream) is read and dropped, and `truncated` is true.
//! - **`http.request`**: plain `http://` only (`https://` is refused with a clear error): one
//!   connection per call, `Content-Length`, chunked and read-until-close bodies, no redirects
//!   followed. A string body is sent as `text/plain`, any other JSON as `application/json`,
//!   unless a `content-type` header is given. Status 5xx, connection and I/O errors and timeouts
//!   are transient; 4xx and bodies over `max_body_bytes` are permanent.
//! - **`util.flaky`** counts calls in the agent's state, so a task with `retry` succeeds once the
//!   failures are used up; **`util.crash`** uses the agent's start count, so its supervisor's
//!   restarts let it recover.
//!
//! # Layout
//!
//! One module per family: `text` (one file per kind), `json`, `cmd`, `http` (with its I/O-free
//! `wire` codec) and `util`; `shape` holds the config and request decoding they share.

#![deny(missing_docs)]

mod cmd;
mod http;
mod json;
mod shape;
mod state;
mod text;
mod util;

pub use cmd::{CmdConfig, CmdInput, CmdOutput, CmdRequest, CmdRun};
pub use http::{HttpConfig, HttpInput, HttpReply, HttpRequest};
pub use json::{JsonPath, JsonPick, PickConfig};
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

/// Defines [`KINDS`] and [`register_all`] from one list, so the two cannot drift apart.
macro_rules! kinds {
    ($($name:literal => $agent:ty, $description:literal;)*) => {
        /// Every kind of this crate as `(name, description)`, in the order [`register_all`] adds
        /// them.
        pub const KINDS: &[(&str, &str)] = &[$(($name, $description)),*];

        /// Registers every kind of [`KINDS`] on `registry`, replacing kinds of the same names.
        pub fn register_all(registry: &KindRegistry) {
            $(registry.register($name, $description, <$agent>::from_config);)*
        }
    };
}

kinds! {
    "text.read" => TextRead, "reads a UTF-8 text file (size-limited) into a string";
    "text.split" => TextSplit, "splits text into chunks of N lines, paragraphs or words";
    "text.count" => TextCount, "counts words, lines and characters, and lists the top words";
    "text.merge_counts" => TextMergeCounts, "adds up text.count replies and recomputes the top words";
    "text.transform" => TextTransform, "uppercase, lowercase, trim, replace or template a string or strings";
    "json.pick" => JsonPick, "picks a field (dotted path) or several fields out of the input JSON";
    "cmd.run" => CmdRun, "runs a program (no shell unless asked) and replies with its status and output";
    "http.request" => HttpRequest, "makes a plain HTTP/1.1 call and replies with status, headers and body";
    "util.echo" => Echo, "replies with the request";
    "util.sleep" => Sleep, "waits a configured time, then replies with the request";
    "util.fail" => Fail, "answers every request with a configured error";
    "util.flaky" => Flaky, "fails its first N calls with a retryable error, then echoes";
    "util.crash" => Crash, "panics during its first N starts (for supervision demos), then echoes";
    "util.counter" => Counter, "adds each request to a total kept in its snapshot (survives restarts and moves)";
    "util.blob" => Blob, "holds a configured number of bytes of state (for measuring migration)";
    "util.where" => Where, "replies with the name of the node (runtime) that served the request";
}
