//! The handoff pattern agent: a thin shell that keeps the conversations, drives each turn's
//! [`TurnMachine`] and makes the member calls it asks for (forks concurrently).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinSet;
use troupe_runtime::ConfigError;
use troupe_runtime::{Agent, AgentContext, AgentError, DynAgentRef, Persistence, Snapshot};

use super::config::HandoffConfig;
use super::crash::MemberCaller;
use super::error::HandoffError;
use super::machine::{branch_reply, Conversation, Limits, Step, TurnMachine};
use super::merge::Joiner;
use super::protocol::{Joined, TurnOutcome};
use super::request::HandoffRequest;
use super::turn::Merge;
use crate::member::spawn_team;

/// The handoff pattern as an agent (kind `pattern.handoff`): requests and replies are JSON (see
/// the module docs). Spawn it with [`troupe_runtime::Runtime::spawn`] or, registered, by kind.
#[derive(Debug, Clone)]
pub struct HandoffPattern {
    config: HandoffConfig,
    limits: Limits,
}

/// The running state of a handoff pattern agent.
pub struct HandoffState {
    members: HashMap<String, DynAgentRef>,
    conversations: HashMap<String, Conversation>,
    caller: MemberCaller,
}

impl HandoffPattern {
    /// A pattern agent with `config` (validated).
    pub fn new(config: HandoffConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let limits = Limits {
            members: config.members.keys().cloned().collect(),
            max_handoffs: config.max_handoffs,
            share_history: config.share_history,
            max_history: config.max_history,
        };
        Ok(Self { config, limits })
    }

    /// A pattern agent from its JSON config (the kind's factory).
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        Self::new(HandoffConfig::from_value(config)?)
    }

    /// The configuration.
    pub fn config(&self) -> &HandoffConfig {
        &self.config
    }

    async fn turn(
        &self,
        st: &mut HandoffState,
        id: String,
        message: Value,
        seed: Option<Value>,
    ) -> Result<TurnOutcome, HandoffError> {
        let existing = st.conversations.remove(&id);
        let known = existing.is_some();
        let conv = match existing {
            Some(conv) => conv,
            None if st.conversations.len() >= self.config.max_conversations => {
                return Err(HandoffError::TooManyConversations {
                    limit: self.config.max_conversations,
                    conversation: id,
                })
            }
            None => Conversation::new(&self.config.start),
        };
        let (mut machine, first) =
            TurnMachine::start(&self.limits, id.clone(), conv, message, seed);
        match self.drive(st, &mut machine, first).await {
            Ok(outcome) => {
                st.conversations.insert(id, machine.commit());
                Ok(outcome)
            }
            Err(e) => {
                if known {
                    st.conversations.insert(id, machine.rollback());
                }
                Err(e)
            }
        }
    }

    async fn drive(
        &self,
        st: &HandoffState,
        machine: &mut TurnMachine<'_>,
        mut step: Step,
    ) -> Result<TurnOutcome, HandoffError> {
        loop {
            step = match step {
                Step::Done(outcome) => return Ok(outcome),
                Step::Call { agent } => {
                    let member = st.member(&agent)?;
                    let answer = st
                        .caller
                        .call(member, || machine.input().into_value())
                        .await
                        .map_err(|error| HandoffError::Member { agent, error })?;
                    machine.on_reply(answer)?
                }
                Step::Fork { to, merge } => {
                    let input = machine.input().into_value();
                    let joined = Box::pin(fork(st, to, merge, input)).await?;
                    machine.on_joined(joined)?
                }
            };
        }
    }
}

impl HandoffState {
    fn member(&self, name: &str) -> Result<&DynAgentRef, HandoffError> {
        self.members
            .get(name)
            .ok_or_else(|| HandoffError::Protocol {
                agent: name.to_string(),
                reason: "not a running member".into(),
            })
    }
}

/// Calls every branch at once and feeds their outcomes to a [`Joiner`] as they complete; the
/// branches still running once the rule has decided are abandoned (their calls still reach the
/// members, their replies are dropped).
async fn fork(
    st: &HandoffState,
    to: Vec<String>,
    merge: Merge,
    input: Value,
) -> Result<Result<Joined, String>, HandoffError> {
    let mut tasks = JoinSet::new();
    let mut index_of = HashMap::new();
    for (i, name) in to.iter().enumerate() {
        let member = st.member(name)?.clone();
        let (caller, input) = (st.caller.clone(), input.clone());
        let handle = tasks.spawn(async move { (i, caller.call(&member, || input.clone()).await) });
        index_of.insert(handle.id(), i);
    }
    let mut joiner = Joiner::new(merge, to.clone());
    while let Some(done) = tasks.join_next_with_id().await {
        let (i, outcome) = match done {
            Ok((_, (i, outcome))) => (i, outcome.map_err(|e| e.to_string())),
            Err(e) => (
                index_of.get(&e.id()).copied().unwrap_or(usize::MAX),
                Err(format!("the branch's task ended: {e}")),
            ),
        };
        if let Some(decided) = joiner.branch_done(i, outcome.and_then(branch_reply)) {
            return Ok(decided);
        }
    }
    Ok(Err("the branches ended without a decision".into()))
}

impl Agent for HandoffPattern {
    type Request = Value;
    type Reply = Value;
    type State = HandoffState;

    async fn init(
        &self,
        ctx: &AgentContext,
        restored: Option<Snapshot>,
    ) -> Result<HandoffState, AgentError> {
        let conversations = match restored {
            Some(s) => s
                .decode()
                .map_err(|e| AgentError::permanent(format!("handoff snapshot: {e}")))?,
            None => HashMap::new(),
        };
        let runtime = ctx
            .runtime()
            .ok_or_else(|| AgentError::permanent("the runtime is gone"))?;
        let (_team, members) = spawn_team(ctx, &self.config.members, &self.config.team).await?;
        let timeout = self
            .config
            .member_timeout_seconds
            .map(Duration::from_secs_f64);
        let caller = MemberCaller::new(
            runtime.events().clone(),
            format!("{}/team", ctx.id()),
            &self.config.crash,
            timeout,
        );
        Ok(HandoffState {
            members: members.into_iter().map(|m| (m.group, m.agent)).collect(),
            conversations,
            caller,
        })
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        st: &mut HandoffState,
        request: Value,
    ) -> Result<Value, AgentError> {
        let request =
            HandoffRequest::parse(request).map_err(|e| HandoffError::BadRequest(e.reason))?;
        let reply = match request {
            HandoffRequest::Turn {
                conversation,
                message,
                context,
            } => Ok(self
                .turn(st, conversation, message, context)
                .await?
                .into_value()),
            HandoffRequest::Query { conversation } => match st.conversations.get(&conversation) {
                Some(conv) => serde_json::to_value(conv.view(&conversation)),
                None => return Err(HandoffError::UnknownConversation(conversation).into()),
            },
            HandoffRequest::End { conversation } => match st.conversations.remove(&conversation) {
                Some(conv) => serde_json::to_value(conv.view(&conversation)),
                None => return Err(HandoffError::UnknownConversation(conversation).into()),
            },
        };
        reply.map_err(|e| AgentError::permanent(format!("reply not representable: {e}")))
    }

    fn snapshot(&self, st: &HandoffState) -> Result<Option<Snapshot>, AgentError> {
        Snapshot::encode(&st.conversations)
            .map(Some)
            .map_err(|e| AgentError::permanent(e.to_string()))
    }

    fn persistence(&self) -> Persistence {
        if self.config.persist {
            Persistence::AfterEachRequest
        } else {
            Persistence::Never
        }
    }
}
