//! Stateful and location-aware kinds, for cluster demos and tests: `util.counter` keeps a
//! total that survives restarts, migration and failover; `util.where` says which runtime
//! (node) served a request.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use troupe_runtime::{Agent, AgentContext, AgentError, Persistence, Snapshot};

use crate::shape::parse_config;
use crate::util::NoConfig;

/// A request to `util.counter`: a number to add (`{"add": n}` or just `n`); `{"get": true}`
/// or `null` reads without changing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The state of `util.counter`, as its snapshot stores it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterState {
    /// The running total.
    pub total: i64,
    /// Requests handled (reads included) since the agent was first created.
    pub calls: u64,
}

/// `util.counter`: adds each request to a total and replies `{"total", "calls"}`. Its state
/// is snapshotted after every request, so it resumes after a crash, a migration or a failover.
#[derive(Debug, Clone, Default)]
pub struct Counter;

impl Counter {
    /// An agent built from a JSON config (none taken).
    pub fn from_config(config: &Value) -> Result<Self, String> {
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
    pub fn from_config(config: &Value) -> Result<Self, String> {
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
    pub fn from_config(config: &Value) -> Result<Self, String> {
        let config: BlobConfig = parse_config(config)?;
        if config.size > 64 << 20 {
            return Err(format!(
                "size: {} bytes is over the 64 MiB limit",
                config.size
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
