//! Placement by resources, with real processes: three `troupe node --resources ...`
//! processes (two small, one big with a flag), and `troupe run --cluster` as a client process.
//!
//! Shown here: every task of a pool whose `resources` only the big node holds runs there
//! (each shell task logs the node it ran on), while a pool that needs nothing runs anywhere;
//! a run whose pool no node can hold is refused, with the pool named.

#[path = "common/durable.rs"]
mod durable;
#[path = "common/nodes.rs"]
mod nodes;

use std::path::Path;
use std::process::Command;

use durable::{log_lines, scratch, text};
use nodes::{NodeProc, COOKIE};

fn three_nodes(dir: &Path) -> Vec<NodeProc> {
    let store = |n: &str| dir.join(format!("{n}.db")).display().to_string();
    let small = ["--resources", "cpu=1,memory=1GB"];
    let big = ["--resources", "cpu=4,memory=8GB,flags=big"];
    let n1 = NodeProc::start_with_args("pl1", "127.0.0.1", &[], &store("pl1"), &small);
    let n2 = NodeProc::start_with_args("pl2", "127.0.0.2", &[&n1], &store("pl2"), &small);
    let n3 = NodeProc::start_with_args("pl3", "127.0.0.3", &[&n1], &store("pl3"), &big);
    vec![n1, n2, n3]
}

fn client(seed: &NodeProc, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_troupe"));
    c.args(args)
        .args(["--cluster", &seed.gossip.to_string(), "--cookie", COOKIE])
        .args(["--min-nodes", "3"])
        .env_remove("RUST_LOG")
        .env_remove("TROUPE_STORE");
    c
}

/// A pool line: a shell task that appends `TAG:NODE` to `dir/log`, with `resources`.
fn pool(dir: &Path, name: &str, resources: &str) -> String {
    let log = dir.join("log");
    format!(
        "    {name}: {{ type: cmd.run, {resources} config: {{ shell: true, timeout: 60s, program: \"echo {name}:$TROUPE_TEST_NODE >> {}\" }} }}\n",
        log.display()
    )
}

#[test]
fn a_pool_runs_only_on_nodes_that_hold_its_resources_and_an_unplaceable_one_is_refused() {
    let dir = scratch("cluster-placement");
    let nodes = three_nodes(&dir);
    let tasks: String = (0..8)
        .map(|i| {
            format!("    - {{ id: h{i}, agent: heavy }}\n    - {{ id: l{i}, agent: light }}\n")
        })
        .collect();
    let yaml = format!(
        "workflow:\n  name: packed\n  agents:\n{}{}  tasks:\n{tasks}",
        pool(
            &dir,
            "heavy",
            "resources: { cpu: \"2 cores\", memory: 4GB },"
        ),
        pool(&dir, "light", ""),
    );
    let file = dir.join("packed.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = client(&nodes[0], &["run", "--no-progress"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "troupe run: {}", text(&out.stderr));
    let lines = log_lines(&dir);
    let heavy: Vec<&String> = lines.iter().filter(|l| l.starts_with("heavy:")).collect();
    assert_eq!(heavy.len(), 8, "every heavy task ran once: {lines:?}");
    assert!(
        heavy.iter().all(|l| *l == "heavy:pl3"),
        "heavy tasks only on the node that holds 2 cores: {heavy:?}"
    );
    assert_eq!(lines.iter().filter(|l| l.starts_with("light:")).count(), 8);

    let huge = format!(
        "workflow:\n  name: huge\n  agents:\n{}  tasks:\n    - {{ id: t, agent: render }}\n",
        pool(&dir, "render", "resources: { cpu: 16 },"),
    );
    let file = dir.join("huge.yaml");
    std::fs::write(&file, huge).unwrap();
    let out = client(&nodes[1], &["run", "--no-progress"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success(), "an unplaceable run is refused");
    let err = text(&out.stderr);
    assert!(err.contains("\"render\""), "the pool is named: {err}");
    assert!(err.contains("16 cores"), "with what it needs: {err}");
    assert!(
        err.contains("no live node offers"),
        "refused by placement: {err}"
    );
    assert!(
        !log_lines(&dir).iter().any(|l| l.starts_with("render:")),
        "nothing of it ran"
    );
}

#[test]
fn bad_resources_in_flags_or_the_config_file_are_refused_by_name() {
    let dir = scratch("cluster-placement-bad");
    let node = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_troupe"))
            .arg("node")
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let flags = [
        "--name",
        "x",
        "--listen",
        "127.0.0.1:0",
        "--gossip",
        "127.0.0.1:0",
        "--cookie",
        "c",
    ];
    let out = node(&[&flags[..], &["--resources", "disk=1TB"]].concat());
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("--resources") && err.contains("\"disk\""),
        "{err}"
    );

    let file = dir.join("node.yaml");
    std::fs::write(
        &file,
        "name: x\nlisten: 127.0.0.1:0\ngossip: 127.0.0.1:0\ncookie: c\nresources: { cpu: lots }\n",
    )
    .unwrap();
    let out = node(&["--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("line 5") && err.contains("\"lots\""), "{err}");
}
