//! `troupe run --input`: the run's input, inline JSON or `@FILE`, is journaled in the run's
//! `submitted` event (read back from the real SQLite store); bad JSON is refused naming the
//! flag, before any run is recorded; the input reaches the tasks (as the API's `input_data`).

#[path = "common/durable.rs"]
mod common;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use troupe::runtime::workflow::journal::JournalEvent;

use common::{journal, output, printed_run_id, scratch, text, troupe};

fn workflow(dir: &Path) -> PathBuf {
    let path = dir.join("echo.yaml");
    std::fs::write(
        &path,
        "workflow:\n  name: echo\n  agents:\n    say: { type: cmd.run, config: { program: echo, args: [hi] } }\n  tasks:\n    - { id: a, agent: say, input: \"$input.topic\" }\n",
    )
    .unwrap();
    path
}

/// Runs the workflow with `input` (as given after `--input`, or none) and returns the input
/// its journal's `submitted` event holds.
fn journaled_input(dir: &Path, input: Option<&str>) -> Value {
    let mut run = troupe(dir);
    run.args(["run", "--no-progress"]).arg(workflow(dir));
    if let Some(input) = input {
        run.args(["--input", input]);
    }
    let out = output(&mut run);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = printed_run_id(&out.stderr);
    match journal(dir, &id).into_iter().next() {
        Some(JournalEvent::Submitted { input, .. }) => input,
        other => panic!("the journal starts with {other:?}"),
    }
}

#[test]
fn inline_and_file_inputs_are_journaled_with_the_run() {
    let dir = scratch("input-ok");
    let inline = journaled_input(&dir, Some(r#"{"topic": "rust", "n": 3}"#));
    assert_eq!(inline, json!({"topic": "rust", "n": 3}));
    let file = dir.join("in.json");
    std::fs::write(&file, r#"["a", {"b": null}]"#).unwrap();
    let from_file = journaled_input(&dir, Some(&format!("@{}", file.display())));
    assert_eq!(from_file, json!(["a", {"b": null}]));
    assert_eq!(journaled_input(&dir, None), Value::Null);
}

#[test]
fn bad_input_is_refused_naming_the_flag_and_no_run_is_recorded() {
    let dir = scratch("input-bad");
    let missing = dir.join("missing.json");
    let missing = format!("@{}", missing.display());
    for (arg, says) in [
        ("{\"topic\": ", "--input: not valid JSON"),
        (&missing[..], "cannot read the file"),
    ] {
        let mut run = troupe(&dir);
        run.args(["run", "--no-progress", "--input", arg])
            .arg(workflow(&dir));
        let out = output(&mut run);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{arg} was accepted");
        assert!(stderr.contains("--input"), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
    let mut runs = troupe(&dir);
    runs.arg("runs");
    let listed = text(&output(&mut runs).stdout);
    assert!(!listed.contains("echo"), "{listed}");
}

/// The output of task `id` in a `--report` file.
fn task_output(report: &Value, id: &str) -> Value {
    report["tasks"]
        .as_array()
        .and_then(|tasks| tasks.iter().find(|t| t["id"] == id))
        .map(|t| t["output"].clone())
        .unwrap_or_else(|| panic!("no task {id} in {report}"))
}

#[test]
fn the_input_reaches_the_tasks_as_input_data_does() {
    let dir = scratch("input-tasks");
    let file = dir.join("cat.yaml");
    // `whole` has no input of its own: it gets all of it (a cmd.run request whose `stdin` is
    // piped to cat); `part` takes one field.
    std::fs::write(
        &file,
        "workflow:\n  name: cat\n  agents:\n    cat: { type: cmd.run, config: { program: cat } }\n  tasks:\n    - { id: whole, agent: cat }\n    - { id: part, agent: cat, input: \"$input.stdin\" }\n",
    )
    .unwrap();
    let report = dir.join("report.json");
    let mut run = troupe(&dir);
    run.args([
        "run",
        "--no-progress",
        "--input",
        r#"{"stdin": "from the input"}"#,
    ])
    .arg(&file)
    .arg("--report")
    .arg(&report);
    let out = output(&mut run);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    for id in ["whole", "part"] {
        let shown = task_output(&report, id).to_string();
        assert!(shown.contains("from the input"), "{id}: {shown}");
    }
}
