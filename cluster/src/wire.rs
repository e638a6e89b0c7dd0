//! What crosses nodes: one versioned frame type carrying a batch of tagged messages
//! (ARCHITECTURE.md, invariant 4). Encoded with rmp-serde using field *names* and explicit
//! variant tags, so renaming a Rust type never silently changes the wire format.
//!
//! Agents' own messages never cross nodes as Rust types: a remote call carries the request as
//! a JSON value and the reply comes back the same way.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use troupe_runtime::{AgentError, AgentId, CallError};

use crate::registry::{Delta, NodeName, Slot};

/// Wire format version of [`Frame`]s written by this code (2: typed control replies,
/// [`Msg::ControlReply`]).
pub const WIRE_VERSION: u8 = 5;

/// The largest frame a node accepts (ractor_cluster's own inbound limit is set to match).
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// A batch of messages from one node to another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// [`WIRE_VERSION`] of the writer.
    #[serde(rename = "v")]
    pub version: u8,
    /// The sending node.
    #[serde(rename = "from")]
    pub from: NodeName,
    /// The node the frame is for; a node drops frames addressed to another name.
    #[serde(rename = "to")]
    pub to: NodeName,
    /// The messages, in send order.
    #[serde(rename = "msgs")]
    pub msgs: Vec<Msg>,
}

/// Everything one node says to another. Externally tagged (`{"call": {...}}`) with explicit
/// names: decoding needs no buffering, and renaming a variant never changes the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    /// Call `agent` with `body`; answer with [`Msg::Reply`] carrying `id`. `kind` lets the
    /// receiver activate the agent if it is not active anywhere.
    #[serde(rename = "call")]
    Call {
        /// Correlation id, unique per sending node.
        id: u64,
        /// The agent.
        agent: AgentId,
        /// The agent's kind, when the caller knows it (activate on first call).
        kind: Option<String>,
        /// The JSON request.
        body: Value,
        /// How many nodes already forwarded this call.
        hops: u8,
        /// The caller's deadline, in milliseconds.
        timeout_ms: Option<u64>,
    },
    /// A one-way message to `agent`.
    #[serde(rename = "tell")]
    Tell {
        /// The agent.
        agent: AgentId,
        /// The JSON request.
        body: Value,
        /// How many nodes already forwarded this message.
        hops: u8,
    },
    /// The answer to a [`Msg::Call`] or [`Msg::Activate`].
    #[serde(rename = "reply")]
    Reply {
        /// The correlation id of the request.
        id: u64,
        /// The JSON reply or the error.
        result: Result<Value, WireError>,
    },
    /// The answer to a [`Msg::Control`] request: a typed [`ControlReply`] or the error.
    #[serde(rename = "control_reply")]
    ControlReply {
        /// The correlation id of the request.
        id: u64,
        /// What the node answered.
        result: Result<ControlReply, WireError>,
    },
    /// Start `agent` here (spawn, migration target, failover), optionally from a snapshot.
    #[serde(rename = "activate")]
    Activate {
        /// Correlation id.
        id: u64,
        /// What to start.
        spec: AgentRecord,
    },
    /// Registry entries (gossip: a push of fresh writes, or a full anti-entropy exchange).
    #[serde(rename = "registry")]
    Registry {
        /// The entries.
        delta: Delta,
        /// Whether the receiver should answer with its own full state (anti-entropy).
        want_reply: bool,
    },
    /// The sender's latest checkpoint of an agent it runs; the receiver is its backup.
    #[serde(rename = "replica")]
    Replica {
        /// The checkpoint.
        record: AgentRecord,
    },
    /// The receiver is no longer the backup of `agent` (as of `version`).
    #[serde(rename = "drop_replica")]
    DropReplica {
        /// The agent.
        agent: AgentId,
        /// Replicas up to this version may be dropped.
        version: u64,
    },
    /// An operation on the receiving node (migrations, passivation, stealing, workflow tasks).
    #[serde(rename = "control")]
    Control {
        /// Correlation id.
        id: u64,
        /// What to do.
        op: Control,
    },
}

impl Msg {
    /// A rough size of the message's encoding, in bytes (exact enough to size buffers and
    /// frames: snapshots and registry deltas dominate; JSON bodies are guessed small).
    pub fn approx_size(&self) -> usize {
        match self {
            Msg::Activate { spec, .. } => spec.snapshot.as_ref().map_or(0, Vec::len) + 256,
            Msg::Replica { record } => record.snapshot.as_ref().map_or(0, Vec::len) + 256,
            Msg::Registry { delta, .. } => delta.entries.len() * 96 + 64,
            _ => 64,
        }
    }
}

