//! `troupe run --input`: the run's input, inline JSON or `@FILE`, is journaled in the run's
//! `submitted` event (read back from the real SQLite store); bad JSON is refused naming the
//! flag, before any run is recorded.

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
        "workflow:\n  name: echo\n  agents:\n    say: { type: cmd.run, config: { program: echo, args: [hi] } }\n  tasks:\n    - { id: a, agent: say }\n",
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
