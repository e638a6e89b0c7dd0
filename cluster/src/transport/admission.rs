//! Inbound sessions before they authenticate: at most [`MAX_HALF_OPEN_PER_ADDR`] at a time
//! from one peer address (more are closed at once), each closed if it has not authenticated
//! with the cluster cookie within [`AUTH_TIMEOUT`], and every refusal logged with the peer's
//! address (never the cookie).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{ActorId, ActorRef};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::NodeSessionMessage;

/// How many inbound connections from one peer address may be open and not yet authenticated.
pub const MAX_HALF_OPEN_PER_ADDR: usize = 8;

/// How long an inbound connection may take to authenticate before it is closed.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(5);

struct Pending {
    ip: IpAddr,
    addr: String,
    session: ActorRef<NodeSessionMessage>,
}

#[derive(Default)]
struct State {
    /// Inbound sessions not authenticated yet, by session actor.
    pending: HashMap<ActorId, Pending>,
    /// How many of them per peer address.
    per_ip: HashMap<IpAddr, usize>,
    /// Authenticated sessions per peer node name (a session that loses ractor_cluster's
    /// election between two connections of one pair of nodes is not a refusal).
    authed: HashMap<String, usize>,
    /// Authenticated sessions and their peer names, to count them down when they close.
    authed_sessions: HashMap<ActorId, String>,
    /// Outbound sessions not authenticated yet.
    dialed: std::collections::HashSet<ActorId>,
}

/// The admission state of one transport (no process-global state: one per node).
#[derive(Clone)]
pub(super) struct Admission {
    state: Arc<Mutex<State>>,
    max_per_addr: usize,
    timeout: Duration,
}

impl Admission {
    pub(super) fn new(max_per_addr: usize, timeout: Duration) -> Self {
        Self {
            state: Arc::default(),
            max_per_addr,
            timeout,
        }
    }

    /// A session was opened (inbound ones are admitted or closed).
    pub(super) fn opened(&self, ses: &NodeServerSessionInformation) {
        if !ses.is_server {
            self.state.lock().dialed.insert(ses.actor.get_id());
            return;
        }
        let ip = ses
            .peer_addr
            .parse::<SocketAddr>()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let id = ses.actor.get_id();
        {
            let mut st = self.state.lock();
            let n = st.per_ip.entry(ip).or_default();
            if *n >= self.max_per_addr {
                let n = *n;
                drop(st);
                tracing::warn!(
                    target: "troupe::cluster",
                    peer = %ses.peer_addr,
                    "refused a connection from {}: {n} connections from that address are not \
                     authenticated yet (at most {})",
                    ses.peer_addr,
                    self.max_per_addr
                );
                ses.actor
                    .stop(Some("too many unauthenticated connections".into()));
                return;
            }
            *n += 1;
            st.pending.insert(
                id,
                Pending {
                    ip,
                    addr: ses.peer_addr.clone(),
                    session: ses.actor.clone(),
                },
            );
        }
        let state = Arc::downgrade(&self.state);
        let timeout = self.timeout;
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                tokio::time::sleep(timeout).await;
                expire(state, id, timeout);
            });
        }
    }

    /// A session authenticated with the cookie.
    pub(super) fn authenticated(&self, ses: &NodeServerSessionInformation) {
        let mut st = self.state.lock();
        take_pending(&mut st, &ses.actor.get_id());
        st.dialed.remove(&ses.actor.get_id());
        if let Some(name) = ses.peer_name.as_ref().map(|n| n.name.clone()) {
            *st.authed.entry(name.clone()).or_default() += 1;
            st.authed_sessions.insert(ses.actor.get_id(), name);
        }
    }

    /// A session closed: one that never authenticated is logged as refused.
    pub(super) fn closed(&self, ses: &NodeServerSessionInformation) {
        let id = ses.actor.get_id();
        let mut st = self.state.lock();
        if let Some(name) = st.authed_sessions.remove(&id) {
            if let Some(n) = st.authed.get_mut(&name) {
                *n -= 1;
                if *n == 0 {
                    st.authed.remove(&name);
                }
            }
            return;
        }
        if st.dialed.remove(&id) {
            // A link this node dialled that closed before authenticating.
            match ses.peer_name.as_ref().map(|n| n.name.as_str()) {
                Some(name) if st.authed.contains_key(name) => {}
                Some(name) => tracing::warn!(
                    target: "troupe::cluster",
                    peer = %ses.peer_addr,
                    "cannot link to node {name:?} at {}: the cookie authentication failed \
                     (the cookies differ)",
                    ses.peer_addr
                ),
                None => {}
            }
            return;
        }
        let Some(p) = take_pending(&mut st, &id) else {
            return;
        };
        match ses.peer_name.as_ref().map(|n| n.name.as_str()) {
            // Another session with that node is up: this one lost the election of
            // duplicate connections, it was not refused.
            Some(name) if st.authed.contains_key(name) => {}
            Some(name) => tracing::warn!(
                target: "troupe::cluster",
                peer = %p.addr,
                "refused node {name:?} connecting from {}: it failed the cookie authentication \
                 (wrong cookie)",
                p.addr
            ),
            None => tracing::info!(
                target: "troupe::cluster",
                peer = %p.addr,
                "a connection from {} closed before it authenticated",
                p.addr
            ),
        }
    }
}

fn take_pending(st: &mut State, id: &ActorId) -> Option<Pending> {
    let p = st.pending.remove(id)?;
    if let Some(n) = st.per_ip.get_mut(&p.ip) {
        *n -= 1;
        if *n == 0 {
            st.per_ip.remove(&p.ip);
        }
    }
    Some(p)
}

/// Closes session `id` if it still has not authenticated.
fn expire(state: Weak<Mutex<State>>, id: ActorId, timeout: Duration) {
    let Some(state) = state.upgrade() else { return };
    let Some(p) = take_pending(&mut state.lock(), &id) else {
        return;
    };
    tracing::warn!(
        target: "troupe::cluster",
        peer = %p.addr,
        "refused a connection from {}: it did not authenticate within {timeout:?} (no cookie)",
        p.addr
    );
    p.session.stop(Some("not authenticated in time".into()));
}
