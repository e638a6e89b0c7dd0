//! Tests of [`super::route`]: the facts a call reads in, the step it takes out.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use troupe_runtime::AgentId;

use super::failover::{FAILOVER_DELAY, FAILOVER_GRACE};
use super::route::{
    held_step, next_step, put_back, tell_step, HeldStep, Next, RouteView, TellRefusal, TellStep,
    MAX_HOPS,
};
use crate::registry::{ClockId, NodeName, Slot, SlotState, Timestamp, NTP64};
use crate::wire::AgentRecord;

/// A node's facts, as plain maps.
struct View {
    me: NodeName,
    slots: HashMap<AgentId, Slot>,
    replicas: HashMap<AgentId, AgentRecord>,
    live: HashSet<NodeName>,
    down: HashMap<NodeName, Instant>,
    turn: Duration,
    placed: Option<NodeName>,
}

impl View {
    fn new(me: &str) -> Self {
        Self {
            me: me.into(),
            slots: HashMap::new(),
            replicas: HashMap::new(),
            live: [NodeName::new(me)].into(),
            down: HashMap::new(),
            turn: Duration::ZERO,
            placed: None,
        }
    }

    fn slot(mut self, agent: &str, node: &str, state: SlotState) -> Self {
        let stamp = Timestamp::new(NTP64(1), ClockId::try_from([1u8; 16]).unwrap());
        let slot = Slot {
            node: node.into(),
            incarnation: 1,
            version: 1,
            state,
            stamp,
        };
        self.slots.insert(AgentId::new(agent), slot);
        self
    }

    fn replica(mut self, agent: &str) -> Self {
        self.replicas.insert(AgentId::new(agent), record(agent, 3));
        self
    }

    fn live(mut self, node: &str) -> Self {
        self.live.insert(node.into());
        self
    }

    fn down(mut self, node: &str, at: Instant) -> Self {
        self.down.insert(node.into(), at);
        self
    }
}

fn record(agent: &str, version: u64) -> AgentRecord {
    AgentRecord {
        agent: AgentId::new(agent),
        kind: "k".into(),
        config: Value::Null,
        snapshot: Some(vec![1]),
        version,
        movable: true,
    }
}

impl RouteView for View {
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
        self.live.contains(node)
    }
    fn down_since(&self, node: &NodeName) -> Option<Instant> {
        self.down.get(node).copied()
    }
    fn failover_turn(&self, _: &AgentId, _: &str) -> Duration {
        self.turn
    }
    fn place(&self, _: &AgentId, _: &str) -> Option<NodeName> {
        self.placed.clone()
    }
}

fn x() -> AgentId {
    AgentId::new("x")
}

#[test]
fn a_call_for_an_agent_on_a_live_peer_is_forwarded_there() {
    let now = Instant::now();
    let view = View::new("a").live("b").slot("x", "b", SlotState::Active);
    assert_eq!(next_step(&view, &x(), None, now), Next::Forward("b".into()));
    // Passivated there: the node holding its snapshot re-activates it.
    let view = View::new("a")
        .live("b")
        .slot("x", "b", SlotState::Passivated);
    assert_eq!(next_step(&view, &x(), None, now), Next::Forward("b".into()));
}

#[test]
fn an_agent_passivated_here_resumes_from_its_checkpoint() {
    let view = View::new("a")
        .slot("x", "a", SlotState::Passivated)
        .replica("x");
    assert_eq!(
        next_step(&view, &x(), None, Instant::now()),
        Next::Activate(record("x", 3))
    );
}

#[test]
fn an_unknown_agent_is_missing_unless_the_caller_names_a_kind() {
    let now = Instant::now();
    let mut view = View::new("a").live("b");
    assert_eq!(next_step(&view, &x(), None, now), Next::Missing);
    view.placed = Some("a".into());
    let Next::Activate(fresh) = next_step(&view, &x(), Some("k"), now) else {
        panic!("a virtual agent placed here is activated here");
    };
    assert_eq!(
        (fresh.kind.as_str(), fresh.version, fresh.snapshot),
        ("k", 0, None)
    );
    view.placed = Some("b".into());
    assert_eq!(
        next_step(&view, &x(), Some("k"), now),
        Next::Forward("b".into())
    );
    view.placed = None;
    assert_eq!(next_step(&view, &x(), Some("k"), now), Next::Missing);
}

#[test]
fn a_removed_agent_is_not_forwarded_to_its_old_node() {
    let view = View::new("a").live("b").slot("x", "b", SlotState::Removed);
    assert_eq!(next_step(&view, &x(), None, Instant::now()), Next::Missing);
}

