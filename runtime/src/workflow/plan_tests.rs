use std::time::Duration;

use serde_json::json;

use super::*;
use crate::policy::RetryPolicy;
use crate::workflow::file::parse_workflow;
use crate::workflow::spec::TaskSpec;

const KINDS: &[&str] = &["text.split", "text.count", "llm"];

fn kinds() -> &'static [&'static str] {
    KINDS
}

fn ids(plan: &Plan, indexes: &[usize]) -> Vec<String> {
    indexes
        .iter()
        .map(|&i| plan.task(i).id.to_string())
        .collect()
}

fn at(line: u64) -> SourcePos {
    SourcePos { line, column: 5 }
}

fn task(id: &str, deps: &[&str]) -> TaskSpec {
    TaskSpec::new(id, "workers").after(deps.iter().copied())
}

fn spec(tasks: Vec<TaskSpec>) -> WorkflowSpec {
    let mut b = WorkflowSpec::builder("w").pool("workers", PoolSpec::new("text.count", 2));
    for t in tasks {
        b = b.task(t);
    }
    b.build()
}

fn errors(spec: WorkflowSpec) -> Vec<PlanError> {
    match plan(spec, kinds()) {
        Ok(p) => panic!("expected errors, got a plan of {} tasks", p.len()),
        Err(PlanErrors(errors)) => errors,
    }
}

#[test]
fn diamond_is_resolved_into_index_form() {
    let p = plan(
        spec(vec![
            task("d", &["b", "c"]),
            task("b", &["a"]),
            task("c", &["a"]),
            task("a", &[]),
        ]),
        kinds(),
    )
    .unwrap();
    assert_eq!(p.len(), 4);
    assert!(!p.is_empty());
    assert_eq!(p.index["a"], 3);
    assert_eq!(p.deps, vec![vec![1, 2], vec![3], vec![3], vec![]]);
    assert_eq!(p.dependents, vec![vec![], vec![0], vec![0], vec![1, 2]]);
    assert_eq!(ids(&p, &p.topo), vec!["a", "b", "c", "d"]);
    assert_eq!(p.roots().collect::<Vec<_>>(), vec![3]);
    assert_eq!(p.task_pool, vec!["workers"; 4]);
    assert_eq!(p.pools.keys().collect::<Vec<_>>(), vec!["workers"]);
    let g = p.graph();
    assert_eq!((g.node_count(), g.edge_count()), (4, 4));
    let order = petgraph::algo::toposort(&g, None).unwrap();
    assert_eq!(g[order[0]].as_str(), "a");
}

#[test]
fn repeated_dependencies_are_kept_once_in_order() {
    let p = plan(
        spec(vec![
            task("a", &[]),
            task("b", &[]),
            task("c", &["b", "a", "b", "a"]),
        ]),
        kinds(),
    )
    .unwrap();
    assert_eq!(p.deps[2], vec![1, 0]);
    assert_eq!(p.dependents[0], vec![2]);
    assert_eq!(p.dependents[1], vec![2]);
}

#[test]
fn a_registered_kind_as_agent_gets_an_implicit_pool() {
    let s = WorkflowSpec::builder("w")
        .pool("llm", PoolSpec::new("text.split", 3)) // a pool name wins over a kind name
        .task(TaskSpec::new("a", "text.count"))
        .task(TaskSpec::new("b", "text.count").after(["a"]))
        .task(TaskSpec::new("c", "llm"))
        .build();
    let p = plan(s, kinds()).unwrap();
    assert_eq!(p.task_pool, vec!["text.count", "text.count", "llm"]);
    assert_eq!(p.pools.len(), 2);
    assert_eq!(p.pools["text.count"], PoolSpec::new("text.count", 1));
    assert_eq!(p.pools["llm"].kind, "text.split");
    assert_eq!(p.pools["llm"].count, 3);
}

