//! The transport: nodes linked by ractor_cluster sessions (cookie authentication, and
//! optionally mutual TLS: see [`tls`]), one gateway actor per node, and one outbound pump per
//! peer that batches messages into frames.
//!
//! With TLS, the node accepts its transport connections itself and makes the TLS handshakes
//! concurrently, each under a time limit (see [`tls`]); ractor_cluster gets established
//! sessions.
//!
//! Sessions are made and dropped by membership, not left to TCP: the node calls
//! [`Transport::connect`] when a member comes up and [`Transport::disconnect`] when it is
//! declared down.

mod admission;
mod gateway;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use parking_lot::Mutex;
use ractor::{Actor, ActorCell, ActorRef};
use ractor_cluster::{
    ClusterBidiStream, NodeEventSubscription, NodeServer, NodeServerMessage, NodeSessionMessage,
};
use tokio::sync::{mpsc, Notify};

pub use admission::{AUTH_TIMEOUT, MAX_HALF_OPEN_PER_ADDR};
pub use gateway::{group, FrameSink, GatewayMsg, SCOPE};
pub use tls::{TlsConfig, TlsError, TlsFile, TlsSetup};

use crate::registry::NodeName;
use crate::wire::{Frame, Msg, MAX_FRAME_BYTES};

/// How many messages one frame carries at most.
const MAX_BATCH: usize = 1024;

/// How many queued one-way messages make the sender flush them itself rather than wait for
/// the pump.
const FLUSH_AT: usize = 512;

/// Transport failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The node server or gateway could not start.
    #[error("cannot start the transport on {addr}: {cause}")]
    Start {
        /// The listen address.
        addr: SocketAddr,
        /// Why.
        cause: StartCause,
    },
    /// Connecting to a peer failed.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The peer's address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// There is no session with that node.
    #[error("no link to node {0}")]
    NotLinked(NodeName),
}

/// Why the transport could not start ([`TransportError::Start`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartCause {
    /// Another socket holds the listen address.
    #[error("the address is in use")]
    AddressInUse,
    /// The listen address could not be bound for another reason.
    #[error("cannot bind: {0}")]
    Bind(String),
    /// The node server's listener was not accepting connections within 5 s.
    #[error("the listener did not come up within 5 s")]
    ListenerTimeout,
    /// One of the transport's actors failed to start.
    #[error("the {actor} actor did not start: {reason}")]
    Actor {
        /// Which (`node server` or `gateway`).
        actor: &'static str,
        /// What ractor said.
        reason: String,
    },
    /// The node server refused the subscription to its session events.
    #[error("cannot subscribe to the node server's session events: {0}")]
    Subscribe(String),
}

impl StartCause {
    fn bind(e: &std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::AddrInUse => Self::AddressInUse,
            _ => Self::Bind(e.to_string()),
        }
    }
}

/// A session opened or closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkEvent {
    /// A session with the node is ready and its gateway found.
    Up(NodeName),
    /// The session with the node closed.
    Down(NodeName),
}

struct PeerLink {
    out: Arc<Outbound>,
    session: ActorRef<NodeSessionMessage>,
}

/// Streams from somewhere other than the OS (e.g. turmoil's simulated network): how a node
/// dials peers and receives their connections when it does not use real sockets.
pub trait StreamNet: Send + Sync + 'static {
    /// Opens a stream to a peer's transport address.
    fn connect(
        &self,
        addr: SocketAddr,
    ) -> troupe_runtime::BoxFuture<'static, std::io::Result<Box<dyn ClusterBidiStream>>>;
    /// Waits for the next incoming stream.
    fn accept(&self) -> troupe_runtime::BoxFuture<'_, std::io::Result<Box<dyn ClusterBidiStream>>>;
}

struct Inner {
    name: NodeName,
    net: Option<Arc<dyn StreamNet>>,
    /// Dials peers over TLS when set (OS sockets only).
    tls: Option<tokio_rustls::TlsConnector>,
    server: ActorRef<NodeServerMessage>,
    gateway: ActorRef<GatewayMsg>,
    links: DashMap<NodeName, PeerLink>,
    /// Notified whenever a session comes up (waiters for a link check again).
    linked: Notify,
    /// Notified by the gateway whenever a group of its scope changes (a peer's gateway proxy
    /// appeared).
    groups_changed: Arc<Notify>,
    events: mpsc::UnboundedSender<LinkEvent>,
    /// The task that accepts streams for the node server, when it is not ractor_cluster's own
    /// listener (TLS, or an external network): ended when the transport stops.
    accept: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.accept.get_mut().take() {
            task.abort();
        }
    }
}

