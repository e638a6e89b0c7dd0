//! The IO shell: a tokio task that owns a datagram socket and drives [`Membership`].

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{MemberEvent, Membership, MembershipConfig, MembershipError, MembershipTimer};
use super::{NodeIdentity, Outbox};

/// Large enough for any UDP payload, so an oversized datagram is seen whole and rejected.
const RECV_BUFFER: usize = 65_536;

/// The datagram socket the shell needs: implemented for [`tokio::net::UdpSocket`]; tests
/// implement it for simulated sockets (e.g. turmoil's).
pub trait DatagramSocket: Send + Sync + 'static {
    /// Sends one datagram to `target`.
    fn send_to(
        &self,
        buf: &[u8],
        target: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send;
    /// Receives one datagram; must be cancel safe (it is raced against timers).
    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send;
    /// The address the socket is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

impl DatagramSocket for tokio::net::UdpSocket {
    fn send_to(
        &self,
        buf: &[u8],
        target: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send {
        tokio::net::UdpSocket::send_to(self, buf, target)
    }

    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send {
        tokio::net::UdpSocket::recv_from(self, buf)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::UdpSocket::local_addr(self)
    }
}

/// A running membership: a cheap, cloneable handle to the task that owns the socket.
///
/// The task stops on [`leave`](Self::leave), [`shutdown`](Self::shutdown), or when every
/// handle is dropped; its view is then empty.
#[derive(Clone)]
pub struct MembershipHandle {
    shared: Arc<Shared>,
    /// Held only by handles, so that the task sees the channel close when the last one drops.
    commands: mpsc::UnboundedSender<Command>,
}

struct Shared {
    view: RwLock<View>,
    local_addr: SocketAddr,
}

struct View {
    identity: NodeIdentity,
    members: Vec<NodeIdentity>,
}

enum Command {
    Leave(oneshot::Sender<()>),
    Shutdown,
}

impl MembershipHandle {
    /// Starts membership for `identity` on `socket`, joining through `seeds` (addresses
    /// only). Returns the handle and the stream of member changes.
    pub async fn start<S: DatagramSocket>(
        identity: NodeIdentity,
        config: MembershipConfig,
        seeds: Vec<SocketAddr>,
        socket: S,
    ) -> Result<(Self, mpsc::UnboundedReceiver<MemberEvent>), MembershipError> {
        let rng_seed = rng_seed(&identity);
        Self::start_seeded(identity, config, seeds, socket, rng_seed).await
    }

    /// [`Self::start`] with an explicit seed for the protocol's randomness (probe order,
    /// gossip targets), so that a simulation replays exactly from its own seed.
    pub async fn start_seeded<S: DatagramSocket>(
        identity: NodeIdentity,
        config: MembershipConfig,
        seeds: Vec<SocketAddr>,
        socket: S,
        rng_seed: u64,
    ) -> Result<(Self, mpsc::UnboundedReceiver<MemberEvent>), MembershipError> {
        let local_addr = socket.local_addr()?;
        let mut machine = Membership::new(identity, config, rng_seed)?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events, event_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            view: RwLock::new(View {
                identity: machine.identity().clone(),
                members: Vec::new(),
            }),
            local_addr,
        });
        let mut out = Outbox::default();
        machine.join(&seeds, &mut out);
        let machine_identity = machine.identity().clone();
        let task = Task {
            machine,
            socket,
            shared: Arc::clone(&shared),
            events,
            timers: Timers::default(),
            out,
            published: machine_identity,
        };
        tokio::spawn(task.run(command_rx));
        Ok((Self { shared, commands }, event_rx))
    }

    /// Binds a UDP socket at `identity.gossip` and starts. A port of 0 picks a free port,
    /// which then becomes the identity's gossip port.
    pub async fn bind_udp(
        mut identity: NodeIdentity,
        config: MembershipConfig,
        seeds: Vec<SocketAddr>,
    ) -> Result<(Self, mpsc::UnboundedReceiver<MemberEvent>), MembershipError> {
        let socket = tokio::net::UdpSocket::bind(identity.gossip).await?;
        if identity.gossip.port() == 0 {
            identity.gossip.set_port(socket.local_addr()?.port());
        }
        Self::start(identity, config, seeds, socket).await
    }

    /// The current live members (not including this node).
    pub fn members(&self) -> Vec<NodeIdentity> {
        self.read(|view| view.members.clone())
    }

    /// This node's current identity (its incarnation grows on every rejoin).
    pub fn identity(&self) -> NodeIdentity {
        self.read(|view| view.identity.clone())
    }

    /// The address the membership socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Leaves gracefully (peers are told this node is down) and waits for the task to stop.
    pub async fn leave(&self) {
        let (done, stopped) = oneshot::channel();
        if self.commands.send(Command::Leave(done)).is_ok() {
            let _ = stopped.await;
        }
    }

    /// Stops the task without telling anyone, as a crash would: peers declare this node down
    /// once their probes fail.
    pub fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown);
    }

    fn read<T>(&self, f: impl FnOnce(&View) -> T) -> T {
        f(&self.shared.view.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A per-node seed (FNV-1a over name, gossip address and incarnation): distinct per node and
/// reproducible.
fn rng_seed(identity: &NodeIdentity) -> u64 {
    let text = format!(
        "{}|{}|{}",
        identity.name, identity.gossip, identity.incarnation
    );
    crate::placement::fnv1a(text.bytes())
}

struct Task<S> {
    machine: Membership,
    socket: S,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<MemberEvent>,
    timers: Timers,
    out: Outbox,
    /// The identity last written to the shared view.
    published: NodeIdentity,
}

impl<S: DatagramSocket> Task<S> {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut buf = vec![0u8; RECV_BUFFER];
        let mut left = None;
        self.flush().await;
        loop {
            let deadline = self.timers.next_deadline();
            tokio::select! {
                biased;
                command = commands.recv() => {
                    if let Some(Command::Leave(done)) = command {
                        self.machine.leave(&mut self.out);
                        self.flush().await;
                        left = Some(done);
                    }
                    break;
                }
                () = sleep_until(deadline) => {
                    for timer in self.timers.pop_due(Instant::now()) {
                        self.machine.handle_timer(timer, &mut self.out);
                    }
                }
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((len, from)) => {
                        if let Err(error) = self.machine.handle_datagram(&buf[..len], &mut self.out) {
                            tracing::debug!(%from, %error, "membership datagram dropped");
                        }
                    }
                    Err(error) => tracing::debug!(%error, "membership receive failed"),
                },
            }
            self.flush().await;
        }
        self.shared
            .view
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .members
            .clear();
        if let Some(done) = left {
            let _ = done.send(());
        }
    }

    /// Sends, arms and publishes what the machine asked for.
    async fn flush(&mut self) {
        for (to, bytes) in self.out.sends.drain(..) {
            if let Err(error) = self.socket.send_to(&bytes, to).await {
                tracing::debug!(%to, %error, "membership send failed");
            }
        }
        let now = Instant::now();
        for (after, timer) in self.out.timers.drain(..) {
            self.timers.push(now + after, timer);
        }
        if self.out.events.is_empty() && self.published == *self.machine.identity() {
            return;
        }
        self.published = self.machine.identity().clone();
        {
            let mut view = self.shared.view.write().unwrap_or_else(|e| e.into_inner());
            view.identity = self.published.clone();
            view.members = self.machine.members();
        }
        // Published after the view, so a consumer that sees `Up` finds it in `members()`.
        for event in self.out.events.drain(..) {
            let _ = self.events.send(event);
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Armed timers, earliest first (ties in arming order).
#[derive(Default)]
struct Timers {
    heap: BinaryHeap<Armed>,
    next_seq: u64,
}

struct Armed {
    at: Instant,
    seq: u64,
    timer: MembershipTimer,
}

impl Timers {
    fn push(&mut self, at: Instant, timer: MembershipTimer) {
        self.next_seq += 1;
        self.heap.push(Armed {
            at,
            seq: self.next_seq,
            timer,
        });
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|armed| armed.at)
    }

    fn pop_due(&mut self, now: Instant) -> Vec<MembershipTimer> {
        let mut due = Vec::new();
        while self.heap.peek().is_some_and(|armed| armed.at <= now) {
            due.extend(self.heap.pop().map(|armed| armed.timer));
        }
        due
    }
}

impl Ord for Armed {
    /// Reversed, so that the max-heap pops the earliest deadline first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl PartialOrd for Armed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Armed {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Armed {}
