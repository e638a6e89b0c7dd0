//! The binary's observability over real processes: `troupe node --metrics ADDR` scraped over
//! HTTP (values, `/health`, `/ready`, `promtool check metrics`) and `--log-format json`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};

fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

fn free_addrs() -> (SocketAddr, SocketAddr) {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    (tcp.local_addr().unwrap(), udp.local_addr().unwrap())
}

#[test]
fn a_node_serves_metrics_health_and_ready() {
    let (listen, gossip) = free_addrs();
    let mut child = Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args([
            "node",
            "--exit-with-stdin",
            "--name",
            "metered",
            "--cookie",
            "c",
        ])
        .args([
            "--listen",
            &listen.to_string(),
            "--gossip",
            &gossip.to_string(),
        ])
        .args(["--metrics", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("troupe: metrics at http://")
        .and_then(|l| l.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("the metrics line, got {line:?}"))
        .parse()
        .unwrap();
    let mut up = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut up)
        .unwrap();
    assert!(up.contains(" up: "), "{up}");

    assert_eq!(get(addr, "/health").0, "HTTP/1.1 200 OK");
    assert_eq!(get(addr, "/ready").0, "HTTP/1.1 200 OK");
    let (status, text) = get(addr, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        text.lines()
            .any(|l| l == r#"troupe_cluster_members{node="metered"} 1"#),
        "{text}"
    );
    assert!(text.contains("troupe_cluster_failovers_total{node=\"metered\"} 0"));
    match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(mut p) => {
            p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
            let out = p.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "promtool missing with CI=true"
            );
            eprintln!("SKIPPED: promtool check metrics (install prometheus)");
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn json_logs_carry_the_run_and_task_in_every_line_inside_a_run() {
    let out = common::troupe(&[
        "--log-format",
        "json",
        "--log",
        "troupe=debug",
        "run",
        "--no-progress",
        "examples/text_stats.yaml",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (mut run_lines, mut task_lines) = (0, 0);
    // The log lines (the binary's own status lines, such as `run … (journaled in …)`, are
    // plain text beside them).
    for line in stderr.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: not JSON: {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        let Some(run) = v["fields"]["workflow"].as_str() else {
            continue;
        };
        // An event of a run: inside the run's span, which names the same run.
        run_lines += 1;
        assert_eq!(v["spans"][0]["name"], "workflow", "{line}");
        assert_eq!(v["spans"][0]["run"], run, "{line}");
        if v["fields"]["task"].is_string() {
            task_lines += 1;
        }
    }
    assert!(
        run_lines > 5 && task_lines > 5,
        "events of the run:\n{stderr}"
    );
}
