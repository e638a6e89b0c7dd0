//! Cross-node calls: ask round trip, one-way throughput, migration of 1 MiB of state.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::rpc::CallResult;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::fleet::Fleet;
use super::{agent_id, fleet_for_calls, Context, BLOB_BYTES, ONE_WAY};
use crate::peer::{ClusterClient, EchoMsg, PeerProcess, ASK_BIT};
use crate::scenario::{reason, time_each, Prepared, Reason, Variant};
use crate::suites::err;
use troupe_cluster::registry::NodeName;

/// How long the peer may take to start and its session to become ready.
const CONNECT: Duration = Duration::from_secs(20);

/// The bench-peer process and a ractor_cluster session to its echo actor.
struct Raw {
    peer: PeerProcess,
    client: ClusterClient,
}

impl Raw {
    async fn start(ctx: &Context) -> Result<Raw, Reason> {
        let peer = PeerProcess::start(&ctx.exe()?, CONNECT).await?;
        let client = ClusterClient::connect(&peer, CONNECT).await?;
        Ok(Raw { peer, client })
    }

    async fn stop(self) {
        self.client.stop().await;
        drop(self.peer);
    }
}

async fn raw_call(echo: &ractor::ActorRef<EchoMsg>, n: u64) -> Result<u64, Reason> {
    match echo.call(|r| EchoMsg::Ping(n, r), None).await {
        Ok(CallResult::Success(v)) => Ok(v),
        Ok(_) => Err("ractor_cluster call: no reply".into()),
        Err(e) => Err(err("ractor_cluster call", e)),
    }
}

/// A TCP connection to the bench-peer's echo server: 8-byte frames, echoed when the top bit
/// is set, swallowed otherwise.
struct Tcp(TcpStream);

impl Tcp {
    async fn connect(peer: &PeerProcess) -> Result<Tcp, Reason> {
        let stream = TcpStream::connect(peer.tcp).await.map_err(reason)?;
        stream.set_nodelay(true).map_err(reason)?;
        Ok(Tcp(stream))
    }

    async fn ask(&mut self, n: u64) -> Result<u64, Reason> {
        self.0
            .write_all(&(n | ASK_BIT).to_be_bytes())
            .await
            .map_err(reason)?;
        let mut frame = [0u8; 8];
        self.0.read_exact(&mut frame).await.map_err(reason)?;
        Ok(u64::from_be_bytes(frame) & !ASK_BIT)
    }
}

/// A member other than the client that hosts `kind`.
fn host(hosts: &[NodeName], kind: &str, nth: usize) -> Result<NodeName, Reason> {
    hosts.get(nth).cloned().ok_or_else(|| {
        format!(
            "needs {} member(s) other than this client hosting {kind}; the cluster has {}",
            nth + 1,
            hosts.len()
        )
    })
}

/// Cross-node ask: Troupe `call` vs ractor_cluster `call` vs TCP ping-pong.
pub(super) async fn ask(ctx: Context) -> Result<Prepared, Reason> {
    let fleet = fleet_for_calls(&ctx, "ask").await?;
    let node = host(&fleet.hosts("util.echo"), "util.echo", 0)?;
    let id = agent_id("echo");
    fleet.spawn_on(&node, "util.echo", &id, Value::Null).await?;
    let raw = Raw::start(&ctx).await?;
    let tcp = Arc::new(Mutex::new(Tcp::connect(&raw.peer).await?));
    let echo = raw.client.echo.clone();
    let client = fleet.client().clone();
    let pid = raw.peer.pid();
    let subject = Variant::subject("troupe call", move |ops| {
        let client = client.clone();
        let id = id.clone();
        async move {
            Ok(time_each!(ops, |i| {
                let back = client
                    .call(&id, json!(i))
                    .await
                    .map_err(|e| err("troupe call", e))?;
                if back != json!(i) {
                    return Err(format!("the echo agent answered {back}, not {i}"));
                }
            }))
        }
    });
    let baseline = Variant::baseline("ractor_cluster call", move |ops| {
        let echo = echo.clone();
        async move { Ok(time_each!(ops, |i| black_box(raw_call(&echo, i).await?))) }
    });
    let tcp = Variant::baseline("tcp ping-pong", move |ops| {
        let tcp = tcp.clone();
        async move {
            let mut tcp = tcp.lock().await;
            Ok(time_each!(ops, |i| {
                let back = tcp.ask(i).await?;
                if back != i {
                    return Err(format!("the peer echoed {back}, not {i}"));
                }
            }))
        }
    });
    Ok(Prepared::new(vec![subject, baseline, tcp])
        .note(fleet.note())
        .note(format!("troupe: client node → util.echo on node {node}"))
        .note(format!("raw: peer process pid {pid}"))
        .teardown(async move {
            raw.stop().await;
            fleet.shutdown().await;
        }))
}

