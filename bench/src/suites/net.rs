//! `net`: two processes on loopback (127.0.0.1) — this one and a `troupe bench-peer` child —
//! and the transport Troupe's cluster builds on (ractor_cluster) beside plain TCP.
//!
//! | scenario | subject | baseline |
//! |---|---|---|
//! | remote call round trip | ractor_cluster `call` to a remote echo actor | TCP ping-pong of an 8-byte frame |
//! | remote one-way | 1000 ractor_cluster `cast`s + one `call` | 1000 8-byte frames through a buffered writer + one ping-pong |
//!
//! Here the subject is ractor_cluster itself: the `cluster` suite puts Troupe's cross-node
//! calls beside it.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use ractor::rpc::CallResult;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::{err, Context};
use crate::peer::{ClusterClient, EchoMsg, PeerProcess, ASK_BIT};
use crate::scenario::{reason, time_each, Plan, Prepared, Reason, Scenario, Unit, Variant};

/// Messages per one-way operation.
const ONE_WAY: u64 = 1_000;
/// How long the peer may take to start and the session to become ready.
const CONNECT: Duration = Duration::from_secs(20);

/// The scenarios of the suite.
pub fn scenarios(ctx: &Context) -> Vec<Scenario> {
    let (a, b) = (ctx.clone(), ctx.clone());
    vec![
        Scenario::new(
            "net",
            "remote call round trip",
            Unit::per_op("call"),
            Plan::batch(ctx.size.pick(500, 2_000)),
            move || setup(a, false),
        )
        .describe("a call to an echo actor in another process, and its reply"),
        Scenario::new(
            "net",
            "remote one-way",
            Unit::batch(ONE_WAY, "msg"),
            Plan::batch(20).warmup(3),
            move || setup(b, true),
        )
        .describe("1000 one-way messages to another process, then one round trip"),
    ]
}

struct Tcp(BufWriter<TcpStream>);

impl Tcp {
    async fn ask(&mut self, n: u64) -> Result<u64, Reason> {
        self.0
            .write_all(&(n | ASK_BIT).to_be_bytes())
            .await
            .map_err(reason)?;
        self.0.flush().await.map_err(reason)?;
        let mut frame = [0u8; 8];
        self.0
            .get_mut()
            .read_exact(&mut frame)
            .await
            .map_err(reason)?;
        Ok(u64::from_be_bytes(frame) & !ASK_BIT)
    }

    async fn tell(&mut self, n: u64) -> Result<(), Reason> {
        self.0
            .write_all(&(n & !ASK_BIT).to_be_bytes())
            .await
            .map_err(reason)
    }
}

async fn remote_call(echo: &ractor::ActorRef<EchoMsg>, n: u64) -> Result<u64, Reason> {
    match echo.call(|r| EchoMsg::Ping(n, r), None).await {
        Ok(CallResult::Success(v)) => Ok(v),
        Ok(_) => Err("remote call: no reply".into()),
        Err(e) => Err(err("remote call", e)),
    }
}

async fn setup(ctx: Context, one_way: bool) -> Result<Prepared, Reason> {
    let peer = PeerProcess::start(&ctx.exe()?, CONNECT).await?;
    let client = ClusterClient::connect(&peer, CONNECT).await?;
    let stream = TcpStream::connect(peer.tcp).await.map_err(reason)?;
    stream.set_nodelay(true).map_err(reason)?;
    let tcp = Arc::new(Mutex::new(Tcp(BufWriter::with_capacity(64 * 1024, stream))));
    let echo = client.echo.clone();
    let pid = peer.pid();
    let (subject, baseline) = if one_way {
        let subject = Variant::subject("ractor_cluster cast", move |ops| {
            let echo = echo.clone();
            async move {
                Ok(time_each!(ops, |_i| {
                    for n in 0..ONE_WAY {
                        echo.cast(EchoMsg::Tell(n))
                            .map_err(|e| err("remote cast", e))?;
                    }
                    black_box(remote_call(&echo, 0).await?)
                }))
            }
        });
        let baseline = Variant::baseline("tcp one-way (buffered)", move |ops| {
            let tcp = tcp.clone();
            async move {
                let mut tcp = tcp.lock().await;
                Ok(time_each!(ops, |_i| {
                    for n in 0..ONE_WAY {
                        tcp.tell(n).await?;
                    }
                    black_box(tcp.ask(0).await?)
                }))
            }
        });
        (subject, baseline)
    } else {
        let subject = Variant::subject("ractor_cluster call", move |ops| {
            let echo = echo.clone();
            async move { Ok(time_each!(ops, |i| black_box(remote_call(&echo, i).await?))) }
        });
        let baseline = Variant::baseline("tcp ping-pong", move |ops| {
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
        (subject, baseline)
    };
    Ok(Prepared::new(vec![subject, baseline])
        .note(format!("peer process pid {pid}"))
        .teardown(async move {
            client.stop().await;
            drop(peer);
        }))
}
