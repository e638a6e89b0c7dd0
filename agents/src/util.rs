//! `util.*`: small kinds for demos and tests — echo, sleep, fail, fail the first N calls (retry
//! demos), crash the first N starts (supervision demos).

use std::time::Duration;
use troupe_runtime::ConfigError;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use troupe_runtime::{Agent, AgentContext, AgentError, Snapshot};

use crate::shape::parse_config;

/// Configuration of kinds that take none (`null` or `{}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// `util.echo`: replies with the request.
#[derive(Debug, Clone, Default)]
pub struct Echo;

impl Echo {
    /// An agent built from a pool's JSON `config:` (which must be empty).
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        parse_config::<NoConfig>(config).map(|_| Self)
    }
}

impl Agent for Echo {
    type Request = Value;
    type Reply = Value;
    type State = ();

    async fn init(
        &self,
        _ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        _state: &mut (),
        request: Value,
    ) -> Result<Value, AgentError> {
        Ok(request)
    }
}

/// Configuration of `util.sleep`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SleepConfig {
    /// How long each request takes: `"100ms"`, `"2s"`, ... or a number of seconds (default
    /// 100ms).
    #[serde(with = "crate::shape::duration")]
    pub duration: Duration,
}

impl Default for SleepConfig {
    fn default() -> Self {
        Self {
            duration: Duration::from_millis(100),
        }
    }
}

/// `util.sleep`: waits `duration`, then replies with the request (a slow step, for timeout demos).
#[derive(Debug, Clone)]
pub struct Sleep {
    config: SleepConfig,
}

impl Sleep {
    /// An agent with this configuration.
    pub fn new(config: SleepConfig) -> Self {
        Self { config }
    }

    /// An agent built from a pool's JSON `config:`.
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        parse_config(config).map(Self::new)
    }
}

impl Agent for Sleep {
    type Request = Value;
    type Reply = Value;
    type State = ();

    async fn init(
        &self,
        _ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        _state: &mut (),
        request: Value,
    ) -> Result<Value, AgentError> {
        tokio::time::sleep(self.config.duration).await;
        Ok(request)
    }
}

/// Configuration of `util.fail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailConfig {
    /// The error message (default "failed on purpose").
    pub message: String,
    /// Fail with a retryable error (default false: permanent).
    pub transient: bool,
}

impl Default for FailConfig {
    fn default() -> Self {
        Self {
            message: "failed on purpose".into(),
            transient: false,
        }
    }
}

/// `util.fail`: answers every request with an error.
#[derive(Debug, Clone)]
pub struct Fail {
    config: FailConfig,
}

impl Fail {
    /// An agent with this configuration.
    pub fn new(config: FailConfig) -> Self {
        Self { config }
    }

    /// An agent built from a pool's JSON `config:`.
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        parse_config(config).map(Self::new)
    }
}

impl Agent for Fail {
    type Request = Value;
    type Reply = Value;
    type State = ();

    async fn init(
        &self,
        _ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        _state: &mut (),
        _request: Value,
    ) -> Result<Value, AgentError> {
        let msg = self.config.message.clone();
        Err(if self.config.transient {
            AgentError::transient(msg)
        } else {
            AgentError::permanent(msg)
        })
    }
}

/// Configuration of `util.flaky`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlakyConfig {
    /// How many calls fail before the agent starts answering (default 1).
    pub failures: u64,
    /// The error message (default "flaky failure").
    pub message: String,
}

impl Default for FlakyConfig {
    fn default() -> Self {
        Self {
            failures: 1,
            message: "flaky failure".into(),
        }
    }
}

/// `util.flaky`: the first `failures` calls to each agent fail with a transient (retryable)
/// error, later calls reply with the request. The count is the agent's state: it starts over
/// when the agent restarts.
#[derive(Debug, Clone)]
pub struct Flaky {
    config: FlakyConfig,
}