/// Cross-node one-way: Troupe `tell`s + one `call` vs ractor_cluster `cast`s + one `call`.
///
/// Both sides send numbers to an echo (Troupe: `util.echo`, which drops one-way messages; raw:
/// the bench-peer actor, which counts them). Messages from one node to one agent arrive in
/// order, so the call's answer comes after every tell before it was handled. That no tell is
/// lost on the way is checked once, untimed, in the setup: a `util.counter` on the same node
/// must count every one of a burst of tells.
pub(super) async fn one_way(ctx: Context) -> Result<Prepared, Reason> {
    let fleet = fleet_for_calls(&ctx, "oneway").await?;
    let node = host(&fleet.hosts("util.echo"), "util.echo", 0)?;
    let client = fleet.client().clone();
    let id = agent_id("echo");
    fleet.spawn_on(&node, "util.echo", &id, Value::Null).await?;
    count_check(&fleet, &node).await?;
    let raw = Raw::start(&ctx).await?;
    let echo = raw.client.echo.clone();
    let pid = raw.peer.pid();
    let subject = Variant::subject("troupe tell", move |ops| {
        let client = client.clone();
        let id = id.clone();
        async move {
            Ok(time_each!(ops, |_i| {
                for n in 0..ONE_WAY {
                    client
                        .tell(&id, json!(n))
                        .map_err(|e| err("troupe tell", e))?;
                }
                let back = client
                    .call(&id, json!(ONE_WAY))
                    .await
                    .map_err(|e| err("troupe call", e))?;
                if back != json!(ONE_WAY) {
                    return Err(format!("the echo agent answered {back}, not {ONE_WAY}"));
                }
            }))
        }
    });
    let baseline = Variant::baseline("ractor_cluster cast", move |ops| {
        let echo = echo.clone();
        async move {
            Ok(time_each!(ops, |_i| {
                for n in 0..ONE_WAY {
                    echo.cast(EchoMsg::Tell(n))
                        .map_err(|e| err("ractor_cluster cast", e))?;
                }
                black_box(raw_call(&echo, 0).await?)
            }))
        }
    });
    Ok(Prepared::new(vec![subject, baseline])
        .note(fleet.note())
        .note(format!(
            "troupe: client node → util.echo on node {node}; the same payload as the raw side (a number)"
        ))
        .note(format!(
            "checked in the setup: {ONE_WAY} tells to a util.counter on {node} were all counted"
        ))
        .note(format!("raw: peer process pid {pid}"))
        .teardown(async move {
            raw.stop().await;
            fleet.shutdown().await;
        }))
}

/// Sends [`ONE_WAY`] tells to a new `util.counter` on `node` and checks it counted them all.
async fn count_check(fleet: &Fleet, node: &NodeName) -> Result<(), Reason> {
    let client = fleet.client();
    let id = agent_id("counter");
    fleet
        .spawn_on(node, "util.counter", &id, Value::Null)
        .await?;
    for _ in 0..ONE_WAY {
        client
            .tell(&id, json!({ "add": 1 }))
            .map_err(|e| err("troupe tell", e))?;
    }
    let reply = client
        .call(&id, json!({ "get": true }))
        .await
        .map_err(|e| err("troupe call", e))?;
    if reply["total"].as_u64() != Some(ONE_WAY) {
        return Err(format!(
            "after {ONE_WAY} tells the counter says {reply}: one-way messages were lost"
        ));
    }
    Ok(())
}