#[test]
fn duplicate_ids_name_both_positions() {
    let mut first = task("a", &[]);
    first.pos = at(4);
    let mut again = task("a", &[]);
    again.pos = at(9);
    let errs = errors(spec(vec![first, task("b", &["a"]), again]));
    assert_eq!(
        errs,
        vec![PlanError::DuplicateTask {
            id: "a".into(),
            first: at(4),
            again: at(9)
        }]
    );
    assert_eq!(
        errs[0].to_string(),
        "duplicate task id \"a\" at line 9, column 5 (first defined at line 4, column 5)"
    );
}

#[test]
fn unknown_dependency_names_task_dependency_and_line() {
    let mut t = task("count", &["split", "splt"]);
    t.pos = at(7);
    let errs = errors(spec(vec![task("split", &[]), t]));
    assert_eq!(
        errs[0].to_string(),
        "task \"count\" at line 7, column 5: depends on unknown task \"splt\""
    );
    assert_eq!(errs.len(), 1);
}

#[test]
fn self_dependency_is_reported_once() {
    let errs = errors(spec(vec![task("a", &["a", "a"])]));
    assert_eq!(
        errs,
        vec![PlanError::SelfDependency {
            task: "a".into(),
            pos: SourcePos::default()
        }]
    );
    assert_eq!(errs[0].to_string(), "task \"a\": depends on itself");
}

#[test]
fn cycle_is_printed_as_an_actual_cycle() {
    // x is fine; a -> c -> b -> a is the cycle; d only sits behind it.
    let errs = errors(spec(vec![
        task("x", &[]),
        task("a", &["x", "c"]),
        task("b", &["a"]),
        task("c", &["b"]),
        task("d", &["c"]),
    ]));
    assert_eq!(
        errs,
        vec![PlanError::Cycle {
            path: vec!["a".into(), "c".into(), "b".into()]
        }]
    );
    assert_eq!(
        errs[0].to_string(),
        "dependency cycle: a -> c -> b -> a (\"x -> y\": x depends on y)"
    );
}

#[test]
fn separate_cycles_are_each_reported() {
    let errs = errors(spec(vec![
        task("p", &["q"]),
        task("q", &["p"]),
        task("r", &["s"]),
        task("s", &["t"]),
        task("t", &["r"]),
        task("u", &["p", "t"]),
    ]));
    let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        vec![
            "dependency cycle: p -> q -> p (\"x -> y\": x depends on y)",
            "dependency cycle: r -> s -> t -> r (\"x -> y\": x depends on y)",
        ]
    );
}

#[test]
fn a_long_cycle_is_found_without_recursion_and_shortened_in_messages() {
    let n = 50_000;
    let tasks = (0..n)
        .map(|i| {
            let dep = format!("t{}", (i + 1) % n);
            task(&format!("t{i}"), &[dep.as_str()])
        })
        .collect();
    let errs = errors(spec(tasks));
    let PlanError::Cycle { path } = &errs[0] else {
        panic!("{errs:?}")
    };
    assert_eq!(path.len(), n);
    assert_eq!((path[0].as_str(), path[1].as_str()), ("t0", "t1"));
    let text = errs[0].to_string();
    assert!(
        text.contains(&format!("... ({} more) -> t0", n - 32)),
        "{text}"
    );
}

#[test]
fn unknown_agent_kind_and_empty_pool() {
    let mut s = WorkflowSpec::builder("w")
        .pool("writers", PoolSpec::new("text.write", 0))
        .task(TaskSpec::new("a", "writers"))
        .task(TaskSpec::new("b", "nobody"))
        .build();
    s.agents.get_mut("writers").unwrap().pos = at(3);
    s.tasks[1].pos = at(8);
    let errs = errors(s);
    let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        vec![
            "pool \"writers\" at line 3, column 5: count must be at least 1",
            "pool \"writers\" at line 3, column 5: unknown agent kind \"text.write\"; known kinds: text.split, text.count, llm",
            "task \"b\" at line 8, column 5: agent \"nobody\" is neither a pool under `agents` nor a registered agent kind",
        ]
    );
    let none: &[&str] = &[];
    let s = WorkflowSpec::builder("w")
        .pool("p", PoolSpec::new("k", 1))
        .task(TaskSpec::new("a", "p"))
        .build();
    let err = plan(s, none).unwrap_err();
    assert_eq!(
        err.to_string(),
        "pool \"p\": unknown agent kind \"k\"; no agent kinds are registered"
    );
}