/// One node's side of the transport. Cheap to clone.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

enum SessionEvent {
    Ready(ractor_cluster::node::NodeServerSessionInformation),
    Closed(ractor_cluster::node::NodeServerSessionInformation),
}

struct Subscription(mpsc::UnboundedSender<SessionEvent>, admission::Admission);

impl NodeEventSubscription for Subscription {
    fn node_session_opened(&self, ses: ractor_cluster::node::NodeServerSessionInformation) {
        self.1.opened(&ses);
    }
    fn node_session_authenticated(&self, ses: ractor_cluster::node::NodeServerSessionInformation) {
        self.1.authenticated(&ses);
    }
    fn node_session_ready(&self, ses: ractor_cluster::node::NodeServerSessionInformation) {
        let _ = self.0.send(SessionEvent::Ready(ses));
    }
    fn node_session_disconnected(&self, ses: ractor_cluster::node::NodeServerSessionInformation) {
        self.1.closed(&ses);
        let _ = self.0.send(SessionEvent::Closed(ses));
    }
}

impl Transport {
    /// Starts the node server on `listen` and the gateway; frames from peers go to `sink`.
    pub async fn start(
        name: NodeName,
        listen: SocketAddr,
        cookie: String,
        sink: Arc<dyn FrameSink>,
    ) -> Result<(Transport, mpsc::UnboundedReceiver<LinkEvent>), TransportError> {
        Self::start_on(name, listen, cookie, sink, None, None).await
    }