/// Migration of a `util.blob` with 1 MiB of state between two nodes vs 1 MiB over TCP.
pub(super) async fn migration(ctx: Context) -> Result<Prepared, Reason> {
    let fleet = fleet_for_calls(&ctx, "move").await?;
    let hosts = fleet.hosts("util.blob");
    let homes = [host(&hosts, "util.blob", 0)?, host(&hosts, "util.blob", 1)?];
    let id = agent_id("blob");
    let client = fleet.client().clone();
    client
        .spawn_on(
            &homes[0],
            "util.blob",
            &id,
            json!({ "size": BLOB_BYTES }),
            false,
        )
        .await
        .map_err(|e| err("spawning the blob", e))?;
    // Two bytes set: each check after a move sets the second again, and the checksum then
    // matches only if the first survived the move.
    client
        .call(&id, json!(7))
        .await
        .map_err(|e| err("blob call", e))?;
    let checksum = client
        .call(&id, json!(12_345))
        .await
        .map_err(|e| err("blob call", e))?;
    let (mut sink, sink_task) = tcp_sink().await?;
    let at = Arc::new(AtomicUsize::new(0));
    let names = format!("{} and {}", homes[0], homes[1]);
    let subject = Variant::subject("troupe migrate", move |ops| {
        let client = client.clone();
        let id = id.clone();
        let homes = homes.clone();
        let at = at.clone();
        let checksum = checksum.clone();
        async move {
            let mut samples = Vec::with_capacity(ops as usize);
            for _ in 0..ops {
                let to = &homes[(at.load(Ordering::Relaxed) + 1) % 2];
                let start = Instant::now();
                client
                    .migrate(&id, to)
                    .await
                    .map_err(|e| err(&format!("migrating to {to}"), e))?;
                samples.push(start.elapsed().as_nanos() as u64);
                at.fetch_add(1, Ordering::Relaxed);
                // Untimed: the client's registry catches up, and the state came along.
                wait_located(&client, &id, to).await?;
                let now = client
                    .call(&id, json!(12_345))
                    .await
                    .map_err(|e| err("blob call after the move", e))?;
                if now != checksum {
                    return Err(format!(
                        "the blob's checksum changed across the move ({checksum} → {now})"
                    ));
                }
            }
            Ok(samples)
        }
    });
    let payload = vec![0u8; BLOB_BYTES as usize];
    sink.write_all(&payload).await.map_err(reason)?;
    sink.read_u8().await.map_err(reason)?;
    let sink = Arc::new(Mutex::new((sink, payload)));
    let baseline = Variant::baseline("tcp 1 MiB + ack", move |ops| {
        let sink = sink.clone();
        async move {
            let mut guard = sink.lock().await;
            let (sink, payload) = &mut *guard;
            Ok(time_each!(ops, |_i| {
                sink.write_all(payload).await.map_err(reason)?;
                black_box(sink.read_u8().await.map_err(reason)?)
            }))
        }
    });
    Ok(Prepared::new(vec![subject, baseline])
        .note(fleet.note())
        .note(format!(
            "troupe: util.blob of {BLOB_BYTES} bytes moved back and forth between {names}"
        ))
        .note(
            "floor: 1 MiB written to a loopback TCP socket and a 1-byte ack once the reader has \
             it all (the bench-peer echo actor takes numbers only, so not through ractor_cluster)",
        )
        .teardown(async move {
            sink_task.abort();
            fleet.shutdown().await;
        }))
}

/// A loopback TCP reader that acknowledges every [`BLOB_BYTES`] it receives with one byte;
/// the connected writer, and the reader's task.
async fn tcp_sink() -> Result<(TcpStream, tokio::task::JoinHandle<()>), Reason> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(reason)?;
    let addr = listener.local_addr().map_err(reason)?;
    let task = tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0u64;
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                return;
            }
            got += n as u64;
            while got >= BLOB_BYTES {
                got -= BLOB_BYTES;
                if stream.write_all(&[1]).await.is_err() {
                    return;
                }
            }
        }
    });
    let stream = TcpStream::connect(addr).await.map_err(reason)?;
    stream.set_nodelay(true).map_err(reason)?;
    Ok((stream, task))
}

/// Waits until the client's registry shows `id` active on `node`.
async fn wait_located(
    client: &troupe_cluster::node::ClusterNode,
    id: &str,
    node: &NodeName,
) -> Result<(), Reason> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !client.locate(id).is_some_and(|l| l.slot.is_active_on(node)) {
        if Instant::now() > deadline {
            return Err(format!(
                "the client's registry did not show {id} on {node} within 10 s"
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}
