//! The peer process of the two-process baselines, and the client side that starts and drives it.
//!
//! `troupe bench-peer --listen 127.0.0.1:0 --cookie C --group G` (hidden) runs, in its own
//! process: a ractor_cluster [`NodeServer`] whose sessions arrive on a listener it owns, a
//! remotable echo actor ([`EchoMsg`]) joined to process group `G`, and a TCP echo server. It
//! prints one line, `troupe-bench-peer cluster=ADDR tcp=ADDR pid=PID`, and exits when its stdin
//! closes (so it never outlives the harness, even one that was killed).
//!
//! The harness side: [`PeerProcess`] starts the child and kills it when dropped (on success,
//! error or panic alike); [`ClusterClient`] runs a local `NodeServer`, opens one session to the
//! peer, and finds the echo actor in group `G` *among the actors of that session only*.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::node::{NodeConnectionMode, NodeServerSessionInformation};
use ractor_cluster::RactorClusterMessage;
use ractor_cluster::{NetworkStream, NodeEventSubscription, NodeServer, NodeServerMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::scenario::{reason, Reason};

/// The echo actor's messages: remotable (serialized by ractor_cluster's derive).
#[derive(RactorClusterMessage)]
pub enum EchoMsg {
    /// Answers with the number.
    #[rpc]
    Ping(u64, RpcReplyPort<u64>),
    /// Counted, not answered.
    Tell(u64),
}

/// Answers pings, counts tells.
pub struct EchoActor;

impl Actor for EchoActor {
    type Msg = EchoMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<EchoMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<EchoMsg>,
        msg: EchoMsg,
        told: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            EchoMsg::Ping(n, reply) => {
                let _ = reply.send(n);
            }
            EchoMsg::Tell(_) => *told += 1,
        }
        Ok(())
    }
}

/// The TCP frames: 8 bytes, big-endian; the top bit marks a frame to echo back.
pub const ASK_BIT: u64 = 1 << 63;

/// What `troupe bench-peer --listen` is given.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Where to listen (both servers use this IP; the port of the cluster listener, 0 for any).
    pub listen: SocketAddr,
    /// The cluster cookie.
    pub cookie: String,
    /// The process group the echo actor joins.
    pub group: String,
}