#[test]
fn static_input_only_without_dependencies() {
    let ok = task("a", &[]).input(json!({"text": "hi"}));
    let bad = task("b", &["a"]).input(json!(1));
    let errs = errors(spec(vec![ok, bad]));
    assert_eq!(
        errs,
        vec![PlanError::InputWithDependencies {
            task: "b".into(),
            pos: SourcePos::default()
        }]
    );
    assert!(errs[0]
        .to_string()
        .starts_with("task \"b\": has both `input` and `depends_on`"));
}

#[test]
fn unknown_pattern_bad_retry_and_no_tasks() {
    let mut s = spec(vec![]);
    s.pattern = Some("mesh".into());
    let errs = errors(s);
    assert_eq!(
        errs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![
            "the workflow has no tasks".to_string(),
            "unknown orchestration pattern \"mesh\"; registered patterns: dag (a pattern is an agent kind named \"pattern.<name>\"; troupe_patterns::register_all registers the built-in ones)".to_string(),
        ]
    );

    let bad = RetryPolicy {
        multiplier: 0.5,
        ..RetryPolicy::exponential_backoff()
    };
    let mut t = task("a", &[]).retry(bad);
    t.pos = at(2);
    let errs = errors(spec(vec![t]));
    assert_eq!(
        errs[0].to_string(),
        "task \"a\" at line 2, column 5: bad retry policy: multiplier must be >= 1, got 0.5"
    );
}

#[test]
fn all_problems_are_reported_together_one_per_line() {
    let s = WorkflowSpec::builder("w")
        .pool("workers", PoolSpec::new("text.count", 1))
        .task(task("a", &["ghost"]))
        .task(task("a", &[]))
        .task(TaskSpec::new("b", "nobody").after(["b"]))
        .task(task("c", &["d"]))
        .task(task("d", &["c"]))
        .build();
    let err = plan(s, kinds()).unwrap_err();
    let text = err.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(err.0.len(), 5, "{text}");
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].starts_with("duplicate task id \"a\""), "{text}");
    assert!(lines[1].contains("unknown task \"ghost\""), "{text}");
    assert!(lines[2].contains("agent \"nobody\""), "{text}");
    assert!(lines[3].contains("depends on itself"), "{text}");
    assert!(
        lines[4].starts_with("dependency cycle: c -> d -> c"),
        "{text}"
    );
}

#[test]
fn errors_from_a_file_name_the_line() {
    let text = "workflow:\n  name: w\n  tasks:\n    - { id: split, agent: text.split }\n    - { id: count, agent: text.count, depends_on: [splt] }\n    - { id: sum, agent: adder, depends_on: [count] }\n";
    let s = parse_workflow(text, "wf.yaml").unwrap();
    let err = plan(s, kinds()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "task \"count\" at line 5, column 7: depends on unknown task \"splt\"\n\
         task \"sum\" at line 6, column 7: agent \"adder\" is neither a pool under `agents` nor a registered agent kind"
    );
}

