//! The shell of [`super::core::members`]: membership and link events go into the core, and
//! the commands it returns are executed here (dial, disconnect, fail pending requests, take
//! back lent tasks, exchange registries, rebalance, schedule and fire the failover timers).

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use troupe_runtime::Backoff;

use super::core::members::DialStep;
use super::core::{Command, Input};
use super::state::Inner;
use super::{gossip, moves, tasks};
use crate::membership::{MemberEvent, NodeIdentity};
use crate::transport::{LinkEvent, TransportError};

/// The dial loop's pause after a failed connect: 50 ms, doubling, at most 1 s.
const DIAL_BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(50),
    max: Duration::from_secs(1),
    multiplier: 2.0,
};

/// How long one connect, and then the session's handshake, may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// Feeds membership and link events to the core and executes what it says.
pub(crate) async fn event_loop(
    inner: Weak<Inner>,
    mut members: UnboundedReceiver<MemberEvent>,
    mut links: UnboundedReceiver<LinkEvent>,
) {
    loop {
        let input = tokio::select! {
            ev = members.recv() => match ev {
                Some(MemberEvent::Up(id)) => Input::MemberUp(id),
                Some(MemberEvent::Down(id)) => Input::MemberDown(id),
                None => return,
            },
            ev = links.recv() => match ev {
                Some(LinkEvent::Up(peer)) => Input::LinkUp(peer),
                Some(LinkEvent::Down(peer)) => Input::LinkDown(peer),
                None => return,
            },
        };
        let Some(inner) = inner.upgrade() else { return };
        log_input(&inner, &input);
        feed(&inner, input);
    }
}

fn log_input(inner: &Inner, input: &Input) {
    match input {
        Input::MemberUp(id) if id.name != inner.name => {
            tracing::info!(target: "troupe::cluster", node = %inner.name, peer = %id.name, "member up");
        }
        Input::MemberDown(id) if id.name != inner.name => {
            tracing::info!(target: "troupe::cluster", node = %inner.name, peer = %id.name, "member down");
        }
        Input::LinkUp(peer) => {
            tracing::debug!(target: "troupe::cluster", node = %inner.name, %peer, "link up");
        }
        _ => {}
    }
}

/// Gives the core one input and executes its commands.
pub(crate) fn feed(inner: &Arc<Inner>, input: Input) {
    for command in inner.members_handle(input) {
        execute(inner, command);
    }
}

fn execute(inner: &Arc<Inner>, command: Command) {
    match command {
        Command::Dial(member) => {
            tokio::spawn(dial(Arc::downgrade(inner), member));
        }
        Command::Disconnect(node) => inner.transport.disconnect(&node),
        Command::FailPending(node) => inner.fail_pending(&node),
        Command::ReclaimTasks(node) => tasks::on_member_down(inner, &node),
        Command::MarkAllDirty => moves::mark_all_dirty(inner),
        Command::ExchangeRegistry(peer) => gossip::exchange_with(inner, &peer),
        Command::Rebalance(peer) => moves::rebalance_towards(inner, &peer),
        Command::ShareWork(peer) => tasks::on_link_up(inner, &peer),
        Command::FailOver(node) => moves::fail_over(inner, &node),
        Command::Schedule { at, timer } => {
            let weak = Arc::downgrade(inner);
            tokio::spawn(async move {
                tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                if let Some(inner) = weak.upgrade() {
                    feed(&inner, Input::Timer(timer));
                }
            });
        }
    }
}

/// Connects to a member until a session is up, it is no longer a member, or a newer dial
/// took over (the core decides each step). After a connection is opened it waits to be told
/// the session is up (a few seconds at most) before trying again, so it never races its own
/// duplicate; a failed connect is retried after [`DIAL_BACKOFF`].
async fn dial(inner: Weak<Inner>, member: NodeIdentity) {
    let mut failures = 0;
    loop {
        let Some(node) = inner.upgrade() else { return };
        let linked = node.transport.is_linked(&member.name);
        if node.members.write().dial_step(&member, linked) == DialStep::Stop {
            return;
        }
        let attempt = tokio::time::timeout(DIAL_TIMEOUT, node.transport.connect(member.transport))
            .await
            .unwrap_or_else(|_| {
                Err(TransportError::Connect {
                    addr: member.transport,
                    reason: "timed out".into(),
                })
            });
        match attempt {
            Ok(()) => {
                failures = 0;
                node.transport.wait_linked(&member.name, DIAL_TIMEOUT).await;
            }
            Err(e) => {
                failures += 1;
                tracing::debug!(target: "troupe::cluster", peer = %member.name, "connect failed: {e}");
                tokio::time::sleep(DIAL_BACKOFF.delay(failures)).await;
            }
        }
    }
}
