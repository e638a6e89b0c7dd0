//! The seed corpora: small valid inputs of each target, made with the project's own encoders
//! (and its example workflows), written to fuzz/corpus/<target>/ by
//! `cargo test -p troupe --test fuzz_corpus -- --ignored write_seed_corpus`.

use std::path::Path;

use serde_json::json;
use troupe_cluster::membership::{Membership, MembershipConfig, NodeIdentity};
use troupe_cluster::registry::DeltaEntry;
use troupe_cluster::wire::{AgentRecord, Control, Frame, Msg, WireError, WIRE_VERSION};
use troupe_runtime::store::Timestamp;
use troupe_runtime::workflow::journal::JournalEvent;
use troupe_runtime::{AgentError, AgentId};

/// Every seed as `(target, file name, bytes)`; `root` is the repository (for examples/).
pub fn seeds(root: &Path) -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        out.push((target, name.to_owned(), bytes));
    };
    for (i, f) in frames().iter().enumerate() {
        add("frame", &format!("frame-{i}"), f.encode());
    }
    for (i, d) in datagrams().into_iter().enumerate() {
        add("membership_datagram", &format!("datagram-{i}"), d);
    }
    for name in ["approval", "saga_booking", "fault_tolerance", "research"] {
        let text = std::fs::read(root.join("examples").join(format!("{name}.yaml")))
            .expect("an example workflow");
        add("workflow_file", name, text.clone());
        add(
            "api_bodies",
            &format!("submit-{name}"),
            [&[0u8][..], &text].concat(),
        );
    }
    let execute = json!({"input_data": {"topic": "rust"},
        "execution_options": {"timeout": 60, "allow_concurrent": true}});
    add(
        "api_bodies",
        "execute",
        [b"\x01".to_vec(), execute.to_string().into_bytes()].concat(),
    );
    add("api_bodies", "execute-blank", b"\x01 ".to_vec());
    add(
        "api_bodies",
        "signal",
        [b"\x02".to_vec(), br#"{"value": {"ok": true}}"#.to_vec()].concat(),
    );
    let stream = concat!(
        "data: {\"choices\":[{\"delta\":{\"content\":\"h\u{e9}llo \u{65e5}\u{672c}\"}}]}\r\n\r\n",
        ": keep-alive\n\n",
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",",
        "\"function\":{\"name\":\"search\",\"arguments\":\"{\\\"q\\\":1}\"}}]},",
        "\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,",
        "\"total_tokens\":7}}\n\n",
        "data: [DONE]\n\n"
    );
    add(
        "llm_sse",
        "stream",
        [b"\x07".to_vec(), stream.as_bytes().to_vec()].concat(),
    );
    let completion = json!({"choices": [{"message": {"role": "assistant", "content": "hi"},
        "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1,
        "total_tokens": 4}});
    add(
        "llm_completion",
        "text",
        completion.to_string().into_bytes(),
    );
    let tools = json!({"choices": [{"message": {"role": "assistant", "content": null,
        "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "search", "arguments": "{\"q\":\"x\"}"}}]},
        "finish_reason": "tool_calls"}]});
    add(
        "llm_completion",
        "tool-calls",
        tools.to_string().into_bytes(),
    );
    add("store_records", "journal", journal());
    out
}