/// a(3) -> b(2) -> d(4); a -> c(5) -> d; a -> e(1); x(11) alone. Critical: a, c, d = 12 s.
#[test]
fn critical_path_of_a_known_weighted_graph() {
    let p = plan(
        spec(vec![
            task("a", &[]),
            task("b", &["a"]),
            task("c", &["a"]),
            task("d", &["b", "c"]),
            task("e", &["a"]),
            task("x", &[]),
        ]),
        kinds(),
    )
    .unwrap();
    let secs = |s: &[u64]| {
        s.iter()
            .map(|&s| Duration::from_secs(s))
            .collect::<Vec<_>>()
    };
    let cp = critical_path(&p, &secs(&[3, 2, 5, 4, 1, 11]));
    assert_eq!(cp.tasks, vec![TaskId::from("a"), "c".into(), "d".into()]);
    assert_eq!(cp.total, Duration::from_secs(12));

    // x alone now outweighs everything.
    let cp = critical_path(&p, &secs(&[3, 2, 5, 4, 1, 13]));
    assert_eq!(
        (cp.tasks, cp.total),
        (vec![TaskId::from("x")], Duration::from_secs(13))
    );

    // b and c tie: the lower index (b) wins; missing weights count as zero.
    let cp = critical_path(&p, &secs(&[1, 2, 2, 1]));
    assert_eq!(cp.tasks, vec![TaskId::from("a"), "b".into(), "d".into()]);
    assert_eq!(cp.total, Duration::from_secs(4));
}

#[test]
fn critical_path_of_an_empty_plan_is_empty() {
    let mut p = plan(spec(vec![task("a", &[])]), kinds()).unwrap();
    p.spec.tasks.clear();
    p.deps.clear();
    p.dependents.clear();
    p.topo.clear();
    assert_eq!(critical_path(&p, &[]), CriticalPath::default());
}

#[test]
fn a_wide_deep_plan_is_ordered_correctly() {
    let n: usize = 20_000;
    let tasks = (0..n)
        .map(|i| {
            let deps: Vec<String> = [i / 2, i / 3, i.saturating_sub(1)]
                .iter()
                .filter(|&&d| d < i)
                .map(|d| format!("t{d}"))
                .collect();
            TaskSpec::new(format!("t{i}"), "text.count").after(deps)
        })
        .rev()
        .collect();
    let p = plan(spec(tasks), kinds()).unwrap();
    let mut place = vec![0; n];
    for (k, &i) in p.topo.iter().enumerate() {
        place[i] = k;
    }
    assert_eq!(p.topo.len(), n);
    for (i, ds) in p.deps.iter().enumerate() {
        for &d in ds {
            assert!(place[d] < place[i], "{d} must come before {i}");
        }
    }
    let cp = critical_path(&p, &vec![Duration::from_millis(1); n]);
    assert_eq!(cp.tasks.len(), n, "the chain through every t(i-1)");
    assert_eq!(cp.tasks[0].as_str(), "t0");
}

#[test]
fn a_pattern_becomes_an_implicit_pool_with_the_agents_as_members() {
    let spec = WorkflowSpec::builder("p")
        .pool("triage", PoolSpec::new("k", 2).config(json!({"x": 1})))
        .pattern("handoff", json!({"start": "triage"}))
        .task(TaskSpec::new("ask", crate::workflow::spec::PATTERN_POOL).input(json!("hi")))
        .build();
    let planned = plan(spec.clone(), &["k", "pattern.handoff"][..]).unwrap();
    assert_eq!(
        planned.pools.len(),
        1,
        "members are not started as pools: {:?}",
        planned.pools.keys()
    );
    let pool = &planned.pools["pattern"];
    assert_eq!(pool.kind, "pattern.handoff");
    assert_eq!(
        pool.config,
        json!({"start": "triage", "members": {"triage": {"type": "k", "count": 2, "config": {"x": 1}, "capabilities": []}}})
    );
    assert!(
        planned.spec.warnings.is_empty(),
        "{:?}",
        planned.spec.warnings
    );

    let err = plan(spec, &["k"][..]).unwrap_err().to_string();
    assert!(
        err.starts_with("unknown orchestration pattern \"handoff\"; registered patterns: dag"),
        "{err}"
    );
    assert_eq!(
        err.lines().count(),
        1,
        "tasks on the unknown pattern are not reported again: {err}"
    );
}

