//! The membership wire format: a pure, versioned codec for foca's messages.
//!
//! A datagram is `[MAGIC, WIRE_VERSION]`, the message header, then (for messages that carry
//! them) a big-endian `u16` count and that many member updates — foca's own framing. Header and
//! updates are MessagePack arrays whose layout is fixed here, field by field, with numeric
//! message and state tags: no Rust type or variant name reaches the wire (invariant 4), so a
//! rename in foca or in this crate never changes the format. Addresses travel as their string
//! form. Changing a layout means bumping [`WIRE_VERSION`].
//!
//! An announce to a seed whose name is not known yet is addressed to an identity with an empty
//! name (see [`NodeIdentity::unknown_at`]); [`WireCodec`] reads that as "this node" on the
//! receiving side, and accepts an empty name nowhere else.

use std::net::SocketAddr;

use bytes::{Buf, BufMut};
use foca::{Header, Member, Message, State};

use super::identity::{NodeIdentity, NodeMeta};
use crate::registry::NodeName;

/// First byte of every membership datagram.
pub const MAGIC: u8 = 0xA7;
/// Version of the membership wire format this build speaks (2 added the identity's
/// declared resources).
pub const WIRE_VERSION: u8 = 2;

const PING: u8 = 1;
const ACK: u8 = 2;
const PING_REQ: u8 = 3;
const INDIRECT_PING: u8 = 4;
const INDIRECT_ACK: u8 = 5;
const FORWARDED_ACK: u8 = 6;
const ANNOUNCE: u8 = 7;
const FEED: u8 = 8;
const GOSSIP: u8 = 9;
const TURN_UNDEAD: u8 = 10;

const ALIVE: u8 = 1;
const SUSPECT: u8 = 2;
const DOWN: u8 = 3;

/// Why bytes could not be read (or written) as a membership message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The datagram is too short to hold even the prefix.
    #[error("datagram too short for a membership header")]
    Truncated,
    /// The first byte is not [`MAGIC`]: not a membership datagram.
    #[error("not a membership datagram (first byte {0:#04x})")]
    BadMagic(u8),
    /// A wire version this build does not speak.
    #[error("unsupported membership wire version {found} (this node speaks {supported})")]
    UnsupportedVersion {
        /// The version in the datagram.
        found: u8,
        /// [`WIRE_VERSION`].
        supported: u8,
    },
    /// A message tag this build does not know.
    #[error("unknown membership message kind {0}")]
    UnknownKind(u8),
    /// Well-formed MessagePack with a value the protocol forbids.
    #[error("invalid membership message: {0}")]
    Invalid(String),
    /// Not the expected MessagePack layout (includes truncation inside an item).
    #[error("undecodable membership message: {0}")]
    Decode(String),
    /// Bytes left over after the last item.
    #[error("{0} unexpected trailing bytes in membership datagram")]
    Trailing(usize),
    /// A value could not be encoded.
    #[error("cannot encode membership message: {0}")]
    Encode(String),
    /// The item does not fit in what is left of the datagram.
    #[error("membership item of {needed} bytes does not fit the {left} bytes left")]
    NoSpace {
        /// Encoded size of the item.
        needed: usize,
        /// Room left in the datagram.
        left: usize,
    },
}

/// Identity as it travels: (name, gossip, transport, incarnation, capacity, kinds).
/// Resources: (cpu millicores, memory bytes, flags).
type WireResources = Option<(u64, u64, Vec<String>)>;
type WireIdentity = (
    String,
    String,
    String,
    u64,
    u32,
    Option<Vec<String>>,
    WireResources,
);
type WireIdentityRef<'a> = (
    &'a str,
    String,
    String,
    u64,
    u32,
    &'a Option<Vec<String>>,
    WireResources,
);
/// Header: (kind, src, src foca incarnation, dst, probe number, peer of indirect messages).
type WireHeader = (
    u8,
    WireIdentity,
    u16,
    WireIdentity,
    u8,
    Option<WireIdentity>,
);

/// foca's [`foca::Codec`] for [`NodeIdentity`], over the pure functions of this module.
#[derive(Debug, Clone)]
pub(crate) struct WireCodec {
    /// This node's name, substituted for the empty name of an announce to an unknown seed.
    local: NodeName,
}

impl WireCodec {
    pub(crate) fn new(local: NodeName) -> Self {
        Self { local }
    }
}

impl foca::Codec<NodeIdentity> for WireCodec {
    type Error = CodecError;

