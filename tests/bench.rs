//! `troupe bench` end to end, on the real binary: the reports it writes, the failures it
//! reports instead of skipping, the peer process it starts and reaps, and bad arguments.
//! (No figure is asserted: speed belongs to the harness's output, not to tests.)

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn troupe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .output()
        .expect("troupe runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("troupe-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn json(path: &PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("valid JSON")
}

fn scenarios(report: &Value) -> &Vec<Value> {
    report["scenarios"].as_array().expect("scenarios")
}

#[test]
fn a_small_run_reports_every_scenario_with_its_baselines_and_ratios() {
    let dir = scratch("ask");
    let (json_path, md_path, svg_dir) = (dir.join("r.json"), dir.join("r.md"), dir.join("svg"));
    let out = troupe(&[
        "bench",
        "--suite",
        "ask",
        "--iterations",
        "30",
        "--json",
        json_path.to_str().unwrap(),
        "--markdown",
        md_path.to_str().unwrap(),
        "--svg",
        svg_dir.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for name in [
        "ask/ask round trip",
        "ask/one-way tell",
        "ask/spawn",
        "ractor call",
        "tokio mpsc",
    ] {
        assert!(stdout.contains(name), "the table shows {name}:\n{stdout}");
    }

    let report = json(&json_path);
    assert_eq!(report["settings"]["suites"], serde_json::json!(["ask"]));
    assert_eq!(report["settings"]["iterations"], 30);
    assert!(report["environment"]["cores"].as_u64().unwrap() >= 1);
    assert!(report["environment"]["timestamp"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    let all = scenarios(&report);
    assert_eq!(all.len(), 4);
    for s in all {
        assert_eq!(s["status"], "ok", "{s}");
        assert_eq!(
            s["subject"]["summary"]["n"], 30,
            "every variant measured 30 operations"
        );
        let baselines = s["baselines"].as_array().unwrap();
        assert!(!baselines.is_empty(), "{s}");
        for b in baselines {
            assert_eq!(b["summary"]["n"], 30);
            assert!(b["ratio"].as_f64().unwrap() > 0.0, "{b}");
            let summary = &b["summary"];
            let p = |k: &str| summary[k].as_u64().unwrap();
            assert!(p("min") <= p("p50") && p("p50") <= p("p90") && p("p90") <= p("p99"));
            assert!(p("p99") <= p("max"));
        }
        assert_eq!(s["baseline"], baselines[0]["name"]);
        assert_eq!(s["ratio"], baselines[0]["ratio"]);
    }

    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(md.contains("| scenario | variant | p50 | p90 | p99 | max | throughput | ratio |"));
    assert!(
        md.contains("ask/ask round trip") && md.contains("**troupe ask**"),
        "{md}"
    );
    let svg = std::fs::read_to_string(svg_dir.join("distribution-ask.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("troupe ask") && svg.contains("ractor call"));
}

#[test]
fn a_failing_scenario_is_reported_the_others_still_run_and_the_exit_code_says_so() {
    // The net suite's peer process cannot start from an executable that does not exist: both
    // its scenarios fail, in the middle of a run whose other suite still runs.
    let dir = scratch("failing");
    let json_path = dir.join("r.json");
    let md_path = dir.join("r.md");
    let missing = dir.join("no-such-troupe");
    let out = troupe(&[
        "bench",
        "--suite",
        "net",
        "--suite",
        "ask",
        "--iterations",
        "5",
        "--peer-exe",
        missing.to_str().unwrap(),
        "--json",
        json_path.to_str().unwrap(),
        "--markdown",
        md_path.to_str().unwrap(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("net/remote call round trip"), "{stdout}");
    assert!(
        stdout.contains("FAILED  setup: cannot start the peer process"),
        "{stdout}"
    );
    assert!(stderr.contains("2 scenario(s) failed"), "{stderr}");
    let report = json(&json_path);
    let (failed, ok): (Vec<&Value>, Vec<&Value>) = scenarios(&report)
        .iter()
        .partition(|s| s["status"] == "failed");
    assert_eq!(failed.len(), 2, "both net scenarios");
    for s in &failed {
        assert_eq!(s["suite"], "net");
        let reason = s["reason"].as_str().unwrap();
        assert!(reason.contains("no-such-troupe"), "{reason}");
        assert!(
            s.get("subject").is_none(),
            "a failed scenario has no figures"
        );
    }
    assert_eq!(ok.len(), 4, "the ask suite (4 scenarios) still ran");
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(
        md.contains("| net/remote one-way | **FAILED** | setup: cannot start the peer process"),
        "{md}"
    );
}

#[test]
fn the_net_suite_talks_to_a_peer_process_and_reaps_it() {
    let dir = scratch("net");
    let json_path = dir.join("r.json");
    let out = troupe(&[
        "bench",
        "--suite",
        "net",
        "--iterations",
        "20",
        "--json",
        json_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report = json(&json_path);
    let all = scenarios(&report);
    let names: Vec<&str> = all
        .iter()
        .map(|s| s["subject"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ractor_cluster call", "ractor_cluster cast"]);
    assert_eq!(all[0]["baselines"][0]["name"], "tcp ping-pong");
    for s in all {
        let note = s["notes"][0].as_str().expect("the peer's pid is noted");
        let pid = note.strip_prefix("peer process pid ").expect(note);
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "peer {pid} is gone after the run"
        );
    }
}

#[test]
fn a_memory_probe_reports_bytes_per_agent() {
    for variant in ["troupe", "ractor", "tokio", "passivated"] {
        let out = troupe(&["bench-peer", "--memory", variant, "--agents", "200"]);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
        let line = stdout
            .lines()
            .find(|l| l.starts_with("troupe-bench-probe "))
            .expect(&stdout);
        assert!(
            line.contains(&format!("variant={variant} agents=200 ")),
            "{line}"
        );
        let bytes = line
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("bytes_per_agent="));
        bytes.expect(line).parse::<u64>().expect(line);
    }
    let out = troupe(&["bench-peer", "--memory", "goats", "--agents", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown memory variant \"goats\""));
}

#[test]
fn bad_arguments_are_refused_with_a_clear_message() {
    let out = troupe(&["bench", "--suite", "warp-speed"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("unknown suite \"warp-speed\""), "{stderr}");
    assert!(
        stderr.contains(
            "valid suites: quick, full, ask, patterns, savina, tree, memory, net, cluster, durable"
        ),
        "{stderr}"
    );

    let out = troupe(&["bench", "--duration", "1", "--iterations", "5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot be used with"),
        "{}",
        text(&out.stderr)
    );

    let out = troupe(&["bench", "--duration", "-3"]);
    assert_eq!(out.status.code(), Some(2));
    let out = troupe(&["bench", "--iterations", "0"]);
    assert_eq!(out.status.code(), Some(2));

    let help = text(&troupe(&["--help"]).stdout);
    assert!(
        help.contains("bench") && !help.contains("bench-peer"),
        "{help}"
    );
}

/// The process ids a scenario's notes name (`... (pid 123) ...`, `peer process pid 456`).
fn noted_pids(scenario: &Value) -> Vec<u32> {
    let mut pids = Vec::new();
    for note in scenario["notes"].as_array().into_iter().flatten() {
        let note = note.as_str().unwrap_or_default();
        for part in note.split("pid ").skip(1) {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(pid) = digits.parse() {
                pids.push(pid);
            }
        }
    }
    pids
}

#[test]
fn the_cluster_suite_runs_on_node_processes_of_its_own_and_measures_every_scenario() {
    let dir = scratch("cluster");
    let json_path = dir.join("r.json");
    let out = troupe(&[
        "bench",
        "--suite",
        "cluster",
        "--iterations",
        "2",
        "--json",
        json_path.to_str().unwrap(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let report = json(&json_path);
    let all = scenarios(&report);
    let names: Vec<&str> = all.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "cross-node ask round trip",
            "cross-node one-way",
            "migration, 1 MiB state",
            "kill -9 → agents active elsewhere",
            "run failover: kill -9 of the owner → next task started",
            "2,000-task workflow on a 1-node cluster",
            "run state replication",
            "workflow on 1 node",
            "workflow on 2 nodes",
            "workflow on 3 nodes",
            "IO-bound workflow on 1 node",
            "IO-bound workflow on 2 nodes",
            "IO-bound workflow on 3 nodes",
        ]
    );
    let by = |name: &str| -> &Value { &all[names.iter().position(|n| *n == name).unwrap()] };
    let baselines = |s: &Value| -> Vec<String> {
        s["baselines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap().to_string())
            .collect()
    };
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    for s in all {
        // Run failover needs a PostgreSQL server: outside CI a missing one is a SKIPPED reason.
        let reason = s["reason"].as_str().unwrap_or_default();
        if !ci && s["status"] == "failed" && reason.contains("SKIPPED") {
            println!("{}: {reason}", s["name"]);
            continue;
        }
        assert_eq!(s["status"], "ok", "{s}");
        assert_eq!(s["subject"]["summary"]["n"], 2, "{s}");
        for b in s["baselines"].as_array().unwrap() {
            assert_eq!(b["summary"]["n"], 2, "{s}");
            assert!(b["ratio"].as_f64().is_some_and(|r| r > 0.0), "{s}");
        }
        // Every node and peer process the scenario started is gone.
        for pid in noted_pids(s) {
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "process {pid} of {} outlived the run",
                s["name"]
            );
        }
    }
    assert_eq!(
        baselines(by("cross-node ask round trip")),
        ["ractor_cluster call", "tcp ping-pong"],
        "ask beside the raw layers"
    );
    assert_eq!(baselines(by("cross-node one-way")), ["ractor_cluster cast"]);
    assert_eq!(baselines(by("migration, 1 MiB state")), ["tcp 1 MiB + ack"]);
    let failover = by("kill -9 → agents active elsewhere");
    assert_eq!(baselines(failover), ["membership: node declared down"]);
    let failover_notes = failover["notes"].to_string();
    assert!(
        failover_notes.contains("no raw baseline exists"),
        "{failover_notes}"
    );
    assert_eq!(
        baselines(by("workflow on 1 node")),
        ["local runtime, no cluster"],
        "1 node: beside a local runtime"
    );
    for (name, nodes) in [
        "workflow on 1 node",
        "workflow on 2 nodes",
        "workflow on 3 nodes",
    ]
    .into_iter()
    .zip(1..)
    {
        let s = by(name);
        assert_eq!(
            s["subject"]["name"], "troupe cluster",
            "one curve on the plot"
        );
        assert_eq!(s["scale"]["x"], nodes);
        assert_eq!(s["scale"]["series"], "workflow on N nodes");
        if nodes > 1 {
            assert_eq!(
                baselines(s),
                ["local runtime, no cluster", "troupe cluster, 1 node"]
            );
        }
    }
    assert!(
        noted_pids(&all[0]).len() >= 3,
        "two nodes and the peer are noted"
    );
}

/// A `troupe node` process for the `--cluster` test, killed when dropped.
struct Node(std::process::Child, String);

impl Node {
    fn start(name: &str, ip: &str, cookie: &str, seed: Option<&str>) -> Node {
        use std::io::BufRead as _;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_troupe"));
        cmd.args([
            "node", "--name", name, "--cookie", cookie, "--store", "memory",
        ])
        .args([
            "--listen",
            &format!("{ip}:0"),
            "--gossip",
            &format!("{ip}:0"),
        ])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
        if let Some(seed) = seed {
            cmd.args(["--seed", seed]);
        }
        let mut child = cmd.spawn().expect("troupe node starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let gossip = line
            .trim()
            .rsplit_once("gossip ")
            .map(|(_, a)| a.to_string())
            .unwrap_or_else(|| panic!("node {name} said {line:?}"));
        Node(child, gossip)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_cluster_suite_joins_a_running_cluster_given_its_seed_and_cookie() {
    let cookie = "bench-test-cookie";
    let first = Node::start("given-1", "127.0.0.1", cookie, None);
    let _second = Node::start("given-2", "127.0.0.2", cookie, Some(&first.1));
    let dir = scratch("cluster-seed");
    let json_path = dir.join("r.json");
    let out = Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args(["bench", "--suite", "cluster", "--iterations", "1"])
        .args(["--cluster", &first.1, "--json", json_path.to_str().unwrap()])
        .env("TROUPE_COOKIE", cookie)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let report = json(&json_path);
    assert_eq!(report["settings"]["cluster"], first.1.as_str());
    for s in &scenarios(&report)[..3] {
        assert_eq!(s["status"], "ok", "{s}");
        let notes = s["notes"].to_string();
        assert!(notes.contains("joined the cluster at"), "{notes}");
        assert!(
            notes.contains("given-"),
            "it used the given members: {notes}"
        );
    }
    // Without a cookie the seed cannot be joined: the scenarios say so.
    let out = Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args(["bench", "--suite", "cluster", "--iterations", "1"])
        .args(["--cluster", &first.1])
        .env_remove("TROUPE_COOKIE")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("FAILED  setup: --cookie is required with --cluster"),
        "{stdout}"
    );
}

#[test]
fn full_includes_the_cluster_suite_and_quick_only_with_a_seed() {
    use troupe_bench::{BenchConfig, Suite, SuiteName};
    let config = |suites: Vec<SuiteName>, cluster: Option<&str>| BenchConfig {
        suites,
        cluster: cluster.map(String::from),
        ..BenchConfig::default()
    };
    let full = config(vec![SuiteName::Full], None).resolved_suites();
    assert_eq!(full, Suite::ALL.to_vec());
    let quick = config(vec![], None).resolved_suites();
    assert!(!quick.contains(&Suite::Cluster), "{quick:?}");
    let quick = config(vec![SuiteName::Quick], Some("127.0.0.1:7001")).resolved_suites();
    assert!(quick.contains(&Suite::Cluster), "{quick:?}");
}

#[test]
fn the_durable_suite_reports_journal_costs_beside_their_baselines_with_budgets() {
    let dir = scratch("durable");
    let json_path = dir.join("durable.json");
    let out = troupe(&[
        "bench",
        "--suite",
        "durable",
        "--size",
        "quick",
        "--iterations",
        "2",
        "--json",
        json_path.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for name in [
        "durable/fan-out 500",
        "durable/chain step",
        "durable/resume 1k events",
        "in memory (no store)",
        "raw fsync (64 B write)",
        "raw journal read",
        "BUDGETS",
    ] {
        assert!(stdout.contains(name), "the table shows {name}:\n{stdout}");
    }
    let report = json(&json_path);
    let all = scenarios(&report);
    assert_eq!(all.len(), 3, "SQLite only at quick sizes: {all:?}");
    for s in all {
        assert_eq!(s["status"], "ok", "{s}");
        // Pass or fail is the machine's business; that it is checked and said is the test's.
        assert!(s["budget"]["pass"].is_boolean(), "{s}");
        assert!(s["budget"]["rule"].is_string(), "{s}");
    }
    for s in &all[..2] {
        let notes = s["notes"].to_string();
        assert!(notes.contains("fsyncs per task"), "{notes}");
    }
    let out = troupe(&["bench", "--size", "huge"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("quick or full"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_api_suite_measures_the_http_api_beside_the_sdk_and_the_bus_with_budgets() {
    let dir = scratch("api");
    let json_path = dir.join("api.json");
    let out = troupe(&[
        "bench",
        "--suite",
        "api",
        "--size",
        "quick",
        "--iterations",
        "16",
        "--json",
        json_path.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for name in [
        "api/3-task workflow submit → complete",
        "api/GET execution, 16 clients",
        "api/events to one SSE client",
        "Rust SDK",
        "GET /health",
        "in-process event bus",
        "BUDGETS",
    ] {
        assert!(stdout.contains(name), "the table shows {name}:\n{stdout}");
    }
    let report = json(&json_path);
    let all = scenarios(&report);
    assert_eq!(all.len(), 3, "{all:?}");
    for s in all {
        assert_eq!(s["status"], "ok", "{s}");
        assert!(s["ratio"].as_f64().is_some_and(|r| r > 0.0), "{s}");
    }
    // Pass or fail is the machine's business; that each budget is checked and said is the test's.
    for s in &all[1..] {
        assert!(s["budget"]["pass"].is_boolean(), "{s}");
        assert!(s["budget"]["rule"].is_string(), "{s}");
    }
    assert!(
        all[1]["budget"]["rule"].as_str().unwrap().contains("p95"),
        "{}",
        all[1]["budget"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
