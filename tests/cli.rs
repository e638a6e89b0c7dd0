//! The `troupe` binary end to end: the examples run, failures give the right exit codes, and bad
//! files are rejected with messages that say where.

use std::path::{Path, PathBuf};

mod common;
use common::troupe;

use serde_json::Value;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A scratch directory unique to this test process and name.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("troupe-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, file: &str, body: &str) -> String {
    let path = dir.join(file);
    std::fs::write(&path, body).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn the_main_example_counts_the_same_words_as_wc() {
    let dir = scratch("main");
    let report_path = dir.join("report.json");
    let out = troupe(&[
        "run",
        "--no-progress",
        "examples/text_stats.yaml",
        "--report",
        report_path.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("workflow text_stats succeeded"), "{stdout}");
    // Which branch is critical depends on measured durations; both run from read to report.
    let path = stdout
        .lines()
        .find(|l| l.starts_with("critical path: "))
        .expect(&stdout);
    assert!(
        path.starts_with("critical path: read → ") && path.contains(" → report ("),
        "{path}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let task = |id: &str| {
        report["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()
            .clone()
    };
    let words = task("merge")["output"]["words"].as_u64().unwrap();
    let wc: u64 = task("cross_check")["output"]["stdout"]
        .as_str()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(words, wc, "the agents and wc -w agree");
    let paragraphs = task("split")["output"].as_array().unwrap().len();
    assert_eq!(
        task("count")["output"].as_array().unwrap().len(),
        paragraphs,
        "one count per paragraph"
    );
}

#[test]
fn the_fault_tolerance_example_recovers_from_every_failure() {
    let out = troupe(&["run", "--no-progress", "examples/fault_tolerance.yaml"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let row = |id: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap()
            .to_string()
    };
    assert!(
        row("fetch").contains(" ok ") && row("fetch").contains(" 3 "),
        "{stdout}"
    );
    assert!(
        row("process").contains(" ok ") && row("process").contains(" 2 "),
        "{stdout}"
    );
    assert!(
        row("enrich").contains("FAILED") && row("enrich").contains("this service is down"),
        "{stdout}"
    );
    assert!(stdout.contains("HELLO FROM A FLAKY UPSTREAM"), "{stdout}");
}

#[test]
fn a_failed_workflow_exits_1_with_its_cause() {
    let dir = scratch("fail");
    let file = write(&dir, "fail.yaml", "workflow:\n  name: doomed\n  agents:\n    bad: { type: util.fail, config: { message: nope } }\n  tasks:\n    - { id: only, agent: bad }\n");
    let out = troupe(&["run", "--no-progress", &file]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("workflow doomed FAILED after"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains("task only failed after 1 attempt(s)"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn bad_files_exit_2_and_say_where() {
    let dir = scratch("bad");
    let cases = [
        ("typo.yaml", "workflow:\n  name: x\n  tasks:\n    - { id: a, agent: util.echo, paralel: true }\n", "4:"),
        ("cycle.yaml", "workflow:\n  name: x\n  tasks:\n    - { id: a, agent: util.echo, depends_on: [b] }\n    - { id: b, agent: util.echo, depends_on: [a] }\n", "dependency cycle"),
        ("kind.yaml", "workflow:\n  name: x\n  agents:\n    p: { type: no.such.kind }\n  tasks:\n    - { id: a, agent: p }\n", "no.such.kind"),
        ("truncated.yaml", "workflow:\n  name: x\n  tasks:\n    - { id: a, agent: [", "truncated"),
    ];
    for (name, body, needle) in cases {
        let file = write(&dir, name, body);
        for cmd in ["validate", "run"] {
            let out = troupe(&[cmd, &file]);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} {name}: {stderr}");
            assert!(
                stderr.contains(needle),
                "{cmd} {name}: expected {needle:?} in:\n{stderr}"
            );
            assert!(
                stderr.contains(name),
                "{cmd} {name}: the message names the file:\n{stderr}"
            );
        }
    }
    let out = troupe(&["validate", "/nonexistent/wf.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/wf.yaml"));
}

/// Runs an example with `--report` and returns the report.
fn run_report(example: &str) -> Value {
    let dir = scratch(example.trim_end_matches(".yaml"));
    let report = dir.join("report.json");
    let out = troupe(&[
        "run",
        "--no-progress",
        &format!("examples/{example}"),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{example}: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap()
}

fn output_of(report: &Value, task: &str) -> Value {
    report["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == task)
        .unwrap()["output"]
        .clone()
}

#[test]
fn a_swarm_pattern_in_a_file_counts_every_paragraph_once() {
    let swarm = run_report("swarm_counts.yaml");
    let dag = run_report("text_stats.yaml");
    let paragraphs = output_of(&swarm, "split").as_array().unwrap().len();
    assert_eq!(
        output_of(&swarm, "count").as_array().unwrap().len(),
        paragraphs,
        "one result per item"
    );
    assert_eq!(
        output_of(&swarm, "total")["words"],
        output_of(&dag, "merge")["words"],
        "same total as the DAG"
    );
}

#[test]
fn a_custom_topology_in_a_file_runs_both_branches() {
    let report = run_report("review_pipeline.yaml");
    let out = output_of(&report, "review");
    assert_eq!(
        out["shout"],
        "SUPERVISORS RESTART WHAT FAILS; WORKERS ONLY DO THE WORK, AND SUPERVISORS WATCH."
    );
    assert_eq!(
        out["stats"]["top"][0],
        serde_json::json!(["supervisors", 2])
    );
}

#[test]
fn validate_accepts_the_examples() {
    for file in [
        "examples/text_stats.yaml",
        "examples/fault_tolerance.yaml",
        "examples/swarm_counts.yaml",
        "examples/review_pipeline.yaml",
        "examples/approval.yaml",
    ] {
        let out = troupe(&["validate", file]);
        assert!(out.status.success(), "{file}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("is valid"));
    }
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["validate", "--help"],
        &["kinds", "--help"],
        &["pause", "--help"],
        &["cancel", "--help"],
        &["signal", "--help"],
    ] {
        let out = troupe(args);
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage: troupe"), "{args:?}");
    }
    let kinds = text(&troupe(&["kinds"]).stdout);
    assert!(
        kinds.contains("text.count") && kinds.contains("cmd.run") && kinds.contains("http.request")
    );
}