impl Flaky {
    /// An agent with this configuration.
    pub fn new(config: FlakyConfig) -> Self {
        Self { config }
    }

    /// An agent built from a pool's JSON `config:`.
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        parse_config(config).map(Self::new)
    }

    /// Counts a call; an error while fewer than `failures` calls came before.
    fn call(&self, calls: &mut u64) -> Result<(), AgentError> {
        *calls += 1;
        if *calls <= self.config.failures {
            return Err(AgentError::transient(format!(
                "{} (call {} of {} failing)",
                self.config.message, calls, self.config.failures
            )));
        }
        Ok(())
    }
}

impl Agent for Flaky {
    type Request = Value;
    type Reply = Value;
    type State = u64;

    async fn init(
        &self,
        _ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<u64, AgentError> {
        Ok(0)
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        calls: &mut u64,
        request: Value,
    ) -> Result<Value, AgentError> {
        self.call(calls)?;
        Ok(request)
    }
}

/// Configuration of `util.crash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrashConfig {
    /// During how many starts of the agent a request crashes it (default 1).
    pub starts: u64,
}

impl Default for CrashConfig {
    fn default() -> Self {
        Self { starts: 1 }
    }
}

/// `util.crash`: while the agent is in one of its first `starts` starts, a request makes its
/// handler panic (the agent crashes and its supervisor restarts it per policy); afterwards it
/// replies with the request. For supervision demos: this is the one kind that panics, on purpose.
#[derive(Debug, Clone)]
pub struct Crash {
    config: CrashConfig,
}

impl Crash {
    /// An agent with this configuration.
    pub fn new(config: CrashConfig) -> Self {
        Self { config }
    }

    /// An agent built from a pool's JSON `config:`.
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        parse_config(config).map(Self::new)
    }
}

impl Agent for Crash {
    type Request = Value;
    type Reply = Value;
    type State = ();

    async fn init(
        &self,
        _ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        ctx: &AgentContext,
        _state: &mut (),
        request: Value,
    ) -> Result<Value, AgentError> {
        if ctx.starts() <= self.config.starts {
            panic!(
                "util.crash: crashing on purpose (start {} of {} that crash)",
                ctx.starts(),
                self.config.starts
            );
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Legacy;
    use serde_json::json;

    #[test]
    fn flaky_fails_the_first_calls_then_succeeds() {
        let flaky = Flaky::from_config(&json!({"failures": 2, "message": "busy"})).unwrap();
        let mut calls = 0;
        let err = flaky.call(&mut calls).unwrap_err();
        assert_eq!(err, AgentError::transient("busy (call 1 of 2 failing)"));
        assert!(flaky.call(&mut calls).unwrap_err().is_retryable());
        assert!(flaky.call(&mut calls).is_ok());
        assert!(flaky.call(&mut calls).is_ok());
    }

    #[test]
    fn configs_are_checked() {
        assert!(Echo::from_config(&Value::Null).is_ok());
        assert!(Echo::from_config(&json!({})).is_ok());
        assert!(Echo::from_config(&json!({"x": 1}))
            .unwrap_err()
            .legacy()
            .contains("unknown field `x`"));
        assert_eq!(
            Sleep::from_config(&Value::Null)
                .unwrap()
                .config
                .duration
                .as_millis(),
            100
        );
        assert!(Sleep::from_config(&json!({"duration": "soon"}))
            .unwrap_err()
            .legacy()
            .starts_with("field `duration`: invalid duration"));
        assert!(Fail::from_config(&json!({"transient": "yes"}))
            .unwrap_err()
            .legacy()
            .starts_with("field `transient`"));
        assert!(Flaky::from_config(&json!({"failures": -1}))
            .unwrap_err()
            .legacy()
            .starts_with("field `failures`"));
        assert!(Crash::from_config(&json!({"times": 1}))
            .unwrap_err()
            .legacy()
            .contains("unknown field `times`"));
    }
}
