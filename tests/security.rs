//! The cluster transport's security checks against real `troupe node` processes on
//! loopback: a node with the wrong cookie is refused and the refusal logged; a connection that
//! never authenticates (no cookie) is closed and logged; at most
//! `MAX_HALF_OPEN_PER_ADDR` unauthenticated connections per peer address; a frame length
//! over the limit closes the connection and the node carries on.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use troupe::cluster::node::{ClusterConfig, ClusterNode};
use troupe::cluster::transport::{AUTH_TIMEOUT, MAX_HALF_OPEN_PER_ADDR};
use troupe::cluster::wire::MAX_FRAME_BYTES;
use troupe::{Runtime, RuntimeConfig};

#[path = "common/nodes.rs"]
mod nodes;
use nodes::{NodeProc, COOKIE};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("troupe-security-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn log_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits (polling the log file, 60 s at most) for a line with every one of `parts`.
fn wait_for_line(log: &Path, parts: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(l) = log_lines(log)
            .into_iter()
            .find(|l| parts.iter().all(|p| l.contains(p)))
        {
            return l;
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {parts:?} in {}:\n{}",
            log.display(),
            log_lines(log).join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the node closed `s` (EOF or reset), waiting at most `within`.
fn closed_by_peer(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}

async fn client(seed: &NodeProc, ip: &str) -> ClusterNode {
    let name = format!("security-client-{}-{ip}", std::process::id());
    let rt = Runtime::start(RuntimeConfig::named(name.clone()))
        .await
        .unwrap();
    let any: SocketAddr = format!("{ip}:0").parse().unwrap();
    let mut config = ClusterConfig::new(name, any, any, COOKIE).with_seeds([seed.gossip]);
    config.kinds = Some(Vec::new());
    config.task_slots = 0;
    ClusterNode::start(config, rt).await.unwrap()
}

/// Waits (30 s at most) until `c` has a session with node `name`.
async fn linked(c: &ClusterNode, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !c.linked().iter().any(|n| n.as_str() == name) {
        assert!(
            Instant::now() < deadline,
            "the client never linked to {name}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_the_wrong_cookie_is_refused_and_the_refusal_is_logged() {
    let dir = scratch("cookie");
    let (log_a, log_b) = (dir.join("a.log"), dir.join("b.log"));
    let a = NodeProc::start_logged("sec-a", "127.0.0.1", &[], COOKIE, &log_a);
    let c = client(&a, "127.0.0.1").await;
    let wrong = "not-the-cluster-cookie";
    let _b = NodeProc::start_logged("sec-b", "127.0.0.2", &[&a], wrong, &log_b);
    // sec-a dials sec-b: sec-b refuses it and says so, and so does sec-a.
    let line = wait_for_line(&log_b, &["refused node", "sec-a", "failed the cookie"]);
    assert!(line.contains("127.0.0.1"), "the peer's address: {line}");
    let line = wait_for_line(&log_a, &["cannot link to node", "sec-b", "cookie"]);
    assert!(line.contains("127.0.0.2"), "the peer's address: {line}");
    for (log, secret) in [
        (&log_a, COOKIE),
        (&log_b, wrong),
        (&log_a, wrong),
        (&log_b, COOKIE),
    ] {
        for l in log_lines(log) {
            assert!(!l.contains(secret), "a cookie in {}: {l}", log.display());
        }
    }
    // The node with the right cookie is linked; the refused one is not.
    linked(&c, "sec-a").await;
    assert!(!c.linked().iter().any(|n| n.as_str() == "sec-b"));
}

#[test]
fn a_connection_that_never_authenticates_is_closed_and_logged() {
    let dir = scratch("no-cookie");
    let log = dir.join("a.log");
    let a = NodeProc::start_logged("sec-silent", "127.0.0.1", &[], COOKIE, &log);
    // A client that connects and says nothing: no cookie, no handshake.
    let mut s = TcpStream::connect(a.listen).unwrap();
    assert!(
        closed_by_peer(&mut s, AUTH_TIMEOUT * 6),
        "an unauthenticated connection stayed open"
    );
    wait_for_line(&log, &["refused a connection", "did not authenticate"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_connections_from_one_address_are_capped() {
    let dir = scratch("half-open");
    let log = dir.join("a.log");
    let a = NodeProc::start_logged("sec-cap", "127.0.0.1", &[], COOKIE, &log);
    // The cap's worth of silent connections from 127.0.0.1 are held open (until AUTH_TIMEOUT);
    // the node opens their sessions in order, so the next one is over the cap.
    let held: Vec<TcpStream> = (0..MAX_HALF_OPEN_PER_ADDR)
        .map(|_| TcpStream::connect(a.listen).unwrap())
        .collect();
    let mut extra = TcpStream::connect(a.listen).unwrap();
    assert!(closed_by_peer(&mut extra, AUTH_TIMEOUT * 6));
    let over = ["refused a connection", "not authenticated yet"];
    wait_for_line(&log, &over);
    let refused = log_lines(&log)
        .iter()
        .filter(|l| over.iter().all(|p| l.contains(p)))
        .count();
    assert_eq!(
        refused, 1,
        "only the connection over the cap is refused at once"
    );
    // Another address is not affected: a client on 127.0.0.2 links up meanwhile.
    let c = client(&a, "127.0.0.2").await;
    linked(&c, "sec-cap").await;
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_length_over_the_limit_closes_the_connection_and_the_node_carries_on() {
    let dir = scratch("frame");
    let log = dir.join("a.log");
    let a = NodeProc::start_logged("sec-frame", "127.0.0.1", &[], COOKIE, &log);
    // ractor_cluster's framing: a big-endian u64 length, then the message.
    let mut s = TcpStream::connect(a.listen).unwrap();
    let too_long = (MAX_FRAME_BYTES as u64) * 4;
    s.write_all(&too_long.to_be_bytes()).unwrap();
    assert!(
        closed_by_peer(&mut s, AUTH_TIMEOUT / 2),
        "a {too_long}-byte frame length was not refused (before the authentication deadline)"
    );
    // The node carries on: a client links up to it.
    let c = client(&a, "127.0.0.1").await;
    linked(&c, "sec-frame").await;
}
