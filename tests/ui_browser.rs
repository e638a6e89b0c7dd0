//! The UI at `/ui` of a real `troupe serve`, in Debian's headless chromium driven by
//! chromedriver: a run's page shows its tasks turn running → completed without a reload, and
//! its Cancel button cancels the run (as the API then says). Screenshots are saved under the
//! target directory (`ui-screenshots/`).

#[path = "common/durable.rs"]
mod durable;
#[path = "common/webdriver.rs"]
mod webdriver;

use std::path::Path;

use serde_json::{json, Value};

use durable::{count, scratch, serve, shell_pool, Serve};
use webdriver::Browser;

impl Serve {
    /// [`Serve::call`] that must succeed: the JSON answer.
    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<String>) -> Value {
        let (status, v) = self.call(method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {v}");
        v
    }

    /// Submits and executes `yaml`; the execution id.
    async fn start_run(&self, yaml: String) -> String {
        let wf = self
            .ok(reqwest::Method::POST, "/api/v1/workflows", Some(yaml))
            .await;
        let id = wf["workflow_id"].as_str().unwrap();
        let ex = self
            .ok(
                reqwest::Method::POST,
                &format!("/api/v1/workflows/{id}/execute"),
                Some(json!({"input_data": {}}).to_string()),
            )
            .await;
        ex["execution_id"].as_str().unwrap().to_string()
    }
}

/// `first` (a shell task that waits for the file `gate`), then `left` and `right`, then
/// `join` (`util.echo`).
fn diamond(dir: &Path) -> String {
    format!(
        "workflow:\n  name: ui-diamond\n  agents:\n{}    echo: {{ type: util.echo }}\n  tasks:\n    - {{ id: first, agent: first }}\n    - {{ id: left, agent: echo, depends_on: [first] }}\n    - {{ id: right, agent: echo, depends_on: [first] }}\n    - {{ id: join, agent: echo, depends_on: [left, right] }}\n",
        shell_pool(dir, "first", Some("gate"))
    )
}