/// Everything needed to start an agent on any node: kinds are known by name everywhere.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// The agent.
    #[serde(rename = "agent")]
    pub agent: AgentId,
    /// Its registered kind.
    #[serde(rename = "kind")]
    pub kind: String,
    /// The kind's JSON config.
    #[serde(rename = "config")]
    pub config: Value,
    /// The state to resume from, if any.
    #[serde(rename = "snapshot", with = "serde_bytes_opt")]
    pub snapshot: Option<Vec<u8>>,
    /// Version of that state (bumps on every checkpoint).
    #[serde(rename = "version")]
    pub version: u64,
    /// Whether placement may move the agent (rebalancing); `false` for agents pinned to a node.
    #[serde(rename = "movable")]
    pub movable: bool,
}

/// Node-level operations requested by a peer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum Control {
    /// Move `agent` (which runs on the receiver) to node `to`.
    #[serde(rename = "migrate")]
    Migrate {
        /// The agent.
        agent: AgentId,
        /// The target node.
        to: NodeName,
    },
    /// Ask the receiver for up to `max` queued tasks (the sender is idle).
    #[serde(rename = "steal")]
    Steal {
        /// How many tasks the thief can take.
        max: u32,
    },
    /// The result of a task the receiver lent out (reply to nothing; keyed by idempotency key).
    #[serde(rename = "task_done")]
    TaskDone {
        /// The idempotency key of the task.
        key: String,
        /// Its result.
        result: Result<Value, WireError>,
    },
    /// The sender has queued tasks it cannot start now: idle receivers should steal from it.
    #[serde(rename = "work_available")]
    WorkAvailable,
    /// Stop `agent` (which runs on the receiver) for good: it is removed from the registry and
    /// its checkpoints dropped.
    #[serde(rename = "stop")]
    Stop {
        /// The agent.
        agent: AgentId,
    },
    /// Checkpoint `agent` (which runs on the receiver) to its backup now; the reply (the
    /// checkpoint's version) comes after the backup has stored it.
    #[serde(rename = "checkpoint")]
    Checkpoint {
        /// The agent.
        agent: AgentId,
    },
    /// Where is `agent`? The reply is the receiver's registry entry (or `null`), used by a node
    /// that has not yet heard of an agent through gossip.
    #[serde(rename = "locate")]
    Locate {
        /// The agent.
        agent: AgentId,
    },
    /// A request about workflow runs (submit one, ask about one), answered with
    /// [`ControlReply::Run`] or [`ControlReply::NoRun`] (version 4 added it).
    #[serde(rename = "run")]
    Run {
        /// What is asked.
        request: crate::runs::RunRequest,
    },
}

/// A node's answer to a [`Control`] request. Internally tagged by `reply` with explicit
/// names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply")]
#[non_exhaustive]
pub enum ControlReply {
    /// The operation was done ([`Control::Migrate`], [`Control::Stop`]).
    #[serde(rename = "done")]
    Done,
    /// The receiver's registry entry of the agent ([`Control::Locate`]).
    #[serde(rename = "slot")]
    Slot {
        /// The entry, if the receiver knows the agent.
        slot: Option<Slot>,
    },
    /// Tasks handed to a thief ([`Control::Steal`]), possibly none.
    #[serde(rename = "tasks")]
    Tasks {
        /// The tasks, oldest first.
        tasks: Vec<RemoteTask>,
    },
    /// The agent was checkpointed to its backups ([`Control::Checkpoint`]).
    #[serde(rename = "checkpointed")]
    Checkpointed {
        /// The checkpoint's version.
        version: u64,
    },
    /// What the receiver knows of a run ([`Control::Run`]).
    #[serde(rename = "run")]
    Run {
        /// The run.
        info: crate::runs::RunInfo,
    },
    /// The receiver's store has no such run ([`Control::Run`] asking a status).
    #[serde(rename = "no_run")]
    NoRun,
    /// A backup merged a run's replica delta ([`crate::runs::RunRequest::Replicate`]).
    #[serde(rename = "replicated")]
    Replicated {
        /// The last sequence number of the run's journal the backup holds without a gap.
        have: u64,
    },
}