#[test]
fn unused_pools_are_not_started_and_a_dag_warns_about_them() {
    let spec = WorkflowSpec::builder("d")
        .pool("used", PoolSpec::new("k", 1))
        .pool("idle", PoolSpec::new("k", 1))
        .task(TaskSpec::new("a", "used"))
        .build();
    let planned = plan(spec, &["k"][..]).unwrap();
    assert_eq!(planned.pools.keys().collect::<Vec<_>>(), vec!["used"]);
    assert_eq!(
        planned.spec.warnings,
        vec!["pool \"idle\" is not used by any task: it is not started".to_string()]
    );
}

#[test]
fn pools_named_by_a_used_pools_tools_are_started() {
    let tools = serde_json::json!({"tools": ["search", {"agent": "notes"}, "absent"]});
    let spec = WorkflowSpec::builder("d")
        .pool("model", PoolSpec::new("k", 1).config(tools))
        .pool("search", PoolSpec::new("k", 1))
        .pool(
            "notes",
            PoolSpec::new("k", 1).config(serde_json::json!({"tools": ["deep"]})),
        )
        .pool("deep", PoolSpec::new("k", 1))
        .pool("idle", PoolSpec::new("k", 1))
        .task(TaskSpec::new("a", "model"))
        .build();
    let planned = plan(spec, &["k"][..]).unwrap();
    let started: Vec<_> = planned.pools.keys().map(String::as_str).collect();
    assert_eq!(
        started,
        ["deep", "model", "notes", "search"],
        "tools of tools too"
    );
    assert_eq!(
        planned.spec.warnings.len(),
        1,
        "{:?}",
        planned.spec.warnings
    );
}

/// A registry with `needs.url` (refuses a config without a string `url`) and a pattern
/// `pattern.nodes` whose adapter lists the member pools under `nodes`.
fn registry() -> crate::KindRegistry {
    use crate::config::{decode_config, ConfigError};
    use crate::FnAgent;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct NeedsUrl {
        url: String,
    }
    let echo = FnAgent::new(|v: serde_json::Value| Ok::<_, crate::AgentError>(v));
    let kinds = crate::KindRegistry::new();
    let e = echo.clone();
    kinds.register("needs.url", "wants a url", move |config| {
        decode_config::<NeedsUrl>("needs.url", config).map(|_| e.clone())
    });
    let e = echo.clone();
    let adapter = crate::workflow::PatternAdapter::new(|mut block, pools| {
        let names: Vec<_> = pools.keys().cloned().collect();
        block.entry("nodes").or_insert(json!(names));
        serde_json::Value::Object(block)
    });
    kinds.register_pattern(
        "nodes",
        "lists its nodes",
        move |config| match config.get("nodes") {
            Some(serde_json::Value::Array(_)) => Ok(e.clone()),
            _ => Err(ConfigError::new("", "/nodes", "must be a list")),
        },
        adapter,
    );
    kinds
}

#[test]
fn bad_pool_configs_are_reported_with_the_pool_position_without_starting_agents() {
    let text = "workflow:\n  name: w\n  agents:\n    fetch: { type: needs.url, config: { uri: x } }\n  tasks:\n    - { id: a, agent: fetch }\n    - { id: b, agent: needs.url }\n";
    let spec = parse_workflow(text, "wf.yaml").unwrap();
    let errs = plan(spec, &registry()).unwrap_err().0;
    let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert!(
        shown[0].starts_with(
            "pool \"fetch\" at line 4, column 5: needs.url config at /uri: unknown field `uri`"
        ),
        "{shown:?}"
    );
    // A task naming a kind directly gets a pool with a null config, decoded the same way.
    assert!(
        shown[1].starts_with("pool \"needs.url\": needs.url config: missing field `url`"),
        "{shown:?}"
    );
    let PlanError::BadConfig { pool, error, pos } = &errs[0] else {
        panic!("{errs:?}")
    };
    assert_eq!(
        (pool.as_str(), error.kind.as_str(), pos.line),
        ("fetch", "needs.url", 4)
    );

    let good = text
        .replace("uri: x", "url: x")
        .replace("agent: needs.url", "agent: fetch");
    assert!(plan(parse_workflow(&good, "wf.yaml").unwrap(), &registry()).is_ok());
}