fn frames() -> Vec<Frame> {
    let record = AgentRecord {
        agent: AgentId::new("counter-1"),
        kind: "util.counter".into(),
        config: json!({"start": 1}),
        snapshot: Some(vec![1, 2, 3]),
        version: 4,
        movable: true,
    };
    let entry: DeltaEntry = serde_json::from_value(json!({"id": "counter-1", "slot": {
        "node": "a", "incarnation": 1, "version": 2, "state": "active",
        "stamp": {"time": 5, "clock": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]}}}))
    .expect("a delta entry");
    let msgs_a = vec![
        Msg::Call {
            id: 7,
            agent: AgentId::new("counter-1"),
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
        Msg::Reply {
            id: 8,
            result: Ok(json!([1, "two", null, 3.5])),
        },
        Msg::Activate {
            id: 9,
            spec: record.clone(),
        },
        Msg::Replica { record },
    ];
    let msgs_b = vec![
        Msg::Tell {
            agent: AgentId::new("log"),
            body: json!("line"),
            hops: 1,
        },
        Msg::Registry {
            delta: troupe_cluster::registry::Delta {
                entries: vec![entry],
                ..Default::default()
            },
            want_reply: true,
        },
        Msg::DropReplica {
            agent: AgentId::new("counter-1"),
            version: 3,
        },
        Msg::Control {
            id: 10,
            op: Control::Steal { max: 4 },
        },
        Msg::Control {
            id: 11,
            op: Control::WorkAvailable,
        },
        Msg::Control {
            id: 12,
            op: Control::TaskDone {
                key: "run-1/one/1".into(),
                result: Ok(json!({"stdout": "ok"})),
            },
        },
        Msg::Control {
            id: 13,
            op: Control::Migrate {
                agent: AgentId::new("counter-1"),
                to: "b".into(),
            },
        },
    ];
    [msgs_a, msgs_b]
        .into_iter()
        .map(|msgs| Frame {
            version: WIRE_VERSION,
            from: "a".into(),
            to: "b".into(),
            msgs,
        })
        .collect()
}

/// Real datagrams: an announce to a seed, the seed's answer, and what follows.
fn datagrams() -> Vec<Vec<u8>> {
    let addr = |s: &str| s.parse().expect("an address");
    let id_a = NodeIdentity::new("a", addr("127.0.0.1:7001"), addr("127.0.0.1:7002"));
    let id_b = NodeIdentity::new("b", addr("127.0.0.1:7101"), addr("127.0.0.1:7102"));
    let mut a = Membership::new(id_a, MembershipConfig::lan(), 1).expect("a membership");
    let mut b = Membership::new(id_b, MembershipConfig::lan(), 2).expect("a membership");
    let mut out = Default::default();
    a.join(&[addr("127.0.0.1:7101")], &mut out);
    let mut all = Vec::new();
    let mut pending: Vec<(bool, Vec<u8>)> = out.sends.drain(..).map(|(_, d)| (true, d)).collect();
    // Hand datagrams back and forth a few rounds.
    for _ in 0..6 {
        let mut next = Vec::new();
        for (to_b, d) in pending {
            let mut out = Default::default();
            let target = if to_b { &mut b } else { &mut a };
            let _ = target.handle_datagram(&d, &mut out);
            all.push(d);
            next.extend(out.sends.drain(..).map(|(_, d)| (!to_b, d)));
        }
        pending = next;
    }
    all.truncate(8);
    all
}

/// Journal entries of the replay workflow, in the store_records layout.
fn journal() -> Vec<u8> {
    let events = [
        json!({"type": "submitted", "workflow": "fuzz", "definition": "", "definition_version": "1",
            "input": {}, "options": {}}),
        json!({"type": "attempt_started", "task": "one", "attempt": 1,
            "idempotency_key": "fuzz/one/1"}),
        json!({"type": "task_failed", "task": "one", "attempt": 1, "error": {"class": "agent_failed",
            "retryable": true, "messages": ["exit 1"]}, "retry_at": 1500}),
        json!({"type": "attempt_started", "task": "one", "attempt": 2,
            "idempotency_key": "fuzz/one/2"}),
        json!({"type": "task_completed", "task": "one", "attempt": 2, "output": {"stdout": "x"}}),
        json!({"type": "signal_received", "name": "go", "value": {"ok": true}}),
        json!({"type": "timer_set", "timer": "sleep:nap:1", "fires_at": 9000}),
        json!({"type": "paused", "by": "ana"}),
        json!({"type": "resumed"}),
        json!({"type": "cancelled", "reason": "enough"}),
    ];
    let mut out = Vec::new();
    for e in events {
        let event: JournalEvent = serde_json::from_value(e).expect("a journal event");
        let entry = event
            .encode(Timestamp::from_millis(1000))
            .expect("it encodes");
        out.push(entry.kind.len() as u8);
        out.extend(entry.kind.as_bytes());
        out.extend((entry.payload.len() as u16).to_be_bytes());
        out.extend(entry.payload);
    }
    out
}