    /// Like [`Transport::start`], with streams from `net` instead of OS sockets when given
    /// (ractor_cluster's node server then serves only those streams), and with mutual TLS on
    /// every session when `tls` is given (peers are dialled and accepted only over TLS). A
    /// simulated network (`net`) ignores `tls`: its streams stay plain.
    pub async fn start_on(
        name: NodeName,
        listen: SocketAddr,
        cookie: String,
        sink: Arc<dyn FrameSink>,
        net: Option<Arc<dyn StreamNet>>,
        tls: Option<TlsSetup>,
    ) -> Result<(Transport, mpsc::UnboundedReceiver<LinkEvent>), TransportError> {
        let err = |cause: StartCause| TransportError::Start {
            addr: listen,
            cause,
        };
        let tls = if net.is_some() { None } else { tls };
        // ractor_cluster's listener accepts only plain OS connections. With an external
        // network, or with TLS (whose handshakes it would make one at a time, with no time
        // limit), streams are accepted here and handed to the node server, and its own
        // listener is bound to an ephemeral loopback port and not used (with TLS it still
        // requires TLS: it offers no way around it).
        let server_accepts = net.is_none() && tls.is_none();
        let os_listen = if server_accepts {
            listen
        } else {
            SocketAddr::from(([127, 0, 0, 1], 0))
        };
        let tls_listener = match &tls {
            Some(_) => Some(
                tokio::net::TcpListener::bind(listen)
                    .await
                    .map_err(|e| err(StartCause::bind(&e)))?,
            ),
            None => None,
        };
        let encryption = tls
            .as_ref()
            .map(|t| ractor_cluster::IncomingEncryptionMode::Tls(t.acceptor().clone()));
        let server = NodeServer::new(
            os_listen.port(),
            cookie,
            name.to_string(),
            listen.ip().to_string(),
            encryption,
            Some(ractor_cluster::node::NodeConnectionMode::Isolated),
        )
        .with_listen_addr(os_listen.ip())
        .with_max_inbound_frame_size(MAX_FRAME_BYTES as u64 + 64 * 1024);
        let (server, _) = Actor::spawn(None, server, ()).await.map_err(|e| {
            err(StartCause::Actor {
                actor: "node server",
                reason: e.to_string(),
            })
        })?;
        if server_accepts {
            // The listener binds in the background; make sure it did before reporting
            // success. (Ours, with TLS, is bound already.)
            let probe = tokio::time::timeout(Duration::from_secs(5), async {
                while tokio::net::TcpStream::connect(listen).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
            if probe.await.is_err() {
                server.stop(None);
                return Err(err(StartCause::ListenerTimeout));
            }
        }
        let groups_changed = Arc::new(Notify::new());
        let (gateway, _) = Actor::spawn(
            None,
            gateway::Gateway,
            gateway::GatewayArgs {
                node: name.to_string(),
                sink,
                groups_changed: groups_changed.clone(),
            },
        )
        .await
        .map_err(|e| {
            err(StartCause::Actor {
                actor: "gateway",
                reason: e.to_string(),
            })
        })?;
        let (events, rx) = mpsc::unbounded_channel();
        let (stx, srx) = mpsc::unbounded_channel();
        server
            .cast(NodeServerMessage::SubscribeToEvents {
                id: "troupe.transport".into(),
                subscription: Box::new(Subscription(
                    stx,
                    admission::Admission::new(MAX_HALF_OPEN_PER_ADDR, AUTH_TIMEOUT),
                )),
            })
            .map_err(|e| err(StartCause::Subscribe(e.to_string())))?;
        // Accepting starts after the subscription, so that no session's events are missed.
        let accept = match (&net, tls_listener, &tls) {
            (Some(net), _, _) => Some(tokio::spawn(accept_loop(net.clone(), server.clone()))),
            (None, Some(listener), Some(tls)) => Some(tokio::spawn(tls::accept_loop(
                listener,
                tls.acceptor().clone(),
                server.clone(),
            ))),
            _ => None,
        };
        let inner = Arc::new(Inner {
            name,
            net,
            tls: tls.map(|t| t.connector().clone()),
            server: server.clone(),
            gateway,
            links: DashMap::new(),
            linked: Notify::new(),
            groups_changed,
            events,
            accept: Mutex::new(accept),
        });
        tokio::spawn(session_loop(Arc::downgrade(&inner), srx));
        Ok((Transport { inner }, rx))
    }

    /// This node's name.
    pub fn name(&self) -> &NodeName {
        &self.inner.name
    }

    /// Opens a session with the node listening on `addr` (its [`LinkEvent::Up`] follows).
    pub async fn connect(&self, addr: SocketAddr) -> Result<(), TransportError> {
        let err = |reason: String| TransportError::Connect { addr, reason };
        match &self.inner.net {
            None => match &self.inner.tls {
                None => ractor_cluster::client_connect(&self.inner.server, addr).await,
                Some(tls) => {
                    let name = TlsSetup::server_name(addr.ip());
                    ractor_cluster::client_connect_enc(&self.inner.server, addr, tls.clone(), name)
                        .await
                }
            }
            .map_err(|e| err(e.to_string())),
            Some(net) => {
                let stream = net.connect(addr).await.map_err(|e| err(e.to_string()))?;
                ractor_cluster::client_connect_external(&self.inner.server, stream)
                    .await
                    .map_err(|e| err(e.to_string()))
            }
        }
    }

    /// Whether a session with `peer` is up.
    pub fn is_linked(&self, peer: &NodeName) -> bool {
        self.inner.links.contains_key(peer)
    }

    /// Waits until a session with `peer` is up, at most `timeout`; returns whether it is.
    /// Woken by the session coming up, never by polling.
    pub async fn wait_linked(&self, peer: &NodeName, timeout: Duration) -> bool {
        if self.is_linked(peer) {
            return true;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let up = self.inner.linked.notified();
            tokio::pin!(up);
            up.as_mut().enable();
            if self.is_linked(peer) {
                return true;
            }
            if tokio::time::timeout_at(deadline, up).await.is_err() {
                return self.is_linked(peer);
            }
        }
    }

    /// The nodes with a session up.
    pub fn peers(&self) -> Vec<NodeName> {
        self.inner.links.iter().map(|l| l.key().clone()).collect()
    }

    /// Sends `msg` to `peer`; messages to one peer arrive in send order. One-way messages
    /// ([`Msg::Tell`], registry gossip, checkpoints, results of stolen tasks) may wait briefly
    /// to share a frame; the rest leave at once.
    pub fn send(&self, peer: &NodeName, msg: Msg) -> Result<(), TransportError> {
        let Some(link) = self.inner.links.get(peer).map(|l| l.out.clone()) else {
            return Err(TransportError::NotLinked(peer.clone()));
        };
        let ok = match &msg {
            Msg::Tell { .. }
            | Msg::Registry { .. }
            | Msg::Replica { .. }
            | Msg::DropReplica { .. }
            | Msg::Control {
                op: crate::wire::Control::TaskDone { .. },
                ..
            } => link.enqueue(msg),
            _ => link.send_now(msg),
        };
        if ok {
            Ok(())
        } else {
            Err(TransportError::NotLinked(peer.clone()))
        }
    }

    /// Drops the session with `peer` (it was declared down or left).
    pub fn disconnect(&self, peer: &NodeName) {
        if let Some((_, link)) = self.inner.links.remove(peer) {
            link.out
                .closed
                .store(true, std::sync::atomic::Ordering::Relaxed);
            link.out.wake.notify_one();
            link.session.stop(Some("member down".into()));
            let _ = self.inner.events.send(LinkEvent::Down(peer.clone()));
        }
    }

    /// Stops accepting, then stops the gateway, every session and the node server. With TLS
    /// or an external network, the task that accepts has ended (and with TLS, released the
    /// listen port) when this returns.
    pub async fn stop(&self) {
        let accept = self.inner.accept.lock().take();
        if let Some(task) = accept {
            task.abort();
            // Returns once the task is dropped, and with it the listener.
            let _ = task.await;
        }
        let peers = self.peers();
        for p in peers {
            self.disconnect(&p);
        }
        self.inner.gateway.stop(None);
        let _ = self
            .inner
            .server
            .stop_and_wait(None, Some(Duration::from_secs(5)))
            .await;
    }
}

/// Hands streams accepted from an external network to the node server.
async fn accept_loop(net: Arc<dyn StreamNet>, server: ActorRef<NodeServerMessage>) {
    loop {
        match net.accept().await {
            Ok(stream) => {
                let opened = NodeServerMessage::ConnectionOpenedExternal {
                    stream,
                    is_server: true,
                };
                if server.cast(opened).is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(target: "troupe::cluster", "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn session_loop(
    inner: std::sync::Weak<Inner>,
    mut rx: mpsc::UnboundedReceiver<SessionEvent>,
) {
    while let Some(ev) = rx.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        match ev {
            SessionEvent::Ready(ses) => {
                let Some(peer) = ses.peer_name.as_ref().map(|n| peer_node_name(&n.name)) else {
                    continue;
                };
                // The peer announces its gateway around declaring the session ready; its proxy
                // joins the gateway's group (after becoming a child of the session), which the
                // gateway is told about: wait for that, a second at most.
                let remote = wait_for_gateway(&inner, &ses.actor.get_cell(), &peer).await;
                let Some(remote) = remote else {
                    tracing::warn!(target: "troupe::cluster", %peer, "peer has no gateway; dropping session");
                    ses.actor.stop(Some("no gateway".into()));
                    continue;
                };
                let out = Arc::new(Outbound {
                    queue: Mutex::new(Vec::new()),
                    flush: Mutex::new(()),
                    wake: Notify::new(),
                    remote,
                    from: inner.name.clone(),
                    to: peer.clone(),
                    closed: Default::default(),
                });
                tokio::spawn(pump(out.clone()));
                inner.links.insert(
                    peer.clone(),
                    PeerLink {
                        out,
                        session: ses.actor.clone(),
                    },
                );
                inner.linked.notify_waiters();
                let _ = inner.events.send(LinkEvent::Up(peer));
            }
            SessionEvent::Closed(ses) => {
                let Some(peer) = ses.peer_name.as_ref().map(|n| peer_node_name(&n.name)) else {
                    continue;
                };
                let ours = inner
                    .links
                    .remove_if(&peer, |_, l| l.session.get_id() == ses.actor.get_id())
                    .is_some();
                if ours {
                    let _ = inner.events.send(LinkEvent::Down(peer));
                }
            }
        }
    }
}

/// The proxy of `peer`'s gateway in `session`, once it is there (woken by group changes;
/// `None` after a second without it).
async fn wait_for_gateway(
    inner: &Inner,
    session: &ActorCell,
    peer: &NodeName,
) -> Option<ActorRef<GatewayMsg>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let changed = inner.groups_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if let Some(remote) = find_gateway(session, peer) {
            return Some(remote);
        }
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            return find_gateway(session, peer);
        }
    }
}

/// ractor_cluster names a peer `name@host`; membership and the registry know it as `name`.
fn peer_node_name(full: &str) -> NodeName {
    NodeName::new(full.rsplit_once('@').map_or(full, |(name, _)| name))
}

/// The proxy of `peer`'s gateway among the children of one session (ractor's groups are
/// process-global; the session's children are this link's own proxies).
fn find_gateway(session: &ActorCell, peer: &NodeName) -> Option<ActorRef<GatewayMsg>> {
    let members = ractor::pg::get_scoped_members(&SCOPE.to_string(), &group(peer.as_str()));
    session
        .get_children()
        .into_iter()
        .find(|c| members.iter().any(|m| m.get_id() == c.get_id()))
        .map(ActorRef::from)
}

/// The outbound side of one session.
///
/// Latency-sensitive messages (calls, replies, control) are sent at once by the caller, after
/// whatever is queued before them; one-way messages are queued and flushed by a per-peer task,
/// so under load many travel in one frame. A single flush lock keeps frames in send order.
struct Outbound {
    queue: Mutex<Vec<Msg>>,
    flush: Mutex<()>,
    wake: Notify,
    remote: ActorRef<GatewayMsg>,
    from: NodeName,
    to: NodeName,
    closed: std::sync::atomic::AtomicBool,
}

impl Outbound {
    fn send_now(&self, msg: Msg) -> bool {
        let _order = self.flush.lock();
        let mut batch = std::mem::take(&mut *self.queue.lock());
        batch.push(msg);
        self.write(batch)
    }

    fn enqueue(&self, msg: Msg) -> bool {
        let len = {
            let mut q = self.queue.lock();
            q.push(msg);
            q.len()
        };
        if len == 1 {
            self.wake.notify_one();
        } else if len >= FLUSH_AT {
            // A sender producing faster than the pump runs (the pump, woken from this worker,
            // waits for it to yield) ships full frames itself, so that the peer starts on them
            // while more are produced. If a flush is under way, it or the pump takes these.
            if let Some(order) = self.flush.try_lock() {
                let batch = std::mem::take(&mut *self.queue.lock());
                let ok = self.write(batch);
                drop(order);
                return ok;
            }
        }
        !self.closed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends queued messages, in frames of at most [`MAX_BATCH`] messages.
    fn flush_queued(&self) -> bool {
        let _order = self.flush.lock();
        let batch = std::mem::take(&mut *self.queue.lock());
        batch.is_empty() || self.write(batch)
    }

    fn write(&self, batch: Vec<Msg>) -> bool {
        let mut rest = &batch[..];
        while !rest.is_empty() {
            let mut bytes = 0;
            let mut n = 0;
            while n < rest.len() && n < MAX_BATCH && bytes < MAX_FRAME_BYTES / 4 {
                bytes += approx_size(&rest[n]);
                n += 1;
            }
            let (frame, tail) = rest.split_at(n);
            let bytes = Frame::encode_parts(&self.from, &self.to, frame);
            if self.remote.cast(GatewayMsg(bytes)).is_err() {
                self.closed
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                return false;
            }
            rest = tail;
        }
        true
    }
}

async fn pump(out: Arc<Outbound>) {
    loop {
        out.wake.notified().await;
        if !out.flush_queued() || out.closed.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
    }
}

fn approx_size(m: &Msg) -> usize {
    // Counted generously for small messages: a frame stays well under the size limit.
    m.approx_size().max(256)
}

#[cfg(test)]
mod tests {
    use super::StartCause;
    use std::io::{Error, ErrorKind};

    #[test]
    fn a_taken_address_is_told_apart_from_other_bind_failures() {
        let taken = Error::from(ErrorKind::AddrInUse);
        assert_eq!(StartCause::bind(&taken), StartCause::AddressInUse);
        let denied = Error::new(ErrorKind::PermissionDenied, "port 80 needs privileges");
        assert_eq!(
            StartCause::bind(&denied),
            StartCause::Bind("port 80 needs privileges".into())
        );
        // A real bind of a held port says the same.
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let again = std::net::TcpListener::bind(held.local_addr().unwrap()).unwrap_err();
        assert_eq!(StartCause::bind(&again), StartCause::AddressInUse);
    }
}