/// Runs the peer until stdin closes.
pub async fn serve(options: PeerOptions) -> Result<(), Reason> {
    let ip = options.listen.ip();
    let name = format!("troupe-bench-peer-{}", std::process::id());
    let server = NodeServer::new(
        0,
        options.cookie,
        name,
        ip.to_string(),
        None,
        Some(NodeConnectionMode::Isolated),
    )
    .with_listen_addr(ip);
    let (server, _) = Actor::spawn(None, server, ()).await.map_err(reason)?;
    let cluster = TcpListener::bind(options.listen).await.map_err(reason)?;
    let cluster_addr = cluster.local_addr().map_err(reason)?;
    let (echo, _) = Actor::spawn(None, EchoActor, ()).await.map_err(reason)?;
    ractor::pg::join(options.group, vec![echo.get_cell()]);
    let tcp = TcpListener::bind(SocketAddr::new(ip, 0))
        .await
        .map_err(reason)?;
    let tcp_addr = tcp.local_addr().map_err(reason)?;
    let node = server.clone();
    tokio::spawn(async move {
        while let Ok((stream, peer_addr)) = cluster.accept().await {
            let _ = stream.set_nodelay(true);
            let local_addr = stream.local_addr().unwrap_or(cluster_addr);
            let stream = NetworkStream::Raw {
                peer_addr,
                local_addr,
                stream,
            };
            let opened = NodeServerMessage::ConnectionOpened {
                stream: Box::new(stream),
                is_server: true,
            };
            if node.cast(opened).is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Ok((stream, _)) = tcp.accept().await {
            tokio::spawn(tcp_echo(stream));
        }
    });
    println!(
        "troupe-bench-peer cluster={cluster_addr} tcp={tcp_addr} pid={}",
        std::process::id()
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    // Serve until stdin closes: the harness closed it, or exited (even killed).
    let _ = tokio::task::spawn_blocking(|| {
        use std::io::Read as _;
        let mut buf = [0u8; 64];
        let mut stdin = std::io::stdin();
        while stdin.read(&mut buf).is_ok_and(|n| n > 0) {}
    })
    .await;
    server.stop(None);
    Ok(())
}

async fn tcp_echo(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::with_capacity(64 * 1024, read);
    let mut frame = [0u8; 8];
    while read.read_exact(&mut frame).await.is_ok() {
        if u64::from_be_bytes(frame) & ASK_BIT != 0 && write.write_all(&frame).await.is_err() {
            break;
        }
    }
}

/// The peer child process; killed (and reaped) when dropped.
#[derive(Debug)]
pub struct PeerProcess {
    child: Child,
    /// The peer's cluster listener.
    pub cluster: SocketAddr,
    /// The peer's TCP echo server.
    pub tcp: SocketAddr,
    /// The cookie its node accepts.
    pub cookie: String,
    /// The group its echo actor joined.
    pub group: String,
}

impl PeerProcess {
    /// Starts `exe bench-peer` and waits (at most `timeout`) for its address line.
    pub async fn start(exe: &std::path::Path, timeout: Duration) -> Result<Self, Reason> {
        let nonce: String = std::iter::repeat_with(fastrand::alphanumeric)
            .take(12)
            .collect();
        let cookie = format!("bench-{nonce}");
        let group = format!("troupe-bench-echo-{}-{nonce}", std::process::id());
        let mut child = Command::new(exe)
            .args([
                "bench-peer",
                "--listen",
                "127.0.0.1:0",
                "--cookie",
                &cookie,
                "--group",
                &group,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the peer process {}: {e}", exe.display()))?;
        let stdout = child.stdout.take().ok_or("the peer has no stdout")?;
        let mut guard = Self {
            child,
            cluster: SocketAddr::from(([127, 0, 0, 1], 0)),
            tcp: SocketAddr::from(([127, 0, 0, 1], 0)),
            cookie,
            group,
        };
        let read = tokio::task::spawn_blocking(move || {
            use std::io::BufRead as _;
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .map(|_| line)
        });
        let line = match tokio::time::timeout(timeout, read).await {
            Ok(Ok(Ok(line))) => line,
            Ok(Ok(Err(e))) => return Err(format!("reading the peer's address: {e}")),
            Ok(Err(e)) => return Err(format!("reading the peer's address: {e}")),
            Err(_) => return Err(format!("the peer printed no address within {timeout:?}")),
        };
        let field = |key: &str| -> Result<SocketAddr, Reason> {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key))
                .ok_or_else(|| format!("the peer said {line:?}, without {key}"))?
                .parse()
                .map_err(|e| format!("the peer's {key}: {e}"))
        };
        guard.cluster = field("cluster=")?;
        guard.tcp = field("tcp=")?;
        Ok(guard)
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Forwards the sessions that become ready.
struct ReadySessions(mpsc::UnboundedSender<NodeServerSessionInformation>);

impl NodeEventSubscription for ReadySessions {
    fn node_session_opened(&self, _: NodeServerSessionInformation) {}
    fn node_session_disconnected(&self, _: NodeServerSessionInformation) {}
    fn node_session_authenticated(&self, _: NodeServerSessionInformation) {}
    fn node_session_ready(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(ses);
    }
}

/// A local ractor_cluster node with one session to a [`PeerProcess`], and its echo actor.
pub struct ClusterClient {
    server: ActorRef<NodeServerMessage>,
    /// The peer's echo actor, as a remote actor of our session.
    pub echo: ActorRef<EchoMsg>,
}

impl ClusterClient {
    /// Starts a node, connects to `peer` and finds its echo actor (at most `timeout`).
    pub async fn connect(peer: &PeerProcess, timeout: Duration) -> Result<Self, Reason> {
        let name = format!("troupe-bench-{}-{}", std::process::id(), fastrand::u32(..));
        let ip = peer.cluster.ip();
        let node = NodeServer::new(
            0,
            peer.cookie.clone(),
            name,
            ip.to_string(),
            None,
            Some(NodeConnectionMode::Isolated),
        )
        .with_listen_addr(ip);
        let (server, _) = Actor::spawn(None, node, ()).await.map_err(reason)?;
        match tokio::time::timeout(timeout, session(&server, peer)).await {
            Ok(Ok(echo)) => Ok(Self { server, echo }),
            failed => {
                server.stop(None);
                Err(match failed {
                    Ok(Err(e)) => e,
                    _ => format!("no ready cluster session with the peer within {timeout:?}"),
                })
            }
        }
    }

    /// Stops the local node (and so the session).
    pub async fn stop(self) {
        let _ = self
            .server
            .stop_and_wait(None, Some(Duration::from_secs(5)))
            .await;
    }
}

/// Opens a session from `server` to `peer`, waits until it is ready, and finds the peer's echo
/// actor among the remote actors of that session.
async fn session(
    server: &ActorRef<NodeServerMessage>,
    peer: &PeerProcess,
) -> Result<ActorRef<EchoMsg>, Reason> {
    let (tx, mut ready) = mpsc::unbounded_channel();
    server
        .cast(NodeServerMessage::SubscribeToEvents {
            id: "troupe-bench".into(),
            subscription: Box::new(ReadySessions(tx)),
        })
        .map_err(reason)?;
    let stream = TcpStream::connect(peer.cluster).await.map_err(reason)?;
    stream.set_nodelay(true).map_err(reason)?;
    let peer_addr = stream.peer_addr().map_err(reason)?;
    let local_addr = stream.local_addr().map_err(reason)?;
    let stream = NetworkStream::Raw {
        peer_addr,
        local_addr,
        stream,
    };
    server
        .cast(NodeServerMessage::ConnectionOpened {
            stream: Box::new(stream),
            is_server: false,
        })
        .map_err(reason)?;
    let ours = peer_addr.to_string();
    let session = loop {
        let ses = ready.recv().await.ok_or("the node server stopped")?;
        if ses.peer_addr == ours {
            break ses;
        }
    };
    ractor::pg::get_members(&peer.group)
        .into_iter()
        .find(|cell| !cell.get_id().is_local() && cell.get_id().node() == session.node_id)
        .map(ActorRef::from)
        .ok_or_else(|| format!("the peer's session has no actor in group {}", peer.group))
}