    fn encode_header(
        &mut self,
        header: &Header<NodeIdentity>,
        buf: impl BufMut,
    ) -> Result<(), CodecError> {
        put_all(buf, &encode_header(header)?)
    }

    fn decode_header(&mut self, mut buf: impl Buf) -> Result<Header<NodeIdentity>, CodecError> {
        let chunk = buf.chunk();
        let mut rest = chunk;
        let mut header = decode_header(&mut rest)?;
        let used = chunk.len() - rest.len();
        buf.advance(used);
        if header.dst.is_unknown() {
            header.dst.name = self.local.clone();
        }
        Ok(header)
    }

    fn encode_member(
        &mut self,
        member: &Member<NodeIdentity>,
        buf: impl BufMut,
    ) -> Result<(), CodecError> {
        put_all(buf, &encode_member(member)?)
    }

    fn decode_member(&mut self, mut buf: impl Buf) -> Result<Member<NodeIdentity>, CodecError> {
        let chunk = buf.chunk();
        let mut rest = chunk;
        let member = decode_member(&mut rest)?;
        let used = chunk.len() - rest.len();
        buf.advance(used);
        Ok(member)
    }
}

/// Writes `bytes` whole or not at all (foca requires a clean buffer when an item does not fit).
fn put_all(mut buf: impl BufMut, bytes: &[u8]) -> Result<(), CodecError> {
    if buf.remaining_mut() < bytes.len() {
        return Err(CodecError::NoSpace {
            needed: bytes.len(),
            left: buf.remaining_mut(),
        });
    }
    buf.put_slice(bytes);
    Ok(())
}

fn to_wire(id: &NodeIdentity) -> WireIdentityRef<'_> {
    (
        id.name.as_str(),
        id.gossip.to_string(),
        id.transport.to_string(),
        id.incarnation,
        id.meta.capacity,
        &id.meta.kinds,
        id.meta.resources.as_ref().map(|r| {
            (
                r.cpu_millis,
                r.memory_bytes,
                r.flags.iter().cloned().collect(),
            )
        }),
    )
}

fn from_wire(wire: WireIdentity, may_be_unknown: bool) -> Result<NodeIdentity, CodecError> {
    let (name, gossip, transport, incarnation, capacity, kinds, resources) = wire;
    let resources =
        resources.map(
            |(cpu_millis, memory_bytes, flags)| crate::packing::NodeResources {
                cpu_millis,
                memory_bytes,
                flags: flags.into_iter().collect(),
            },
        );
    let addr = |s: &str| {
        s.parse::<SocketAddr>()
            .map_err(|_| CodecError::Invalid(format!("bad socket address {s:?}")))
    };
    let id = NodeIdentity {
        name: NodeName::new(name),
        gossip: addr(&gossip)?,
        transport: addr(&transport)?,
        incarnation,
        meta: NodeMeta {
            capacity,
            kinds,
            resources,
        },
    };
    if !(may_be_unknown && id.is_unknown()) {
        id.validate()
            .map_err(|e| CodecError::Invalid(e.to_string()))?;
    }
    Ok(id)
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    rmp_serde::to_vec(value).map_err(|e| CodecError::Encode(e.to_string()))
}

fn decode<T: serde::de::DeserializeOwned>(rest: &mut &[u8]) -> Result<T, CodecError> {
    rmp_serde::from_read(rest).map_err(|e| CodecError::Decode(e.to_string()))
}

/// Encodes a header with the datagram prefix.
pub(crate) fn encode_header(header: &Header<NodeIdentity>) -> Result<Vec<u8>, CodecError> {
    let (kind, probe, peer) = match &header.message {
        Message::Ping(n) => (PING, *n, None),
        Message::Ack(n) => (ACK, *n, None),
        Message::PingReq {
            target,
            probe_number,
        } => (PING_REQ, *probe_number, Some(target)),
        Message::IndirectPing {
            origin,
            probe_number,
        } => (INDIRECT_PING, *probe_number, Some(origin)),
        Message::IndirectAck {
            target,
            probe_number,
        } => (INDIRECT_ACK, *probe_number, Some(target)),
        Message::ForwardedAck {
            origin,
            probe_number,
        } => (FORWARDED_ACK, *probe_number, Some(origin)),
        Message::Announce => (ANNOUNCE, 0, None),
        Message::Feed => (FEED, 0, None),
        Message::Gossip => (GOSSIP, 0, None),
        Message::TurnUndead => (TURN_UNDEAD, 0, None),
        Message::Broadcast => {
            return Err(CodecError::Encode("custom broadcasts are not used".into()))
        }
    };
    let wire = (
        kind,
        to_wire(&header.src),
        header.src_incarnation,
        to_wire(&header.dst),
        probe,
        peer.map(to_wire),
    );
    let mut out = vec![MAGIC, WIRE_VERSION];
    out.extend(encode(&wire)?);
    Ok(out)
}

