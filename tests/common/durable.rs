//! What the real-process tests of durable runs share (tests/durable.rs,
//! tests/durable_control.rs, tests/saga.rs): a scratch directory, the `troupe` binary on its own store, the
//! side-effect log of shell tasks, and waiting for what another process does.
//!
//! Each test crate uses a part of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use troupe::runtime::store::{SqliteOptions, SqliteStore};
use troupe::runtime::workflow::journal::{read_events, JournalEvent};
use troupe::RunId;

/// How long a test waits for another process before failing.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A scratch directory unique to this test process and name.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("troupe-durable-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `troupe` binary with its runs in `dir/runs.db` and a short lease (a killed driver's
/// lease expires quickly; resume waits for a dead driver's lease).
pub fn troupe(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_troupe"));
    c.current_dir(dir)
        .env_remove("RUST_LOG")
        .env("XDG_DATA_HOME", dir)
        .env("TROUPE_STORE", dir.join("runs.db"))
        .env("TROUPE_LEASE_TTL_MS", "1000");
    c
}

/// Runs `c` to its end.
pub fn output(c: &mut Command) -> Output {
    c.output().expect("troupe runs")
}

/// Bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The lines of the side-effect log `dir/log`.
pub fn log_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// How often `line` is in the side-effect log.
pub fn count(dir: &Path, line: &str) -> usize {
    log_lines(dir).iter().filter(|l| *l == line).count()
}

/// Waits until the side-effect log has `line` (the event the test waits for), failing after a
/// generous deadline or if `child` exits first.
pub fn wait_for_line(dir: &Path, line: &str, child: &mut Child) {
    wait_until(&format!("the log shows {line}"), Some(child), || {
        log_lines(dir).iter().any(|l| l == line)
    });
}

/// Waits until `done()` holds, failing after a generous deadline or if `child` exits first.
pub fn wait_until(what: &str, mut child: Option<&mut Child>, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        if let Some(child) = child.as_deref_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("troupe exited ({status}) before {what}");
            }
        }
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `troupe runs` row of the run whose id or workflow contains `needle`, if listed.
pub fn runs_row(dir: &Path, needle: &str) -> Option<String> {
    let mut runs = troupe(dir);
    runs.arg("runs");
    let listed = output(&mut runs);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    text(&listed.stdout)
        .lines()
        .find(|l| l.contains(needle))
        .map(str::to_string)
}

/// A `cmd.run` pool line of a workflow file: a shell task that appends `id` to `dir/log`, then
/// (with `gate`) waits until the file `dir/gate` exists.
pub fn shell_pool(dir: &Path, id: &str, gate: Option<&str>) -> String {
    let log = dir.join("log");
    let wait = match gate {
        Some(gate) => {
            let gate = dir.join(gate);
            format!("; while [ ! -f {} ]; do sleep 0.02; done", gate.display())
        }
        None => String::new(),
    };
    format!(
        "    {id}: {{ type: cmd.run, config: {{ shell: true, timeout: 120s, program: \"echo {id} >> {}{wait}\" }} }}\n",
        log.display()
    )
}

/// Run `id`'s journal in `dir/runs.db` (read once no process drives it).
pub fn journal(dir: &Path, id: &str) -> Vec<JournalEvent> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(dir.join("runs.db"), SqliteOptions::default())
            .await
            .unwrap();
        let history = read_events(&store, &RunId::new(id), 1).await.unwrap();
        history.events.into_iter().map(|(_, e)| e).collect()
    })
}

/// The run id `troupe run` printed to stderr (`run ID (journaled in ...)`).
pub fn printed_run_id(stderr: &[u8]) -> String {
    text(stderr)
        .lines()
        .find_map(|l| {
            l.strip_prefix("run ")?
                .split(' ')
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no run id in {}", text(stderr)))
}

/// A real `troupe serve` process on a free loopback port (its runs in the test's directory, as
/// [`troupe`] sets up): its base URL and the admin token it printed. Killed when dropped.
pub struct Serve {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The admin token it printed at start.
    pub token: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `troupe serve --listen 127.0.0.1:0 EXTRA…` in `dir` and reads its address and admin
/// token from the first two lines it prints.
pub fn serve(dir: &Path, extra: &[&str]) -> Serve {
    use std::io::{BufRead, BufReader};
    let mut c = troupe(dir);
    c.args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().expect("troupe serve starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    let second = lines.next().expect("a token line").unwrap();
    assert!(second.starts_with("admin token"), "{second}");
    let token = second.rsplit(' ').next().unwrap().to_string();
    Serve { child, base, token }
}

impl Serve {
    /// `method path` with `body` as the admin: the status and the JSON answer (`null` when the
    /// body is not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> (u16, serde_json::Value) {
        let mut r = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.body(b);
        }
        let r = r.send().await.unwrap();
        (
            r.status().as_u16(),
            r.json().await.unwrap_or(serde_json::Value::Null),
        )
    }
}