impl ControlReply {
    /// The reply's wire tag (for messages naming an unexpected reply).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Slot { .. } => "slot",
            Self::Tasks { .. } => "tasks",
            Self::Checkpointed { .. } => "checkpointed",
            Self::Run { .. } => "run",
            Self::NoRun => "no_run",
            Self::Replicated { .. } => "replicated",
        }
    }
}

/// A workflow task that can run on any node: an agent kind, its config and the input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoteTask {
    /// Idempotency key (`run/task/attempt`); results are applied once per key.
    #[serde(rename = "key")]
    pub key: String,
    /// The pool's agent kind.
    #[serde(rename = "kind")]
    pub kind: String,
    /// The pool's agent config.
    #[serde(rename = "config")]
    pub config: Value,
    /// The task input.
    #[serde(rename = "input")]
    pub input: Value,
    /// The deadline of one attempt, in milliseconds.
    #[serde(rename = "timeout_ms")]
    pub timeout_ms: Option<u64>,
    /// An agent whose state the task works on: thieves on whose node it is active are
    /// preferred.
    #[serde(rename = "affinity", default)]
    pub affinity: Option<AgentId>,
    /// What the task's pool needs of the node that runs it (absent: nothing); only a node
    /// whose declared resources hold it runs the task.
    #[serde(rename = "need", default, skip_serializing_if = "Option::is_none")]
    pub need: Option<crate::packing::Need>,
    /// The task's priority, 0–9: queues serve (and victims hand to thieves) higher ones
    /// first. Absent from older peers: the default priority.
    #[serde(rename = "priority", default = "default_priority")]
    pub priority: u8,
    /// The tenant of the run the task belongs to: a node's queue lets tenants take turns.
    #[serde(rename = "tenant", default)]
    pub tenant: Option<String>,
}

fn default_priority() -> u8 {
    troupe_runtime::workflow::DEFAULT_PRIORITY
}

/// A call error as it crosses the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "e")]
#[non_exhaustive]
pub enum WireError {
    /// The agent did not answer in time.
    #[serde(rename = "timeout")]
    #[error("no reply within {after_ms} ms")]
    Timeout {
        /// The deadline, in milliseconds.
        after_ms: u64,
    },
    /// The agent crashed while handling the request.
    #[serde(rename = "agent_failed")]
    #[error("agent failed while handling the request")]
    AgentFailed,
    /// The agent is not running.
    #[serde(rename = "agent_stopped")]
    #[error("agent is not running")]
    AgentStopped,
    /// No such agent, and it could not be activated.
    #[serde(rename = "no_such_agent")]
    #[error("no such agent")]
    NoSuchAgent,
    /// The agent's handler answered with an error.
    #[serde(rename = "rejected")]
    #[error("{error}")]
    Rejected {
        /// What the handler said.
        error: AgentError,
    },
    /// The request did not fit the agent.
    #[serde(rename = "bad_request")]
    #[error("bad request: {reason}")]
    BadRequest {
        /// What did not fit.
        reason: String,
    },
    /// The agent could not be started.
    #[serde(rename = "activation")]
    #[error("activation failed: {reason}")]
    Activation {
        /// Why.
        reason: String,
    },
    /// The node that was to answer is down (or its session went away before it answered).
    #[serde(rename = "node_down")]
    #[error("node {node} is down")]
    NodeDown {
        /// The node.
        node: NodeName,
    },
    /// The node is shutting down.
    #[serde(rename = "shutting_down")]
    #[error("node {node} is shutting down")]
    ShuttingDown {
        /// The node.
        node: NodeName,
    },
    /// A move's target is not a live member.
    #[serde(rename = "not_member")]
    #[error("node {node} is not a live member")]
    NotMember {
        /// The target.
        node: NodeName,
    },
    /// The agent is moving (migrating, passivating, stopping): try again.
    #[serde(rename = "moving")]
    #[error("agent {agent} is moving; try again")]
    Moving {
        /// The agent.
        agent: AgentId,
    },
    /// The request was forwarded too many times without reaching its agent (it moves faster
    /// than calls chase it).
    #[serde(rename = "too_many_hops")]
    #[error("forwarded {hops} times without reaching the agent")]
    TooManyHops {
        /// The forwards so far.
        hops: u8,
    },
    /// No live node can hold the agent's checkpoint.
    #[serde(rename = "no_backup")]
    #[error("no live node to hold a checkpoint")]
    NoBackup,
    /// A node answered with a reply of the wrong kind.
    #[serde(rename = "unexpected_reply")]
    #[error("node {node} answered {request} with {got}")]
    UnexpectedReply {
        /// The node.
        node: NodeName,
        /// What was asked (`a call`, `a control request`, `a checkpoint request`).
        request: String,
        /// What came back.
        got: String,
    },
    /// The node serves no runs (it was started without a run store).
    #[serde(rename = "no_run_service")]
    #[error("node {node} does not host runs")]
    NoRunService {
        /// The node.
        node: NodeName,
    },
    /// The node's run service refused the request (a definition that is not valid, a store
    /// that failed).
    #[serde(rename = "run_refused")]
    #[error("node {node} refused the run request: {reason}")]
    RunRefused {
        /// The node.
        node: NodeName,
        /// What its service said.
        reason: String,
    },
    /// The node could not serve the request for another reason (the transport's, a task
    /// dropped).
    #[serde(rename = "unavailable")]
    #[error("unavailable: {reason}")]
    Unavailable {
        /// Why.
        reason: String,
    },
    /// A run's replica refused a write: a higher ownership epoch owns the run (the fencing
    /// rule of [`crate::replica`]); the writer must stop driving it.
    #[serde(rename = "fenced")]
    #[error("node {node}: run {run} is owned by epoch {owner} now")]
    Fenced {
        /// The refusing node.
        node: NodeName,
        /// The run.
        run: String,
        /// The owning epoch.
        owner: crate::replica::Epoch,
    },
}

