use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::ids::TaskId;
use crate::policy::{CircuitBreakerConfig, RetryOn, RetryPolicy};
use crate::workflow::spec::{FaultTolerance, SourcePos};

const FULL: &str = r#"workflow:
  name: text_stats
  version: "1.0"
  description: Counts words.
  orchestration_pattern: supervisor
  agents:
    splitter: { type: text.split, count: 1, capabilities: [split], config: { sep: " ", max: 3 } }
    counters: { type: text.count, count: 4 }
  tasks:
    - { id: split, agent: splitter, depends_on: [], timeout: 30, retry_policy: exponential_backoff, input: "any yaml value" }
    - { id: count, agent: counters, depends_on: [split], parallel: true, optional: false }
  fault_tolerance:
    circuit_breaker: { failure_threshold: 3, timeout_seconds: 30 }
"#;

fn pos(line: u64, column: u64) -> SourcePos {
    SourcePos { line, column }
}

/// A workflow with one block-style task whose body is `task_body` (indented by 6 spaces).
fn with_task(task_body: &str) -> String {
    let mut text = String::from("workflow:\n  name: w\n  tasks:\n    - id: t\n");
    for line in task_body.lines() {
        text.push_str("      ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

fn invalid(text: &str) -> FileError {
    match parse_workflow(text, "wf.yaml") {
        Ok(spec) => panic!("expected an error, got {spec:?}"),
        Err(e) => e,
    }
}

#[test]
fn full_example_reads_into_spec_values() {
    let spec = parse_workflow(FULL, "text_stats.yaml").expect("valid file");
    assert_eq!(spec.name, "text_stats");
    assert_eq!(spec.version, "1.0");
    assert_eq!(spec.pattern.as_deref(), Some("supervisor"));

    let splitter = &spec.agents["splitter"];
    assert_eq!(splitter.kind, "text.split");
    assert_eq!(splitter.count, 1);
    assert_eq!(splitter.capabilities, vec!["split".to_string()]);
    assert_eq!(splitter.config, json!({"sep": " ", "max": 3}));
    assert_eq!(splitter.pos, pos(7, 5));
    let counters = &spec.agents["counters"];
    assert_eq!((counters.kind.as_str(), counters.count), ("text.count", 4));
    assert_eq!(counters.config, Value::Null);
    assert_eq!(counters.pos, pos(8, 5));

    assert_eq!(spec.tasks.len(), 2);
    let split = &spec.tasks[0];
    assert_eq!(split.id.as_str(), "split");
    assert_eq!(split.agent, "splitter");
    assert!(split.depends_on.is_empty());
    assert_eq!(split.timeout, Some(Duration::from_secs(30)));
    assert_eq!(split.retry, RetryPolicy::exponential_backoff());
    assert_eq!(split.input, Some(json!("any yaml value")));
    assert!(!split.parallel && !split.optional);
    assert_eq!(split.pos, pos(10, 7));
    let count = &spec.tasks[1];
    assert_eq!(count.depends_on, vec![TaskId::from("split")]);
    assert!(count.parallel && !count.optional);
    assert_eq!(count.timeout, None);
    assert_eq!(count.retry, RetryPolicy::none());
    assert_eq!(count.input, None);
    assert_eq!(count.pos, pos(11, 7));

    assert_eq!(
        spec.fault_tolerance.circuit_breaker,
        Some(CircuitBreakerConfig {
            failure_threshold: 3,
            open_for: Duration::from_secs(30)
        })
    );
    // With a pattern, capabilities are the members' and nothing is left unused: no warnings.
    assert_eq!(spec.pattern.as_deref(), Some("supervisor"));
    assert_eq!(spec.pattern_config, None);
    assert_eq!(spec.warnings, Vec::<String>::new());
}

#[test]
fn block_style_tasks_record_their_position_and_defaults() {
    let text = "workflow:\n  name: w\n  tasks:\n    - id: a\n      agent: k\n    - id: b\n      agent: k\n      depends_on: a\n";
    let spec = parse_workflow(text, "wf.yaml").unwrap();
    assert_eq!(spec.version, "1");
    assert_eq!(spec.pattern, None);
    assert!(spec.agents.is_empty());
    assert!(spec.warnings.is_empty(), "{:?}", spec.warnings);
    assert_eq!(spec.tasks[0].pos, pos(4, 7));
    assert_eq!(spec.tasks[1].pos, pos(6, 7));
    assert_eq!(
        spec.tasks[1].depends_on,
        vec![TaskId::from("a")],
        "a single name is a list of one"
    );
    assert_eq!(spec.fault_tolerance, FaultTolerance::default());
}

#[test]
fn dag_pattern_and_description_give_no_warning() {
    let text = "workflow:\n  name: w\n  description: free text\n  orchestration_pattern: dag\n  tasks: [{id: a, agent: k}]\n";
    let spec = parse_workflow(text, "wf.yaml").unwrap();
    assert!(spec.warnings.is_empty(), "{:?}", spec.warnings);
    assert_eq!(spec.pattern.as_deref(), Some("dag"));
}

#[test]
fn unknown_task_field_names_task_line_and_column() {
    let text = "workflow:\n  name: w\n  tasks:\n    - id: split\n      agent: a\n    - id: count\n      agent: a\n      paralel: true\n";
    let err = invalid(text);
    assert_eq!((err.source(), err.line(), err.column()), ("wf.yaml", 8, 7));
    assert!(
        err.to_string().starts_with(
            "wf.yaml:8:7: task \"count\": unknown field \"paralel\", expected one of \"id\", \"agent\", \"depends_on\""
        ),
        "{err}"
    );
    assert!(err.message().contains("\"parallel\""), "{err}");
}

#[test]
fn unknown_fields_are_errors_at_every_level() {
    let cases: &[(&str, u64, &str)] = &[
        ("workflow:\n  name: w\nextra: 1\n", 3, "top level: unknown field \"extra\""),
        ("workflow:\n  name: w\n  nmae: x\n", 3, "workflow: unknown field \"nmae\""),
        (
            "workflow:\n  name: w\n  agents:\n    p: { type: k, size: 2 }\n",
            4,
            "pool \"p\": unknown field \"size\"",
        ),
        (
            "workflow:\n  name: w\n  tasks:\n    - id: t\n      agent: k\n      retry_policy: { max_attempts: 2, backof: 1s }\n",
            6,
            "task \"t\": retry_policy: unknown field \"backof\"",
        ),
        (
            "workflow:\n  name: w\n  fault_tolerance:\n    circuit_breaker: { failure_threshold: 1, timeout: 3 }\n",
            4,
            "fault_tolerance: circuit_breaker: unknown field \"timeout\"",
        ),
        ("workflow:\n  name: w\n  fault_tolerance: { bulkhead: 1 }\n", 3, "fault_tolerance: unknown field \"bulkhead\""),
    ];
    for (text, line, start) in cases {
        let err = invalid(text);
        assert_eq!(err.line(), *line, "{err}");
        assert!(err.message().starts_with(start), "{err}");
    }
}

#[test]
fn wrong_types_name_field_expected_and_found() {
    let cases: &[(&str, (u64, u64), &str)] = &[
        (
            "workflow:\n  name: w\n  agents:\n    p: { type: k, count: four }\n",
            (4, 26),
            "pool \"p\": field \"count\": expected a whole number, found a string",
        ),
        (
            "workflow:\n  name: [w]\n",
            (2, 9),
            "workflow: field \"name\": expected a name, found a list",
        ),
        (
            "workflow:\n  name: w\n  tasks: { a: 1 }\n",
            (3, 10),
            "workflow: field \"tasks\": expected a list of tasks, found a mapping",
        ),
        (
            "workflow:\n  name: w\n  agents: [a]\n",
            (3, 11),
            "workflow: field \"agents\": expected a mapping of pool names to pools, found a list",
        ),
        (
            "workflow: [1, 2]\n",
            (1, 11),
            "workflow: expected a mapping, found a list",
        ),
        (
            "workflow:\n  name: w\n  tasks: [ 5 ]\n",
            (3, 12),
            "task #1: expected a mapping, found an integer",
        ),
    ];
    for (text, (line, column), message) in cases {
        let err = invalid(text);
        assert_eq!((err.line(), err.column()), (*line, *column), "{err}");
        assert_eq!(err.message(), *message, "{err}");
    }
    let task_cases: &[(&str, &str)] = &[
        ("agent: k\nparallel: \"yes\"", "task \"t\": field \"parallel\": expected true or false, found a string"),
        ("agent: k\nparallel: yes", "task \"t\": field \"parallel\": expected true or false, found a string"),
        ("agent: k\ndepends_on: { a: 1 }", "task \"t\": field \"depends_on\": expected a list of names, found a mapping"),
        ("agent: k\ntimeout: [1]", "task \"t\": field \"timeout\": expected a number of seconds or a duration like \"30s\", found a list"),
        ("agent: k\ntimeout: -3", "task \"t\": field \"timeout\": a duration must not be negative, got -3"),
        ("agent: k\ntimeout: 0", "task \"t\": field \"timeout\": must be above zero"),
        ("agent: ''", "task \"t\": field \"agent\": must not be empty"),
        ("depends_on: []", "task \"t\": missing field \"agent\""),
    ];
    for (body, message) in task_cases {
        let err = invalid(&with_task(body));
        assert_eq!(err.message(), *message, "{err}");
        assert!(err.line() >= 4, "{err}");
    }
}

#[test]
fn missing_fields_point_at_the_mapping() {
    let err = invalid("workflow:\n  version: 2\n");
    assert_eq!(err.message(), "workflow: missing field \"name\"");
    assert_eq!((err.line(), err.column()), (2, 3));
    let err = invalid("workflow:\n  name: w\n  tasks:\n    - agent: k\n");
    assert_eq!(err.message(), "task #1: missing field \"id\"");
    assert_eq!((err.line(), err.column()), (4, 7));
    let err = invalid("workflow:\n  name: w\n  agents:\n    p: { count: 2 }\n");
    assert_eq!(err.message(), "pool \"p\": missing field \"type\"");
    let err = invalid("name: w\n");
    assert!(
        err.message()
            .starts_with("top level: unknown field \"name\", expected one of \"workflow\""),
        "{err}"
    );
}

#[test]
fn empty_file_and_comment_only_file_are_reported_as_empty() {
    for text in ["", "\n\n", "# nothing here\n"] {
        let err = invalid(text);
        assert!(err.message().starts_with("the file is empty"), "{err}");
        assert!(err.message().contains("\"workflow\""), "{err}");
    }
}

#[test]
fn top_level_list_or_scalar_is_rejected() {
    let err = invalid("- workflow: {}\n- b\n");
    assert_eq!(
        err.to_string(),
        "wf.yaml:1:1: expected a mapping with a top-level \"workflow\" key, found a list"
    );
    let err = invalid("just text\n");
    assert!(err.message().ends_with("found a string"), "{err}");
}

#[test]
fn truncated_file_gives_a_positioned_yaml_error() {
    let cut = &FULL[..FULL.find("depends_on: [split]").unwrap() + 15];
    let err = invalid(cut);
    assert!(err.message().starts_with("invalid YAML: "), "{err}");
    assert!(err.line() >= 11, "{err}");
}

#[test]
fn every_prefix_of_a_valid_file_parses_or_errors_without_panic() {
    let mut boundaries: Vec<usize> = FULL.char_indices().map(|(i, _)| i).collect();
    boundaries.push(FULL.len());
    let mut errors = 0;
    for end in boundaries {
        if parse_workflow(&FULL[..end], "cut.yaml").is_err() {
            errors += 1;
        }
    }
    assert!(
        errors > 100,
        "most prefixes are invalid, got {errors} errors"
    );
}

#[test]
fn random_mutations_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x7e57);
    let alphabet = b"{}[]:,-'\"&*!|>#%@ \n\tax01.";
    let mut ok = 0;
    for _ in 0..1500 {
        let mut bytes = FULL.as_bytes().to_vec();
        for _ in 0..rng.usize(1..6) {
            let at = rng.usize(..bytes.len());
            match rng.u8(..3) {
                0 => bytes[at] = alphabet[rng.usize(..alphabet.len())],
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, alphabet[rng.usize(..alphabet.len())]),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if parse_workflow(&text, "fuzz.yaml").is_ok() {
            ok += 1;
        }
    }
    assert!(ok < 1500, "mutations should break some files");
}

#[test]
fn huge_text_is_rejected_before_parsing() {
    let mut text = String::from("workflow:\n  name: w\n  description: \"");
    text.push_str(&"x".repeat(MAX_FILE_BYTES));
    text.push_str("\"\n");
    let err = invalid(&text);
    assert!(
        matches!(
            err,
            FileError::TooLarge {
                limit: MAX_FILE_BYTES,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "wf.yaml: workflow file is {} bytes, larger than the limit of {MAX_FILE_BYTES} bytes",
            text.len()
        )
    );
}

#[test]
fn alias_bomb_and_deep_nesting_are_refused() {
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    bomb.push_str("workflow: { name: w, tasks: [{ id: t, agent: k, input: *a9 }] }\n");
    // Refused, not expanded: the reader's alias budget stops the bomb (how long that takes is
    // a benchmark's business, not a test's).
    let err = invalid(&bomb);
    assert!(err.message().starts_with("invalid YAML: "), "{err}");

    let deep = format!(
        "workflow: {{ name: w, tasks: [{{ id: t, agent: k, input: {}1{} }}] }}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let err = invalid(&deep);
    assert!(err.message().starts_with("invalid YAML: "), "{err}");
    assert_eq!(err.line(), 1);
}

#[test]
fn yaml_errors_carry_position() {
    let err = invalid("workflow:\n  name: w\n  name: v\n");
    assert_eq!(err.line(), 3, "{err}");
    assert!(err.message().contains("duplicate mapping key"), "{err}");
    let err = invalid("workflow:\n  name: w\n  tasks: [ {id: a\n");
    assert!(err.line() >= 3 && err.column() > 0, "{err}");
    let err = invalid("workflow:\n  name: w\n---\nworkflow:\n  name: v\n");
    assert!(err.message().contains("multiple"), "{err}");
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let path = std::path::Path::new("/nonexistent/troupe/wf.yaml");
    let err = load_workflow(path).unwrap_err();
    assert!(err.is_io());
    assert_eq!(err.source(), "/nonexistent/troupe/wf.yaml");
    assert!(
        err.to_string()
            .starts_with("/nonexistent/troupe/wf.yaml: cannot read workflow file: "),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn files_are_loaded_checked_for_size_and_utf8() {
    let dir = std::env::temp_dir().join(format!("troupe-file-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.yaml");
    std::fs::write(&good, FULL).unwrap();
    let spec = load_workflow(&good).unwrap();
    assert_eq!(spec.tasks.len(), 2);
    let dag = dir.join("dag.yaml");
    std::fs::write(&dag, FULL.replace("supervisor", "dag")).unwrap();
    let spec = load_workflow(&dag).unwrap();
    assert!(
        spec.warnings[0].starts_with(&format!("{}:7:45: ", dag.display())),
        "{:?}",
        spec.warnings
    );

    let big = dir.join("big.yaml");
    std::fs::write(&big, vec![b'#'; MAX_FILE_BYTES + 1]).unwrap();
    let err = load_workflow(&big).unwrap_err();
    assert!(
        matches!(err, FileError::TooLarge { size, .. } if size == MAX_FILE_BYTES as u64 + 1),
        "{err:?}"
    );

    let latin1 = dir.join("latin1.yaml");
    std::fs::write(&latin1, b"workflow:\n  name: caf\xe9\n").unwrap();
    let err = load_workflow(&latin1).unwrap_err();
    assert_eq!(
        (err.line(), err.column(), err.message().as_ref()),
        (2, 12, "the file is not valid UTF-8")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn duration_strings() {
    let ok: &[(&str, Duration)] = &[
        ("500ms", Duration::from_millis(500)),
        ("30s", Duration::from_secs(30)),
        ("2m", Duration::from_secs(120)),
        ("1h30m", Duration::from_secs(5400)),
        ("1.5s", Duration::from_millis(1500)),
        ("30", Duration::from_secs(30)),
        (" 2m ", Duration::from_secs(120)),
        ("0s", Duration::ZERO),
        ("7d", Duration::from_secs(7 * 86_400)),
    ];
    for (text, want) in ok {
        assert_eq!(parse_duration(text), Ok(*want), "{text}");
    }
    for bad in [
        "", "5x", "s", "-1s", "1..2s", "1 s", "inf", "NaN", "-5", "1e400s", "10w",
    ] {
        let err = parse_duration(bad).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("invalid duration {bad:?}")),
            "{bad}: {err}"
        );
    }

    let spec = parse_workflow(&with_task("agent: k\ntimeout: 0.25"), "wf.yaml").unwrap();
    assert_eq!(spec.tasks[0].timeout, Some(Duration::from_millis(250)));
    let spec = parse_workflow(&with_task("agent: k\ntimeout: \"2m\""), "wf.yaml").unwrap();
    assert_eq!(spec.tasks[0].timeout, Some(Duration::from_secs(120)));
    let err = invalid(&with_task("agent: k\ntimeout: 5 parsecs"));
    assert_eq!((err.line(), err.column()), (6, 16));
    assert!(
        err.message()
            .starts_with("task \"t\": field \"timeout\": invalid duration \"5 parsecs\": expected"),
        "{err}"
    );
}

#[test]
fn retry_policy_forms() {
    let retry = |body: &str| {
        parse_workflow(
            &with_task(&format!("agent: k\nretry_policy: {body}")),
            "wf.yaml",
        )
    };
    assert_eq!(retry("none").unwrap().tasks[0].retry, RetryPolicy::none());
    assert_eq!(
        retry("exponential_backoff").unwrap().tasks[0].retry,
        RetryPolicy::exponential_backoff()
    );
    assert_eq!(
        retry("{ max_attempts: 5, initial_backoff: 1s }")
            .unwrap()
            .tasks[0]
            .retry,
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            ..RetryPolicy::exponential_backoff()
        }
    );
    let full = retry("{ max_attempts: 4, initial_backoff: 250ms, max_backoff: 2m, multiplier: 3, jitter: 0.5, retry_on: any }");
    assert_eq!(
        full.unwrap().tasks[0].retry,
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(120),
            multiplier: 3.0,
            jitter: 0.5,
            retry_on: RetryOn::Any,
        }
    );
    assert_eq!(
        retry("{ retry_on: [timeout, agent_failed] }")
            .unwrap()
            .tasks[0]
            .retry
            .retry_on,
        RetryOn::Classes(vec!["timeout".into(), "agent_failed".into()])
    );
    assert_eq!(
        retry("{ retry_on: retryable }").unwrap().tasks[0]
            .retry
            .retry_on,
        RetryOn::Retryable
    );

    let err = retry("{ jitter: 2 }").unwrap_err();
    assert_eq!((err.line(), err.column()), (6, 21));
    assert_eq!(
        err.message(),
        "task \"t\": retry_policy: jitter must be within 0..=1, got 2"
    );
    let err = retry("{ max_attempts: 0 }").unwrap_err();
    assert_eq!(
        err.message(),
        "task \"t\": retry_policy: max_attempts must be at least 1"
    );
    let err = retry("sometimes").unwrap_err();
    assert!(
        err.message()
            .starts_with("task \"t\": retry_policy: unknown policy \"sometimes\""),
        "{err}"
    );
    let err = retry("{ retry_on: [] }").unwrap_err();
    assert!(err.message().contains("retry_on"), "{err}");
    let err = retry("{ max_attempts: 99999999999 }").unwrap_err();
    assert!(err.message().contains("too large"), "{err}");
}

#[test]
fn pools_count_and_config() {
    let err = invalid("workflow:\n  name: w\n  agents:\n    p: { type: k, count: 0 }\n");
    assert_eq!(
        err.message(),
        "pool \"p\": field \"count\": must be at least 1"
    );
    assert_eq!((err.line(), err.column()), (4, 26));
    let spec = parse_workflow(
        "workflow:\n  name: w\n  agents:\n    p:\n      type: k\n      config:\n        nested: { list: [1, 2.5, true, null, text] }\n",
        "wf.yaml",
    )
    .unwrap();
    let p = &spec.agents["p"];
    assert_eq!((p.count, p.pos), (1, pos(4, 5)));
    assert_eq!(
        p.config,
        json!({"nested": {"list": [1, 2.5, true, null, "text"]}})
    );
}

#[test]
fn unknown_pattern_is_an_error_at_its_position() {
    // The reader knows no pattern names: the planner checks them against the registered kinds,
    // at the position the file gave.
    let text = "workflow:\n  name: w\n  orchestration_pattern: mesh\n  tasks: [{id: a}]\n";
    let spec = parse_workflow(text, "wf.yaml").unwrap();
    assert_eq!(spec.pattern_pos, pos(3, 26));
    let kinds = ["k", "pattern.swarm", "pattern.handoff"];
    let err = crate::workflow::plan::plan(spec, &kinds[..]).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert!(
        err.to_string().starts_with(
            "unknown orchestration pattern \"mesh\" at line 3, column 26; registered patterns: swarm, handoff, dag"
        ),
        "{err}"
    );
    let spec = parse_workflow(&text.replace("mesh", "swarm"), "wf.yaml").unwrap();
    assert!(crate::workflow::plan::plan(spec, &kinds[..]).is_ok());
}

#[test]
fn versions_ids_and_inputs_keep_what_was_written() {
    let text = "workflow:\n  name: w\n  version: 1.10\n  tasks:\n    - { id: 1, agent: k, input: { a: [1, -2, 3.5], b: ~ } }\n    - { id: 2, agent: k, depends_on: [1] }\n";
    let spec = parse_workflow(text, "wf.yaml").unwrap();
    assert_eq!(spec.version, "1.10");
    assert_eq!(spec.tasks[0].id.as_str(), "1");
    assert_eq!(spec.tasks[1].depends_on, vec![TaskId::from("1")]);
    assert_eq!(
        spec.tasks[0].input,
        Some(json!({"a": [1, -2, 3.5], "b": null}))
    );
    let spec = parse_workflow("workflow: { name: w, version: 3 }\n", "wf.yaml").unwrap();
    assert_eq!(spec.version, "3");
}

#[test]
fn control_characters_in_messages_are_escaped() {
    let err = invalid("workflow:\n  name: w\n  \"bad\\u0007key\": 1\n");
    assert!(!err.to_string().chars().any(|c| c.is_control()), "{err:?}");
}

#[test]
fn a_pattern_block_and_agentless_tasks_need_a_pattern() {
    let with_pattern = "workflow:\n  name: p\n  orchestration_pattern: handoff\n  agents:\n    triage: { type: util.echo }\n  pattern: { start: triage }\n  tasks:\n    - { id: ask, input: hello }\n";
    let spec = parse_workflow(with_pattern, "p.yaml").unwrap();
    assert_eq!(spec.tasks[0].agent, crate::workflow::spec::PATTERN_POOL);
    assert_eq!(spec.pattern_config, Some(json!({"start": "triage"})));

    let dag_block = with_pattern.replace("handoff", "dag");
    let err = parse_workflow(&dag_block, "p.yaml").unwrap_err();
    assert_eq!(err.line(), 6, "{err}");
    assert!(
        err.to_string()
            .contains("needs an orchestration_pattern other than dag"),
        "{err}"
    );

    let no_agent = "workflow:\n  name: p\n  tasks:\n    - { id: ask }\n";
    let err = parse_workflow(no_agent, "p.yaml").unwrap_err();
    assert!(err.to_string().contains("\"agent\""), "{err}");

    let not_a_map = with_pattern.replace("{ start: triage }", "[triage]");
    let err = parse_workflow(&not_a_map, "p.yaml").unwrap_err();
    assert!(
        err.to_string()
            .contains("expected a mapping (the pattern's configuration)"),
        "{err}"
    );
}

#[test]
fn task_priority_is_read_defaults_to_the_middle_and_is_bounded() {
    let text = "workflow:\n  name: w\n  tasks:\n    - { id: a, agent: k, priority: 9 }\n    - { id: b, agent: k }\n    - { id: c, agent: k, priority: 0 }\n";
    let spec = parse_workflow(text, "wf.yaml").unwrap();
    let priorities: Vec<u8> = spec.tasks.iter().map(|t| t.priority).collect();
    assert_eq!(priorities, [9, crate::workflow::DEFAULT_PRIORITY, 0]);
    let err = invalid(&with_task("agent: k\npriority: 10"));
    assert_eq!((err.line(), err.column()), (6, 17), "{err}");
    assert!(
        err.to_string()
            .contains("task \"t\": field \"priority\": must be 0 to 9, got 10"),
        "{err}"
    );
    let err = invalid(&with_task("agent: k\npriority: high"));
    assert!(err.to_string().contains("expected a whole number"), "{err}");
}

#[test]
fn a_pool_may_bound_its_agents_mailboxes() {
    let text = "workflow:\n  name: w\n  agents:\n    p: { type: k, mailbox: 16 }\n    q: { type: k }\n  tasks: [{id: a, agent: p}]\n";
    let spec = parse_workflow(text, "wf.yaml").unwrap();
    assert_eq!(spec.agents["p"].mailbox, Some(16));
    assert_eq!(spec.agents["q"].mailbox, None);
    let err = invalid("workflow:\n  name: w\n  agents:\n    p: { type: k, mailbox: 0 }\n  tasks: [{id: a, agent: p}]\n");
    assert!(
        err.to_string()
            .contains("field \"mailbox\": must be at least 1"),
        "{err}"
    );
}
