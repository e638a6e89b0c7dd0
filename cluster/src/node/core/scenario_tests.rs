//! The core's pieces together, as the shell drives them, with no sockets and no sleeps: a
//! node goes down, the failover check fires, the holder of a checkpoint plans its takeover,
//! and calls route to it; a later holder waits for its turn.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use troupe_runtime::AgentId;

use super::failover::{self, Takeover, FAILOVER_DELAY, FAILOVER_STAGGER};
use super::members::{Command, Input, Members, Timer};
use super::route::{next_step, Next, RouteView};
use crate::membership::{NodeIdentity, NodeMeta};
use crate::registry::{ClockId, NodeName, Slot, SlotState, Timestamp, NTP64};
use crate::wire::AgentRecord;

fn id(name: &str) -> NodeIdentity {
    NodeIdentity {
        name: NodeName::new(name),
        gossip: "127.0.0.1:1".parse().unwrap(),
        transport: "127.0.0.1:2".parse().unwrap(),
        incarnation: 1,
        meta: NodeMeta::default(),
    }
}

/// One node's core state plus the registry and checkpoints the shell would keep.
struct Node {
    me: NodeName,
    members: Members,
    slots: HashMap<AgentId, Slot>,
    replicas: HashMap<AgentId, AgentRecord>,
    /// Its position among the agent's holders, in placement order.
    position: usize,
}

impl RouteView for Node {
    fn me(&self) -> &NodeName {
        &self.me
    }
    fn winner(&self, agent: &AgentId) -> Option<Slot> {
        self.slots.get(agent).cloned()
    }
    fn replica(&self, agent: &AgentId) -> Option<AgentRecord> {
        self.replicas.get(agent).cloned()
    }
    fn is_live(&self, node: &NodeName) -> bool {
        self.members.is_live(node)
    }
    fn down_since(&self, node: &NodeName) -> Option<Instant> {
        self.members.down_since(node)
    }
    fn failover_turn(&self, _: &AgentId, _: &str) -> Duration {
        failover::turn(Some(self.position), 2)
    }
    fn place(&self, _: &AgentId, _: &str) -> Option<NodeName> {
        None
    }
}

/// Node `me`, linked to `c`, holding a checkpoint of `x`, which runs on `c`.
fn node(me: &str, position: usize) -> Node {
    let mut members = Members::new(id(me), FAILOVER_DELAY, true);
    members.handle(Input::MemberUp(id("c")), Instant::now());
    let stamp = Timestamp::new(NTP64(1), ClockId::try_from([1u8; 16]).unwrap());
    let slot = Slot {
        node: "c".into(),
        incarnation: 1,
        version: 4,
        state: SlotState::Active,
        stamp,
    };
    let record = AgentRecord {
        agent: AgentId::new("x"),
        kind: "k".into(),
        config: Value::Null,
        snapshot: Some(vec![7]),
        version: 4,
        movable: true,
    };
    Node {
        me: me.into(),
        members,
        slots: [(AgentId::new("x"), slot)].into(),
        replicas: [(AgentId::new("x"), record)].into(),
        position,
    }
}

#[test]
fn the_first_holder_takes_over_after_the_failover_delay_and_serves_the_calls() {
    let t0 = Instant::now();
    let mut a = node("a", 0);
    let x = AgentId::new("x");
    assert_eq!(next_step(&a, &x, None, t0), Next::Forward("c".into()));
    // c goes down: the shell is told to check again after the delay.
    let commands = a.members.handle(Input::MemberDown(id("c")), t0);
    let check = Timer::FailoverCheck("c".into());
    assert!(commands.contains(&Command::Schedule {
        at: t0 + FAILOVER_DELAY,
        timer: check.clone()
    }));
    // The timer fires and c is still down: fail over its agents.
    let at = t0 + FAILOVER_DELAY;
    assert_eq!(
        a.members.handle(Input::Timer(check), at),
        [Command::FailOver("c".into())]
    );
    let orphans = failover::orphans(&a.slots, &"c".into());
    assert_eq!(orphans, std::slice::from_ref(&x));
    let turn = a.failover_turn(&x, "k");
    let Takeover::Now(record) = failover::plan(a.replicas[&x].clone(), turn, at) else {
        panic!("the first holder takes over at once");
    };
    assert_eq!(record.version, 5, "a re-activation is a newer write");
    // Meanwhile a call routes to the checkpoint here rather than to the dead node.
    assert!(matches!(next_step(&a, &x, None, at), Next::Activate(_)));
}

#[test]
fn a_second_holder_waits_its_turn_and_stands_down_if_the_first_took_over() {
    let t0 = Instant::now();
    let mut b = node("b", 1);
    let x = AgentId::new("x");
    b.members.handle(Input::MemberDown(id("c")), t0);
    let turn = b.failover_turn(&x, "k");
    assert_eq!(turn, FAILOVER_STAGGER);
    let at = t0 + FAILOVER_DELAY;
    let Takeover::At { at: when, .. } = failover::plan(b.replicas[&x].clone(), turn, at) else {
        panic!("a later holder waits for its turn");
    };
    assert_eq!(when, at + FAILOVER_STAGGER);
    // A call before its turn waits, until the time its planned takeover would go.
    assert_eq!(
        next_step(&b, &x, None, t0 + FAILOVER_DELAY),
        Next::Wait { until: Some(when) }
    );
    // The first holder's activation arrives through gossip: nothing to take over.
    b.members.handle(Input::MemberUp(id("a")), at);
    let mut slot = b.slots[&x].clone();
    slot.node = "a".into();
    b.slots.insert(x.clone(), slot);
    assert!(failover::taken_over(b.slots.get(&x), &"c".into(), |n| b
        .members
        .is_live(n)));
    assert_eq!(next_step(&b, &x, None, when), Next::Forward("a".into()));
}