#[test]
fn a_pattern_registers_its_own_pool_adapter_and_validation() {
    let text = "workflow:\n  name: w\n  orchestration_pattern: nodes\n  agents:\n    one: { type: needs.url, config: { url: a } }\n    two: { type: needs.url, config: { url: b } }\n  tasks: [{ id: a }]\n";
    let planned = plan(parse_workflow(text, "wf.yaml").unwrap(), &registry()).unwrap();
    let pool = &planned.pools[PATTERN_POOL];
    assert_eq!(pool.kind, "pattern.nodes");
    assert_eq!(pool.config, json!({"nodes": ["one", "two"]}));

    // The pattern's own decoder sees the adapted config; its error points at the pattern.
    let bad = text.replace(
        "orchestration_pattern: nodes",
        "orchestration_pattern: nodes\n  pattern: { nodes: 3 }",
    );
    let spec = parse_workflow(&bad, "wf.yaml").unwrap();
    let err = plan(spec, &registry()).unwrap_err().to_string();
    assert_eq!(
        err,
        "pool \"pattern\" at line 4, column 12: pattern.nodes config at /nodes: must be a list"
    );
    let unknown = text.replace("nodes\n", "mesh\n");
    let err = plan(parse_workflow(&unknown, "wf.yaml").unwrap(), &registry()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("unknown orchestration pattern \"mesh\" at line 3, column 26; registered patterns: nodes, dag"),
        "{err}"
    );
}

#[test]
fn configs_of_agents_nested_in_a_pattern_block_are_decoded_at_validation() {
    // A pattern whose config lists members `{name: {type, config}}`, registered with the hook
    // that tells the registry which agents a config starts.
    let kinds = registry();
    let echo = crate::FnAgent::new(|v: serde_json::Value| Ok::<_, crate::AgentError>(v));
    kinds.register_pattern(
        "team",
        "a team of members",
        move |_config| Ok(echo.clone()),
        crate::workflow::PatternAdapter::members(),
    );
    let hooked = kinds.nested_agents("pattern.team", |config| {
        let Some(serde_json::Value::Object(members)) = config.get("members") else {
            return Vec::new();
        };
        members
            .iter()
            .map(|(name, m)| crate::NestedAgent {
                path: format!("/members/{name}/config"),
                kind_path: format!("/members/{name}/type"),
                kind: m["type"].as_str().unwrap_or_default().to_string(),
                config: m["config"].clone(),
            })
            .collect()
    });
    assert!(hooked);
    assert!(!kinds.nested_agents("no.such.kind", |_| Vec::new()));
    let text = "workflow:\n  name: w\n  orchestration_pattern: team\n  pattern:\n    members:\n      fetch: { type: needs.url, config: { uri: x } }\n  tasks: [{ id: a }]\n";
    let err = plan(parse_workflow(text, "wf.yaml").unwrap(), &kinds)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "pool \"pattern\" at line 5, column 5: needs.url config at /members/fetch/config/uri: unknown field `uri`"
        ),
        "{err}"
    );
    let unknown = text.replace("type: needs.url", "type: needs.nothing");
    let err = plan(parse_workflow(&unknown, "wf.yaml").unwrap(), &kinds)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "pool \"pattern\" at line 5, column 5: pattern.team config at /members/fetch/type: unknown agent kind \"needs.nothing\""
        ),
        "{err}"
    );
    let good = text.replace("uri: x", "url: x");
    assert!(plan(parse_workflow(&good, "wf.yaml").unwrap(), &kinds).is_ok());
}
