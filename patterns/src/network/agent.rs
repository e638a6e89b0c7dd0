//! The network pattern agent: only the entry and exit point. It starts the members and their
//! peers, hands each request to the entry member's peer, and awaits the answer that some peer
//! sends back; the message itself travels from peer to peer.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use troupe_runtime::ConfigError;
use troupe_runtime::{Agent, AgentContext, AgentError, ChildSpec, Restart, Snapshot};

use super::config::NetworkConfig;
use super::error::NetworkError;
use super::peer::{Envelope, Net, Peer};
use super::route::Request;
use crate::handoff::MemberCaller;
use crate::member::spawn_team;

/// The network pattern as an agent (kind `pattern.network`): a request is any JSON value,
/// delivered to the `entry` member; the reply is an [`super::Answer`] as JSON.
#[derive(Debug, Clone)]
pub struct NetworkPattern {
    config: NetworkConfig,
}

/// The running state of a network pattern agent.
pub struct NetworkState {
    net: Arc<Net>,
    entry: Arc<str>,
}

impl NetworkPattern {
    /// A pattern agent with `config` (validated).
    pub fn new(config: NetworkConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self { config })
    }

    /// A pattern agent from its JSON config (the kind's factory).
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        Self::new(NetworkConfig::from_value(config)?)
    }

    /// The configuration.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }
}

impl Agent for NetworkPattern {
    type Request = Value;
    type Reply = Value;
    type State = NetworkState;

    async fn init(
        &self,
        ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<NetworkState, AgentError> {
        let runtime = ctx
            .runtime()
            .ok_or_else(|| AgentError::permanent("the runtime is gone"))?;
        let (team, members) = spawn_team(ctx, &self.config.members, &self.config.team).await?;
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
        let names = self.config.members.keys().cloned().collect();
        let net = Arc::new(Net::new(
            names,
            caller,
            self.config.hop_budget,
            self.config.message_budget,
        ));
        for member in members {
            let name: Arc<str> = member.group.as_str().into();
            let (agent, shared) = (member.agent, net.clone());
            let id = format!("{}/{}#peer", ctx.id(), name);
            let spec = ChildSpec::actor(id, Restart::Permanent, move || {
                let peer = Peer {
                    name: name.clone(),
                    member: agent.clone(),
                    net: shared.clone(),
                };
                (peer, ())
            });
            team.start_child(spec)
                .await
                .map_err(|e| AgentError::permanent(format!("peer of {}: {e}", member.group)))?;
        }
        Ok(NetworkState {
            net,
            entry: self.config.entry.as_str().into(),
        })
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        st: &mut NetworkState,
        request: Value,
    ) -> Result<Value, AgentError> {
        let (branch, outcome) = Request::start();
        let envelope = Envelope {
            branch,
            message: request,
            path: vec![st.entry.clone()],
        };
        st.net.deliver(&st.entry, envelope);
        let answer = match outcome.await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(e.into()),
            // Unreachable: the last branch always sends an outcome before it is dropped.
            Err(_) => return Err(NetworkError::NoReply.into()),
        };
        serde_json::to_value(answer)
            .map_err(|e| AgentError::permanent(format!("answer not representable: {e}")))
    }
}
