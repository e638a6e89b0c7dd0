//! Saga rollback and dead letters through the `troupe` binary: a `troupe run` killed with
//! SIGKILL in the middle of a rollback is finished by `troupe resume` (compensations that
//! finished before the kill do not run again, the one in flight at most once more, with the
//! same idempotency key); `troupe dlq list`, `replay` and `drop` on the letters of failed tasks.

#[path = "common/durable.rs"]
mod durable;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use durable::{log_lines, output, scratch, text, troupe, wait_for_line};

/// a → b → fail, with a json.pick between each two (a `cmd.run` reads a string request as its
/// stdin). `fail` fails for good, so the run rolls back: `b` is compensated (logging
/// `undo <b's stdout>`), then `a` (logging `undo a`, then waiting for the file `gate`, so the
/// test can kill the driver while it is in flight).
fn saga_workflow(dir: &Path) -> PathBuf {
    let (log, gate, keys) = (
        dir.join("log").display().to_string(),
        dir.join("gate").display().to_string(),
        dir.join("keys").display().to_string(),
    );
    let cmd = |program: String| {
        format!(
            "{{ type: cmd.run, config: {{ shell: true, timeout: 120s, program: \"{program}\" }} }}"
        )
    };
    let yaml = format!(
        r#"workflow:
  name: rollback
  agents:
    a: {a}
    b: {b}
    fail: {fail}
    undo_b: {undo_b}
    undo_a: {undo_a}
    pick: {{ type: json.pick, config: {{ path: stdout }} }}
  tasks:
    - {{ id: a, agent: a, compensate: {{ agent: undo_a, input: "x" }} }}
    - {{ id: pa, agent: pick, depends_on: [a] }}
    - id: b
      agent: b
      depends_on: [pa]
      compensate: {{ agent: undo_b, input: {{ env: {{ WHAT: "${{output.stdout}}" }} }} }}
    - {{ id: pb, agent: pick, depends_on: [b] }}
    - {{ id: fail, agent: fail, depends_on: [pb] }}
  fault_tolerance:
    saga_pattern: {{ compensation_enabled: true, rollback_on_failure: true }}
"#,
        a = cmd(format!("echo a >> {log}; echo -n a-done")),
        b = cmd(format!("echo b >> {log}; echo -n b-done")),
        fail = cmd("echo no >&2; exit 1".into()),
        undo_b = cmd(format!("echo undo $WHAT >> {log}")),
        undo_a = cmd(format!(
            "echo undo a >> {log}; echo $TROUPE_IDEMPOTENCY_KEY >> {keys}; while [ ! -f {gate} ]; do sleep 0.02; done"
        )),
    );
    let path = dir.join("rollback.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn a_run_killed_during_its_rollback_is_resumed_and_finishes_the_rollback() {
    let dir = scratch("saga-kill");
    let file = saga_workflow(&dir);
    let mut run = troupe(&dir);
    run.args(["run", "--no-progress"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = run.spawn().expect("troupe run starts");
    // `a`'s compensation is in flight: b's finished before it (reverse order of completion).
    wait_for_line(&dir, "undo a", &mut child);
    assert_eq!(log_lines(&dir), ["a", "b", "undo b-done", "undo a"]);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let listed = text(&output(troupe(&dir).arg("runs")).stdout);
    let row = listed
        .lines()
        .find(|l| l.contains("rollback"))
        .unwrap_or_else(|| panic!("no run listed:\n{listed}"));
    assert!(row.contains("interrupted"), "{row}");
    let id = row.split_whitespace().next().unwrap().to_string();

    std::fs::write(dir.join("gate"), "").unwrap();
    let mut resume = troupe(&dir);
    resume.args(["resume", "--no-progress", &id]);
    let out = output(&mut resume);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the run fails: {stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("compensate b"), "{stdout}");
    assert!(stdout.contains("compensate a"), "{stdout}");
    assert!(stdout.contains("rolled back: 2 compensated"), "{stdout}");
    let lines = log_lines(&dir);
    let count = |l: &str| lines.iter().filter(|x| *x == l).count();
    assert_eq!(count("a"), 1, "completed tasks never run again: {lines:?}");
    assert_eq!(count("b"), 1, "{lines:?}");
    assert_eq!(
        count("undo b-done"),
        1,
        "a compensation finished before the kill: exactly once ({lines:?})"
    );
    assert!(
        (1..=2).contains(&count("undo a")),
        "in flight at the kill: at most twice ({lines:?})"
    );
    // The repeated compensation is the same attempt: the same idempotency key.
    let keys = std::fs::read_to_string(dir.join("keys")).unwrap();
    assert!(
        keys.lines().all(|k| k == format!("{id}/a/compensate/1")),
        "{keys}"
    );
    let listed = text(&output(troupe(&dir).arg("runs")).stdout);
    assert!(
        listed
            .lines()
            .any(|l| l.contains(&id) && l.contains("failed")),
        "{listed}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// One task that fails (two attempts) until the file `ok` exists, logging each attempt.
fn flaky_workflow(dir: &Path) -> PathBuf {
    let (log, ok) = (
        dir.join("log").display().to_string(),
        dir.join("ok").display().to_string(),
    );
    let yaml = format!(
        "workflow:\n  name: flaky\n  agents:\n    flaky: {{ type: cmd.run, config: {{ shell: true, program: \"echo try >> {log}; [ -f {ok} ] && echo -n fixed\" }} }}\n  tasks:\n    - {{ id: post, agent: flaky, input: {{ stdin: payload }}, retry_policy: {{ max_attempts: 2, initial_backoff: 10ms, retry_on: any }} }}\n"
    );
    let path = dir.join("flaky.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn a_task_that_exhausts_its_retries_is_a_dead_letter_to_list_replay_and_drop() {
    let dir = scratch("saga-dlq");
    let file = flaky_workflow(&dir);
    for _ in 0..2 {
        let mut run = troupe(&dir);
        run.args(["run", "--no-progress"]).arg(&file);
        assert_eq!(output(&mut run).status.code(), Some(1));
    }
    assert_eq!(log_lines(&dir).len(), 4, "two runs of two attempts");
    let dlq = |args: &[&str]| {
        let mut c = troupe(&dir);
        c.arg("dlq").args(args);
        output(&mut c)
    };
    let listed = text(&dlq(&["list"]).stdout);
    let rows: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{listed}");
    for row in &rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert!(cols[1].starts_with("flaky-"), "{row}");
        assert_eq!(
            (cols[2], cols[3]),
            ("post", "2"),
            "task and attempts: {row}"
        );
        assert!(row.contains("exited with status 1"), "the error: {row}");
    }
    let first = rows[0].split_whitespace().next().unwrap().to_string();
    let second = rows[1].split_whitespace().next().unwrap().to_string();
    // One run's letters only.
    let run = rows[1].split_whitespace().nth(1).unwrap();
    let only = text(&dlq(&["list", "--run", run]).stdout);
    let only: Vec<&str> = only.lines().skip(1).collect();
    assert_eq!(only.len(), 1, "{only:?}");
    assert!(only[0].starts_with(&format!("{second} ")), "{only:?}");

    // Still broken: the replay fails (with the task's two attempts) and the letter stays.
    let out = dlq(&["replay", &first]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the letter is kept"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(log_lines(&dir).len(), 6);
    assert_eq!(text(&dlq(&["list"]).stdout).lines().count(), 3);

    // Fixed: the replay runs the stored input once more, succeeds, and drops the letter.
    std::fs::write(dir.join("ok"), "").unwrap();
    let out = dlq(&["replay", &first]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("\"stdout\": \"fixed\""),
        "{}",
        text(&out.stdout)
    );
    let listed = text(&dlq(&["list"]).stdout);
    assert!(
        !listed
            .lines()
            .skip(1)
            .any(|l| l.starts_with(&format!("{first} "))),
        "{listed}"
    );

    let out = dlq(&["drop", &second]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&dlq(&["list"]).stdout).lines().count(),
        1,
        "header only"
    );
    let out = dlq(&["drop", &second]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "dropping twice says there is none"
    );
    assert!(text(&out.stderr).contains(&format!("no dead letter {second}")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_whose_pools_need_more_than_the_capacity_is_refused_naming_the_pool() {
    let dir = scratch("saga-capacity");
    let yaml = "workflow:\n  name: heavy\n  agents:\n    crunch: { type: json.pick, count: 3, config: { path: a }, resources: { cpu: \"1 core\", memory: 2GB } }\n  tasks:\n    - { id: t, agent: crunch, input: { a: 1 } }\n";
    std::fs::write(dir.join("heavy.yaml"), yaml).unwrap();
    let mut run = troupe(&dir);
    run.args([
        "run",
        "--no-progress",
        "--capacity",
        "cpu=2,memory=64GB",
        "heavy.yaml",
    ]);
    let out = output(&mut run);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("insufficient resources: pool \"crunch\" needs 3 cores of cpu, 6GB of memory (3 agent(s))"),
        "{stderr}"
    );
    // Refused before it was recorded: no run to resume.
    let listed = text(&output(troupe(&dir).arg("runs")).stdout);
    assert!(!listed.contains("heavy"), "{listed}");
    let mut run = troupe(&dir);
    run.args([
        "run",
        "--no-progress",
        "--capacity",
        "cpu=3,memory=6GB",
        "heavy.yaml",
    ]);
    let out = output(&mut run);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut run = troupe(&dir);
    run.args(["run", "--capacity", "cpu=lots", "heavy.yaml"]);
    let out = output(&mut run);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--capacity: cpu \"lots\""),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_saga_example_rolls_back_in_reverse_order_and_keeps_the_payment_as_a_dead_letter() {
    let dir = scratch("saga-example");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/saga_booking.yaml");
    let out = output(troupe(&dir).args(["validate", example]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = dir.join("report.json");
    let out = output(
        troupe(&dir)
            .args(["run", "--no-progress", "--report"])
            .arg(&report)
            .arg(example),
    );
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("saga rollback (reverse order of completion):"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    assert_eq!(
        report["compensations"],
        serde_json::json!([
            {"task": "hotel", "attempts": 1, "status": "compensated"},
            {"task": "flight", "attempts": 1, "status": "compensated"}
        ])
    );
    let listed = text(&output(troupe(&dir).args(["dlq", "list"])).stdout);
    let rows: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{listed}");
    assert!(
        rows[0].contains(" pay ") && rows[0].contains("payment declined"),
        "{listed}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_compensation_that_fails_for_good_is_a_dead_letter_replayed_on_the_compensation_s_agent() {
    let dir = scratch("saga-dlq-compensation");
    let (log, ok) = (
        dir.join("log").display().to_string(),
        dir.join("ok").display().to_string(),
    );
    // `pay` fails for good (book's output does not even fit a cmd.run request); the rollback
    // then runs book's compensation, which fails until the file `ok` exists.
    let yaml = format!(
        "workflow:\n  name: undo_fails\n  agents:\n    book: {{ type: cmd.run, config: {{ shell: true, program: \"echo -n ref-9\" }} }}\n    no: {{ type: cmd.run, config: {{ shell: true, program: \"exit 1\" }} }}\n    undo: {{ type: cmd.run, config: {{ shell: true, program: \"echo undo $1 >> {log}; [ -f {ok} ]\" }} }}\n  tasks:\n    - {{ id: book, agent: book, compensate: {{ agent: undo, input: {{ args: [\"${{output.stdout}}\"] }} }} }}\n    - {{ id: pay, agent: no, depends_on: [book] }}\n  fault_tolerance:\n    saga_pattern: {{}}\n"
    );
    std::fs::write(dir.join("w.yaml"), yaml).unwrap();
    let out = output(troupe(&dir).args(["run", "--no-progress", "w.yaml"]));
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("1 compensation(s) failed (book: "),
        "{stdout}"
    );
    let listed = text(&output(troupe(&dir).args(["dlq", "list"])).stdout);
    let rows: Vec<&str> = listed.lines().skip(1).collect();
    let undo = rows
        .iter()
        .find(|r| r.contains(" book/compensate "))
        .unwrap_or_else(|| panic!("the compensation's letter: {listed}"));
    let id = undo.split_whitespace().next().unwrap().to_string();
    std::fs::write(dir.join("ok"), "").unwrap();
    let out = output(troupe(&dir).args(["dlq", "replay", &id]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The compensation ran again with its stored input, on its own agent.
    assert_eq!(log_lines(&dir), ["undo ref-9", "undo ref-9"]);
    let listed = text(&output(troupe(&dir).args(["dlq", "list"])).stdout);
    assert!(!listed.contains("book/compensate"), "{listed}");
    let _ = std::fs::remove_dir_all(&dir);
}
