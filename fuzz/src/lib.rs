//! What each fuzz target does with its input: decode it with the project's own decoders and
//! check what must hold. Shared by the libFuzzer targets (fuzz_targets/, nightly) and by the
//! stable test that replays every committed corpus file (tests/fuzz_corpus.rs in the root
//! crate includes this file), so both run exactly the same checks.
//!
//! A decoder may refuse its input with an error; it must never panic, hang or allocate without
//! bound, and what it accepts must survive its own encoding unchanged.

pub mod seeds;

use std::sync::Arc;

use troupe_agents::llm::decode::{decode_completion, StreamDecoder};
use troupe_cluster::membership::{check_datagram, Membership, MembershipConfig, NodeIdentity};
use troupe_cluster::wire::Frame;
use troupe_runtime::store::{JournalEntry, RunSnapshot, Timestamp};
use troupe_runtime::workflow::durable::{replay, snapshot_events};
use troupe_runtime::workflow::journal::JournalEvent;
use troupe_runtime::workflow::parse_workflow;
use troupe_runtime::{KindRegistry, RunId};

/// A target's check of one input.
pub type Check = fn(&[u8]);

/// Every target: its name (the folder of its corpus under fuzz/corpus/) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("frame", frame),
    ("membership_datagram", membership_datagram),
    ("workflow_file", workflow_file),
    ("api_bodies", api_bodies),
    ("llm_sse", llm_sse),
    ("llm_completion", llm_completion),
    ("store_records", store_records),
];

/// A cluster frame as a peer's gateway hands it over: decoded; what decodes re-encodes to a
/// frame that decodes to the same.
pub fn frame(data: &[u8]) {
    if let Ok(frame) = Frame::decode(data) {
        let again = Frame::decode(&frame.encode()).expect("a decoded frame re-encodes");
        assert_eq!(again, frame, "a frame changed through its own encoding");
    }
}

/// A membership datagram: checked by the codec, then handled by a real membership state
/// machine (foca behind it) that has joined a seed.
pub fn membership_datagram(data: &[u8]) {
    let checked = check_datagram(data);
    let identity = NodeIdentity::new(
        "fuzz",
        "127.0.0.1:7001".parse().expect("an address"),
        "127.0.0.1:7002".parse().expect("an address"),
    );
    let mut m = Membership::new(identity, MembershipConfig::lan(), 7).expect("a membership");
    let mut out = Default::default();
    m.join(&["127.0.0.1:7101".parse().expect("an address")], &mut out);
    let handled = m.handle_datagram(data, &mut out);
    if checked.is_err() {
        assert!(handled.is_err(), "a datagram the codec refuses was handled");
    }
}

/// A workflow file's text, as `troupe run FILE` and `POST /api/v1/workflows` read it.
pub fn workflow_file(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_workflow(text, "fuzz.yaml");
    }
}

/// The kinds `troupe serve` registers.
fn kinds() -> KindRegistry {
    let kinds = KindRegistry::new();
    troupe_agents::register_all(&kinds);
    troupe_patterns::register_all(&kinds);
    kinds
}

/// The request bodies of the API, as the handlers decode them; the first byte picks the call
/// (submit a definition, which is also planned; execute; signal).
pub fn api_bodies(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let refused = match which % 3 {
        0 => troupe_service::decode::workflow_definition(body, &kinds())
            .err()
            .map(|e| e.body()),
        1 => troupe_service::decode::execute_body(body)
            .err()
            .map(|e| e.body()),
        _ => troupe_service::decode::signal_body(body)
            .err()
            .map(|e| e.body()),
    };
    if let Some(body) = refused {
        let code = &body["error"]["code"];
        assert!(code.is_string(), "an error body without a code: {body}");
    }
}

/// A streamed chat-completions reply. The first byte sets the size of the reads the rest is
/// fed in: how the stream is cut into reads must not change what it decodes to.
pub fn llm_sse(data: &[u8]) {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut % 64) + 1;
    let whole = feed_stream(&[stream]);
    let pieces: Vec<&[u8]> = stream.chunks(cut).collect();
    let split = feed_stream(&pieces);
    assert_eq!(whole, split, "reads of {cut} bytes decode differently");
}

fn feed_stream(reads: &[&[u8]]) -> Result<(String, troupe_agents::llm::decode::Turn), String> {
    let mut decoder = StreamDecoder::default();
    let mut text = String::new();
    for read in reads {
        for delta in decoder.feed(read)? {
            text.push_str(&delta);
        }
    }
    Ok((text, decoder.into_turn()))
}

/// A whole chat-completions reply.
pub fn llm_completion(data: &[u8]) {
    let _ = decode_completion(data);
}

/// The durable workflow the store_records target replays decoded events against.
const REPLAY_WORKFLOW: &str = r#"
workflow:
  name: fuzz
  agents:
    a: { type: cmd.run, config: { program: echo } }
  tasks:
    - { id: one, agent: a, retry_policy: { max_attempts: 3, initial_backoff: 50ms } }
    - { id: wait, await_signal: go, depends_on: [one], timeout: 1h }
    - { id: nap, sleep: 1s, depends_on: [wait] }
    - { id: two, agent: a, depends_on: [nap], compensate: { agent: a } }
"#;

/// Records as read back from a store: journal entries (`[kind length, kind, payload length
/// (2 bytes, big-endian), payload]`, repeated) decoded as journal events, and replayed against
/// a workflow as resume does; the whole input is also read as a run snapshot.
pub fn store_records(data: &[u8]) {
    let run = RunId::new("fuzz");
    let mut events = Vec::new();
    let mut rest = data;
    let mut seq = 0;
    while let [klen, tail @ ..] = rest {
        let klen = usize::from(*klen).min(tail.len());
        let (kind, tail) = tail.split_at(klen);
        let (plen, tail) = match tail {
            [a, b, tail @ ..] => (
                usize::from(u16::from_be_bytes([*a, *b])).min(tail.len()),
                tail,
            ),
            _ => (tail.len(), tail),
        };
        let (payload, tail) = tail.split_at(plen);
        rest = tail;
        seq += 1;
        let entry = JournalEntry {
            seq,
            at: Timestamp::from_millis(seq * 1000),
            kind: String::from_utf8_lossy(kind).into_owned(),
            payload: payload.to_vec(),
        };
        if let Ok(event) = JournalEvent::decode(&run, &entry) {
            let again = event.encode(entry.at).expect("a decoded event re-encodes");
            let back = JournalEntry {
                seq,
                at: again.at,
                kind: again.kind,
                payload: again.payload,
            };
            let decoded = JournalEvent::decode(&run, &back).expect("a re-encoded event decodes");
            assert_eq!(decoded, event, "an event changed through its own encoding");
            events.push(event);
        }
    }
    let snapshot = RunSnapshot {
        seq: 1,
        at: Timestamp::from_millis(0),
        data: data.to_vec(),
    };
    if let Ok(more) = snapshot_events(&run, &snapshot) {
        events.extend(more);
    }
    if events.is_empty() {
        return;
    }
    let spec = parse_workflow(REPLAY_WORKFLOW, "fuzz.yaml").expect("the replay workflow parses");
    let plan = troupe_runtime::workflow::plan::plan(spec, &kinds()).expect("it plans");
    let _ = replay(Arc::new(plan), 1, &events, Timestamp::from_millis(10_000));
}