impl WireError {
    /// The wire form of a local call error.
    pub fn from_call(error: &CallError) -> Self {
        match error {
            CallError::Timeout { after, .. } => Self::Timeout {
                after_ms: after.as_millis() as u64,
            },
            CallError::AgentFailed { .. } => Self::AgentFailed,
            CallError::AgentStopped { .. } => Self::AgentStopped,
            CallError::NoSuchAgent { .. } => Self::NoSuchAgent,
            CallError::Rejected { error, .. } => Self::Rejected {
                error: error.clone(),
            },
            CallError::BadRequest { reason, .. } => Self::BadRequest {
                reason: reason.clone(),
            },
            other => Self::Unavailable {
                reason: other.to_string(),
            },
        }
    }

    /// The local call error this wire error stands for, where there is one.
    pub fn to_call(&self, agent: &AgentId) -> Option<CallError> {
        let agent = agent.clone();
        Some(match self {
            Self::Timeout { after_ms } => CallError::Timeout {
                agent,
                after: Duration::from_millis(*after_ms),
            },
            Self::AgentFailed => CallError::AgentFailed { agent },
            Self::AgentStopped => CallError::AgentStopped { agent },
            Self::NoSuchAgent => CallError::NoSuchAgent { agent },
            Self::Rejected { error } => CallError::Rejected {
                agent,
                error: error.clone(),
            },
            Self::BadRequest { reason } => CallError::BadRequest {
                agent,
                reason: reason.clone(),
            },
            _ => return None,
        })
    }
}

/// Why a frame from the network was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not a valid frame.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// Written by an incompatible version.
    #[error("frame version {0} is not supported (this node speaks {WIRE_VERSION})")]
    UnsupportedVersion(u8),
}

fn encode_frame(version: u8, from: &NodeName, to: &NodeName, msgs: &[Msg]) -> Vec<u8> {
    let frame = FrameRef {
        version,
        from,
        to,
        msgs,
    };
    // Sized up front: a frame carrying a snapshot would otherwise grow (and copy) its buffer
    // a dozen times on the way to a megabyte.
    let size: usize = msgs.iter().map(Msg::approx_size).sum();
    let mut buf = Vec::with_capacity(64 + size);
    rmp_serde::encode::write_named(&mut buf, &frame).expect("frames always encode");
    buf
}

/// A [`Frame`] by reference: the same fields, names and bytes, without owning the messages.
#[derive(Serialize)]
struct FrameRef<'a> {
    #[serde(rename = "v")]
    version: u8,
    #[serde(rename = "from")]
    from: &'a NodeName,
    #[serde(rename = "to")]
    to: &'a NodeName,
    #[serde(rename = "msgs")]
    msgs: &'a [Msg],
}

impl Frame {
    /// Encodes the frame (named fields).
    pub fn encode(&self) -> Vec<u8> {
        encode_frame(self.version, &self.from, &self.to, &self.msgs)
    }

