//! The wire format and bad input: round trips, explicit tags, and malformed datagrams that
//! must be refused with a typed error without changing anything.

use std::net::SocketAddr;

use foca::{Header, Member, Message, State};

use crate::membership::codec::{self, CodecError, MAGIC, WIRE_VERSION};
use crate::membership::{
    MemberEvent, Membership, MembershipConfig, MembershipError, NodeIdentity, NodeMeta, Outbox,
};

fn id(name: &str, port: u16) -> NodeIdentity {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    NodeIdentity::new(name, addr, SocketAddr::from(([127, 0, 0, 1], port + 1000)))
}

fn header(message: Message<NodeIdentity>) -> Header<NodeIdentity> {
    Header {
        src: id("a", 7000).with_meta(NodeMeta {
            capacity: 3,
            kinds: Some(vec!["echo".into()]),
            resources: Some(crate::packing::NodeResources::parse("cpu=2,flags=gpu").unwrap()),
        }),
        src_incarnation: 7,
        dst: id("b", 7001).with_incarnation(u64::MAX),
        message,
    }
}

#[test]
fn every_message_kind_round_trips() {
    let peer = id("c", 7002);
    let messages = [
        Message::Ping(1),
        Message::Ack(2),
        Message::PingReq {
            target: peer.clone(),
            probe_number: 3,
        },
        Message::IndirectPing {
            origin: peer.clone(),
            probe_number: 4,
        },
        Message::IndirectAck {
            target: peer.clone(),
            probe_number: 5,
        },
        Message::ForwardedAck {
            origin: peer,
            probe_number: 6,
        },
        Message::Announce,
        Message::Feed,
        Message::Gossip,
        Message::TurnUndead,
    ];
    for message in messages {
        let header = header(message);
        let bytes = codec::encode_header(&header).unwrap();
        assert_eq!(&bytes[..2], &[MAGIC, WIRE_VERSION]);
        let mut rest = bytes.as_slice();
        assert_eq!(codec::decode_header(&mut rest).unwrap(), header);
        assert!(rest.is_empty(), "decode must consume exactly one header");
    }
    assert!(codec::encode_header(&header(Message::Broadcast)).is_err());
}

#[test]
fn members_round_trip_back_to_back() {
    let members = [
        Member::new(id("a", 7000), 0, State::Alive),
        Member::new(id("b", 7001), 9, State::Suspect),
        Member::new(id("c", 7002), u16::MAX, State::Down),
    ];
    let bytes: Vec<u8> = members
        .iter()
        .flat_map(|m| codec::encode_member(m).unwrap())
        .collect();
    let mut rest = bytes.as_slice();
    for member in &members {
        assert_eq!(&codec::decode_member(&mut rest).unwrap(), member);
    }
    assert!(rest.is_empty());
}

#[test]
fn tags_are_explicit_numbers() {
    let src = (
        "a",
        "127.0.0.1:1",
        "127.0.0.1:2",
        0u64,
        1u32,
        None::<Vec<String>>,
        None::<(u64, u64, Vec<String>)>,
    );
    let mut kind_42 = vec![MAGIC, WIRE_VERSION];
    kind_42.extend(
        rmp_serde::to_vec(&(42u8, src.clone(), 0u16, src.clone(), 0u8, None::<()>)).unwrap(),
    );
    assert_eq!(
        codec::decode_header(&mut kind_42.as_slice()),
        Err(CodecError::UnknownKind(42))
    );

    let mut ping_req_without_target = vec![MAGIC, WIRE_VERSION];
    ping_req_without_target
        .extend(rmp_serde::to_vec(&(3u8, src.clone(), 0u16, src, 0u8, None::<()>)).unwrap());
    assert!(matches!(
        codec::decode_header(&mut ping_req_without_target.as_slice()),
        Err(CodecError::Invalid(_))
    ));
}

#[test]
fn an_empty_name_is_accepted_only_as_the_destination_of_an_announce() {
    let mut announce = header(Message::Announce);
    announce.dst = NodeIdentity::unknown_at(announce.dst.gossip);
    let bytes = codec::encode_header(&announce).unwrap();
    assert!(codec::decode_header(&mut bytes.as_slice())
        .unwrap()
        .dst
        .is_unknown());

    let mut ping = announce.clone();
    ping.message = Message::Ping(1);
    let bytes = codec::encode_header(&ping).unwrap();
    assert!(matches!(
        codec::decode_header(&mut bytes.as_slice()),
        Err(CodecError::Invalid(_))
    ));
}

/// `b` joins through `a` (which already knows `c`): returns `b` before it has handled `a`'s
/// reply, and that reply (a Feed carrying a member list).
fn feed_to_a_joiner() -> (Membership, Vec<u8>) {
    let cfg = MembershipConfig::lan;
    let mut a = Membership::new(id("a", 7000), cfg(), 1).unwrap();
    let mut c = Membership::new(id("c", 7002), cfg(), 3).unwrap();
    let mut b = Membership::new(id("b", 7001), cfg(), 2).unwrap();
    let mut out = Outbox::default();
    c.join(&[a.identity().gossip], &mut out);
    a.handle_datagram(&out.sends[0].1, &mut Outbox::default())
        .unwrap();
    let mut out = Outbox::default();
    b.join(&[a.identity().gossip], &mut out);
    let mut reply = Outbox::default();
    a.handle_datagram(&out.sends[0].1, &mut reply).unwrap();
    let (to, feed) = reply.sends.pop().expect("a replies to an announce");
    assert_eq!(to, b.identity().gossip);
    (b, feed)
}

