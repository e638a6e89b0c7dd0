//! Stateful and location-aware kinds, for cluster demos and tests: `util.counter` keeps a
//! total that survives restarts, migration and failover; `util.where` says which runtime
//! (node) served a request.

use std::fmt;
use std::time::Duration;
use troupe_runtime::ConfigError;

use serde::de::{self, IgnoredAny, MapAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};
use troupe_runtime::{Agent, AgentContext, AgentError, Persistence, Snapshot};

use crate::shape::parse_config;
use crate::util::NoConfig;

/// A request to `util.counter`: a number to add (`{"add": n}` or just `n`); `{"get": true}`
/// or `null` reads without changing.
///
/// Decoded by the shape of the value (a number, an object, null), not by trying each form in
/// turn: a bare number, the common case, costs no failed attempt. In an object `add` wins over
/// `get` and other keys are ignored; anything else fails with a message naming what was wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum CounterRequest {
    /// Add this much.
    Add {
        /// The increment.
        add: i64,
    },
    /// Add this much (bare number).
    Number(i64),
    /// Read only.
    Get {
        /// Ignored.
        get: bool,
    },
    /// Read only.
    Null,
}

/// What `util.counter` accepts, for error messages.
const COUNTER_FORMS: &str = r#"a number to add, {"add": n}, {"get": true} or null"#;

impl<'de> Deserialize<'de> for CounterRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CounterRequestVisitor)
    }
}

struct CounterRequestVisitor;

