//! Throwaway perf driver (deleted after use): a `troupe node` process and this process as a
//! client; loops N tells + 1 call to a counter on the node, printing msg/s.
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use serde_json::json;
use troupe::cluster::node::{ClusterConfig, ClusterNode};
use troupe::{Runtime, RuntimeConfig};

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let mode = std::env::args().nth(2).unwrap_or_else(|| "tell".into());
    let mut child = Command::new("target/release/troupe")
        .args(["node", "--name", "probe-node", "--listen", "127.0.0.2:0", "--gossip", "127.0.0.2:0", "--cookie", "probe"])
        .stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    eprintln!("{line} pid {}", child.id());
    let gossip: std::net::SocketAddr = line.trim().rsplit_once("gossip ").unwrap().1.parse().unwrap();
    let rt = Runtime::start(RuntimeConfig::named("probe-client")).await.unwrap();
    troupe::agents::register_all(rt.kinds());
    let any = "127.0.0.1:0".parse().unwrap();
    let mut c = ClusterConfig::new("probe-client", any, any, "probe").with_seeds([gossip]);
    c.kinds = Some(vec![]);
    c.task_slots = 0;
    let a = ClusterNode::start(c, rt).await.unwrap();
    while a.linked().is_empty() { tokio::time::sleep(Duration::from_millis(10)).await; }
    let node = a.linked()[0].clone();
    a.spawn_on(&node, "util.counter", "cnt", json!(null), false).await.unwrap();
    a.spawn_on(&node, "util.echo", "e", json!(null), false).await.unwrap();
    let node_pid = child.id();
    tokio::spawn(async move {
    let cpu = |pid: u32| -> f64 {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let f: Vec<&str> = s.rsplit_once(')').unwrap().1.split_whitespace().collect();
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
    };
    let me = std::process::id();
    let (c0, n0, t0) = (cpu(me), cpu(node_pid), Instant::now());
    let mut msgs = 0u64;
    let end = Instant::now() + Duration::from_secs(secs);
    let n = 10_000u64;
    while Instant::now() < end {
        let t = Instant::now();
        if mode == "tell" {
            for _ in 0..n { a.tell("cnt", json!({"add": 1})).unwrap(); }
            a.call("cnt", json!({"get": true})).await.unwrap();
            let el = t.elapsed();
            msgs += n;
            println!("tell {:.0} msg/s", n as f64 / el.as_secs_f64());
        } else {
            for i in 0..1000 { a.call("e", json!(i)).await.unwrap(); }
            msgs += 1000;
            println!("ask {:?} per call", t.elapsed() / 1000);
        }
    }
    let (c1, n1) = (cpu(me), cpu(node_pid));
    println!("TOTAL {:.0} msg/s wall; CPU per msg: client {:.2} us, node {:.2} us", msgs as f64 / t0.elapsed().as_secs_f64(), (c1 - c0) * 1e6 / msgs as f64, (n1 - n0) * 1e6 / msgs as f64);
    }).await.unwrap();
    let _ = child.kill();
}