#[test]
fn the_first_holder_of_a_checkpoint_takes_over_at_once_when_the_node_is_down() {
    let now = Instant::now();
    let view = View::new("a")
        .slot("x", "b", SlotState::Active)
        .replica("x")
        .down("b", now);
    assert_eq!(
        next_step(&view, &x(), None, now),
        Next::Activate(record("x", 3))
    );
}

#[test]
fn a_later_holder_waits_for_its_turn_then_takes_over() {
    let down = Instant::now();
    let mut view = View::new("a")
        .slot("x", "b", SlotState::Active)
        .replica("x")
        .down("b", down);
    view.turn = Duration::from_millis(250);
    let turn_at = down + FAILOVER_DELAY + Duration::from_millis(250);
    assert_eq!(
        next_step(&view, &x(), None, down + Duration::from_millis(300)),
        Next::Wait {
            until: Some(turn_at)
        }
    );
    assert_eq!(
        next_step(&view, &x(), None, turn_at),
        Next::Activate(record("x", 3))
    );
}

#[test]
fn without_a_checkpoint_a_call_waits_out_the_grace_then_activates_fresh_if_it_may() {
    let down = Instant::now();
    let mut view = View::new("a")
        .slot("x", "b", SlotState::Active)
        .down("b", down);
    view.placed = Some("a".into());
    assert_eq!(
        next_step(&view, &x(), Some("k"), down + Duration::from_secs(1)),
        Next::Wait {
            until: Some(down + FAILOVER_GRACE)
        }
    );
    assert!(matches!(
        next_step(&view, &x(), Some("k"), down + FAILOVER_GRACE),
        Next::Activate(AgentRecord { version: 0, .. })
    ));
    // Not live and not reported down yet: wait for news, with no time of its own.
    let view = View::new("a").slot("x", "b", SlotState::Active);
    assert_eq!(
        next_step(&view, &x(), Some("k"), down),
        Next::Wait { until: None }
    );
}

#[test]
fn one_way_messages_are_forwarded_held_or_refused() {
    let now = Instant::now();
    // Not heard of yet: held until located.
    assert_eq!(tell_step(&View::new("a"), &x(), 0, now), TellStep::Hold);
    let on_b = View::new("a").live("b").slot("x", "b", SlotState::Active);
    assert_eq!(
        tell_step(&on_b, &x(), 0, now),
        TellStep::Forward("b".into())
    );
    assert_eq!(
        tell_step(&on_b, &x(), MAX_HOPS, now),
        TellStep::Refuse(TellRefusal::TooManyHops)
    );
    let here = View::new("a")
        .slot("x", "a", SlotState::Passivated)
        .replica("x");
    assert_eq!(
        tell_step(&here, &x(), 0, now),
        TellStep::Hold,
        "held while activated"
    );
    let removed = View::new("a").slot("x", "b", SlotState::Removed);
    assert_eq!(
        tell_step(&removed, &x(), 0, now),
        TellStep::Refuse(TellRefusal::Missing)
    );
}

#[test]
fn held_messages_are_located_once_then_given_up_if_nobody_knows_the_agent() {
    let now = Instant::now();
    let view = View::new("a").live("b");
    assert_eq!(held_step(&view, &x(), false, now), HeldStep::Locate);
    assert_eq!(held_step(&view, &x(), true, now), HeldStep::GiveUp);
}

#[test]
fn held_messages_go_to_a_live_peer_activate_here_or_wait_for_a_failover() {
    let now = Instant::now();
    let on_b = View::new("a").live("b").slot("x", "b", SlotState::Active);
    assert_eq!(held_step(&on_b, &x(), false, now), HeldStep::Deliver);
    let here = View::new("a")
        .slot("x", "a", SlotState::Passivated)
        .replica("x");
    assert_eq!(
        held_step(&here, &x(), true, now),
        HeldStep::Activate(record("x", 3))
    );
    let mut later = View::new("a")
        .slot("x", "b", SlotState::Active)
        .replica("x")
        .down("b", now);
    later.turn = Duration::from_millis(250);
    assert_eq!(
        held_step(&later, &x(), false, now),
        HeldStep::Wait {
            until: Some(now + FAILOVER_DELAY + Duration::from_millis(250))
        }
    );
    // One-way messages name no kind: a removed agent is not activated fresh for them.
    let mut removed = View::new("a").slot("x", "b", SlotState::Removed);
    removed.placed = Some("a".into());
    assert_eq!(held_step(&removed, &x(), false, now), HeldStep::GiveUp);
}

#[test]
fn messages_put_back_keep_sending_order_ahead_of_later_ones() {
    let mut held = vec![5, 6];
    put_back(&mut held, 2, [3, 4]);
    assert_eq!(held, [2, 3, 4, 5, 6]);
}