impl<'de> Visitor<'de> for CounterRequestVisitor {
    type Value = CounterRequest;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(COUNTER_FORMS)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<CounterRequest, E> {
        Ok(CounterRequest::Number(n))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<CounterRequest, E> {
        i64::try_from(n)
            .map(CounterRequest::Number)
            .map_err(|_| E::invalid_value(Unexpected::Unsigned(n), &"a number to add within i64"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<CounterRequest, E> {
        Ok(CounterRequest::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<CounterRequest, E> {
        Ok(CounterRequest::Null)
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<CounterRequest, M::Error> {
        let mut add = None;
        let mut get = None;
        while let Some(key) = map.next_key::<CounterKey>()? {
            match key {
                CounterKey::Add if add.is_some() => return Err(de::Error::duplicate_field("add")),
                CounterKey::Get if get.is_some() => return Err(de::Error::duplicate_field("get")),
                CounterKey::Add => {
                    add = Some(map.next_value::<i64>().map_err(|e| {
                        de::Error::custom(format_args!(r#"counter request "add": {e}"#))
                    })?);
                }
                CounterKey::Get => {
                    get = Some(map.next_value::<bool>().map_err(|e| {
                        de::Error::custom(format_args!(r#"counter request "get": {e}"#))
                    })?);
                }
                CounterKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        match (add, get) {
            (Some(add), _) => Ok(CounterRequest::Add { add }),
            (None, Some(get)) => Ok(CounterRequest::Get { get }),
            (None, None) => Err(de::Error::custom(format_args!(
                r#"invalid counter request: an object without "add" or "get", expected {COUNTER_FORMS}"#
            ))),
        }
    }
}

/// A key of an object request: only `add` and `get` mean something.
enum CounterKey {
    Add,
    Get,
    Other,
}

impl<'de> Deserialize<'de> for CounterKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = CounterKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<CounterKey, E> {
                Ok(match key {
                    "add" => CounterKey::Add,
                    "get" => CounterKey::Get,
                    _ => CounterKey::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// The state of `util.counter`, as its snapshot stores it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterState {
    /// The running total.
    pub total: i64,
    /// Requests handled (reads included) since the agent was first created.
    pub calls: u64,
}

/// `util.counter`: adds each request to a total and replies `{"total", "calls"}`. Its state
/// is snapshotted after every request, so a restart by its supervisor (a crash, or a sibling's
/// crash under one-for-all) resumes from the last request served. Migration, passivation and
/// cluster checkpoints take a fresh snapshot on demand, so they do not rely on that one.
#[derive(Debug, Clone, Default)]
pub struct Counter;

impl Counter {
    /// An agent built from a JSON config (none taken).
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        parse_config::<NoConfig>(config).map(|_| Self)
    }
}

impl Agent for Counter {
    type Request = CounterRequest;
    type Reply = CounterState;
    type State = CounterState;

    async fn init(
        &self,
        _ctx: &AgentContext,
        restored: Option<Snapshot>,
    ) -> Result<CounterState, AgentError> {
        match restored {
            Some(s) => s
                .decode()
                .map_err(|e| AgentError::permanent(format!("bad counter snapshot: {e}"))),
            None => Ok(CounterState::default()),
        }
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        state: &mut CounterState,
        request: CounterRequest,
    ) -> Result<CounterState, AgentError> {
        let add = match request {
            CounterRequest::Add { add } | CounterRequest::Number(add) => add,
            CounterRequest::Get { .. } | CounterRequest::Null => 0,
        };
        state.total = state
            .total
            .checked_add(add)
            .ok_or_else(|| AgentError::permanent("counter overflow"))?;
        state.calls += 1;
        Ok(state.clone())
    }

    fn snapshot(&self, state: &CounterState) -> Result<Option<Snapshot>, AgentError> {
        Snapshot::encode(state)
            .map(Some)
            .map_err(|e| AgentError::permanent(e.to_string()))
    }

    fn persistence(&self) -> Persistence {
        Persistence::AfterEachRequest
    }
}

/// Configuration of `util.where`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WhereConfig {
    /// How long each request takes, in milliseconds (default 0).
    pub work_ms: u64,
}

/// `util.where`: replies `{"node": <runtime name>, "input": <request>}` after `work_ms`.
#[derive(Debug, Clone, Default)]
pub struct Where {
    config: WhereConfig,
}

impl Where {
    /// An agent built from a JSON config.
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        parse_config(config).map(|config| Self { config })
    }
}

impl Agent for Where {
    type Request = Value;
    type Reply = Value;
    type State = String;

    async fn init(&self, ctx: &AgentContext, _: Option<Snapshot>) -> Result<String, AgentError> {
        Ok(ctx
            .runtime()
            .map_or_else(String::new, |rt| rt.name().to_string()))
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        node: &mut String,
        request: Value,
    ) -> Result<Value, AgentError> {
        if self.config.work_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.config.work_ms)).await;
        }
        Ok(json!({ "node": node, "input": request }))
    }
}

/// Configuration of `util.blob`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobConfig {
    /// Size of the state, in bytes (at most 64 MiB).
    pub size: usize,
}

/// `util.blob`: an agent whose state is `size` bytes (snapshotted after every request), for
/// measuring what moving state costs. A request `n` (a number) sets byte `n % size` to `n` and
/// replies with the state's checksum, so a moved blob can be checked.
#[derive(Debug, Clone, Default)]
pub struct Blob {
    config: BlobConfig,
}

impl Blob {
    /// An agent built from a JSON config.
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        let config: BlobConfig = parse_config(config)?;
        if config.size > 64 << 20 {
            return Err(ConfigError::new(
                "util.blob",
                "/size",
                format!("{} bytes is over the 64 MiB limit", config.size),
            ));
        }
        Ok(Self { config })
    }
}

/// The state of `util.blob`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobState {
    /// The bytes.
    #[serde(with = "serde_bytes_vec")]
    pub bytes: Vec<u8>,
}

mod serde_bytes_vec {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        d.deserialize_byte_buf(V)
    }
}

impl Agent for Blob {
    type Request = u64;
    type Reply = u64;
    type State = BlobState;

    async fn init(
        &self,
        _: &AgentContext,
        restored: Option<Snapshot>,
    ) -> Result<BlobState, AgentError> {
        match restored {
            Some(s) => s
                .decode()
                .map_err(|e| AgentError::permanent(format!("bad blob snapshot: {e}"))),
            None => Ok(BlobState {
                bytes: vec![0; self.config.size],
            }),
        }
    }

    async fn handle(
        &self,
        _: &AgentContext,
        state: &mut BlobState,
        n: u64,
    ) -> Result<u64, AgentError> {
        if !state.bytes.is_empty() {
            let i = (n % state.bytes.len() as u64) as usize;
            state.bytes[i] = n as u8;
        }
        Ok(state
            .bytes
            .iter()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b))))
    }

    fn snapshot(&self, state: &BlobState) -> Result<Option<Snapshot>, AgentError> {
        Snapshot::encode(state)
            .map(Some)
            .map_err(|e| AgentError::permanent(e.to_string()))
    }

    fn persistence(&self) -> Persistence {
        Persistence::AfterEachRequest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(v: Value) -> Result<CounterRequest, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn a_counter_request_is_decoded_from_each_accepted_form() {
        assert_eq!(decode(json!(5)), Ok(CounterRequest::Number(5)));
        assert_eq!(decode(json!(-3)), Ok(CounterRequest::Number(-3)));
        assert_eq!(
            decode(json!({"add": 7})),
            Ok(CounterRequest::Add { add: 7 })
        );
        assert_eq!(
            decode(json!({"get": true})),
            Ok(CounterRequest::Get { get: true })
        );
        assert_eq!(
            decode(json!({"get": false})),
            Ok(CounterRequest::Get { get: false })
        );
        assert_eq!(decode(Value::Null), Ok(CounterRequest::Null));
        // `add` wins over `get`; other keys are ignored.
        assert_eq!(
            decode(json!({"get": true, "add": 2})),
            Ok(CounterRequest::Add { add: 2 })
        );
        assert_eq!(
            decode(json!({"add": 1, "note": "x"})),
            Ok(CounterRequest::Add { add: 1 })
        );
        // From text too (the CLI and workflow files), not only from a `Value`.
        assert_eq!(
            serde_json::from_str::<CounterRequest>(r#"{"add": 4}"#).ok(),
            Some(CounterRequest::Add { add: 4 })
        );
        assert_eq!(
            serde_json::from_str::<CounterRequest>("9").ok(),
            Some(CounterRequest::Number(9))
        );
    }

    #[test]
    fn a_counter_request_encodes_back_to_the_form_it_came_from() {
        for v in [
            json!(5),
            json!({"add": 7}),
            json!({"get": true}),
            Value::Null,
        ] {
            let request = decode(v.clone()).unwrap();
            assert_eq!(serde_json::to_value(&request).unwrap(), v);
        }
    }

    #[test]
    fn a_bad_counter_request_is_refused_with_what_was_wrong() {
        let e = decode(json!("5")).unwrap_err();
        assert!(e.contains("invalid type: string"), "{e}");
        assert!(e.contains(COUNTER_FORMS), "{e}");
        let e = decode(json!(1.5)).unwrap_err();
        assert!(e.contains("invalid type: floating point"), "{e}");
        let e = decode(json!([5])).unwrap_err();
        assert!(e.contains("invalid type: sequence"), "{e}");
        let e = decode(json!(u64::MAX)).unwrap_err();
        assert!(e.contains("within i64"), "{e}");
        let e = decode(json!({"add": "x"})).unwrap_err();
        assert!(e.contains(r#""add": invalid type: string"#), "{e}");
        let e = decode(json!({"get": 1})).unwrap_err();
        assert!(e.contains(r#""get": invalid type: integer"#), "{e}");
        let e = decode(json!({"sub": 1})).unwrap_err();
        assert!(e.contains(r#"without "add" or "get""#), "{e}");
        let e = decode(json!({})).unwrap_err();
        assert!(e.contains(r#"without "add" or "get""#), "{e}");
    }

    #[tokio::test]
    async fn the_counter_adds_reads_and_resumes_from_its_snapshot() {
        let rt = troupe_runtime::Runtime::start(Default::default())
            .await
            .unwrap();
        let counter = rt.spawn("c", Counter).await.unwrap();
        for v in [
            json!(5),
            json!({"add": 2}),
            json!({"get": true}),
            Value::Null,
        ] {
            counter.ask(decode(v).unwrap()).await.unwrap();
        }
        let state = counter.ask(CounterRequest::Number(-1)).await.unwrap();
        assert_eq!(state, CounterState { total: 6, calls: 5 });
        let snapshot = counter
            .last_snapshot()
            .expect("snapshotted after each request");
        assert_eq!(snapshot.decode::<CounterState>().unwrap(), state);
        let options = troupe_runtime::SpawnOptions::default().from_snapshot(snapshot);
        let resumed = rt.spawn_with("c2", Counter, options).await.unwrap();
        let read = resumed.ask(CounterRequest::Null).await.unwrap();
        assert_eq!(read, CounterState { total: 6, calls: 6 });
        rt.shutdown().await;
    }
}
