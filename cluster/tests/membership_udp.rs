//! Three real memberships over loopback UDP: they find each other through one seed address,
//! detect a crashed node, accept it back after a restart, and see a graceful leave.
//!
//! Timeouts here are failure guards only; the test never asserts on timing. It prints the
//! time from `shutdown()` to `Down` at each peer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::timeout;
use troupe_cluster::membership::{MemberEvent, MembershipConfig, MembershipHandle, NodeIdentity};

const GUARD: Duration = Duration::from_secs(20);

struct Node {
    handle: MembershipHandle,
    events: UnboundedReceiver<MemberEvent>,
}

async fn start(name: &str, seeds: Vec<SocketAddr>) -> Node {
    // Port 0: the OS picks a free port, which becomes the gossip address. The transport
    // address is not used by membership.
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let identity = NodeIdentity::new(name, any, SocketAddr::from(([127, 0, 0, 1], 1)));
    let (handle, events) = MembershipHandle::bind_udp(identity, MembershipConfig::lan(), seeds)
        .await
        .expect("bind membership on loopback");
    Node { handle, events }
}

impl Node {
    /// The next event matching `pred` (others are skipped), within the guard.
    async fn wait_for(&mut self, what: &str, pred: impl Fn(&MemberEvent) -> bool) -> MemberEvent {
        let me = self.handle.identity().name;
        let wait = async {
            loop {
                let event = self.events.recv().await.expect("membership stopped");
                if pred(&event) {
                    return event;
                }
            }
        };
        timeout(GUARD, wait)
            .await
            .unwrap_or_else(|_| panic!("{me}: no {what} within {GUARD:?}"))
    }

    /// Waits until `Up` has been seen for every one of `names`, in any order.
    async fn wait_up(&mut self, names: &[&str]) {
        let mut pending: Vec<&str> = names.to_vec();
        while !pending.is_empty() {
            let what = format!("Up for all of {pending:?}");
            let event = self
                .wait_for(
                    &what,
                    |e| matches!(e, MemberEvent::Up(id) if pending.contains(&id.name.as_str())),
                )
                .await;
            pending.retain(|name| *name != event.identity().name.as_str());
        }
    }

    fn view(&self) -> Vec<String> {
        self.handle
            .members()
            .iter()
            .map(|m| m.name.to_string())
            .collect()
    }
}

fn is_down(event: &MemberEvent, id: &NodeIdentity) -> bool {
    *event == MemberEvent::Down(id.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_memberships_detect_a_crash_accept_a_restart_and_see_a_leave() {
    let mut a = start("a", vec![]).await;
    let seed = a.handle.local_addr();
    let mut b = start("b", vec![seed]).await;
    let mut c = start("c", vec![seed]).await;
    a.wait_up(&["b", "c"]).await;
    b.wait_up(&["a", "c"]).await;
    c.wait_up(&["a", "b"]).await;
    assert_eq!(a.view(), ["b", "c"]);
    assert_eq!(b.view(), ["a", "c"]);
    assert_eq!(c.view(), ["a", "b"]);

    // Crash c: no goodbye, its socket closes.
    let old_c = c.handle.identity();
    let crashed_at = Instant::now();
    c.handle.shutdown();
    let (at_a, at_b) = tokio::join!(
        async {
            a.wait_for("Down(c)", |e| is_down(e, &old_c)).await;
            crashed_at.elapsed()
        },
        async {
            b.wait_for("Down(c)", |e| is_down(e, &old_c)).await;
            crashed_at.elapsed()
        },
    );
    eprintln!("membership_udp: shutdown() -> Down: at a {at_a:?}, at b {at_b:?}");
    assert_eq!(a.view(), ["b"]);
    assert_eq!(b.view(), ["a"]);

    // Restart c: same name and incarnation, new socket. It comes back renewed.
    let mut c = start("c", vec![seed]).await;
    let c_addr = c.handle.local_addr();
    let newer = |e: &MemberEvent| matches!(e, MemberEvent::Up(id) if id.name.as_str() == "c" && id.gossip == c_addr);
    let up_a = a.wait_for("Up(restarted c)", newer).await;
    let up_b = b.wait_for("Up(restarted c)", newer).await;
    assert_eq!(up_a, up_b);
    let new_c = up_a.identity().clone();
    assert!(
        new_c.incarnation > old_c.incarnation,
        "{new_c:?} vs {old_c:?}"
    );
    c.wait_up(&["a", "b"]).await;
    assert_eq!(c.handle.identity(), new_c);
    assert_eq!(c.view(), ["a", "b"]);

    // Graceful leave: peers see Down without waiting for probes to fail.
    c.handle.leave().await;
    assert!(c.handle.members().is_empty());
    a.wait_for("Down(c) after leave", |e| is_down(e, &new_c))
        .await;
    b.wait_for("Down(c) after leave", |e| is_down(e, &new_c))
        .await;
    assert_eq!(a.view(), ["b"]);
    assert_eq!(b.view(), ["a"]);
    a.handle.shutdown();
    b.handle.shutdown();
}

#[tokio::test]
async fn two_memberships_in_one_process_start_in_either_order() {
    // b is started first with a's (future) address as its only seed.
    let reserved = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let a_addr = reserved.local_addr().unwrap();
    drop(reserved);
    let mut b = start("b", vec![a_addr]).await;
    let identity = NodeIdentity::new("a", a_addr, SocketAddr::from(([127, 0, 0, 1], 1)));
    let (a_handle, a_events) =
        MembershipHandle::bind_udp(identity, MembershipConfig::lan(), vec![])
            .await
            .expect("bind a");
    let mut a = Node {
        handle: a_handle,
        events: a_events,
    };
    a.wait_up(&["b"]).await;
    b.wait_up(&["a"]).await;

    // Dropping every handle stops the task: its event stream ends and peers see it go.
    let b_id = b.handle.identity();
    let Node { handle, mut events } = b;
    drop(handle);
    let ended = timeout(GUARD, async { while events.recv().await.is_some() {} }).await;
    assert!(ended.is_ok(), "membership kept running with no handle left");
    a.wait_for("Down(b)", |e| is_down(e, &b_id)).await;
    a.handle.shutdown();
}