fn state_of(task: &str) -> String {
    format!("document.querySelector('#dag [data-task=\"{task}\"]').dataset.state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_page_shows_its_tasks_turn_running_then_completed_without_a_reload() {
    let Some(browser) = Browser::start("ui_run_live", 1280, 800).await else {
        return;
    };
    let dir = scratch("ui-live");
    let s = serve(&dir, &[]);
    let run = s.start_run(diamond(&dir)).await;

    browser.goto(&format!("{}/ui/", s.base)).await;
    browser.sign_in(&s.token).await;
    browser
        .js(
            "location.hash = '#/run/' + arguments[0]; window.__sameDocument = true;",
            json!([run]),
        )
        .await;
    browser
        .wait_for(
            "task first running",
            &format!("{} === 'running'", state_of("first")),
        )
        .await;
    // Nothing after `first` has started: it waits for the gate.
    for t in ["left", "right", "join"] {
        let st = browser
            .js(&format!("return {};", state_of(t)), json!([]))
            .await;
        assert_eq!(st, "pending", "{t}");
    }
    browser.screenshot("run-running.png").await;

    std::fs::write(dir.join("gate"), "").unwrap();
    for t in ["first", "left", "right", "join"] {
        browser
            .wait_for(
                &format!("task {t} completed"),
                &format!("{} === 'completed'", state_of(t)),
            )
            .await;
    }
    browser
        .wait_for(
            "the run completed",
            "document.getElementById('run-status').dataset.state === 'completed'",
        )
        .await;
    // The same document all along: the page updated from the event stream, not a reload.
    assert_eq!(
        browser
            .js("return window.__sameDocument === true;", json!([]))
            .await,
        true
    );
    // The critical path runs from first through one branch to join; the timeline has one
    // successful attempt per task; each task ran once.
    let critical = browser
        .js(
            "return [...document.querySelectorAll('#dag .dag-node.critical')].map(n => n.dataset.task);",
            json!([]),
        )
        .await;
    let critical: Vec<&str> = critical
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(critical.len(), 3, "{critical:?}");
    assert_eq!(
        (critical[0], critical[2]),
        ("first", "join"),
        "{critical:?}"
    );
    let ok = browser
        .js(
            "return document.querySelectorAll('#gantt rect[data-kind=\"ok\"]').length;",
            json!([]),
        )
        .await;
    assert_eq!(ok, 4);
    assert_eq!(count(&dir, "first"), 1);
    // The actions of a finished run are disabled.
    let disabled = browser
        .js(
            "return ['act-pause','act-resume','act-cancel','act-signal'].every(id => document.getElementById(id).disabled);",
            json!([]),
        )
        .await;
    assert_eq!(disabled, true);
    browser.screenshot("run-completed.png").await;
    // Keyboard: a DAG node takes the focus, and Enter opens that task's details.
    browser
        .js(
            "document.querySelector('#dag [data-task=\"join\"]').focus();",
            json!([]),
        )
        .await;
    browser.press_enter().await;
    browser
        .wait_for(
            "join's details open and focused",
            "document.querySelector('#task-details [data-task=\"join\"]').open && document.activeElement.tagName === 'SUMMARY'",
        )
        .await;

    // The runs list shows it, and at a phone's width the page does not scroll sideways.
    browser.js("location.hash = '#/runs';", json!([])).await;
    browser
        .wait_for(
            "the run in the list",
            &format!("document.querySelector('tr[data-run=\"{run}\"] .badge').dataset.state === 'completed'"),
        )
        .await;
    browser.screenshot("runs.png").await;
    browser.resize(390, 844).await;
    browser
        .wait_for(
            "no sideways scrolling at 390 px",
            "document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await;
    browser.screenshot("runs-phone.png").await;
    browser.quit().await;
}

/// `first`, then a wait for signal `approval` (a run that stays running).
fn waiting(dir: &Path) -> String {
    format!(
        "workflow:\n  name: ui-waiting\n  agents:\n{}  tasks:\n    - {{ id: first, agent: first }}\n    - {{ id: approve, await_signal: approval, depends_on: [first] }}\n",
        shell_pool(dir, "first", None)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cancel_button_cancels_the_run_as_the_api_then_says() {
    let Some(browser) = Browser::start("ui_cancel", 1280, 800).await else {
        return;
    };
    let dir = scratch("ui-cancel");
    let s = serve(&dir, &[]);
    let run = s.start_run(waiting(&dir)).await;

    browser.goto(&format!("{}/ui/", s.base)).await;
    browser.sign_in(&s.token).await;
    browser
        .js("location.hash = '#/run/' + arguments[0];", json!([run]))
        .await;
    browser
        .wait_for(
            "first completed",
            &format!("{} === 'completed'", state_of("first")),
        )
        .await;
    browser
        .wait_for(
            "the Cancel button enabled",
            "document.getElementById('run-status').dataset.state === 'running' && !document.getElementById('act-cancel').disabled",
        )
        .await;
    let before = s
        .ok(
            reqwest::Method::GET,
            &format!("/api/v1/executions/{run}"),
            None,
        )
        .await;
    assert_eq!(before["status"], "running", "{before}");

    browser.click("#act-cancel").await;
    browser
        .wait_for(
            "the run cancelled",
            "document.getElementById('run-status').dataset.state === 'cancelled'",
        )
        .await;
    let after = s
        .ok(
            reqwest::Method::GET,
            &format!("/api/v1/executions/{run}"),
            None,
        )
        .await;
    assert_eq!(after["status"], "cancelled", "{after}");
    browser.screenshot("run-cancelled.png").await;

    // The dead letters page lists none; `troupe serve` has no schedules API (yet): the
    // schedules page says so instead of failing.
    browser
        .js("location.hash = '#/dead-letters';", json!([]))
        .await;
    browser
        .wait_for(
            "an empty dead-letter list",
            "document.querySelector('#dlq-body .empty') !== null",
        )
        .await;
    browser
        .js("location.hash = '#/schedules';", json!([]))
        .await;
    browser
        .wait_for(
            "the schedules page",
            "document.getElementById('no-schedules') !== null || document.querySelector('#schedules table') !== null",
        )
        .await;
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_runs_page_draws_the_patterns_members() {
    let Some(browser) = Browser::start("ui_pattern", 1280, 800).await else {
        return;
    };
    let dir = scratch("ui-pattern");
    let s = serve(&dir, &[]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let yaml = std::fs::read_to_string(root.join("examples/swarm_counts.yaml"))
        .unwrap()
        .replace(
            "examples/data/actors.txt",
            &root.join("examples/data/actors.txt").display().to_string(),
        );
    let run = s.start_run(yaml).await;
    browser.goto(&format!("{}/ui/", s.base)).await;
    browser.sign_in(&s.token).await;
    browser
        .js("location.hash = '#/run/' + arguments[0];", json!([run]))
        .await;
    browser
        .wait_for(
            "the run completed",
            "document.getElementById('run-status').dataset.state === 'completed'",
        )
        .await;
    browser
        .wait_for(
            "the swarm's members drawn",
            "document.querySelectorAll('#topology [data-member^=\"counters#\"]').length === 3",
        )
        .await;
    let text = browser
        .js(
            "return document.getElementById('pattern').innerText;",
            json!([]),
        )
        .await;
    assert!(text.as_str().unwrap().contains("swarm"), "{text}");
    browser.screenshot("run-pattern.png").await;
    browser.quit().await;
}