    /// Encodes a [`WIRE_VERSION`] frame of `msgs` from `from` to `to` without building a
    /// [`Frame`] (the same bytes as [`Frame::encode`]), so that a long queue can be cut into
    /// frames without moving its messages.
    pub fn encode_parts(from: &NodeName, to: &NodeName, msgs: &[Msg]) -> Vec<u8> {
        encode_frame(WIRE_VERSION, from, to, msgs)
    }

    /// Decodes and checks a frame from the network.
    pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge(bytes.len()));
        }
        let frame: Frame =
            rmp_serde::from_slice(bytes).map_err(|e| FrameError::Malformed(e.to_string()))?;
        if frame.version != WIRE_VERSION {
            return Err(FrameError::UnsupportedVersion(frame.version));
        }
        for msg in &frame.msgs {
            if let Msg::Registry { delta, .. } = msg {
                delta
                    .validate()
                    .map_err(|v| FrameError::UnsupportedVersion(v.0))?;
            }
        }
        Ok(frame)
    }
}

/// Snapshots as msgpack binary rather than arrays of integers.
mod serde_bytes_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_some(&Bytes(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let v: Option<ByteBuf> = Option::deserialize(d)?;
        Ok(v.map(|b| b.0))
    }

    struct Bytes<'a>(&'a [u8]);
    impl serde::Serialize for Bytes<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    struct ByteBuf(Vec<u8>);
    impl<'de> Deserialize<'de> for ByteBuf {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = ByteBuf;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                    Ok(ByteBuf(v.to_vec()))
                }
                fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                    Ok(ByteBuf(v))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<ByteBuf, A::Error> {
                    let mut out = Vec::new();
                    while let Some(b) = seq.next_element::<u8>()? {
                        out.push(b);
                    }
                    Ok(ByteBuf(out))
                }
            }
            d.deserialize_any(V)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frame() -> Frame {
        Frame {
            version: WIRE_VERSION,
            from: "a".into(),
            to: "b".into(),
            msgs: vec![
                Msg::Call {
                    id: 7,
                    agent: AgentId::new("counter"),
                    kind: Some("util.counter".into()),
                    body: json!({"add": 2}),
                    hops: 0,
                    timeout_ms: Some(500),
                },
                Msg::Reply {
                    id: 7,
                    result: Err(WireError::Rejected {
                        error: AgentError::transient("busy"),
                    }),
                },
                Msg::Replica {
                    record: AgentRecord {
                        agent: AgentId::new("x"),
                        kind: "k".into(),
                        config: Value::Null,
                        snapshot: Some(vec![1, 2, 3]),
                        version: 4,
                        movable: true,
                    },
                },
            ],
        }
    }

    #[test]
    fn frames_round_trip() {
        let f = frame();
        assert_eq!(Frame::decode(&f.encode()).unwrap(), f);
    }

    #[test]
    fn a_frame_encoded_from_its_parts_is_the_same_bytes() {
        let f = frame();
        assert_eq!(Frame::encode_parts(&f.from, &f.to, &f.msgs), f.encode());
        assert_eq!(
            Frame::decode(&Frame::encode_parts(&f.from, &f.to, &f.msgs[1..])).unwrap(),
            Frame {
                msgs: f.msgs[1..].to_vec(),
                ..f.clone()
            }
        );
    }

    #[test]
    fn the_encoding_names_fields_and_tags() {
        let bytes = frame().encode();
        let text = String::from_utf8_lossy(&bytes);
        for name in ["msgs", "call", "reply", "rejected", "replica", "snapshot"] {
            assert!(text.contains(name), "{name} missing from the wire form");
        }
    }

    #[test]
    fn bad_frames_get_typed_errors() {
        assert!(matches!(
            Frame::decode(b"\x93garbage"),
            Err(FrameError::Malformed(_))
        ));
        let mut f = frame();
        f.version = 9;
        assert_eq!(
            Frame::decode(&f.encode()),
            Err(FrameError::UnsupportedVersion(9))
        );
        let bytes = frame().encode();
        for cut in 0..bytes.len() {
            assert!(Frame::decode(&bytes[..cut]).is_err());
        }
    }

    fn control_replies() -> Vec<Msg> {
        let stamp = crate::registry::Timestamp::new(
            crate::registry::NTP64(7),
            crate::registry::ClockId::try_from([1u8; 16]).unwrap(),
        );
        let slot = Slot {
            node: "b".into(),
            incarnation: 3,
            version: 2,
            state: crate::registry::SlotState::Active,
            stamp,
        };
        let task = RemoteTask {
            key: "run/t/1".into(),
            kind: "k".into(),
            config: Value::Null,
            input: json!(1),
            timeout_ms: None,
            affinity: None,
            need: None,
            priority: 5,
            tenant: None,
        };
        vec![
            Msg::ControlReply {
                id: 1,
                result: Ok(ControlReply::Done),
            },
            Msg::ControlReply {
                id: 2,
                result: Ok(ControlReply::Slot { slot: Some(slot) }),
            },
            Msg::ControlReply {
                id: 3,
                result: Ok(ControlReply::Slot { slot: None }),
            },
            Msg::ControlReply {
                id: 4,
                result: Ok(ControlReply::Tasks { tasks: vec![task] }),
            },
            Msg::ControlReply {
                id: 5,
                result: Ok(ControlReply::Checkpointed { version: 9 }),
            },
            Msg::ControlReply {
                id: 6,
                result: Err(WireError::NoSuchAgent),
            },
        ]
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn control_replies_round_trip_and_their_encoding_is_pinned() {
        for msg in control_replies() {
            let bytes = rmp_serde::to_vec_named(&msg).unwrap();
            let back: Msg = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!(back, msg);
        }
        // The exact bytes of a few replies: a change here is a wire-format change (bump
        // WIRE_VERSION). Tags and fields are explicit names, never Rust type names.
        let pinned = |msg: &Msg| hex(&rmp_serde::to_vec_named(msg).unwrap());
        let replies = control_replies();
        assert_eq!(pinned(&replies[0]), PINNED_DONE);
        assert_eq!(pinned(&replies[4]), PINNED_CHECKPOINTED);
        assert_eq!(pinned(&replies[5]), PINNED_ERROR);
        let text =
            String::from_utf8_lossy(&rmp_serde::to_vec_named(&replies[3]).unwrap()).into_owned();
        for name in ["control_reply", "reply", "tasks", "key", "run/t/1", "Ok"] {
            assert!(text.contains(name), "{name} missing from {text:?}");
        }
    }

    const PINNED_DONE: &str =
        "81ad636f6e74726f6c5f7265706c7982a2696401a6726573756c7481a24f6b81a57265706c79a4646f6e65";
    const PINNED_CHECKPOINTED: &str =
        "81ad636f6e74726f6c5f7265706c7982a2696405a6726573756c7481a24f6b82a57265706c79ac636865636b706f696e746564a776657273696f6e09";
    const PINNED_ERROR: &str =
        "81ad636f6e74726f6c5f7265706c7982a2696406a6726573756c7481a345727281a165ad6e6f5f737563685f6167656e74";

    #[test]
    fn unavailability_causes_cross_the_wire_typed_and_tagged_by_name() {
        let agent = AgentId::new("a");
        let cases = [
            (WireError::NodeDown { node: "b".into() }, "node_down"),
            (
                WireError::ShuttingDown { node: "b".into() },
                "shutting_down",
            ),
            (WireError::NotMember { node: "b".into() }, "not_member"),
            (
                WireError::Moving {
                    agent: agent.clone(),
                },
                "moving",
            ),
            (WireError::TooManyHops { hops: 8 }, "too_many_hops"),
            (WireError::NoBackup, "no_backup"),
            (
                WireError::UnexpectedReply {
                    node: "b".into(),
                    request: "a call".into(),
                    got: "an agent reply".into(),
                },
                "unexpected_reply",
            ),
        ];
        for (error, tag) in cases {
            let bytes = rmp_serde::to_vec_named(&error).unwrap();
            assert!(String::from_utf8_lossy(&bytes).contains(tag), "{tag}");
            let back: WireError = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!(back, error);
            assert!(
                back.to_call(&agent).is_none(),
                "{tag} is the node's, not the agent's"
            );
        }
        assert_eq!(
            WireError::TooManyHops { hops: 8 }.to_string(),
            "forwarded 8 times without reaching the agent"
        );
    }

    #[test]
    fn call_errors_survive_the_wire() {
        let agent = AgentId::new("a");
        let e = CallError::Rejected {
            agent: agent.clone(),
            error: AgentError::permanent("no"),
        };
        let back = WireError::from_call(&e).to_call(&agent).unwrap();
        assert_eq!(back.class(), e.class());
    }
}