/// Decodes a header (prefix included) from the front of `rest`, advancing it. The empty-name
/// destination of an announce to an unknown seed is returned as is.
pub(crate) fn decode_header(rest: &mut &[u8]) -> Result<Header<NodeIdentity>, CodecError> {
    match **rest {
        [] | [_] => return Err(CodecError::Truncated),
        [magic, ..] if magic != MAGIC => return Err(CodecError::BadMagic(magic)),
        [_, version, ..] if version != WIRE_VERSION => {
            return Err(CodecError::UnsupportedVersion {
                found: version,
                supported: WIRE_VERSION,
            })
        }
        _ => *rest = &rest[2..],
    }
    let (kind, src, src_incarnation, dst, probe, peer): WireHeader = decode(rest)?;
    let src = from_wire(src, false)?;
    let dst = from_wire(dst, kind == ANNOUNCE)?;
    let peer = peer.map(|p| from_wire(p, false)).transpose()?;
    let message = match (kind, peer) {
        (PING, None) => Message::Ping(probe),
        (ACK, None) => Message::Ack(probe),
        (PING_REQ, Some(target)) => Message::PingReq {
            target,
            probe_number: probe,
        },
        (INDIRECT_PING, Some(origin)) => Message::IndirectPing {
            origin,
            probe_number: probe,
        },
        (INDIRECT_ACK, Some(target)) => Message::IndirectAck {
            target,
            probe_number: probe,
        },
        (FORWARDED_ACK, Some(origin)) => Message::ForwardedAck {
            origin,
            probe_number: probe,
        },
        (ANNOUNCE, None) => Message::Announce,
        (FEED, None) => Message::Feed,
        (GOSSIP, None) => Message::Gossip,
        (TURN_UNDEAD, None) => Message::TurnUndead,
        (kind, _) if !(PING..=TURN_UNDEAD).contains(&kind) => {
            return Err(CodecError::UnknownKind(kind))
        }
        (kind, peer) => {
            return Err(CodecError::Invalid(format!(
                "message kind {kind} {} a peer identity",
                if peer.is_some() {
                    "must not carry"
                } else {
                    "needs"
                }
            )))
        }
    };
    Ok(Header {
        src,
        src_incarnation,
        dst,
        message,
    })
}

/// Encodes one member update.
pub(crate) fn encode_member(member: &Member<NodeIdentity>) -> Result<Vec<u8>, CodecError> {
    let state = match member.state() {
        State::Alive => ALIVE,
        State::Suspect => SUSPECT,
        State::Down => DOWN,
    };
    encode(&(to_wire(member.id()), member.incarnation(), state))
}

/// Decodes one member update from the front of `rest`, advancing it.
pub(crate) fn decode_member(rest: &mut &[u8]) -> Result<Member<NodeIdentity>, CodecError> {
    let (id, incarnation, state): (WireIdentity, u16, u8) = decode(rest)?;
    let state = match state {
        ALIVE => State::Alive,
        SUSPECT => State::Suspect,
        DOWN => State::Down,
        other => return Err(CodecError::Invalid(format!("unknown member state {other}"))),
    };
    Ok(Member::new(from_wire(id, false)?, incarnation, state))
}

/// Checks a whole datagram the way foca will read it — header, update count, updates, nothing
/// after — so that a malformed datagram is rejected before it can change any state. Public for
/// the fuzz targets (fuzz/): every received datagram goes through it first.
pub fn check_datagram(bytes: &[u8]) -> Result<(), CodecError> {
    let mut rest = bytes;
    let header = decode_header(&mut rest)?;
    if rest.is_empty() {
        return Ok(());
    }
    if header.message == Message::Announce || rest.len() < 2 {
        return Err(CodecError::Trailing(rest.len()));
    }
    let count = u16::from_be_bytes([rest[0], rest[1]]);
    rest = &rest[2..];
    for _ in 0..count {
        decode_member(&mut rest)?;
    }
    match rest.len() {
        0 => Ok(()),
        n => Err(CodecError::Trailing(n)),
    }
}

/// Encoded size of an identity, to check it leaves room in a datagram.
pub(crate) fn identity_len(id: &NodeIdentity) -> usize {
    encode(&to_wire(id)).map_or(usize::MAX, |b| b.len())
}