#[track_caller]
fn assert_refused(m: &mut Membership, bytes: &[u8]) -> MembershipError {
    let mut out = Outbox::default();
    let error = m
        .handle_datagram(bytes, &mut out)
        .expect_err("bad datagram accepted");
    assert!(
        out.is_empty(),
        "a refused datagram produced output: {out:?}"
    );
    assert!(
        m.members().is_empty(),
        "a refused datagram changed the view"
    );
    error
}

#[test]
fn truncated_datagrams_are_refused_and_change_nothing() {
    let (mut b, feed) = feed_to_a_joiner();
    let header_len = {
        let mut rest = feed.as_slice();
        codec::decode_header(&mut rest).unwrap();
        feed.len() - rest.len()
    };
    assert!(feed.len() > header_len + 2, "the feed should carry members");
    // A bare header is a complete message (with no updates); every other cut is not.
    for cut in (0..feed.len()).filter(|&cut| cut != header_len) {
        let error = assert_refused(&mut b, &feed[..cut]);
        assert!(
            matches!(error, MembershipError::Malformed(_)),
            "cut {cut}: {error}"
        );
    }
    let mut trailing = feed.clone();
    trailing.extend([0xc0, 0xc0, 0xc0]);
    let error = assert_refused(&mut b, &trailing);
    assert!(
        matches!(error, MembershipError::Malformed(CodecError::Trailing(3))),
        "{error}"
    );

    let mut out = Outbox::default();
    b.handle_datagram(&feed, &mut out).unwrap();
    let names: Vec<_> = out
        .events
        .iter()
        .map(|e| e.identity().name.to_string())
        .collect();
    assert_eq!(names, ["a", "c"]);
    assert!(out.events.iter().all(|e| matches!(e, MemberEvent::Up(_))));
}

#[test]
fn garbage_wrong_versions_and_oversized_datagrams_are_refused() {
    let (mut b, feed) = feed_to_a_joiner();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for len in 0..300 {
        let garbage: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        assert_refused(&mut b, &garbage);
        let mut prefixed = vec![MAGIC, WIRE_VERSION];
        prefixed.extend(&garbage);
        assert_refused(&mut b, &prefixed);
    }
    let mut wrong_magic = feed.clone();
    wrong_magic[0] = 0x00;
    let error = assert_refused(&mut b, &wrong_magic);
    assert!(
        matches!(error, MembershipError::Malformed(CodecError::BadMagic(0))),
        "{error}"
    );

    let mut future = feed.clone();
    future[1] = WIRE_VERSION + 1;
    let error = assert_refused(&mut b, &future);
    assert!(
        matches!(
            error,
            MembershipError::Malformed(CodecError::UnsupportedVersion { .. })
        ),
        "{error}"
    );

    let oversized = vec![MAGIC; MembershipConfig::lan().max_packet_size + 1];
    let error = assert_refused(&mut b, &oversized);
    assert!(matches!(error, MembershipError::TooLarge { .. }), "{error}");
}

#[test]
fn a_datagram_from_our_own_name_is_refused() {
    let (mut b, _) = feed_to_a_joiner();
    let mut spoof = header(Message::Ping(1));
    spoof.src = id("b", 9999);
    spoof.dst = b.identity().clone();
    let bytes = codec::encode_header(&spoof).unwrap();
    assert!(matches!(
        assert_refused(&mut b, &bytes),
        MembershipError::FromSelf
    ));
}

#[test]
fn identities_renew_upwards_and_the_incumbent_wins_ties() {
    use foca::Identity;
    let old = id("a", 7000);
    let renewed = old.renew().unwrap();
    assert_eq!(renewed.incarnation, old.incarnation + 1);
    assert_eq!(renewed.addr(), old.addr());
    assert!(renewed.win_addr_conflict(&old));
    assert!(!old.win_addr_conflict(&renewed));
    let restarted = id("a", 7100);
    assert!(
        old.win_addr_conflict(&restarted),
        "on a tie the known identity stays"
    );
    assert!(old.with_incarnation(u64::MAX).renew().is_none());
}

#[test]
fn invalid_identities_and_configs_are_refused() {
    let lan = MembershipConfig::lan;
    assert_eq!(lan().validate(), Ok(()));
    let empty_name = id("", 7000);
    assert!(matches!(
        Membership::new(empty_name, lan(), 0),
        Err(MembershipError::InvalidIdentity(_))
    ));
    let no_capacity = id("a", 7000).with_meta(NodeMeta {
        capacity: 0,
        kinds: None,
        resources: None,
    });
    assert!(Membership::new(no_capacity, lan(), 0).is_err());
    let huge = id("a", 7000).with_meta(NodeMeta {
        capacity: 1,
        kinds: Some(vec!["kind".repeat(20); 40]),
        resources: None,
    });
    assert!(matches!(
        Membership::new(huge, lan(), 0),
        Err(MembershipError::InvalidIdentity(_))
    ));
    let slow_rtt = MembershipConfig {
        probe_rtt: lan().probe_period,
        ..lan()
    };
    assert!(matches!(
        Membership::new(id("a", 7000), slow_rtt, 0),
        Err(MembershipError::InvalidConfig(_))
    ));
}
