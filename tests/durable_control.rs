//! Pause, resume, cancel, signals and durable timers through the `troupe` binary, across
//! `kill -9`: a run killed while paused stays paused after `troupe resume` until another
//! `troupe resume` un-pauses it; a signal wait and a sleep timer survive the kill; `troupe
//! cancel` ends a running run, and an interrupted one. A side-effect log (shell tasks append
//! their id) shows every task that completed before a kill ran exactly once.

#[path = "common/durable.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use troupe::runtime::workflow::journal::JournalEvent;

use common::{
    count, journal, log_lines, output, runs_row, scratch, shell_pool, text, troupe, wait_for_line,
    wait_until,
};

/// Writes `dir/NAME.yaml`: `pools` (lines from [`shell_pool`] and more) and `tasks` (one line
/// each), with a `pick` pool that passes a shell task's stdout on.
fn workflow(dir: &Path, name: &str, pools: &[String], tasks: &[&str]) -> PathBuf {
    let mut yaml = format!("workflow:\n  name: {name}\n  agents:\n");
    for p in pools {
        yaml.push_str(p);
    }
    yaml.push_str("    pick: { type: json.pick, config: { path: stdout } }\n  tasks:\n");
    for t in tasks {
        yaml.push_str(&format!("    - {t}\n"));
    }
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Starts `troupe run FILE` in the background.
fn start_run(dir: &Path, file: &Path) -> Child {
    let mut run = troupe(dir);
    run.args(["run", "--no-progress"])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run.spawn().expect("troupe run starts")
}

/// Starts `troupe resume RUN` in the background.
fn start_resume(dir: &Path, id: &str) -> Child {
    let mut resume = troupe(dir);
    resume
        .args(["resume", "--no-progress", id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    resume.spawn().expect("troupe resume starts")
}

/// The id of the run of `workflow` in `troupe runs`.
fn run_id(dir: &Path, workflow: &str) -> String {
    let row = runs_row(dir, workflow).unwrap_or_else(|| panic!("no {workflow} run listed"));
    row.split_whitespace().next().unwrap().to_string()
}

/// Runs `troupe ARGS...` to its end, asserting it succeeds; its stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let mut c = troupe(dir);
    c.args(args);
    let out = output(&mut c);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "troupe {args:?}: stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

/// Waits until `troupe runs` shows the run `id` with `status`, driven by process `pid`.
fn wait_for_status(dir: &Path, id: &str, status: &str, driver: &mut Child) {
    let pid = format!("/{}", driver.id());
    wait_until(
        &format!("run {id} is {status} under {pid}"),
        Some(driver),
        || runs_row(dir, id).is_some_and(|row| row.contains(status) && row.contains(&pid)),
    );
}

fn kill(child: &mut Child) {
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
}

/// Waits for a `troupe run` or `troupe resume` to end, asserting it succeeded.
fn succeeds(child: Child, workflow: &str) {
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains(&format!("workflow {workflow} succeeded")),
        "{stdout}"
    );
}

#[test]
fn a_run_killed_while_paused_stays_paused_after_resume_until_resumed() {
    let dir = scratch("paused");
    let log = dir.join("log").display().to_string();
    let gate = dir.join("gate").display().to_string();
    // t2 logs its start, waits for the gate, then logs that it is done.
    let t2 = format!(
        "    t2: {{ type: cmd.run, config: {{ shell: true, timeout: 120s, program: \"echo t2 >> {log}; while [ ! -f {gate} ]; do sleep 0.02; done; echo t2-done >> {log}\" }} }}\n"
    );
    let file = workflow(
        &dir,
        "pausey",
        &[
            shell_pool(&dir, "t1", None),
            t2,
            shell_pool(&dir, "t3", None),
        ],
        &[
            "{ id: t1, agent: t1 }",
            "{ id: p1, agent: pick, depends_on: [t1] }",
            "{ id: t2, agent: t2, depends_on: [p1] }",
            "{ id: p2, agent: pick, depends_on: [t2] }",
            "{ id: t3, agent: t3, depends_on: [p2] }",
        ],
    );
    let mut run = start_run(&dir, &file);
    wait_for_line(&dir, "t2", &mut run);
    let id = run_id(&dir, "pausey");
    let said = ok(&dir, &["pause", &id]);
    assert!(said.contains("paused"), "{said}");
    assert!(runs_row(&dir, &id).unwrap().contains("paused"));
    // The running attempt finishes; nothing new starts. Then the driver dies.
    std::fs::write(dir.join("gate"), "").unwrap();
    wait_for_line(&dir, "t2-done", &mut run);
    kill(&mut run);
    // Its driver is dead: the run shows paused (not running, not interrupted).
    let row = runs_row(&dir, &id).unwrap();
    assert!(row.contains("paused"), "{row}");

    // Resumed by another process, the run is still paused: t3 does not start.
    let mut driver = start_resume(&dir, &id);
    wait_for_status(&dir, &id, "paused", &mut driver);
    assert_eq!(count(&dir, "t3"), 0, "{:?}", log_lines(&dir));
    // A second `troupe resume` un-pauses the run that the first one drives.
    let said = ok(&dir, &["resume", &id]);
    assert!(said.contains("resumed"), "{said}");
    succeeds(driver, "pausey");
    assert_eq!(count(&dir, "t1"), 1, "completed before the kill: once");
    assert!(
        (1..=2).contains(&count(&dir, "t2")),
        "{:?}",
        log_lines(&dir)
    );
    assert_eq!(count(&dir, "t3"), 1, "{:?}", log_lines(&dir));
    assert!(runs_row(&dir, &id).unwrap().contains("completed"));
    let events = journal(&dir, &id);
    let control: Vec<&str> = events
        .iter()
        .map(JournalEvent::kind)
        .filter(|k| matches!(*k, "paused" | "resumed"))
        .collect();
    assert_eq!(
        control,
        ["paused", "resumed"],
        "paused once, across the kill"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_signal_wait_survives_kill_and_the_value_is_the_task_output() {
    let dir = scratch("signal");
    let log = dir.join("log").display().to_string();
    let publish = format!(
        "    publish: {{ type: cmd.run, config: {{ shell: true, timeout: 120s, program: \"echo publish:$(cat) >> {log}\" }} }}\n"
    );
    // `marker` starts in the same journaled batch as the wait: once it logs, the wait is
    // durable.
    let file = workflow(
        &dir,
        "approval",
        &[
            shell_pool(&dir, "draft", None),
            shell_pool(&dir, "marker", Some("gate")),
            publish,
        ],
        &[
            "{ id: draft, agent: draft }",
            "{ id: p1, agent: pick, depends_on: [draft] }",
            "{ id: approve, await_signal: approval, depends_on: [p1], timeout: 1h }",
            "{ id: marker, agent: marker, depends_on: [p1] }",
            "{ id: publish, agent: publish, depends_on: [approve] }",
        ],
    );
    let mut run = start_run(&dir, &file);
    wait_for_line(&dir, "marker", &mut run);
    let id = run_id(&dir, "approval");
    kill(&mut run);
    // `troupe runs` says what the run waits for.
    let row = runs_row(&dir, &id).unwrap();
    assert!(row.contains("signal approval (until "), "{row}");

    let mut driver = start_resume(&dir, &id);
    wait_for_status(&dir, &id, "running", &mut driver);
    let said = ok(
        &dir,
        &[
            "signal",
            &id,
            "approval",
            "--value",
            r#"{"stdin": "approved"}"#,
        ],
    );
    assert!(said.contains("signalled"), "{said}");
    std::fs::write(dir.join("gate"), "").unwrap();
    succeeds(driver, "approval");
    assert_eq!(count(&dir, "draft"), 1, "completed before the kill: once");
    assert!(
        (1..=2).contains(&count(&dir, "marker")),
        "{:?}",
        log_lines(&dir)
    );
    assert_eq!(
        count(&dir, "publish:approved"),
        1,
        "the signal's value is the output of approve, publish's input: {:?}",
        log_lines(&dir)
    );
    let events = journal(&dir, &id);
    let signals = events
        .iter()
        .filter(|e| e.kind() == "signal_received")
        .count();
    assert_eq!(signals, 1, "{events:?}");
    let approved = events.iter().any(|e| {
        matches!(e, JournalEvent::TaskCompleted { task, output, .. }
            if task.as_str() == "approve" && output == &serde_json::json!({"stdin": "approved"}))
    });
    assert!(approved, "approve completed with the value: {events:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sleep_timer_survives_kill_and_resume() {
    let dir = scratch("sleep");
    let file = workflow(
        &dir,
        "napper",
        &[
            shell_pool(&dir, "t1", None),
            shell_pool(&dir, "marker", Some("gate")),
            shell_pool(&dir, "t2", None),
        ],
        &[
            "{ id: t1, agent: t1 }",
            "{ id: p1, agent: pick, depends_on: [t1] }",
            "{ id: nap, sleep: 4s, depends_on: [p1] }",
            "{ id: marker, agent: marker, depends_on: [p1] }",
            "{ id: t2, agent: t2, depends_on: [nap] }",
        ],
    );
    let mut run = start_run(&dir, &file);
    wait_for_line(&dir, "marker", &mut run);
    let id = run_id(&dir, "napper");
    kill(&mut run);
    let row = runs_row(&dir, &id).unwrap();
    assert!(row.contains("timer (wakes "), "{row}");
    std::fs::write(dir.join("gate"), "").unwrap();
    let driver = start_resume(&dir, &id);
    succeeds(driver, "napper");
    assert_eq!(count(&dir, "t1"), 1, "completed before the kill: once");
    assert!((1..=2).contains(&count(&dir, "marker")));
    assert_eq!(
        count(&dir, "t2"),
        1,
        "after the timer: {:?}",
        log_lines(&dir)
    );
    // The timer was set once, before the kill: the resumed run kept its due time.
    let events = journal(&dir, &id);
    let set: Vec<&JournalEvent> = events
        .iter()
        .filter(|e| matches!(e, JournalEvent::TimerSet { .. }))
        .collect();
    assert!(
        matches!(set[..], [JournalEvent::TimerSet { timer, .. }] if timer == "sleep/nap/1"),
        "{set:?}"
    );
    let fired = events
        .iter()
        .filter(|e| matches!(e, JournalEvent::TimerFired { timer } if timer == "sleep/nap/1"))
        .count();
    assert_eq!(fired, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn troupe_cancel_ends_a_running_run_and_an_interrupted_one() {
    let dir = scratch("cancel");
    let file = workflow(
        &dir,
        "cancelly",
        &[
            shell_pool(&dir, "t1", Some("gate")),
            shell_pool(&dir, "t2", None),
        ],
        &[
            "{ id: t1, agent: t1 }",
            "{ id: p1, agent: pick, depends_on: [t1] }",
            "{ id: t2, agent: t2, depends_on: [p1] }",
        ],
    );
    // A run driven by a live process: the driver journals the cancel and ends the run.
    let mut run = start_run(&dir, &file);
    wait_for_line(&dir, "t1", &mut run);
    let id = run_id(&dir, "cancelly");
    let said = ok(&dir, &["cancel", &id]);
    assert!(said.contains("cancelled"), "{said}");
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stdout));
    assert!(runs_row(&dir, &id).unwrap().contains("cancelled"));

    // A run nobody drives (its driver was killed) is cancelled at once.
    std::fs::remove_file(dir.join("log")).unwrap();
    let mut run = start_run(&dir, &file);
    wait_for_line(&dir, "t1", &mut run);
    kill(&mut run);
    let row = runs_row(&dir, "running").or_else(|| runs_row(&dir, "interrupted"));
    let second = row.unwrap().split_whitespace().next().unwrap().to_string();
    assert_ne!(second, id);
    let said = ok(&dir, &["cancel", &second]);
    assert!(said.contains("cancelled"), "{said}");
    assert!(runs_row(&dir, &second).unwrap().contains("cancelled"));
    let mut again = troupe(&dir);
    again.args(["cancel", &second]);
    let again = output(&mut again);
    assert!(!again.status.success());
    let err = text(&again.stderr);
    assert!(
        err.contains("already cancelled: nothing to cancel"),
        "{err}"
    );
    assert_eq!(count(&dir, "t2"), 0, "{:?}", log_lines(&dir));
    // Let the killed driver's orphaned shell task end.
    std::fs::write(dir.join("gate"), "").unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_pause_posted_while_nobody_drives_the_run_applies_when_it_is_resumed() {
    let dir = scratch("pause-undriven");
    let file = workflow(
        &dir,
        "later",
        &[
            shell_pool(&dir, "t1", Some("gate")),
            shell_pool(&dir, "t2", None),
        ],
        &[
            "{ id: t1, agent: t1 }",
            "{ id: p1, agent: pick, depends_on: [t1] }",
            "{ id: t2, agent: t2, depends_on: [p1] }",
        ],
    );
    let mut run = start_run(&dir, &file);
    wait_for_line(&dir, "t1", &mut run);
    let id = run_id(&dir, "later");
    kill(&mut run);
    let said = ok(&dir, &["pause", &id]);
    assert!(said.contains("nobody drives the run"), "{said}");
    std::fs::write(dir.join("gate"), "").unwrap();
    let mut driver = start_resume(&dir, &id);
    wait_for_status(&dir, &id, "paused", &mut driver);
    let said = ok(&dir, &["resume", &id]);
    assert!(said.contains("resumed"), "{said}");
    succeeds(driver, "later");
    assert!(
        (1..=2).contains(&count(&dir, "t1")),
        "in flight at the kill"
    );
    assert_eq!(count(&dir, "t2"), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
