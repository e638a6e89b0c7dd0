use serde_json::json;

use crate::workflow::coordination::{CoordinationType, GraphPart, Topic};
use crate::workflow::file::{parse_workflow, FileError};
use crate::workflow::plan::plan;
use crate::workflow::resources::{first_overflow, Capacity, Resources};
use crate::workflow::saga::SagaPattern;

/// The "Workflow Definition Language" example of the design documents, verbatim.
const SEED: &str = include_str!("../../../tests/fixtures/seed_workflow_definition.yaml");

fn invalid(text: &str) -> FileError {
    parse_workflow(text, "w.yaml").expect_err("invalid")
}

#[test]
fn the_design_documents_example_loads_with_every_field_read() {
    let spec = parse_workflow(SEED, "seed.yaml").expect("the seed example loads");
    let sup = &spec.agents["supervisor"];
    assert_eq!(
        sup.resources,
        Some(Resources {
            cpu_millis: 2000,
            memory_bytes: 4_000_000_000
        })
    );
    let res = &spec.agents["researchers"];
    assert_eq!(res.count, 3);
    assert_eq!(res.resources.map(|r| r.cpu_millis), Some(1000));
    let c = spec.coordination.as_ref().expect("coordination read");
    assert_eq!(c.style, CoordinationType::Hybrid);
    assert_eq!(c.event_driven, vec![Topic::AgentStatus, Topic::DataUpdates]);
    assert_eq!(
        c.graph_based,
        vec![GraphPart::TaskFlow, GraphPart::Dependencies]
    );
    assert_eq!(spec.fault_tolerance.saga, Some(SagaPattern::rollback()));
    assert!(spec.fault_tolerance.circuit_breaker.is_some());
    // Nothing is silently ignored: a saga without compensations says so.
    assert!(
        spec.warnings
            .iter()
            .any(|w| w.contains("no task has a `compensate` block")),
        "{:?}",
        spec.warnings
    );
    // It plans against its kinds, and needs 5 cores and 10 GB at once.
    let kinds = &["supervisor_agent", "research_agent", "pattern.supervisor"][..];
    let plan = plan(spec, kinds).expect("plans");
    let small = Capacity {
        cpu_millis: 4000,
        memory_bytes: 64_000_000_000,
    };
    let (pool, need, total) = first_overflow(&plan.pools, small).expect("does not fit 4 cores");
    assert_eq!(
        pool, "supervisor",
        "pools in name order: researchers fit, supervisor not"
    );
    assert_eq!((need.cpu_millis, total.cpu_millis), (2000, 5000));
    let big = Capacity {
        cpu_millis: 5000,
        memory_bytes: 10_000_000_000,
    };
    assert_eq!(first_overflow(&plan.pools, big), None, "exactly fits");
}

#[test]
fn bad_resources_name_the_pool_the_value_and_its_position() {
    let text = "workflow:\n  name: w\n  agents:\n    p: { type: k, resources: { cpu: \"two cores\" } }\n  tasks:\n    - { id: t, agent: p }\n";
    let e = invalid(text);
    assert_eq!((e.line(), e.column()), (4, 37), "{e}");
    let m = e.message();
    assert!(m.contains("pool \"p\": resources"), "{m}");
    assert!(m.contains("\"two cores\""), "{m}");
    let text = "workflow:\n  name: w\n  agents:\n    p: { type: k, resources: { memory: 4 GB of ram } }\n  tasks:\n    - { id: t, agent: p }\n";
    assert!(invalid(text).message().contains("memory \"4 GB of ram\""));
    let text = "workflow:\n  name: w\n  agents:\n    p: { type: k, resources: { disk: 1 } }\n  tasks:\n    - { id: t, agent: p }\n";
    assert!(invalid(text).message().contains("unknown field \"disk\""));
}

#[test]
fn coordination_names_are_checked() {
    let with = |block: &str| {
        format!("workflow:\n  name: w\n  tasks:\n    - {{ id: t, agent: k }}\n  coordination: {block}\n")
    };
    let e = invalid(&with(
        "{ type: hybrid, event_driven: [agent_status, gossip] }",
    ));
    assert_eq!(e.line(), 5, "{e}");
    assert!(
        e.message().contains("unknown event topic \"gossip\""),
        "{e}"
    );
    assert!(
        e.message().contains("data_updates"),
        "lists the known topics: {e}"
    );
    let e = invalid(&with("{ type: mesh }"));
    assert!(
        e.message().contains("unknown coordination type \"mesh\""),
        "{e}"
    );
    let e = invalid(&with("{ graph_based: [task_flow, magic] }"));
    assert!(
        e.message().contains("unknown graph-based part \"magic\""),
        "{e}"
    );
    let e = invalid(&with("{ type: graph_based, event_driven: [data_updates] }"));
    assert!(e.message().contains("use type hybrid"), "{e}");
    let spec = parse_workflow(&with("{ graph_based: [task_flow] }"), "w.yaml").unwrap();
    assert!(
        spec.warnings.iter().any(|w| w.contains("\"dependencies\"")),
        "{:?}",
        spec.warnings
    );
}

#[test]
fn compensate_blocks_are_read_and_checked() {
    let text = "workflow:\n  name: w\n  tasks:\n    - id: t\n      agent: k\n      compensate: { agent: undo, input: { id: $output.id }, retry_policy: { max_attempts: 4 }, timeout: 5s }\n  fault_tolerance:\n    saga_pattern: { compensation_enabled: true, rollback_on_failure: true }\n";
    let spec = parse_workflow(text, "w.yaml").unwrap();
    let c = spec.tasks[0].compensate.as_ref().expect("read");
    assert_eq!(c.agent, "undo");
    assert_eq!(c.input, Some(json!({"id": "$output.id"})));
    assert_eq!(c.retry.max_attempts, 4);
    assert_eq!(c.timeout, Some(std::time::Duration::from_secs(5)));
    assert!(spec.warnings.is_empty(), "{:?}", spec.warnings);

    let e = invalid(&text.replace("timeout: 5s", "timout: 5s"));
    assert!(
        e.message()
            .contains("task \"t\": compensate: unknown field \"timout\""),
        "{e}"
    );
    let e = invalid(&text.replace("agent: undo, ", ""));
    assert!(e.message().contains("missing field \"agent\""), "{e}");

    // Without a rolling-back saga the compensation never runs: a warning says why.
    let off = text.replace("rollback_on_failure: true", "rollback_on_failure: false");
    let spec = parse_workflow(&off, "w.yaml").unwrap();
    assert!(
        spec.warnings[0].contains("never runs: rollback_on_failure is false"),
        "{:?}",
        spec.warnings
    );
    // An unknown compensation agent is a plan error naming the task.
    let e = plan(parse_workflow(text, "w.yaml").unwrap(), &["k"][..]).unwrap_err();
    assert!(
        e.to_string().contains("task \"t\": compensate at line 6"),
        "{e}"
    );
    assert!(plan(parse_workflow(text, "w.yaml").unwrap(), &["k", "undo"][..]).is_ok());
}
