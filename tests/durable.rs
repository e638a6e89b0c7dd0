//! Durable runs through the `troupe` binary: a `troupe run` killed with SIGKILL mid-workflow is
//! finished by `troupe resume` (tasks completed before the kill are not run again, the one in
//! flight at most once more), `troupe runs` works while a run is driven, and two processes
//! racing to resume one run: one drives it, the other refuses naming the holder.

#[path = "common/durable.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{log_lines, output, scratch, text, troupe, wait_for_line};

/// A chain t1 → t2 → t3 → t4 of shell tasks (with a pick between each two), each appending its id to `log`; t3 then waits
/// for the file `gate` (so the test can kill the driver while t3 is in flight).
fn workflow(dir: &Path) -> PathBuf {
    let log = dir.join("log");
    let gate = dir.join("gate");
    let keys = dir.join("keys");
    let (log, gate, keys) = (log.display(), gate.display(), keys.display());
    let task = |id: &str, wait: bool| {
        let wait = if wait {
            format!("; while [ ! -f {gate} ]; do sleep 0.02; done")
        } else {
            String::new()
        };
        format!(
            "    {id}: {{ type: cmd.run, config: {{ shell: true, timeout: 120s, program: \"echo {id} >> {log}; echo $TROUPE_IDEMPOTENCY_KEY >> {keys}{wait}\" }} }}\n"
        )
    };
    // Between two shell tasks a `json.pick` passes the output's stdout on (a `cmd.run` reads a
    // string request as its stdin).
    let yaml = format!(
        "workflow:\n  name: crashy\n  agents:\n{}{}{}{}    pick: {{ type: json.pick, config: {{ path: stdout }} }}\n  tasks:\n    - {{ id: t1, agent: t1 }}\n    - {{ id: p1, agent: pick, depends_on: [t1] }}\n    - {{ id: t2, agent: t2, depends_on: [p1] }}\n    - {{ id: p2, agent: pick, depends_on: [t2] }}\n    - {{ id: t3, agent: t3, depends_on: [p2] }}\n    - {{ id: p3, agent: pick, depends_on: [t3] }}\n    - {{ id: t4, agent: t4, depends_on: [p3] }}\n",
        task("t1", false),
        task("t2", false),
        task("t3", true),
        task("t4", false),
    );
    let path = dir.join("crashy.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Starts `troupe run` on the workflow and kills it (SIGKILL) while t3 is in flight; returns
/// the run's id.
fn run_and_kill(dir: &Path) -> String {
    let file = workflow(dir);
    let mut run = troupe(dir);
    run.args(["run", "--no-progress"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = run.spawn().expect("troupe run starts");
    wait_for_line(dir, "t3", &mut child);

    // `troupe runs` works while another process drives a run.
    let mut runs = troupe(dir);
    runs.arg("runs");
    let listed = output(&mut runs);
    let stdout = text(&listed.stdout);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let row = stdout
        .lines()
        .find(|l| l.contains("crashy"))
        .unwrap_or_else(|| panic!("no crashy run listed:\n{stdout}"));
    assert!(row.contains("running"), "{row}");
    assert!(
        row.contains(&format!("/{}", child.id())),
        "owner is host/pid: {row}"
    );
    let id = row.split_whitespace().next().unwrap().to_string();

    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    id
}

#[test]
fn a_killed_run_is_resumed_and_completed_tasks_do_not_run_again() {
    let dir = scratch("kill");
    let id = run_and_kill(&dir);
    assert_eq!(log_lines(&dir), ["t1", "t2", "t3"]);

    // The dead driver's run shows as interrupted.
    let mut runs = troupe(&dir);
    runs.args(["runs", "--status", "interrupted"]);
    let listed = text(&output(&mut runs).stdout);
    assert!(listed.contains(&id), "{listed}");

    std::fs::write(dir.join("gate"), "").unwrap();
    let mut resume = troupe(&dir);
    resume.args(["resume", "--no-progress", &id]);
    let out = output(&mut resume);
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("workflow crashy succeeded"));
    let lines = log_lines(&dir);
    let count = |id: &str| lines.iter().filter(|l| *l == id).count();
    assert_eq!(
        count("t1"),
        1,
        "completed before the kill: exactly once ({lines:?})"
    );
    assert_eq!(
        count("t2"),
        1,
        "completed before the kill: exactly once ({lines:?})"
    );
    assert!(
        (1..=2).contains(&count("t3")),
        "in flight at the kill: at most twice ({lines:?})"
    );
    assert_eq!(count("t4"), 1, "{lines:?}");
    // A repeated attempt is the same attempt: the program saw the same idempotency key.
    let keys = std::fs::read_to_string(dir.join("keys")).unwrap();
    let t3: Vec<&str> = keys.lines().filter(|k| k.contains("/t3/")).collect();
    assert!(!t3.is_empty(), "{keys}");
    assert!(t3.iter().all(|k| *k == format!("{id}/t3/1")), "{keys}");

    let mut runs = troupe(&dir);
    runs.arg("runs");
    let listed = text(&output(&mut runs).stdout);
    let row = listed.lines().find(|l| l.contains(&id)).unwrap();
    assert!(row.contains("completed"), "{row}");

    // Nothing left to resume.
    let mut all = troupe(&dir);
    all.args(["resume", "--all"]);
    let out = output(&mut all);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("no interrupted runs"),
        "{}",
        text(&out.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_processes_racing_to_resume_a_run_one_drives_it_the_other_refuses() {
    let dir = scratch("race");
    let id = run_and_kill(&dir);
    let start = |dir: &Path| {
        let mut c = troupe(dir);
        c.args(["resume", "--no-progress", &id])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().expect("troupe resume starts")
    };
    let a = start(&dir);
    let b = start(&dir);
    // The winner blocks on t3's gate; the loser refuses at once. Open the gate once one has
    // refused.
    let (mut first, mut second) = (a, b);
    let deadline = Instant::now() + Duration::from_secs(60);
    let refused = loop {
        if let Some(_status) = first.try_wait().unwrap() {
            break first;
        }
        if let Some(_status) = second.try_wait().unwrap() {
            std::mem::swap(&mut first, &mut second);
            break first;
        }
        assert!(Instant::now() < deadline, "neither resume refused");
        std::thread::sleep(Duration::from_millis(20));
    };
    let refused = refused.wait_with_output().unwrap();
    let err = text(&refused.stderr);
    assert!(!refused.status.success(), "{err}");
    assert!(err.contains("is driven by"), "names the holder: {err}");
    assert!(
        err.contains(&format!("/{}", second.id())),
        "the holder is the other process: {err}"
    );
    std::fs::write(dir.join("gate"), "").unwrap();
    let winner = second.wait_with_output().unwrap();
    assert!(
        winner.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        text(&winner.stdout),
        text(&winner.stderr)
    );
    let lines = log_lines(&dir);
    assert_eq!(lines.iter().filter(|l| *l == "t1").count(), 1, "{lines:?}");
    assert_eq!(lines.iter().filter(|l| *l == "t4").count(), 1, "{lines:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes `yaml` as `name.yaml` in `dir`.
fn write_workflow(dir: &Path, name: &str, yaml: &str) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A quick workflow of three shell tasks.
const QUICK: &str = r#"
workflow:
  name: quick
  agents:
    say: { type: cmd.run, config: { program: echo, args: [hello] } }
  tasks:
    - { id: a, agent: say }
    - { id: b, agent: say }
    - { id: c, agent: say }
"#;

fn run_quick(dir: &Path, extra: &[&str]) -> Output {
    let file = write_workflow(dir, "quick", QUICK);
    let mut run = troupe(dir);
    run.args(["run", "--no-progress"]).args(extra).arg(&file);
    output(&mut run)
}

/// How many rows of `troupe runs` output `listing` are runs of `workflow`.
fn rows(listing: &str, workflow: &str) -> usize {
    listing
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(workflow))
        .count()
}

fn listed(dir: &Path) -> String {
    let mut runs = troupe(dir);
    runs.arg("runs");
    text(&output(&mut runs).stdout)
}

#[test]
fn runs_prune_removes_finished_runs_by_count_and_age_and_never_an_interrupted_one() {
    let dir = scratch("prune");
    let interrupted = run_and_kill(&dir);
    for _ in 0..3 {
        let out = run_quick(&dir, &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert_eq!(rows(&listed(&dir), "quick"), 3);

    let mut prune = troupe(&dir);
    prune.args(["runs", "prune", "--keep", "1"]);
    let out = output(&mut prune);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("removed 2 finished runs"),
        "{}",
        text(&out.stdout)
    );
    let now = listed(&dir);
    assert_eq!(rows(&now, "quick"), 1, "{now}");
    assert!(
        now.contains(&interrupted),
        "interrupted runs are kept: {now}"
    );

    let mut prune = troupe(&dir);
    prune.args(["runs", "prune", "--older-than", "0s"]);
    let out = output(&mut prune);
    assert!(
        text(&out.stdout).contains("removed 1 finished run "),
        "{}",
        text(&out.stdout)
    );
    let now = listed(&dir);
    assert!(!now.contains("quick"), "{now}");
    assert!(
        now.contains(&interrupted),
        "interrupted runs are kept: {now}"
    );

    // Neither rule given: a usage error, nothing removed.
    let mut prune = troupe(&dir);
    prune.args(["runs", "prune"]);
    let out = output(&mut prune);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--older-than"),
        "{}",
        text(&out.stderr)
    );

    // The retention `troupe run` applies when its run ends: keep only the newest finished run.
    for _ in 0..2 {
        assert!(run_quick(&dir, &["--retain-runs", "1"]).status.success());
    }
    let now = listed(&dir);
    assert_eq!(rows(&now, "quick"), 1, "{now}");
    assert!(now.contains(&interrupted), "{now}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_that_reaches_its_journal_cap_fails_naming_the_run_and_the_cap() {
    let dir = scratch("cap");
    let out = run_quick(&dir, &["--journal-cap", "1KB"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("cap of 1000 bytes"), "{all}");
    let now = listed(&dir);
    let row = now.lines().find(|l| l.contains("quick")).unwrap();
    assert!(row.contains("failed"), "{row}");
    // A bad size is refused by name.
    let out = run_quick(&dir, &["--journal-cap", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("\"lots\""),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_counter_agent_keeps_its_state_across_a_kill_and_resume() {
    let dir = scratch("agent-state");
    let (log, gate) = (dir.join("log"), dir.join("gate"));
    let yaml = format!(
        r#"
workflow:
  name: tally
  agents:
    counter: {{ type: util.counter }}
    hold: {{ type: cmd.run, config: {{ shell: true, timeout: 120s, program: "echo hold >> {log}; while [ ! -f {gate} ]; do sleep 0.02; done" }} }}
    status: {{ type: json.pick, config: {{ path: status }} }}
    nothing: {{ type: json.pick, config: {{ fields: {{}} }} }}
  tasks:
    - {{ id: first, agent: counter, input: 5 }}
    - {{ id: none, agent: nothing, depends_on: [first] }}
    - {{ id: wait, agent: hold, depends_on: [none] }}
    - {{ id: code, agent: status, depends_on: [wait] }}
    - {{ id: second, agent: counter, depends_on: [code] }}
"#,
        log = log.display(),
        gate = gate.display()
    );
    let file = write_workflow(&dir, "tally", &yaml);
    let mut run = troupe(&dir);
    run.args(["run", "--no-progress"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = run.spawn().expect("troupe run starts");
    wait_for_line(&dir, "hold", &mut child);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let now = listed(&dir);
    let id = now
        .lines()
        .find(|l| l.contains("tally"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();

    std::fs::write(&gate, "").unwrap();
    let mut resume = troupe(&dir);
    resume.args(["resume", "--no-progress", &id]);
    let out = output(&mut resume);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    // The pool's counter was started afresh by the new process, from the snapshot the killed
    // one stored after `first`: its total is still 5 (`second` adds the exit status, 0) and
    // this is its second call (a fresh counter would say total 0, calls 1).
    let compact: String = stdout.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(
        compact.contains(r#""total":5"#) && compact.contains(r#""calls":2"#),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
