//! A YAML workflow file built only from this crate's kinds, run on a real runtime: the shapes
//! documented in the crate docs are what tasks actually pass to each other.

use serde_json::json;
use troupe_runtime::{parse_workflow, Runtime, TaskStatus};

const WORKFLOW: &str = r#"
workflow:
  name: word_stats
  agents:
    reader:   { type: text.read, config: { path: "@PATH@" } }
    splitter: { type: text.split, config: { by: lines, size: 2 } }
    counters: { type: text.count, count: 2, config: { top: 2, counts: true } }
    merger:   { type: text.merge_counts, config: { top: 1 } }
    best:     { type: json.pick, config: { path: top.0.0 } }
    shout:    { type: text.transform, config: { op: template, template: "most common: {input}" } }
    flaky:    { type: util.flaky, config: { failures: 2 } }
    wc:       { type: cmd.run, config: { program: wc, args: [-l], timeout: 10s } }
    lines:    { type: json.pick, config: { path: stdout } }
    trim:     { type: text.transform, config: { op: trim } }
  tasks:
    - { id: read, agent: reader }
    - { id: split, agent: splitter, depends_on: [read] }
    - { id: count, agent: counters, depends_on: [split], parallel: true }
    - { id: total, agent: merger, depends_on: [count] }
    - { id: best, agent: best, depends_on: [total] }
    - { id: shout, agent: shout, depends_on: [best] }
    - id: again
      agent: flaky
      depends_on: [shout]
      retry_policy: { max_attempts: 3, initial_backoff: 1ms, jitter: 0 }
    - { id: wc, agent: wc, depends_on: [read] }
    - { id: wc_out, agent: lines, depends_on: [wc] }
    - { id: wc_trim, agent: trim, depends_on: [wc_out] }
"#;

#[tokio::test]
async fn a_yaml_workflow_of_ready_made_kinds_runs_end_to_end() {
    let path = std::env::temp_dir().join(format!("troupe-agents-wf-{}.txt", std::process::id()));
    std::fs::write(&path, "red fish\nblue fish\none fish\ntwo fish\nred sky\n").unwrap();
    let text = WORKFLOW.replace("@PATH@", path.to_str().unwrap());
    let spec = parse_workflow(&text, "word_stats.yaml").unwrap();

    let rt = Runtime::start(Default::default()).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    let report = rt.run(spec).await.unwrap();
    assert!(report.succeeded(), "{report:#?}");

    assert_eq!(
        report.output("split"),
        Some(&json!([
            "red fish\nblue fish",
            "one fish\ntwo fish",
            "red sky"
        ]))
    );
    assert_eq!(report.output("count").unwrap().as_array().unwrap().len(), 3);
    let total = report.output("total").unwrap();
    assert_eq!((&total["words"], &total["lines"]), (&json!(10), &json!(5)));
    assert_eq!(total["top"], json!([["fish", 4]]));
    assert_eq!(report.output("shout"), Some(&json!("most common: fish")));
    assert_eq!(report.output("again"), Some(&json!("most common: fish")));
    assert_eq!(report.output("wc_trim"), Some(&json!("5")));

    let again = report
        .tasks
        .iter()
        .find(|t| t.id.as_str() == "again")
        .unwrap();
    assert_eq!((again.status, again.attempts), (TaskStatus::Succeeded, 3));
    rt.shutdown().await;
}
