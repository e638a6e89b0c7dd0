//! Quick probe: cross-node ask latency and tell throughput between two in-process nodes.
use std::time::{Duration, Instant};
use serde_json::json;
use troupe::cluster::node::{ClusterConfig, ClusterNode};
use troupe::{Runtime, RuntimeConfig};

async fn node(name: &str, seed: Option<&ClusterNode>) -> ClusterNode {
    let rt = Runtime::start(RuntimeConfig::named(name)).await.unwrap();
    troupe::agents::register_all(rt.kinds());
    let any = "127.0.0.1:0".parse().unwrap();
    let c = ClusterConfig::new(name, any, any, "c").with_seeds(seed.map(|s| s.gossip_addr()));
    ClusterNode::start(c, rt).await.unwrap()
}

#[tokio::main]
async fn main() {
    let a = node("a", None).await;
    let b = node("b", Some(&a)).await;
    while a.linked().len() < 1 || b.linked().len() < 1 { tokio::time::sleep(Duration::from_millis(10)).await; }
    b.spawn_on(b.name(), "util.echo", "e", json!(null), false).await.unwrap();
    a.call("e", json!(1)).await.unwrap();
    let mut lat = Vec::new();
    for i in 0..1000 {
        let t = Instant::now();
        a.call("e", json!(i)).await.unwrap();
        lat.push(t.elapsed());
    }
    lat.sort();
    println!("ask p50 {:?} p99 {:?}", lat[500], lat[990]);
    b.spawn_on(b.name(), "util.counter", "cnt", json!(null), false).await.unwrap();
    let n = 200_000;
    let t = Instant::now();
    for _ in 0..n { a.tell("cnt", json!(1)).unwrap(); }
    loop {
        let r = a.call("cnt", json!(null)).await.unwrap();
        if r["total"].as_i64().unwrap() >= n { break; }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let el = t.elapsed();
    println!("tell {} msgs in {:?}: {:.0} msg/s", n, el, n as f64 / el.as_secs_f64());
}
